//! Packets waiting for discovery and the handshake, bounded per destination
//! (oldest dropped) and in the number of destinations (new ones refused).

use std::collections::{HashMap, VecDeque};

use crate::addr::NodeAddr;

#[derive(Debug)]
pub(crate) struct PendingQueue {
    per_dest: usize,
    max_dests: usize,
    map: HashMap<NodeAddr, VecDeque<Vec<u8>>>,
}

impl PendingQueue {
    pub fn new(per_dest: usize, max_dests: usize) -> Self {
        PendingQueue {
            per_dest,
            max_dests,
            map: HashMap::new(),
        }
    }

    /// Queues a copy of `pkt` (into a recycled buffer when one is free).
    /// Returns false when the destination table is full.
    pub fn push(&mut self, dest: NodeAddr, pkt: &[u8], free: &mut Vec<Vec<u8>>) -> bool {
        if !self.map.contains_key(&dest) && self.map.len() >= self.max_dests {
            return false;
        }
        let q = self.map.entry(dest).or_default();
        if q.len() >= self.per_dest {
            if let Some(old) = q.pop_front() {
                free.push(old);
            }
        }
        let mut buf = free.pop().unwrap_or_default();
        buf.clear();
        buf.extend_from_slice(pkt);
        q.push_back(buf);
        true
    }

    pub fn take(&mut self, dest: &NodeAddr) -> Option<VecDeque<Vec<u8>>> {
        self.map.remove(dest)
    }

    /// Destinations with packets waiting.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn has(&self, dest: &NodeAddr) -> bool {
        self.map.contains_key(dest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_packets_per_destination_and_bounds_destinations() {
        let mut q = PendingQueue::new(2, 1);
        let mut free = Vec::new();
        let a = NodeAddr([1; 16]);
        for i in 0..3u8 {
            assert!(q.push(a, &[i], &mut free));
        }
        assert!(!q.push(NodeAddr([2; 16]), &[9], &mut free));
        let got: Vec<Vec<u8>> = q.take(&a).expect("queued").into_iter().collect();
        assert_eq!(got, vec![vec![1], vec![2]]);
        assert!(
            free.is_empty(),
            "the dropped buffer was reused for the newest packet"
        );
    }
}
