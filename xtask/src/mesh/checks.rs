//! What `up` shows about the mesh it made: links and tree (from fipsctl's
//! JSON, parsed here), names across the mesh, the sidecar's isolation, and
//! its filter holding through kill -9 and a restart.

use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fips_testkit::topology::Topology;
use fips_testkit::wait::poll;
use fips_testkit::{key, wait_until};

use super::nodes::ipv4;
use super::{Mesh, NODES};

impl Mesh {
    /// `fipsctl -s <node's socket> ARGS`: its output, if it succeeded.
    pub(super) fn ctl_text(&self, n: &str, args: &[&str]) -> Option<String> {
        let out = Command::new(&self.fipsctl)
            .arg("-s")
            .arg(self.dir(n).join("control.sock"))
            .args(args)
            .stderr(Stdio::null())
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `fipsctl --json show WHAT` of node `n`, parsed.
    fn show(&self, n: &str, what: &str) -> Option<Value> {
        let text = self.ctl_text(n, &["--json", "show", what])?;
        serde_json::from_str(&text).ok()
    }

    fn peer_count(&self, n: &str) -> Option<u64> {
        self.show(n, "status")?["peer_count"].as_u64()
    }

    /// Links per node: its static-mesh degree, one more for d and e, the
    /// sidecar's two ways in.
    fn want_peers(&self, n: &str) -> u64 {
        let degree = Topology::static_mesh().degree(n) as u64;
        degree + u64::from(self.sidecar && (n == "d" || n == "e"))
    }

    pub(super) fn wait_links(&self) -> Result<()> {
        let all_up = || {
            NODES
                .iter()
                .all(|n| self.peer_count(n) == Some(self.want_peers(n)))
        };
        if !wait_until(self.wait, all_up) {
            let counts: Vec<String> = NODES
                .iter()
                .map(|n| format!("{n}={:?}/{}", self.peer_count(n), self.want_peers(n)))
                .collect();
            bail!(
                "links not all up after {:?} (peers: {})",
                self.wait,
                counts.join(" ")
            );
        }
        println!("mesh: all configured links are up");
        Ok(())
    }

    /// The tree settles a moment after the links: waits until every node
    /// names a as its root.
    pub(super) fn wait_tree(&self) -> Result<()> {
        let want = key("a").node_addr;
        let root = |n: &str| {
            self.show(n, "status")
                .and_then(|s| s["root"].as_str().map(str::to_owned))
        };
        if !wait_until(Duration::from_secs(10), || {
            NODES.iter().all(|n| root(n).as_deref() == Some(want))
        }) {
            bail!("the tree did not settle on node a as its root");
        }
        println!("mesh: spanning tree rooted at node a");
        Ok(())
    }

    /// `ping -6 <to's npub>.fips` from `from`'s namespace, by name.
    fn pings(&self, from: &str, to: &str, wait_s: u32) -> bool {
        let name = format!("{}.fips", key(to).npub);
        exec_ok(
            &self.ns(from),
            &[
                "ping",
                "-6",
                "-c",
                "2",
                "-W",
                &wait_s.to_string(),
                "-q",
                &name,
            ],
        )
    }

    pub(super) fn ping_by_name(&self, from: &str, to: &str, what: &str) -> Result<()> {
        if !self.pings(from, to, 2) {
            bail!("{from} cannot ping {}.fips", key(to).npub);
        }
        println!("mesh: {what}");
        Ok(())
    }

    /// The sidecar's promise, shown in its namespace: the mesh by name
    /// works, the bridge does not, loopback does.
    pub(super) fn sidecar_checks(&self) -> Result<()> {
        let s = self.ns("sidecar");
        let mut failures = Vec::new();
        if self.pings("sidecar", "a", 3) {
            println!("mesh: sidecar pings node a by name over the mesh (sidecar - d|e - a)");
        } else {
            failures.push(format!("sidecar cannot ping {}.fips", key("a").npub));
        }
        let d = ipv4("d");
        if exec_ok(&s, &["ping", "-c", "1", "-W", "2", "-q", &d]) {
            failures.push(format!("sidecar reached {d} over eth0: NOT isolated"));
        } else {
            println!("mesh: sidecar cannot reach {d} over eth0 (the eBPF filter drops it)");
        }
        if exec_ok(&s, &["ping", "-c", "1", "-W", "2", "-q", "127.0.0.1"]) {
            println!("mesh: sidecar loopback works");
        } else {
            failures.push("sidecar loopback does not work".into());
        }
        println!(
            "mesh: sidecar filter counters: fipsctl -s {} show firewall",
            self.dir("sidecar").join("control.sock").display()
        );
        if failures.is_empty() {
            return Ok(());
        }
        bail!("{}", failures.join("; "))
    }

    /// Fail-closed, shown: the sidecar's daemon is killed (kill -9) and the
    /// escape probes still get nothing out, while the same probes from
    /// node c (no filter) arrive, so they do work. Then the daemon is
    /// started again and takes its pinned filter over.
    pub(super) fn fail_closed_checks(&self) -> Result<()> {
        let mut failures = Vec::new();
        let firewall = self
            .ctl_text("sidecar", &["show", "firewall"])
            .unwrap_or_default();
        if firewall
            .lines()
            .any(|l| l.starts_with("pinned: fail-closed"))
        {
            println!("mesh: the sidecar's filter is pinned fail-closed (on the host's bpffs)");
        } else {
            let head: Vec<&str> = firewall.lines().take(3).collect();
            failures.push(format!(
                "the sidecar's filter is not fail-closed: {}",
                head.join(" | ")
            ));
        }
        let got = self.escape_probes("c", 4999)?;
        if got.contains("tcp=1 udp=1 raw=1 twin=1 icmp=1 icmp6=1") {
            println!("mesh: escape probes from node c (no filter) all arrive at d: {got}");
        } else {
            failures.push(format!(
                "escape probes from node c do not all arrive at d ({got}): the probes are broken"
            ));
        }
        let pid = self.pid("sidecar").context("the sidecar's pid")?;
        crate::install::sh(Command::new("kill").args(["-9", &pid.to_string()]))?;
        wait_until(Duration::from_secs(5), || !super::nodes::alive(pid));
        println!("mesh: killed the sidecar's daemon (kill -9 {pid})");
        let got = self.escape_probes("sidecar", 4000)?;
        if got == "arrived tcp=0 udp=0 raw=0 twin=0 icmp=0 icmp6=0" {
            println!(
                "mesh: with its daemon dead, escape probes from the sidecar get nothing out: {got}"
            );
        } else {
            failures.push(format!(
                "with its daemon dead, escape probes from the sidecar GOT OUT: {got}"
            ));
        }
        if let Err(e) = self.restart_sidecar() {
            failures.push(format!("{e:#}"));
        }
        if failures.is_empty() {
            return Ok(());
        }
        bail!("{}", failures.join("; "))
    }

    fn restart_sidecar(&self) -> Result<()> {
        println!("mesh: starting the sidecar's daemon again (it takes its pinned filter over)");
        self.start_sidecar(true)?;
        let linked = wait_until(self.wait, || self.peer_count("sidecar") == Some(2));
        if linked && self.pings("sidecar", "a", 3) {
            println!("mesh: the restarted sidecar links to d and e again and pings node a by name");
            return Ok(());
        }
        bail!(
            "the restarted sidecar did not come back (see {}/fips.log)",
            self.dir("sidecar").display()
        )
    }

    /// Runs escape.py's six probes from node `from`'s namespace to node d,
    /// forging and sharing transport port `port`: the listener's
    /// `arrived ...` line.
    fn escape_probes(&self, from: &str, port: u16) -> Result<String> {
        let script = std::path::absolute("testing/netns/escape.py").context("escape.py")?;
        let d = fips_testkit::NetNs::adopt(&self.ns("d"));
        let link_local = d.link_local("eth0");
        // Not ours to delete: the mesh keeps d.
        d.keep();
        let mut listener = Command::new("ip")
            .args(["netns", "exec", &self.ns("d"), "python3"])
            .arg(&script)
            .args(["listen", "7100", "6"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting the escape listener")?;
        let out = listener.stdout.take().context("the listener's output")?;
        let mut lines = std::io::BufRead::lines(std::io::BufReader::new(out));
        let ready = poll(Duration::from_secs(4), || {
            lines
                .next()
                .map(|l| l.unwrap_or_default().contains("listening"))
        });
        if ready != Some(true) {
            // It failed to start; its own message is on stderr.
            let _reaped = listener.wait();
            return Ok("arrived: (the listener failed to start)".into());
        }
        let t0 = Instant::now();
        let _sent = Command::new("nsenter")
            .arg(format!("--net=/var/run/netns/{}", self.ns(from)))
            .arg("python3")
            .arg(&script)
            .args(["send", &ipv4("d"), &link_local, "7100", &port.to_string()])
            .output()
            .context("running the escape probes")?;
        let arrived = lines
            .map_while(Result::ok)
            .find(|l| l.starts_with("arrived"))
            .unwrap_or_else(|| {
                format!(
                    "arrived: (no report after {:.1} s)",
                    t0.elapsed().as_secs_f64()
                )
            });
        let _reaped = listener.wait();
        Ok(arrived)
    }
}

/// Runs `ARGS` inside namespace `ns`: whether it exited 0.
fn exec_ok(ns: &str, args: &[&str]) -> bool {
    Command::new("ip")
        .args(["netns", "exec", ns])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
