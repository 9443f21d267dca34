//! `BloomState`: inbound filters per peer and what we owe each peer.
//!
//! Call order: `add_peer` when a link comes up, `handle_announce` for each
//! inbound FilterAnnounce, `set_tree_peers` when our parent or children
//! changed, `refresh(now)` when an inbound filter changed, then drain
//! `poll_send(now)` and sleep until `poll_timeout()`. Tree peers are our
//! parent and the peers that named us as parent (`TreeState::tree_peers`).
//!
//! No call walks every peer's filter except a refresh, and refreshes run
//! at most once per debounce interval: on a hub with N leaves joining, a
//! walk per inbound change was O(N^2) in all.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use super::union::BitCounts;
use super::{BloomError, BloomFilter, HASH_COUNT, SIZE_CLASS};
use crate::pace::Paced;
use crate::NodeAddr;

/// Tunables, defaulting to the reference v0.4.1 values.
#[derive(Clone, Debug, PartialEq)]
pub struct BloomConfig {
    /// Minimum gap between two filters sent to the same peer.
    pub debounce: Duration,
    /// Inbound filters with a higher false positive rate are dropped.
    pub max_inbound_fpr: f64,
}

impl Default for BloomConfig {
    fn default() -> Self {
        BloomConfig {
            debounce: Duration::from_millis(500),
            max_inbound_fpr: 0.20,
        }
    }
}

#[derive(Debug)]
struct Inbound {
    seq: u64,
    filter: BloomFilter,
}

#[derive(Debug, Default)]
struct Outbound {
    last_sent: Option<BloomFilter>,
}

/// What happened to the FilterAnnounces we received and sent, under the
/// reference's `show_bloom` counter names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct BloomStats {
    /// FilterAnnounces from peers, before any check.
    pub received: u64,
    /// Stored as the peer's filter.
    pub accepted: u64,
    /// Inner message did not parse (counted by the node).
    pub decode_error: u64,
    /// Body length does not match the size class.
    pub invalid: u64,
    /// Size class or hash count other than v1's.
    pub non_v1: u64,
    /// From a node that is not a peer. Our links only hand us filters from
    /// authenticated peers, so this stays 0.
    pub unknown_peer: u64,
    /// Sequence not above the stored one.
    pub stale: u64,
    /// Rejected by the antipoison false-positive cap.
    pub fill_exceeded: u64,
    /// Filters handed to a peer's link.
    pub sent: u64,
    /// Times a changed filter for a peer waited out the debounce.
    pub debounce_suppressed: u64,
    /// Filters the link could not send (the peer went away meanwhile).
    pub send_failed: u64,
}

/// A filter to send: emit it as FilterAnnounce { seq, hash_count 5,
/// size_class 1, filter.as_bytes() }.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outgoing {
    pub peer: NodeAddr,
    pub seq: u64,
    pub filter: BloomFilter,
}

#[derive(Debug)]
pub struct BloomState {
    me: NodeAddr,
    config: BloomConfig,
    inbound: BTreeMap<NodeAddr, Inbound>,
    outbound: BTreeMap<NodeAddr, Outbound>,
    /// Peers owed a filter check (see `poll_send`), each at most once per
    /// debounce interval.
    owed: Paced<NodeAddr>,
    /// Our parent and children (see `set_tree_peers`).
    tree_peers: BTreeSet<NodeAddr>,
    /// Since when every peer is owed a check (`refresh`).
    refresh_owed: Option<Instant>,
    /// When every peer was last marked for a check.
    last_refresh: Option<Instant>,
    /// One counter for every filter we send, to any peer.
    send_seq: u64,
    stats: BloomStats,
    /// The bit counts of the tree peers' inbound filters; dropped when an
    /// inbound filter or the tree peers change.
    counted: Option<BitCounts>,
}

/// Only v1 filters (size class 1, five hashes) are understood.
fn check_v1(hash_count: u8, size_class: u8) -> Result<(), BloomError> {
    if size_class != SIZE_CLASS {
        return Err(BloomError::SizeClass { size_class });
    }
    if hash_count != HASH_COUNT {
        return Err(BloomError::HashCount { hash_count });
    }
    Ok(())
}

impl BloomState {
    pub fn new(me: NodeAddr) -> Self {
        Self::with_config(me, BloomConfig::default())
    }

    pub fn with_config(me: NodeAddr, config: BloomConfig) -> Self {
        BloomState {
            me,
            owed: Paced::new(config.debounce),
            config,
            inbound: BTreeMap::new(),
            outbound: BTreeMap::new(),
            tree_peers: BTreeSet::new(),
            refresh_owed: None,
            last_refresh: None,
            send_seq: 0,
            stats: BloomStats::default(),
            counted: None,
        }
    }

    /// The seq of the last filter we sent (0 before the first).
    pub fn send_seq(&self) -> u64 {
        self.send_seq
    }

    /// A link came up: the peer gets a filter as soon as allowed.
    pub fn add_peer(&mut self, peer: NodeAddr) {
        self.outbound.entry(peer).or_default();
        self.owed.owe(peer);
    }

    /// The link to `peer` was re-established on a new session (e.g. the
    /// cross-connection rule replaced it): what we sent on the old one may be
    /// lost, so send our filter again even if unchanged. Keeps its inbound filter.
    pub fn resend(&mut self, peer: NodeAddr) {
        let o = self.outbound.entry(peer).or_default();
        o.last_sent = None;
        self.owed.owe(peer);
    }

    /// The link is gone: forget both directions (a new link starts its seq
    /// afresh). Returns whether an inbound filter was dropped, in which case
    /// the caller should `refresh`.
    pub fn remove_peer(&mut self, peer: &NodeAddr) -> bool {
        self.outbound.remove(peer);
        self.owed.forget(peer);
        if self.tree_peers.remove(peer) {
            self.counted = None;
        }
        self.inbound.remove(peer).is_some()
    }

    /// Accept a FilterAnnounce from `peer` if well-formed, newer than the
    /// last one and not saturated. Returns whether the filter changed; only
    /// then need the caller `refresh`. Peers re-send unchanged filters
    /// (every `mesh_refresh`): on a hub with N leaves, recounting and
    /// comparing N outgoing filters for each of those was O(N^2) a second.
    pub fn handle_announce(
        &mut self,
        peer: NodeAddr,
        seq: u64,
        hash_count: u8,
        size_class: u8,
        bits: &[u8],
    ) -> Result<bool, BloomError> {
        self.stats.received += 1;
        let r = check_v1(hash_count, size_class).and_then(|()| self.store(peer, seq, bits));
        let s = &mut self.stats;
        match &r {
            Ok(_) => s.accepted += 1,
            Err(BloomError::SizeClass { .. } | BloomError::HashCount { .. }) => s.non_v1 += 1,
            Err(BloomError::Length { .. }) => s.invalid += 1,
            Err(BloomError::Stale { .. }) => s.stale += 1,
            Err(BloomError::Poisoned { .. }) => s.fill_exceeded += 1,
        }
        r
    }

    fn store(&mut self, peer: NodeAddr, seq: u64, bits: &[u8]) -> Result<bool, BloomError> {
        let filter = BloomFilter::from_slice(bits)?;
        if let Some(last) = self.inbound.get(&peer).map(|i| i.seq) {
            if seq <= last {
                return Err(BloomError::Stale { peer, seq, last });
            }
        }
        let fpr = filter.false_positive_rate();
        let cap = self.config.max_inbound_fpr;
        if fpr > cap {
            return Err(BloomError::Poisoned { peer, fpr, cap });
        }
        if let Some(stored) = self.inbound.get_mut(&peer) {
            if stored.filter == filter {
                stored.seq = seq;
                return Ok(false);
            }
        }
        self.inbound.insert(peer, Inbound { seq, filter });
        self.counted = None;
        Ok(true)
    }

    pub fn inbound(&self, peer: &NodeAddr) -> Option<&BloomFilter> {
        self.inbound.get(peer).map(|i| &i.filter)
    }

    pub fn inbound_seq(&self, peer: &NodeAddr) -> Option<u64> {
        self.inbound.get(peer).map(|i| i.seq)
    }

    /// The filter we last sent `peer` (`None` before the first).
    pub fn last_sent(&self, peer: &NodeAddr) -> Option<&BloomFilter> {
        self.outbound.get(peer)?.last_sent.as_ref()
    }

    pub fn stats(&self) -> BloomStats {
        BloomStats {
            debounce_suppressed: self.stats.debounce_suppressed + self.owed.deferred(),
            ..self.stats
        }
    }

    /// A FilterAnnounce from a peer whose message did not parse.
    pub fn record_decode_error(&mut self) {
        self.stats.received += 1;
        self.stats.decode_error += 1;
    }

    /// Whether the link took the filter `poll_send` returned.
    pub fn record_send(&mut self, delivered: bool) {
        if delivered {
            self.stats.sent += 1;
        } else {
            self.stats.send_failed += 1;
        }
    }

    /// Whether `peer` may reach `dest` (its filter has it, or it is `dest`).
    pub fn may_reach(&self, peer: &NodeAddr, dest: &NodeAddr) -> bool {
        peer == dest || self.inbound(peer).is_some_and(|f| f.contains(dest))
    }

    /// Every peer whose filter may contain `dest`, ascending.
    pub fn candidates(&self, dest: &NodeAddr) -> Vec<NodeAddr> {
        self.inbound
            .iter()
            .filter(|(p, i)| *p == dest || i.filter.contains(dest))
            .map(|(p, _)| *p)
            .collect()
    }

    /// Our parent and children changed: they are whose filters we merge.
    pub fn set_tree_peers(&mut self, now: Instant, tree_peers: &[NodeAddr]) {
        if !tree_peers.iter().eq(self.tree_peers.iter()) {
            self.tree_peers = tree_peers.iter().copied().collect();
            self.counted = None;
            self.refresh(now);
        }
    }

    /// What we tell `peer`: ourselves plus the inbound filters of the other
    /// tree peers. Never `peer`'s own (split horizon), never a non-tree
    /// peer's (keeps mesh shortcuts from saturating filters).
    pub fn outgoing_for(&mut self, peer: &NodeAddr) -> BloomFilter {
        let counts = self.counted.take().unwrap_or_else(|| self.count());
        let out = self.outgoing_from(&counts, peer);
        self.counted = Some(counts);
        out
    }

    fn count(&self) -> BitCounts {
        BitCounts::new(
            self.tree_peers
                .iter()
                .filter_map(|tp| self.inbound.get(tp).map(|i| &i.filter)),
        )
    }

    fn outgoing_from(&self, counts: &BitCounts, peer: &NodeAddr) -> BloomFilter {
        let own = self
            .tree_peers
            .contains(peer)
            .then(|| self.inbound.get(peer).map(|i| &i.filter))
            .flatten();
        let mut out = counts.union_without(own);
        out.insert(&self.me);
        out
    }

    /// An inbound filter changed: every peer whose filter now differs from
    /// what it last got is owed one. Runs at the next `poll_send` at least
    /// a debounce interval after the last refresh (a peer can only be sent
    /// one after that anyway), so a burst of changes costs one walk.
    pub fn refresh(&mut self, now: Instant) {
        self.refresh_owed.get_or_insert(now);
    }

    /// Whether the refresh owed may run at `now` (the first runs at once).
    fn refresh_runs(&self, now: Instant) -> bool {
        self.refresh_owed.is_some()
            && self
                .last_refresh
                .is_none_or(|t| now >= t + self.config.debounce)
    }

    fn run_refresh(&mut self, now: Instant) {
        if !self.refresh_runs(now) {
            return;
        }
        let asked = self.refresh_owed.take().unwrap_or(now);
        self.last_refresh = Some(now);
        let counts = self.counted.take().unwrap_or_else(|| self.count());
        let changed: Vec<NodeAddr> = self
            .outbound
            .iter()
            .filter(|(peer, o)| o.last_sent.as_ref() != Some(&self.outgoing_from(&counts, peer)))
            .map(|(peer, _)| *peer)
            .collect();
        self.counted = Some(counts);
        for peer in changed {
            // Held here by the refresh's own debounce, or by the peer's
            // (which `owed` counts).
            if asked < now && !self.owed.is_held(&peer, now) {
                self.stats.debounce_suppressed += 1;
            }
            self.owed.owe(peer);
        }
    }

    /// The next filter due to a peer out of its debounce. Records the send
    /// and consumes one global seq.
    #[must_use]
    pub fn poll_send(&mut self, now: Instant) -> Option<Outgoing> {
        self.run_refresh(now);
        while let Some(peer) = self.owed.poll(now) {
            let filter = self.outgoing_for(&peer);
            let Some(o) = self.outbound.get_mut(&peer) else {
                continue;
            };
            // Changes that cancelled out while debouncing need no send.
            if o.last_sent.as_ref() == Some(&filter) {
                continue;
            }
            o.last_sent = Some(filter.clone());
            self.owed.sent(peer, now);
            self.send_seq += 1;
            let seq = self.send_seq;
            return Some(Outgoing { peer, seq, filter });
        }
        None
    }

    /// When a debounced filter or refresh becomes due. Never-sent filters
    /// and a first refresh are due at once, so after draining `poll_send`
    /// none remain.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let gap = self.config.debounce;
        let refresh = self
            .last_refresh
            .filter(|_| self.refresh_owed.is_some())
            .map(|t| t + gap);
        self.owed.poll_timeout().into_iter().chain(refresh).min()
    }

    /// Estimated number of nodes reachable: cardinality of the union of all
    /// inbound filters plus ourselves.
    pub fn estimated_mesh_size(&self) -> Option<f64> {
        let mut union = BloomFilter::new();
        union.insert(&self.me);
        for i in self.inbound.values() {
            union.merge(&i.filter);
        }
        union.estimated_count()
    }
}
