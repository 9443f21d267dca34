//! Queries per second of the embedded DNS server under concurrent load,
//! side by side with baselines measured in the same run: a trivial UDP echo
//! of the query (the floor: sockets and runtime only) and dnsmasq answering
//! the same name from a host-record (if installed), plus dnsperf's view of
//! each (if installed).
//!
//! cargo run --release -p fips --example dns_bench -- [--secs 5] [--clients 32]
//!
//! The server gets a one-worker runtime and the client pool another, so on
//! a 2-core machine each has a core. Traffic goes to 127.0.0.1 only.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use fips::dns::{DnsConfig, DnsServer, PeerIdentity};
use tokio::net::UdpSocket;
use tokio::runtime::{Builder, Runtime};

/// Test key a (testdata/identity.json).
const NPUB: &str = fips_testkit::keys::A.npub;

struct Args {
    secs: u64,
    clients: usize,
}

fn args() -> Result<Args> {
    let mut a = Args {
        secs: 5,
        clients: 32,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--secs" => a.secs = value.parse().context("--secs")?,
            "--clients" => a.clients = value.parse().context("--clients")?,
            _ => bail!("unknown flag {flag}; use --secs N --clients N"),
        }
    }
    Ok(a)
}

/// A wire-format query for `name` (type AAAA, class IN, RD set).
fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.').filter(|l| !l.is_empty()) {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&[0, 1]);
    q
}

struct Load {
    answered: usize,
    lost: usize,
    latencies_us: Vec<u32>,
    elapsed: Duration,
}

/// Closed loop: `clients` sockets, each with one query outstanding.
async fn load(
    target: SocketAddr,
    name: &str,
    qtype: u16,
    clients: usize,
    dur: Duration,
) -> Result<Load> {
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for c in 0..clients {
        let sock = UdpSocket::bind("127.0.0.1:0").await?;
        sock.connect(target).await?;
        let (stop, name) = (Arc::clone(&stop), name.to_owned());
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut lost, mut lat) = (0usize, 0usize, Vec::with_capacity(1 << 16));
            let mut buf = [0u8; 1500];
            let mut id = (c as u16).wrapping_mul(7919);
            while !stop.load(Ordering::Relaxed) {
                id = id.wrapping_add(1);
                let q = query(id, &name, qtype);
                let t0 = Instant::now();
                if sock.send(&q).await.is_err() {
                    lost += 1;
                    continue;
                }
                match tokio::time::timeout(Duration::from_millis(500), sock.recv(&mut buf)).await {
                    Ok(Ok(n)) if n >= 4 && buf[..2] == id.to_be_bytes() => {
                        ok += 1;
                        lat.push(u32::try_from(t0.elapsed().as_micros()).unwrap_or(u32::MAX));
                    }
                    _ => lost += 1,
                }
            }
            (ok, lost, lat)
        }));
    }
    let t0 = Instant::now();
    tokio::time::sleep(dur).await;
    stop.store(true, Ordering::Relaxed);
    let mut out = Load {
        answered: 0,
        lost: 0,
        latencies_us: Vec::new(),
        elapsed: Duration::ZERO,
    };
    for t in tasks {
        let (ok, lost, lat) = t.await?;
        out.answered += ok;
        out.lost += lost;
        out.latencies_us.extend(lat);
    }
    out.elapsed = t0.elapsed();
    out.latencies_us.sort_unstable();
    Ok(out)
}

fn pct(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p) as usize]
}

/// The floor: answers by echoing the query with QR set.
async fn echo_server() -> Result<SocketAddr> {
    let sock = UdpSocket::bind("127.0.0.1:0").await?;
    let addr = sock.local_addr()?;
    tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        while let Ok((n, from)) = sock.recv_from(&mut buf).await {
            if n >= 12 {
                buf[2] |= 0x80;
                let _ = sock.send_to(&buf[..n], from).await;
            }
        }
    });
    Ok(addr)
}

async fn fips_server() -> Result<SocketAddr> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<PeerIdentity>(1024);
    tokio::spawn(async move { while rx.recv().await.is_some() {} });
    let cfg = DnsConfig {
        bind: "127.0.0.1:0".parse()?,
        hosts_file: PathBuf::from("/nonexistent/fips-bench-hosts"),
        ..DnsConfig::default()
    };
    let server = DnsServer::bind(cfg, tx).await?;
    let addr = server.local_addr();
    tokio::spawn(server.run(std::future::pending()));
    Ok(addr)
}

/// Nanoseconds on CPU of this process's threads named `name` (the server
/// runtime's worker), or of process `pid`: a per-query cost that holds up
/// when the machine is shared, unlike wall-clock rates.
fn cpu_ns(source: &CpuSource) -> u64 {
    let read = |path: PathBuf| -> u64 {
        std::fs::read_to_string(path)
            .ok()
            .and_then(|s| s.split_whitespace().next().and_then(|n| n.parse().ok()))
            .unwrap_or(0)
    };
    match source {
        CpuSource::Threads(name) => std::fs::read_dir("/proc/self/task")
            .into_iter()
            .flatten()
            .flatten()
            .filter(|t| {
                std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim() == *name)
            })
            .map(|t| read(t.path().join("schedstat")))
            .sum(),
        CpuSource::Process(pid) => read(PathBuf::from(format!("/proc/{pid}/schedstat"))),
    }
}

enum CpuSource {
    Threads(&'static str),
    Process(u32),
}

const SERVER_THREAD: &str = "dns-bench-srv";

fn free_port() -> Result<u16> {
    Ok(std::net::UdpSocket::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// dnsmasq answering the same name from a host-record, if installed.
fn dnsmasq(ipv6: &str) -> Option<(SocketAddr, Child)> {
    let port = free_port().ok()?;
    let child = Command::new("dnsmasq")
        .args([
            "-k",
            "-C",
            "/dev/null",
            "-R",
            "-h",
            "--bind-interfaces",
            "--listen-address=127.0.0.1",
        ])
        .args(["--user=root", "--pid-file", &format!("--port={port}")])
        .arg(format!("--host-record={NPUB}.fips,{ipv6}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    std::thread::sleep(Duration::from_millis(300));
    Some((SocketAddr::from(([127, 0, 0, 1], port)), child))
}

/// dnsperf's queries per second against `target`, if installed.
fn dnsperf(target: SocketAddr, secs: u64, data: &std::path::Path) -> Option<f64> {
    let out = Command::new("dnsperf")
        .args([
            "-s",
            "127.0.0.1",
            "-p",
            &target.port().to_string(),
            "-l",
            &secs.to_string(),
        ])
        .args(["-c", "4", "-q", "64", "-t", "1", "-d"])
        .arg(data)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.contains("Queries per second:"))?;
    line.split(':').nth(1)?.trim().parse().ok()
}

fn main() -> Result<()> {
    let a = args()?;
    let server_rt = Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name(SERVER_THREAD)
        .enable_all()
        .build()?;
    let client_rt: Runtime = Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let ipv6 = PeerIdentity::from_npub(NPUB)?.ipv6().to_string();
    let fips_addr = server_rt.block_on(fips_server())?;
    let echo_addr = server_rt.block_on(echo_server())?;
    let mut masq = dnsmasq(&ipv6);
    let fips_name = format!("{NPUB}.fips");

    let srv = || CpuSource::Threads(SERVER_THREAD);
    let mut targets = vec![
        (
            "fips DnsServer, <npub>.fips AAAA",
            fips_addr,
            fips_name.clone(),
            28u16,
            srv(),
        ),
        (
            "fips DnsServer, other name (REFUSED)",
            fips_addr,
            "example.com".to_owned(),
            1,
            srv(),
        ),
        (
            "baseline: UDP echo of the query",
            echo_addr,
            fips_name.clone(),
            28,
            srv(),
        ),
    ];
    if let Some((addr, child)) = &masq {
        let cpu = CpuSource::Process(child.id());
        targets.push((
            "baseline: dnsmasq host-record AAAA",
            *addr,
            fips_name.clone(),
            28,
            cpu,
        ));
    }
    let data = std::env::temp_dir().join(format!("fips-dns-bench-{}.txt", std::process::id()));
    std::fs::write(&data, format!("{fips_name} AAAA\n"))?;

    println!(
        "DNS load: {} clients, one query outstanding each, {} s per target, 127.0.0.1",
        a.clients, a.secs
    );
    println!(
        "| target | answered q/s | lost | p50 µs | p99 µs | server CPU µs/query | dnsperf q/s |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (label, addr, name, qtype, cpu) in &targets {
        let dur = Duration::from_secs(a.secs);
        client_rt.block_on(load(
            *addr,
            name,
            *qtype,
            a.clients,
            Duration::from_millis(300),
        ))?; // warm-up
        let cpu0 = cpu_ns(cpu);
        let r = client_rt.block_on(load(*addr, name, *qtype, a.clients, dur))?;
        let cpu_per_q = (cpu_ns(cpu) - cpu0) as f64 / 1000.0 / r.answered.max(1) as f64;
        let qps = r.answered as f64 / r.elapsed.as_secs_f64();
        let perf = if *qtype == 28 {
            dnsperf(*addr, a.secs, &data)
        } else {
            None
        };
        let perf = perf.map_or("-".to_owned(), |q| format!("{q:.0}"));
        let (p50, p99) = (pct(&r.latencies_us, 0.5), pct(&r.latencies_us, 0.99));
        println!(
            "| {label} | {qps:.0} | {} | {p50} | {p99} | {cpu_per_q:.1} | {perf} |",
            r.lost
        );
    }
    if let Some((_, child)) = masq.as_mut() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let _ = std::fs::remove_file(&data);
    Ok(())
}
