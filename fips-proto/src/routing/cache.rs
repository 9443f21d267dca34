//! The coordinate cache (NodeAddr → tree coordinates, 300 s TTL refreshed on
//! use, 50k entries) and the identity cache (fd address → public key, LRU,
//! 10k entries). Both are bounded (see `crate::limits`): a full cache first
//! drops expired entries, then the least recently used sixty-fourth, so
//! eviction cost is amortised over many inserts instead of paid per packet.
//! The identity cache never evicts a linked peer (pinned) or an address the
//! caller says is in use (a session): those may take it past its capacity,
//! by at most the number of peers and sessions, themselves bounded. Entries
//! nothing has used for an idle time (a DNS answer nobody sent to) also go,
//! swept by the node's timer (`expire_idle`), so a flood of names stops
//! costing memory once it stops.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

use crate::addr::NodeAddr;
use crate::identity::PeerIdentity;
use crate::wire::Coords;

pub use crate::limits::{COORD_ADDR_BUDGET, COORD_CAPACITY, IDENTITY_CAPACITY};

pub const COORD_TTL: Duration = Duration::from_secs(300);

#[derive(Debug, Clone)]
pub struct CoordEntry {
    pub coords: Coords,
    /// Path MTU a LookupResponse reported for this destination, if any.
    pub path_mtu: Option<u16>,
    expires: Instant,
    last_used: Instant,
}

impl CoordEntry {
    pub fn expires(&self) -> Instant {
        self.expires
    }

    pub fn last_used(&self) -> Instant {
        self.last_used
    }
}

/// NodeAddr → coordinates, filled by SessionSetup/Ack, CP-flagged frames and
/// LookupResponses.
#[derive(Debug)]
pub struct CoordCache {
    ttl: Duration,
    capacity: usize,
    map: HashMap<NodeAddr, CoordEntry>,
    /// Addresses held in all entries' coordinates: a sender chooses how
    /// long coordinates are, so the cache is bounded in them too.
    addrs: usize,
    /// Live entries dropped to make room (expired ones are not counted).
    evicted: u64,
}

impl CoordCache {
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        CoordCache {
            ttl,
            capacity,
            map: HashMap::new(),
            addrs: 0,
            evicted: 0,
        }
    }

    /// Stores `coords` for `addr`. Empty coordinates carry no information
    /// (CP sections may have zero entries) and are ignored.
    pub fn insert(&mut self, now: Instant, addr: NodeAddr, coords: Coords) {
        if coords.is_empty() {
            return;
        }
        if coords.len() > COORD_ADDR_BUDGET / 64 {
            return;
        }
        if let Some(e) = self.map.get_mut(&addr) {
            if e.coords != coords {
                self.addrs = self.addrs - e.coords.len() + coords.len();
                e.coords = coords;
            }
            e.expires = now + self.ttl;
            e.last_used = now;
            return;
        }
        if self.map.len() >= self.capacity || self.addrs + coords.len() > COORD_ADDR_BUDGET {
            self.make_room(now, coords.len());
        }
        self.addrs += coords.len();
        let entry = CoordEntry {
            coords,
            path_mtu: None,
            expires: now + self.ttl,
            last_used: now,
        };
        self.map.insert(addr, entry);
    }

    pub fn entries(&self) -> impl Iterator<Item = (&NodeAddr, &CoordEntry)> {
        self.map.iter()
    }

    pub fn set_path_mtu(&mut self, addr: &NodeAddr, mtu: u16) {
        if let Some(e) = self.map.get_mut(addr) {
            e.path_mtu = Some(mtu);
        }
    }

    /// The live coordinates of `addr`, refreshing the entry's TTL (routing
    /// through an entry keeps it alive).
    pub fn get_and_touch(&mut self, now: Instant, addr: &NodeAddr) -> Option<&Coords> {
        let ttl = self.ttl;
        let live = self.map.get(addr)?.expires > now;
        if !live {
            self.remove(addr);
            return None;
        }
        let e = self.map.get_mut(addr)?;
        e.expires = now + ttl;
        e.last_used = now;
        Some(&e.coords)
    }

    /// The live coordinates of `addr` without refreshing them.
    pub fn peek(&self, now: Instant, addr: &NodeAddr) -> Option<&CoordEntry> {
        self.map.get(addr).filter(|e| e.expires > now)
    }

    pub fn remove(&mut self, addr: &NodeAddr) {
        if let Some(e) = self.map.remove(addr) {
            self.addrs -= e.coords.len();
        }
    }

    /// Our own coordinates changed (parent switch): everything cached was
    /// judged against the old position, so start over.
    pub fn clear(&mut self) {
        self.map.clear();
        self.addrs = 0;
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Drops expired entries, then least recently used ones until one
    /// more entry of `incoming` addresses fits.
    fn make_room(&mut self, now: Instant, incoming: usize) {
        self.map.retain(|_, e| e.expires > now);
        let full = |c: &Self| c.map.len() >= c.capacity || c.addrs + incoming > COORD_ADDR_BUDGET;
        while full(self) && !self.map.is_empty() {
            self.evicted += evict_oldest(&mut self.map, |e| Some(e.last_used)) as u64;
            self.addrs = self.map.values().map(|e| e.coords.len()).sum();
        }
    }
}

/// fd address (15 bytes after the fd prefix) → identity, filled by DNS,
/// XK msg3 and configured peers. The mapping never goes stale; an entry
/// goes when the cache needs room or, unused, after an idle time.
#[derive(Debug)]
pub struct IdentityCache {
    capacity: usize,
    tick: u64,
    map: HashMap<[u8; 15], IdEntry>,
    evicted: u64,
    expired: u64,
}

#[derive(Debug, Clone, Copy)]
struct IdEntry {
    id: PeerIdentity,
    // Kept so the per-packet lookup never hashes a public key.
    addr: NodeAddr,
    tick: u64,
    /// Last insert, lookup or sweep that found it in use: for
    /// `show_identity_cache` and the idle expiry.
    last_seen: Instant,
    /// A linked peer: never evicted while the link is up.
    pinned: bool,
}

impl IdentityCache {
    pub fn new(capacity: usize) -> Self {
        IdentityCache {
            capacity,
            tick: 0,
            map: HashMap::new(),
            evicted: 0,
            expired: 0,
        }
    }

    /// Drops every entry unused for `idle` (not inserted or looked up since)
    /// unless it is pinned or `in_use` (a session): those are marked used
    /// now, so they stay `idle` after their link or session ends. Returns
    /// how many went. A map left mostly empty gives its memory back.
    pub fn expire_idle(
        &mut self,
        now: Instant,
        idle: Duration,
        in_use: impl Fn(&NodeAddr) -> bool,
    ) -> usize {
        let before = self.map.len();
        self.map.retain(|_, e| {
            if e.pinned || in_use(&e.addr) {
                e.last_seen = now;
                return true;
            }
            now.saturating_duration_since(e.last_seen) < idle
        });
        let gone = before - self.map.len();
        self.expired += gone as u64;
        shrink_if_sparse(&mut self.map);
        gone
    }

    /// Entries dropped after their idle time since start.
    pub fn expired(&self) -> u64 {
        self.expired
    }

    /// Remembers `id` as just used. When full, the least recently used
    /// entries go, except pinned ones and those `in_use` names (their
    /// sessions carry traffic).
    pub fn insert(&mut self, now: Instant, id: PeerIdentity, in_use: impl Fn(&NodeAddr) -> bool) {
        let addr = id.node_addr();
        let key = prefix_of(&addr);
        self.tick += 1;
        let tick = self.tick;
        if let Some(e) = self.map.get_mut(&key) {
            (e.id, e.addr, e.tick, e.last_seen) = (id, addr, tick, now);
            return;
        }
        if self.map.len() >= self.capacity {
            let age = |e: &IdEntry| (!e.pinned && !in_use(&e.addr)).then_some(e.tick);
            self.evicted += evict_oldest(&mut self.map, age) as u64;
        }
        let entry = IdEntry {
            id,
            addr,
            tick,
            last_seen: now,
            pinned: false,
        };
        self.map.insert(key, entry);
    }

    /// Inserts `id` and keeps it until `unpin` (a link to it is up).
    pub fn insert_pinned(&mut self, now: Instant, id: PeerIdentity) {
        self.insert(now, id, |_| false);
        if let Some(e) = self.map.get_mut(&prefix_of(&id.node_addr())) {
            e.pinned = true;
        }
    }

    /// The link to `addr` went down: its entry may be evicted again.
    pub fn unpin(&mut self, addr: &NodeAddr) {
        if let Some(e) = self.map.get_mut(&prefix_of(addr)) {
            e.pinned = false;
        }
    }

    /// The identity whose NodeAddr is `addr`, without marking it used.
    pub fn peek(&self, addr: &NodeAddr) -> Option<PeerIdentity> {
        self.map
            .get(&prefix_of(addr))
            .filter(|e| e.addr == *addr)
            .map(|e| e.id)
    }

    /// Entries dropped to make room since start.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Looks up by the 15 address bytes after `fd` and marks the entry used.
    pub fn lookup(&mut self, now: Instant, prefix: &[u8; 15]) -> Option<(NodeAddr, PeerIdentity)> {
        self.tick += 1;
        let tick = self.tick;
        self.map.get_mut(prefix).map(|e| {
            e.tick = tick;
            e.last_seen = now;
            (e.addr, e.id)
        })
    }

    /// The identity whose NodeAddr is `addr` (all 16 bytes must match).
    pub fn get(&mut self, now: Instant, addr: &NodeAddr) -> Option<PeerIdentity> {
        self.lookup(now, &prefix_of(addr))
            .filter(|(a, _)| a == addr)
            .map(|(_, id)| id)
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = PeerIdentity> + '_ {
        self.map.values().map(|e| e.id)
    }

    /// Every identity with when it was last inserted or looked up.
    pub fn entries(&self) -> impl Iterator<Item = (PeerIdentity, Instant)> + '_ {
        self.map.values().map(|e| (e.id, e.last_seen))
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

/// Gives a map's memory back once it holds under a quarter of what it has
/// room for (after a flood's entries went): a `HashMap` never shrinks on
/// its own.
pub fn shrink_if_sparse<K: Hash + Eq, V>(map: &mut HashMap<K, V>) {
    if map.capacity() > 64 && map.len() < map.capacity() / 4 {
        map.shrink_to_fit();
    }
}

pub fn prefix_of(addr: &NodeAddr) -> [u8; 15] {
    let mut p = [0u8; 15];
    p.copy_from_slice(&addr.0[..15]);
    p
}

/// Drops the least recently used sixty-fourth of `map` (at least one),
/// among the entries `age` gives an age; returns how many went.
fn evict_oldest<K, V, T>(map: &mut HashMap<K, V>, age: impl Fn(&V) -> Option<T>) -> usize
where
    K: Hash + Eq + Clone,
    T: Ord + Copy,
{
    let n = (map.len() / 64).max(1);
    let mut ages: Vec<(T, K)> = map
        .iter()
        .filter_map(|(k, v)| Some((age(v)?, k.clone())))
        .collect();
    if n < ages.len() {
        ages.select_nth_unstable_by(n - 1, |a, b| a.0.cmp(&b.0));
    }
    let gone = n.min(ages.len());
    for (_, k) in ages.into_iter().take(n) {
        map.remove(&k);
    }
    gone
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(i: u16) -> NodeAddr {
        let mut a = [0u8; 16];
        a[..2].copy_from_slice(&i.to_be_bytes());
        NodeAddr(a)
    }

    fn coords(i: u16) -> Coords {
        Coords(vec![addr(i), addr(0)])
    }

    #[test]
    fn coordinates_expire_after_ttl_unless_used() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut c = CoordCache::new(Duration::from_secs(300), 10);
        c.insert(t0, addr(1), coords(1));
        c.insert(t0, addr(2), coords(2));
        assert!(c.get_and_touch(t0 + 200 * s, &addr(1)).is_some());
        assert!(c.peek(t0 + 301 * s, &addr(2)).is_none());
        assert!(c.get_and_touch(t0 + 301 * s, &addr(2)).is_none());
        assert!(
            c.get_and_touch(t0 + 499 * s, &addr(1)).is_some(),
            "use refreshed it"
        );
    }

    #[test]
    fn coord_cache_never_exceeds_its_capacity_and_keeps_recent_entries() {
        let t0 = Instant::now();
        let mut c = CoordCache::new(Duration::from_secs(300), 100);
        for i in 1..=500u16 {
            c.insert(t0 + Duration::from_millis(u64::from(i)), addr(i), coords(i));
            assert!(c.len() <= 100);
        }
        assert!(c.peek(t0 + Duration::from_secs(1), &addr(500)).is_some());
        assert!(c.peek(t0 + Duration::from_secs(1), &addr(1)).is_none());
    }

    #[test]
    fn identity_cache_maps_an_fd_prefix_to_the_key_and_evicts_least_recent() {
        let ids: Vec<PeerIdentity> = (1..=4u8)
            .map(|i| {
                *crate::identity::Identity::from_secret_bytes([i; 32])
                    .expect("key")
                    .public()
            })
            .collect();
        let t = Instant::now();
        let mut c = IdentityCache::new(3);
        for id in &ids[..3] {
            c.insert(t, *id, |_| false);
        }
        let a0 = ids[0].node_addr();
        assert_eq!(c.lookup(t, &prefix_of(&a0)), Some((a0, ids[0])));
        c.insert(t, ids[3], |_| false);
        assert_eq!(c.len(), 3);
        assert!(
            c.get(t, &ids[1].node_addr()).is_none(),
            "least recently used went first"
        );
        assert!(c.get(t, &a0).is_some());
        let mut wrong_last_byte = a0;
        wrong_last_byte.0[15] ^= 1;
        assert!(c.get(t, &wrong_last_byte).is_none());
    }

    #[test]
    fn identity_cache_remembers_when_each_entry_was_last_seen() {
        let id = |i: u8| {
            *crate::identity::Identity::from_secret_bytes([i; 32])
                .expect("key")
                .public()
        };
        let t0 = Instant::now();
        let later = t0 + Duration::from_secs(7);
        let mut c = IdentityCache::new(10);
        c.insert(t0, id(1), |_| false);
        c.insert(t0, id(2), |_| false);
        assert!(c.get(later, &id(2).node_addr()).is_some());
        let seen = |who: PeerIdentity| {
            c.entries()
                .find(|(e, _)| *e == who)
                .map(|(_, at)| at)
                .expect("cached")
        };
        assert_eq!(seen(id(1)), t0, "never looked up since insert");
        assert_eq!(seen(id(2)), later, "the lookup refreshed it");
        assert_eq!(c.capacity(), 10);
    }

    #[test]
    fn coord_cache_bounds_the_addresses_it_holds_whatever_their_length() {
        let t0 = Instant::now();
        let mut c = CoordCache::new(COORD_TTL, COORD_CAPACITY);
        let long = |i: u16| Coords((0..64).map(|j| addr(i.wrapping_add(j))).collect());
        for i in 1..=10_000u16 {
            c.insert(t0 + Duration::from_millis(u64::from(i)), addr(i), long(i));
            assert!(c.addrs <= COORD_ADDR_BUDGET);
        }
        assert!(c.evicted() > 0);
        assert!(c.peek(t0, &addr(10_000)).is_some(), "the newest stays");
        let huge = Coords((0..=COORD_ADDR_BUDGET / 64).map(|_| addr(1)).collect());
        c.insert(t0, addr(1), huge);
        assert!(c.addrs <= COORD_ADDR_BUDGET, "one entry cannot take it all");
    }

    #[test]
    fn identity_cache_never_evicts_pinned_peers_or_identities_in_use() {
        let id = |i: u16| {
            let mut b = [7u8; 32];
            b[..2].copy_from_slice(&i.to_be_bytes());
            *crate::identity::Identity::from_secret_bytes(b)
                .expect("key")
                .public()
        };
        let t = Instant::now();
        let mut c = IdentityCache::new(64);
        let (peer, session) = (id(1), id(2));
        c.insert_pinned(t, peer);
        c.insert(t, session, |_| false);
        let busy = session.node_addr();
        for i in 3..500 {
            c.insert(t, id(i), |a| *a == busy);
        }
        assert!(c.len() <= 64);
        assert!(c.evicted() > 400);
        assert_eq!(c.peek(&peer.node_addr()), Some(peer), "linked peer kept");
        assert_eq!(c.peek(&busy), Some(session), "session kept");
        c.unpin(&peer.node_addr());
        for i in 500..700 {
            c.insert(t, id(i), |_| false);
        }
        assert_eq!(c.peek(&peer.node_addr()), None, "evictable once unlinked");
    }

    #[test]
    fn idle_identities_expire_but_linked_peers_and_sessions_stay() {
        let id = |i: u16| {
            let mut b = [9u8; 32];
            b[..2].copy_from_slice(&i.to_be_bytes());
            *crate::identity::Identity::from_secret_bytes(b)
                .expect("key")
                .public()
        };
        let (t0, s) = (Instant::now(), Duration::from_secs(1));
        let idle = 60 * s;
        let mut c = IdentityCache::new(IDENTITY_CAPACITY);
        let (peer, session, used) = (id(1), id(2), id(3));
        c.insert_pinned(t0, peer);
        for i in 2..2000 {
            c.insert(t0, id(i), |_| false);
        }
        let grown = c.map.capacity();
        assert!(c.get(t0 + 50 * s, &used.node_addr()).is_some());
        let busy = session.node_addr();
        assert_eq!(c.expire_idle(t0 + 59 * s, idle, |a| *a == busy), 0);
        let gone = c.expire_idle(t0 + 61 * s, idle, |a| *a == busy);
        assert_eq!(gone, 1996, "all but the peer, the session and the one used");
        assert_eq!(c.expired(), 1996);
        assert_eq!(c.evicted(), 0, "ageing is not eviction");
        assert!(c.map.capacity() < grown / 4, "memory given back");
        for who in [peer, session, used] {
            assert_eq!(c.peek(&who.node_addr()), Some(who));
        }
        c.unpin(&peer.node_addr());
        let gone = c.expire_idle(t0 + 115 * s, idle, |a| *a == busy);
        assert_eq!(gone, 1, "the used one, idle since 50 s");
        assert_eq!(
            c.expire_idle(t0 + 122 * s, idle, |_| false),
            1,
            "the peer, idle since its last sweep as linked (61 s)"
        );
        assert_eq!(
            c.expire_idle(t0 + 176 * s, idle, |_| false),
            1,
            "the session, 60 s after its last sweep in use (115 s)"
        );
        assert!(c.is_empty());
    }

    #[test]
    fn empty_coordinates_are_not_cached() {
        let mut c = CoordCache::new(COORD_TTL, 10);
        c.insert(Instant::now(), addr(1), Coords(vec![]));
        assert!(c.is_empty());
    }
}
