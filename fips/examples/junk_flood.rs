//! Load tool (not a test): floods a FIPS UDP port with msg1-shaped junk,
//! the handshake initiation a sender without a key can make: a valid curve
//! point as the ephemeral key, then garbage where the encrypted static key
//! and payload belong. Each one that passes the responder's rate limits
//! costs it an ECDH before the garbage is found.
//!
//! Sends from every `--sources` address × `--ports` source ports (one socket
//! each, taken in turn per batch), paced to `--rate` datagrams/s, or as
//! fast as one core can send with `--rate 0`. One datagram per skb (no GSO),
//! so the target pays per datagram as it would from the wire.
//!
//!   cargo run --release -p fips --example junk_flood -- \
//!       --target 10.0.0.2:2121 --rate 100000 --seconds 10 --sources 10.0.9.1,10.0.9.2

use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use fips::udp::{SendBatch, UdpSocket};
use fips_proto::identity::Identity;
use fips_proto::wire::fmp::Msg1;
use rand::RngCore;

#[derive(Parser)]
struct Args {
    /// The FIPS UDP port to flood, IP:PORT.
    #[arg(long)]
    target: SocketAddr,
    /// Datagrams per second; 0 sends as fast as it can.
    #[arg(long, default_value_t = 20_000)]
    rate: u64,
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Local addresses to send from, comma-separated (each must be
    /// assigned to an interface here).
    #[arg(long, value_delimiter = ',', default_value = "0.0.0.0")]
    sources: Vec<IpAddr>,
    /// Source ports (sockets) per source address.
    #[arg(long, default_value_t = 16)]
    ports: usize,
    /// Datagrams per sendmmsg call.
    #[arg(long, default_value_t = 64)]
    batch: usize,
}

/// Distinct valid ephemeral points to put in front of the garbage.
const POINTS: usize = 64;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let sockets = bind_all(&args)?;
    let points = valid_points();
    let (sent, took) = flood(&args, &sockets, &points)?;
    let cpu = process_cpu_secs();
    println!(
        "junk_flood: sent {sent} msg1 in {:.2} s = {:.0}/s from {} sockets; own CPU {:.2} s ({:.0}% of a core)",
        took.as_secs_f64(),
        sent as f64 / took.as_secs_f64(),
        sockets.len(),
        cpu,
        100.0 * cpu / took.as_secs_f64()
    );
    Ok(())
}

fn bind_all(args: &Args) -> anyhow::Result<Vec<UdpSocket>> {
    let mut out = Vec::new();
    for ip in &args.sources {
        for _ in 0..args.ports.max(1) {
            let s = UdpSocket::bind(SocketAddr::new(*ip, 0))
                .with_context(|| format!("cannot bind a socket to {ip}: is it assigned here?"))?;
            s.disable_gso();
            out.push(s);
        }
    }
    Ok(out)
}

fn valid_points() -> Vec<[u8; 33]> {
    let mut rng = rand::rngs::OsRng;
    (0..POINTS)
        .map(|_| Identity::generate(&mut rng).public().compressed())
        .collect()
}

/// One junk msg1: a valid point, then random bytes.
fn junk(rng: &mut impl RngCore, point: &[u8; 33], out: &mut Vec<u8>) {
    let mut noise = [0u8; 106];
    rng.fill_bytes(&mut noise[33..]);
    noise[..33].copy_from_slice(point);
    out.clear();
    Msg1 {
        sender_idx: rng.next_u32(),
        noise,
    }
    .emit(out);
}

fn flood(
    args: &Args,
    sockets: &[UdpSocket],
    points: &[[u8; 33]],
) -> anyhow::Result<(u64, Duration)> {
    let mut rng = rand::thread_rng();
    let mut batch = SendBatch::new(args.batch.max(1));
    let mut buf = Vec::with_capacity(Msg1::LEN);
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(args.seconds);
    let (mut sent, mut turn) = (0u64, 0usize);
    while Instant::now() < end {
        if args.rate > 0 {
            pace(start, sent, args.rate);
        }
        while !batch.is_full() {
            junk(&mut rng, &points[sent as usize % points.len()], &mut buf);
            batch.push(args.target, &buf);
        }
        let n = batch.pending() as u64;
        let sock = &sockets[turn % sockets.len()];
        turn += 1;
        match sock.try_send_batch(&mut batch) {
            Ok(()) => sent += n,
            // A full socket buffer: the rest of this batch is dropped.
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                sent += n - batch.pending() as u64;
                batch.clear();
            }
            Err(e) => return Err(e).context("sendmmsg failed"),
        }
    }
    Ok((sent, start.elapsed()))
}

/// Sleeps until `sent` datagrams are due at `rate` per second.
fn pace(start: Instant, sent: u64, rate: u64) {
    let due = start + Duration::from_secs_f64(sent as f64 / rate as f64);
    if let Some(wait) = due.checked_duration_since(Instant::now()) {
        std::thread::sleep(wait);
    }
}

/// User + system CPU seconds of this process.
fn process_cpu_secs() -> f64 {
    // SAFETY: getrusage only writes the struct we pass it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_SELF with a valid pointer to a rusage.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return 0.0;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}
