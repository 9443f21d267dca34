//! Link establishment: outbound dials (Noise IK initiator with msg1 resends,
//! timeout and reconnect backoff), inbound msg1 (responder, duplicate msg1,
//! restart detection, cross-connection), and promotion of a finished
//! handshake to an active peer.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::identity::PeerIdentity;
use crate::mmp::{MmpMetrics, MmpReceiver};
use crate::noise::{self, IkInitiator, IkResponder};
use crate::routing::MeshChange;
use crate::wire::fmp::{Msg1, Msg2};
use crate::NodeAddr;

use super::link::{Direction, LinkSession, LinkStats, Peer, SrMark};
use super::timers::{LinkTimer, PeerTimer, TimerTable};
use super::{admission, codec, DownReason, Node, NodeEvent, Owner, PeerConfig};

/// A configured peer and its reconnect schedule.
pub(crate) struct PeerSlot {
    pub cfg: PeerConfig,
    pub next_attempt: Option<Instant>,
    pub backoff: Duration,
    pub addr_cursor: usize,
}

impl PeerSlot {
    pub(crate) fn new(cfg: PeerConfig, base: Duration) -> Self {
        PeerSlot {
            cfg,
            next_attempt: None,
            backoff: base,
            addr_cursor: 0,
        }
    }
}

/// An outbound handshake waiting for msg2.
pub(crate) struct Dial {
    pub identity: PeerIdentity,
    pub remote: SocketAddr,
    pub hs: Option<IkInitiator>,
    pub our_index: u32,
    pub msg1: Vec<u8>,
    pub resends: u32,
    pub next_resend: Instant,
    pub deadline: Instant,
    /// When msg1 first went out, and when it last did (for `show_connections`).
    pub started: Instant,
    pub last_sent: Instant,
}

/// A completed IK handshake (either role), ready to become the peer's
/// current link session.
struct Handshaken {
    identity: PeerIdentity,
    session: LinkSession,
    direction: Direction,
    remote: SocketAddr,
    epoch: [u8; 8],
}

impl Node {
    /// Sends msg1 to a configured peer unless it is already up or being dialled.
    pub(super) fn start_dial(&mut self, now: Instant, target: NodeAddr) {
        let Some(slot) = self.peers.slot_mut(&target) else {
            return;
        };
        slot.next_attempt = None;
        if self.peers.contains_key(&target) || self.peers.dial(&target).is_some() {
            return;
        }
        if self
            .peers
            .slot(&target)
            .is_none_or(|s| s.cfg.addrs.is_empty())
        {
            return;
        }
        if !self.dial_allowed() {
            self.schedule_reconnect(now, target, true);
            return;
        }
        let Some(slot) = self.peers.slot_mut(&target) else {
            return;
        };
        let remote = slot.cfg.addrs[slot.addr_cursor % slot.cfg.addrs.len()];
        slot.addr_cursor = slot.addr_cursor.wrapping_add(1);
        let identity = slot.cfg.identity;
        let eph = self.random_bytes32();
        let (hs, noise1) = match noise::ik_initiate(&self.identity, &identity, eph, self.epoch) {
            Ok(x) => x,
            Err(_) => {
                self.counters.handshake_failed += 1;
                self.schedule_reconnect(now, target, true);
                return;
            }
        };
        let our_index = self.alloc_index(Owner::Dial(target));
        let msg1 = codec::msg1(our_index, noise1);
        self.queue(remote, msg1.clone());
        let dial = Dial {
            identity,
            remote,
            hs: Some(hs),
            our_index,
            msg1,
            resends: 0,
            next_resend: now + self.timers.resend_after(0),
            deadline: now + self.timers.handshake_timeout,
            started: now,
            last_sent: now,
        };
        self.peers.insert_dial(target, dial);
    }

    /// Whether a new dial fits under `max_connections` and `max_links`;
    /// counts the refusal if not.
    fn dial_allowed(&mut self) -> bool {
        if self.peers.dialing() >= self.timers.max_connections {
            self.counters.connection_limit += 1;
            return false;
        }
        if self.peers.links() >= self.timers.max_links {
            self.counters.link_limit += 1;
            return false;
        }
        true
    }

    /// Whether a msg1 from `paddr`, not linked, may make a new peer under
    /// `max_peers` and `max_links` (a dial of ours to it already holds its
    /// link); counts the refusal if not.
    fn new_peer_allowed(&mut self, paddr: &NodeAddr) -> bool {
        if self.peers.len() >= self.timers.max_peers {
            self.counters.peer_limit += 1;
            return false;
        }
        if self.peers.dial(paddr).is_none() && self.peers.links() >= self.timers.max_links {
            self.counters.link_limit += 1;
            return false;
        }
        true
    }

    pub(super) fn cancel_dial(&mut self, target: &NodeAddr) {
        if let Some(d) = self.peers.remove_dial(target) {
            self.free_index(d.our_index);
        }
    }

    /// Fires one of a peer's timers (see `timers::PeerTimer`).
    pub(super) fn on_peer_timer(&mut self, now: Instant, addr: NodeAddr, t: PeerTimer) {
        match t {
            PeerTimer::Dial => self.dial_timer(now, addr),
            PeerTimer::Reconnect => self.start_dial(now, addr),
            PeerTimer::Link(t) if self.peers.contains_key(&addr) => {
                self.on_link_timer(now, addr, t)
            }
            PeerTimer::Link(_) => {}
        }
    }

    /// msg1 resends (1 s, ×2, at most 5) and the handshake timeout.
    fn dial_timer(&mut self, now: Instant, target: NodeAddr) {
        let Some(d) = self.peers.dial_mut(&target) else {
            return;
        };
        if d.deadline <= now {
            self.cancel_dial(&target);
            self.counters.handshake_timeouts += 1;
            self.schedule_reconnect(now, target, true);
        } else if d.resends < self.timers.handshake_max_resends {
            d.resends += 1;
            d.next_resend = now + self.timers.resend_after(d.resends);
            d.last_sent = now;
            let (to, bytes) = (d.remote, d.msg1.clone());
            self.queue(to, bytes);
        } else {
            d.next_resend = d.deadline;
        }
    }

    /// Plans the next dial of an auto-connect peer: right away after a lost
    /// link, with exponential backoff (5 s ×2, cap 300 s) after a failed dial.
    pub(super) fn schedule_reconnect(&mut self, now: Instant, target: NodeAddr, failed: bool) {
        let cap = self.timers.reconnect_cap;
        let Some(slot) = self.peers.slot_mut(&target) else {
            return;
        };
        if !slot.cfg.auto_connect || self.shut_down {
            return;
        }
        let delay = if failed {
            let d = slot.backoff;
            slot.backoff = (slot.backoff * 2).min(cap);
            d
        } else {
            Duration::ZERO
        };
        slot.next_attempt = Some(now + delay);
    }

    pub(super) fn handle_msg1(&mut self, now: Instant, from: SocketAddr, m: Msg1) {
        let known = self.is_known_source(from);
        if self.admission.admit(now, from.ip(), known) != admission::Verdict::Admit {
            self.counters.msg1_rate_limited += 1;
            return;
        }
        // A retransmitted msg1 we already answered: same msg2, no new crypto.
        // Answering it linked the sender at this address, so only the
        // peers linked at its IP can hold the answer.
        let stored = self
            .peers
            .linked_at(from.ip().to_canonical())
            .iter()
            .filter_map(|a| self.peers.get(a))
            .find_map(|p| p.stored_msg2_for(&m.noise));
        if let Some(msg2) = stored.map(<[u8]>::to_vec) {
            self.counters.msg1_duplicate += 1;
            self.queue(from, msg2);
            return;
        }
        let resp = match noise::ik_respond(&self.identity, &m.noise) {
            Ok(r) => r,
            Err(_) => {
                self.counters.handshake_failed += 1;
                return;
            }
        };
        let peer = *resp.remote();
        let paddr = peer.node_addr();
        if paddr == self.my_addr {
            self.counters.handshake_failed += 1;
            return;
        }
        if !self.peers.contains_key(&paddr) && !self.new_peer_allowed(&paddr) {
            return;
        }
        if let Some(p) = self.peers.get(&paddr) {
            if p.remote_epoch != resp.remote_epoch() {
                self.counters.peer_restarts += 1;
                self.remove_peer(now, paddr, DownReason::Restarted);
            } else if now.saturating_duration_since(p.session_start) < self.timers.rekey_min_age
                && self.my_addr < paddr
                && (p.current.initiator == self.my_addr || self.peers.dial(&paddr).is_some())
            {
                // A young session from a cross-connection: our own
                // handshake is the one both sides keep.
                self.counters.cross_connection_dropped += 1;
                return;
            } else {
                // Same epoch: the peer still holds its session with us. Its
                // new handshake must not replace ours at once: answer it as
                // a rekey, pending until a peer frame authenticates under it,
                // whatever our session's age. A busy reference peer rekeys
                // after 65536 frames, seconds into a link, and picks the
                // session it decrypts with by our K bit: a fresh session
                // with K back at 0 fails there until it drops the link.
                // (A cross-connection the peer wins completes the same way:
                // the peer sends on its own handshake, our pending.)
                return self.answer_rekey(now, from, m, resp);
            }
        }
        self.accept_msg1(now, from, m, resp);
    }

    /// Whether `from` is the IP of a linked peer, a configured peer or a
    /// peer we are dialling: its msg1 is charged to its own budget, not to
    /// the one unknown senders share. By IP, not port: a peer behind NAT
    /// may come back from another port.
    fn is_known_source(&mut self, from: SocketAddr) -> bool {
        self.peers.is_known_ip(from.ip().to_canonical())
    }

    /// The IPs [`Node::is_known_source`] accepts (canonical: an
    /// IPv4-mapped IPv6 address as IPv4), possibly repeated; for a filter
    /// in front of the node that exempts the same senders.
    pub fn known_source_ips(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.peers.known_ips()
    }

    /// Answers a msg1 with msg2 and installs the session (responder).
    fn accept_msg1(&mut self, now: Instant, from: SocketAddr, m: Msg1, resp: IkResponder) {
        let peer = *resp.remote();
        let paddr = peer.node_addr();
        let epoch = resp.remote_epoch();
        let eph = self.random_bytes32();
        let (keys, noise2) = match resp.write_msg2(eph, self.epoch) {
            Ok(x) => x,
            Err(_) => {
                self.counters.handshake_failed += 1;
                return;
            }
        };
        let our_index = self.alloc_index(Owner::Peer(paddr));
        let wire2 = codec::msg2(our_index, m.sender_idx, noise2);
        self.queue(from, wire2.clone());
        let mut session = LinkSession::new(keys, our_index, m.sender_idx, paddr);
        session.answered = Some((m.noise, wire2));
        // When the peer's address is smaller its handshake wins: ours would lose.
        if paddr < self.my_addr {
            self.cancel_dial(&paddr);
        }
        let done = Handshaken {
            identity: peer,
            session,
            direction: Direction::Inbound,
            remote: from,
            epoch,
        };
        self.install_session(now, done);
    }

    pub(super) fn handle_msg2(&mut self, now: Instant, from: SocketAddr, m: Msg2) {
        match self.indices.get(&(super::UDP, m.receiver_idx)).copied() {
            Some(Owner::Dial(target)) => self.finish_dial(now, from, target, m),
            Some(Owner::Peer(paddr)) => self.finish_rekey(now, paddr, m),
            None => self.counters.unknown_index += 1,
        }
    }

    fn finish_dial(&mut self, now: Instant, from: SocketAddr, target: NodeAddr, m: Msg2) {
        let Some(mut dial) = self.peers.remove_dial(&target) else {
            return;
        };
        let Some(hs) = dial.hs.take() else { return };
        let (keys, epoch) = match hs.read_msg2(&m.noise) {
            Ok(x) => x,
            Err(_) => {
                // The initiator state is consumed; retry with a fresh dial.
                self.free_index(dial.our_index);
                self.counters.handshake_failed += 1;
                self.schedule_reconnect(now, target, true);
                return;
            }
        };
        let session = LinkSession::new(keys, dial.our_index, m.sender_idx, self.my_addr);
        if let Some(slot) = self.peers.slot_mut(&target) {
            slot.backoff = self.timers.reconnect_base;
        }
        let done = Handshaken {
            identity: dial.identity,
            session,
            direction: Direction::Outbound,
            remote: from,
            epoch,
        };
        self.install_session(now, done);
    }

    /// Makes `session` the peer's current session, creating the peer if new.
    /// Applies the cross-connection rule when the peer is already up: the
    /// handshake initiated by the smaller NodeAddr is kept.
    fn install_session(&mut self, now: Instant, done: Handshaken) {
        let paddr = done.identity.node_addr();
        let session = &done.session;
        let preferred = self.my_addr.min(paddr);
        // A dial index now belongs to the peer.
        self.indices
            .insert((super::UDP, session.our_index), Owner::Peer(paddr));
        if let Some(p) = self.peers.get(&paddr) {
            let same_epoch = p.remote_epoch == done.epoch;
            if same_epoch && p.current.initiator == preferred && session.initiator != preferred {
                self.free_index(session.our_index);
                self.counters.cross_connection_dropped += 1;
                return;
            }
            self.replace_session(now, done);
            return;
        }
        self.promote(now, done);
    }

    fn replace_session(&mut self, now: Instant, done: Handshaken) {
        let paddr = done.identity.node_addr();
        let session = done.session;
        // The new session may come from another address (rare: a rekey).
        self.peers.remote_moved();
        let Some(p) = self.peers.get_mut(&paddr) else {
            return;
        };
        let stale: Vec<u32> = p
            .indices()
            .into_iter()
            .filter(|i| *i != session.our_index)
            .collect();
        p.current = session;
        p.pending = None;
        p.previous = None;
        p.rekey = None;
        p.k_bit = false;
        p.direction = done.direction;
        p.remote = done.remote;
        p.remote_epoch = done.epoch;
        p.session_start = now;
        p.last_recv = now;
        let woke = p.heard();
        p.mmp_rx = MmpReceiver::new();
        p.decrypt_failures = 0;
        for i in stale {
            self.free_index(i);
        }
        self.arm_link_timers(now, paddr);
        self.greet_again(now, paddr);
        if woke {
            self.peer_silence_changed(now, paddr, false);
        }
    }

    fn promote(&mut self, now: Instant, done: Handshaken) {
        let Handshaken {
            identity,
            session,
            direction,
            remote,
            epoch,
        } = done;
        let paddr = identity.node_addr();
        let link_id = self.next_link_id;
        self.next_link_id += 1;
        let unix = self.unix_ms(now);
        let peer = Peer {
            identity,
            addr: paddr,
            link_id,
            direction,
            remote,
            current: session,
            pending: None,
            previous: None,
            remote_epoch: epoch,
            k_bit: false,
            session_start: now,
            authenticated_at_ms: unix,
            last_recv: now,
            last_recv_unix_ms: unix,
            unanswered_since: None,
            silent: false,
            rekey: None,
            peer_rekey_at: None,
            mmp_rx: MmpReceiver::new(),
            mmp: MmpMetrics::new(),
            stats: LinkStats::default(),
            sr_mark: SrMark::default(),
            decrypt_failures: 0,
            timers: TimerTable::default(),
        };
        // A linked peer is reachable by its fd address at once, whoever
        // dialled (as the reference does), not only after a DNS answer,
        // and stays so while the link is up (pinned in the cache).
        self.dataplane_pin_identity(now, identity, true);
        self.peers.insert(paddr, peer);
        if let Some(slot) = self.peers.slot_mut(&paddr) {
            // Up, whoever dialled: no redial pending, backoff starts over.
            slot.next_attempt = None;
            slot.backoff = self.timers.reconnect_base;
        }
        self.arm_link_timers(now, paddr);
        self.events.push_back(NodeEvent::PeerUp {
            addr: paddr,
            npub: identity.npub(),
        });
        self.tree_peer_added(now, paddr);
    }

    /// Heartbeat, liveness, reports and the first rekey deadline of a fresh session.
    pub(super) fn arm_link_timers(&mut self, now: Instant, paddr: NodeAddr) {
        let rekey_in = self.jittered(self.timers.rekey_after, self.timers.rekey_jitter);
        let t = &self.timers;
        let (hb, dead, rep) = (t.heartbeat, t.link_dead, t.mmp_report);
        let Some(p) = self.peers.get_mut(&paddr) else {
            return;
        };
        p.timers = TimerTable::default();
        p.timers.set(LinkTimer::Heartbeat, now + hb);
        p.timers.set(LinkTimer::Dead, now + dead);
        p.timers.set(LinkTimer::Report, now + rep);
        p.timers.set(LinkTimer::SenderReport, now + rep);
        p.timers.set(LinkTimer::Rekey, now + rekey_in);
    }

    /// Removes an active peer and everything it owns; redials auto-connect peers.
    pub(super) fn remove_peer(&mut self, now: Instant, paddr: NodeAddr, reason: DownReason) {
        let Some(p) = self.peers.remove(&paddr) else {
            return;
        };
        for i in p.indices() {
            self.free_index(i);
        }
        self.events.push_back(NodeEvent::PeerDown {
            addr: paddr,
            reason,
        });
        self.tree_peer_removed(now, paddr);
        self.dataplane_pin_identity(now, p.identity, false);
        self.mesh_changed(MeshChange::Peers);
        if reason != DownReason::Local {
            self.schedule_reconnect(now, paddr, false);
        }
    }
}
