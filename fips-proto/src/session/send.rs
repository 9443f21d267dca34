//! The send side: IPv6 packets into encrypted Data messages, standalone
//! CoordsWarmup, and plaintext FSP messages (handshakes, routing errors)
//! wrapped in SessionDatagrams.

use std::time::Instant;

use super::codec::{self, Envelope, FSP_HEADER, INNER_HEADER};
use super::dataplane::Dataplane;
use super::state::{Established, SessionState};
use crate::addr::NodeAddr;
use crate::ipv6::mss;
use crate::ipv6::packet::NEXT_HEADER_TCP;
use crate::routing::{fits_link, Cx, MeshView};
use crate::wire::fsp::{FLAG_CP, FLAG_K, PHASE_ACK, PHASE_MSG3, PHASE_SETUP};
use crate::wire::fsp_inner::{self, Data, SessionMessage, COORDS_WARMUP, DATA, PORT_IPV6_SHIM};
use crate::wire::shim;
use crate::wire::TAG_LEN;

impl Dataplane {
    /// Encrypts one IPv6 packet for an established session and sends it.
    pub(super) fn send_ipv6<M: MeshView>(
        &mut self,
        now: Instant,
        cx: &mut Cx<'_, M>,
        dest: NodeAddr,
        pkt: &[u8],
    ) {
        let Some(hop) = self.route(now, cx.mesh, &dest) else {
            self.counters.no_route += 1;
            self.discovery.start(now, dest, cx);
            return;
        };
        let Some(SessionState::Established(e)) = self.sessions.get_mut(&dest).map(|s| &mut s.state)
        else {
            return;
        };
        self.pt.clear();
        let ts = e.timestamp(now);
        fsp_inner::emit_header(ts, DATA, 0, &mut self.pt);
        Data::emit_header(PORT_IPV6_SHIM, PORT_IPV6_SHIM, &mut self.pt);
        let shim_at = self.pt.len();
        if crate::wire::shim::compress(pkt, &mut self.pt).is_err() {
            self.counters.tun_malformed += 1;
            return;
        }
        if shim::next_header(&self.pt[shim_at..]) == Some(NEXT_HEADER_TCP) {
            let max = mss::max_mss_for(crate::ipv6::effective_mtu(self.cfg.link_mtu));
            mss::clamp_tcp_segment(&mut self.pt[shim_at + shim::SHIM_HEADER_LEN..], max);
        }
        e.last_data = now;
        let first_unanswered = e.unanswered_since.is_none();
        e.unanswered_since.get_or_insert(now);
        if first_unanswered {
            self.schedule(now + self.cfg.dead_after);
        }
        self.counters.data_sent += 1;
        self.seal_and_send(now, cx, dest, hop, true);
    }

    /// Seals `self.pt` (an inner plaintext) for `dest` and sends it via
    /// `hop`. With `warm`, a session still in its warmup window piggybacks
    /// coordinates, or sends a standalone CoordsWarmup first when they
    /// would not fit the link.
    pub(super) fn seal_and_send<M: MeshView>(
        &mut self,
        now: Instant,
        cx: &mut Cx<'_, M>,
        dest: NodeAddr,
        hop: NodeAddr,
        warm: bool,
    ) {
        let link_mtu = cx.mesh.link_mtu(&hop).unwrap_or(0);
        let Some(SessionState::Established(e)) = self.sessions.get_mut(&dest).map(|s| &mut s.state)
        else {
            return;
        };
        let mut cp = warm && e.warmup_remaining > 0;
        if cp {
            e.warmup_remaining -= 1;
            let dst_coords = self
                .coords
                .peek(now, &dest)
                .map_or(&[][..], |c| &c.coords.0[..]);
            let extra = codec::coords_len(cx.mesh.my_coords()) + codec::coords_len(dst_coords);
            let total = codec::DG_HEADER + FSP_HEADER + extra + self.pt.len() + TAG_LEN;
            if !fits_link(total, link_mtu) {
                cp = false;
                // The data would not fit with coordinates: warm separately.
                let mut warmup = std::mem::take(&mut self.scratch);
                warmup.clear();
                fsp_inner::emit_header(e.timestamp(now), COORDS_WARMUP, 0, &mut warmup);
                build(
                    e,
                    self.me,
                    dest,
                    self.cfg.session_ttl,
                    Some((cx.mesh.my_coords(), dst_coords)),
                    &mut warmup,
                    &mut self.msg,
                );
                self.scratch = warmup;
                let _ = cx.queue_link(&hop, &self.msg);
            }
        }
        let Some(SessionState::Established(e)) = self.sessions.get_mut(&dest).map(|s| &mut s.state)
        else {
            return;
        };
        // Whatever we seal answers the peer's Data (`answer_due`).
        e.answer_due = None;
        let coords = if cp {
            let dst_coords = self
                .coords
                .peek(now, &dest)
                .map_or(&[][..], |c| &c.coords.0[..]);
            Some((cx.mesh.my_coords(), dst_coords))
        } else {
            None
        };
        build(
            e,
            self.me,
            dest,
            self.cfg.session_ttl,
            coords,
            &mut self.pt,
            &mut self.msg,
        );
        if cx.queue_link(&hop, &self.msg).is_err() {
            self.counters.no_route += 1;
        }
    }

    /// Sends PathMtuNotification (0x13) to the sender of our Data.
    pub(super) fn send_path_mtu<M: MeshView>(
        &mut self,
        now: Instant,
        cx: &mut Cx<'_, M>,
        dest: NodeAddr,
        mtu: u16,
    ) {
        let Some(hop) = self.route(now, cx.mesh, &dest) else {
            return;
        };
        let msg = SessionMessage::PathMtuNotification { path_mtu: mtu };
        if !self.start_inner(now, dest, msg.msg_type()) {
            return;
        }
        msg.emit_body(&mut self.pt);
        self.seal_and_send(now, cx, dest, hop, false);
    }

    /// Starts `self.pt` with the inner header of a `msg_type` message on
    /// the established session to `dest`; false when there is none.
    fn start_inner(&mut self, now: Instant, dest: NodeAddr, msg_type: u8) -> bool {
        let Some(SessionState::Established(e)) = self.sessions.get(&dest).map(|s| &s.state) else {
            return false;
        };
        self.pt.clear();
        fsp_inner::emit_header(e.timestamp(now), msg_type, 0, &mut self.pt);
        true
    }

    /// Sends a standalone CoordsWarmup to `dest` (after a routing error).
    pub(super) fn send_coords_warmup<M: MeshView>(
        &mut self,
        now: Instant,
        cx: &mut Cx<'_, M>,
        dest: NodeAddr,
    ) {
        let Some(hop) = self.route(now, cx.mesh, &dest) else {
            return;
        };
        if !self.start_inner(now, dest, COORDS_WARMUP) {
            return;
        }
        let Some(SessionState::Established(e)) = self.sessions.get_mut(&dest).map(|s| &mut s.state)
        else {
            return;
        };
        let dst_coords = self
            .coords
            .peek(now, &dest)
            .map_or(&[][..], |c| &c.coords.0[..]);
        build(
            e,
            self.me,
            dest,
            self.cfg.session_ttl,
            Some((cx.mesh.my_coords(), dst_coords)),
            &mut self.pt,
            &mut self.msg,
        );
        let _ = cx.queue_link(&hop, &self.msg);
    }

    /// Wraps a plaintext FSP message (handshake or error) in a
    /// SessionDatagram to `dest` and sends it. Returns whether it left.
    pub(super) fn send_plain<M: MeshView>(
        &mut self,
        now: Instant,
        cx: &mut Cx<'_, M>,
        dest: NodeAddr,
        fsp: &[u8],
    ) -> bool {
        let Some(hop) = self.route(now, cx.mesh, &dest) else {
            self.counters.no_route += 1;
            return false;
        };
        self.msg.clear();
        Envelope {
            ttl: self.cfg.session_ttl,
            path_mtu: u16::MAX,
            src: self.me,
            dst: dest,
        }
        .write(&mut self.msg);
        self.msg.extend_from_slice(fsp);
        match fsp.first() {
            Some(&PHASE_SETUP) => self.counters.setups_sent += 1,
            Some(&PHASE_ACK) => self.counters.acks_sent += 1,
            Some(&PHASE_MSG3) => self.counters.msg3_sent += 1,
            _ => {}
        }
        cx.queue_link(&hop, &self.msg).is_ok()
    }
}

/// Seals `pt` in place with the session's current keys and writes the whole
/// SessionDatagram link message into `out`.
fn build(
    e: &mut Established,
    src: NodeAddr,
    dst: NodeAddr,
    ttl: u8,
    coords: Option<(&[NodeAddr], &[NodeAddr])>,
    pt: &mut Vec<u8>,
    out: &mut Vec<u8>,
) {
    debug_assert!(pt.len() >= INNER_HEADER);
    let counter = e.current.take_counter();
    e.sent_since_rekey += 1;
    let mut flags = if e.k_bit { FLAG_K } else { 0 };
    if coords.is_some() {
        flags |= FLAG_CP;
    }
    let header = codec::fsp_header(flags, pt.len(), counter);
    e.current.seal(counter, &header, pt);
    e.stats.packets_sent += 1;
    e.stats.bytes_sent += pt.len() as u64;
    out.clear();
    Envelope {
        ttl,
        path_mtu: u16::MAX,
        src,
        dst,
    }
    .write(out);
    out.extend_from_slice(&header);
    if let Some((s, d)) = coords {
        codec::put_coords(out, s);
        codec::put_coords(out, d);
    }
    out.extend_from_slice(pt);
}
