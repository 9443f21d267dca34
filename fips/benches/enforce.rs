//! eBPF enforcement cost, in one run on one machine:
//! - ns per packet of the classifier as the kernel accounts it
//!   (kernel.bpf_stats_enabled: run_time_ns / run_cnt) on real traffic, and
//!   in BPF_PROG_TEST_RUN loops on a passed and a dropped frame;
//! - UDP throughput from the transport socket across the sidecar's eth0
//!   with no filter, with our filter, and with port-only iptables rules,
//!   interleaved in rounds; medians reported.
//!
//! Run: `cargo xtask build-ebpf && cargo bench -p fips --bench enforce`
//! (root; FIPS_BENCH_ROUNDS and FIPS_BENCH_SECS override 5 and 2).

#[path = "../tests/enforce_util/frames.rs"]
mod frames;
#[path = "../tests/enforce_util/netns.rs"]
mod netns;

use fips::enforce::{self, Classifier, Direction, Enforcer, Policy, VERDICT_DROP, VERDICT_PASS};
use netns::{in_ns, run, Topology};
use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PORT: u16 = 31090;
const PEER_PORT: u16 = 32090;
const PAYLOAD: usize = 1400;

#[derive(Clone, Copy, PartialEq)]
enum Setup {
    None,
    Ebpf,
    Iptables,
    /// `fips_noop` alone on eth0 egress: the bpf_stats floor.
    Noop,
}

impl Setup {
    fn name(self) -> &'static str {
        match self {
            Setup::None => "no filter",
            Setup::Ebpf => "eBPF (fips)",
            Setup::Iptables => "iptables, port only",
            Setup::Noop => "empty program",
        }
    }
}

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    // `cargo bench` passes --bench. Without it (`cargo test --all-targets`)
    // one short round checks that the bench still works, nothing more.
    let full = std::env::args().any(|a| a == "--bench");
    let rounds = if full {
        env_num("FIPS_BENCH_ROUNDS", 5) as usize
    } else {
        1
    };
    let secs = if full {
        env_num("FIPS_BENCH_SECS", 2)
    } else {
        1
    };
    let test_run = test_run_ns();
    let topo = Topology::new("bench", 90);
    let dur = Duration::from_secs(secs);
    // Throughput without bpf_stats (it adds two clock reads per run, to
    // the eBPF setup only); then separate eBPF rounds with it, for ns/packet.
    let results = measure(&topo, rounds, dur, &ALL_SETUPS);
    let stats_before = std::fs::read_to_string("/proc/sys/kernel/bpf_stats_enabled")
        .expect("read bpf_stats_enabled");
    std::fs::write("/proc/sys/kernel/bpf_stats_enabled", "1").expect("enable bpf stats");
    let stats = measure(&topo, rounds.min(3), dur, &[Setup::Ebpf, Setup::Noop]);
    std::fs::write("/proc/sys/kernel/bpf_stats_enabled", stats_before.trim())
        .expect("restore bpf_stats_enabled");
    report(&results, &stats, test_run, rounds, secs);
}

const ALL_SETUPS: [Setup; 3] = [Setup::None, Setup::Ebpf, Setup::Iptables];

/// Mean ns per run over 1e6 in-kernel runs, for a passed and a dropped frame.
fn test_run_ns() -> (u32, u32) {
    let policy = Policy {
        udp_port: PORT,
        socket_cookies: vec![1],
        allow_ipv6: false,
    };
    let mut c = Classifier::load(&policy).expect("load classifier");
    let pass = frames::eth(
        frames::ETH_P_IP,
        &frames::ipv4(frames::UDP, &frames::udp(5555, PORT, &[0; 64])),
    );
    let drop = frames::eth(frames::ETH_P_IP, &frames::ipv4(frames::TCP, &[0; 40]));
    let (v, pass_ns) = c
        .test_run_repeat(Direction::Ingress, &pass, 1_000_000)
        .expect("run");
    assert_eq!(v, VERDICT_PASS);
    let (v, drop_ns) = c
        .test_run_repeat(Direction::Ingress, &drop, 1_000_000)
        .expect("run");
    assert_eq!(v, VERDICT_DROP);
    (pass_ns, drop_ns)
}

struct Round {
    setup: Setup,
    mbit: f64,
    kpps: f64,
    /// (ns per run, runs) of the egress program, eBPF rounds only.
    egress_ns: Option<(f64, u64)>,
}

/// `rounds` rounds of every setup in `setups`, the order rotating from
/// round to round so no setup always runs first.
fn measure(topo: &Topology, rounds: usize, dur: Duration, setups: &[Setup]) -> Vec<Round> {
    let ip = topo.sidecar_ip;
    let transport = in_ns(&topo.sidecar, || UdpSocket::bind((ip, PORT)).expect("bind"));
    let peer_ip = topo.peer_ip;
    let sink = in_ns(&topo.peer, || {
        UdpSocket::bind((peer_ip, PEER_PORT)).expect("bind")
    });
    sink.set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let sink = Arc::new(sink);
    let mut out = Vec::new();
    for round in 0..rounds {
        for k in 0..setups.len() {
            let setup = setups[(round + k) % setups.len()];
            let enforcer = apply(topo, setup, &transport);
            let (mbit, kpps) = blast(&transport, &sink, (peer_ip, PEER_PORT), dur);
            let egress_ns = enforcer.as_ref().map(egress_stats);
            undo(topo, setup, enforcer);
            out.push(Round {
                setup,
                mbit,
                kpps,
                egress_ns,
            });
        }
    }
    out
}

/// What a setup attached to eth0, kept alive for the round.
enum Attached {
    Fips(Enforcer),
    /// Held only so the program stays attached until the round ends.
    Noop {
        _object: aya::Ebpf,
        id: u32,
    },
}

/// The no-op program from the classifier's own object, TCX on egress.
fn attach_noop() -> Attached {
    use aya::programs::{tc::TcAttachType, SchedClassifier};
    static OBJECT: &[u8] = aya::include_bytes_aligned!(env!("FIPS_EBPF_OBJECT"));
    let mut bpf = aya::Ebpf::load(OBJECT).expect("load object");
    let prog: &mut SchedClassifier = bpf
        .program_mut("fips_noop")
        .expect("fips_noop in the object")
        .try_into()
        .expect("a classifier");
    prog.load().expect("load fips_noop");
    prog.attach("eth0", TcAttachType::Egress)
        .expect("attach fips_noop");
    let id = prog.info().expect("program info").id();
    Attached::Noop { _object: bpf, id }
}

fn apply(topo: &Topology, setup: Setup, transport: &UdpSocket) -> Option<Attached> {
    match setup {
        Setup::None => None,
        Setup::Noop => Some(in_ns(&topo.sidecar, attach_noop)),
        Setup::Ebpf => {
            let policy = Policy::for_socket(transport).expect("policy");
            let enforcer =
                in_ns(&topo.sidecar, || Enforcer::attach("eth0", &policy)).expect("attach");
            Some(Attached::Fips(enforcer))
        }
        Setup::Iptables => {
            let port = PORT.to_string();
            for rule in [
                [
                    "INPUT", "-i", "eth0", "-p", "udp", "--dport", &port, "-j", "ACCEPT",
                ]
                .as_slice(),
                &["INPUT", "-i", "eth0", "-j", "DROP"],
                &[
                    "OUTPUT", "-o", "eth0", "-p", "udp", "--sport", &port, "-j", "ACCEPT",
                ],
                &["OUTPUT", "-o", "eth0", "-j", "DROP"],
            ] {
                let mut args = vec!["netns", "exec", &topo.sidecar, "iptables", "-A"];
                args.extend_from_slice(rule);
                run("ip", &args);
            }
            None
        }
    }
}

fn undo(topo: &Topology, setup: Setup, enforcer: Option<Attached>) {
    match setup {
        Setup::None => {}
        Setup::Noop => drop(enforcer),
        Setup::Ebpf => {
            drop(enforcer);
            in_ns(&topo.sidecar, || enforce::remove("eth0")).expect("remove");
        }
        Setup::Iptables => {
            for chain in ["INPUT", "OUTPUT"] {
                run(
                    "ip",
                    &["netns", "exec", &topo.sidecar, "iptables", "-F", chain],
                );
            }
        }
    }
}

/// Sends PAYLOAD-byte datagrams for `dur` as fast as one thread can;
/// returns what the peer received, in Mbit/s and thousands of packets/s.
fn blast(
    tx: &UdpSocket,
    sink: &Arc<UdpSocket>,
    to: (std::net::Ipv4Addr, u16),
    dur: Duration,
) -> (f64, f64) {
    let stop = Arc::new(AtomicBool::new(false));
    let (st, rx) = (stop.clone(), sink.clone());
    let counter = std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        let mut n = 0u64;
        while !st.load(Ordering::Relaxed) {
            if rx.recv_from(&mut buf).is_ok() {
                n += 1;
            }
        }
        n
    });
    let payload = [0x5a_u8; PAYLOAD];
    let start = Instant::now();
    while start.elapsed() < dur {
        for _ in 0..64 {
            // ENOBUFS under load is the measurement, not an error.
            if tx.send_to(&payload, to).is_err() {
                std::thread::yield_now();
            }
        }
    }
    std::thread::sleep(Duration::from_millis(50));
    stop.store(true, Ordering::Relaxed);
    let got = counter.join().expect("counter thread");
    let secs = dur.as_secs_f64();
    (
        got as f64 * PAYLOAD as f64 * 8.0 / secs / 1e6,
        got as f64 / secs / 1e3,
    )
}

/// run_time_ns / run_cnt of the attached egress program (bpftool).
fn egress_stats(attached: &Attached) -> (f64, u64) {
    let program_id = match attached {
        Attached::Fips(enforcer) => {
            let snap = enforcer.snapshot().expect("snapshot");
            snap.links
                .iter()
                .find(|l| l.direction == "egress")
                .expect("egress link")
                .program_id
        }
        Attached::Noop { id, .. } => *id,
    };
    let out = run("bpftool", &["prog", "show", "id", &program_id.to_string()]);
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |name: &str| -> u64 {
        let words: Vec<&str> = text.split_whitespace().collect();
        words
            .windows(2)
            .find(|w| w[0] == name)
            .and_then(|w| w[1].parse().ok())
            .unwrap_or(0)
    };
    let (ns, cnt) = (field("run_time_ns"), field("run_cnt"));
    (ns as f64 / cnt.max(1) as f64, cnt)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn report(results: &[Round], stats: &[Round], test_run: (u32, u32), rounds: usize, secs: u64) {
    println!("{rounds} rounds x {secs} s per setup, interleaved; {PAYLOAD}-byte UDP datagrams, one sender thread, sidecar eth0 (veth) -> bridge -> peer\n");
    println!("| setup | median Mbit/s | median kpps | vs no filter | Mbit/s per round |");
    println!("|---|---|---|---|---|");
    let base = median(
        results
            .iter()
            .filter(|r| r.setup == Setup::None)
            .map(|r| r.mbit)
            .collect(),
    );
    for setup in ALL_SETUPS {
        let of = |f: fn(&Round) -> f64| {
            median(results.iter().filter(|r| r.setup == setup).map(f).collect())
        };
        let mbit = of(|r| r.mbit);
        let samples: Vec<String> = results
            .iter()
            .filter(|r| r.setup == setup)
            .map(|r| format!("{:.0}", r.mbit))
            .collect();
        println!(
            "| {} | {:.0} | {:.1} | {:.2} | {} |",
            setup.name(),
            mbit,
            of(|r| r.kpps),
            mbit / base,
            samples.join(" ")
        );
    }
    // Each round runs the three setups back to back: the ratio within a
    // round cancels the slow drift of a shared machine.
    for setup in [Setup::Ebpf, Setup::Iptables] {
        let ratios: Vec<f64> = results
            .chunks(3)
            .filter_map(|round| {
                let base = round.iter().find(|r| r.setup == Setup::None)?;
                let this = round.iter().find(|r| r.setup == setup)?;
                Some(this.mbit / base.mbit)
            })
            .collect();
        println!(
            "\n{}: median of per-round ratios to no filter {:.2}",
            setup.name(),
            median(ratios)
        );
    }
    for setup in [Setup::Ebpf, Setup::Noop] {
        let of = |setup| stats.iter().filter(move |r: &&Round| r.setup == setup);
        let ns: Vec<f64> = of(setup)
            .filter_map(|r| r.egress_ns.map(|(ns, _)| ns))
            .collect();
        let runs: u64 = of(setup).filter_map(|r| r.egress_ns.map(|(_, c)| c)).sum();
        println!(
            "\n{} on real traffic (bpf_stats, egress): median {:.0} ns per packet over {runs} packets",
            setup.name(),
            median(ns)
        );
    }
    println!("classifier in BPF_PROG_TEST_RUN (1e6 runs): {} ns per passed UDP frame, {} ns per dropped TCP frame", test_run.0, test_run.1);
}
