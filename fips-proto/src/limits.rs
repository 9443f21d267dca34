//! Every store the protocol core fills from input it does not control, with
//! its bound, its eviction rule and the counter that shows it at work. A
//! store not in this table is keyed by something we chose (our receiver
//! indices, configured peers) or drained on every call (transmit queue,
//! events). The daemon's own stores (DNS, control socket) are tabled in
//! `fips::limits`; the README's "Bounds" section repeats both tables.
//!
//! Rules that hold for all of them: a full store never grows; evicting an
//! entry never breaks a link or a session that is up (linked peers'
//! identities are pinned, sessions are never evicted, only refused or timed
//! out); what is refused or evicted is counted (`fipsctl show status`,
//! `bounds`, and `--json`), and the daemon logs a WARN at most once a minute
//! per store while a bound is being hit.
//!
//! | store | key | cap | when full | counter (`show status` → `bounds`) |
//! |---|---|---|---|---|
//! | identity cache (DNS answers, session initiators, linked peers) | fd address | [`IDENTITY_CAPACITY`], plus linked peers and sessions, which are never evicted; an entry unused for `Timers::identity_idle` (default [`IDENTITY_IDLE`]) ages out, swept every [`identity_sweep_every`] | least recently used 1/64 evicted | `identity_cache.evicted`, `identity_cache.expired` |
//! | coordinate cache (lookup answers, session setups, CP frames) | NodeAddr | [`COORD_CAPACITY`] entries and [`COORD_ADDR_BUDGET`] addresses in all, 300 s TTL refreshed on use | expired entries, then least recently used 1/64 evicted | `coord_cache.evicted` |
//! | route cache | NodeAddr | [`ROUTE_CACHE_CAPACITY`] | cleared (rebuilt from the coordinate cache) | none: a cache of a cache |
//! | sessions, any state (remote keys opening sessions) | NodeAddr | `max_sessions` (16,384) | new session refused; idle ones end after 90 s | `sessions.refused` |
//! | sessions in handshake that others started (Setup received, msg3 awaited) | NodeAddr | `max_handshakes` (1,024), 30 s timeout; our own handshakes do not count | new Setup refused, and its coordinates not cached; a msg3 that fails, or that no handshake awaits, is dropped and frees nothing but its own handshake | `sessions.refused`; `show routing`: `dataplane.msg3_refused` |
//! | packets that arrive before msg3 | per handshake | [`EARLY_LIMIT`] | dropped | none |
//! | packets waiting for a session or lookup | NodeAddr | `pending_per_dest` (16) per destination, `pending_dests` (256) destinations | oldest packet of the destination dropped; a new destination refused | `pending.refused` (`tun_queue_full`) |
//! | our lookups in flight (TUN traffic to unrouted keys) | NodeAddr | [`MAX_PENDING_LOOKUPS`] | new lookup refused (its packets get Unreachable) | `lookups.refused` |
//! | lookup requests seen (dedup, reverse path of the answer) | request id | [`MAX_RECENT_LOOKUPS`], 10 s expiry | new request dropped | `lookup_requests.refused` |
//! | lookup forwarding throttle | target | [`MAX_RECENT_LOOKUPS`] keys, one forward per 2 s per target | request not forwarded | `lookup_requests.rate_limited` |
//! | routing-error / ICMP / suspect-path throttles | NodeAddr, source address | 4,096 / 1,024 / 1,024 keys | expired keys purged, else the event is not sent | none |
//! | packets for the TUN not yet drained | none | [`TUN_QUEUE_LIMIT`] | dropped | `tun_out_dropped` |
//! | linked peers (msg1 from new keys) | NodeAddr | `max_peers` (`node.limits.max_peers`, 128) | msg1 refused | `peer_limit` (`show routing`, `node`) |
//! | links: linked peers plus our handshakes in flight | NodeAddr | `max_links` (256) | msg1 from a new key refused; our dial put off (backoff) | `link_limit` |
//! | our handshakes in flight | NodeAddr | `max_connections` (256) | our dial put off (backoff) | `connection_limit` |
//! | msg1 admission, known peers' IPs (linked, configured, dialled) | IP | [`crate::node::KNOWN_TABLE_CAP`] buckets (burst 64, 16/s each) | least recently used bucket forgotten (only its refill state; never a link) | `refused_known`, `source_evictions` (`show transports`, `show status`) |
//! | msg1 admission, other sources, before any ECDH | IPv4 address or IPv6 /64 | [`crate::node::SOURCE_TABLE_CAP`] buckets (burst 16, 4/s each); global 500/s (burst 2,048) for sources in good standing plus 50/s for flooders | least recently used bucket forgotten; msg1 over budget refused | `refused_source`, `refused_global`, `source_evictions` |
//! | bloom filters, tree state | linked peer | one per link (so `max_peers`; configured values stop at `fips::config::LIMIT_CEILING`, 16,384) | go with the link | none |
//!
//! The caches evict by sampling ages and dropping the oldest 1/64 at once
//! (`routing::cache`), not with an `lru`/`hashlink` list: those allocate a
//! node and two pointers per entry (more memory per entry than the entry
//! itself for an identity) and evict one entry per insert, and skipping
//! pinned entries would mean re-linking them on every eviction. The batch
//! costs one pass over the map per 1/64 of its capacity inserted.

use std::time::Duration;

/// Identities the dataplane can route to (the reference's cache size).
pub const IDENTITY_CAPACITY: usize = 10_000;
/// How long an identity nothing uses stays cached (`node.identity_idle_secs`):
/// longer than a DNS answer's TTL (300 s) plus the DNS server's 60 s
/// between reminders to the node, so a program that honours the TTL never
/// holds an address the node has forgotten.
pub const IDENTITY_IDLE: Duration = Duration::from_secs(600);

/// How often the node looks for idle identities: a quarter of the idle
/// time, from 1 s to 60 s, so an entry goes at most that late.
pub fn identity_sweep_every(idle: Duration) -> Duration {
    (idle / 4).clamp(Duration::from_secs(1), Duration::from_secs(60))
}

/// The name under which [`Bounds::pressure`] reports identities that aged
/// out: not a bound being hit, but memory the daemon may give back.
pub const IDENTITIES_AGED_OUT: &str = "identity cache: idle entries aged out";

/// Destinations whose tree coordinates we cache.
pub const COORD_CAPACITY: usize = 50_000;
/// Addresses in all cached coordinates together (4 MiB of them): a sender
/// picks how long coordinates are. One entry may use at most 1/64 of it.
pub const COORD_ADDR_BUDGET: usize = 262_144;
/// Next hops remembered until the mesh changes.
pub const ROUTE_CACHE_CAPACITY: usize = 4096;
/// Packets buffered for a session still waiting for msg3.
pub const EARLY_LIMIT: usize = 16;
/// Lookups we run at once.
pub const MAX_PENDING_LOOKUPS: usize = 1024;
/// Lookup request ids remembered for dedup and reverse paths.
pub const MAX_RECENT_LOOKUPS: usize = 4096;
/// TUN packets waiting for `poll_tun`.
pub const TUN_QUEUE_LIMIT: usize = 4096;

/// How full each bounded store is and what it refused or evicted since
/// start, for `show status`. Counters only grow.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Bounds {
    pub identity_cache: Store,
    pub coord_cache: Store,
    pub sessions: Store,
    pub pending: Store,
    pub lookups: Store,
    pub lookup_requests: Store,
}

/// One store: entries now, its cap, and what it turned away.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Store {
    pub len: usize,
    pub cap: usize,
    /// Entries dropped to make room.
    pub evicted: u64,
    /// New entries turned away because the store was full.
    pub refused: u64,
    /// Turned away by a rate limit rather than the cap.
    pub rate_limited: u64,
    /// Entries dropped after their idle time (not to make room).
    pub expired: u64,
}

impl Store {
    /// A store bounded by its cap alone (no rate limit, no idle expiry).
    pub fn capped(len: usize, cap: usize, evicted: u64, refused: u64) -> Store {
        Store {
            len,
            cap,
            evicted,
            refused,
            rate_limited: 0,
            expired: 0,
        }
    }
}

impl Bounds {
    /// `(store name, evicted + refused + rate_limited)`, for the daemon's
    /// warning when a bound is hit; last, [`IDENTITIES_AGED_OUT`] with the
    /// identities that aged out (no warning: the daemon trims its heap).
    pub fn pressure(&self) -> [(&'static str, u64); 7] {
        let p = |s: &Store| s.evicted + s.refused + s.rate_limited;
        [
            ("identity cache", p(&self.identity_cache)),
            ("coordinate cache", p(&self.coord_cache)),
            ("sessions", p(&self.sessions)),
            ("pending packets", p(&self.pending)),
            ("lookups", p(&self.lookups)),
            ("lookup requests", p(&self.lookup_requests)),
            (IDENTITIES_AGED_OUT, self.identity_cache.expired),
        ]
    }
}
