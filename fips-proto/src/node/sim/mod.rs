//! A deterministic in-process network for `Node`s (after quinn's `Pair` and
//! smoltcp's netsim): a virtual clock, per-link latency, seeded loss and
//! duplication, nodes that can be frozen and restarted, an optional capture
//! of every datagram for replay and tampering tests, and a tap that counts
//! what crosses the wire (see `tap`).
//!
//! It scales to tens of thousands of nodes: node timers sit in a heap
//! (re-armed only for nodes that were touched), only touched nodes are
//! polled for output, and node `i` is at 10.x.y.z with x.y.z = i + 1
//! (24 bits). `mesh` builds random hub-and-leaf meshes on it and measures
//! them (the `meshsim` example, behind the `sim` feature).

pub mod measure;
pub mod mesh;
pub mod tap;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::identity::Identity;

use super::{Node, NodeConfig, PeerConfig, Timers};
pub use measure::{BloomFill, Convergence, Lookups, Traffic, Window};
pub use mesh::{Mesh, MeshSpec};
pub use tap::{MsgKind, WireTap};

/// Wall clock of the simulated world at t = 0 (2026-11-25, ms).
pub const UNIX_START_MS: u64 = 1_795_600_000_000;

/// Node indices fit the three low octets of 10.0.0.0/8 (minus one).
pub const MAX_NODES: usize = (1 << 24) - 2;

#[derive(Clone, Copy, Debug)]
pub struct LinkParams {
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

pub struct SimNode {
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
pub struct Captured {
    pub at: Instant,
    pub from: usize,
    pub to: usize,
    pub bytes: Vec<u8>,
}

type Flight = Reverse<(Instant, u64, usize, usize, Vec<u8>)>;

pub struct Sim {
    pub start: Instant,
    pub now: Instant,
    /// Read freely; feed a node only through `node_mut` (or `inject`), so
    /// the sim knows to drain it and re-arm its timer.
    pub nodes: Vec<SimNode>,
    links: HashMap<(usize, usize), LinkParams>,
    in_flight: BinaryHeap<Flight>,
    /// (due, node): a node's `poll_timeout` as of its last poll. Entries
    /// that no longer match `armed` are stale and skipped.
    timer_heap: BinaryHeap<Reverse<(Instant, usize)>>,
    armed: Vec<Option<Instant>>,
    /// Nodes fed an input since their outputs were last drained.
    dirty: Vec<usize>,
    is_dirty: Vec<bool>,
    rng: ChaCha8Rng,
    seq: u64,
    /// Every datagram sent, while `capture_on` (tests replay from it).
    pub capture: Vec<Captured>,
    pub capture_on: bool,
    /// Byte and message counts of what crossed the wire.
    pub tap: WireTap,
    /// Timers for nodes booted from now on.
    pub timers: Timers,
}

impl Sim {
    pub fn new(seed: u64) -> Self {
        let start = Instant::now();
        Sim {
            start,
            now: start,
            nodes: Vec::new(),
            links: HashMap::new(),
            in_flight: BinaryHeap::new(),
            timer_heap: BinaryHeap::new(),
            armed: Vec::new(),
            dirty: Vec::new(),
            is_dirty: Vec::new(),
            rng: ChaCha8Rng::seed_from_u64(seed),
            seq: 0,
            capture: Vec::new(),
            capture_on: true,
            tap: WireTap::default(),
            timers: Timers::default(),
        }
    }

    pub fn addr_of(i: usize) -> SocketAddr {
        assert!(i <= MAX_NODES, "node index {i} beyond the sim's 10.0.0.0/8");
        let [_, x, y, z] = (i as u32 + 1).to_be_bytes();
        SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, x, y, z)), 2121)
    }

    fn index_of(addr: SocketAddr) -> Option<usize> {
        match addr.ip() {
            IpAddr::V4(v4) => {
                let [_, x, y, z] = v4.octets();
                (u32::from_be_bytes([0, x, y, z]) as usize).checked_sub(1)
            }
            IpAddr::V6(_) => None,
        }
    }

    /// Adds a node; `peers` are the node indices it dials (auto-connect).
    pub fn add_node(&mut self, name: &str, identity: Identity) -> usize {
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
        self.armed.push(None);
        self.is_dirty.push(false);
        self.touch(i);
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

    pub fn peer_config(&self, j: usize) -> PeerConfig {
        PeerConfig {
            identity: *self.nodes[j].identity.public(),
            alias: Some(self.nodes[j].name.clone()),
            addrs: vec![self.nodes[j].addr],
            auto_connect: true,
        }
    }

    /// Wires `a`–`b` and makes `a` dial `b` (and remember it across restarts).
    pub fn dial(&mut self, a: usize, b: usize, params: LinkParams) {
        self.connect_wire(a, b, params);
        let pc = self.peer_config(b);
        self.nodes[a].peers.push(pc.clone());
        let now = self.now;
        self.node_mut(a).connect(now, pc);
    }

    /// Lets datagrams flow between `a` and `b` with `params`, both ways.
    pub fn connect_wire(&mut self, a: usize, b: usize, params: LinkParams) {
        self.links.insert((a, b), params);
        self.links.insert((b, a), params);
    }

    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// Freezes a node (crash): nothing in, nothing out, no timers.
    pub fn crash(&mut self, i: usize) {
        self.nodes[i].up = false;
    }

    /// Starts a fresh process for node `i`: same key and peers, new epoch.
    pub fn restart(&mut self, i: usize) {
        let identity = self.nodes[i].identity.clone();
        let peers = self.nodes[i].peers.clone();
        let node = self.boot(&identity, peers);
        self.nodes[i].node = node;
        self.nodes[i].up = true;
        self.touch(i);
    }

    /// Hands `bytes` to node `to` as if sent by node `from`, now.
    pub fn inject(&mut self, from: usize, to: usize, bytes: &[u8]) {
        let mut data = bytes.to_vec();
        let (now, src) = (self.now, Self::addr_of(from));
        self.node_mut(to).handle_datagram(now, src, &mut data);
    }

    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && (self.rng.next_u64() as f64 / u64::MAX as f64) < p
    }

    /// Marks node `i` for draining and re-arming its timer.
    fn touch(&mut self, i: usize) {
        if !self.is_dirty[i] {
            self.is_dirty[i] = true;
            self.dirty.push(i);
        }
    }

    /// Moves the queued transmits of every touched node onto the wire
    /// (loss, duplication, latency) and re-arms its timer.
    fn collect_outputs(&mut self) {
        let mut buf = Vec::new();
        // In index order, so a seed draws loss for the same datagrams
        // however the nodes were touched.
        let mut dirty = std::mem::take(&mut self.dirty);
        dirty.sort_unstable();
        for from in dirty.drain(..) {
            self.is_dirty[from] = false;
            while let Some(dst) = self.nodes[from].node.poll_transmit(&mut buf) {
                self.put_on_wire(from, dst, &buf);
            }
            while let Some(e) = self.nodes[from].node.poll_event() {
                self.nodes[from].events.push(e);
            }
            let due = self.nodes[from].node.poll_timeout();
            if due != self.armed[from] {
                self.armed[from] = due;
                if let Some(t) = due {
                    self.timer_heap.push(Reverse((t, from)));
                }
            }
        }
        // Keep the allocation.
        self.dirty = dirty;
    }

    fn put_on_wire(&mut self, from: usize, dst: SocketAddr, buf: &[u8]) {
        if !self.nodes[from].up {
            return;
        }
        let Some(to) = Self::index_of(dst) else {
            return;
        };
        let Some(params) = self.links.get(&(from, to)).copied() else {
            return;
        };
        self.tap.sent(buf.len());
        if self.capture_on {
            self.capture.push(Captured {
                at: self.now,
                from,
                to,
                bytes: buf.to_vec(),
            });
        }
        if self.chance(params.loss) {
            return;
        }
        let copies = if self.chance(params.duplicate) { 2 } else { 1 };
        for _ in 0..copies {
            self.seq += 1;
            let at = self.now + params.latency;
            self.in_flight
                .push(Reverse((at, self.seq, from, to, buf.to_vec())));
        }
    }

    /// The earliest armed timer of an up node, dropping stale entries.
    fn next_timer(&mut self) -> Option<Instant> {
        while let Some(&Reverse((t, i))) = self.timer_heap.peek() {
            if self.armed[i] == Some(t) && self.nodes[i].up {
                return Some(t);
            }
            self.timer_heap.pop();
        }
        None
    }

    fn next_event(&mut self) -> Option<Instant> {
        let net = self.in_flight.peek().map(|Reverse((t, ..))| *t);
        net.into_iter().chain(self.next_timer()).min()
    }

    /// Runs the world for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
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
            self.fire_due_timers();
        }
    }

    fn fire_due_timers(&mut self) {
        let now = self.now;
        while self.next_timer().is_some_and(|t| t <= now) {
            let Some(Reverse((_, i))) = self.timer_heap.pop() else {
                break;
            };
            self.armed[i] = None;
            self.nodes[i].node.handle_timeout(now);
            self.touch(i);
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
                let node = &mut self.nodes[to].node;
                self.tap.deliver(node, now, from, to, src, &mut data);
                self.touch(to);
            }
        }
    }

    pub fn node(&self, i: usize) -> &Node {
        &self.nodes[i].node
    }

    pub fn node_mut(&mut self, i: usize) -> &mut Node {
        self.touch(i);
        &mut self.nodes[i].node
    }

    /// Whether `a` has `b` as an authenticated peer.
    pub fn linked(&self, a: usize, b: usize) -> bool {
        let addr = self.nodes[b].identity.node_addr();
        self.nodes[a].node.peer_addrs().contains(&addr)
    }
}

#[cfg(test)]
/// The five nodes of the static test mesh (identity.json), in order a..e.
pub(crate) fn mesh_identities() -> Vec<(String, Identity)> {
    let v: serde_json::Value =
        serde_json::from_str(include_str!("../../../../testdata/identity.json")).expect("json");
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
