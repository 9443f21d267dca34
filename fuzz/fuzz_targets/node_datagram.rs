//! The node's whole receive path: a responder with one established link gets
//! arbitrary datagrams. Established frames are steered onto the live
//! receiver index so replay, AEAD and dispatch run, not just the index miss.
//! Nothing may panic; the link survives unless 20 frames in a row failed
//! authentication (the reference's eviction rule).
#![no_main]

#[path = "common/linked.rs"]
mod linked;

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let now = Instant::now();
    let linked::Linked { a: _a, mut b, a_addr, b_index, .. } = linked::linked(now);
    let mut msg = Vec::new();

    // Each chunk between 0xff bytes is one datagram, 10 ms apart.
    let mut t = now;
    for chunk in data.split(|x| *x == 0xff) {
        let mut d = chunk.to_vec();
        if d.len() >= 8 && d[0] == 0x00 {
            d[4..8].copy_from_slice(&b_index);
        }
        t += Duration::from_millis(10);
        b.handle_datagram(t, a_addr, &mut d);
        b.handle_timeout(t);
        while b.poll_transmit(&mut msg).is_some() {}
    }
    assert!(b.peer_addrs().len() == 1 || b.counters().decrypt_failed >= 20);
});
