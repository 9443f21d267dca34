//! The receive side of SessionDatagrams: coordinate cache warming, transit
//! forwarding (TTL, path MTU, routing errors) and local delivery of
//! handshakes, encrypted messages and error signals.

use std::time::Instant;

use super::codec::{Envelope, DG_HEADER};
use super::dataplane::Dataplane;
use super::state::{SessionState, Slot, EARLY_LIMIT};
use crate::addr::NodeAddr;
use crate::routing::{fits_link, Cx, MeshView, Route};
use crate::wire::fmp::Prefix;
use crate::wire::fsp::EncryptedPacket;
use crate::wire::fsp::{
    SessionAck, SessionMsg3, SessionSetup, FLAG_CP, FLAG_U, PHASE_ACK, PHASE_ESTABLISHED,
    PHASE_MSG3, PHASE_SETUP,
};
use crate::wire::fsp_error::FspError;
use crate::wire::fsp_inner::{
    Data, FspInner, SessionMessage, DATA, PATH_MTU_NOTIFICATION, PORT_IPV6_SHIM, RECEIVER_REPORT,
};
use crate::wire::link::DatagramView;

impl Dataplane {
    /// A SessionDatagram link message (msg_type byte first) from peer
    /// `from`. Decrypted in place, hence `&mut`.
    pub fn handle_session_datagram<M: MeshView>(
        &mut self,
        now: Instant,
        from: NodeAddr,
        msg: &mut [u8],
        cx: &mut Cx<'_, M>,
    ) {
        let Some(env) = Envelope::read(msg) else {
            self.counters.malformed += 1;
            return;
        };
        if env.ttl == 0 {
            self.counters.ttl_exhausted += 1;
            return;
        }
        self.warm_coords(now, &env, &msg[DG_HEADER..]);
        if env.dst == self.me {
            self.deliver(now, cx, &env, &mut msg[DG_HEADER..]);
        } else if env.src == self.me {
            // Our own datagram came back: nodes disagree about the
            // destination's coordinates. Look it up again.
            self.counters.looped += 1;
            self.discovery.start(now, env.dst, cx);
        } else {
            self.forward(now, cx, from, &env, msg);
        }
    }

    /// Caches the plaintext coordinates a session message carries, before
    /// routing it, so this hop can route the replies.
    fn warm_coords(&mut self, now: Instant, env: &Envelope, p: &[u8]) {
        let Ok(Prefix { phase, flags, .. }) = Prefix::parse(p) else {
            return;
        };
        match phase {
            // A Setup for us that will be refused (tables full) teaches
            // nothing worth keeping: a flood of them would evict the
            // coordinates of destinations in use.
            PHASE_SETUP if env.dst == self.me && self.refuses_setup_from(&env.src) => {}
            PHASE_SETUP => {
                if let Ok(s) = SessionSetup::parse(p) {
                    self.cache_coords(now, env.src, s.src_coords);
                    self.cache_coords(now, env.dst, s.dst_coords);
                }
            }
            PHASE_ACK => {
                if let Ok(a) = SessionAck::parse(p) {
                    self.cache_coords(now, env.src, a.src_coords);
                    self.cache_coords(now, env.dst, a.dst_coords);
                }
            }
            PHASE_ESTABLISHED if flags & (FLAG_CP | FLAG_U) == FLAG_CP => {
                let coords = EncryptedPacket::new_checked(p)
                    .ok()
                    .and_then(|v| v.coords());
                if let Some(Ok((src, dst))) = coords {
                    self.cache_coords(now, env.src, src);
                    self.cache_coords(now, env.dst, dst);
                }
            }
            _ => {}
        }
    }

    fn forward<M: MeshView>(
        &mut self,
        now: Instant,
        cx: &mut Cx<'_, M>,
        from: NodeAddr,
        env: &Envelope,
        msg: &mut [u8],
    ) {
        let hop = match self.route_decision(now, cx.mesh, &env.dst) {
            // Never straight back: the sender routed by other coordinates
            // than ours, and bouncing would loop until the TTL runs out.
            // PathBroken makes the source look the destination up again.
            Route::Peer(h) if h == from => {
                self.counters.looped += 1;
                return self.routing_error(now, cx, env, msg, true);
            }
            Route::Peer(h) => h,
            Route::NoCoords => return self.routing_error(now, cx, env, msg, false),
            Route::NoProgress => return self.routing_error(now, cx, env, msg, true),
        };
        let link_mtu = cx.mesh.link_mtu(&hop).unwrap_or(0);
        if !fits_link(msg.len(), link_mtu) {
            self.counters.mtu_exceeded += 1;
            let err = FspError::MtuExceeded {
                dest: env.dst,
                reporter: self.me,
                mtu: link_mtu,
            };
            return self.send_error(now, cx, env, msg, err);
        }
        let Ok(mut dg) = DatagramView::new_checked(&mut *msg) else {
            return; // read as an Envelope already: cannot fail
        };
        dg.set_ttl(env.ttl - 1);
        dg.set_path_mtu(env.path_mtu.min(link_mtu));
        match cx.queue_link(&hop, msg) {
            Ok(()) => self.counters.forwarded += 1,
            Err(_) => self.counters.no_route += 1,
        }
    }

    fn routing_error<M: MeshView>(
        &mut self,
        now: Instant,
        cx: &mut Cx<'_, M>,
        env: &Envelope,
        msg: &[u8],
        known: bool,
    ) {
        self.counters.no_route += 1;
        let err = match self.coords.peek(now, &env.dst) {
            Some(c) if known => FspError::PathBroken {
                dest: env.dst,
                reporter: self.me,
                last_coords: c.coords.clone(),
            },
            _ => FspError::CoordsRequired {
                dest: env.dst,
                reporter: self.me,
            },
        };
        self.send_error(now, cx, env, msg, err);
    }

    /// Reports a failure back to the datagram's source, at most once per
    /// destination per 100 ms, and never about an error signal (no
    /// cascades).
    fn send_error<M: MeshView>(
        &mut self,
        now: Instant,
        cx: &mut Cx<'_, M>,
        env: &Envelope,
        msg: &[u8],
        err: FspError,
    ) {
        let payload = &msg[DG_HEADER..];
        let is_error = Prefix::parse(payload)
            .is_ok_and(|x| x.phase == PHASE_ESTABLISHED && x.flags & FLAG_U != 0);
        if is_error || !self.error_throttle.allow(now, env.dst) {
            return;
        }
        let mut buf = std::mem::take(&mut self.scratch);
        buf.clear();
        err.emit(&mut buf);
        if self.send_plain(now, cx, env.src, &buf) {
            self.counters.routing_errors_sent += 1;
        }
        self.scratch = buf;
    }

    fn deliver<M: MeshView>(
        &mut self,
        now: Instant,
        cx: &mut Cx<'_, M>,
        env: &Envelope,
        p: &mut [u8],
    ) {
        let Ok(Prefix { phase, flags, .. }) = Prefix::parse(p) else {
            self.counters.malformed += 1;
            return;
        };
        let parsed = match phase {
            PHASE_SETUP => SessionSetup::parse(p).map(|s| self.on_setup(now, cx, env.src, s)),
            PHASE_ACK => SessionAck::parse(p).map(|a| self.on_ack(now, cx, env.src, a)),
            PHASE_MSG3 => SessionMsg3::parse(p).map(|m| self.on_msg3(now, cx, env.src, m)),
            PHASE_ESTABLISHED if flags & FLAG_U != 0 => {
                FspError::parse(p).map(|e| self.on_error(now, cx, e))
            }
            PHASE_ESTABLISHED => {
                self.on_encrypted(now, cx, env.src, env.path_mtu, p);
                Ok(())
            }
            _ => {
                self.counters.malformed += 1;
                Ok(())
            }
        };
        if parsed.is_err() {
            self.counters.malformed += 1;
        }
    }

    /// An encrypted message from `src`: decrypt, track the rekey slot, and
    /// act on Data (to the TUN) and PathMtuNotification.
    pub(super) fn on_encrypted<M: MeshView>(
        &mut self,
        now: Instant,
        cx: &mut Cx<'_, M>,
        src: NodeAddr,
        path_mtu: u16,
        p: &mut [u8],
    ) {
        let Ok(view) = EncryptedPacket::new_checked(&*p) else {
            self.counters.malformed += 1;
            return;
        };
        let (key_epoch, counter, ad) = (view.key_epoch(), view.counter(), view.ad());
        let ciphertext = view.ciphertext_range();
        let e = match self.sessions.get_mut(&src).map(|s| &mut s.state) {
            Some(SessionState::Established(e)) => e,
            Some(SessionState::AwaitingMsg3 { early, .. }) if early.len() < EARLY_LIMIT => {
                early.push(p.to_vec());
                return;
            }
            _ => {
                self.counters.unknown_session += 1;
                return;
            }
        };
        let ct = &mut p[ciphertext];
        let Some((slot, n)) = e.open(key_epoch, counter, &ad, ct, &mut self.scratch) else {
            self.counters.decrypt_failed += 1;
            return;
        };
        match slot {
            Slot::Pending => {
                e.cut_over(
                    now,
                    self.cfg.drain_window,
                    self.cfg.min_rekey_after_cutover(),
                );
                e.msg3 = None;
            }
            Slot::Current if e.pending.is_none() => e.msg3 = None,
            Slot::Current => {}
            Slot::Previous => e.previous_until = now + self.cfg.drain_window,
        }
        e.last_recv = now;
        e.unanswered_since = None;
        e.stats.packets_recv += 1;
        e.stats.bytes_recv += n as u64;
        let Ok(inner) = FspInner::parse(&ct[..n]) else {
            return;
        };
        if inner.msg_type == DATA {
            e.mmp.rx.on_frame(counter, n, inner.timestamp_ms, now);
        } else {
            e.mmp
                .rx
                .on_frame_unreported(counter, n, inner.timestamp_ms, now);
        }
        let mut notify = None;
        match inner.msg_type {
            DATA => {
                e.last_data = now;
                notify = e.path_mtu_to_report(now, path_mtu.min(self.cfg.link_mtu));
            }
            RECEIVER_REPORT => {
                if let Ok(SessionMessage::ReceiverReport(rr)) = inner.message() {
                    self.counters.reports_received += 1;
                    let ts = e.timestamp(now);
                    e.mmp.on_peer_report(now, ts, &rr);
                }
            }
            PATH_MTU_NOTIFICATION => {
                if let Ok(SessionMessage::PathMtuNotification { path_mtu }) = inner.message() {
                    e.path_mtu = e.path_mtu.min(path_mtu);
                }
            }
            _ => {}
        }
        let (answer_at, report_at) = (e.answer_due, e.mmp.rx.next_report_at());
        for at in [answer_at, report_at].into_iter().flatten() {
            self.schedule(at);
        }
        self.note_slot(slot);
        if inner.msg_type == DATA {
            match Data::parse(inner.body) {
                Ok(d) if d.dst_port == PORT_IPV6_SHIM => self.deliver_shim(&src, d.payload),
                _ => {}
            }
        }
        if let Some(mtu) = notify {
            self.send_path_mtu(now, cx, src, mtu);
        }
    }

    /// CoordsRequired / PathBroken: re-warm the path (at most every 2 s),
    /// restart the warmup count, look the destination up again.
    /// MtuExceeded: lower the session's path MTU.
    fn on_error<M: MeshView>(&mut self, now: Instant, cx: &mut Cx<'_, M>, err: FspError) {
        let dest = err.dest();
        if let FspError::MtuExceeded { mtu, .. } = err {
            if let Some(SessionState::Established(e)) =
                self.sessions.get_mut(&dest).map(|s| &mut s.state)
            {
                e.path_mtu = e.path_mtu.min(mtu);
            }
            return;
        }
        self.rewarm_and_lookup(now, cx, dest);
    }

    /// The path to `dest` is broken or suspect: re-warm it and look the
    /// destination up again, in case it moved to another branch.
    pub(super) fn rewarm_and_lookup<M: MeshView>(
        &mut self,
        now: Instant,
        cx: &mut Cx<'_, M>,
        dest: NodeAddr,
    ) {
        // The reference drops the coordinates on PathBroken. We keep them
        // until a lookup replaces them: a failure at one transit node is
        // often transient, and with no coordinates (and a stale filter) we
        // could not route at all.
        self.routes.forget(&dest);
        let interval = self.cfg.coords_response_interval;
        let mut warm = false;
        if let Some(SessionState::Established(e)) =
            self.sessions.get_mut(&dest).map(|s| &mut s.state)
        {
            e.warmup_remaining = self.cfg.coords_warmup_packets;
            if e.last_warmup_reply
                .is_none_or(|t| now.saturating_duration_since(t) >= interval)
            {
                e.last_warmup_reply = Some(now);
                warm = true;
            }
        }
        if warm {
            self.send_coords_warmup(now, cx, dest);
        }
        self.discovery.start(now, dest, cx);
    }
}
