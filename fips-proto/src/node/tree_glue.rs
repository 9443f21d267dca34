//! Glue between links and the spanning tree / bloom modules: signing and
//! sending our TreeAnnounce (to new peers, on every declaration change, every
//! 60 s, at most one per 500 ms per peer), verifying and feeding received
//! ones, and the FilterAnnounce sent to each peer when its computed filter
//! changes (debounced 500 ms).

use std::time::Instant;

use crate::bloom::BloomFilter;
use crate::wire::link::{FilterAnnounce, LinkMessage, TreeAnnounce};
use crate::NodeAddr;

use super::timers::LinkTimer;
use super::Node;

impl Node {
    pub(super) fn tree_peer_added(&mut self, now: Instant, _paddr: NodeAddr) {
        self.after_tree_input(now);
    }

    pub(super) fn tree_peer_removed(&mut self, now: Instant, paddr: NodeAddr) {
        self.tree.remove_peer(paddr);
        self.bloom.remove_peer(&paddr);
        self.after_tree_input(now);
    }

    /// What a fresh (or re-established) link gets at once: our TreeAnnounce,
    /// then a FilterAnnounce on the next tick.
    pub(super) fn greet_peer(&mut self, now: Instant, paddr: NodeAddr) {
        self.send_tree_announce(now, paddr);
        if let Some(p) = self.peers.get_mut(&paddr) {
            p.sent_filter = None;
            p.timers.set_earliest(LinkTimer::Filter, now);
        }
    }

    pub(super) fn on_tree_announce(&mut self, now: Instant, from: NodeAddr, ta: &TreeAnnounce) {
        let Some(p) = self.peers.get(&from) else { return };
        if !p.identity.verify(&ta.declaration_bytes(), &ta.signature) {
            self.counters.tree_sig_failed += 1;
            return;
        }
        if self.tree.handle_announce(now, from, ta).is_err() {
            self.counters.tree_rejected += 1;
            return;
        }
        self.after_tree_input(now);
    }

    /// Re-evaluates the tree; any change of our coordinates is announced to
    /// every peer, and every peer's filter is recomputed.
    fn after_tree_input(&mut self, now: Instant) {
        let before = (self.tree.my_coords(), self.tree.parent());
        let _ = self.tree.evaluate(now);
        if (self.tree.my_coords(), self.tree.parent()) != before {
            self.broadcast_tree_announce(now);
        }
        self.refresh_filters(now);
    }

    /// Periodic re-evaluation and re-broadcast (every 60 s, or when the tree asks).
    pub(super) fn tree_tick(&mut self, now: Instant) {
        let periodic = now >= self.next_tree_eval;
        let before = (self.tree.my_coords(), self.tree.parent());
        let _ = self.tree.evaluate(now);
        let changed = (self.tree.my_coords(), self.tree.parent()) != before;
        if periodic {
            self.next_tree_eval = now + self.timers.tree_reeval;
        }
        if periodic || changed {
            self.broadcast_tree_announce(now);
            self.refresh_filters(now);
        }
    }

    fn broadcast_tree_announce(&mut self, now: Instant) {
        for a in self.peers.keys().copied().collect::<Vec<_>>() {
            self.send_tree_announce(now, a);
        }
    }

    /// Signs and sends our current declaration, or defers it to respect the
    /// 500 ms per-peer rate limit.
    pub(super) fn send_tree_announce(&mut self, now: Instant, to: NodeAddr) {
        let gap = self.timers.tree_announce_min_gap;
        let Some(p) = self.peers.get_mut(&to) else { return };
        if let Some(last) = p.last_announce_sent.filter(|l| now < *l + gap) {
            p.timers.set_earliest(LinkTimer::Announce, last + gap);
            return;
        }
        p.last_announce_sent = Some(now);
        p.timers.stop(LinkTimer::Announce);
        let ta = self.signed_announce(now);
        self.send_link_message(now, &to, &LinkMessage::TreeAnnounce(ta));
    }

    fn signed_announce(&mut self, now: Instant) -> TreeAnnounce {
        let mut ta = self.tree.my_announce(self.unix_ms(now) / 1000);
        let aux = self.random_bytes32();
        ta.signature = self.identity.sign(&ta.declaration_bytes(), aux);
        ta
    }

    pub(super) fn on_filter_announce(&mut self, now: Instant, from: NodeAddr, fa: &FilterAnnounce) {
        match self.bloom.handle_announce(from, fa) {
            Ok(_) => self.refresh_filters(now),
            Err(_) => self.counters.filter_rejected += 1,
        }
    }

    /// Arms each peer's Filter timer (debounced); the timer sends only if the
    /// filter computed for that peer differs from the last one sent.
    fn refresh_filters(&mut self, now: Instant) {
        let gap = self.timers.bloom_debounce;
        for p in self.peers.values_mut() {
            let at = p.last_filter_sent.map_or(now, |l| (l + gap).max(now));
            p.timers.set_earliest(LinkTimer::Filter, at);
        }
    }

    fn outgoing_filter(&self, to: NodeAddr) -> BloomFilter {
        let tree_peers: Vec<NodeAddr> =
            self.peers.keys().copied().filter(|a| self.tree.is_tree_peer(a)).collect();
        self.bloom.outgoing_for(&to, &tree_peers)
    }

    pub(super) fn send_filter(&mut self, now: Instant, to: NodeAddr) {
        let filter = self.outgoing_filter(to);
        let Some(p) = self.peers.get_mut(&to) else { return };
        if p.sent_filter.as_ref() == Some(&filter) {
            return;
        }
        p.sent_filter = Some(filter.clone());
        p.last_filter_sent = Some(now);
        let fa = FilterAnnounce::new(self.bloom.next_seq(), filter);
        self.send_link_message(now, &to, &LinkMessage::FilterAnnounce(fa));
    }
}
