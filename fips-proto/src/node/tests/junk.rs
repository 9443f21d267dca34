//! Junk handshakes: msg1-shaped datagrams from senders without a key.
//! The admission gate refuses them before any ECDH, while the known peers'
//! rekeys and a new peer's handshake still get through.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{mesh_identities, secs, LinkParams, Sim};
use crate::node::codec;

/// Sends `per_step` junk msg1 to node `to` every 10 ms for `d`, from 256
/// stranger addresses (10.9.0.0/24, many ports).
fn flood(sim: &mut Sim, to: usize, per_step: usize, d: Duration, rng: &mut ChaCha8Rng) {
    let end = sim.now + d;
    let mut n = 0u32;
    while sim.now < end {
        sim.run_for(Duration::from_millis(10));
        for _ in 0..per_step {
            let mut noise = [0u8; 106];
            rng.fill_bytes(&mut noise);
            noise[0] = 0x02;
            let mut data = codec::msg1(rng.next_u32(), noise);
            n = n.wrapping_add(1);
            let ip = IpAddr::V4(Ipv4Addr::new(10, 9, 0, n as u8));
            let from = SocketAddr::new(ip, 1024 + (n % 50_000) as u16);
            let now = sim.now;
            sim.node_mut(to).handle_datagram(now, from, &mut data);
        }
    }
}

fn link_id(sim: &Sim, i: usize) -> u64 {
    sim.node(i).snapshot(sim.now).peers.peers[0].link_id
}

#[test]
fn a_junk_msg1_flood_is_refused_while_peers_rekey_and_a_new_peer_links() {
    let mut sim = Sim::new(41);
    sim.timers.rekey_after = secs(8);
    sim.timers.rekey_jitter = secs(1);
    for (name, id) in mesh_identities().into_iter().take(4) {
        sim.add_node(&name, id);
    }
    sim.dial(0, 1, LinkParams::default());
    sim.dial(2, 1, LinkParams::default());
    sim.run_for(secs(2));
    let link0 = link_id(&sim, 0);
    let rekeys_before = sim.node(1).counters().rekeys;
    let mut rng = ChaCha8Rng::seed_from_u64(7);

    // 10,000 junk msg1 per second for 30 s, from 256 sources: more than
    // the global budgets (500/s + 50/s) let through.
    flood(&mut sim, 1, 100, secs(10), &mut rng);
    sim.dial(3, 1, LinkParams::default());
    flood(&mut sim, 1, 100, secs(5), &mut rng);
    // A known peer restarts: its msg1 comes from a linked peer's address.
    sim.restart(2);
    flood(&mut sim, 1, 100, secs(15), &mut rng);

    assert!(
        sim.linked(0, 1) && sim.linked(2, 1),
        "known peers stay linked"
    );
    assert_eq!(link_id(&sim, 0), link0, "a link that was up never relinked");
    assert!(sim.linked(1, 2), "the restarted peer relinked");
    assert!(sim.linked(3, 1), "a new peer links during the flood");
    let c = sim.node(1).counters();
    assert!(c.rekeys > rekeys_before, "rekeys go on: {c:?}");
    assert_eq!(c.peer_restarts, 1, "{c:?}");
    let s = sim.node(1).admission_stats();
    assert!(s.refused > 250_000, "{s:?}");
    // About 100/s over the 30 s, plus the clean burst the junk spends
    // before its sources are flagged.
    let bound = 100 * 30 + 200 + crate::node::admission::CLEAN_BURST as u64;
    assert!(s.admitted_unknown < bound, "{s:?}");
    assert!(s.admitted_known >= 1, "{s:?}");
    assert_eq!(s.refused_known, 0, "{s:?}");
    assert_eq!(c.msg1_rate_limited, s.refused, "{c:?}");
}
