//! The node state machine, sans I/O: FMP links (Noise IK handshakes, rekey,
//! heartbeats, MMP), the spanning tree and bloom filters, driven by inputs and
//! time. Sessions, discovery and routing (the dataplane) plug in through
//! `dataplane.rs`. This module owns no sockets, no clock and no global RNG.
//!
//! Call order (as in quinn-proto's `Connection`): feed inputs with
//! `handle_datagram`, `handle_tun_packet`, `handle_timeout`, `connect`, ...;
//! then drain every output (`poll_transmit` until `None`, `poll_tun` until
//! `false`, `poll_event` until `None`); then sleep until `poll_timeout()` or
//! the next input.

mod admission;
#[cfg(feature = "bench")]
mod bench;
mod codec;
mod config;
mod counters;
mod dataplane;
pub(crate) mod frames;
mod handshake;
pub mod inspect;
mod link;
mod liveness;
mod peers;
mod rekey;
pub mod snapshot;
mod timers;
mod tree_glue;
mod txqueue;

#[cfg(test)]
mod kat_tests;
/// The in-process mesh simulator (tests, and the `meshsim` example with
/// the `sim` feature).
#[cfg(any(test, feature = "sim"))]
pub mod sim;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

use crate::bloom::BloomState;
use crate::identity::{Identity, PeerIdentity};
use crate::tree::TreeState;
use crate::wire::link::TreeAnnounce;
use crate::NodeAddr;

pub use admission::{AdmissionStats, KNOWN_TABLE_CAP, SOURCE_TABLE_CAP};
pub use config::{NodeConfig, PeerConfig, Timers};
pub use counters::Counters;
pub use link::{Direction, LinkStats};

use handshake::PeerSlot;

/// Transports are numbered; only UDP (0) exists today. Indices are looked up
/// per transport, never by source address.
pub(crate) type TransportId = u8;
pub(crate) const UDP: TransportId = 0;

/// Who owns one of our random receiver indices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Owner {
    /// An outbound handshake waiting for msg2.
    Dial(NodeAddr),
    /// An active peer (current, pending, previous or rekey index).
    Peer(NodeAddr),
}

/// The hash of the receiver-index table, looked up once per frame. Our
/// indices are random numbers we drew, so the table needs no DoS-resistant
/// (and slower) SipHash: a sender picks which index to look up, never which
/// ones are stored.
#[derive(Default)]
pub(crate) struct IndexHasher(u64);

impl Hasher for IndexHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.write_u64(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        // Fibonacci hashing: the multiply spreads the bits to both ends.
        self.0 = (self.0.rotate_left(26) ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// Why a peer went away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DownReason {
    /// No authenticated frame for `link_dead`.
    Dead,
    /// The peer sent Disconnect with this reason code.
    RemoteDisconnect(u8),
    /// The peer came back with a new epoch; the old link was torn down.
    Restarted,
    /// Too many consecutive frames failed authentication.
    DecryptFailures,
    /// `disconnect` or `shutdown` was called.
    Local,
    /// It fell silent and its addresses changed (its host name now
    /// resolves elsewhere): redialled at the new address.
    Moved,
}

/// Things the embedding daemon may want to log or act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeEvent {
    PeerUp {
        addr: NodeAddr,
        npub: String,
    },
    PeerDown {
        addr: NodeAddr,
        reason: DownReason,
    },
    /// The peer stopped answering (`Timers::peer_silent`); a daemon that
    /// knows it by host name may look the name up again now.
    PeerSilent {
        addr: NodeAddr,
    },
}

/// Disconnect reason codes (wire-formats.md §Disconnect).
pub(crate) const DISCONNECT_SHUTDOWN: u8 = 0x00;
pub(crate) const DISCONNECT_CONFIG_CHANGE: u8 = 0x06;

/// A FIPS node without I/O. See the module docs for the call order.
pub struct Node {
    identity: Identity,
    my_addr: NodeAddr,
    link_mtu: u16,
    tun_mtu: u16,
    timers: Timers,
    rng: Box<dyn RngCore + Send>,
    /// Random per process start; peers use it to detect our restarts.
    epoch: [u8; 8],
    start: Instant,
    start_unix_ms: u64,
    /// Every peer, configured or linked, with its one state.
    peers: peers::PeerTable,
    indices: HashMap<(TransportId, u32), Owner, BuildHasherDefault<IndexHasher>>,
    tree: TreeState,
    /// Our TreeAnnounce as last signed: every peer gets the same copy of
    /// one declaration, so it is signed once, not once per peer (a hub's
    /// periodic re-send to thousands of peers was a Schnorr signature each).
    signed_announce: Option<TreeAnnounce>,
    bloom: BloomState,
    next_tree_eval: Instant,
    next_mesh_refresh: Instant,
    /// When idle identities are next swept from the identity cache.
    next_identity_sweep: Instant,
    transmits: txqueue::TxQueue,
    tun_out: VecDeque<Vec<u8>>,
    events: VecDeque<NodeEvent>,
    counters: Counters,
    next_link_id: u64,
    /// Budgets for msg1 processing, checked before any ECDH.
    admission: admission::Admission,
    shut_down: bool,
    /// Between `begin_drain` and `shutdown`: no new links.
    draining: bool,
    /// Sessions, discovery and routing, behind a one-way boundary.
    dataplane: crate::session::Dataplane,
    /// What the dataplane reads of the tree, rebuilt after `MeshChange`s.
    view: dataplane::ViewCache,
    /// Link messages the dataplane produced, drained after each call.
    link_out: crate::routing::Outbox,
}

impl Node {
    /// Builds the node and starts dialling every auto-connect peer.
    /// `unix_ms` is the wall clock at `now` (for TreeAnnounce timestamps).
    pub fn new(config: NodeConfig, rng_seed: [u8; 32], now: Instant, unix_ms: u64) -> Node {
        Self::with_rng(
            config,
            Box::new(ChaCha20Rng::from_seed(rng_seed)),
            now,
            unix_ms,
        )
    }

    /// Like `new` with any randomness source (tests script ephemerals and
    /// indices with it to reproduce known-answer handshakes).
    pub(crate) fn with_rng(
        config: NodeConfig,
        mut rng: Box<dyn RngCore + Send>,
        now: Instant,
        unix_ms: u64,
    ) -> Node {
        let mut epoch = [0u8; 8];
        rng.fill_bytes(&mut epoch);
        let my_addr = config.identity.node_addr();
        let mut node = Node {
            my_addr,
            link_mtu: config.link_mtu,
            tun_mtu: config.tun_mtu,
            rng,
            epoch,
            start: now,
            start_unix_ms: unix_ms,
            peers: peers::PeerTable::default(),
            indices: HashMap::default(),
            tree: TreeState::new(my_addr),
            signed_announce: None,
            bloom: BloomState::new(my_addr),
            next_tree_eval: now + config.timers.tree_reeval,
            next_mesh_refresh: now + config.timers.mesh_refresh,
            next_identity_sweep: now
                + crate::limits::identity_sweep_every(config.timers.identity_idle),
            transmits: txqueue::TxQueue::default(),
            tun_out: VecDeque::new(),
            events: VecDeque::new(),
            counters: Counters::default(),
            next_link_id: 1,
            admission: admission::Admission::new(now),
            shut_down: false,
            draining: false,
            dataplane: dataplane::new_dataplane(my_addr, config.link_mtu, epoch),
            view: dataplane::ViewCache::new(),
            link_out: crate::routing::Outbox::default(),
            timers: config.timers,
            identity: config.identity,
        };
        for peer in config.peers {
            node.connect(now, peer);
        }
        node
    }

    pub fn node_addr(&self) -> NodeAddr {
        self.my_addr
    }

    /// The UDP link MTU this node was configured with.
    pub fn link_mtu(&self) -> u16 {
        self.link_mtu
    }

    pub fn identity(&self) -> &PeerIdentity {
        self.identity.public()
    }

    /// One UDP datagram received from `from`. `data` is decrypted in place.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, data: &mut [u8]) {
        if self.shut_down {
            return;
        }
        match codec::classify(data) {
            // A draining node takes no new links.
            Ok(codec::Packet::Msg1(_)) if self.draining => {}
            Ok(codec::Packet::Msg1(m)) => self.handle_msg1(now, from, m),
            Ok(codec::Packet::Msg2(m)) => self.handle_msg2(now, from, m),
            Ok(codec::Packet::Frame(h)) => self.handle_frame(now, from, h, data),
            Err(_) => self.counters.malformed += 1,
        }
    }

    /// One IPv6 packet read from the TUN device.
    pub fn handle_tun_packet(&mut self, now: Instant, packet: &[u8]) {
        if !self.shut_down {
            self.dataplane_tun_packet(now, packet);
        }
    }

    /// Runs every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.shut_down {
            return;
        }
        // In three rounds, as a timer of one kind may arm one of the next.
        for due in [
            peers::PeerTable::due_dials,
            peers::PeerTable::due_reconnects,
            peers::PeerTable::expired_links,
        ] {
            for (addr, t) in due(&mut self.peers, now) {
                self.on_peer_timer(now, addr, t);
            }
        }
        if now >= self.next_tree_eval {
            self.next_tree_eval = now + self.timers.tree_reeval;
            self.tree_tick(now);
        }
        if now >= self.next_mesh_refresh {
            let base = self.timers.mesh_refresh;
            self.next_mesh_refresh = now + self.jittered(base, base / 4);
            self.mesh_refresh(now);
        }
        let mesh_due = [self.tree.poll_timeout(), self.bloom.poll_timeout()];
        if mesh_due.into_iter().flatten().any(|t| t <= now) {
            self.tree_tick(now);
        }
        self.dataplane_timeout(now);
        if now >= self.next_identity_sweep {
            self.sweep_identities(now);
        }
    }

    /// The earliest instant at which `handle_timeout` has work.
    /// Takes `&mut self` to queue the timers of the links changed since
    /// the last call (see `peers::LinkWakes`).
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        if self.shut_down {
            return None;
        }
        self.peers.sync();
        let links = self.peers.next_link_timer().into_iter();
        let dials = self
            .peers
            .dials()
            .map(|(_, d)| d)
            .map(|d| d.next_resend.min(d.deadline));
        let slots = self
            .peers
            .slots()
            .map(|(_, s)| s)
            .filter_map(|s| s.next_attempt);
        let tree = self
            .tree
            .poll_timeout()
            .into_iter()
            .chain(self.bloom.poll_timeout())
            .chain(self.dataplane.poll_timeout());
        links
            .chain(dials)
            .chain(slots)
            .chain(tree)
            .chain([
                self.next_tree_eval,
                self.next_mesh_refresh,
                self.next_identity_sweep,
            ])
            .min()
    }

    /// Next datagram to send: `buf` is replaced by it (the old allocation
    /// is kept for building later datagrams, so pass the same buffer back)
    /// and its destination returned.
    #[must_use]
    pub fn poll_transmit(&mut self, buf: &mut Vec<u8>) -> Option<SocketAddr> {
        self.transmits.pop_into(buf)
    }

    /// Next IPv6 packet for the TUN device; `false` when there is none.
    #[must_use]
    pub fn poll_tun(&mut self, buf: &mut Vec<u8>) -> bool {
        match self.tun_out.pop_front() {
            Some(p) => {
                buf.clear();
                buf.extend_from_slice(&p);
                true
            }
            None => self.dataplane.poll_tun(buf),
        }
    }

    /// Next peer up/down event.
    pub fn poll_event(&mut self) -> Option<NodeEvent> {
        self.events.pop_front()
    }

    /// Remembers a peer identity learned elsewhere (DNS `<npub>.fips`,
    /// config), in the dataplane's bounded identity cache: nothing else
    /// keeps it, so distinct names cannot grow the node.
    pub fn learn_identity(&mut self, now: Instant, peer: PeerIdentity) {
        self.dataplane.learn_identity(now, peer);
    }

    /// Adds (or replaces) a peer and dials it now.
    pub fn connect(&mut self, now: Instant, peer: PeerConfig) {
        let addr = peer.identity.node_addr();
        if addr == self.my_addr {
            return;
        }
        self.learn_identity(now, peer.identity);
        self.peers
            .insert_slot(addr, PeerSlot::new(peer, self.timers.reconnect_base));
        self.start_dial(now, addr);
    }

    /// Replaces the addresses of a configured peer, e.g. when its host name
    /// resolves anew. A peer that is not linked is dialled at once at the
    /// new addresses (backoff starts over); a handshake in flight to an
    /// address no longer listed is dropped. A live link is left alone,
    /// unless the peer is silent and its link's address is no longer
    /// listed: then it has moved, and is redialled at the new address.
    /// Returns whether anything changed.
    pub fn set_peer_addrs(
        &mut self,
        now: Instant,
        peer: &NodeAddr,
        addrs: Vec<SocketAddr>,
    ) -> bool {
        let base = self.timers.reconnect_base;
        let Some(slot) = self.peers.slot(peer) else {
            return false;
        };
        // Checked even when the list is unchanged: the addresses may have
        // changed while the link was still answering, and only now is it
        // silent.
        let moved = self
            .peers
            .get(peer)
            .is_some_and(|p| p.silent && !addrs.contains(&p.remote));
        if slot.cfg.addrs == addrs && !moved {
            return false;
        }
        let auto_connect = slot.cfg.auto_connect;
        let stale = self
            .peers
            .dial(peer)
            .is_some_and(|d| !addrs.contains(&d.remote));
        if let Some(slot) = self.peers.slot_mut(peer) {
            slot.cfg.addrs = addrs;
            slot.addr_cursor = 0;
            slot.backoff = base;
        }
        if stale {
            self.cancel_dial(peer);
        }
        if moved {
            self.remove_peer(now, *peer, DownReason::Moved);
        }
        if !self.peers.contains_key(peer) && auto_connect {
            self.start_dial(now, *peer);
        }
        true
    }

    /// Drops a peer: sends Disconnect, forgets its config, stops redialling.
    pub fn disconnect(&mut self, now: Instant, peer: &NodeAddr) {
        self.peers.remove_slot(peer);
        self.cancel_dial(peer);
        if self.peers.contains_key(peer) {
            self.send_disconnect(now, peer, DISCONNECT_CONFIG_CHANGE);
            self.remove_peer(now, *peer, DownReason::Local);
        }
    }

    /// Starts a graceful stop: queues Disconnect(Shutdown) to every peer,
    /// stops dialling and refuses new handshakes. Links stay, so frames
    /// already in flight are still taken in, until [`Node::shutdown`]
    /// (which then sends no second Disconnect). The daemon calls this on
    /// SIGTERM and `shutdown` when its drain window closes or
    /// [`Node::peer_count`] reaches 0.
    pub fn begin_drain(&mut self, now: Instant) {
        if self.draining || self.shut_down {
            return;
        }
        let addrs: Vec<NodeAddr> = self.peers.keys().copied().collect();
        for a in &addrs {
            self.send_disconnect(now, a, DISCONNECT_SHUTDOWN);
        }
        self.stop_dialling();
        self.draining = true;
    }

    /// Forgets every configured slot and cancels every dial in flight.
    fn stop_dialling(&mut self) {
        self.peers.clear_slots();
        let dials: Vec<NodeAddr> = self.peers.dials().map(|(a, _)| *a).collect();
        for a in dials {
            self.cancel_dial(&a);
        }
    }

    /// Authenticated peers.
    pub fn peer_count(&self) -> usize {
        self.peers.len()
    }

    /// Queues Disconnect(Shutdown) to every peer (unless a drain already
    /// did) and stops all activity.
    pub fn shutdown(&mut self, now: Instant) {
        let addrs: Vec<NodeAddr> = self.peers.keys().copied().collect();
        let told = self.draining;
        for a in addrs.iter().filter(|_| !told) {
            self.send_disconnect(now, a, DISCONNECT_SHUTDOWN);
        }
        self.stop_dialling();
        for a in addrs {
            self.remove_peer(now, a, DownReason::Local);
        }
        self.shut_down = true;
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// What the msg1 admission gate let through and refused, by reason.
    pub fn admission_stats(&self) -> AdmissionStats {
        self.admission.stats()
    }

    /// Addresses of authenticated peers.
    pub fn peer_addrs(&self) -> Vec<NodeAddr> {
        self.peers.keys().copied().collect()
    }

    fn random_u32(&mut self) -> u32 {
        self.rng.next_u32()
    }

    fn random_bytes32(&mut self) -> [u8; 32] {
        let mut b = [0u8; 32];
        self.rng.fill_bytes(&mut b);
        b
    }

    /// A fresh random receiver index, registered to `owner`.
    fn alloc_index(&mut self, owner: Owner) -> u32 {
        loop {
            let i = self.random_u32();
            if let std::collections::hash_map::Entry::Vacant(e) = self.indices.entry((UDP, i)) {
                e.insert(owner);
                return i;
            }
        }
    }

    fn free_index(&mut self, index: u32) {
        self.indices.remove(&(UDP, index));
    }

    fn queue(&mut self, to: SocketAddr, bytes: Vec<u8>) {
        self.transmits.push(to, bytes);
    }

    /// Unix milliseconds at `at`: the one conversion from the core's
    /// `Instant`s to wall-clock time, anchored at the (`now`, `unix_ms`)
    /// pair given to [`Node::new`]. Every `*_ms` timestamp the node or its
    /// dataplane reports goes through it, so they agree with each other.
    pub fn unix_ms(&self, at: Instant) -> u64 {
        self.start_unix_ms + at.saturating_duration_since(self.start).as_millis() as u64
    }

    /// Uniform jitter in [-j, +j] around `base`.
    fn jittered(&mut self, base: Duration, j: Duration) -> Duration {
        let span = j.as_millis() as u64;
        if span == 0 {
            return base;
        }
        let r = u64::from(self.random_u32()) % (2 * span + 1);
        (base + Duration::from_millis(r)).saturating_sub(j)
    }
}
