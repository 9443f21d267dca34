//! Experiments on a built `Mesh`: tree convergence, control traffic,
//! lookups with their route stretch, and bloom filter saturation. Each
//! runs the simulator forward and reads the nodes' state; none changes a
//! node other than through its public inputs.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::time::Duration;

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::ipv6::icmp::TYPE_ECHO_REQUEST;
use crate::NodeAddr;

use super::mesh::Mesh;
use super::tap::{MsgKind, WireTap};

/// How long the tree took to settle. Nodes left without any live peer
/// ("stranded", e.g. leaves of a dead hub) are counted apart: they only
/// become their own root once their link is declared dead.
#[derive(Clone, Debug)]
pub struct Convergence {
    /// Since the experiment began, when the last connected node's root or
    /// coordinates last changed before the first `quiet` stretch.
    pub first_settled_after: Option<Duration>,
    /// ... and before the end of the observation (`None`: still changing
    /// at the limit). Later than the first when parents move again, e.g.
    /// at the periodic re-evaluation, once link costs are measured.
    pub settled_after: Option<Duration>,
    /// When every connected node first had its component's root.
    pub roots_agree_after: Option<Duration>,
    /// Connected nodes whose coordinates changed during the run.
    pub moved: usize,
    pub stranded: usize,
    /// When every stranded node was its own root.
    pub stranded_rooted_after: Option<Duration>,
    /// Per probe: (time, connected nodes without their component's root,
    /// connected nodes whose root or coordinates changed since the
    /// previous probe).
    pub timeline: Vec<(Duration, usize, usize)>,
}

/// How long `converge` watches: at least `observe`, at most `limit`.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    pub observe: Duration,
    pub limit: Duration,
}

/// What `converge` checks each node against.
enum Expect {
    Down,
    Stranded(NodeAddr),
    Root(NodeAddr),
}

impl Mesh {
    /// Runs until every connected up node has the smallest address of its
    /// component as root, no such node's coordinates changed for `quiet`
    /// and every stranded node is its own root, and at least `observe` has
    /// passed; probing every `probe`, for at most `limit`.
    pub fn converge(&mut self, probe: Duration, quiet: Duration, window: Window) -> Convergence {
        let Window { observe, limit } = window;
        let start = self.sim.now;
        let expected = self.expected_roots();
        let mut c = Convergence {
            first_settled_after: None,
            settled_after: None,
            roots_agree_after: None,
            moved: 0,
            stranded: expected
                .iter()
                .filter(|e| matches!(e, Expect::Stranded(_)))
                .count(),
            stranded_rooted_after: None,
            timeline: Vec::new(),
        };
        let mut last = self.tree_states();
        let mut changed_at = vec![None; last.len()];
        while self.sim.now - start < limit {
            self.sim.run_for(probe);
            let now = self.sim.now - start;
            let states = self.tree_states();
            let (mut wrong, mut changed, mut stranded_wrong) = (0, 0, 0);
            for (i, e) in expected.iter().enumerate() {
                match e {
                    Expect::Down => {}
                    Expect::Stranded(me) => stranded_wrong += usize::from(states[i].0 != *me),
                    Expect::Root(root) => {
                        wrong += usize::from(states[i].0 != *root);
                        if states[i] != last[i] {
                            changed_at[i] = Some(now);
                            changed += 1;
                        }
                    }
                }
            }
            last = states;
            c.timeline.push((now, wrong, changed));
            if wrong == 0 && c.roots_agree_after.is_none() {
                c.roots_agree_after = Some(now);
            }
            if stranded_wrong == 0 && c.stranded_rooted_after.is_none() {
                c.stranded_rooted_after = Some(now);
            }
            let quiet_since = changed_at
                .iter()
                .flatten()
                .max()
                .copied()
                .unwrap_or_default();
            c.moved = changed_at.iter().flatten().count();
            let settled = wrong == 0 && now - quiet_since >= quiet;
            c.settled_after = settled.then_some(quiet_since);
            if settled && c.first_settled_after.is_none() {
                c.first_settled_after = Some(quiet_since);
            }
            if settled && stranded_wrong == 0 && now >= observe {
                break;
            }
        }
        c
    }

    /// (root, hash of coordinates) of every node; down nodes are default.
    fn tree_states(&self) -> Vec<(NodeAddr, u64)> {
        let nodes = &self.sim.nodes;
        nodes
            .iter()
            .map(|n| {
                if !n.up {
                    return (NodeAddr::default(), 0);
                }
                let mut h = DefaultHasher::new();
                n.node.tree.my_coords().hash(&mut h);
                (n.node.tree.root(), h.finish())
            })
            .collect()
    }

    /// What each node should end with: the smallest address of its
    /// component (what the tree elects), or itself when it has no live peer.
    fn expected_roots(&self) -> Vec<Expect> {
        let comp = self.components();
        let mut min: HashMap<usize, (NodeAddr, usize)> = HashMap::new();
        for (i, &c) in comp.iter().enumerate().filter(|(_, c)| **c != usize::MAX) {
            let a = self.sim.nodes[i].identity.node_addr();
            let e = min.entry(c).or_insert((a, 0));
            e.0 = e.0.min(a);
            e.1 += 1;
        }
        comp.iter()
            .enumerate()
            .map(|(i, c)| match min.get(c) {
                None => Expect::Down,
                Some((_, 1)) => Expect::Stranded(self.sim.nodes[i].identity.node_addr()),
                Some((root, _)) => Expect::Root(*root),
            })
            .collect()
    }

    /// Control bytes per up node per minute over `window`, in total and by
    /// message kind (delivered bytes; `total` counts every datagram sent).
    pub fn traffic(&mut self, window: Duration) -> Traffic {
        self.sim.tap = WireTap::default();
        self.sim.run_for(window);
        let up = self.sim.nodes.iter().filter(|n| n.up).count().max(1) as f64;
        let per = |b: u64| b as f64 / up / (window.as_secs_f64() / 60.0);
        let tap = &self.sim.tap;
        Traffic {
            total: per(tap.sent_bytes),
            by_kind: MsgKind::ALL
                .iter()
                .map(|k| (k.name(), per(tap.bytes[*k as usize])))
                .filter(|(_, b)| *b > 0.0)
                .collect(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Traffic {
    /// Bytes per node per minute.
    pub total: f64,
    pub by_kind: Vec<(&'static str, f64)>,
}

/// What sampled sessions found.
#[derive(Clone, Debug, Default)]
pub struct Lookups {
    pub pairs: usize,
    /// Pairs whose destination got a packet from the source.
    pub reached: usize,
    /// Pairs with a hop count recorded, and their hops vs BFS distance.
    pub measured: usize,
    pub hops: usize,
    pub shortest: usize,
    pub max_stretch: f64,
    /// LookupRequests originated (distinct request ids) and forwarded.
    pub requests: usize,
    pub forwards: usize,
    /// Forwards over a tree link to a peer whose filter claimed a target
    /// that is not on its side of the tree (bloom false positives).
    pub false_forwards: usize,
    /// Forwards over a non-tree link (the fallback when no tree peer's
    /// filter has the target).
    pub off_tree_forwards: usize,
}

impl Lookups {
    pub fn success(&self) -> f64 {
        self.reached as f64 / self.pairs.max(1) as f64
    }

    pub fn mean_stretch(&self) -> f64 {
        self.hops as f64 / self.shortest.max(1) as f64
    }

    pub fn false_per_lookup(&self) -> f64 {
        self.false_forwards as f64 / self.requests.max(1) as f64
    }
}

impl Mesh {
    /// Opens sessions between `pairs` random pairs of up nodes in the same
    /// component, all at once: each source sends one echo request per
    /// second for `duration` (the first waits for discovery and the
    /// handshake). A pair counts as reached when its destination's TUN got
    /// any of them; its hops are those of the last datagram that arrived.
    pub fn lookups(&mut self, pairs: usize, seed: u64, duration: Duration) -> Lookups {
        let sample = self.sample_pairs(pairs, seed);
        self.sim.tap.track_paths = true;
        self.sim.tap.hops.clear();
        self.sim.tap.lookups.clear();
        for &(s, d) in &sample {
            let now = self.sim.now;
            let peer = *self.sim.nodes[d].identity.public();
            self.sim.node_mut(s).learn_identity(now, peer);
        }
        let mut reached = HashSet::new();
        for seq in 0..duration.as_secs().max(1) {
            for &(s, d) in &sample {
                let pkt = echo_request(self.addr(s), self.addr(d), seq as u16);
                let now = self.sim.now;
                self.sim.node_mut(s).handle_tun_packet(now, &pkt);
            }
            self.sim.run_for(Duration::from_secs(1));
            self.drain_tuns(&sample, &mut reached);
        }
        self.sim.tap.track_paths = false;
        let mut out = Lookups {
            pairs: sample.len(),
            reached: reached.len(),
            ..Lookups::default()
        };
        self.score_paths(&sample, &mut out);
        self.score_lookups(&mut out);
        out
    }

    fn addr(&self, i: usize) -> NodeAddr {
        self.sim.nodes[i].identity.node_addr()
    }

    fn sample_pairs(&self, pairs: usize, seed: u64) -> Vec<(usize, usize)> {
        let comp = self.components();
        let n = self.adj.len();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut out = Vec::new();
        for _ in 0..pairs * 20 {
            if out.len() == pairs {
                break;
            }
            let s = (rng.next_u64() % n as u64) as usize;
            let d = (rng.next_u64() % n as u64) as usize;
            if s != d && comp[s] != usize::MAX && comp[s] == comp[d] {
                out.push((s, d));
            }
        }
        out
    }

    /// Drains the TUN of every node in `sample` once, noting which
    /// sampled sources each destination heard from.
    fn drain_tuns(&mut self, sample: &[(usize, usize)], reached: &mut HashSet<(usize, usize)>) {
        let wanted: HashSet<(usize, usize)> = sample.iter().copied().collect();
        let by_ip: HashMap<[u8; 16], usize> = sample
            .iter()
            .map(|&(s, _)| (self.addr(s).ipv6().octets(), s))
            .collect();
        let mut ends: Vec<usize> = sample.iter().flat_map(|&(s, d)| [s, d]).collect();
        ends.sort_unstable();
        ends.dedup();
        let mut buf = Vec::new();
        for d in ends {
            while self.sim.node_mut(d).poll_tun(&mut buf) {
                let src = buf.get(8..24).and_then(|b| <[u8; 16]>::try_from(b).ok());
                if let Some(&s) = src.and_then(|ip| by_ip.get(&ip)) {
                    if wanted.contains(&(s, d)) {
                        reached.insert((s, d));
                    }
                }
            }
        }
    }

    fn score_paths(&self, sample: &[(usize, usize)], out: &mut Lookups) {
        for &(s, d) in sample {
            let Some(&hops) = self.sim.tap.hops.get(&(self.addr(s), self.addr(d))) else {
                continue;
            };
            let shortest = self.bfs(s)[d];
            out.measured += 1;
            out.hops += usize::from(hops);
            out.shortest += shortest;
            out.max_stretch = out.max_stretch.max(f64::from(hops) / shortest as f64);
        }
    }

    /// Classifies every recorded LookupRequest hop against the tree as it
    /// stands now (settled: the same tree the lookups saw).
    fn score_lookups(&self, out: &mut Lookups) {
        let index: HashMap<NodeAddr, usize> =
            (0..self.adj.len()).map(|i| (self.addr(i), i)).collect();
        let mut coords: HashMap<NodeAddr, HashSet<NodeAddr>> = HashMap::new();
        let mut origins = HashSet::new();
        for hop in &self.sim.tap.lookups {
            origins.insert(hop.request_id);
            out.forwards += 1;
            let (m, n) = (self.addr(hop.from), self.addr(hop.to));
            let parent = |i: usize| self.sim.nodes[i].node.tree.parent();
            let side = coords.entry(hop.target).or_insert_with(|| {
                index
                    .get(&hop.target)
                    .map(|&t| {
                        self.sim.nodes[t]
                            .node
                            .tree
                            .my_coords()
                            .into_iter()
                            .collect()
                    })
                    .unwrap_or_default()
            });
            // Below n (n is m's child) or anywhere but below m (n is m's parent).
            let on_n_side = if parent(hop.to) == Some(m) {
                Some(side.contains(&n))
            } else if parent(hop.from) == Some(n) {
                Some(!side.contains(&m))
            } else {
                None
            };
            match on_n_side {
                Some(true) => {}
                Some(false) => out.false_forwards += 1,
                None => out.off_tree_forwards += 1,
            }
        }
        // Forwards include the origin's own sends; requests are attempts.
        out.requests = origins.len();
    }
}

/// An ICMPv6 echo request with a valid checksum.
fn echo_request(src: NodeAddr, dst: NodeAddr, seq: u16) -> Vec<u8> {
    let (s, d) = (src.ipv6().octets(), dst.ipv6().octets());
    crate::ipv6::icmp::echo(TYPE_ECHO_REQUEST, &s, &d, 0x5349, seq, b"fips-meshsim")
}

/// Fill of the bloom filters nodes hold from their tree peers.
#[derive(Clone, Debug, Default)]
pub struct BloomFill {
    pub filters: usize,
    pub mean_fill: f64,
    pub max_fill: f64,
    /// Held filters whose estimated false positive rate is above 5 %.
    pub over_5pct: usize,
    /// FilterAnnounces dropped by receivers as too full (antipoison cap),
    /// summed over all nodes since start.
    pub rejected_full: u64,
    /// Tree links on which the child holds no filter from its parent.
    pub missing_from_parent: usize,
}

impl Mesh {
    pub fn bloom_fill(&self) -> BloomFill {
        let mut f = BloomFill::default();
        let mut sum = 0.0;
        for n in self.sim.nodes.iter().filter(|n| n.up) {
            let (tree, bloom) = (&n.node.tree, &n.node.bloom);
            f.rejected_full += bloom.stats().fill_exceeded;
            if let Some(p) = tree.parent().filter(|p| bloom.inbound(p).is_none()) {
                f.missing_from_parent += usize::from(p != tree.my_addr());
            }
            for p in tree.tree_peers() {
                let Some(filter) = bloom.inbound(&p) else {
                    continue;
                };
                let fill = filter.fill_ratio();
                f.filters += 1;
                sum += fill;
                f.max_fill = f.max_fill.max(fill);
                f.over_5pct += usize::from(filter.false_positive_rate() > 0.05);
            }
        }
        f.mean_fill = sum / f.filters.max(1) as f64;
        f
    }
}
