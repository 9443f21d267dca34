//! Parent selection: root election, cost, SRTT gate, hold-down, hysteresis
//! and flap dampening, then recomputing our coordinates.

use std::time::Instant;

use super::coords::addrs;
use super::state::{Peer, TreeState};
use super::{link_cost, CoordEntry, ParentChange, TreeChange};
use crate::NodeAddr;

impl TreeState {
    /// Re-run selection and bring our coordinates in line with the parent's
    /// current ancestry. Bumps seq once if anything we declare changed.
    pub(super) fn reconcile(&mut self, now: Instant) -> TreeChange {
        // Periodic re-evaluation counts from the first input we see.
        self.last_reeval.get_or_insert(now);
        let old_parent = self.parent;
        let old_root = self.root();
        let old_coords = addrs(&self.coords);
        let mut dampening_engaged = false;
        let silent_parent = self
            .parent
            .filter(|p| self.peers.get(p).is_some_and(|x| x.silent));
        if let Some(new_parent) = self.select(now) {
            dampening_engaged = self.switch_to(now, new_parent, old_root);
            if silent_parent.is_some() {
                self.left_for_silence = silent_parent;
            } else if new_parent == self.left_for_silence {
                self.left_for_silence = None;
            }
        }
        if self
            .left_for_silence
            .is_some_and(|p| !self.peers.contains_key(&p))
        {
            self.left_for_silence = None;
        }
        self.rebuild_coords();
        let coords_changed = addrs(&self.coords) != old_coords;
        let parent_changed = self.parent != old_parent;
        if coords_changed || parent_changed {
            self.bump_declaration();
        }
        let parent_change = parent_changed.then(|| ParentChange {
            old_parent,
            new_parent: self.parent,
            old_root,
            new_root: self.root(),
            dampening_engaged,
        });
        TreeChange {
            parent_change,
            coords_changed,
            tree_peers_changed: parent_changed,
        }
    }

    /// The parent we should have now, if it differs from the current one.
    /// `Some(None)` means "become root".
    fn select(&self, now: Instant) -> Option<Option<NodeAddr>> {
        let Some(smallest) = self.peers.values().filter_map(Peer::root).min() else {
            return self.parent.map(|_| None);
        };
        if self.me <= smallest {
            return self.parent.map(|_| None);
        }
        let answering = self.best_candidate(smallest, true);
        let parent_silent = self
            .parent
            .and_then(|p| self.peers.get(&p))
            .is_some_and(|p| p.silent);
        let usable = self.parent.is_some_and(|p| self.usable(&p, smallest))
            && !(parent_silent && answering.is_some());
        let Some((best, best_eff)) = answering.or_else(|| self.best_candidate(smallest, false))
        else {
            // Nobody eligible (e.g. the SRTT gate): keep a usable parent,
            // otherwise fall back to root until a candidate is measured.
            return (self.parent.is_some() && !usable).then_some(None);
        };
        if self.parent == Some(best) {
            return None;
        }
        let back_from_silence =
            self.left_for_silence == Some(best) && self.peers.get(&best).is_some_and(|p| !p.silent);
        let mandatory =
            self.parent.is_none() || !usable || smallest < self.root() || back_from_silence;
        if mandatory {
            return Some(Some(best));
        }
        if self.held_down(now) || self.dampened(now) {
            return None;
        }
        let current = self
            .parent
            .map_or(f64::INFINITY, |p| self.effective_depth(&p));
        (best_eff < current * (1.0 - self.config.hysteresis)).then_some(Some(best))
    }

    /// Our parent is still a valid path to the smallest root.
    fn usable(&self, parent: &NodeAddr, smallest: NodeAddr) -> bool {
        self.peers
            .get(parent)
            .is_some_and(|p| p.root() == Some(smallest) && !p.contains(&self.me))
    }

    /// Lowest `depth + link_cost` on the smallest root, ties to the smaller
    /// NodeAddr (ascending iteration keeps the first of equals); with
    /// `answering`, silent peers are left out.
    fn best_candidate(&self, smallest: NodeAddr, answering: bool) -> Option<(NodeAddr, f64)> {
        let mut best: Option<(NodeAddr, f64)> = None;
        for (addr, peer) in &self.peers {
            if peer.root() != Some(smallest) || peer.contains(&self.me) || answering && peer.silent
            {
                continue;
            }
            let Some(cost) = self.cost(peer) else {
                continue;
            };
            let eff = depth(peer) + cost;
            if best.is_none_or(|(_, b)| eff < b) {
                best = Some((*addr, eff));
            }
        }
        best
    }

    /// Link cost with the SRTT gate: while no peer is measured everyone
    /// costs 1.0; once one is, unmeasured peers have no cost (ineligible).
    fn cost(&self, peer: &Peer) -> Option<f64> {
        match peer.srtt_ms {
            Some(srtt) => Some(link_cost(srtt, peer.etx)),
            None if self.peers.values().any(|p| p.srtt_ms.is_some()) => None,
            None => Some(1.0),
        }
    }

    /// The current parent's effective depth; an ineligible one counts as
    /// infinitely far so any eligible candidate beats it.
    fn effective_depth(&self, parent: &NodeAddr) -> f64 {
        self.peers
            .get(parent)
            .and_then(|p| Some(depth(p) + self.cost(p)?))
            .unwrap_or(f64::INFINITY)
    }

    fn held_down(&self, now: Instant) -> bool {
        self.last_switch
            .is_some_and(|t| now.duration_since(t) < self.config.hold_down)
    }

    fn dampened(&self, now: Instant) -> bool {
        self.dampened_until.is_some_and(|t| now < t)
    }

    /// Apply a switch. Returns whether flap dampening engaged.
    fn switch_to(
        &mut self,
        now: Instant,
        new_parent: Option<NodeAddr>,
        old_root: NodeAddr,
    ) -> bool {
        let first_blind_choice = self.parent.is_none() && !self.any_measured();
        self.parent = new_parent;
        if new_parent.is_none() {
            return false;
        }
        // Following a smaller root is root election moving its one way, not
        // oscillation: counted as a flap, the few such moves of a cold start
        // froze every better parent for the 120 s of dampening.
        let to_smaller_root = self.parent_root().is_some_and(|r| r < old_root);
        // Hold-down lets MMP metrics settle on a new link. The first parent
        // taken before any link is measured (the first moments after start)
        // was chosen on depth alone; holding it would keep a node behind a
        // transit for 30 s when the root's own link answers a moment later.
        self.last_switch = (!first_blind_choice).then_some(now);
        !to_smaller_root && self.record_flap(now)
    }

    fn parent_root(&self) -> Option<NodeAddr> {
        self.parent
            .and_then(|p| self.peers.get(&p))
            .and_then(Peer::root)
    }

    fn any_measured(&self) -> bool {
        self.peers.values().any(|p| p.srtt_ms.is_some())
    }

    fn record_flap(&mut self, now: Instant) -> bool {
        let in_window = self
            .flap_window_start
            .is_some_and(|t| now.duration_since(t) < self.config.flap_window);
        if in_window {
            self.flap_count += 1;
        } else {
            self.flap_window_start = Some(now);
            self.flap_count = 1;
        }
        if self.flap_count >= self.config.flap_threshold && !self.dampened(now) {
            self.dampened_until = Some(now + self.config.flap_dampening);
            return true;
        }
        false
    }

    /// Coordinates = self followed by the parent's ancestry. A parent whose
    /// path would make us the minimum, or would contain us, is dropped.
    fn rebuild_coords(&mut self) {
        let me = CoordEntry {
            node: self.me,
            seq: self.seq,
            ts: self.coords.first().map_or(0, |e| e.ts),
        };
        let parent_path = self
            .parent
            .and_then(|p| self.peers.get(&p))
            .filter(|p| !p.contains(&self.me) && p.root().is_some_and(|r| r < self.me))
            .and_then(|p| p.announce.as_ref())
            .map(|a| a.ancestry.clone());
        match parent_path {
            Some(path) => {
                self.coords = std::iter::once(me).chain(path).collect();
            }
            None => {
                self.parent = None;
                self.coords = vec![me];
            }
        }
    }
}

fn depth(peer: &Peer) -> f64 {
    peer.announce
        .as_ref()
        .map_or(0.0, |a| a.ancestry.len().saturating_sub(1) as f64)
}
