//! `TreeState`: our declaration, our peers' positions, the announce queue.
//!
//! Call order: feed inputs (`add_peer`, `handle_announce`, `set_peer_cost`,
//! `remove_peer`, `handle_timeout`), then drain `poll_announce` until `None`
//! and send `my_announce(unix_secs)` (signed by the caller) to each peer it
//! names, then sleep until `poll_timeout()`.

use std::collections::BTreeMap;
use std::time::Instant;

use super::coords::addrs;
use super::{Announce, CoordEntry, ParentChange, TreeChange, TreeConfig, TreeError};
use crate::pace::Paced;
use crate::NodeAddr;

#[derive(Debug)]
pub(super) struct Peer {
    /// The peer's latest accepted announce.
    pub(super) announce: Option<Announce>,
    /// Its coordinates self→root (the ancestry's addresses), kept with the
    /// announce: routing reads them for every candidate peer.
    pub(super) coords: Vec<NodeAddr>,
    pub(super) srtt_ms: Option<f64>,
    pub(super) etx: f64,
    /// Our frames to it went unanswered (see `set_peer_silent`).
    pub(super) silent: bool,
}

impl Default for Peer {
    fn default() -> Self {
        Peer {
            announce: None,
            coords: Vec::new(),
            srtt_ms: None,
            etx: 1.0,
            silent: false,
        }
    }
}

impl Peer {
    pub(super) fn root(&self) -> Option<NodeAddr> {
        self.announce.as_ref().and_then(Announce::root)
    }

    /// Whether this peer's ancestry names `me` (as itself or an ancestor).
    pub(super) fn contains(&self, me: &NodeAddr) -> bool {
        self.announce
            .as_ref()
            .is_some_and(|a| a.ancestry.iter().any(|e| e.node == *me))
    }
}

#[derive(Debug)]
pub struct TreeState {
    pub(super) me: NodeAddr,
    pub(super) config: TreeConfig,
    pub(super) parent: Option<NodeAddr>,
    pub(super) seq: u64,
    /// Unix seconds of the current declaration, stamped at the first
    /// `my_announce` after it changed (the core has no wall clock).
    ts: Option<u64>,
    /// Our coordinates self→root, with the relayed seq/ts of each ancestor.
    pub(super) coords: Vec<CoordEntry>,
    pub(super) peers: BTreeMap<NodeAddr, Peer>,
    /// Peers owed our announce, each at most once per
    /// `announce_min_interval`. Not a flag per peer: the node asks for the
    /// next wake-up after every frame, and on a hub with N leaves a scan
    /// of all N for the few owed was most of its idle CPU.
    pub(super) announces: Paced<NodeAddr>,
    pub(super) last_switch: Option<Instant>,
    pub(super) flap_window_start: Option<Instant>,
    pub(super) flap_count: u32,
    pub(super) dampened_until: Option<Instant>,
    pub(super) last_reeval: Option<Instant>,
    /// The parent we left because it fell silent: once it answers again
    /// and is the best candidate, we return at once (no hold-down), so a
    /// few seconds of silence cost no more than those seconds.
    pub(super) left_for_silence: Option<NodeAddr>,
}

impl TreeState {
    pub fn new(me: NodeAddr) -> Self {
        Self::with_config(me, TreeConfig::default())
    }

    pub fn with_config(me: NodeAddr, config: TreeConfig) -> Self {
        let announces = Paced::new(config.announce_min_interval);
        TreeState {
            me,
            config,
            parent: None,
            seq: 1,
            ts: None,
            coords: vec![CoordEntry {
                node: me,
                seq: 1,
                ts: 0,
            }],
            peers: BTreeMap::new(),
            announces,
            last_switch: None,
            flap_window_start: None,
            flap_count: 0,
            dampened_until: None,
            last_reeval: None,
            left_for_silence: None,
        }
    }

    pub fn my_addr(&self) -> NodeAddr {
        self.me
    }

    pub fn root(&self) -> NodeAddr {
        self.coords.last().map_or(self.me, |e| e.node)
    }

    /// Our parent, `None` while we are root.
    pub fn parent(&self) -> Option<NodeAddr> {
        self.parent
    }

    pub fn is_root(&self) -> bool {
        self.parent.is_none()
    }

    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Our coordinates self→root (map to `wire::coords::Coords`).
    pub fn my_coords(&self) -> Vec<NodeAddr> {
        addrs(&self.coords)
    }

    /// Our depth (0 for the root).
    pub fn depth(&self) -> usize {
        self.coords.len() - 1
    }

    /// A peer's coordinates self→root, once it has announced.
    pub fn peer_coords(&self, peer: &NodeAddr) -> Option<Vec<NodeAddr>> {
        self.peer_coords_ref(peer).map(<[NodeAddr]>::to_vec)
    }

    /// `peer_coords` without the copy.
    pub fn peer_coords_ref(&self, peer: &NodeAddr) -> Option<&[NodeAddr]> {
        let p = self.peers.get(peer)?;
        p.announce.as_ref().map(|_| &p.coords[..])
    }

    /// A peer's latest accepted announce.
    pub fn peer_announce(&self, peer: &NodeAddr) -> Option<&Announce> {
        self.peers.get(peer)?.announce.as_ref()
    }

    /// Our parent, or a peer that declared us as its parent (a child).
    pub fn is_tree_peer(&self, peer: &NodeAddr) -> bool {
        self.parent == Some(*peer) || self.is_child(peer)
    }

    /// Parent and children, ascending (what bloom merges).
    pub fn tree_peers(&self) -> Vec<NodeAddr> {
        self.peers
            .keys()
            .filter(|p| self.is_tree_peer(p))
            .copied()
            .collect()
    }

    /// Every peer known to the tree, ascending.
    pub fn peers(&self) -> Vec<NodeAddr> {
        self.peers.keys().copied().collect()
    }

    fn is_child(&self, peer: &NodeAddr) -> bool {
        self.peers
            .get(peer)
            .and_then(|p| p.announce.as_ref())
            .is_some_and(|a| a.parent == self.me && a.node() != Some(self.me))
    }

    /// A link to `peer` came up: it gets our announce as soon as allowed.
    pub fn add_peer(&mut self, peer: NodeAddr) {
        self.peers.entry(peer).or_default();
        self.announces.owe(peer);
    }

    /// Latest MMP measurements for a peer. `srtt_ms = None` means the link
    /// has no RTT sample yet (see the SRTT gate in parent selection).
    /// Returns whether parent selection may change: the peer is our parent
    /// or could become it, or it was measured for the first time (the SRTT
    /// gate). A descendant's cost never matters; on a hub, whose leaves
    /// report every second, re-running selection (a walk over every peer)
    /// for each of their reports was most of its idle CPU.
    pub fn set_peer_cost(&mut self, peer: NodeAddr, srtt_ms: Option<f64>, etx: f64) -> bool {
        let me = self.me;
        let is_parent = self.parent == Some(peer);
        let p = self.peers.entry(peer).or_default();
        let gate_flips = p.srtt_ms.is_some() != srtt_ms.is_some();
        p.srtt_ms = srtt_ms;
        p.etx = etx;
        gate_flips || is_parent || (p.root().is_some() && !p.contains(&me))
    }

    /// The link to `peer` stopped answering (or answers again). A silent
    /// parent is left at once for any answering candidate, hold-down and
    /// dampening notwithstanding; with none, it is kept (becoming root
    /// over a few seconds of silence would move the whole subtree).
    pub fn set_peer_silent(&mut self, now: Instant, peer: &NodeAddr, silent: bool) -> TreeChange {
        match self.peers.get_mut(peer) {
            Some(p) if p.silent != silent => p.silent = silent,
            _ => return TreeChange::default(),
        }
        self.reconcile(now)
    }

    /// The link to `peer` is gone. Losing the parent reselects at once.
    pub fn remove_peer(&mut self, now: Instant, peer: &NodeAddr) -> TreeChange {
        let was_tree_peer = self.is_tree_peer(peer);
        self.announces.forget(peer);
        if self.peers.remove(peer).is_none() {
            return TreeChange::default();
        }
        let mut change = self.reconcile(now);
        change.tree_peers_changed |= was_tree_peer;
        change
    }

    /// Validate and store a peer's announce (its signature already checked
    /// by the caller against the link identity), then re-run selection.
    pub fn handle_announce(
        &mut self,
        now: Instant,
        from: NodeAddr,
        announce: &Announce,
    ) -> Result<TreeChange, TreeError> {
        validate(from, announce)?;
        let peer = self.peers.entry(from).or_default();
        if let Some(stored) = &peer.announce {
            if announce.seq <= stored.seq {
                return Err(TreeError::Stale {
                    seq: announce.seq,
                    stored: stored.seq,
                });
            }
        }
        let was_child = self.is_child(&from);
        if let Some(p) = self.peers.get_mut(&from) {
            p.announce = Some(announce.clone());
            p.coords = addrs(&announce.ancestry);
        }
        let mut change = self.reconcile(now);
        change.tree_peers_changed |= was_child != self.is_child(&from);
        // A peer on a worse root has a stale view: tell it ours right away.
        if announce.root().is_some_and(|r| r > self.root()) {
            self.queue_announce(&from);
        }
        Ok(change)
    }

    /// Re-run parent selection now (e.g. after cost updates).
    pub fn evaluate(&mut self, now: Instant) -> Option<ParentChange> {
        self.reconcile(now).parent_change
    }

    /// Periodic work: re-evaluation and re-broadcast every `reeval_interval`.
    pub fn handle_timeout(&mut self, now: Instant) -> TreeChange {
        let due = self
            .last_reeval
            .is_none_or(|t| now.duration_since(t) >= self.config.reeval_interval);
        if !due {
            return TreeChange::default();
        }
        self.last_reeval = Some(now);
        let change = self.reconcile(now);
        // Re-broadcast even without change: receivers drop same-seq copies,
        // and a lost announce is repaired within one interval.
        self.queue_all_announces();
        change
    }

    /// When `handle_timeout` or `poll_announce` next has work. An announce
    /// never sent before is sendable at once, so after the caller drained
    /// `poll_announce` only rate-limited ones remain to wait for.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let reeval = self.last_reeval.map(|t| t + self.config.reeval_interval);
        self.announces
            .poll_timeout()
            .into_iter()
            .chain(reeval)
            .min()
    }

    /// Next peer that is owed our announce and is out of its rate limit.
    /// Records the send; the caller sends `my_announce(..)` to it.
    #[must_use]
    pub fn poll_announce(&mut self, now: Instant) -> Option<NodeAddr> {
        let addr = self.announces.poll(now)?;
        self.announces.sent(addr, now);
        Some(addr)
    }

    /// Our current announce, unsigned. The first call after a declaration
    /// change fixes its timestamp, so every copy of one seq is identical.
    pub fn my_announce(&mut self, now_unix_secs: u64) -> Announce {
        let ts = *self.ts.get_or_insert(now_unix_secs);
        if let Some(first) = self.coords.first_mut() {
            first.ts = ts;
        }
        Announce {
            seq: self.seq,
            ts,
            parent: self.parent.unwrap_or(self.me),
            ancestry: self.coords.clone(),
        }
    }

    /// Every peer is owed our announce again (same seq; a peer that has
    /// it drops the copy). Repairs announces lost on lossy links sooner
    /// than the periodic re-broadcast.
    pub fn reannounce(&mut self) {
        self.queue_all_announces();
    }

    pub(super) fn queue_announce(&mut self, peer: &NodeAddr) {
        if self.peers.contains_key(peer) {
            self.announces.owe(*peer);
        }
    }

    pub(super) fn queue_all_announces(&mut self) {
        for peer in self.peers.keys() {
            self.announces.owe(*peer);
        }
    }

    /// A new declaration: bump seq, forget the old timestamp, announce.
    pub(super) fn bump_declaration(&mut self) {
        self.seq += 1;
        self.ts = None;
        if let Some(first) = self.coords.first_mut() {
            first.seq = self.seq;
        }
        self.queue_all_announces();
    }
}

/// The receiver checks of a TreeAnnounce, except freshness and the signature.
fn validate(from: NodeAddr, a: &Announce) -> Result<(), TreeError> {
    let first = a.ancestry.first().ok_or(TreeError::EmptyAncestry)?.node;
    if first != from {
        return Err(TreeError::SenderMismatch { from, first });
    }
    if a.parent == from {
        if a.ancestry.len() != 1 {
            return Err(TreeError::RootAncestryLength {
                count: a.ancestry.len(),
            });
        }
    } else {
        let second = a.ancestry.get(1).map(|e| e.node);
        if second != Some(a.parent) {
            return Err(TreeError::ParentMismatch {
                declared: a.parent,
                ancestry: second,
            });
        }
    }
    let minimum = a.ancestry.iter().map(|e| e.node).min().unwrap_or(first);
    let advertised = a.root().unwrap_or(first);
    if advertised != minimum {
        return Err(TreeError::RootNotMinimum {
            advertised,
            minimum,
        });
    }
    Ok(())
}
