//! Glue between links and the spanning tree / bloom modules. The tree and
//! bloom states decide *what* is owed to whom (announce rate limits, filter
//! debounce); this file verifies and converts wire messages, signs our
//! TreeAnnounce, and drains what they want sent.

use std::time::Instant;

use crate::routing::MeshChange;
use crate::tree::{TreeChange, TreeError};
use crate::wire::link::{FilterAnnounce, LinkMessage, TreeAnnounce};
use crate::NodeAddr;

use super::Node;

impl Node {
    pub(super) fn tree_peer_added(&mut self, now: Instant, paddr: NodeAddr) {
        self.tree.add_peer(paddr);
        self.bloom.add_peer(paddr);
        self.mesh_changed(MeshChange::Peers);
        self.flush_mesh(now);
    }

    pub(super) fn tree_peer_removed(&mut self, now: Instant, paddr: NodeAddr) {
        let change = self.tree.remove_peer(now, &paddr);
        let had_filter = self.bloom.remove_peer(&paddr);
        self.after_tree_change(now, &change, had_filter);
    }

    /// A fresh session replaced an existing one (cross-connection, re-accept):
    /// the peer may have dropped what we sent on the losing session, so it
    /// gets our announce and filter again.
    pub(super) fn greet_again(&mut self, now: Instant, paddr: NodeAddr) {
        self.bloom.resend(paddr);
        self.tree.add_peer(paddr);
        self.mesh_changed(MeshChange::Peers);
        self.flush_mesh(now);
    }

    /// Sends every peer our TreeAnnounce (same seq: a peer that has it
    /// drops the copy) and FilterAnnounce (new seq: the peer stores it, and
    /// as its content is unchanged, forwards nothing) again. Neither is
    /// acknowledged, so this is what repairs one lost on a lossy link.
    pub(super) fn mesh_refresh(&mut self, now: Instant) {
        for peer in self.peers.keys() {
            self.bloom.resend(*peer);
        }
        self.tree.reannounce();
        self.flush_mesh(now);
    }

    pub(super) fn on_tree_announce(&mut self, now: Instant, from: NodeAddr, ta: &TreeAnnounce) {
        let Some(p) = self.peers.get(&from) else {
            return;
        };
        if ta.node_addr() != from || !p.identity.verify(&ta.declaration_bytes(), &ta.signature) {
            self.counters.tree_sig_failed += 1;
            return;
        }
        match self.tree.handle_announce(now, from, &ta.to_announce()) {
            Ok(change) => self.after_tree_change(now, &change, false),
            Err(TreeError::Stale { .. }) => self.counters.tree_stale += 1,
            Err(_) => self.counters.tree_rejected += 1,
        }
    }

    /// Costs changed (a ReceiverReport): parent selection may change.
    pub(super) fn tree_reevaluate(&mut self, now: Instant) {
        // A parent switch changes our coordinates and our tree peers.
        let change = match self.tree.evaluate(now) {
            Some(pc) => TreeChange {
                parent_change: Some(pc),
                coords_changed: true,
                tree_peers_changed: true,
            },
            None => TreeChange::default(),
        };
        self.after_tree_change(now, &change, false);
    }

    /// A peer went silent or was heard again: routes are recomputed and
    /// the tree leaves (or may return to) it.
    pub(super) fn peer_silence_changed(&mut self, now: Instant, paddr: NodeAddr, silent: bool) {
        self.mesh_changed(MeshChange::Peers);
        let change = self.tree.set_peer_silent(now, &paddr, silent);
        self.after_tree_change(now, &change, false);
    }

    /// The tree's periodic work, or an announce or filter out of its
    /// pacing. Routes are dropped only when the tree changed: these wakes
    /// come often on a hub, and each dropped its routes and view (rebuilt
    /// over every peer at the next packet forwarded).
    pub(super) fn tree_tick(&mut self, now: Instant) {
        let change = self.tree.handle_timeout(now);
        if change == TreeChange::default() {
            self.flush_mesh(now);
        } else {
            self.after_tree_change(now, &change, false);
        }
    }

    fn after_tree_change(&mut self, now: Instant, change: &TreeChange, force_refresh: bool) {
        // Even with our coordinates unchanged, a peer's may have moved. A
        // parent change shows when the view is next rebuilt (`Parent`).
        self.mesh_changed(if change.coords_changed {
            MeshChange::Coords
        } else {
            MeshChange::Peers
        });
        if change.tree_peers_changed || change.parent_change.is_some() {
            self.bloom.set_tree_peers(now, &self.tree.tree_peers());
        }
        if force_refresh {
            self.bloom.refresh(now);
        }
        if change.parent_change.is_some() {
            // A reference peer merges our filter only while we are its tree
            // peer and does not re-merge the one it stored before: after a
            // parent switch (or becoming root) every peer gets it again,
            // changed or not.
            let peers: Vec<NodeAddr> = self.peers.keys().copied().collect();
            for p in peers {
                self.bloom.resend(p);
            }
        }
        self.flush_mesh(now);
    }

    pub(super) fn on_filter_announce(&mut self, now: Instant, from: NodeAddr, fa: &FilterAnnounce) {
        let r = self.bloom.handle_announce(
            from,
            fa.seq,
            fa.hash_count,
            crate::wire::filter::SIZE_CLASS_V1,
            &fa.filter[..],
        );
        match r {
            Ok(true) => {
                self.mesh_changed(MeshChange::Peers);
                self.bloom.refresh(now);
                self.flush_mesh(now);
            }
            // The same filter again (a periodic re-send): nothing to redo.
            Ok(false) => {}
            Err(_) => self.counters.filter_rejected += 1,
        }
    }

    /// Sends every TreeAnnounce and FilterAnnounce the tree and bloom states owe.
    pub(super) fn flush_mesh(&mut self, now: Instant) {
        while let Some(to) = self.tree.poll_announce(now) {
            if self.peers.contains_key(&to) {
                let ta = self.signed_announce(now);
                self.send_link_message(now, &to, &LinkMessage::TreeAnnounce(ta));
            }
        }
        while let Some(out) = self.bloom.poll_send(now) {
            let fa = FilterAnnounce {
                seq: out.seq,
                hash_count: crate::bloom::HASH_COUNT,
                filter: Box::new(*out.filter.as_bytes()),
            };
            let delivered =
                self.send_link_message(now, &out.peer, &LinkMessage::FilterAnnounce(fa));
            self.bloom.record_send(delivered);
        }
    }

    pub(super) fn signed_announce(&mut self, now: Instant) -> TreeAnnounce {
        let mut ta =
            TreeAnnounce::from_announce(&self.tree.my_announce(self.unix_ms(now) / 1000), [0; 64]);
        // The same declaration and ancestry (an ancestor's relayed seq can
        // change under an unchanged declaration of ours) as last signed.
        if let Some(signed) = &self.signed_announce {
            let mut unsigned = signed.clone();
            unsigned.signature = ta.signature;
            if unsigned == ta {
                return signed.clone();
            }
        }
        let aux = self.random_bytes32();
        ta.signature = self.identity.sign(&ta.declaration_bytes(), aux);
        self.signed_announce = Some(ta.clone());
        ta
    }
}
