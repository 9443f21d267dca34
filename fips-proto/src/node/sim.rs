//! A deterministic in-process network for `Node`s (after quinn's `Pair` and
//! smoltcp's netsim): a virtual clock, per-link latency, seeded loss and
//! duplication, nodes that can be frozen and restarted, and a tap that
//! records every datagram for replay and tampering tests.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::identity::Identity;

use super::{Node, NodeConfig, PeerConfig, Timers};

/// Wall clock of the simulated world at t = 0 (2026-11-25, ms).
pub(crate) const UNIX_START_MS: u64 = 1_795_600_000_000;

#[derive(Clone, Copy, Debug)]
pub(crate) struct LinkParams {
    pub latency: Duration,
    pub loss: f64,
    pub duplicate: f64,
}

impl Default for LinkParams {
    fn default() -> Self {
        LinkParams {
            latency: Duration::from_millis(5),
            loss: 0.0,
            duplicate: 0.0,
        }
    }
}

pub(crate) struct SimNode {
    pub name: String,
    pub identity: Identity,
    pub peers: Vec<PeerConfig>,
    pub addr: SocketAddr,
    pub node: Node,
    /// A down node neither sends, receives nor runs timers (a crashed process).
    pub up: bool,
    /// Every event the node reported, in order.
    pub events: Vec<super::NodeEvent>,
}

/// One datagram seen on the simulated wire.
#[derive(Clone, Debug)]
pub(crate) struct Captured {
    pub at: Instant,
    pub from: usize,
    pub to: usize,
    pub bytes: Vec<u8>,
}

type Flight = Reverse<(Instant, u64, usize, usize, Vec<u8>)>;

pub(crate) struct Sim {
    pub start: Instant,
    pub now: Instant,
    pub nodes: Vec<SimNode>,
    links: BTreeMap<(usize, usize), LinkParams>,
    in_flight: BinaryHeap<Flight>,
    rng: ChaCha8Rng,
    seq: u64,
    pub capture: Vec<Captured>,
    /// Timers for nodes booted from now on.
    pub timers: Timers,
}

impl Sim {
    pub(crate) fn new(seed: u64) -> Self {
        let start = Instant::now();
        Sim {
            start,
            now: start,
            nodes: Vec::new(),
            links: BTreeMap::new(),
            in_flight: BinaryHeap::new(),
            rng: ChaCha8Rng::seed_from_u64(seed),
            seq: 0,
            capture: Vec::new(),
            timers: Timers::default(),
        }
    }

    pub(crate) fn addr_of(i: usize) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, i as u8 + 1)), 2121)
    }

    /// Adds a node; `peers` are the node indices it dials (auto-connect).
    pub(crate) fn add_node(&mut self, name: &str, identity: Identity) -> usize {
        let i = self.nodes.len();
        let node = self.boot(&identity, Vec::new());
        self.nodes.push(SimNode {
            name: name.to_owned(),
            identity,
            peers: Vec::new(),
            addr: Self::addr_of(i),
            node,
            up: true,
            events: Vec::new(),
        });
        i
    }

    fn boot(&mut self, identity: &Identity, peers: Vec<PeerConfig>) -> Node {
        let mut seed = [0u8; 32];
        self.rng.fill_bytes(&mut seed);
        let cfg = NodeConfig {
            identity: identity.clone(),
            peers,
            link_mtu: 1280,
            tun_mtu: 1203,
            timers: self.timers.clone(),
        };
        let unix = UNIX_START_MS + self.elapsed().as_millis() as u64;
        Node::new(cfg, seed, self.now, unix)
    }

    pub(crate) fn peer_config(&self, j: usize) -> PeerConfig {
        PeerConfig {
            identity: *self.nodes[j].identity.public(),
            alias: Some(self.nodes[j].name.clone()),
            addrs: vec![self.nodes[j].addr],
            auto_connect: true,
        }
    }

    /// Wires `a`–`b` and makes `a` dial `b` (and remember it across restarts).
    pub(crate) fn dial(&mut self, a: usize, b: usize, params: LinkParams) {
        self.connect_wire(a, b, params);
        let pc = self.peer_config(b);
        self.nodes[a].peers.push(pc.clone());
        let now = self.now;
        self.nodes[a].node.connect(now, pc);
    }

    /// Lets datagrams flow between `a` and `b` with `params`, both ways.
    pub(crate) fn connect_wire(&mut self, a: usize, b: usize, params: LinkParams) {
        self.links.insert((a, b), params);
        self.links.insert((b, a), params);
    }

    pub(crate) fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// Freezes a node (crash): nothing in, nothing out, no timers.
    pub(crate) fn crash(&mut self, i: usize) {
        self.nodes[i].up = false;
    }

    /// Starts a fresh process for node `i`: same key and peers, new epoch.
    pub(crate) fn restart(&mut self, i: usize) {
        let identity = self.nodes[i].identity.clone();
        let peers = self.nodes[i].peers.clone();
        let node = self.boot(&identity, peers);
        self.nodes[i].node = node;
        self.nodes[i].up = true;
    }

    /// Hands `bytes` to node `to` as if sent by node `from`, now.
    pub(crate) fn inject(&mut self, from: usize, to: usize, bytes: &[u8]) {
        let mut data = bytes.to_vec();
        let (now, src) = (self.now, Self::addr_of(from));
        self.nodes[to].node.handle_datagram(now, src, &mut data);
    }

    fn index_of(addr: SocketAddr) -> Option<usize> {
        match addr.ip() {
            IpAddr::V4(v4) => Some(usize::from(v4.octets()[3]).checked_sub(1)?),
            IpAddr::V6(_) => None,
        }
    }

    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && (self.rng.next_u64() as f64 / u64::MAX as f64) < p
    }

    /// Moves every queued transmit onto the wire (loss, duplication, latency).
    fn collect_outputs(&mut self) {
        let mut buf = Vec::new();
        for from in 0..self.nodes.len() {
            while let Some(dst) = self.nodes[from].node.poll_transmit(&mut buf) {
                if !self.nodes[from].up {
                    continue;
                }
                let Some(to) = Self::index_of(dst) else {
                    continue;
                };
                let Some(params) = self.links.get(&(from, to)).copied() else {
                    continue;
                };
                self.capture.push(Captured {
                    at: self.now,
                    from,
                    to,
                    bytes: buf.clone(),
                });
                if self.chance(params.loss) {
                    continue;
                }
                let copies = if self.chance(params.duplicate) { 2 } else { 1 };
                for _ in 0..copies {
                    self.seq += 1;
                    let at = self.now + params.latency;
                    self.in_flight
                        .push(Reverse((at, self.seq, from, to, buf.clone())));
                }
            }
            while let Some(e) = self.nodes[from].node.poll_event() {
                self.nodes[from].events.push(e);
            }
        }
    }

    fn next_event(&self) -> Option<Instant> {
        let net = self.in_flight.peek().map(|Reverse((t, ..))| *t);
        let timers = self
            .nodes
            .iter()
            .filter(|n| n.up)
            .filter_map(|n| n.node.poll_timeout());
        net.into_iter().chain(timers).min()
    }

    /// Runs the world for `d` of virtual time.
    pub(crate) fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        let mut same_instant = 0u32;
        loop {
            self.collect_outputs();
            let Some(t) = self.next_event().filter(|t| *t <= end) else {
                self.now = end;
                return;
            };
            // A timer that never moves forward would spin here forever.
            same_instant = if t <= self.now { same_instant + 1 } else { 0 };
            assert!(
                same_instant < 10_000,
                "a node's poll_timeout is stuck at {t:?}"
            );
            self.now = self.now.max(t);
            self.deliver_due();
            let now = self.now;
            for n in self.nodes.iter_mut().filter(|n| n.up) {
                if n.node.poll_timeout().is_some_and(|t| t <= now) {
                    n.node.handle_timeout(now);
                }
            }
        }
    }

    fn deliver_due(&mut self) {
        while let Some(Reverse((t, ..))) = self.in_flight.peek() {
            if *t > self.now {
                break;
            }
            let Some(Reverse((_, _, from, to, mut data))) = self.in_flight.pop() else {
                break;
            };
            if self.nodes[to].up {
                let (now, src) = (self.now, Self::addr_of(from));
                self.nodes[to].node.handle_datagram(now, src, &mut data);
            }
        }
    }

    pub(crate) fn node(&self, i: usize) -> &Node {
        &self.nodes[i].node
    }

    pub(crate) fn node_mut(&mut self, i: usize) -> &mut Node {
        &mut self.nodes[i].node
    }

    /// Whether `a` has `b` as an authenticated peer.
    pub(crate) fn linked(&self, a: usize, b: usize) -> bool {
        let addr = self.nodes[b].identity.node_addr();
        self.nodes[a].node.peer_addrs().contains(&addr)
    }
}

/// The five nodes of the static test mesh (identity.json), in order a..e.
pub(crate) fn mesh_identities() -> Vec<(String, Identity)> {
    let v: serde_json::Value =
        serde_json::from_str(include_str!("../../../testdata/identity.json")).expect("json");
    v["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter(|n| n["name"].as_str().is_some_and(|s| s.len() == 1))
        .map(|n| {
            let name = n["name"].as_str().unwrap_or_default().to_owned();
            let id = Identity::from_secret_str(n["nsec_hex"].as_str().unwrap_or_default())
                .expect("identity");
            (name, id)
        })
        .collect()
}
