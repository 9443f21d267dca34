//! A `MeshView` over plain vectors for unit tests: peers with explicit
//! bloom contents and coordinates, an outbox to read back, and scripted
//! random bytes so handshakes replay exactly.

use std::collections::VecDeque;

use rand_core::RngCore;

use super::mesh::{Cx, MeshView, Outbox, PeerInfo};
use crate::addr::NodeAddr;
use crate::identity::Identity;

#[derive(Debug, Clone)]
pub struct TestPeer {
    pub addr: NodeAddr,
    pub tree: bool,
    pub reaches: Vec<NodeAddr>,
    pub coords: Vec<NodeAddr>,
    pub mtu: u16,
    pub cost: f64,
    pub silent: bool,
}

impl TestPeer {
    pub fn new(addr: NodeAddr, coords: Vec<NodeAddr>) -> Self {
        TestPeer {
            addr,
            tree: true,
            reaches: vec![addr],
            coords,
            mtu: 1280,
            cost: 1.0,
            silent: false,
        }
    }
}

/// A dataplane's surroundings in a unit test: the view it reads, scripted
/// randomness, and the outbox its link messages land in.
pub struct TestMesh {
    pub view: TestView,
    pub rng: TestRng,
    pub out: Outbox,
}

pub struct TestView {
    pub identity: Identity,
    pub coords: Vec<NodeAddr>,
    pub peers: Vec<TestPeer>,
}

/// Serves `random` first, 32 bytes at a time; then a counter.
#[derive(Default)]
pub struct TestRng {
    pub random: VecDeque<[u8; 32]>,
    counter: u8,
}

impl TestMesh {
    pub fn new(identity: Identity, coords: Vec<NodeAddr>, peers: Vec<TestPeer>) -> Self {
        TestMesh {
            view: TestView {
                identity,
                coords,
                peers,
            },
            rng: TestRng::default(),
            out: Outbox::default(),
        }
    }

    /// The context for one dataplane call.
    pub fn cx(&mut self) -> Cx<'_, TestView> {
        Cx {
            mesh: &self.view,
            rng: &mut self.rng,
            out: &mut self.out,
        }
    }

    /// Every link message sent since the last call, in order.
    pub fn take_sent(&mut self) -> Vec<(NodeAddr, Vec<u8>)> {
        let mut sent = Vec::new();
        while let Some((peer, msg)) = self.out.poll() {
            sent.push((peer, msg.to_vec()));
        }
        sent
    }
}

impl TestView {
    fn info<'a>(&'a self, p: &'a TestPeer, target: &NodeAddr) -> PeerInfo<'a> {
        PeerInfo {
            addr: p.addr,
            is_tree_peer: p.tree,
            may_reach: p.reaches.contains(target),
            coords: Some(&p.coords[..]),
            link_mtu: p.mtu,
            link_cost: p.cost,
            silent: p.silent,
        }
    }
}

impl MeshView for TestView {
    fn identity(&self) -> &Identity {
        &self.identity
    }

    fn my_coords(&self) -> &[NodeAddr] {
        &self.coords
    }

    fn peers_for(&self, target: &NodeAddr) -> impl Iterator<Item = PeerInfo<'_>> {
        let target = *target;
        self.peers.iter().map(move |p| self.info(p, &target))
    }

    fn peer(&self, addr: &NodeAddr, target: &NodeAddr) -> Option<PeerInfo<'_>> {
        self.peers
            .iter()
            .find(|p| p.addr == *addr)
            .map(|p| self.info(p, target))
    }

    fn link_mtu(&self, peer: &NodeAddr) -> Option<u16> {
        self.peers.iter().find(|p| p.addr == *peer).map(|p| p.mtu)
    }
}

impl RngCore for TestRng {
    fn next_u32(&mut self) -> u32 {
        rand_core::impls::next_u32_via_fill(self)
    }

    fn next_u64(&mut self) -> u64 {
        rand_core::impls::next_u64_via_fill(self)
    }

    fn fill_bytes(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(32) {
            let block = self.random.pop_front().unwrap_or_else(|| {
                self.counter = self.counter.wrapping_add(1);
                let mut b = [0x5a ^ self.counter; 32];
                b[0] = self.counter | 1;
                b
            });
            chunk.copy_from_slice(&block[..chunk.len()]);
        }
    }

    fn try_fill_bytes(&mut self, out: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(out);
        Ok(())
    }
}

/// The team's known-answer vectors (identities A-D, proofs, XK transcript).
pub fn kat() -> serde_json::Value {
    serde_json::from_str(include_str!("../../../testdata/kat.json")).expect("kat.json parses")
}

pub fn kat_identity(name: &str) -> Identity {
    let k = kat();
    let hex = k["identities"][name]["nsec_hex"]
        .as_str()
        .expect("identity in kat");
    Identity::from_secret_str(hex).expect("kat secret parses")
}

pub fn kat_hex(path: &[&str]) -> Vec<u8> {
    let k = kat();
    let mut v = &k;
    for p in path {
        v = &v[*p];
    }
    hex::decode(v.as_str().expect("hex string in kat")).expect("hex")
}
