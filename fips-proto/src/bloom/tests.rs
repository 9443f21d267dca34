// Tests unwrap freely: a panic is a failed assertion here.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use super::*;

fn hex_addr(h: &str) -> NodeAddr {
    NodeAddr::from_slice(&hex::decode(h).unwrap()).unwrap()
}

fn addr(n: u8) -> NodeAddr {
    NodeAddr([n; 16])
}

/// kat.json "bloom_bit_indices" (node addresses from its "identities").
const KAT: [(&str, [usize; 5]); 4] = [
    (
        "69e08d65cc3a6b9c2c2ac4bd405e4b0e",
        [5680, 6670, 7660, 458, 1448],
    ),
    (
        "8e302c287eb48d6268122fda760b7727",
        [4485, 2125, 7957, 5597, 3237],
    ),
    (
        "aca221406950440c41d550280ed15a7f",
        [5068, 3836, 2604, 1372, 140],
    ),
    (
        "b68411a1916d48efc6b8bd63bb1cd7df",
        [2192, 1542, 892, 242, 7784],
    ),
];

#[test]
fn bit_indices_match_kat_vectors() {
    for (h, want) in KAT {
        assert_eq!(bit_indices(&hex_addr(h)), want, "node {h}");
    }
}

#[test]
fn bits_are_stored_lsb_first_in_each_byte() {
    let mut f = BloomFilter::new();
    f.insert(&hex_addr(KAT[0].0));
    // Bit 5680 is byte 710 bit 0; bit 6670 is byte 833 bit 6.
    assert_eq!(f.as_bytes()[710], 0x01);
    assert_eq!(f.as_bytes()[833], 0x40);
    assert_eq!(f.count_ones(), 5);
}

#[test]
fn filter_of_a_b_c_has_the_fifteen_observed_bits() {
    let mut f = BloomFilter::new();
    for (h, _) in &KAT[..3] {
        f.insert(&hex_addr(h));
    }
    assert_eq!(f.count_ones(), 15);
    for (h, _) in &KAT[..3] {
        assert!(f.contains(&hex_addr(h)));
    }
    assert!(!f.contains(&hex_addr(KAT[3].0)));
}

#[test]
fn merge_is_a_union_and_rates_follow_the_fill() {
    let (mut x, mut y) = (BloomFilter::new(), BloomFilter::new());
    x.insert(&addr(1));
    y.insert(&addr(2));
    x.merge(&y);
    assert!(x.contains(&addr(1)) && x.contains(&addr(2)));
    let half = BloomFilter::from_bytes([0x0f; FILTER_BYTES]);
    assert_eq!(half.fill_ratio(), 0.5);
    assert!((half.false_positive_rate() - 0.03125).abs() < 1e-12);
    assert!(BloomFilter::new().is_empty());
}

#[test]
fn estimated_count_is_close_for_a_hundred_members() {
    let mut f = BloomFilter::new();
    for i in 0..100u8 {
        f.insert(&addr(i));
    }
    let n = f.estimated_count().unwrap();
    assert!((n - 100.0).abs() < 5.0, "estimated {n}");
    assert_eq!(
        BloomFilter::from_bytes([0xff; FILTER_BYTES]).estimated_count(),
        None
    );
}

fn filter_of(members: &[NodeAddr]) -> BloomFilter {
    let mut f = BloomFilter::new();
    for m in members {
        f.insert(m);
    }
    f
}

fn feed(s: &mut BloomState, peer: NodeAddr, seq: u64, f: &BloomFilter) -> Result<bool, BloomError> {
    s.handle_announce(peer, seq, HASH_COUNT, SIZE_CLASS, f.as_bytes())
}

/// A state for `addr(1)` with peers `addr(2)` and `addr(3)`; and the three.
fn two_peers() -> (BloomState, [NodeAddr; 3]) {
    let (me, p, q) = (addr(1), addr(2), addr(3));
    let mut s = BloomState::new(me);
    s.add_peer(p);
    s.add_peer(q);
    (s, [me, p, q])
}

#[test]
fn outgoing_filter_applies_split_horizon_over_tree_peers_only() {
    let (me, parent, child, mesh) = (addr(10), addr(11), addr(12), addr(13));
    let (up, down, side) = (addr(21), addr(22), addr(23));
    let mut s = BloomState::new(me);
    feed(&mut s, parent, 1, &filter_of(&[parent, up])).unwrap();
    feed(&mut s, child, 1, &filter_of(&[child, down])).unwrap();
    feed(&mut s, mesh, 1, &filter_of(&[mesh, side])).unwrap();
    s.set_tree_peers(Instant::now(), &[parent, child]);

    let to_parent = s.outgoing_for(&parent);
    assert!(to_parent.contains(&me) && to_parent.contains(&down));
    assert!(!to_parent.contains(&up), "parent's own entries echoed back");
    assert!(!to_parent.contains(&side), "non-tree filter merged");

    let to_child = s.outgoing_for(&child);
    assert!(to_child.contains(&up) && !to_child.contains(&down));

    let to_mesh = s.outgoing_for(&mesh);
    assert!(to_mesh.contains(&up) && to_mesh.contains(&down));
    assert!(!to_mesh.contains(&side));

    assert_eq!(s.candidates(&side), vec![mesh]);
    assert!(s.may_reach(&child, &down) && !s.may_reach(&parent, &down));
}

#[test]
fn antipoison_rejects_filters_above_twenty_percent_false_positives() {
    let mut s = BloomState::new(addr(1));
    // 75 % fill: 0.75^5 = 0.237.
    let mut bytes = [0u8; FILTER_BYTES];
    bytes[..768].fill(0xff);
    let err = s.handle_announce(addr(2), 1, 5, 1, &bytes).unwrap_err();
    assert!(matches!(err, BloomError::Poisoned { .. }));
    assert!(s.inbound(&addr(2)).is_none());
    // 72 % fill: 0.72^5 = 0.193 is still accepted.
    let mut bytes = [0u8; FILTER_BYTES];
    bytes[..737].fill(0xff);
    bytes[737] = 0x0f;
    s.handle_announce(addr(2), 2, 5, 1, &bytes).unwrap();
    assert!(s.inbound(&addr(2)).is_some());
}

#[test]
fn rejects_stale_seq_until_the_peer_is_removed() {
    let mut s = BloomState::new(addr(1));
    let f = filter_of(&[addr(2)]);
    feed(&mut s, addr(2), 7, &f).unwrap();
    let err = feed(&mut s, addr(2), 7, &f).unwrap_err();
    assert_eq!(
        err,
        BloomError::Stale {
            peer: addr(2),
            seq: 7,
            last: 7
        }
    );
    assert!(feed(&mut s, addr(2), 6, &f).is_err());
    assert!(s.remove_peer(&addr(2)));
    feed(&mut s, addr(2), 1, &f).unwrap();
    assert_eq!(s.inbound_seq(&addr(2)), Some(1));
}

#[test]
fn rejects_wrong_size_class_hash_count_and_length() {
    let mut s = BloomState::new(addr(1));
    let f = BloomFilter::new();
    assert_eq!(
        s.handle_announce(addr(2), 1, 5, 2, f.as_bytes()),
        Err(BloomError::SizeClass { size_class: 2 })
    );
    assert_eq!(
        s.handle_announce(addr(2), 1, 4, 1, f.as_bytes()),
        Err(BloomError::HashCount { hash_count: 4 })
    );
    assert_eq!(
        s.handle_announce(addr(2), 1, 5, 1, &[0u8; 512]),
        Err(BloomError::Length { len: 512 })
    );
}

#[test]
fn sends_use_one_global_seq_and_a_half_second_debounce() {
    let (mut s, [me, p, q]) = two_peers();
    let t0 = Instant::now();
    s.set_tree_peers(t0, &[p, q]);
    let first = s.poll_send(t0).unwrap();
    let second = s.poll_send(t0).unwrap();
    assert_eq!((first.peer, first.seq), (p, 1));
    assert_eq!((second.peer, second.seq), (q, 2));
    assert!(first.filter.contains(&me));
    assert_eq!(s.poll_send(t0), None);

    // q's filter changes: only p's outgoing filter changes.
    feed(&mut s, q, 1, &filter_of(&[q, addr(9)])).unwrap();
    s.refresh(t0);
    assert_eq!(s.poll_send(t0), None, "debounced");
    let due = t0 + Duration::from_millis(500);
    assert_eq!(s.poll_timeout(), Some(due));
    let third = s.poll_send(due).unwrap();
    assert_eq!((third.peer, third.seq), (p, 3));
    assert!(third.filter.contains(&addr(9)));
    assert_eq!(s.poll_send(due), None);
    assert_eq!(s.send_seq(), 3);
}

#[test]
fn refresh_after_tree_change_resends_only_changed_filters() {
    let (mut s, [_, p, q]) = two_peers();
    let t0 = Instant::now();
    feed(&mut s, q, 1, &filter_of(&[q])).unwrap();
    // q is not yet a tree peer: p gets only us.
    s.set_tree_peers(t0, &[p]);
    while s.poll_send(t0).is_some() {}
    // q becomes our child: p must now hear about q, q hears nothing new.
    let later = t0 + Duration::from_secs(1);
    s.set_tree_peers(later, &[p, q]);
    let out = s.poll_send(later).unwrap();
    assert_eq!(out.peer, p);
    assert!(out.filter.contains(&q));
    assert_eq!(s.poll_send(later), None);
}

#[test]
fn stats_count_each_inbound_outcome_once() {
    let mut s = BloomState::new(addr(1));
    let f = filter_of(&[addr(2)]);
    feed(&mut s, addr(2), 1, &f).unwrap();
    feed(&mut s, addr(2), 1, &f).unwrap_err();
    s.handle_announce(addr(2), 2, 5, 2, f.as_bytes())
        .unwrap_err();
    s.handle_announce(addr(2), 2, 4, 1, f.as_bytes())
        .unwrap_err();
    s.handle_announce(addr(2), 2, 5, 1, &[0u8; 512])
        .unwrap_err();
    let mut full = [0u8; FILTER_BYTES];
    full[..768].fill(0xff);
    s.handle_announce(addr(2), 2, 5, 1, &full).unwrap_err();
    s.record_decode_error();
    let st = s.stats();
    assert_eq!(
        (st.received, st.accepted, st.stale, st.non_v1, st.invalid),
        (7, 1, 1, 2, 1)
    );
    assert_eq!(
        (st.fill_exceeded, st.decode_error, st.unknown_peer),
        (1, 1, 0)
    );
}

#[test]
fn stats_count_a_debounced_change_once_and_remember_the_last_filter_sent() {
    let (mut s, [me, p, q]) = two_peers();
    let t0 = Instant::now();
    s.set_tree_peers(t0, &[p, q]);
    while let Some(_out) = s.poll_send(t0) {
        s.record_send(true);
    }
    assert_eq!(s.last_sent(&p), Some(&filter_of(&[me])));
    feed(&mut s, q, 1, &filter_of(&[q])).unwrap();
    s.refresh(t0);
    let ms = Duration::from_millis;
    assert_eq!(s.poll_send(t0 + ms(100)), None);
    assert_eq!(s.poll_send(t0 + ms(200)), None);
    let out = s.poll_send(t0 + ms(500)).unwrap();
    assert_eq!(s.stats().debounce_suppressed, 1, "one change held once");
    s.record_send(false);
    assert_eq!(s.last_sent(&p), Some(&out.filter));
    let st = s.stats();
    assert_eq!((st.sent, st.send_failed), (2, 1));
}

#[test]
fn a_filter_sent_again_unchanged_asks_for_no_refresh_but_moves_the_seq() {
    let (mut s, [_, p, _]) = two_peers();
    let f = filter_of(&[addr(7)]);
    assert_eq!(feed(&mut s, p, 1, &f), Ok(true));
    assert_eq!(feed(&mut s, p, 2, &f), Ok(false));
    assert_eq!(s.inbound_seq(&p), Some(2));
    assert!(matches!(
        feed(&mut s, p, 2, &f),
        Err(BloomError::Stale { .. })
    ));
    assert_eq!(feed(&mut s, p, 3, &filter_of(&[addr(8)])), Ok(true));
    assert_eq!(s.stats().accepted, 3);
}
