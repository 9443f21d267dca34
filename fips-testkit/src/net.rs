//! A [`Lan`] that owns its daemons, every node with TUN `fips0` and its DNS
//! server on 127.0.0.1:53, which `/etc/netns/<ns>/resolv.conf` names, so
//! programs run with `ip netns exec` resolve `<npub>.fips` through their
//! node. Everything goes on drop, even when a test panics: daemons
//! (killed), namespaces, the resolv.conf files.

use std::net::Ipv6Addr;
use std::process::Command;
use std::time::{Duration, Instant};

use fips::control::Query;

use crate::daemon::Daemon;
use crate::keys::{key, Key};
use crate::lan::{self, Lan};
use crate::netns::output;
use crate::topology::Topology;
use crate::wait::wait_until;

/// Nodes on one segment, FIPS over UDP on a port chosen by the test.
pub struct Net {
    // Field order is drop order: daemons first, then namespaces.
    daemons: Vec<Daemon>,
    pub lan: Lan,
}

impl std::ops::Deref for Net {
    type Target = Lan;
    fn deref(&self) -> &Lan {
        &self.lan
    }
}

impl std::ops::DerefMut for Net {
    fn deref_mut(&mut self) -> &mut Lan {
        &mut self.lan
    }
}

impl Net {
    pub fn new(tag: &str, names: &[&str], port: u16) -> Net {
        let mut lan = Lan::build(tag, names, |ns| {
            ns.enable_ipv6();
            ns.with_resolv_conf("nameserver 127.0.0.1\n")
        });
        lan.port = port;
        lan.dns = true;
        Net {
            daemons: Vec::new(),
            lan,
        }
    }

    /// The nodes of `topology`, started (the first of each link dials),
    /// links up and the tree rooted at `root`.
    pub fn with_topology(tag: &str, topology: &Topology, root: &str, port: u16) -> Net {
        let mut net = Net::new(tag, &topology.nodes(), port);
        for n in topology.nodes() {
            net.start(n, &topology.dials(n));
        }
        net.wait_links(&topology.links, Duration::from_secs(30));
        net.wait_root(root, Duration::from_secs(20));
        net
    }

    /// The static mesh of identity.json, links up and the tree rooted at
    /// a (the smallest node address).
    pub fn static_mesh(tag: &str, port: u16) -> Net {
        Net::with_topology(tag, &Topology::static_mesh(), "a", port)
    }

    /// Starts the daemon of `name`, dialling `dials`.
    pub fn start(&mut self, name: &str, dials: &[&str]) {
        let d = self.lan.start(name, dials);
        self.daemons.push(d);
    }

    /// Starts the daemon of `name` with `yaml` (e.g. [`Lan::config`] plus
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

    /// Waits until every pair in `links` lists each other as peers; panics
    /// with the logs if not.
    pub fn wait_links(&self, links: &[(&str, &str)], timeout: Duration) {
        let up = |x: &str, y: &str| lan::linked(self.daemon(x), self.daemon(y));
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
        if let Err(roots) = lan::wait_root(self.daemons.iter(), key(root).node_addr, timeout) {
            panic!("tree not rooted at {root}: {roots:?}");
        }
    }

    /// With `FIPS_TEST_LOGS=DIR`, copies every daemon's log into DIR (to
    /// read a failure after the namespaces are gone).
    pub fn keep_logs(&self) {
        let Ok(dir) = std::env::var("FIPS_TEST_LOGS") else {
            return;
        };
        for d in &self.daemons {
            if let Err(e) = std::fs::copy(d.log_path(), format!("{dir}/{}.log", d.key.name)) {
                eprintln!("FIPS_TEST_LOGS: copying {}: {e}", d.log_path().display());
            }
        }
    }

    /// Every running daemon's peers (name, tree role, bytes) and
    /// sessions (peer, state, packets), for failure messages.
    pub fn state(&self) -> String {
        let brief = |v: &serde_json::Value, list: &str, fields: &[&str]| -> Vec<String> {
            v[list]
                .as_array()
                .into_iter()
                .flatten()
                .map(|x| {
                    let f = fields.iter().map(|f| x.pointer(f).map(|v| v.to_string()));
                    f.map(Option::unwrap_or_default)
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .collect()
        };
        let mut s = String::new();
        for d in &self.daemons {
            let peers = d.show(Query::Peers).unwrap_or_default();
            let sessions = d.show(Query::Sessions).unwrap_or_default();
            let p = [
                "/display_name",
                "/is_parent",
                "/stats/bytes_sent",
                "/stats/bytes_recv",
            ];
            let q = [
                "/display_name",
                "/state",
                "/stats/packets_sent",
                "/stats/packets_recv",
            ];
            s += &format!(
                "--- {} peers {:?}\n    sessions {:?}\n",
                d.key.name,
                brief(&peers, "peers", &p),
                brief(&sessions, "sessions", &q),
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
        let args = ["+short", "+time=2", "+tries=2", "AAAA", name, "@127.0.0.1"];
        let out = output(self.ns(from).command("dig").args(args));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }

    /// Resolves `to`'s npub through `from`'s DNS, as a user would before
    /// reaching it by name, and checks the answer is `to`'s derived address.
    pub fn resolve(&self, from: &str, to: &str) -> Ipv6Addr {
        let want = key(to).ipv6;
        let got = self.dig(from, &key(to).fips_name());
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
