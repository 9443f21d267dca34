//! Flood helpers: a pipelined UDP blaster of distinct, valid
//! `<npub>.fips` queries, and RSS readings of a daemon from /proc.
//!
//! Used through `#[path = "support/blast.rs"] mod blast;`.

#![allow(dead_code)]

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fips_proto::identity::PeerIdentity;

/// Queries in flight at most: above the server's in-flight bound would
/// only measure drops, below it would measure our round trips.
const WINDOW: u64 = 256;
/// No answer for this long: the outstanding queries count as lost.
const STALL: Duration = Duration::from_millis(100);

/// Cheap distinct valid x-only keys: a splitmix64 stream gives x; about
/// half of all x are on the curve, and the check is the library's own
/// (`from_xonly`), the one the daemon runs. No secret key is ever made.
pub struct Keys {
    state: u64,
}

impl Keys {
    pub fn new(seed: u64) -> Keys {
        Keys { state: seed }
    }

    fn next_x(&mut self) -> [u8; 32] {
        let mut x = [0u8; 32];
        for chunk in x.chunks_mut(8) {
            // splitmix64
            self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            chunk.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
        }
        x
    }
}

impl Iterator for Keys {
    type Item = PeerIdentity;

    fn next(&mut self) -> Option<PeerIdentity> {
        loop {
            if let Ok(id) = PeerIdentity::from_xonly(self.next_x()) {
                return Some(id);
            }
        }
    }
}

/// A wire-format AAAA query for `name`, id `id`, RD set.
pub fn query(id: u16, name: &str) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.').filter(|l| !l.is_empty()) {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 28, 0, 1]);
    q
}

/// What a flood did.
#[derive(Debug, Clone, Copy)]
pub struct Flood {
    pub sent: u64,
    /// Answers with NOERROR and at least one record.
    pub answered: u64,
    pub secs: f64,
}

/// Sends `n` queries for distinct valid npubs to `server`, keeping up to
/// [`WINDOW`] in flight (pipelined, never one round trip per query).
/// Runs in the caller's network namespace.
pub fn dns_flood(server: SocketAddr, n: u64, seed: u64) -> Flood {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind blaster");
    sock.connect(server).expect("connect blaster");
    let rx = sock.try_clone().expect("clone socket");
    rx.set_read_timeout(Some(Duration::from_millis(50)))
        .expect("timeout");
    let (answered, replies, done) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicBool::new(false)),
    );
    let receiver = {
        let (answered, replies, done) = (answered.clone(), replies.clone(), done.clone());
        std::thread::spawn(move || receive(&rx, &answered, &replies, &done))
    };
    let t0 = Instant::now();
    let mut keys = Keys::new(seed);
    let (mut sent, mut written_off) = (0u64, 0u64);
    let mut last_progress = (Instant::now(), 0u64);
    while sent < n {
        let got = replies.load(Relaxed);
        if sent.saturating_sub(got + written_off) >= WINDOW {
            if got != last_progress.1 {
                last_progress = (Instant::now(), got);
            } else if last_progress.0.elapsed() > STALL {
                written_off = sent.saturating_sub(got);
            }
            std::thread::yield_now();
            continue;
        }
        let id = keys.next().expect("endless keys");
        let q = query(sent as u16, &format!("{}.fips", id.npub()));
        if sock.send(&q).is_ok() {
            sent += 1;
        }
    }
    // The last answers.
    let settle = Instant::now();
    while replies.load(Relaxed) + written_off < sent && settle.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(10));
    }
    done.store(true, Relaxed);
    receiver.join().expect("receiver");
    Flood {
        sent,
        answered: answered.load(Relaxed),
        secs: t0.elapsed().as_secs_f64(),
    }
}

fn receive(rx: &UdpSocket, answered: &AtomicU64, replies: &AtomicU64, done: &AtomicBool) {
    let mut buf = [0u8; 512];
    while !done.load(Relaxed) {
        let Ok(n) = rx.recv(&mut buf) else { continue };
        replies.fetch_add(1, Relaxed);
        let noerror = n >= 12 && buf[3] & 0x0f == 0;
        if noerror && u16::from_be_bytes([buf[6], buf[7]]) > 0 {
            answered.fetch_add(1, Relaxed);
        }
    }
}

pub use fips_testkit::daemon::rss_kib;

/// Polls RSS until it is at most `limit_kib` or `timeout` passes; the last
/// reading.
pub fn settle_rss(pid: u32, limit_kib: u64, timeout: Duration) -> u64 {
    let deadline = Instant::now() + timeout;
    loop {
        let (rss, _) = rss_kib(pid);
        if rss <= limit_kib || Instant::now() >= deadline {
            return rss;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Scale of a flood: `FIPS_FLOOD_FULL=1` runs the full sizes,
/// `FIPS_FLOOD_N=<n>` any size, else the CI size.
pub fn size(ci: u64, full: u64) -> u64 {
    if let Some(n) = std::env::var("FIPS_FLOOD_N")
        .ok()
        .and_then(|n| n.parse().ok())
    {
        return n;
    }
    match std::env::var("FIPS_FLOOD_FULL").as_deref() {
        Ok("1") => full,
        _ => ci,
    }
}
