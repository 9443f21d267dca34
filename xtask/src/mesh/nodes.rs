//! The mesh's namespaces and daemons: made, started, recorded in RUNDIR,
//! stopped. Nothing here checks behaviour (that is `checks`).

use anyhow::{bail, Context, Result};
use std::fs;
use std::process::{Command, Stdio};

use fips_testkit::netns::run_cmd;
use fips_testkit::topology::Topology;
use fips_testkit::{key, NetNs};

use super::{Mesh, NODES};

/// The file listing the namespaces `up` made, one a line, for `down`.
const NETNS_LIST: &str = "netns.list";

impl Mesh {
    /// The hub with its bridge, and a namespace per node with `eth0` on it,
    /// its static-mesh IPv4 address, and a resolv.conf naming the node's
    /// own DNS server. Recorded in RUNDIR as they are made.
    pub(super) fn net_up(&self) -> Result<()> {
        let hub = self.keep(NetNs::named(&self.ns("hub")))?;
        run_cmd(
            "ip",
            &["-n", &hub, "link", "add", "fdv-br", "type", "bridge"],
        );
        run_cmd("ip", &["-n", &hub, "link", "set", "fdv-br", "up"]);
        let mut all = NODES.to_vec();
        if self.sidecar {
            all.push("sidecar");
        }
        for n in all {
            // `ip netns exec` bind-mounts it over /etc/resolv.conf: names
            // resolve through the node's own DNS server, as in the sidecar.
            let ns = NetNs::named(&self.ns(n)).with_resolv_conf("nameserver 127.0.0.1\n");
            ns.enable_ipv6();
            let hub_end = format!("fdv-{n}");
            run_cmd(
                "ip",
                &[
                    "-n", &hub, "link", "add", &hub_end, "type", "veth", "peer", "name", "eth0",
                    "netns", &ns.name,
                ],
            );
            run_cmd(
                "ip",
                &[
                    "-n", &hub, "link", "set", &hub_end, "master", "fdv-br", "up",
                ],
            );
            ns.ip(&["addr", "add", &format!("{}/24", ipv4(n)), "dev", "eth0"]);
            ns.ip(&["link", "set", "eth0", "up"]);
            self.keep(ns)?;
        }
        Ok(())
    }

    /// Keeps `ns` past this process and records it for `down`.
    fn keep(&self, ns: NetNs) -> Result<String> {
        use std::io::Write;
        let path = self.rundir.join(NETNS_LIST);
        let mut list = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        writeln!(list, "{}", ns.name).context("recording a namespace")?;
        Ok(ns.keep())
    }

    /// The YAML of static-mesh node `n`: DNS on 127.0.0.1:53, dialling the
    /// peers of the links it comes first in.
    fn config(&self, n: &str) -> String {
        let mut y = format!(
            "# xtask mesh: static mesh node {n}\nnode:\n  identity:\n    nsec: \"{}\"\n  \
             control:\n    socket_path: \"{}\"\ntun:\n  enabled: true\n  name: fips0\n  mtu: 1280\n\
             dns:\n  enabled: true\n  bind_addr: 127.0.0.1\n  port: 53\n\
             transports:\n  udp:\n    bind_addr: \"0.0.0.0:4000\"\npeers:\n",
            key(n).nsec,
            self.dir(n).join("control.sock").display()
        );
        let dials = Topology::static_mesh().dials(n);
        if dials.is_empty() {
            y = y.replace("peers:\n", "peers: []\n");
        }
        for p in dials {
            y += &format!(
                "  - npub: \"{}\"\n    alias: node-{p}\n    addresses:\n      - transport: udp\n        \
                 addr: \"{}:4000\"\n    connect_policy: auto_connect\n",
                key(p).npub,
                ipv4(p)
            );
        }
        y
    }

    /// Starts node `n`'s daemon with its config (`ip netns exec`).
    pub(super) fn start_node(&self, n: &str) -> Result<()> {
        let dir = self.dir(n);
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let config = dir.join("fips.yaml");
        fs::write(&config, self.config(n)).context("writing a node config")?;
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns(n)])
            .arg(&self.fips)
            .arg("-c")
            .arg(&config)
            .env("RUST_LOG", &self.rust_log);
        self.spawn(n, &mut cmd, false)
    }

    /// Starts the sidecar's daemon in environment mode, entering only its
    /// network namespace: `ip netns exec` would give it a private /sys,
    /// and a bpffs it mounted there would die with it, while the host's
    /// bpffs outlives it and keeps the filter fail-closed.
    pub(super) fn start_sidecar(&self, append_log: bool) -> Result<()> {
        let dir = self.dir("sidecar");
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let (d, e) = (key("d"), key("e"));
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--net=/var/run/netns/{}", self.ns("sidecar")))
            .arg(&self.fips)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", &self.rust_log)
            .env("FIPS_NSEC", key("sidecar-default").nsec)
            .env("FIPS_PEER_NPUB", d.npub)
            .env("FIPS_PEER_ADDR", format!("{}:4000", ipv4("d")))
            .env("FIPS_PEER_ALIAS", "node-d")
            .env(
                "FIPS_PEERS",
                format!("node-e={}@{}:4000", e.npub, ipv4("e")),
            )
            .env("FIPS_UDP_BIND", "0.0.0.0:4000")
            .env("FIPS_CONTROL_SOCKET", dir.join("control.sock"));
        self.spawn("sidecar", &mut cmd, append_log)
    }

    /// Spawns a daemon that outlives this process, its output in
    /// `<dir>/fips.log` (appended to with `append`), its pid in `fips.pid`.
    fn spawn(&self, n: &str, cmd: &mut Command, append: bool) -> Result<()> {
        let dir = self.dir(n);
        let log = fs::OpenOptions::new()
            .create(true)
            .append(append)
            .write(true)
            .truncate(!append)
            .open(dir.join("fips.log"))
            .context("opening the daemon's log")?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone().context("the daemon's log")?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting node {n}'s daemon"))?;
        fs::write(dir.join("fips.pid"), child.id().to_string()).context("writing fips.pid")
    }

    /// The pid of node `n`'s daemon, as recorded.
    pub(super) fn pid(&self, n: &str) -> Option<i32> {
        fs::read_to_string(self.dir(n).join("fips.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Fails naming every node whose daemon died, with its last log lines.
    pub(super) fn all_running(&self) -> Result<()> {
        let mut dead = Vec::new();
        for n in NODES
            .iter()
            .copied()
            .chain(self.sidecar.then_some("sidecar"))
        {
            if self.pid(n).is_some_and(alive) {
                continue;
            }
            let log = fs::read_to_string(self.dir(n).join("fips.log")).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            eprintln!("mesh: {n} DIED; last lines of its log:");
            for l in &lines[lines.len().saturating_sub(5)..] {
                eprintln!("{l}");
            }
            dead.push(n);
        }
        if dead.is_empty() {
            return Ok(());
        }
        bail!("daemons died: {}", dead.join(" "))
    }

    /// Stops every recorded daemon (TERM, then KILL) and deletes the
    /// recorded namespaces; the sidecar's pins first, with its filter.
    pub(super) fn down_quietly(&self) -> Result<()> {
        let sock = self.dir("sidecar").join("control.sock");
        if sock.exists() {
            // A daemon already gone has left its filter pinned: removing it
            // needs only the pins, so the error is not the point here.
            let _removed = self.ctl_text("sidecar", &["firewall", "remove"]);
        }
        let all: Vec<&str> = NODES.iter().copied().chain(["sidecar"]).collect();
        let pids: Vec<i32> = all.iter().filter_map(|n| self.pid(n)).collect();
        pids.iter().for_each(|p| signal(*p, "TERM"));
        if !pids.is_empty() {
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
        pids.iter().for_each(|p| signal(*p, "KILL"));
        for n in all {
            // Absent when that node was never started.
            let _absent = fs::remove_file(self.dir(n).join("fips.pid"));
        }
        let list = self.rundir.join(NETNS_LIST);
        for ns in fs::read_to_string(&list)
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.is_empty())
        {
            // Dropping the guard deletes the namespace and /etc/netns/<ns>.
            drop(NetNs::adopt(ns));
        }
        // Absent when nothing was up.
        let _absent = fs::remove_file(list);
        Ok(())
    }
}

/// `kill -SIG pid`; a process already gone is fine.
fn signal(pid: i32, sig: &str) {
    let _gone_is_fine = Command::new("kill")
        .args([format!("-{sig}"), pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

/// Whether `pid` is a running process.
pub(super) fn alive(pid: i32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
        && !fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

/// Static-mesh node `n`'s IPv4 address (testing/static's).
pub(super) fn ipv4(n: &str) -> String {
    fips_testkit::keys::vectors()["static_mesh_ipv4"][n]
        .as_str()
        .unwrap_or_else(|| panic!("testdata/identity.json: no static_mesh_ipv4 for {n}"))
        .to_owned()
}

/// Mounts bpffs on the host at /sys/fs/bpf unless it is there: the
/// sidecar pins its filter there, so the filter outlives its daemon.
pub(super) fn ensure_bpffs() -> Result<()> {
    let mounts = fs::read_to_string("/proc/self/mounts").context("reading /proc/self/mounts")?;
    if mounts
        .lines()
        .any(|l| l.split(' ').nth(1) == Some("/sys/fs/bpf") && l.split(' ').nth(2) == Some("bpf"))
    {
        return Ok(());
    }
    println!("mesh: mounting bpffs on the host at /sys/fs/bpf (the sidecar pins its filter there, so the filter outlives its daemon)");
    crate::install::sh(Command::new("mount").args(["-t", "bpf", "bpf", "/sys/fs/bpf"]))
}
