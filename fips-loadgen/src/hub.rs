//! The hub under test: a real FIPS daemon process (ours or any binary
//! given by path) in the hub namespace, with a config both accept (the
//! layout of testing/lib/config.sh) and peer limits raised above the leaf
//! count. Killed on drop. Read from outside: RSS and CPU from /proc, its
//! peer count from its control socket.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use fips::control::{self, Query, Response};
use fips_proto::identity::Identity;

use crate::net::{hub_addr, Testbed};

pub struct Hub {
    child: Child,
    pub socket: PathBuf,
    pub log: PathBuf,
}

/// The hub's YAML: no TUN, no DNS, UDP on the hub address, limits above
/// `leaves`.
fn config(identity: &Identity, socket: &Path, leaves: usize) -> String {
    let peers = leaves + 64;
    format!(
        "node:\n  identity:\n    nsec: \"{}\"\n  control:\n    enabled: true\n    socket_path: \"{}\"\n  \
         limits:\n    max_peers: {peers}\n    max_links: {}\n    max_connections: {}\n\
         tun:\n  enabled: false\ndns:\n  enabled: false\n\
         transports:\n  udp:\n    bind_addr: \"{}\"\npeers: []\n",
        identity.nsec(),
        socket.display(),
        peers + 64,
        peers + 64,
        hub_addr(),
    )
}

impl Hub {
    /// Starts `bin -c <dir>/hub.yaml` in the hub namespace and waits (up
    /// to 20 s) for its control socket to answer.
    pub fn start(
        bin: &Path,
        bed: &Testbed,
        dir: &Path,
        id: &Identity,
        leaves: usize,
    ) -> anyhow::Result<Hub> {
        // Absolute: the hub runs in `dir`.
        let bin = &std::fs::canonicalize(bin)
            .with_context(|| format!("no hub binary at {}", bin.display()))?;
        let socket = dir.join("hub.sock");
        let yaml = dir.join("hub.yaml");
        let log = dir.join("hub.log");
        std::fs::write(&yaml, config(id, &socket, leaves))?;
        let out = std::fs::File::create(&log)?;
        let child = Command::new("ip")
            .args(["netns", "exec", &bed.hub.name])
            .arg(bin)
            .arg("-c")
            .arg(&yaml)
            .current_dir(dir)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("starting the hub {}", bin.display()))?;
        let mut hub = Hub { child, socket, log };
        let t0 = Instant::now();
        while hub.peer_count().is_none() {
            if t0.elapsed() > Duration::from_secs(20) || hub.child.try_wait()?.is_some() {
                anyhow::bail!(
                    "the hub {} did not answer on {} within 20 s; its log:\n{}",
                    bin.display(),
                    hub.socket.display(),
                    hub.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(hub)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `peer_count` of the hub's `show status`, None while it does not answer.
    pub fn peer_count(&self) -> Option<u64> {
        self.try_peer_count().ok()
    }

    /// Like [`Hub::peer_count`], with what went wrong.
    pub fn try_peer_count(&self) -> Result<u64, String> {
        match control::request(&self.socket, &control::Command::Show(Query::Status)) {
            Ok(Response::Ok(v)) => {
                find_number(&v, "peer_count").ok_or_else(|| format!("no peer_count in {v}"))
            }
            Ok(other) => Err(format!("{other:?}")),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Resident set size, KiB.
    pub fn rss_kib(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    /// Open file descriptors.
    pub fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid())).map_or(0, Iterator::count)
    }

    /// CPU time used so far (user + system), in clock ticks.
    pub fn cpu_ticks(&self) -> u64 {
        cpu_ticks(self.pid())
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        // Killed, not drained: the bench is over and the leaves go too.
        let _gone = self.child.kill();
        let _reaped = self.child.wait();
    }
}

use fips_testkit::daemon::find_number;
pub use fips_testkit::daemon::{cpu_ticks, ticks_per_sec};
