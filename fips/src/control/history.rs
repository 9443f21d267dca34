//! Stats history for the `show_stats_*` commands (the reference's
//! fipstop Graphs tab): one sample a second of node-level and per-peer
//! figures, kept in fixed rings — 3600 one-second slots (1 h) and 1440
//! one-minute slots (24 h) per metric — for at most [`MAX_PEERS`] peers.
//!
//! Pure data: the daemon hands it a [`NodeSample`] and [`PeerSample`]s with
//! the time; it owns no node state and does no I/O. Gaps (a peer absent,
//! no RTT measured yet, a counter that went backwards) are NaN, which the
//! replies write as `null`, as the reference does. Values are `f32`: half
//! the memory of `f64`, and more precision than a graph shows.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use fips_proto::node::snapshot::PeerName;

use super::reply::display_name;

/// One-second slots per metric (1 hour).
pub const FAST_SLOTS: usize = 3600;
/// One-minute slots per metric (24 hours).
pub const SLOW_SLOTS: usize = 1440;
/// Fast samples folded into one slow sample.
const PER_MINUTE: u64 = 60;
/// Peers tracked at once; a new peer beyond this replaces the tracked peer
/// gone longest, or is not tracked while every tracked one is up.
pub const MAX_PEERS: usize = 16;
/// A peer gone this long is forgotten.
pub const PEER_RETENTION: Duration = Duration::from_secs(24 * 3600);

/// How a minute of one-second samples becomes one sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fold {
    Last,
    Sum,
    Mean,
}

/// Node-level metrics, with the reference's names and units.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    MeshSize,
    TreeDepth,
    PeerCount,
    ParentSwitches,
    BytesIn,
    BytesOut,
    PacketsIn,
    PacketsOut,
    LossRate,
    ActiveSessions,
}

impl Metric {
    pub const ALL: [Metric; 10] = [
        Metric::MeshSize,
        Metric::TreeDepth,
        Metric::PeerCount,
        Metric::ParentSwitches,
        Metric::BytesIn,
        Metric::BytesOut,
        Metric::PacketsIn,
        Metric::PacketsOut,
        Metric::LossRate,
        Metric::ActiveSessions,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Metric::MeshSize => "mesh_size",
            Metric::TreeDepth => "tree_depth",
            Metric::PeerCount => "peer_count",
            Metric::ParentSwitches => "parent_switches",
            Metric::BytesIn => "bytes_in",
            Metric::BytesOut => "bytes_out",
            Metric::PacketsIn => "packets_in",
            Metric::PacketsOut => "packets_out",
            Metric::LossRate => "loss_rate",
            Metric::ActiveSessions => "active_sessions",
        }
    }

    pub fn unit(self) -> &'static str {
        match self {
            Metric::MeshSize => "nodes",
            Metric::TreeDepth => "hops",
            Metric::PeerCount => "peers",
            Metric::ParentSwitches => "events/s",
            Metric::BytesIn | Metric::BytesOut => "bytes/s",
            Metric::PacketsIn | Metric::PacketsOut => "packets/s",
            Metric::LossRate => "fraction",
            Metric::ActiveSessions => "sessions",
        }
    }

    fn fold(self) -> Fold {
        match self {
            Metric::MeshSize | Metric::TreeDepth | Metric::PeerCount | Metric::ActiveSessions => {
                Fold::Last
            }
            Metric::ParentSwitches => Fold::Sum,
            _ => Fold::Mean,
        }
    }

    pub fn from_name(name: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.name() == name)
    }
}

/// Per-peer metrics (a separate namespace: some names repeat).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerMetric {
    SrttMs,
    LossRate,
    BytesIn,
    BytesOut,
    PacketsIn,
    PacketsOut,
    EcnCe,
}

impl PeerMetric {
    pub const ALL: [PeerMetric; 7] = [
        PeerMetric::SrttMs,
        PeerMetric::LossRate,
        PeerMetric::BytesIn,
        PeerMetric::BytesOut,
        PeerMetric::PacketsIn,
        PeerMetric::PacketsOut,
        PeerMetric::EcnCe,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PeerMetric::SrttMs => "srtt_ms",
            PeerMetric::LossRate => "loss_rate",
            PeerMetric::BytesIn => "bytes_in",
            PeerMetric::BytesOut => "bytes_out",
            PeerMetric::PacketsIn => "packets_in",
            PeerMetric::PacketsOut => "packets_out",
            PeerMetric::EcnCe => "ecn_ce",
        }
    }

    pub fn unit(self) -> &'static str {
        match self {
            PeerMetric::SrttMs => "ms",
            PeerMetric::LossRate => "fraction",
            PeerMetric::BytesIn | PeerMetric::BytesOut => "bytes/s",
            PeerMetric::PacketsIn | PeerMetric::PacketsOut => "packets/s",
            PeerMetric::EcnCe => "events/s",
        }
    }

    fn fold(self) -> Fold {
        match self {
            PeerMetric::EcnCe => Fold::Sum,
            _ => Fold::Mean,
        }
    }

    fn is_counter(self) -> bool {
        !matches!(self, PeerMetric::SrttMs | PeerMetric::LossRate)
    }

    pub fn from_name(name: &str) -> Option<PeerMetric> {
        PeerMetric::ALL.into_iter().find(|m| m.name() == name)
    }
}

/// Which ring a query reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Granularity {
    Second,
    Minute,
}

impl Granularity {
    pub fn seconds(self) -> u64 {
        match self {
            Granularity::Second => 1,
            Granularity::Minute => 60,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Granularity::Second => "1s",
            Granularity::Minute => "1m",
        }
    }

    /// `1s` or `1m`, the reference's spellings.
    pub fn parse(s: &str) -> Option<Granularity> {
        match s {
            "1s" => Some(Granularity::Second),
            "1m" => Some(Granularity::Minute),
            _ => None,
        }
    }
}

/// The node's figures at one tick; totals are monotonic counters.
#[derive(Clone, Debug, Default)]
pub struct NodeSample {
    pub mesh_size: Option<u64>,
    pub tree_depth: u64,
    pub peer_count: u64,
    /// The tree parent (node address); a change counts as a parent switch.
    pub parent: String,
    pub bytes_in_total: u64,
    pub bytes_out_total: u64,
    pub packets_in_total: u64,
    pub packets_out_total: u64,
    pub loss_rate: f64,
    pub active_sessions: u64,
}

/// One up peer's figures at one tick.
#[derive(Clone, Debug, Default)]
pub struct PeerSample {
    /// Hex node address, the key.
    pub node_addr: String,
    pub label: PeerLabel,
    pub srtt_ms: Option<f64>,
    pub loss_rate: Option<f64>,
    pub bytes_in_total: u64,
    pub bytes_out_total: u64,
    pub packets_in_total: u64,
    pub packets_out_total: u64,
    pub ecn_ce_total: u64,
}

/// How a sampled peer is named: its npub and display name, worked out
/// (two bech32 encodings) only for the few peers tracked, not for each of
/// the thousands a hub samples every second.
#[derive(Clone, Debug, Default)]
pub enum PeerLabel {
    #[default]
    Unnamed,
    Text {
        npub: String,
        display_name: String,
    },
    Peer(PeerName),
}

impl PeerLabel {
    fn names(&self) -> (String, String) {
        match self {
            PeerLabel::Unnamed => (String::new(), String::new()),
            PeerLabel::Text { npub, display_name } => (npub.clone(), display_name.clone()),
            PeerLabel::Peer(p) => (p.identity.npub(), display_name(p)),
        }
    }
}

/// A minute's running fold.
#[derive(Clone, Copy, Debug, Default)]
struct Fold60 {
    sum: f64,
    count: u32,
    last: f32,
    seen: u32,
}

/// One metric's two rings.
#[derive(Debug)]
struct Ring {
    fast: VecDeque<f32>,
    slow: VecDeque<f32>,
    minute: Fold60,
    fold: Fold,
    prev_total: Option<u64>,
}

impl Ring {
    fn new(fold: Fold) -> Ring {
        Ring {
            fast: VecDeque::new(),
            slow: VecDeque::new(),
            minute: Fold60::default(),
            fold,
            prev_total: None,
        }
    }

    /// A ring already `ticks` samples long, all gaps, so a new peer's
    /// series line up with the node's.
    fn backfilled(fold: Fold, ticks: u64) -> Ring {
        let mut r = Ring::new(fold);
        let fast = (ticks as usize).min(FAST_SLOTS);
        let slow = ((ticks / PER_MINUTE) as usize).min(SLOW_SLOTS);
        r.fast.extend(std::iter::repeat_n(f32::NAN, fast));
        r.slow.extend(std::iter::repeat_n(f32::NAN, slow));
        r
    }

    fn push(&mut self, v: f32) {
        if self.fast.len() == FAST_SLOTS {
            self.fast.pop_front();
        }
        self.fast.push_back(v);
        self.minute.seen += 1;
        if !v.is_nan() {
            self.minute.sum += f64::from(v);
            self.minute.count += 1;
            self.minute.last = v;
        }
    }

    fn end_minute(&mut self) {
        let m = std::mem::take(&mut self.minute);
        if m.seen == 0 {
            return;
        }
        let v = match (m.count, self.fold) {
            (0, _) => f32::NAN,
            (_, Fold::Last) => m.last,
            (_, Fold::Sum) => m.sum as f32,
            (n, Fold::Mean) => (m.sum / f64::from(n)) as f32,
        };
        if self.slow.len() == SLOW_SLOTS {
            self.slow.pop_front();
        }
        self.slow.push_back(v);
    }

    /// The last `window / granularity` samples (at most a ring), oldest
    /// first, front-padded with gaps to the full width.
    fn series(&self, window: Duration, g: Granularity) -> Vec<f32> {
        let (src, cap) = match g {
            Granularity::Second => (&self.fast, FAST_SLOTS),
            Granularity::Minute => (&self.slow, SLOW_SLOTS),
        };
        let want = ((window.as_secs() / g.seconds()) as usize).min(cap);
        let have = src.len().min(want);
        let mut out = vec![f32::NAN; want - have];
        out.extend(src.iter().skip(src.len() - have));
        out
    }

    /// Delta of a counter since the last tick; `first` when there is no
    /// baseline, a gap when the counter went backwards (a new link).
    fn delta(&mut self, total: u64, first: f32) -> f32 {
        match self.prev_total.replace(total) {
            None => first,
            Some(p) if total < p => f32::NAN,
            Some(p) => (total - p) as f32,
        }
    }
}

/// One tracked peer: its rings and when it was seen.
#[derive(Debug)]
pub struct PeerRings {
    rings: Vec<Ring>,
    pub npub: String,
    pub display_name: String,
    pub first_seen: Instant,
    pub last_contact: Instant,
    /// Up at the last tick.
    pub active: bool,
}

impl PeerRings {
    fn ring(&self, m: PeerMetric) -> &Ring {
        &self.rings[m as usize]
    }

    pub fn series(&self, m: PeerMetric, window: Duration, g: Granularity) -> Vec<f32> {
        self.ring(m).series(window, g)
    }

    fn push(&mut self, s: &PeerSample, now: Instant) {
        self.last_contact = now;
        self.active = true;
        (self.npub, self.display_name) = s.label.names();
        for m in PeerMetric::ALL {
            let r = &mut self.rings[m as usize];
            let v = match m {
                PeerMetric::SrttMs => s.srtt_ms.map_or(f32::NAN, |v| v as f32),
                PeerMetric::LossRate => s.loss_rate.map_or(f32::NAN, |v| v as f32),
                PeerMetric::BytesIn => r.delta(s.bytes_in_total, f32::NAN),
                PeerMetric::BytesOut => r.delta(s.bytes_out_total, f32::NAN),
                PeerMetric::PacketsIn => r.delta(s.packets_in_total, f32::NAN),
                PeerMetric::PacketsOut => r.delta(s.packets_out_total, f32::NAN),
                PeerMetric::EcnCe => r.delta(s.ecn_ce_total, f32::NAN),
            };
            r.push(v);
        }
    }

    /// Absent this tick: a gap everywhere, and no counter baseline (the
    /// next delta would span the absence).
    fn push_gap(&mut self) {
        self.active = false;
        for m in PeerMetric::ALL {
            let r = &mut self.rings[m as usize];
            r.push(f32::NAN);
            if m.is_counter() {
                r.prev_total = None;
            }
        }
    }
}

/// The node-level rings and the tracked peers.
#[derive(Debug)]
pub struct StatsHistory {
    rings: Vec<Ring>,
    peers: BTreeMap<String, PeerRings>,
    ticks: u64,
    last_parent: Option<String>,
    parent_switches: u64,
    /// Peers not tracked because [`MAX_PEERS`] were up.
    pub untracked: u64,
}

impl Default for StatsHistory {
    fn default() -> Self {
        StatsHistory {
            rings: Metric::ALL.iter().map(|m| Ring::new(m.fold())).collect(),
            peers: BTreeMap::new(),
            ticks: 0,
            last_parent: None,
            parent_switches: 0,
            untracked: 0,
        }
    }
}

impl StatsHistory {
    /// Records one second: a sample per metric, per tracked peer.
    pub fn tick(&mut self, now: Instant, node: &NodeSample, peers: &[PeerSample]) {
        self.count_parent_switch(&node.parent);
        let switches = self.parent_switches;
        for m in Metric::ALL {
            let r = &mut self.rings[m as usize];
            let v = match m {
                Metric::MeshSize => node.mesh_size.unwrap_or(0) as f32,
                Metric::TreeDepth => node.tree_depth as f32,
                Metric::PeerCount => node.peer_count as f32,
                Metric::ParentSwitches => r.delta(switches, 0.0),
                Metric::BytesIn => r.delta(node.bytes_in_total, 0.0),
                Metric::BytesOut => r.delta(node.bytes_out_total, 0.0),
                Metric::PacketsIn => r.delta(node.packets_in_total, 0.0),
                Metric::PacketsOut => r.delta(node.packets_out_total, 0.0),
                Metric::LossRate => node.loss_rate as f32,
                Metric::ActiveSessions => node.active_sessions as f32,
            };
            r.push(v);
        }
        self.tick_peers(now, peers);
        self.ticks += 1;
        if self.ticks.is_multiple_of(PER_MINUTE) {
            self.rings.iter_mut().for_each(Ring::end_minute);
            for p in self.peers.values_mut() {
                p.rings.iter_mut().for_each(Ring::end_minute);
            }
        }
    }

    fn count_parent_switch(&mut self, parent: &str) {
        if self.last_parent.as_deref().is_some_and(|p| p != parent) {
            self.parent_switches += 1;
        }
        self.last_parent = Some(parent.to_string());
    }

    fn tick_peers(&mut self, now: Instant, peers: &[PeerSample]) {
        self.peers
            .retain(|_, p| now.saturating_duration_since(p.last_contact) < PEER_RETENTION);
        for p in self.peers.values_mut() {
            p.active = false;
        }
        // Which tracked peers are up, first: only one that is not may make
        // room for a newcomer. One lookup per sample; a hub samples
        // thousands, and searching them for each newcomer could be
        // quadratic.
        for s in peers {
            if let Some(p) = self.peers.get_mut(&s.node_addr) {
                p.active = true;
            }
        }
        let mut full = false;
        for s in peers {
            if let Some(rings) = self.peers.get_mut(&s.node_addr) {
                rings.push(s, now);
                continue;
            }
            full = full || !self.make_room();
            if full {
                self.untracked += 1;
                continue;
            }
            let ticks = self.ticks;
            let rings = self
                .peers
                .entry(s.node_addr.clone())
                .or_insert_with(|| PeerRings {
                    rings: PeerMetric::ALL
                        .iter()
                        .map(|m| Ring::backfilled(m.fold(), ticks))
                        .collect(),
                    npub: String::new(),
                    display_name: String::new(),
                    first_seen: now,
                    last_contact: now,
                    active: true,
                });
            rings.push(s, now);
        }
        for p in self.peers.values_mut().filter(|p| !p.active) {
            p.push_gap();
        }
    }

    /// Frees a slot for a new peer: true if there is one now. Only a peer
    /// that is not up this tick is evicted (the one gone longest).
    fn make_room(&mut self) -> bool {
        if self.peers.len() < MAX_PEERS {
            return true;
        }
        let gone = self
            .peers
            .iter()
            .filter(|(_, p)| !p.active)
            .min_by_key(|(_, p)| p.last_contact)
            .map(|(k, _)| k.clone());
        gone.is_some_and(|k| self.peers.remove(&k).is_some())
    }

    pub fn series(&self, m: Metric, window: Duration, g: Granularity) -> Vec<f32> {
        self.rings[m as usize].series(window, g)
    }

    /// The last `n` one-second samples of a node-level metric.
    pub fn recent(&self, m: Metric, n: usize) -> Vec<f32> {
        let fast = &self.rings[m as usize].fast;
        fast.iter()
            .skip(fast.len().saturating_sub(n))
            .copied()
            .collect()
    }

    /// Changes of tree parent seen at the one-second ticks.
    pub fn parent_switches(&self) -> u64 {
        self.parent_switches
    }

    pub fn peer(&self, node_addr: &str) -> Option<&PeerRings> {
        self.peers.get(node_addr)
    }

    /// Tracked peers by hex node address.
    pub fn peers(&self) -> impl Iterator<Item = (&String, &PeerRings)> {
        self.peers.iter()
    }
}

#[cfg(test)]
#[path = "history_tests.rs"]
mod tests;
