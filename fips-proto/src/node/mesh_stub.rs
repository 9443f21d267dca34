//! TEMPORARY no-op stand-ins for `crate::tree` and `crate::bloom` with the
//! same API, so the link layer compiles and runs before those modules land.
//! Deleted once meshlogic's modules are merged.
#![allow(dead_code)]

pub(crate) mod tree {
    use crate::NodeAddr;
    use std::time::Instant;

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct CoordEntry {
        pub node: NodeAddr,
        pub seq: u64,
        pub ts: u64,
    }
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct Announce {
        pub seq: u64,
        pub ts: u64,
        pub parent: NodeAddr,
        pub ancestry: Vec<CoordEntry>,
    }
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct ParentChange;
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    pub struct TreeChange {
        pub parent_change: Option<ParentChange>,
        pub coords_changed: bool,
        pub tree_peers_changed: bool,
    }
    pub fn distance(_a: &[NodeAddr], _b: &[NodeAddr]) -> usize {
        0
    }
    pub struct TreeState {
        me: NodeAddr,
        owed: Vec<NodeAddr>,
    }
    impl TreeState {
        pub fn new(me: NodeAddr) -> Self {
            TreeState {
                me,
                owed: Vec::new(),
            }
        }
        pub fn root(&self) -> NodeAddr {
            self.me
        }
        pub fn parent(&self) -> Option<NodeAddr> {
            None
        }
        pub fn is_root(&self) -> bool {
            true
        }
        pub fn my_coords(&self) -> Vec<NodeAddr> {
            vec![self.me]
        }
        pub fn peer_coords(&self, _p: &NodeAddr) -> Option<Vec<NodeAddr>> {
            None
        }
        pub fn tree_peers(&self) -> Vec<NodeAddr> {
            Vec::new()
        }
        pub fn add_peer(&mut self, p: NodeAddr) {
            self.owed.push(p);
        }
        pub fn set_peer_cost(&mut self, _p: NodeAddr, _s: Option<f64>, _e: f64) {}
        pub fn remove_peer(&mut self, _now: Instant, _p: &NodeAddr) -> TreeChange {
            TreeChange::default()
        }
        pub fn handle_announce(
            &mut self,
            _now: Instant,
            _from: NodeAddr,
            _a: &Announce,
        ) -> Result<TreeChange, ()> {
            Ok(TreeChange::default())
        }
        pub fn evaluate(&mut self, _now: Instant) -> Option<ParentChange> {
            None
        }
        pub fn handle_timeout(&mut self, _now: Instant) -> TreeChange {
            TreeChange::default()
        }
        pub fn poll_timeout(&self) -> Option<Instant> {
            None
        }
        pub fn poll_announce(&mut self, _now: Instant) -> Option<NodeAddr> {
            self.owed.pop()
        }
        pub fn my_announce(&mut self, ts: u64) -> Announce {
            Announce {
                seq: 1,
                ts,
                parent: self.me,
                ancestry: vec![CoordEntry {
                    node: self.me,
                    seq: 1,
                    ts,
                }],
            }
        }
    }
}

pub(crate) mod bloom {
    use crate::NodeAddr;
    use std::time::Instant;

    pub const HASH_COUNT: u8 = 5;
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct BloomFilter([u8; 1024]);
    impl BloomFilter {
        pub fn as_bytes(&self) -> &[u8; 1024] {
            &self.0
        }
    }
    pub struct Outgoing {
        pub peer: NodeAddr,
        pub seq: u64,
        pub filter: BloomFilter,
    }
    pub struct BloomState;
    impl BloomState {
        pub fn new(_me: NodeAddr) -> Self {
            BloomState
        }
        pub fn add_peer(&mut self, _p: NodeAddr) {}
        pub fn remove_peer(&mut self, _p: &NodeAddr) -> bool {
            false
        }
        pub fn refresh(&mut self, _t: &[NodeAddr]) {}
        pub fn handle_announce(
            &mut self,
            _p: NodeAddr,
            _seq: u64,
            _h: u8,
            _s: u8,
            _b: &[u8],
        ) -> Result<(), ()> {
            Ok(())
        }
        pub fn poll_send(&mut self, _now: Instant, _t: &[NodeAddr]) -> Option<Outgoing> {
            None
        }
        pub fn poll_timeout(&self) -> Option<Instant> {
            None
        }
    }
}
