//! One measurement: N emulated leaves against one hub binary, in the
//! order a real deployment meets them (all leaves start at once, then
//! idle, then sampled leaf pairs reach each other, then traffic).

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fips_proto::identity::Identity;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

use crate::hub::{cpu_ticks, ticks_per_sec, Hub};
use crate::leaf::{self, Cmd, LeafHandle, LeafSpec, Shared};
use crate::net::{hub_addr, Testbed};
use crate::packet;

/// What to measure and for how long.
#[derive(Clone, Debug)]
pub struct Options {
    /// Emulated leaves.
    pub n: usize,
    /// Leaf pairs that must reach each other through the hub.
    pub pairs: usize,
    /// How long the leaves get to link.
    pub link_timeout: Duration,
    /// Quiet time after all linked, before the idle window.
    pub settle: Duration,
    /// Window for idle CPU and control bytes.
    pub idle_window: Duration,
    /// Datagrams per second (all pairs together) during the load window.
    pub load_pps: u64,
    pub load_window: Duration,
    /// Seeds the leaves' keys and the pair sample (same seed, same leaves
    /// for every hub binary).
    pub seed: u64,
    /// `perf record -g` the hub over the idle window into this file, and
    /// over the load window into the same name with `-load` before `.perf`.
    pub perf: Option<PathBuf>,
    /// Copy the hub's log here at the end.
    pub keep_log: Option<PathBuf>,
}

/// What one run measured.
#[derive(Clone, Debug, Default)]
pub struct Figures {
    pub n: usize,
    /// Leaves linked at the end of the link phase.
    pub linked: usize,
    /// Seconds until every leaf was linked (None: not within the timeout).
    pub all_linked_secs: Option<f64>,
    /// Links made per second over the link phase.
    pub handshakes_per_sec: f64,
    /// The hub's own count after the idle window.
    pub hub_peers: Option<u64>,
    pub rss_kib: u64,
    pub fds: usize,
    /// The hub's share of one core, percent.
    pub idle_cpu: f64,
    pub load_cpu: f64,
    /// The emulator's own share of the cores while idle (it competes with
    /// the hub for the machine).
    pub emulator_cpu: f64,
    /// Control bytes per leaf per second, leaf to hub and hub to leaf.
    pub ctl_up: f64,
    pub ctl_down: f64,
    pub load_sent: u64,
    pub load_received: u64,
    pub pairs_ok: usize,
    pub pairs: usize,
    /// /proc/loadavg (1, 5, 15 min) at the end.
    pub loadavg: String,
}

/// The same keys for every run with one seed: leaf `i` and the hub.
fn identities(seed: u64, n: usize) -> (Identity, Vec<(Identity, [u8; 32])>) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let hub = Identity::generate(&mut rng);
    let leaves = (0..n)
        .map(|_| {
            let mut node_seed = [0u8; 32];
            rng.fill_bytes(&mut node_seed);
            (Identity::generate(&mut rng), node_seed)
        })
        .collect();
    (hub, leaves)
}

/// `k` (from, to) pairs of distinct leaves, each leaf a source once.
pub fn sample_pairs(seed: u64, n: usize, k: usize) -> Vec<(usize, usize)> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed ^ 0x5eed);
    let mut pairs: Vec<(usize, usize)> = Vec::new();
    while pairs.len() < k.min(n / 2) {
        let a = rng.next_u64() as usize % n;
        let b = rng.next_u64() as usize % n;
        if a != b && !pairs.iter().any(|&(f, _)| f == a) {
            pairs.push((a, b));
        }
    }
    pairs
}

pub fn measure(bed: &mut Testbed, hub_bin: &Path, opts: &Options) -> anyhow::Result<Figures> {
    let n = opts.n;
    bed.assign(n)?;
    let sockets = bed.leaf_sockets(n)?;
    let (hub_id, leaf_ids) = identities(opts.seed, n);
    let dir = tempfile::Builder::new().prefix("lg-hub-").tempdir()?;
    let hub = Hub::start(hub_bin, bed, dir.path(), &hub_id, n)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let _in_rt = rt.enter();
    let shared = Arc::new(Shared::default());
    let mut f = Figures {
        n,
        ..Figures::default()
    };

    let t0 = Instant::now();
    let leaves = leaf_ids
        .into_iter()
        .zip(sockets)
        .map(|((identity, rng_seed), socket)| {
            let spec = LeafSpec {
                identity,
                rng_seed,
                hub: *hub_id.public(),
                hub_addr: hub_addr(),
                socket,
            };
            leaf::spawn(spec, shared.clone())
        })
        .collect::<std::io::Result<Vec<LeafHandle>>>()?;
    link_phase(&shared, opts, t0, &mut f);
    std::thread::sleep(opts.settle);

    idle_phase(&hub, &shared, opts, &mut f)?;
    // A busy hub may miss the client's 10 s timeout once.
    f.hub_peers = (0..3).find_map(|_| {
        hub.try_peer_count()
            .map_err(|e| eprintln!("hubbench: the hub's peer count: {e}"))
            .ok()
    });
    f.rss_kib = hub.rss_kib();
    f.fds = hub.fds();

    let pairs = sample_pairs(opts.seed, n, opts.pairs);
    f.pairs = pairs.len();
    f.pairs_ok = reach_phase(&leaves, &pairs, Duration::from_secs(20));
    load_phase(&hub, &shared, &leaves, &pairs, opts, &mut f);
    f.loadavg = std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    for l in &leaves {
        l.task.abort();
    }
    drop(leaves);
    drop(_in_rt);
    rt.shutdown_timeout(Duration::from_secs(2));
    if let Some(to) = &opts.keep_log {
        std::fs::copy(&hub.log, to)?;
    }
    drop(hub);
    Ok(f)
}

fn link_phase(shared: &Shared, opts: &Options, t0: Instant, f: &mut Figures) {
    while shared.linked.load(Relaxed) < opts.n && t0.elapsed() < opts.link_timeout {
        std::thread::sleep(Duration::from_millis(20));
    }
    let took = t0.elapsed().as_secs_f64();
    f.linked = shared.linked.load(Relaxed);
    f.all_linked_secs = (f.linked >= opts.n).then_some(took);
    f.handshakes_per_sec = shared.handshakes.load(Relaxed) as f64 / took;
}

/// Hub CPU, emulator CPU and bytes on the leaves' sockets over the idle
/// window (no application traffic).
fn idle_phase(hub: &Hub, shared: &Shared, opts: &Options, f: &mut Figures) -> anyhow::Result<()> {
    let (hub0, me0) = (hub.cpu_ticks(), cpu_ticks(std::process::id()));
    let (tx0, rx0) = (shared.tx_bytes.load(Relaxed), shared.rx_bytes.load(Relaxed));
    let t0 = Instant::now();
    match &opts.perf {
        Some(out) => crate::perf::record(hub.pid(), out, opts.idle_window)?,
        None => std::thread::sleep(opts.idle_window),
    }
    let secs = t0.elapsed().as_secs_f64();
    let share = |ticks: u64| 100.0 * ticks as f64 / ticks_per_sec() / secs;
    f.idle_cpu = share(hub.cpu_ticks() - hub0);
    f.emulator_cpu = share(cpu_ticks(std::process::id()) - me0);
    let per_peer = |b: u64| b as f64 / secs / opts.n.max(1) as f64;
    f.ctl_up = per_peer(shared.tx_bytes.load(Relaxed) - tx0);
    f.ctl_down = per_peer(shared.rx_bytes.load(Relaxed) - rx0);
    Ok(())
}

/// Each pair's first leaf sends echo requests (one a second) to the
/// second until a reply comes back or `limit` passes. Pairs reached.
fn reach_phase(leaves: &[LeafHandle], pairs: &[(usize, usize)], limit: Duration) -> usize {
    let t0 = Instant::now();
    let reached = |&(a, _): &(usize, usize)| leaves[a].stats.replies.load(Relaxed) > 0;
    let mut next_send = t0;
    while t0.elapsed() < limit && !pairs.iter().all(reached) {
        if Instant::now() >= next_send {
            next_send += Duration::from_secs(1);
            for &(a, b) in pairs.iter().filter(|p| !reached(p)) {
                let to = leaves[b].identity;
                let _closed = leaves[a].cmds.send(Cmd::Send {
                    to,
                    port: packet::ECHO,
                });
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    pairs.iter().filter(|p| reached(p)).count()
}

/// The pairs send load datagrams at `load_pps` in all; the hub's CPU
/// over that window.
fn load_phase(
    hub: &Hub,
    shared: &Shared,
    leaves: &[LeafHandle],
    pairs: &[(usize, usize)],
    opts: &Options,
    f: &mut Figures,
) {
    if pairs.is_empty() || opts.load_pps == 0 {
        return;
    }
    const TICK: Duration = Duration::from_millis(10);
    let per_tick = (opts.load_pps as f64 * TICK.as_secs_f64()).max(1.0) as u64;
    let rx0 = shared.load_rx.load(Relaxed);
    let hub0 = hub.cpu_ticks();
    let profile = opts.perf.as_ref().map(|idle| {
        let out = idle.with_extension("load.perf");
        let (pid, window) = (hub.pid(), opts.load_window);
        std::thread::spawn(move || crate::perf::record(pid, &out, window))
    });
    let t0 = Instant::now();
    let mut next = t0;
    let mut k = 0usize;
    while t0.elapsed() < opts.load_window {
        for _ in 0..per_tick {
            let (a, b) = pairs[k % pairs.len()];
            k += 1;
            let to = leaves[b].identity;
            let _closed = leaves[a].cmds.send(Cmd::Send {
                to,
                port: packet::LOAD,
            });
        }
        f.load_sent += per_tick;
        next += TICK;
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    let secs = t0.elapsed().as_secs_f64();
    f.load_cpu = 100.0 * (hub.cpu_ticks() - hub0) as f64 / ticks_per_sec() / secs;
    if let Some(Ok(Err(e))) = profile.map(std::thread::JoinHandle::join) {
        eprintln!("hubbench: no profile of the load window: {e:#}");
    }
    // Stragglers in flight get a moment to land.
    std::thread::sleep(Duration::from_millis(500));
    f.load_received = shared.load_rx.load(Relaxed) - rx0;
}
