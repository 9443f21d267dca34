//! Benchmark (not a test): the per-packet AEAD cost of the data path, to
//! budget it against the throughput goal. A packet is sealed twice at its
//! source (session, then link), opened and sealed once per transit hop
//! (link), and opened twice at its destination.
//!
//!   cargo run --release -p fips --example crypto_cost [bytes]

use std::time::Instant;

use fips_proto::noise::{RecvKey, SendKey};

fn main() {
    let size: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1300);
    let key = [7u8; 32];
    let (tx, rx) = (SendKey::from_bytes(&key), RecvKey::from_bytes(&key));
    let ad = [0u8; 16];
    let n = 200_000u64;
    let mut buf = Vec::with_capacity(size + 16);
    let t = Instant::now();
    let mut opened = 0;
    for c in 0..n {
        buf.clear();
        buf.resize(size, 0x42);
        tx.seal(c, &ad, &mut buf);
        opened += rx.open(c, &ad, &mut buf).map(|p| p.len()).unwrap_or(0);
    }
    let per = t.elapsed().as_secs_f64() / n as f64 / 2.0;
    assert_eq!(opened, size * n as usize);
    println!(
        "{size}-byte ChaCha20-Poly1305: {:.2} us per seal or open ({:.0} MB/s)",
        per * 1e6,
        size as f64 / per / 1e6
    );
    let pps = 750e6 / 8.0 / 1220.0;
    println!(
        "750 Mbit/s of 1220-byte TCP segments = {pps:.0} packets/s; two AEAD ops per packet per end = {:.0}% of a core",
        pps * 2.0 * per * 100.0
    );
}
