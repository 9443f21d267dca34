//! eBPF enforcement cost, in one run on one machine:
//! - ns per run of the classifier as the kernel accounts it
//!   (kernel.bpf_stats_enabled: run_time_ns / run_cnt) on real traffic,
//!   egress and ingress, next to an empty program's figure in the same
//!   run (bpf_stats' own floor), and in BPF_PROG_TEST_RUN loops;
//! - throughput across the sidecar's eth0 with no filter, with our
//!   classifier and with the older design's port-only iptables rules:
//!   raw UDP both ways, and TCP over fips0 between two real daemons
//!   linked over UDP, both ways. The setups are interleaved in rounds,
//!   in an order rotating from round to round, and each round's ratios
//!   to no filter are what the report summarises.
//!
//! Run: `cargo xtask build-ebpf && cargo bench -p fips --bench enforce`
//! (root; FIPS_BENCH_ROUNDS, FIPS_BENCH_STATS_ROUNDS and FIPS_BENCH_SECS
//! override 21, 3 and 1). Without `--bench` (`cargo test --all-targets`)
//! one short round per setup checks that traffic passes in each.

mod fipslink;
#[path = "../../tests/enforce_util/frames.rs"]
mod frames;
mod load;
mod report;
mod setup;

use fips::enforce::{
    socket_cookie, test_run_repeat, Classifier, Direction, Policy, VERDICT_DROP, VERDICT_PASS,
};
use fips_testkit::key;
use fips_testkit::pair::RemoveFilterOnDrop;
use fips_testkit::SidecarPair;
use load::Stream;
use setup::{apply, ProgStats, Setup, PER_PACKET, THROUGHPUT};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::time::Duration;

/// The daemons' transport port, and the bench's own UDP socket's.
const PORT: u16 = 31090;
const PEER_PORT: u16 = 32090;
const TCP_PORT: u16 = 5201;
/// A second address on the sidecar's eth0 for the bench's UDP socket, so
/// it can share the daemon's port (and thus one policy and one rule set).
const BENCH_IP: Ipv4Addr = Ipv4Addr::new(10, 90, 0, 3);

pub struct Opts {
    pub full: bool,
    pub rounds: usize,
    pub stats_rounds: usize,
    pub dur: Duration,
    settle: Duration,
}

impl Opts {
    fn from_env() -> Opts {
        // `cargo bench` passes --bench; `cargo test --all-targets` does not.
        let full = std::env::args().any(|a| a == "--bench");
        let num = |name: &str, default: f64| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse::<f64>().ok())
                .filter(|v| *v > 0.0)
                .unwrap_or(default)
        };
        if !full {
            return Opts {
                full,
                rounds: 1,
                stats_rounds: 1,
                dur: Duration::from_millis(300),
                settle: Duration::from_millis(50),
            };
        }
        Opts {
            full,
            rounds: num("FIPS_BENCH_ROUNDS", 21.0) as usize,
            stats_rounds: num("FIPS_BENCH_STATS_ROUNDS", 3.0) as usize,
            dur: Duration::from_secs_f64(num("FIPS_BENCH_SECS", 1.0)),
            settle: Duration::from_millis(100),
        }
    }
}

/// One measurement: a stream under a setup.
pub struct Sample {
    pub round: usize,
    pub stream: usize,
    pub setup: Setup,
    pub mbit: f64,
    /// bpf_stats (ingress, egress) of what was attached, if a program.
    pub stats: Option<[ProgStats; 2]>,
}

fn main() {
    let opts = Opts::from_env();
    let test_run = test_run_ns();
    let topo = SidecarPair::with_prefix("eb", "bench", 90);
    // Removes whatever an interrupted measurement left on eth0.
    let _cleanup = RemoveFilterOnDrop(&topo);
    let bench_addr = format!("{BENCH_IP}/24");
    topo.sidecar
        .ip(&["addr", "add", &bench_addr, "dev", "eth0"]);
    let pair = fipslink::Pair::start(&topo, PORT);
    let bench_socket = topo
        .sidecar
        .enter(|| UdpSocket::bind((BENCH_IP, PORT)))
        .expect("bind");
    let mut cookies: Vec<u64> = pair
        .transport_sockets(SocketAddr::new(topo.sidecar_ip.into(), PORT))
        .iter()
        .map(|s| socket_cookie(s).expect("daemon socket cookie"))
        .collect();
    cookies.push(socket_cookie(&bench_socket).expect("cookie"));
    let policy = Policy {
        udp_port: PORT,
        socket_cookies: cookies,
        allow_ipv6: false,
    };
    let streams = streams(&topo, bench_socket);
    let throughput = measure(&topo, &policy, &streams, opts.rounds, &THROUGHPUT, &opts);
    let per_packet = {
        let _stats = BpfStats::enable();
        measure(
            &topo,
            &policy,
            &streams,
            opts.stats_rounds,
            &PER_PACKET,
            &opts,
        )
    };
    let names: Vec<&str> = streams.iter().map(|s| s.name).collect();
    report::throughput(&names, &throughput, &opts);
    report::per_packet(&names, &per_packet, test_run);
    check(&names, &throughput, &per_packet);
}

/// Raw UDP out of and into the sidecar, then TCP over the FIPS link.
fn streams(topo: &SidecarPair, bench_socket: UdpSocket) -> Vec<Stream> {
    let peer_ip = topo.peer_ip;
    let [sink, source] = [PEER_PORT, PEER_PORT + 1].map(|port| {
        topo.peer
            .enter(|| UdpSocket::bind((peer_ip, port)))
            .expect("bind")
    });
    let bench_rx = bench_socket.try_clone().expect("clone");
    let to_peer = SocketAddr::from((peer_ip, PEER_PORT));
    let to_bench = SocketAddr::from((BENCH_IP, PORT));
    let (a, b) = (fipslink::fips_addr(key("a")), fipslink::fips_addr(key("b")));
    vec![
        Stream::udp("UDP out (eth0 egress)", bench_socket, sink, to_peer),
        Stream::udp("UDP in (eth0 ingress)", source, bench_rx, to_bench),
        Stream::tcp(
            "FIPS link, TCP sidecar -> peer",
            &topo.sidecar.name,
            &topo.peer.name,
            SocketAddr::new(b.into(), TCP_PORT),
        ),
        Stream::tcp(
            "FIPS link, TCP peer -> sidecar",
            &topo.peer.name,
            &topo.sidecar.name,
            SocketAddr::new(a.into(), TCP_PORT),
        ),
    ]
}

/// `rounds` rounds; in each, every stream under every setup, in an order
/// rotating from round to round (and stream to stream), run forth and
/// back (A B C C B A, half of `dur` each) so a drift within the round
/// weighs on every setup alike.
fn measure(
    topo: &SidecarPair,
    policy: &Policy,
    streams: &[Stream],
    rounds: usize,
    setups: &[Setup],
    opts: &Opts,
) -> Vec<Sample> {
    let mut out = Vec::new();
    let half = opts.dur / 2;
    for round in 0..rounds {
        for (s, stream) in streams.iter().enumerate() {
            let n = setups.len();
            let order: Vec<Setup> = (0..n).map(|k| setups[(round + s + k) % n]).collect();
            let mut slices: Vec<(Setup, f64, Option<[ProgStats; 2]>)> = Vec::new();
            for &setup in order.iter().chain(order.iter().rev()) {
                let attached = apply(topo, setup, policy);
                let mbit = stream.measure(opts.settle, half);
                let stats = attached.stats();
                let dropped = attached.transport_drops();
                attached.undo(topo);
                assert_eq!(
                    dropped, 0,
                    "{}: the classifier dropped transport packets (wrong port or socket)",
                    stream.name
                );
                slices.push((setup, mbit, stats));
            }
            for &setup in &order {
                let mine = slices.iter().filter(|x| x.0 == setup);
                out.push(Sample {
                    round,
                    stream: s,
                    setup,
                    mbit: mine.clone().map(|x| x.1).sum::<f64>() / 2.0,
                    stats: mine.filter_map(|x| x.2).reduce(|a, b| {
                        [0, 1].map(|h| ProgStats {
                            run_ns: a[h].run_ns + b[h].run_ns,
                            runs: a[h].runs + b[h].runs,
                            bytes: a[h].bytes + b[h].bytes,
                        })
                    }),
                });
            }
        }
    }
    out
}

/// Traffic passed in every setup, and the classifier ran on the hook the
/// stream's data crosses.
fn check(names: &[&str], throughput: &[Sample], per_packet: &[Sample]) {
    let which = |s: &Sample| format!("{} under {}", names[s.stream], s.setup.name());
    for s in throughput.iter().chain(per_packet) {
        assert!(s.mbit > 1.0, "{}: only {:.2} Mbit/s", which(s), s.mbit);
    }
    for s in per_packet {
        let [ingress, egress] = s.stats.expect("programs attached");
        // Streams 0 and 2 send out of the sidecar, 1 and 3 into it.
        let data_hook = if s.stream % 2 == 0 { egress } else { ingress };
        let runs = data_hook.runs;
        assert!(runs > 100, "{}: the program ran {runs} times", which(s));
    }
}

/// kernel.bpf_stats_enabled on while this lives, restored after (it adds
/// two clock reads per program run, so the throughput rounds run without).
struct BpfStats(String);

const BPF_STATS: &str = "/proc/sys/kernel/bpf_stats_enabled";

impl BpfStats {
    fn enable() -> BpfStats {
        let before = std::fs::read_to_string(BPF_STATS).expect("read bpf_stats_enabled");
        std::fs::write(BPF_STATS, "1").expect("enable bpf stats");
        BpfStats(before.trim().to_owned())
    }
}

impl Drop for BpfStats {
    fn drop(&mut self) {
        if let Err(e) = std::fs::write(BPF_STATS, &self.0) {
            eprintln!("restoring {BPF_STATS}: {e}");
        }
    }
}

/// Mean ns per run over 1e6 in-kernel runs of the classifier, for a passed
/// and a dropped frame (ingress: a test frame has no socket, so egress
/// would not pass), and of the empty program on the passed frame.
fn test_run_ns() -> [u32; 3] {
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
    let mut object = setup::load_noop();
    let noop = setup::noop_mut(&mut object).fd().expect("loaded");
    let (v, noop_ns) = test_run_repeat(noop.as_fd(), &pass, 1_000_000).expect("run");
    assert_eq!(v, VERDICT_PASS);
    [pass_ns, drop_ns, noop_ns]
}
