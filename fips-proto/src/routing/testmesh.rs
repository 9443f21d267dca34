//! A `MeshView` over plain vectors for unit tests: peers with explicit
//! bloom contents and coordinates, a recorded outbox, and scripted random
//! bytes so handshakes replay exactly.

use std::collections::VecDeque;

use super::mesh::{LinkSendError, MeshView, PeerInfo};
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

pub struct TestMesh {
    pub identity: Identity,
    pub coords: Vec<NodeAddr>,
    pub peers: Vec<TestPeer>,
    pub version: u64,
    pub sent: Vec<(NodeAddr, Vec<u8>)>,
    /// Served first by `fill_random`, 32 bytes at a time; then a counter.
    pub random: VecDeque<[u8; 32]>,
    counter: u8,
}

impl TestMesh {
    pub fn new(identity: Identity, coords: Vec<NodeAddr>, peers: Vec<TestPeer>) -> Self {
        TestMesh {
            identity,
            coords,
            peers,
            version: 1,
            sent: Vec::new(),
            random: VecDeque::new(),
            counter: 0,
        }
    }

    pub fn take_sent(&mut self) -> Vec<(NodeAddr, Vec<u8>)> {
        std::mem::take(&mut self.sent)
    }

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

impl MeshView for TestMesh {
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

    fn topology_version(&self) -> u64 {
        self.version
    }

    fn send_link(&mut self, peer: &NodeAddr, msg: &[u8]) -> Result<(), LinkSendError> {
        if !self.peers.iter().any(|p| p.addr == *peer) {
            return Err(LinkSendError::NotConnected { peer: *peer });
        }
        self.sent.push((*peer, msg.to_vec()));
        Ok(())
    }

    fn fill_random(&mut self, out: &mut [u8]) {
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
