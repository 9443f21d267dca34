//! End-to-end topologies for the dataplane and resolver tests: nodes of
//! shared/vectors/identity.json, each in its own `fx-` network namespace
//! with an `eth0` bridged in a hub namespace (so any node can reach any
//! other over IPv4, but FIPS links only the configured pairs). Every node
//! runs a real `fips` with TUN `fips0` and its DNS on 127.0.0.1:53.
//!
//! Everything goes on drop, even when a test panics: daemons (killed),
//! namespaces, the per-namespace `/etc/netns/<ns>/resolv.conf`.
//!
//! Used through `#[path = "support/fx.rs"] mod fx;` next to `mod support;`,
//! so the shared `support/mod.rs` stays untouched.

#![allow(dead_code)]

use std::net::Ipv6Addr;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::support::daemon::{key, wait_until, Daemon, Key};
use crate::support::netns::{run, NetNs};
use fips::control::Query;

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A namespace named `fx-<tag>-<pid>-<n>`, deleted (with its
/// `/etc/netns/<name>/` directory) on drop.
pub fn fx_netns(tag: &str) -> NetNs {
    let name = format!(
        "fx-{tag}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    run(Command::new("ip").args(["netns", "add", &name]));
    // From here the guard owns it: a failing command below still deletes it.
    let ns = NetNs { name };
    ns.ip(&["link", "set", "lo", "up"]);
    run(ns.command("sysctl").args([
        "-qw",
        "net.ipv6.conf.all.disable_ipv6=0",
        "net.ipv6.conf.default.disable_ipv6=0",
    ]));
    ns
}

/// The `fd...` address of a node: fd + the first 15 bytes of its node_addr.
pub fn ipv6_of(k: Key) -> Ipv6Addr {
    let mut b = [0u8; 16];
    b[0] = 0xfd;
    for (i, slot) in b[1..].iter_mut().enumerate() {
        *slot = u8::from_str_radix(&k.node_addr[2 * i..2 * i + 2], 16).expect("hex node_addr");
    }
    Ipv6Addr::from(b)
}

pub fn fips_name(k: Key) -> String {
    format!("{}.fips", k.npub)
}

/// Removes `/etc/netns/<ns>/` on drop.
struct ResolvConf(PathBuf);

impl Drop for ResolvConf {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Nodes on one IPv4 segment (10.89.0.(10 + index)/24), FIPS over UDP on a
/// port chosen by the test.
pub struct Net {
    // Field order is drop order: daemons first, then namespaces.
    daemons: Vec<Daemon>,
    nodes: Vec<(Key, NetNs)>,
    hub: NetNs,
    _resolv: Vec<ResolvConf>,
    pub dir: tempfile::TempDir,
    pub port: u16,
    /// `transports.udp.mtu` for every node (the default, 1280, if None).
    pub udp_mtu: Option<u16>,
}

impl Net {
    /// Namespaces for `names`, each with `/etc/netns/<ns>/resolv.conf`
    /// naming 127.0.0.1, so `ip netns exec` programs resolve through the
    /// node's own DNS server.
    pub fn new(tag: &str, names: &[&str], port: u16) -> Net {
        let hub = fx_netns(&format!("{tag}h"));
        hub.ip(&["link", "add", "fxbr", "type", "bridge"]);
        hub.ip(&["link", "set", "fxbr", "up"]);
        let mut net = Net {
            daemons: Vec::new(),
            nodes: Vec::new(),
            hub,
            _resolv: Vec::new(),
            dir: tempfile::tempdir().expect("tempdir"),
            port,
            udp_mtu: None,
        };
        for n in names {
            let ns = fx_netns(&format!("{tag}{n}"));
            let etc = PathBuf::from(format!("/etc/netns/{}", ns.name));
            std::fs::create_dir_all(&etc).expect("mkdir /etc/netns/<ns>");
            net._resolv.push(ResolvConf(etc.clone()));
            std::fs::write(etc.join("resolv.conf"), "nameserver 127.0.0.1\n").expect("resolv.conf");
            let hub_end = format!("fxv-{n}");
            net.hub.ip(&[
                "link", "add", &hub_end, "type", "veth", "peer", "name", "eth0", "netns", &ns.name,
            ]);
            net.hub
                .ip(&["link", "set", &hub_end, "master", "fxbr", "up"]);
            ns.ip(&["addr", "add", &format!("{}/24", ip4_of(n)), "dev", "eth0"]);
            ns.ip(&["link", "set", "eth0", "up"]);
            net.nodes.push((key(n), ns));
        }
        net
    }

    pub fn ns(&self, name: &str) -> &NetNs {
        &self
            .nodes
            .iter()
            .find(|(k, _)| k.name == name)
            .expect("node in net")
            .1
    }

    /// The YAML for `name`, dialling `dials`; DNS on 127.0.0.1:53.
    pub fn config(&self, name: &str, dials: &[&str]) -> String {
        let k = key(name);
        let mut y = format!(
            "node:\n  identity:\n    nsec: \"{}\"\n  control:\n    socket_path: \"{}\"\n\
             tun:\n  enabled: true\n  name: fips0\n  mtu: 1280\n\
             dns:\n  enabled: true\n  bind_addr: 127.0.0.1\n  port: 53\n\
             transports:\n  udp:\n    bind_addr: \"0.0.0.0:{}\"\n",
            k.nsec,
            self.dir.path().join(format!("{name}.sock")).display(),
            self.port
        );
        if let Some(mtu) = self.udp_mtu {
            y += &format!("    mtu: {mtu}\n");
        }
        if dials.is_empty() {
            y += "peers: []\n";
        } else {
            y += "peers:\n";
        }
        for p in dials {
            y += &format!(
                "  - npub: \"{}\"\n    alias: node-{p}\n    addresses:\n      - transport: udp\n        \
                 addr: \"{}:{}\"\n    connect_policy: auto_connect\n",
                key(p).npub,
                ip4_of(p),
                self.port
            );
        }
        y
    }

    /// Starts the daemon of `name`, dialling `dials`.
    pub fn start(&mut self, name: &str, dials: &[&str]) {
        let yaml = self.config(name, dials);
        self.start_yaml(name, &yaml);
    }

    /// Starts the daemon of `name` with `yaml` (e.g. [`Net::config`] plus
    /// more sections).
    pub fn start_yaml(&mut self, name: &str, yaml: &str) {
        let d = Daemon::with_config(self.ns(name), self.dir.path(), key(name), yaml);
        self.daemons.push(d);
    }

    pub fn daemon(&self, name: &str) -> &Daemon {
        self.daemons
            .iter()
            .find(|d| d.key.name == name)
            .expect("daemon started")
    }

    pub fn daemon_mut(&mut self, name: &str) -> &mut Daemon {
        self.daemons
            .iter_mut()
            .find(|d| d.key.name == name)
            .expect("daemon started")
    }

    /// Waits until every pair in `links` lists each other as peers and
    /// every daemon reports `fips0` configured; panics with the logs if not.
    pub fn wait_links(&self, links: &[(&str, &str)], timeout: Duration) {
        let up =
            |x: &str, y: &str| self.daemon(x).has_peer(key(y)) && self.daemon(y).has_peer(key(x));
        let ok = wait_until(timeout, || links.iter().all(|(x, y)| up(x, y)));
        assert!(
            ok,
            "links not up after {timeout:?}: missing {:?}\n{}",
            links.iter().filter(|(x, y)| !up(x, y)).collect::<Vec<_>>(),
            self.logs()
        );
    }

    /// Waits until every daemon agrees that `root` roots the tree.
    pub fn wait_root(&self, root: &str, timeout: Duration) {
        let want = key(root).node_addr;
        let root_of = |d: &Daemon| {
            d.show(Query::Tree)
                .and_then(|t| t["root"].as_str().map(str::to_string))
        };
        let ok = wait_until(timeout, || {
            self.daemons
                .iter()
                .all(|d| root_of(d).as_deref() == Some(want))
        });
        assert!(
            ok,
            "tree not rooted at {root}: {:?}",
            self.daemons
                .iter()
                .map(|d| (d.key.name, root_of(d)))
                .collect::<Vec<_>>()
        );
    }

    /// With `FX_KEEP=DIR`, copies every daemon's log into DIR (to read a
    /// failure after the namespaces are gone).
    pub fn keep_logs(&self) {
        let Ok(dir) = std::env::var("FX_KEEP") else {
            return;
        };
        for d in &self.daemons {
            let _ = std::fs::copy(d.log_path(), format!("{dir}/{}.log", d.key.name));
        }
    }

    /// Every running daemon's peers (name, tree role, bytes) and
    /// sessions (peer, state, packets), for failure messages.
    pub fn state(&self) -> String {
        let mut s = String::new();
        for d in &self.daemons {
            let peers = d.show(Query::Peers).unwrap_or_default();
            let sessions = d.show(Query::Sessions).unwrap_or_default();
            let brief = |v: &serde_json::Value, list: &str, fields: &[&str]| -> Vec<String> {
                v[list]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|x| {
                        fields
                            .iter()
                            .map(|f| x.pointer(f).map(|v| v.to_string()).unwrap_or_default())
                            .collect::<Vec<_>>()
                            .join(" ")
                    })
                    .collect()
            };
            s += &format!(
                "--- {} peers {:?}\n    sessions {:?}\n",
                d.key.name,
                brief(
                    &peers,
                    "peers",
                    &[
                        "/display_name",
                        "/is_parent",
                        "/stats/bytes_sent",
                        "/stats/bytes_recv"
                    ]
                ),
                brief(
                    &sessions,
                    "sessions",
                    &[
                        "/display_name",
                        "/state",
                        "/stats/packets_sent",
                        "/stats/packets_recv"
                    ]
                ),
            );
        }
        s
    }

    /// The last lines of every daemon's log, for failure messages.
    pub fn logs(&self) -> String {
        self.keep_logs();
        let mut s = String::new();
        for d in &self.daemons {
            let log = d.log();
            let lines: Vec<&str> = log.lines().collect();
            let tail = &lines[lines.len().saturating_sub(40)..];
            s += &format!("--- {} ---\n{}\n", d.key.name, tail.join("\n"));
        }
        s
    }

    /// `dig AAAA <name> @127.0.0.1` inside `from`: the addresses answered.
    pub fn dig(&self, from: &str, name: &str) -> Vec<Ipv6Addr> {
        let out = output(self.ns(from).command("dig").args([
            "+short",
            "+time=2",
            "+tries=2",
            "AAAA",
            name,
            "@127.0.0.1",
        ]));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }

    /// Resolves `to`'s npub through `from`'s DNS, as a user would before
    /// reaching it by name, and checks the answer is `to`'s derived address.
    pub fn resolve(&self, from: &str, to: &str) -> Ipv6Addr {
        let want = ipv6_of(key(to));
        let got = self.dig(from, &fips_name(key(to)));
        assert_eq!(got, vec![want], "{from} resolving {to}");
        want
    }

    /// `ping -6 -c <count> -W <wait>` from `from` to `addr`: how many
    /// replies came back, with ping's output for failure messages.
    pub fn ping(&self, from: &str, addr: &str, count: u32, wait_s: u32) -> (u32, String) {
        self.ping_with(from, addr, count, wait_s, &[])
    }

    /// Like `ping`, with more options (e.g. `-s 1000`).
    pub fn ping_with(
        &self,
        from: &str,
        addr: &str,
        count: u32,
        wait_s: u32,
        extra: &[&str],
    ) -> (u32, String) {
        let (count, wait_s) = (count.to_string(), wait_s.to_string());
        let out = output(
            self.ns(from)
                .command("ping")
                .args(["-6", "-n", "-c", &count, "-i", "0.2", "-W", &wait_s])
                .args(extra)
                .arg(addr),
        );
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (received(&text), text)
    }
}

pub fn ip4_of(name: &str) -> String {
    let index = crate::support::daemon::KEYS
        .iter()
        .position(|k| k.name == name)
        .expect("known node");
    format!("10.89.0.{}", 10 + index)
}

/// Runs a command to completion, whatever its exit status.
pub fn output(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"))
}

/// The "N received" figure of ping's summary (0 if absent).
pub fn received(ping_output: &str) -> u32 {
    ping_output
        .split(',')
        .find_map(|part| part.trim().strip_suffix(" received"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// Seconds since `t0`, for reports.
pub fn secs(t0: Instant) -> f64 {
    t0.elapsed().as_secs_f64()
}

/// Runs `f` on a new thread inside the namespace `ns` (by name), without
/// waiting for it.
pub fn spawn_in<T: Send + 'static>(
    ns: &NetNs,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    use std::os::fd::AsRawFd;
    let path = format!("/run/netns/{}", ns.name);
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        // SAFETY: file is an open netns descriptor; setns changes only this
        // thread's namespace.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
        f()
    })
}

/// SHA-256 of `data`, hex, by coreutils' `sha256sum`.
pub fn sha256_hex(data: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>) -> String {
    use std::process::Stdio;
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn sha256sum");
    let mut stdin = child.stdin.take().expect("stdin");
    let fed = data(&mut stdin);
    drop(stdin);
    let out = child.wait_with_output().expect("sha256sum");
    fed.expect("feeding sha256sum");
    assert!(out.status.success(), "sha256sum failed");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Bytes `d` has sent to its peer `to` over their link (0 if not a peer).
pub fn bytes_sent_to(d: &Daemon, to: Key) -> u64 {
    d.show(Query::Peers)
        .and_then(|v| {
            v["peers"]
                .as_array()?
                .iter()
                .find(|p| p["npub"] == to.npub)
                .and_then(|p| p["stats"]["bytes_sent"].as_u64())
        })
        .unwrap_or(0)
}

/// Polls `cond` every 50 ms until it holds or `timeout` passes.
pub fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
