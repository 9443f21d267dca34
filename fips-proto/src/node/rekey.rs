//! FMP link rekey, both roles: a fresh IK handshake in
//! plaintext msg1/msg2 on the live 5-tuple with new indices; the new session
//! waits as *pending* until cutover (the initiator's next tick after msg2, or
//! on either side the first peer frame that authenticates under it); the old
//! session drains for 10 s; the K bit toggles on every cutover. Dual
//! initiation: the smaller NodeAddr wins.

use std::net::SocketAddr;
use std::time::Instant;

use crate::noise::{self, IkResponder};
use crate::wire::fmp::{Msg1, Msg2};
use crate::NodeAddr;

use super::link::{LinkSession, RekeyInit};
use super::timers::LinkTimer;
use super::{codec, Node, Owner};

impl Node {
    /// Rekey timer fired: send msg1 unless a rekey is already under way or the
    /// peer rekeyed us recently (dampening).
    pub(super) fn start_rekey(&mut self, now: Instant, paddr: NodeAddr) {
        let (damp, min_age) = (self.timers.rekey_dampening, self.timers.rekey_min_age);
        let Some(p) = self.peers.get_mut(&paddr) else {
            return;
        };
        if p.rekey.is_some() || p.pending.is_some() {
            return;
        }
        // Not before the peer would count our msg1 as a rekey (session age
        // 30 s), nor within 30 s of the peer rekeying us (dampening).
        let not_before = [
            Some(p.session_start + min_age),
            p.peer_rekey_at.map(|at| at + damp),
        ];
        if let Some(when) = not_before.into_iter().flatten().filter(|t| now < *t).max() {
            p.timers.set(LinkTimer::Rekey, when);
            return;
        }
        let (identity, remote) = (p.identity, p.remote);
        let eph = self.random_bytes32();
        let Ok((hs, noise1)) = noise::ik_initiate(&self.identity, &identity, eph, self.epoch)
        else {
            self.counters.handshake_failed += 1;
            return;
        };
        let our_index = self.alloc_index(Owner::Peer(paddr));
        let msg1 = codec::msg1(our_index, noise1);
        self.queue(remote, msg1.clone());
        let first_resend = now + self.timers.resend_after(0);
        if let Some(p) = self.peers.get_mut(&paddr) {
            p.rekey = Some(RekeyInit {
                hs: Some(hs),
                our_index,
                msg1,
                resends: 0,
            });
            p.timers.set(LinkTimer::RekeyResend, first_resend);
        }
    }

    /// Resends our rekey msg1 (1 s ×2, 5 times), then abandons the cycle and
    /// starts a new one on the next tick, as the reference does.
    pub(super) fn rekey_resend(&mut self, now: Instant, paddr: NodeAddr) {
        let max = self.timers.handshake_max_resends;
        let Some(p) = self.peers.get_mut(&paddr) else {
            return;
        };
        let Some(rk) = p.rekey.as_mut() else { return };
        if rk.resends >= max {
            let idx = rk.our_index;
            p.rekey = None;
            let silent = now.saturating_duration_since(p.last_recv) >= self.timers.link_dead;
            p.timers
                .set(LinkTimer::Rekey, now + self.timers.handshake_resend);
            self.free_index(idx);
            if silent {
                // The dead check waited for this cycle; a silent peer ends here.
                self.counters.dead_peers += 1;
                self.remove_peer(now, paddr, super::DownReason::Dead);
            }
            return;
        }
        rk.resends += 1;
        // After the last resend the cycle is abandoned on the next tick.
        let next = if rk.resends >= max {
            now + self.timers.handshake_resend
        } else {
            now + self.timers.resend_after(rk.resends)
        };
        let (remote, bytes) = (p.remote, rk.msg1.clone());
        p.timers.set(LinkTimer::RekeyResend, next);
        self.queue(remote, bytes);
    }

    /// A msg1 from an active peer with the same epoch (see `handle_msg1`): a rekey.
    pub(super) fn answer_rekey(
        &mut self,
        now: Instant,
        from: SocketAddr,
        m: Msg1,
        resp: IkResponder,
    ) {
        let paddr = resp.remote().node_addr();
        let Some(p) = self.peers.get_mut(&paddr) else {
            return;
        };
        match &p.pending {
            // Our own completed rekey is about to cut over: keep it.
            Some(s) if s.initiator == self.my_addr => {
                self.counters.rekey_msg1_dropped += 1;
                return;
            }
            // An answer the peer never confirmed; its new cycle supersedes it.
            Some(s) => {
                let stale = s.our_index;
                p.pending = None;
                self.free_index(stale);
            }
            None => {}
        }
        let Some(p) = self.peers.get_mut(&paddr) else {
            return;
        };
        if let Some(rk) = &p.rekey {
            if self.my_addr < paddr {
                // Dual initiation and we win: our msg1 gets answered instead.
                self.counters.rekey_msg1_dropped += 1;
                return;
            }
            let idx = rk.our_index;
            p.rekey = None;
            p.timers.stop(LinkTimer::RekeyResend);
            self.free_index(idx);
        }
        let eph = self.random_bytes32();
        let Ok((keys, noise2)) = resp.write_msg2(eph, self.epoch) else {
            self.counters.handshake_failed += 1;
            return;
        };
        let our_index = self.alloc_index(Owner::Peer(paddr));
        let wire2 = codec::msg2(our_index, m.sender_idx, noise2);
        let mut session = LinkSession::new(keys, our_index, m.sender_idx, paddr);
        session.answered = Some((m.noise, wire2.clone()));
        // No cutover timer on this side: the pending session becomes current
        // when a peer frame authenticates under it, which proves the peer got
        // our msg2. (The reference responder flips on its next tick; if that
        // msg2 was lost, the peer resends msg1 while the flipped side drains
        // the old session away and the link dies under loss.)
        if let Some(p) = self.peers.get_mut(&paddr) {
            p.pending = Some(session);
            p.peer_rekey_at = Some(now);
        }
        self.queue(from, wire2);
    }

    /// msg2 addressed to one of a peer's indices: completes our rekey.
    pub(super) fn finish_rekey(&mut self, now: Instant, paddr: NodeAddr, m: Msg2) {
        let cutover_in = self.timers.rekey_cutover;
        let retry = self.timers.handshake_resend;
        let Some(p) = self.peers.get_mut(&paddr) else {
            return;
        };
        let Some(rk) = p.rekey.as_mut().filter(|rk| rk.our_index == m.receiver_idx) else {
            // A duplicate msg2 for a session we already hold, or a stray one.
            self.counters.unknown_index += 1;
            return;
        };
        let our_index = rk.our_index;
        let Some(hs) = rk.hs.take() else { return };
        p.rekey = None;
        p.timers.stop(LinkTimer::RekeyResend);
        match hs.read_msg2(&m.noise) {
            Ok((keys, _epoch)) => {
                let s = LinkSession::new(keys, our_index, m.sender_idx, self.my_addr);
                p.pending = Some(s);
                p.timers.set(LinkTimer::Cutover, now + cutover_in);
            }
            Err(_) => {
                p.timers.set(LinkTimer::Rekey, now + retry);
                self.counters.handshake_failed += 1;
                self.free_index(our_index);
            }
        }
    }

    /// Pending becomes current, current drains; K flips; counters restart.
    pub(super) fn cutover(&mut self, now: Instant, paddr: NodeAddr) {
        let drain = self.timers.drain;
        let rekey_in = self.jittered(self.timers.rekey_after, self.timers.rekey_jitter);
        let Some(p) = self.peers.get_mut(&paddr) else {
            return;
        };
        let Some(new) = p.pending.take() else { return };
        let old = std::mem::replace(&mut p.current, new);
        if let Some(prev) = p.previous.replace(old) {
            // A drain still running when the next cutover comes: drop it now.
            self.indices.remove(&(super::UDP, prev.our_index));
        }
        let Some(p) = self.peers.get_mut(&paddr) else {
            return;
        };
        p.k_bit = !p.k_bit;
        p.session_start = now;
        p.mmp_rx.reset_for_rekey();
        p.mmp.reset_for_rekey();
        p.timers.stop(LinkTimer::Cutover);
        p.timers.set(LinkTimer::Drain, now + drain);
        p.timers.set(LinkTimer::Rekey, now + rekey_in);
        self.counters.rekeys += 1;
    }

    pub(super) fn finish_drain(&mut self, paddr: NodeAddr) {
        let Some(p) = self.peers.get_mut(&paddr) else {
            return;
        };
        if let Some(prev) = p.previous.take() {
            self.free_index(prev.our_index);
        }
    }
}
