//! A hub and 200 real leaf daemons (our daemon each, every leaf in its own
//! network namespace on a bridge in the hub's namespace, dialling the hub):
//! with `node.limits.max_peers` raised above 200 every leaf links and
//! sampled leaf pairs ping each other through the hub; with it set below
//! the leaf count the hub refuses the rest and counts them.
//!
//! Namespaces are `sk-<pid>-*`, deleted on drop (also when the test fails).
//! The figures it prints (time until all linked, the hub's RSS) are
//! recorded in docs/benchmarks.md ("A hub with 200 leaves").

use std::time::{Duration, Instant};

use fips::control::Query;
use fips_proto::identity::Identity;
use fips_testkit::daemon::{cpu_ticks, find_number, ticks_per_sec};
use fips_testkit::{wait_until, Daemon, Key, NetNs};

const LEAVES: usize = 200;
const PAIRS: usize = 10;
const PORT: u16 = 4000;
const HUB_IP: &str = "10.78.0.1";
/// Parallel threads that build namespaces and veths.
const SETUP_THREADS: usize = 8;

/// The hub's test key: `a` of testdata/identity.json.
fn hub_key() -> Key {
    fips_testkit::key("a")
}

/// A leaf's identity: a fixed secret per index, as a testkit `Key` (leaked:
/// 200 small strings for the test's life).
fn leaf_key(i: usize) -> Key {
    let mut secret = [0x11u8; 32];
    secret[30..].copy_from_slice(&u16::try_from(i + 1).expect("few leaves").to_be_bytes());
    let id = Identity::from_secret_bytes(secret).expect("a valid secret");
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    Key {
        name: leak(format!("l{i}")),
        nsec: leak(secret.iter().map(|b| format!("{b:02x}")).collect()),
        npub: leak(id.public().npub()),
        node_addr: leak(id.node_addr().to_hex()),
        ipv6: id.public().ipv6(),
    }
}

/// The segment. Field order is drop order: daemons, then namespaces.
struct Segment {
    leaves: Vec<Daemon>,
    hub: Option<Daemon>,
    leaf_ns: Vec<NetNs>,
    hub_ns: NetNs,
    dir: tempfile::TempDir,
}

impl Segment {
    fn new() -> Segment {
        let tag = format!("sk-{}", std::process::id());
        let hub_ns = NetNs::named(&format!("{tag}-h"));
        hub_ns.ip(&["link", "add", "skbr", "type", "bridge"]);
        hub_ns.ip(&["addr", "add", &format!("{HUB_IP}/24"), "dev", "skbr"]);
        hub_ns.ip(&["link", "set", "skbr", "up"]);
        hub_ns.enable_ipv6();
        let leaf_ns = std::thread::scope(|s| {
            let workers: Vec<_> = (0..SETUP_THREADS)
                .map(|t| {
                    let (tag, hub_ns) = (&tag, &hub_ns);
                    s.spawn(move || {
                        (t..LEAVES)
                            .step_by(SETUP_THREADS)
                            .map(|i| (i, leaf_namespace(tag, hub_ns, i)))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            let mut all: Vec<_> = workers
                .into_iter()
                .flat_map(|w| w.join().expect("namespace setup"))
                .collect();
            all.sort_by_key(|(i, _)| *i);
            all.into_iter().map(|(_, ns)| ns).collect()
        });
        Segment {
            leaves: Vec::new(),
            hub: None,
            leaf_ns,
            hub_ns,
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn hub(&self) -> &Daemon {
        self.hub.as_ref().expect("hub started")
    }

    fn start_hub(&mut self, max_peers: usize) {
        let yaml = config(self, hub_key(), None, max_peers);
        self.hub = Some(Daemon::with_config(
            &self.hub_ns,
            self.dir.path(),
            hub_key(),
            &yaml,
        ));
    }

    /// Stops the hub (its peers get Disconnect and redial) and starts it
    /// again with `max_peers`.
    fn restart_hub(&mut self, max_peers: usize) {
        let mut hub = self.hub.take().expect("hub started");
        let status = hub.terminate().expect("hub was running");
        assert!(status.success(), "hub exit {status:?}: {}", hub.log());
        drop(hub);
        self.start_hub(max_peers);
    }

    /// Starts every leaf at once, each dialling the hub; DNS on for the
    /// leaves in `dns`.
    fn start_leaves(&mut self, dns: &[usize]) {
        for (i, ns) in self.leaf_ns.iter().enumerate() {
            let mut yaml = config(self, leaf_key(i), Some(hub_key()), 128);
            if dns.contains(&i) {
                yaml = yaml.replace(
                    "dns:\n  enabled: false\n",
                    "dns:\n  enabled: true\n  bind_addr: 127.0.0.1\n  port: 53\n",
                );
            }
            let leaf = Daemon::with_config(ns, self.dir.path(), leaf_key(i), &yaml);
            self.leaves.push(leaf);
        }
    }
}

/// Leaf `i`'s namespace with its `eth0` on the hub's bridge.
fn leaf_namespace(tag: &str, hub: &NetNs, i: usize) -> NetNs {
    let ns = NetNs::named(&format!("{tag}-l{i}"));
    let hub_end = format!("skv{i}");
    hub.ip(&[
        "link", "add", &hub_end, "type", "veth", "peer", "name", "eth0", "netns", &ns.name,
    ]);
    hub.ip(&["link", "set", &hub_end, "master", "skbr", "up"]);
    ns.ip(&["addr", "add", &format!("{}/24", leaf_ip(i)), "dev", "eth0"]);
    ns.ip(&["link", "set", "eth0", "up"]);
    ns.enable_ipv6();
    ns
}

fn leaf_ip(i: usize) -> String {
    format!("10.78.0.{}", 10 + i)
}

/// A node's YAML: DNS off, TUN on, dialling `dial` (the hub) if given.
fn config(seg: &Segment, key: Key, dial: Option<Key>, max_peers: usize) -> String {
    let mut y = format!(
        "node:\n  identity:\n    nsec: \"{}\"\n  control:\n    socket_path: \"{}\"\n  \
         drain_timeout_secs: 0\n  limits:\n    max_peers: {max_peers}\n    max_links: {}\n\
         tun:\n  enabled: true\n  name: fips0\n  mtu: 1280\ndns:\n  enabled: false\n\
         transports:\n  udp:\n    bind_addr: \"0.0.0.0:{PORT}\"\n",
        key.nsec,
        seg.dir.path().join(format!("{}.sock", key.name)).display(),
        max_peers + 16,
    );
    match dial {
        None => y += "peers: []\n",
        Some(hub) => {
            y += &format!(
                "peers:\n  - npub: \"{}\"\n    alias: hub\n    addresses:\n      - transport: udp\n        \
                 addr: \"{HUB_IP}:{PORT}\"\n    connect_policy: auto_connect\n",
                hub.npub
            );
        }
    }
    y
}

fn peer_count(d: &Daemon) -> usize {
    d.show(Query::Peers)
        .and_then(|v| v["peers"].as_array().map(Vec::len))
        .unwrap_or(0)
}

fn peer_limit(d: &Daemon) -> u64 {
    d.show(Query::Routing)
        .and_then(|v| find_number(&v, "peer_limit"))
        .unwrap_or(0)
}

fn rss_kib(d: &Daemon) -> u64 {
    d.rss_kib().0
}

/// The hub's share of a core over `window`, from /proc/PID/stat.
fn cpu_share(d: &Daemon, window: Duration) -> f64 {
    let pid = d.pid().expect("running");
    let before = cpu_ticks(pid);
    std::thread::sleep(window);
    (cpu_ticks(pid) - before) as f64 / ticks_per_sec() / window.as_secs_f64() * 100.0
}

/// `PAIRS` distinct (from, to) leaf pairs from a seed (printed, so a
/// failure can be replayed by reading it).
fn sample_pairs(seed: u64) -> Vec<(usize, usize)> {
    let mut x = seed | 1;
    let mut next = || {
        // xorshift64: a few numbers, no crate needed.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        usize::try_from(x % LEAVES as u64).expect("small")
    };
    let mut pairs = Vec::new();
    while pairs.len() < PAIRS {
        let (a, b) = (next(), next());
        if a != b && !pairs.iter().any(|&(f, _)| f == a) {
            pairs.push((a, b));
        }
    }
    pairs
}

/// Whether `from` reaches `to` through the hub: `from`'s DNS names `to`
/// (which teaches its node `to`'s key), then ping6 to `to`'s fd address.
fn pings(seg: &Segment, from: usize, to: usize) -> bool {
    let (ns, target) = (&seg.leaf_ns[from], leaf_key(to));
    let ip = target.ipv6.to_string();
    wait_until(Duration::from_secs(20), || {
        let dig = ns
            .command("dig")
            .args(["+short", "AAAA", &target.fips_name(), "@127.0.0.1"])
            .output();
        dig.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == ip)
            && ns
                .command("ping")
                .args(["-6", "-c", "2", "-i", "0.2", "-W", "2", &ip])
                .output()
                .is_ok_and(|o| o.status.success())
    })
}

#[test]
fn a_hub_links_200_leaves_and_routes_between_them_then_refuses_beyond_max_peers() {
    let t0 = Instant::now();
    let mut seg = Segment::new();
    println!("{LEAVES} namespaces in {:.1} s", t0.elapsed().as_secs_f64());
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64);
    let pairs = sample_pairs(seed);
    println!("pair seed {seed}: {pairs:?}");

    seg.start_hub(LEAVES + 50);
    let t1 = Instant::now();
    let sources: Vec<usize> = pairs.iter().map(|p| p.0).collect();
    seg.start_leaves(&sources);
    let all_linked = wait_until(Duration::from_secs(60), || peer_count(seg.hub()) >= LEAVES);
    let linked_after = t1.elapsed();
    assert!(
        all_linked,
        "the hub linked {} of {LEAVES} leaves in 60 s; hub log:\n{}",
        peer_count(seg.hub()),
        seg.hub().log()
    );
    println!(
        "all {LEAVES} leaves linked {:.1} s after start; hub RSS {} KiB; leaf 0 RSS {} KiB",
        linked_after.as_secs_f64(),
        rss_kib(seg.hub()),
        rss_kib(&seg.leaves[0])
    );
    assert_eq!(peer_limit(seg.hub()), 0, "nothing refused under the limit");
    println!(
        "hub CPU over the next 5 s: {:.1}% of a core",
        cpu_share(seg.hub(), Duration::from_secs(5))
    );

    let reached: Vec<bool> = std::thread::scope(|s| {
        let seg = &seg;
        let runs: Vec<_> = pairs
            .iter()
            .map(|&(a, b)| s.spawn(move || pings(seg, a, b)))
            .collect();
        runs.into_iter().map(|r| r.join().expect("ping")).collect()
    });
    let failed: Vec<_> = pairs.iter().zip(&reached).filter(|(_, ok)| !**ok).collect();
    assert!(
        failed.is_empty(),
        "leaf pairs that could not ping: {failed:?}"
    );
    println!("{PAIRS}/{PAIRS} sampled leaf pairs answered through the hub");

    // Below the leaf count: the hub keeps `cap` peers, refuses the rest.
    let cap = LEAVES - 50;
    seg.restart_hub(cap);
    let refused = wait_until(Duration::from_secs(45), || {
        peer_count(seg.hub()) == cap && peer_limit(seg.hub()) >= (LEAVES - cap) as u64
    });
    assert!(
        refused,
        "with max_peers {cap}: {} peers, peer_limit {}; hub log:\n{}",
        peer_count(seg.hub()),
        peer_limit(seg.hub()),
        seg.hub().log()
    );
    // Held: the cap is not passed as refused leaves keep redialling.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(peer_count(seg.hub()), cap);
    assert!(
        seg.hub().log().contains("bound reached"),
        "the refusals are logged"
    );
    println!(
        "max_peers {cap}: {cap} linked, {} msg1 refused; whole test {:.1} s",
        peer_limit(seg.hub()),
        t0.elapsed().as_secs_f64()
    );
}
