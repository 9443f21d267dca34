//! Random hub-and-leaf meshes on the simulator, seeded: a few percent of
//! the nodes are hubs, meshed with each other at a random degree (a random
//! spanning tree first, so the hub core is connected); every other node is
//! a leaf that dials one or two random hubs. Link latencies are drawn per
//! link. `measure` runs the experiments on a built `Mesh`.

use std::collections::VecDeque;
use std::time::Duration;

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::identity::Identity;

use super::{LinkParams, Sim};

/// The shape of a random mesh.
#[derive(Clone, Debug)]
pub struct MeshSpec {
    pub nodes: usize,
    pub seed: u64,
    /// Share of the nodes that are hubs, in percent (at least 2 hubs).
    pub hub_percent: f64,
    /// Hub-to-hub degree, drawn uniformly per hub from this range.
    pub hub_degree: (usize, usize),
    /// Share of the leaves that dial two hubs rather than one.
    pub dual_homed: f64,
    /// Hub–hub and leaf–hub one-way latency ranges, in ms.
    pub hub_latency_ms: (u64, u64),
    pub leaf_latency_ms: (u64, u64),
}

impl MeshSpec {
    pub fn new(nodes: usize, seed: u64) -> Self {
        MeshSpec {
            nodes,
            seed,
            hub_percent: 3.0,
            hub_degree: (4, 8),
            dual_homed: 0.5,
            hub_latency_ms: (5, 30),
            leaf_latency_ms: (1, 5),
        }
    }

    pub fn hub_count(&self) -> usize {
        let h = (self.nodes as f64 * self.hub_percent / 100.0).ceil() as usize;
        h.clamp(2.min(self.nodes), self.nodes)
    }
}

/// A built mesh: the simulator and the graph it was wired with.
pub struct Mesh {
    pub sim: Sim,
    /// Node indices `0..hubs` are the hubs.
    pub hubs: usize,
    /// Neighbours of each node.
    pub adj: Vec<Vec<usize>>,
}

/// A seeded stream of draws for building the topology (apart from the
/// simulator's own RNG, so a topology does not depend on node internals).
struct Draw(ChaCha8Rng);

impl Draw {
    fn below(&mut self, n: usize) -> usize {
        (self.0.next_u64() % n as u64) as usize
    }

    fn range(&mut self, (lo, hi): (u64, u64)) -> u64 {
        lo + self.0.next_u64() % (hi - lo + 1)
    }

    fn chance(&mut self, p: f64) -> bool {
        (self.0.next_u64() as f64 / u64::MAX as f64) < p
    }
}

impl Mesh {
    /// Builds the mesh with every node booted and dialling at t = 0.
    pub fn build(spec: &MeshSpec) -> Mesh {
        let mut draw = Draw(ChaCha8Rng::seed_from_u64(spec.seed));
        let mut sim = Sim::new(spec.seed);
        sim.capture_on = false;
        for i in 0..spec.nodes {
            sim.add_node(&format!("n{i}"), identity(&mut draw));
        }
        let mut mesh = Mesh {
            sim,
            hubs: spec.hub_count(),
            adj: vec![Vec::new(); spec.nodes],
        };
        mesh.wire_hubs(spec, &mut draw);
        mesh.wire_leaves(spec, &mut draw);
        mesh
    }

    fn wire_hubs(&mut self, spec: &MeshSpec, draw: &mut Draw) {
        let h = self.hubs;
        for i in 1..h {
            let j = draw.below(i);
            self.link(j, i, draw.range(spec.hub_latency_ms));
        }
        let (lo, hi) = spec.hub_degree;
        for i in 0..h {
            let want = (draw.range((lo as u64, hi as u64)) as usize).min(h - 1);
            // Bounded tries: a hub whose candidates are all full stays short.
            for _ in 0..4 * hi {
                if self.adj[i].len() >= want {
                    break;
                }
                let j = draw.below(h);
                if j != i && !self.adj[i].contains(&j) && self.adj[j].len() < hi {
                    self.link(i, j, draw.range(spec.hub_latency_ms));
                }
            }
        }
    }

    fn wire_leaves(&mut self, spec: &MeshSpec, draw: &mut Draw) {
        for leaf in self.hubs..spec.nodes {
            let first = draw.below(self.hubs);
            self.link(leaf, first, draw.range(spec.leaf_latency_ms));
            if self.hubs > 1 && draw.chance(spec.dual_homed) {
                let second = (first + 1 + draw.below(self.hubs - 1)) % self.hubs;
                self.link(leaf, second, draw.range(spec.leaf_latency_ms));
            }
        }
    }

    /// `a` dials `b` over a link of `latency_ms`.
    fn link(&mut self, a: usize, b: usize, latency_ms: u64) {
        let params = LinkParams {
            latency: Duration::from_millis(latency_ms),
            ..LinkParams::default()
        };
        self.sim.dial(a, b, params);
        self.adj[a].push(b);
        self.adj[b].push(a);
    }

    pub fn links(&self) -> usize {
        self.adj.iter().map(Vec::len).sum::<usize>() / 2
    }

    /// The hub with the most links (the lowest index on a tie).
    pub fn best_connected_hub(&self) -> usize {
        (0..self.hubs)
            .max_by_key(|&i| (self.adj[i].len(), std::cmp::Reverse(i)))
            .unwrap_or(0)
    }

    /// Hop distances from `src` over links between up nodes (`usize::MAX`
    /// where unreachable).
    pub fn bfs(&self, src: usize) -> Vec<usize> {
        let mut dist = vec![usize::MAX; self.adj.len()];
        dist[src] = 0;
        let mut queue = VecDeque::from([src]);
        while let Some(i) = queue.pop_front() {
            for &j in &self.adj[i] {
                if dist[j] == usize::MAX && self.sim.nodes[j].up {
                    dist[j] = dist[i] + 1;
                    queue.push_back(j);
                }
            }
        }
        dist
    }

    /// The connected component of every up node (`usize::MAX` for down
    /// nodes), numbered from 0.
    pub fn components(&self) -> Vec<usize> {
        let mut comp = vec![usize::MAX; self.adj.len()];
        let mut next = 0;
        for i in 0..self.adj.len() {
            if comp[i] != usize::MAX || !self.sim.nodes[i].up {
                continue;
            }
            for (j, d) in self.bfs(i).into_iter().enumerate() {
                if d != usize::MAX {
                    comp[j] = next;
                }
            }
            next += 1;
        }
        comp
    }
}

/// A fresh identity from the topology's seed.
fn identity(draw: &mut Draw) -> Identity {
    loop {
        let mut secret = [0u8; 32];
        draw.0.fill_bytes(&mut secret);
        // All but a 2^-128 share of 32-byte strings are valid keys.
        if let Ok(id) = Identity::from_secret_bytes(secret) {
            return id;
        }
    }
}
