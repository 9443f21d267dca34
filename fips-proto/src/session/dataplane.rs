//! `Dataplane`: sessions, discovery, routing and the IPv6 adapter glued
//! together behind a sans-I/O interface.
//!
//! Call order, like the node around it: feed inputs (`handle_tun_packet`,
//! `handle_session_datagram`, `handle_lookup_request`,
//! `handle_lookup_response`, `handle_timeout`, `handle_mesh_change`), then
//! drain the call's `Outbox` and `poll_tun` until it returns false, then
//! sleep until `poll_timeout()`. Each input gets a `Cx`: the mesh as a
//! read-only `MeshView`, the RNG, and the outbox its link messages go to.

use std::collections::{HashMap, VecDeque};
use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use super::config::DataplaneConfig;
use super::pending::PendingQueue;
use super::state::{SessionState, Slot};
use crate::addr::NodeAddr;
use crate::discovery::{Discovery, DiscoveryError, ResponseOutcome};
use crate::identity::PeerIdentity;
use crate::ipv6::{effective_mtu, icmp, mss, Ipv6Packet};
use crate::routing::cache::{COORD_CAPACITY, COORD_TTL, IDENTITY_CAPACITY};
use crate::routing::{
    find_next_hop, CoordCache, Cx, IdentityCache, MeshChange, MeshView, Route, RouteCache, Throttle,
};
use crate::wire::lookup::{LookupRequest, LookupResponse};
use crate::wire::Coords;

/// TUN packets waiting for `poll_tun`; beyond this the caller is not
/// draining and new packets are dropped rather than queued without bound.
use crate::limits::{Bounds, Store, MAX_PENDING_LOOKUPS, MAX_RECENT_LOOKUPS, TUN_QUEUE_LIMIT};
const FREE_BUFFERS: usize = 256;
/// At most one lookup a second per destination whose next hop is silent.
const SUSPECT_LOOKUP_INTERVAL: Duration = Duration::from_secs(1);

/// Drops and events by reason, for the control socket and tests.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DataplaneCounters {
    pub tun_malformed: u64,
    pub tun_too_big: u64,
    pub tun_unreachable: u64,
    pub tun_queued: u64,
    pub tun_queue_full: u64,
    pub data_sent: u64,
    pub data_received: u64,
    pub no_route: u64,
    pub forwarded: u64,
    pub ttl_exhausted: u64,
    pub mtu_exceeded: u64,
    pub routing_errors_sent: u64,
    pub malformed: u64,
    pub decrypt_failed: u64,
    pub unknown_session: u64,
    pub sessions_established: u64,
    pub handshake_timeouts: u64,
    pub idle_timeouts: u64,
    pub rekeys: u64,
    pub discovery_failed: u64,
    pub tun_out_dropped: u64,
    pub setups_sent: u64,
    pub acks_sent: u64,
    pub msg3_sent: u64,
    pub looped: u64,
    /// Sessions dropped because nothing authenticated for the idle time
    /// while we kept sending (the peer restarted).
    pub dead_sessions: u64,
    /// Of `dead_sessions`, those ended sooner than `dead_after` because
    /// the peer, which had been sending session ReceiverReports, stopped
    /// answering for three of its report intervals (at least 3 s).
    pub dead_sessions_fast: u64,
    /// Session ReceiverReports we sent (while the peer's Data arrives).
    pub reports_sent: u64,
    /// Session ReceiverReports the peer sent us.
    pub reports_received: u64,
    /// New sessions (either role) refused: `max_sessions` or
    /// `max_handshakes` reached.
    pub sessions_refused: u64,
    /// Lookups not started: `MAX_PENDING_LOOKUPS` in flight.
    pub lookups_refused: u64,
    /// LookupRequests dropped: the table of recent request ids is full.
    pub lookup_requests_refused: u64,
    /// LookupRequests not forwarded: one per target per 2 s.
    pub lookup_requests_rate_limited: u64,
    /// XK msg3 refused: no handshake of ours awaited it, it did not
    /// authenticate, or its key does not own the address it came from.
    pub msg3_refused: u64,
}

/// A session as shown by the control socket (`show_sessions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub remote: NodeAddr,
    /// Known once established (the responder learns it from msg3).
    pub peer: Option<PeerIdentity>,
    /// "initiating", "awaiting_msg3" or "established".
    pub state: &'static str,
    pub is_initiator: bool,
    pub current_k_bit: bool,
    /// Old keys are still accepted after a rekey.
    pub is_draining: bool,
    pub coords_warmup_remaining: u8,
    pub session_start: Option<Instant>,
    pub last_activity: Option<Instant>,
    /// Lowered by MtuExceeded / PathMtuNotification; `None` if never.
    pub path_mtu: Option<u16>,
    pub stats: SessionStats,
}

/// Per-session traffic counters (encrypted messages, FSP payload bytes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionStats {
    pub packets_sent: u64,
    pub bytes_sent: u64,
    pub packets_recv: u64,
    pub bytes_recv: u64,
}

/// A coordinate cache entry as shown by `show_cache`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoordInfo {
    pub node: NodeAddr,
    pub coords: Vec<NodeAddr>,
    pub path_mtu: Option<u16>,
    pub last_used: Instant,
    pub expires: Instant,
}

pub(crate) struct SessionEntry {
    pub state: SessionState,
}

/// Sessions, discovery, routing and the IPv6 adapter. Fields are private
/// to the `session` module: the node reaches the dataplane only through
/// its methods and the `Cx` of each call.
pub struct Dataplane {
    pub(super) cfg: DataplaneConfig,
    pub(super) me: NodeAddr,
    my_ip: [u8; 16],
    pub(super) coords: CoordCache,
    pub(super) ids: IdentityCache,
    pub(super) routes: RouteCache,
    pub(super) discovery: Discovery,
    pub(super) sessions: HashMap<NodeAddr, SessionEntry>,
    pending: PendingQueue,
    tun_out: VecDeque<Vec<u8>>,
    free: Vec<Vec<u8>>,
    /// Scratch buffers reused by every packet: plaintext, link message,
    /// trial-decryption copy.
    pub(super) pt: Vec<u8>,
    pub(super) msg: Vec<u8>,
    pub(super) scratch: Vec<u8>,
    pub(super) error_throttle: Throttle<NodeAddr>,
    /// Destinations whose freshly chosen next hop is silent (likely dead):
    /// looked up again by the next `handle_timeout`, at most once a second
    /// each (the throttle also bounds the list).
    pub(super) suspect_paths: Vec<NodeAddr>,
    pub(super) suspect_throttle: Throttle<NodeAddr>,
    pub(super) icmp_throttle: Throttle<[u8; 16]>,
    pub(super) counters: DataplaneCounters,
    pub(super) next_wake: Option<Instant>,
}

impl std::fmt::Debug for Dataplane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dataplane")
            .field("me", &self.me)
            .field("sessions", &self.sessions.len())
            .finish_non_exhaustive()
    }
}

impl Dataplane {
    pub fn new(cfg: DataplaneConfig, me: NodeAddr) -> Self {
        let discovery = Discovery::new(cfg.discovery.clone());
        let error_throttle = Throttle::new(cfg.routing_error_interval, 4096);
        let icmp_throttle = Throttle::new(cfg.icmp_interval, 1024);
        let pending = PendingQueue::new(cfg.pending_per_dest, cfg.pending_dests);
        Dataplane {
            my_ip: me.ipv6().octets(),
            me,
            coords: CoordCache::new(COORD_TTL, COORD_CAPACITY),
            ids: IdentityCache::new(IDENTITY_CAPACITY),
            routes: RouteCache::default(),
            discovery,
            sessions: HashMap::new(),
            pending,
            tun_out: VecDeque::new(),
            free: Vec::new(),
            pt: Vec::with_capacity(2048),
            msg: Vec::with_capacity(2048),
            scratch: Vec::with_capacity(2048),
            error_throttle,
            suspect_paths: Vec::new(),
            suspect_throttle: Throttle::new(SUSPECT_LOOKUP_INTERVAL, 1024),
            icmp_throttle,
            counters: DataplaneCounters::default(),
            next_wake: None,
            cfg,
        }
    }

    /// Registers an identity (DNS answer, configured peer) so TUN traffic to
    /// its address can be routed and its lookup proofs verified.
    pub fn learn_identity(&mut self, now: Instant, id: PeerIdentity) {
        let sessions = &self.sessions;
        self.ids.insert(now, id, |a| sessions.contains_key(a));
    }

    /// A link to `id` is up: routable by its address until `unpin_identity`.
    pub fn pin_identity(&mut self, now: Instant, id: PeerIdentity) {
        self.ids.insert_pinned(now, id);
    }

    pub fn unpin_identity(&mut self, addr: &NodeAddr) {
        self.ids.unpin(addr);
    }

    /// Forgets identities unused for `idle`; those with a session stay.
    pub fn expire_identities(&mut self, now: Instant, idle: Duration) -> usize {
        let sessions = &self.sessions;
        self.ids
            .expire_idle(now, idle, |a| sessions.contains_key(a))
    }

    /// Fill and refusals of every bounded store (see `crate::limits`).
    pub fn bounds(&self) -> Bounds {
        let c = &self.counters;
        let store = Store::capped;
        Bounds {
            identity_cache: Store {
                expired: self.ids.expired(),
                ..store(self.ids.len(), self.ids.capacity(), self.ids.evicted(), 0)
            },
            coord_cache: store(
                self.coords.len(),
                self.coords.capacity(),
                self.coords.evicted(),
                0,
            ),
            sessions: store(
                self.sessions.len(),
                self.cfg.max_sessions,
                0,
                c.sessions_refused,
            ),
            pending: store(
                self.pending.len(),
                self.cfg.pending_dests,
                0,
                c.tun_queue_full,
            ),
            lookups: store(
                self.discovery.pending_len(),
                MAX_PENDING_LOOKUPS,
                0,
                c.lookups_refused,
            ),
            lookup_requests: Store {
                rate_limited: c.lookup_requests_rate_limited,
                ..store(
                    self.discovery.recent_len(),
                    MAX_RECENT_LOOKUPS,
                    0,
                    c.lookup_requests_refused,
                )
            },
        }
    }

    /// The mesh around us changed: remembered next hops go; after a
    /// parent change, so do coordinates judged from the old position.
    pub fn handle_mesh_change(&mut self, change: MeshChange) {
        if change == MeshChange::Parent {
            self.coords.clear();
        }
        self.routes.clear();
    }

    /// The largest IPv6 packet the TUN may hand us (1203 for 1280).
    pub fn effective_mtu(&self) -> u16 {
        effective_mtu(self.cfg.link_mtu)
    }

    pub fn counters(&self) -> &DataplaneCounters {
        &self.counters
    }

    pub fn sessions(&self) -> impl Iterator<Item = SessionInfo> + '_ {
        self.sessions.iter().map(|(a, s)| s.state.info(*a))
    }

    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// The coordinate cache, for `show_cache`.
    pub fn coord_cache(&self) -> impl Iterator<Item = CoordInfo> + '_ {
        self.coords.entries().map(|(node, e)| CoordInfo {
            node: *node,
            coords: e.coords.0.clone(),
            path_mtu: e.path_mtu,
            last_used: e.last_used(),
            expires: e.expires(),
        })
    }

    /// The identities the dataplane can route to.
    pub fn identities(&self) -> impl Iterator<Item = PeerIdentity> + '_ {
        self.ids.iter()
    }

    /// The identity cache, for `show_identity_cache`.
    pub fn identity_cache(&self) -> &IdentityCache {
        &self.ids
    }

    pub fn is_established(&self, dest: &NodeAddr) -> bool {
        matches!(
            self.sessions.get(dest).map(|s| &s.state),
            Some(SessionState::Established(_))
        )
    }

    pub fn cached_coords(&self, now: Instant, dest: &NodeAddr) -> Option<&Coords> {
        self.coords.peek(now, dest).map(|e| &e.coords)
    }

    /// Next IPv6 packet for the TUN device. `buf` is replaced (its old
    /// allocation is kept for reuse).
    #[must_use]
    pub fn poll_tun(&mut self, buf: &mut Vec<u8>) -> bool {
        match self.tun_out.pop_front() {
            Some(mut pkt) => {
                std::mem::swap(buf, &mut pkt);
                self.recycle(pkt);
                true
            }
            None => false,
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.next_wake, self.discovery.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub(super) fn schedule(&mut self, at: Instant) {
        self.next_wake = Some(self.next_wake.map_or(at, |w| w.min(at)));
    }

    /// An IPv6 packet read from the TUN device.
    pub fn handle_tun_packet<M: MeshView>(&mut self, now: Instant, pkt: &[u8], cx: &mut Cx<'_, M>) {
        let Ok(ip) = Ipv6Packet::parse(pkt) else {
            self.counters.tun_malformed += 1;
            return;
        };
        if !ip.dst_is_fips() {
            self.counters.tun_malformed += 1;
            return;
        }
        let limit = self.effective_mtu();
        if pkt.len() > usize::from(limit) {
            self.packet_too_big(now, pkt, limit);
            return;
        }
        let Some((dest, peer)) = self.ids.lookup(now, &ip.dst_prefix()) else {
            self.unreachable(pkt);
            return;
        };
        if dest == self.me {
            return;
        }
        let path_limit = match self.sessions.get(&dest).map(|s| &s.state) {
            Some(SessionState::Established(e)) => Some(effective_mtu(e.path_mtu)),
            Some(_) => None,
            None => {
                self.queue(dest, pkt);
                self.open_session(now, cx, dest, peer);
                return;
            }
        };
        match path_limit {
            Some(l) if pkt.len() > usize::from(l) => self.packet_too_big(now, pkt, l),
            Some(_) => self.send_ipv6(now, cx, dest, pkt),
            None => self.queue(dest, pkt),
        }
    }

    fn queue(&mut self, dest: NodeAddr, pkt: &[u8]) {
        if self.pending.push(dest, pkt, &mut self.free) {
            self.counters.tun_queued += 1;
        } else {
            self.counters.tun_queue_full += 1;
        }
    }

    /// Starts a session if we can route to `dest`, else a lookup for it.
    pub(super) fn open_session<M: MeshView>(
        &mut self,
        now: Instant,
        cx: &mut Cx<'_, M>,
        dest: NodeAddr,
        peer: PeerIdentity,
    ) {
        if self.sessions.contains_key(&dest) {
            return;
        }
        if self.route(now, cx.mesh, &dest).is_some() {
            self.initiate(now, cx, dest, peer);
        } else if !self.discovery.start(now, dest, cx) {
            self.counters.lookups_refused += 1;
        }
    }

    /// A LookupRequest from peer `from`.
    pub fn handle_lookup_request<M: MeshView>(
        &mut self,
        now: Instant,
        from: NodeAddr,
        req: LookupRequest,
        cx: &mut Cx<'_, M>,
    ) {
        // Other outcomes than these are ordinary (duplicates, TTL).
        match self.discovery.handle_request(now, from, req, cx) {
            Err(DiscoveryError::TableFull) => self.counters.lookup_requests_refused += 1,
            Err(DiscoveryError::RateLimited) => self.counters.lookup_requests_rate_limited += 1,
            _ => {}
        }
    }

    /// A LookupResponse link message.
    pub fn handle_lookup_response<M: MeshView>(
        &mut self,
        now: Instant,
        _from: NodeAddr,
        resp: LookupResponse,
        cx: &mut Cx<'_, M>,
    ) {
        let Ok(ResponseOutcome::Resolved {
            target,
            coords,
            path_mtu,
        }) = self.discovery.handle_response(now, resp, cx, &mut self.ids)
        else {
            return;
        };
        self.coords.insert(now, target, coords);
        self.coords.set_path_mtu(&target, path_mtu);
        self.routes.forget(&target);
        match self.sessions.get_mut(&target).map(|s| &mut s.state) {
            Some(SessionState::Established(e)) => {
                e.warmup_remaining = self.cfg.coords_warmup_packets
            }
            Some(_) => {}
            None if self.pending.has(&target) => {
                if let Some(peer) = self.ids.get(now, &target) {
                    self.open_session(now, cx, target, peer);
                }
            }
            None => {}
        }
    }

    /// The next hop toward `dest`, remembered until the mesh changes.
    pub(super) fn route<M: MeshView>(
        &mut self,
        now: Instant,
        mesh: &M,
        dest: &NodeAddr,
    ) -> Option<NodeAddr> {
        match self.route_decision(now, mesh, dest) {
            Route::Peer(h) => Some(h),
            _ => None,
        }
    }

    pub(super) fn route_decision<M: MeshView>(
        &mut self,
        now: Instant,
        mesh: &M,
        dest: &NodeAddr,
    ) -> Route {
        if let Some(hop) = self.routes.get(dest) {
            // Routing through a cache entry keeps it alive.
            let _ = self.coords.get_and_touch(now, dest);
            return Route::Peer(hop);
        }
        let coords = self.coords.get_and_touch(now, dest).map(|c| &c.0[..]);
        let route = find_next_hop(mesh, dest, coords);
        if let Route::Peer(hop) = route {
            self.routes.put(*dest, hop);
            // Only a silent peer makes progress: the destination may have
            // moved to a branch our cached coordinates do not show.
            let silent = mesh.peer(&hop, dest).is_some_and(|p| p.silent);
            if silent && self.suspect_throttle.allow(now, *dest) {
                self.suspect_paths.push(*dest);
                self.schedule(now);
            }
        }
        route
    }

    pub(super) fn cache_coords(&mut self, now: Instant, addr: NodeAddr, coords: Coords) {
        if addr == self.me {
            return;
        }
        self.coords.insert(now, addr, coords);
        self.routes.forget(&addr);
    }

    pub(super) fn packet_too_big(&mut self, now: Instant, pkt: &[u8], mtu: u16) {
        self.counters.tun_too_big += 1;
        // Callers pass packets they parsed already.
        let Ok(ip) = Ipv6Packet::parse(pkt) else {
            return;
        };
        if !self.icmp_throttle.allow(now, ip.src()) {
            return;
        }
        let mut buf = self.take_buffer();
        if icmp::packet_too_big(pkt, u32::from(mtu), &mut buf) {
            self.push_tun(buf);
        } else {
            self.recycle(buf);
        }
    }

    pub(super) fn unreachable(&mut self, pkt: &[u8]) {
        self.counters.tun_unreachable += 1;
        let mut buf = self.take_buffer();
        if icmp::dest_unreachable(pkt, &self.my_ip, &mut buf) {
            self.push_tun(buf);
        } else {
            self.recycle(buf);
        }
    }

    /// Every packet queued for `dest` gets Destination Unreachable.
    pub(super) fn fail_pending(&mut self, dest: &NodeAddr) {
        if let Some(q) = self.pending.take(dest) {
            for pkt in q {
                self.unreachable(&pkt);
                self.recycle(pkt);
            }
        }
    }

    /// Rebuilds an IPv6 packet from a shim payload sent by `src` and queues
    /// it for the TUN, clamping the MSS of SYNs on the way in.
    pub(super) fn deliver_shim(&mut self, src: &NodeAddr, shim: &[u8]) {
        let mut buf = self.take_buffer();
        let src_ip = src.ipv6();
        let dst_ip = Ipv6Addr::from(self.my_ip);
        if crate::wire::shim::decompress(shim, src_ip, dst_ip, &mut buf).is_err() {
            self.counters.malformed += 1;
            self.recycle(buf);
            return;
        }
        mss::clamp_ipv6_packet(&mut buf, mss::max_mss_for(self.effective_mtu()));
        self.counters.data_received += 1;
        self.push_tun(buf);
    }

    pub(super) fn take_buffer(&mut self) -> Vec<u8> {
        let mut b = self.free.pop().unwrap_or_else(|| Vec::with_capacity(1536));
        b.clear();
        b
    }

    pub(super) fn recycle(&mut self, buf: Vec<u8>) {
        if self.free.len() < FREE_BUFFERS {
            self.free.push(buf);
        }
    }

    fn push_tun(&mut self, buf: Vec<u8>) {
        if self.tun_out.len() >= TUN_QUEUE_LIMIT {
            self.counters.tun_out_dropped += 1;
            self.recycle(buf);
            return;
        }
        self.tun_out.push_back(buf);
    }

    /// Sends every packet queued for `dest` over its new session.
    pub(super) fn flush_pending<M: MeshView>(
        &mut self,
        now: Instant,
        cx: &mut Cx<'_, M>,
        dest: NodeAddr,
    ) {
        self.discovery.cancel(&dest);
        if let Some(q) = self.pending.take(&dest) {
            for pkt in q {
                self.send_ipv6(now, cx, dest, &pkt);
                self.recycle(pkt);
            }
        }
    }

    pub(super) fn note_slot(&mut self, slot: Slot) {
        if slot == Slot::Pending {
            self.counters.rekeys += 1;
        }
    }
}
