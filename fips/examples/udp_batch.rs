//! Benchmark (not a test): datagrams per second through a loopback UDP
//! pair, one syscall per datagram against `recvmmsg`/`sendmmsg`, and with
//! UDP GSO/GRO on top, all in the same run.
//!
//!   cargo run --release -p fips --example udp_batch [seconds per mode] [datagram bytes]

use std::io::ErrorKind;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fips::udp::{RecvBatch, SendBatch, UdpSocket, MAX_GRO_BYTES};

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Single,
    Batched,
    Offload,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Single => "one syscall per datagram",
            Mode::Batched => "sendmmsg/recvmmsg",
            Mode::Offload => "sendmmsg/recvmmsg + GSO/GRO",
        }
    }
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let secs: f64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(2.0);
    let size: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(1280);
    println!("{size}-byte datagrams over loopback, {secs} s per mode");
    let mut base = None;
    for mode in [Mode::Single, Mode::Batched, Mode::Offload] {
        let (sent, received) = run(mode, Duration::from_secs_f64(secs), size)?;
        let pps = received as f64 / secs;
        let ratio = pps / *base.get_or_insert(pps);
        println!(
            "{:<30} sent {:>9.0}/s  received {:>9.0}/s ({:.0} Mbit/s)  x{ratio:.2}",
            mode.name(),
            sent as f64 / secs,
            pps,
            pps * size as f64 * 8.0 / 1e6
        );
    }
    Ok(())
}

/// Runs a sender and a receiver thread for `dur`; returns (sent, received).
fn run(mode: Mode, dur: Duration, size: usize) -> anyhow::Result<(u64, u64)> {
    let rx = UdpSocket::bind("127.0.0.1:0".parse()?)?;
    let tx = UdpSocket::bind("127.0.0.1:0".parse()?)?;
    if mode != Mode::Offload {
        rx.disable_gro()?;
        tx.disable_gso();
    }
    let dest = rx.local_addr();
    let stop = Arc::new(AtomicBool::new(false));
    let receiver = {
        let stop = stop.clone();
        std::thread::spawn(move || receive(&rx, mode, &stop))
    };
    let deadline = Instant::now() + dur;
    let sent = send(&tx, dest, mode, size, deadline);
    std::thread::sleep(Duration::from_millis(50));
    stop.store(true, Ordering::Relaxed);
    let received = receiver
        .join()
        .map_err(|_| anyhow::anyhow!("receiver panicked"))?;
    Ok((sent, received))
}

fn send(
    tx: &UdpSocket,
    dest: std::net::SocketAddr,
    mode: Mode,
    size: usize,
    deadline: Instant,
) -> u64 {
    let data = vec![0x5a; size];
    let mut batch = SendBatch::new(64);
    let mut sent = 0u64;
    while Instant::now() < deadline {
        if mode == Mode::Single {
            for _ in 0..64 {
                if tx.try_send_to(&data, dest).is_ok() {
                    sent += 1;
                }
            }
            continue;
        }
        while !batch.is_full() {
            batch.push(dest, &data);
        }
        let before = batch.pending();
        match tx.try_send_batch(&mut batch) {
            Ok(()) => sent += before as u64,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                sent += (before - batch.pending()) as u64
            }
            Err(_) => {}
        }
    }
    sent
}

fn receive(rx: &UdpSocket, mode: Mode, stop: &AtomicBool) -> u64 {
    let mut batch = RecvBatch::new(
        64,
        if mode == Mode::Offload {
            MAX_GRO_BYTES
        } else {
            2048
        },
    );
    let mut buf = vec![0; 2048];
    let mut received = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let got = if mode == Mode::Single {
            rx.try_recv_from(&mut buf).map(|_| 1)
        } else {
            rx.try_recv_batch(&mut batch)
        };
        match got {
            Ok(n) => received += n as u64,
            Err(_) => std::thread::yield_now(),
        }
    }
    received
}
