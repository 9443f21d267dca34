// Tests unwrap freely: a panic is a failed assertion here.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::*;

fn addr(n: u8) -> NodeAddr {
    NodeAddr([n; 16])
}

fn entry(node: NodeAddr, seq: u64) -> CoordEntry {
    CoordEntry { node, seq, ts: 0 }
}

/// An announce from `path[0]` whose ancestry is `path` (self→root).
fn announce(path: &[NodeAddr], seq: u64) -> Announce {
    Announce {
        seq,
        ts: 0,
        parent: *path.get(1).unwrap_or(&path[0]),
        ancestry: path.iter().map(|n| entry(*n, seq)).collect(),
    }
}

fn secs(t0: Instant, s: u64) -> Instant {
    t0 + Duration::from_secs(s)
}

/// A node `me` (high address) with peers announcing the given paths.
fn node_with(me: NodeAddr, t0: Instant, paths: &[&[NodeAddr]]) -> TreeState {
    let mut t = TreeState::new(me);
    for p in paths {
        t.add_peer(p[0]);
        t.handle_announce(t0, p[0], &announce(p, 1)).unwrap();
    }
    t
}

/// Deterministic in-process tree: deliver every queued announce each step.
struct Mesh {
    nodes: BTreeMap<NodeAddr, TreeState>,
}

impl Mesh {
    fn new(addrs: &[NodeAddr], links: &[(NodeAddr, NodeAddr)]) -> Mesh {
        let mut nodes: BTreeMap<_, _> = addrs.iter().map(|a| (*a, TreeState::new(*a))).collect();
        for (a, b) in links {
            nodes.get_mut(a).unwrap().add_peer(*b);
            nodes.get_mut(b).unwrap().add_peer(*a);
        }
        Mesh { nodes }
    }

    fn run(&mut self, t0: Instant, steps: u64) {
        for step in 0..steps {
            let now = t0 + Duration::from_millis(600 * step);
            let mut inflight = Vec::new();
            for (from, st) in self.nodes.iter_mut() {
                let _ = st.handle_timeout(now);
                while let Some(to) = st.poll_announce(now) {
                    inflight.push((*from, to, st.my_announce(1_700_000_000)));
                }
            }
            for (from, to, a) in inflight {
                let dst = self.nodes.get_mut(&to).unwrap();
                match dst.handle_announce(now, from, &a) {
                    Ok(_) | Err(TreeError::Stale { .. }) => {}
                    Err(e) => panic!("valid mesh announce rejected: {e}"),
                }
            }
        }
    }

    fn get(&self, a: &NodeAddr) -> &TreeState {
        &self.nodes[a]
    }
}

#[test]
fn chain_converges_on_smallest_address_as_root() {
    let (a, b, c) = (addr(1), addr(2), addr(3));
    // Root is the smallest address even at the end of the chain.
    let mut mesh = Mesh::new(&[c, b, a], &[(c, b), (b, a)]);
    mesh.run(Instant::now(), 20);
    assert!(mesh.get(&a).is_root());
    assert_eq!(mesh.get(&b).parent(), Some(a));
    assert_eq!(mesh.get(&c).parent(), Some(b));
    assert_eq!(mesh.get(&c).my_coords(), vec![c, b, a]);
    assert_eq!(mesh.get(&c).root(), a);
    assert!(mesh.get(&b).is_tree_peer(&c));
    assert!(mesh.get(&b).is_tree_peer(&a));
    assert!(!mesh.get(&a).is_tree_peer(&c));
}

fn hex_addr(h: &str) -> NodeAddr {
    let v = hex::decode(h).unwrap();
    NodeAddr::from_slice(&v).unwrap()
}

/// Nodes a..e and links of the static test mesh, from
/// testdata/identity.json (`node_addr_hex`, `static_mesh_links`).
fn static_mesh() -> (BTreeMap<String, NodeAddr>, Vec<(String, String)>) {
    let v: serde_json::Value =
        serde_json::from_str(include_str!("../../../testdata/identity.json")).unwrap();
    let text = |x: &serde_json::Value| x.as_str().unwrap().to_owned();
    let nodes = v["nodes"].as_array().unwrap().iter();
    let by_name = nodes
        .filter(|n| text(&n["name"]).len() == 1)
        .map(|n| (text(&n["name"]), hex_addr(&text(&n["node_addr_hex"]))))
        .collect();
    let links = v["static_mesh_links"].as_array().unwrap().iter();
    (by_name, links.map(|l| (text(&l[0]), text(&l[1]))).collect())
}

#[test]
fn static_mesh_of_identity_vectors_elects_node_a_as_root() {
    let (by_name, named_links) = static_mesh();
    let links: Vec<_> = named_links
        .iter()
        .map(|(x, y)| (by_name[x], by_name[y]))
        .collect();
    let names = ["a", "b", "c", "d", "e"];
    let addrs: Vec<_> = names.iter().map(|n| by_name[*n]).collect();
    let mut mesh = Mesh::new(&addrs, &links);
    mesh.run(Instant::now(), 40);
    let [a, b, c, d, e] = [addrs[0], addrs[1], addrs[2], addrs[3], addrs[4]];
    for n in &addrs {
        assert_eq!(mesh.get(n).root(), a, "node {n:?} disagrees on the root");
    }
    assert!(mesh.get(&a).is_root());
    assert_eq!(mesh.get(&d).parent(), Some(a));
    assert_eq!(mesh.get(&e).parent(), Some(a));
    assert!([Some(d), Some(e)].contains(&mesh.get(&c).parent()));
    assert_eq!(mesh.get(&c).depth(), 2);
    assert_eq!(mesh.get(&b).parent(), Some(c));
    assert_eq!(mesh.get(&b).my_coords().len(), 4);
}

#[test]
fn picks_lowest_depth_and_breaks_ties_by_smaller_address() {
    let (r, deep, x, z, q, p, me) = (
        addr(1),
        addr(2),
        addr(3),
        addr(4),
        addr(5),
        addr(6),
        addr(9),
    );
    let t0 = Instant::now();
    let mut t = node_with(me, t0, &[&[z, r], &[p, r], &[q, r], &[deep, x, r]]);
    assert_eq!(t.parent(), Some(z));
    // Losing z forces a fresh choice between the equally deep p and q.
    t.remove_peer(secs(t0, 1), &z);
    assert_eq!(t.parent(), Some(q));
    assert_eq!(t.my_coords(), vec![me, q, r]);
}

#[test]
fn srtt_gate_skips_unmeasured_peers_once_any_peer_is_measured() {
    let (r, shallow, deep, x, me) = (addr(1), addr(2), addr(3), addr(4), addr(9));
    let t0 = Instant::now();
    let mut t = TreeState::new(me);
    t.set_peer_cost(deep, Some(10.0), 1.0);
    t.handle_announce(t0, shallow, &announce(&[shallow, r], 1))
        .unwrap();
    t.handle_announce(t0, deep, &announce(&[deep, x, r], 1))
        .unwrap();
    // The shallow peer would win on depth, but it has no RTT sample.
    assert_eq!(t.parent(), Some(deep));
}

#[test]
fn stays_root_while_the_only_candidates_are_unmeasured() {
    let (r, p, m, me) = (addr(1), addr(2), addr(8), addr(9));
    let t0 = Instant::now();
    let mut t = TreeState::new(me);
    // m has an RTT sample but has not announced yet: the gate is on.
    t.set_peer_cost(m, Some(5.0), 1.0);
    t.handle_announce(t0, p, &announce(&[p, r], 1)).unwrap();
    assert!(t.is_root(), "unmeasured p must not be adopted");
    t.set_peer_cost(p, Some(5.0), 1.0);
    let change = t.evaluate(t0).unwrap();
    assert_eq!(change.new_parent, Some(p));
    assert_eq!(change.new_root, r);
}

#[test]
fn hold_down_delays_a_better_parent_for_thirty_seconds() {
    let (r, p, q, me) = (addr(1), addr(2), addr(3), addr(9));
    let t0 = Instant::now();
    let mut t = TreeState::new(me);
    t.set_peer_cost(p, Some(0.0), 1.0);
    t.set_peer_cost(q, Some(0.0), 1.0);
    t.handle_announce(t0, p, &announce(&[p, q, r], 1)).unwrap();
    assert_eq!(t.parent(), Some(p));
    // q is the root's direct child: effective depth 2 against p's 3.
    t.handle_announce(secs(t0, 10), q, &announce(&[q, r], 1))
        .unwrap();
    assert_eq!(t.parent(), Some(p));
    assert_eq!(t.evaluate(secs(t0, 29)), None);
    let change = t.evaluate(secs(t0, 30)).unwrap();
    assert_eq!(change.old_parent, Some(p));
    assert_eq!(change.new_parent, Some(q));
}

#[test]
fn a_parent_chosen_before_any_link_is_measured_is_not_held_down() {
    let (r, p, q, me) = (addr(1), addr(2), addr(3), addr(9));
    let t0 = Instant::now();
    // Links to p and q come up together; p announces first.
    let mut t = node_with(me, t0, &[&[p, q, r]]);
    assert_eq!(t.parent(), Some(p));
    // A moment later q, the root's direct child, announces: no metric had
    // settled on p, so the better parent is taken at once.
    let change = t
        .handle_announce(secs(t0, 1), q, &announce(&[q, r], 1))
        .unwrap();
    assert_eq!(change.parent_change.unwrap().new_parent, Some(q));
    // That choice was blind too; once links are measured, hold-down holds.
    t.set_peer_cost(p, Some(0.0), 1.0);
    t.set_peer_cost(q, Some(0.0), 1.0);
    assert_eq!(t.evaluate(secs(t0, 2)), None);
}

#[test]
fn hysteresis_requires_twenty_percent_improvement() {
    let (r, p, q, me) = (addr(1), addr(2), addr(3), addr(9));
    let t0 = Instant::now();
    let mut t = TreeState::new(me);
    t.set_peer_cost(p, Some(0.0), 1.0);
    t.set_peer_cost(q, Some(0.0), 1.0);
    t.handle_announce(t0, p, &announce(&[p, r], 1)).unwrap();
    t.handle_announce(t0, q, &announce(&[q, r], 1)).unwrap();
    assert_eq!(t.parent(), Some(p));
    let later = secs(t0, 100);
    // Current 1 + 1 = 2; candidate 1 + 0.7 = 1.7 is not below 1.6.
    t.set_peer_cost(q, Some(0.0), 0.7);
    assert_eq!(t.evaluate(later), None);
    // 1 + 0.5 = 1.5 < 1.6: switch.
    t.set_peer_cost(q, Some(0.0), 0.5);
    assert_eq!(t.evaluate(later).unwrap().new_parent, Some(q));
}

#[test]
fn link_cost_grows_with_etx_and_srtt() {
    assert_eq!(link_cost(0.0, 1.0), 1.0);
    assert_eq!(link_cost(100.0, 1.0), 2.0);
    assert_eq!(link_cost(50.0, 2.0), 3.0);
}

#[test]
fn four_switches_in_a_minute_freeze_optional_switches_for_two_minutes() {
    let (r, p, q, me) = (addr(1), addr(2), addr(3), addr(9));
    let t0 = Instant::now();
    let mut t = TreeState::new(me);
    let mut seq = 1;
    let mut ann = |t: &mut TreeState, at, n| {
        seq += 1;
        t.handle_announce(at, n, &announce(&[n, r], seq)).unwrap()
    };
    // Joining r's tree is root election, not a flap; parent losses are
    // mandatory switches that still count as flaps.
    assert_eq!(
        ann(&mut t, t0, p).parent_change.unwrap().new_parent,
        Some(p)
    );
    ann(&mut t, t0, q);
    let c1 = t.remove_peer(secs(t0, 1), &p).parent_change.unwrap();
    assert_eq!(c1.new_parent, Some(q));
    ann(&mut t, secs(t0, 1), p);
    let c2 = t.remove_peer(secs(t0, 1), &q).parent_change.unwrap();
    assert_eq!(c2.new_parent, Some(p));
    ann(&mut t, secs(t0, 1), q);
    let c3 = t.remove_peer(secs(t0, 2), &p).parent_change.unwrap();
    assert!(!c3.dampening_engaged);
    ann(&mut t, secs(t0, 2), p);
    let c4 = t.remove_peer(secs(t0, 3), &q).parent_change.unwrap();
    assert_eq!(c4.new_parent, Some(p));
    assert!(c4.dampening_engaged);
    // q returns much better; hold-down is over at 33 s, dampening is not.
    t.set_peer_cost(p, Some(100.0), 1.0);
    t.set_peer_cost(q, Some(0.0), 1.0);
    ann(&mut t, secs(t0, 40), q);
    assert_eq!(t.parent(), Some(p));
    assert_eq!(t.evaluate(secs(t0, 122)), None);
    assert_eq!(t.evaluate(secs(t0, 123)).unwrap().new_parent, Some(q));
}

#[test]
fn following_ever_smaller_roots_at_start_does_not_engage_dampening() {
    let (r0, r1, r2, r3, me) = (addr(1), addr(2), addr(3), addr(4), addr(9));
    let (p, q) = (addr(5), addr(6));
    let t0 = Instant::now();
    let mut t = TreeState::new(me);
    t.set_peer_cost(p, Some(0.0), 1.0);
    t.set_peer_cost(q, Some(0.0), 1.0);
    // Root news spreads: p then q then p again bring ever smaller roots.
    let mut changes = Vec::new();
    for (i, (via, root)) in [(p, r3), (q, r2), (p, r1), (q, r0)].into_iter().enumerate() {
        let change = t
            .handle_announce(t0, via, &announce(&[via, root], i as u64 + 1))
            .unwrap();
        changes.push(change.parent_change.unwrap());
    }
    assert_eq!(t.root(), r0);
    assert!(changes.iter().all(|c| !c.dampening_engaged));
    // A better parent on the same root is taken once hold-down is over,
    // not two minutes later.
    t.handle_announce(secs(t0, 1), p, &announce(&[p, r0], 9))
        .unwrap();
    t.set_peer_cost(q, Some(100.0), 1.0);
    assert_eq!(t.evaluate(secs(t0, 31)).unwrap().new_parent, Some(p));
}

#[test]
fn never_picks_a_peer_whose_ancestry_contains_us() {
    let (r, p, q, x, me) = (addr(1), addr(2), addr(3), addr(4), addr(9));
    let t0 = Instant::now();
    let t = node_with(me, t0, &[&[p, me, x, r], &[q, x, x, r]]);
    assert_eq!(t.parent(), Some(q));
}

#[test]
fn drops_parent_whose_new_ancestry_runs_through_us() {
    let (r, p, q, me) = (addr(1), addr(2), addr(3), addr(9));
    let t0 = Instant::now();
    let mut t = node_with(me, t0, &[&[p, r]]);
    assert_eq!(t.parent(), Some(p));
    let change = t
        .handle_announce(secs(t0, 1), p, &announce(&[p, me, q, r], 2))
        .unwrap();
    assert_eq!(change.parent_change.unwrap().new_parent, None);
    assert!(t.is_root());
}

#[test]
fn smaller_root_switches_at_once_despite_hold_down() {
    let (r0, r1, p, q, me) = (addr(1), addr(2), addr(3), addr(4), addr(9));
    let t0 = Instant::now();
    let mut t = node_with(me, t0, &[&[p, r1]]);
    let change = t
        .handle_announce(secs(t0, 1), q, &announce(&[q, r0], 1))
        .unwrap();
    let pc = change.parent_change.unwrap();
    assert_eq!((pc.old_root, pc.new_root), (r1, r0));
    assert_eq!(t.parent(), Some(q));
}

#[test]
fn losing_the_last_peer_makes_us_root_again() {
    let (r, p, me) = (addr(1), addr(2), addr(9));
    let t0 = Instant::now();
    let mut t = node_with(me, t0, &[&[p, r]]);
    let seq = t.seq();
    let change = t.remove_peer(secs(t0, 1), &p);
    assert_eq!(change.parent_change.unwrap().new_parent, None);
    assert!(t.is_root());
    assert_eq!(t.my_coords(), vec![me]);
    assert_eq!(t.seq(), seq + 1);
}

#[test]
fn smallest_node_stays_root_among_larger_peers() {
    let (me, p, q) = (addr(1), addr(5), addr(3));
    let t0 = Instant::now();
    let mut t = TreeState::new(me);
    t.add_peer(p);
    assert_eq!(t.poll_announce(t0), Some(p));
    let later = secs(t0, 1);
    t.handle_announce(later, p, &announce(&[p, q], 1)).unwrap();
    assert!(t.is_root());
    assert_eq!(t.seq(), 1);
    // And tells the peer on the worse root about itself at once.
    assert_eq!(t.poll_announce(later), Some(p));
}

#[test]
fn seq_is_bumped_when_parent_ancestry_changes_mid_chain() {
    let (r, x, y, p, me) = (addr(1), addr(2), addr(3), addr(4), addr(9));
    let t0 = Instant::now();
    let mut t = node_with(me, t0, &[&[p, x, r]]);
    let seq = t.seq();
    while t.poll_announce(t0).is_some() {}
    let change = t
        .handle_announce(secs(t0, 1), p, &announce(&[p, y, r], 2))
        .unwrap();
    assert!(change.coords_changed);
    assert_eq!(change.parent_change, None);
    assert_eq!(t.seq(), seq + 1);
    assert_eq!(t.my_coords(), vec![me, p, y, r]);
    assert_eq!(t.poll_announce(secs(t0, 1)), Some(p));
    // A seq-only refresh from the parent changes nothing we declare.
    let change = t
        .handle_announce(secs(t0, 2), p, &announce(&[p, y, r], 3))
        .unwrap();
    assert_eq!(change, TreeChange::default());
    assert_eq!(t.seq(), seq + 1);
}

#[test]
fn my_announce_carries_own_entry_and_parent_path() {
    let (r, p, me) = (addr(1), addr(2), addr(9));
    let t0 = Instant::now();
    let mut t = node_with(me, t0, &[&[p, r]]);
    let a = t.my_announce(1234);
    assert_eq!(a.parent, p);
    assert_eq!(a.seq, t.seq());
    assert_eq!(a.ts, 1234);
    assert_eq!(
        a.ancestry[0],
        CoordEntry {
            node: me,
            seq: t.seq(),
            ts: 1234
        }
    );
    assert_eq!(a.ancestry.len(), 3);
    // The timestamp is fixed per declaration.
    assert_eq!(t.my_announce(9999).ts, 1234);
    let root = TreeState::new(me).my_announce(5);
    assert_eq!((root.parent, root.ancestry.len()), (me, 1));
}

#[test]
fn rejects_announce_not_starting_with_sender() {
    let mut t = TreeState::new(addr(9));
    let err = t
        .handle_announce(Instant::now(), addr(3), &announce(&[addr(2), addr(1)], 1))
        .unwrap_err();
    assert_eq!(
        err,
        TreeError::SenderMismatch {
            from: addr(3),
            first: addr(2)
        }
    );
}

#[test]
fn rejects_root_announce_with_extra_entries() {
    let mut t = TreeState::new(addr(9));
    let mut a = announce(&[addr(2), addr(1)], 1);
    a.parent = addr(2);
    let err = t.handle_announce(Instant::now(), addr(2), &a).unwrap_err();
    assert_eq!(err, TreeError::RootAncestryLength { count: 2 });
}

#[test]
fn rejects_announce_whose_second_entry_is_not_the_parent() {
    let mut t = TreeState::new(addr(9));
    let mut a = announce(&[addr(3), addr(2), addr(1)], 1);
    a.parent = addr(4);
    let err = t.handle_announce(Instant::now(), addr(3), &a).unwrap_err();
    assert!(matches!(err, TreeError::ParentMismatch { .. }));
}

#[test]
fn rejects_announce_whose_root_is_not_the_minimum() {
    let mut t = TreeState::new(addr(9));
    let err = t
        .handle_announce(
            Instant::now(),
            addr(3),
            &announce(&[addr(3), addr(1), addr(2)], 1),
        )
        .unwrap_err();
    assert_eq!(
        err,
        TreeError::RootNotMinimum {
            advertised: addr(2),
            minimum: addr(1)
        }
    );
}

#[test]
fn rejects_empty_and_stale_announces() {
    let mut t = TreeState::new(addr(9));
    let now = Instant::now();
    let empty = Announce {
        seq: 1,
        ts: 0,
        parent: addr(3),
        ancestry: vec![],
    };
    assert_eq!(
        t.handle_announce(now, addr(3), &empty),
        Err(TreeError::EmptyAncestry)
    );
    t.handle_announce(now, addr(3), &announce(&[addr(3), addr(1)], 5))
        .unwrap();
    let err = t
        .handle_announce(now, addr(3), &announce(&[addr(3), addr(1)], 5))
        .unwrap_err();
    assert_eq!(err, TreeError::Stale { seq: 5, stored: 5 });
}

#[test]
fn announces_to_one_peer_are_rate_limited_to_one_per_half_second() {
    let (p, me) = (addr(5), addr(2));
    let t0 = Instant::now();
    let mut t = TreeState::new(me);
    t.add_peer(p);
    assert_eq!(t.poll_announce(t0), Some(p));
    assert_eq!(t.poll_announce(t0), None);
    t.add_peer(p);
    let half = t0 + Duration::from_millis(500);
    assert_eq!(t.poll_timeout(), Some(half));
    assert_eq!(t.poll_announce(half - Duration::from_millis(1)), None);
    assert_eq!(t.poll_announce(half), Some(p));
}

#[test]
fn periodic_timeout_rebroadcasts_every_minute() {
    let (r, p, me) = (addr(1), addr(2), addr(9));
    let t0 = Instant::now();
    let mut t = node_with(me, t0, &[&[p, r]]);
    while t.poll_announce(t0).is_some() {}
    assert_eq!(t.poll_timeout(), Some(secs(t0, 60)));
    assert_eq!(t.handle_timeout(secs(t0, 59)), TreeChange::default());
    assert_eq!(t.poll_announce(secs(t0, 59)), None);
    t.handle_timeout(secs(t0, 60));
    assert_eq!(t.poll_announce(secs(t0, 60)), Some(p));
}

#[test]
fn distance_counts_hops_through_lowest_common_ancestor() {
    let (root, x, y, z, a, b) = (addr(1), addr(2), addr(3), addr(4), addr(5), addr(6));
    assert_eq!(distance(&[a, x, y, root], &[b, z, y, root]), 4);
    assert_eq!(distance(&[a, x, root], &[x, root]), 1);
    assert_eq!(distance(&[a, x, root], &[a, x, root]), 0);
    assert_eq!(distance(&[root], &[b, z, root]), 2);
    assert_eq!(distance(&[a, addr(7)], &[b, root]), usize::MAX);
    assert_eq!(distance(&[], &[root]), usize::MAX);
}

#[test]
fn declaration_bytes_match_kat_vector_of_b_child_of_a() {
    let a = hex_addr("69e08d65cc3a6b9c2c2ac4bd405e4b0e");
    let b = hex_addr("8e302c287eb48d6268122fda760b7727");
    let ann = Announce {
        seq: 2,
        ts: 0x6b06_d097,
        parent: a,
        ancestry: vec![
            CoordEntry {
                node: b,
                seq: 2,
                ts: 0x6b06_d097,
            },
            CoordEntry {
                node: a,
                seq: 1,
                ts: 0x6b06_d092,
            },
        ],
    };
    assert_eq!(
        hex::encode(ann.declaration_bytes()),
        "8e302c287eb48d6268122fda760b772769e08d65cc3a6b9c2c2ac4bd405e4b0e\
         020000000000000097d0066b00000000"
    );
    let mut t = TreeState::new(hex_addr("aca221406950440c41d550280ed15a7f"));
    t.handle_announce(Instant::now(), b, &ann).unwrap();
    assert_eq!(t.root(), a);
    assert_eq!(t.parent(), Some(b));
}

#[test]
fn partition_elects_local_root_and_merge_restores_global_root() {
    let (a, b, c) = (addr(1), addr(2), addr(3));
    let t0 = Instant::now();
    let mut mesh = Mesh::new(&[a, b, c], &[(a, b), (b, c)]);
    mesh.run(t0, 10);
    assert_eq!(mesh.get(&c).root(), a);
    let cut = t0 + Duration::from_secs(10);
    mesh.nodes.get_mut(&a).unwrap().remove_peer(cut, &b);
    mesh.nodes.get_mut(&b).unwrap().remove_peer(cut, &a);
    mesh.run(cut, 10);
    assert!(mesh.get(&b).is_root());
    assert_eq!(mesh.get(&c).root(), b);
    assert_eq!(mesh.get(&c).my_coords(), vec![c, b]);
    let heal = t0 + Duration::from_secs(20);
    mesh.nodes.get_mut(&a).unwrap().add_peer(b);
    mesh.nodes.get_mut(&b).unwrap().add_peer(a);
    mesh.run(heal, 10);
    assert_eq!(mesh.get(&c).my_coords(), vec![c, b, a]);
}

#[test]
fn a_silent_parent_is_left_at_once_for_an_answering_peer_and_kept_without_one() {
    let (r, p, q, me) = (addr(1), addr(2), addr(3), addr(9));
    let t0 = Instant::now();
    let mut t = node_with(me, t0, &[&[p, r], &[q, p, r]]);
    assert_eq!(t.parent(), Some(p));
    // Within hold-down of the first choice, q is deeper: only silence moves us.
    let change = t.set_peer_silent(secs(t0, 1), &p, true);
    assert_eq!(change.parent_change.unwrap().new_parent, Some(q));
    assert_eq!(t.my_coords(), vec![me, q, p, r]);
    // q goes silent too: nobody answers, so we keep it rather than become root.
    let change = t.set_peer_silent(secs(t0, 2), &q, true);
    assert!(change.parent_change.is_none());
    assert_eq!(t.parent(), Some(q));
    // p answers again: an ordinary, better candidate; q silent, so at once.
    let change = t.set_peer_silent(secs(t0, 3), &p, false);
    assert_eq!(change.parent_change.unwrap().new_parent, Some(p));
}

#[test]
fn a_parent_left_for_silence_is_taken_back_at_once_when_it_answers() {
    let (r, p, q, me) = (addr(1), addr(2), addr(3), addr(9));
    let t0 = Instant::now();
    let mut t = node_with(me, t0, &[&[p, r], &[q, r]]);
    assert_eq!(t.parent(), Some(p));
    let change = t.set_peer_silent(secs(t0, 1), &p, true);
    assert_eq!(change.parent_change.unwrap().new_parent, Some(q));
    // Two seconds later, well within hold-down, p answers again: back.
    let change = t.set_peer_silent(secs(t0, 3), &p, false);
    assert_eq!(change.parent_change.unwrap().new_parent, Some(p));
    // An ordinary better candidate still waits out hold-down.
    t.handle_announce(secs(t0, 4), q, &announce(&[q, r], 2))
        .unwrap();
    assert_eq!(t.parent(), Some(p));
}
