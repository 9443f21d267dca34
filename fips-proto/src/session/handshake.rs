//! The XK handshake over SessionSetup / SessionAck / SessionMsg3, for new
//! sessions and for rekeys of established ones.
//!
//! - Duplicate Setup: the responder resends its stored Ack.
//! - Crossing Setups: the smaller NodeAddr stays initiator.
//! - Setup on an established session: a rekey; the new keys become
//!   pending and take over when a frame authenticates under them (or,
//!   for the initiator, 2 s after msg3).

use std::time::Instant;

use super::dataplane::{Dataplane, SessionEntry};
use super::state::{Established, Keys, Rekey, Resend, SessionState};
use crate::addr::NodeAddr;
use crate::identity::PeerIdentity;
use crate::noise::{xk_initiate, xk_respond};
use crate::routing::{Cx, MeshView};
use crate::wire::fsp::{SessionAck, SessionMsg3, SessionSetup};
use crate::wire::Coords;

impl Dataplane {
    /// Whether a new session we answer would exceed our bounds. Only
    /// handshakes others started count against `max_handshakes`: a flood of
    /// Setups from fresh addresses must not stop us opening our own.
    fn full(&self) -> bool {
        self.sessions.len() >= self.cfg.max_sessions
            || self.inbound_handshakes() >= self.cfg.max_handshakes
    }

    /// Whether a Setup from `src` would be refused for want of room.
    pub(super) fn refuses_setup_from(&self, src: &NodeAddr) -> bool {
        !self.sessions.contains_key(src) && self.full()
    }

    fn inbound_handshakes(&self) -> usize {
        if self.sessions.len() < self.cfg.max_handshakes {
            return self.sessions.len();
        }
        self.sessions
            .values()
            .filter(|s| matches!(s.state, SessionState::AwaitingMsg3 { .. }))
            .count()
    }

    fn ephemeral<M: MeshView>(cx: &mut Cx<'_, M>) -> [u8; 32] {
        let mut e = [0u8; 32];
        cx.rng.fill_bytes(&mut e);
        e
    }

    /// Coordinates to put in a Setup for `dest`: cached, else the peer's
    /// own when it is a neighbour, else ours (the reference's fallback;
    /// the count must be at least one).
    fn setup_dst_coords<M: MeshView>(&self, now: Instant, mesh: &M, dest: &NodeAddr) -> Coords {
        if let Some(c) = self.coords.peek(now, dest) {
            return c.coords.clone();
        }
        if let Some(c) = mesh.peer(dest, dest).and_then(|p| p.coords) {
            return Coords(c.to_vec());
        }
        Coords(mesh.my_coords().to_vec())
    }

    fn setup_bytes<M: MeshView>(
        &self,
        now: Instant,
        mesh: &M,
        dest: &NodeAddr,
        noise: [u8; 33],
    ) -> Vec<u8> {
        let setup = SessionSetup {
            flags: 0,
            src_coords: Coords(mesh.my_coords().to_vec()),
            dst_coords: self.setup_dst_coords(now, mesh, dest),
            noise,
        };
        let mut out = Vec::with_capacity(setup.encoded_len());
        setup.emit(&mut out);
        out
    }

    /// Sends SessionSetup to `dest` and waits for the Ack.
    pub(super) fn initiate<M: MeshView>(
        &mut self,
        now: Instant,
        cx: &mut Cx<'_, M>,
        dest: NodeAddr,
        peer: PeerIdentity,
    ) {
        if self.sessions.len() >= self.cfg.max_sessions {
            self.counters.sessions_refused += 1;
            return;
        }
        let eph = Self::ephemeral(cx);
        let Ok((hs, msg1)) = xk_initiate(cx.mesh.identity(), &peer, eph) else {
            return;
        };
        let setup = self.setup_bytes(now, cx.mesh, &dest, msg1);
        self.send_plain(now, cx, dest, &setup);
        let next_resend = now + self.cfg.handshake_resend;
        let state = SessionState::Initiating {
            hs,
            setup,
            resends: 0,
            next_resend,
            deadline: now + self.cfg.handshake_timeout,
        };
        self.sessions.insert(dest, SessionEntry { state });
        self.schedule(next_resend);
    }

    /// Builds, sends and returns our Ack for `setup`.
    fn respond<M: MeshView>(
        &mut self,
        now: Instant,
        cx: &mut Cx<'_, M>,
        src: NodeAddr,
        setup: &SessionSetup,
    ) -> Option<(crate::noise::XkResponder, Vec<u8>)> {
        let eph = Self::ephemeral(cx);
        let (hs, msg2) = xk_respond(cx.mesh.identity(), &setup.noise, eph, self.cfg.epoch).ok()?;
        let ack = SessionAck {
            flags: 0,
            src_coords: Coords(cx.mesh.my_coords().to_vec()),
            dst_coords: setup.src_coords.clone(),
            noise: msg2,
        };
        let mut bytes = Vec::with_capacity(ack.encoded_len());
        ack.emit(&mut bytes);
        self.send_plain(now, cx, src, &bytes);
        Some((hs, bytes))
    }

    pub(super) fn on_setup<M: MeshView>(
        &mut self,
        now: Instant,
        cx: &mut Cx<'_, M>,
        src: NodeAddr,
        setup: SessionSetup,
    ) {
        match self.sessions.get_mut(&src).map(|s| &mut s.state) {
            Some(SessionState::Initiating { .. }) if self.me < src => return,
            Some(SessionState::AwaitingMsg3 { msg1, ack, .. }) if *msg1 == setup.noise => {
                let ack = ack.clone();
                self.send_plain(now, cx, src, &ack);
                return;
            }
            Some(SessionState::Established(_)) => return self.rekey_respond(now, cx, src, setup),
            _ => {}
        }
        if self.refuses_setup_from(&src) {
            self.counters.sessions_refused += 1;
            return;
        }
        let Some((hs, ack)) = self.respond(now, cx, src, &setup) else {
            return;
        };
        let deadline = now + self.cfg.handshake_timeout;
        let state = SessionState::AwaitingMsg3 {
            hs,
            msg1: setup.noise,
            ack,
            deadline,
            early: Vec::new(),
        };
        self.sessions.insert(src, SessionEntry { state });
        self.schedule(deadline);
    }

    pub(super) fn on_ack<M: MeshView>(
        &mut self,
        now: Instant,
        cx: &mut Cx<'_, M>,
        src: NodeAddr,
        ack: SessionAck,
    ) {
        match self.sessions.get_mut(&src).map(|s| &mut s.state) {
            Some(SessionState::Initiating { .. }) => self.finish_initiator(now, cx, src, &ack),
            Some(SessionState::Established(e)) => {
                match std::mem::replace(&mut e.rekey, Rekey::Idle) {
                    Rekey::Initiating { hs } => {
                        let Ok((t, msg3, _epoch)) = hs.read_msg2(&ack.noise, self.cfg.epoch) else {
                            return;
                        };
                        e.pending = Some(Keys::new(t));
                        e.cutover_at = Some(now + self.cfg.rekey_cutover);
                        let at = now + self.cfg.rekey_cutover;
                        let bytes = msg3_bytes(msg3);
                        e.msg3 = Some(Resend {
                            payload: bytes.clone(),
                            count: 0,
                            next: now + self.cfg.msg3_resend,
                        });
                        self.send_plain(now, cx, src, &bytes);
                        self.schedule(at);
                    }
                    other => {
                        e.rekey = other;
                        // Our msg3 was lost and the peer resent its Ack.
                        if let Some(payload) = e.msg3.as_ref().map(|r| r.payload.clone()) {
                            self.send_plain(now, cx, src, &payload);
                        }
                    }
                }
            }
            _ => {}
        }
    }

    fn finish_initiator<M: MeshView>(
        &mut self,
        now: Instant,
        cx: &mut Cx<'_, M>,
        src: NodeAddr,
        ack: &SessionAck,
    ) {
        let Some(SessionEntry {
            state: SessionState::Initiating { hs, .. },
        }) = self.sessions.remove(&src)
        else {
            return;
        };
        let peer = *hs.remote();
        let Ok((t, msg3, _epoch)) = hs.read_msg2(&ack.noise, self.cfg.epoch) else {
            return;
        };
        let bytes = msg3_bytes(msg3);
        self.send_plain(now, cx, src, &bytes);
        let mut e = self.new_established(now, cx, peer, Keys::new(t));
        e.initiator = true;
        e.msg3 = Some(Resend {
            payload: bytes,
            count: 0,
            next: now + self.cfg.msg3_resend,
        });
        self.established(now, cx, src, e);
    }

    pub(super) fn on_msg3<M: MeshView>(
        &mut self,
        now: Instant,
        cx: &mut Cx<'_, M>,
        src: NodeAddr,
        m3: SessionMsg3,
    ) {
        match self.sessions.get_mut(&src).map(|s| &mut s.state) {
            Some(SessionState::AwaitingMsg3 { .. }) => {}
            Some(SessionState::Established(e)) => {
                if let Rekey::Responding { hs, .. } = std::mem::replace(&mut e.rekey, Rekey::Idle) {
                    if let Ok((t, id, _epoch)) = hs.read_msg3(&m3.noise) {
                        if id == e.peer {
                            e.pending = Some(Keys::new(t));
                        }
                    }
                }
                return;
            }
            _ => {
                self.counters.msg3_refused += 1;
                return;
            }
        }
        let Some(SessionEntry {
            state: SessionState::AwaitingMsg3 {
                hs, msg1, early, ..
            },
        }) = self.sessions.remove(&src)
        else {
            return;
        };
        let Ok((t, peer, _epoch)) = hs.read_msg3(&m3.noise) else {
            self.counters.msg3_refused += 1;
            return;
        };
        // The initiator's key must own the address it sends from.
        if peer.node_addr() != src {
            self.counters.msg3_refused += 1;
            return;
        }
        let sessions = &self.sessions;
        self.ids.insert(now, peer, |a| sessions.contains_key(a));
        let mut e = self.new_established(now, cx, peer, Keys::new(t));
        e.initial_msg1 = Some(msg1);
        self.established(now, cx, src, e);
        for mut p in early {
            self.on_encrypted(now, cx, src, u16::MAX, &mut p);
        }
    }

    fn new_established<M: MeshView>(
        &self,
        now: Instant,
        cx: &mut Cx<'_, M>,
        peer: PeerIdentity,
        keys: Keys,
    ) -> Established {
        let next = now + self.rekey_interval(cx);
        Established::new(peer, keys, now, self.cfg.coords_warmup_packets, next)
    }

    /// 120 s ± up to 15 s, so both ends rarely start a rekey together.
    pub(super) fn rekey_interval<M: MeshView>(&self, cx: &mut Cx<'_, M>) -> std::time::Duration {
        let mut b = [0u8; 2];
        cx.rng.fill_bytes(&mut b);
        let jitter_ms = self.cfg.rekey_jitter.as_millis() as u64;
        let r = u64::from(u16::from_le_bytes(b)) % (2 * jitter_ms + 1);
        (self.cfg.rekey_after + std::time::Duration::from_millis(r))
            .saturating_sub(self.cfg.rekey_jitter)
    }

    fn established<M: MeshView>(
        &mut self,
        now: Instant,
        cx: &mut Cx<'_, M>,
        src: NodeAddr,
        e: Established,
    ) {
        self.schedule(e.next_rekey);
        self.schedule(now + self.cfg.idle_timeout);
        if let Some(r) = &e.msg3 {
            self.schedule(r.next);
        }
        let state = SessionState::Established(Box::new(e));
        self.sessions.insert(src, SessionEntry { state });
        self.counters.sessions_established += 1;
        self.flush_pending(now, cx, src);
    }

    /// A SessionSetup for a session we already have: a rekey (or the peer
    /// restarted, which the same exchange repairs).
    fn rekey_respond<M: MeshView>(
        &mut self,
        now: Instant,
        cx: &mut Cx<'_, M>,
        src: NodeAddr,
        setup: SessionSetup,
    ) {
        let Some(SessionState::Established(e)) = self.sessions.get_mut(&src).map(|s| &mut s.state)
        else {
            return;
        };
        if e.initial_msg1 == Some(setup.noise) {
            return; // a late copy of the Setup that created this session
        }
        match &e.rekey {
            Rekey::Initiating { .. } if self.me < src => return,
            Rekey::Responding { msg1, ack, .. } if *msg1 == setup.noise => {
                let ack = ack.clone();
                self.send_plain(now, cx, src, &ack);
                return;
            }
            _ => {}
        }
        if e.pending.is_some() {
            return;
        }
        let Some((hs, ack)) = self.respond(now, cx, src, &setup) else {
            return;
        };
        if let Some(SessionState::Established(e)) =
            self.sessions.get_mut(&src).map(|s| &mut s.state)
        {
            e.rekey = Rekey::Responding {
                hs,
                msg1: setup.noise,
                ack,
            };
            e.rekey_started = now;
            e.last_peer_rekey = Some(now);
        }
    }

    /// Starts a rekey of an established session as initiator.
    pub(super) fn rekey_initiate<M: MeshView>(
        &mut self,
        now: Instant,
        cx: &mut Cx<'_, M>,
        dest: NodeAddr,
    ) {
        let next = now + self.rekey_interval(cx);
        let Some(SessionState::Established(e)) = self.sessions.get_mut(&dest).map(|s| &mut s.state)
        else {
            return;
        };
        // Rescheduled first, so a failed attempt waits a full interval.
        e.next_rekey = next;
        e.sent_since_rekey = 0;
        let peer = e.peer;
        let eph = Self::ephemeral(cx);
        let Ok((hs, msg1)) = xk_initiate(cx.mesh.identity(), &peer, eph) else {
            return;
        };
        let setup = self.setup_bytes(now, cx.mesh, &dest, msg1);
        if let Some(SessionState::Established(e)) =
            self.sessions.get_mut(&dest).map(|s| &mut s.state)
        {
            e.rekey = Rekey::Initiating { hs };
            e.rekey_started = now;
        }
        self.send_plain(now, cx, dest, &setup);
        self.schedule(now + self.cfg.handshake_timeout);
    }
}

fn msg3_bytes(noise: [u8; 73]) -> Vec<u8> {
    let m = SessionMsg3 { flags: 0, noise };
    let mut out = Vec::with_capacity(m.encoded_len());
    m.emit(&mut out);
    out
}
