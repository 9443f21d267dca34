//! Hostile and broken input: every drop is counted, nothing panics.

use super::{chain_after, secs, LinkParams};

/// a dials b, c dials b 2 s later: b keeps a and refuses c.
fn assert_b_keeps_a_and_refuses_c(sim: &mut super::Sim) {
    sim.dial(0, 1, LinkParams::default());
    sim.run_for(secs(2));
    sim.dial(2, 1, LinkParams::default());
    sim.run_for(secs(5));
    assert!(sim.linked(1, 0) && !sim.linked(1, 2));
}

#[test]
fn malformed_replayed_and_forged_datagrams_are_counted_and_dropped() {
    let mut sim = chain_after(4, 15);
    let frame = sim
        .capture
        .iter()
        .rev()
        .find(|c| c.from == 1 && c.to == 0 && c.bytes[0] == 0)
        .expect("an established frame b->a")
        .bytes
        .clone();
    // Let it arrive first (it may have been sent this very instant).
    sim.run_for(std::time::Duration::from_millis(50));
    sim.inject(1, 0, &frame);
    assert_eq!(sim.node(0).counters().replayed, 1);

    for junk in [
        &[][..],
        &[0x00][..],
        &[0x7f, 0, 0, 0, 1, 2][..],
        &[0x01; 113][..],
    ] {
        sim.inject(1, 0, junk);
    }
    assert_eq!(sim.node(0).counters().malformed, 4);

    let mut forged = frame.clone();
    forged[8] = forged[8].wrapping_add(100); // a fresh counter, tag no longer matches
    sim.inject(1, 0, &forged);
    assert_eq!(sim.node(0).counters().decrypt_failed, 1);

    let mut stray = frame;
    stray[4] ^= 0xff; // unknown receiver index
    sim.inject(1, 0, &stray);
    assert_eq!(sim.node(0).counters().unknown_index, 1);

    sim.run_for(secs(30));
    assert!(sim.linked(0, 1), "hostile input must not hurt the link");
}

#[test]
fn random_and_mutated_datagrams_never_panic_and_are_counted() {
    use rand_chacha::rand_core::{RngCore, SeedableRng};
    let mut sim = chain_after(20, 45);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(99);
    let samples: Vec<Vec<u8>> = sim
        .capture
        .iter()
        .rev()
        .take(50)
        .map(|c| c.bytes.clone())
        .collect();
    for round in 0..3000 {
        let d = if round % 2 == 0 {
            let mut v = vec![0u8; (rng.next_u32() % 1500) as usize];
            rng.fill_bytes(&mut v);
            if let Some(b) = v.first_mut() {
                *b &= 0x03; // a valid-looking phase
            }
            v
        } else {
            let mut v = samples[round % samples.len()].clone();
            let i = rng.next_u32() as usize % v.len();
            v[i] ^= 1 << (rng.next_u32() % 8);
            v
        };
        sim.inject(1, 0, &d);
    }
    let c = sim.node(0).counters();
    let dropped =
        c.malformed + c.unknown_index + c.decrypt_failed + c.replayed + c.handshake_failed;
    assert!(dropped >= 2900, "{c:?}");
    sim.run_for(secs(30));
    assert!(sim.linked(0, 1) && sim.linked(2, 1));
}

#[test]
fn new_identities_beyond_max_peers_are_refused() {
    let mut sim = super::Sim::new(26);
    sim.timers.max_peers = 1;
    for (name, id) in super::mesh_identities().into_iter().take(3) {
        sim.add_node(&name, id);
    }
    assert_b_keeps_a_and_refuses_c(&mut sim);
    assert!(sim.node(1).counters().peer_limit >= 1);
}

#[test]
fn new_identities_beyond_max_links_are_refused() {
    let mut sim = super::Sim::new(27);
    let ids: Vec<_> = super::mesh_identities().into_iter().take(3).collect();
    sim.add_node(&ids[0].0, ids[0].1.clone());
    sim.timers.max_links = 1;
    sim.add_node(&ids[1].0, ids[1].1.clone());
    sim.timers = Default::default();
    sim.add_node(&ids[2].0, ids[2].1.clone());
    assert_b_keeps_a_and_refuses_c(&mut sim);
    assert!(sim.node(1).counters().link_limit >= 1);
    assert_eq!(sim.node(1).counters().peer_limit, 0);
}

#[test]
fn dials_beyond_max_connections_wait_and_are_counted() {
    let mut sim = super::Sim::new(28);
    let ids: Vec<_> = super::mesh_identities().into_iter().take(3).collect();
    sim.timers.max_connections = 1;
    sim.add_node(&ids[0].0, ids[0].1.clone());
    sim.timers = Default::default();
    sim.add_node(&ids[1].0, ids[1].1.clone());
    sim.add_node(&ids[2].0, ids[2].1.clone());
    sim.dial(0, 1, LinkParams::default());
    sim.dial(0, 2, LinkParams::default());
    assert_eq!(sim.node(0).counters().connection_limit, 1);
    sim.run_for(secs(20));
    assert!(
        sim.linked(0, 1) && sim.linked(0, 2),
        "the put-off dial is retried"
    );
}

/// A msg1 we answered, arriving again from its sender's address, gets the
/// same msg2 without a new handshake (the stored answer is found among
/// the peers linked at that IP); from any other IP it is not a retransmit.
#[test]
fn a_retransmitted_msg1_gets_the_stored_msg2_and_no_new_link() {
    let mut sim = chain_after(4, 15);
    let first = |sim: &super::Sim, kind: u8| {
        sim.capture
            .iter()
            .find(|c| c.bytes[0] == kind)
            .map(|c| (c.from, c.to, c.bytes.clone()))
            .expect("a handshake message in the capture")
    };
    let (from, to, msg1) = first(&sim, 1);
    let (_, _, msg2) = first(&sim, 2);
    let link = sim.node(to).snapshot(sim.now).peers.peers[0].link_id;
    sim.capture.clear();
    sim.inject(from, to, &msg1);
    sim.run_for(std::time::Duration::from_millis(50));
    assert_eq!(sim.node(to).counters().msg1_duplicate, 1);
    let again: Vec<&Vec<u8>> = sim
        .capture
        .iter()
        .filter(|c| c.from == to && c.bytes[0] == 2)
        .map(|c| &c.bytes)
        .collect();
    assert_eq!(again, [&msg2], "the same msg2, once");
    assert_eq!(sim.node(to).snapshot(sim.now).peers.peers[0].link_id, link);
    // The same bytes from an IP no peer of `to` is linked at (no node of
    // the chain has index 40).
    let (now, mut copy) = (sim.now, msg1.clone());
    sim.node_mut(to)
        .handle_datagram(now, super::Sim::addr_of(40), &mut copy);
    assert_eq!(
        sim.node(to).counters().msg1_duplicate,
        1,
        "not a retransmit"
    );
    sim.run_for(secs(5));
    assert!(sim.linked(from, to));
}
