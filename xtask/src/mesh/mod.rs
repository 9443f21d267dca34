//! `cargo xtask mesh`: the main job. The 5-node static mesh of
//! testdata/identity.json (links a-d a-e c-d b-c d-e c-e, the keys and
//! IPv4 addresses of testing/static) with our daemons in network
//! namespaces, no Docker, plus a sidecar node. Every node has an `eth0` in
//! its own namespace, bridged in a hub namespace, so any node can reach
//! any other over IPv4 but FIPS links only the configured pairs.
//!
//! The sidecar runs the daemon in environment mode (as the sidecar
//! container does), peered with d (FIPS_PEER_*) and e (FIPS_PEERS), two ways
//! into the mesh, with eth0 enforcement on. Its filter is pinned on the
//! host's bpffs (mounted if absent), so it outlives the daemon: `up` kills
//! the daemon (kill -9), shows that six escape probes
//! (testing/netns/escape.py) still get nothing out, and starts it again.
//!
//! The mesh outlives this process: `up` leaves the daemons running and
//! records what it made in RUNDIR; `status` and `down` read it there.
//! Knobs (environment): FIPS_BIN / FIPSCTL_BIN (default: target/release,
//! else target/debug), RUNDIR [/tmp/fips-mesh], PREFIX [fd-mesh], WAIT
//! [40], RUST_LOG [info], SIDECAR [1] (0: no sidecar node).

mod checks;
mod nodes;

use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::install::{self, sh};

#[derive(clap::Args)]
pub struct MeshArgs {
    /// What to do: up (default), status, down.
    #[arg(default_value = "up", value_parser = ["up", "status", "down"])]
    action: String,
    /// With `up`: use the binaries already built (FIPS_BIN / FIPSCTL_BIN,
    /// target/release, target/debug) instead of installing and building.
    #[arg(long)]
    no_build: bool,
}

pub fn run(args: MeshArgs) -> Result<()> {
    if args.action == "up" && !args.no_build {
        install::all()?;
        crate::ebpf::build(crate::ebpf::BuildEbpfArgs::default())?;
        println!("xtask: building fips and fipsctl (release)");
        sh(Command::new("cargo").args(["build", "--release", "-p", "fips"]))?;
    }
    let mesh = Mesh::from_env()?;
    match args.action.as_str() {
        "up" => mesh.up(),
        "status" => {
            mesh.status();
            Ok(())
        }
        _ => mesh.down(),
    }
}

/// One mesh: where it keeps its state and how it is named.
pub struct Mesh {
    pub prefix: String,
    pub rundir: PathBuf,
    pub wait: Duration,
    pub sidecar: bool,
    pub fips: PathBuf,
    pub fipsctl: PathBuf,
    pub rust_log: String,
}

/// The static mesh's nodes (the sidecar is extra).
pub const NODES: [&str; 5] = ["a", "b", "c", "d", "e"];

impl Mesh {
    /// The mesh the environment describes (see the module's knobs).
    pub fn from_env() -> Result<Mesh> {
        let var = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_owned());
        let wait: u64 = var("WAIT", "40")
            .parse()
            .context("WAIT is not a whole number of seconds")?;
        Ok(Mesh {
            prefix: var("PREFIX", "fd-mesh"),
            rundir: PathBuf::from(var("RUNDIR", "/tmp/fips-mesh")),
            wait: Duration::from_secs(wait),
            sidecar: var("SIDECAR", "1") == "1",
            fips: pick_bin("fips", "FIPS_BIN")?,
            fipsctl: pick_bin("fipsctl", "FIPSCTL_BIN")?,
            rust_log: var("RUST_LOG", "info"),
        })
    }

    /// The namespace of node `n`.
    pub fn ns(&self, n: &str) -> String {
        format!("{}-{n}", self.prefix)
    }

    /// Node `n`'s directory (config, log, pid, control socket).
    pub fn dir(&self, n: &str) -> PathBuf {
        self.rundir.join(n)
    }

    /// Starts the mesh (tearing down a previous one first) and checks it:
    /// links, tree, names across the mesh, the sidecar's isolation and its
    /// filter through kill -9 and restart. Fails if any check does.
    pub fn up(&self) -> Result<()> {
        require_root()?;
        // Nothing to tear down is the normal case.
        let _previous = self.down_quietly();
        std::fs::create_dir_all(&self.rundir)
            .with_context(|| format!("creating {}", self.rundir.display()))?;
        self.net_up()?;
        for n in NODES {
            self.start_node(n)?;
        }
        if self.sidecar {
            nodes::ensure_bpffs()?;
            self.start_sidecar(false)?;
        }
        let failures = self.check_all();
        println!(
            "logs: {0}/<node>/fips.log   control: fipsctl -s {0}/<node>/control.sock show peers",
            self.rundir.display()
        );
        if !failures.is_empty() {
            bail!("the mesh is up, but: {}", failures.join("; "));
        }
        Ok(())
    }

    /// Links, tree, status and names; then the sidecar's checks.
    fn check_all(&self) -> Vec<String> {
        let mut failures = Vec::new();
        let mut check = |r: Result<()>| {
            if let Err(e) = r {
                eprintln!("mesh: {e:#}");
                failures.push(format!("{e:#}"));
            }
        };
        check(self.wait_links());
        check(self.wait_tree());
        check(self.all_running());
        self.status();
        check(self.ping_by_name(
            "a",
            "b",
            "a pings b by name across the mesh (a - d|e - c - b)",
        ));
        if self.sidecar {
            check(self.sidecar_checks());
            check(self.fail_closed_checks());
        }
        let a = self.ns("a");
        let b = testkit_npub("b");
        println!(
            "try:  ip netns exec {a} ping -6 -c3 {b}.fips    (names resolve via each node's DNS)"
        );
        failures
    }

    /// Every node's status and peers, as fipsctl shows them.
    pub fn status(&self) {
        let mut all: Vec<&str> = NODES.to_vec();
        if self.dir("sidecar").join("fips.pid").exists() {
            all.push("sidecar");
        }
        for n in all {
            println!("=== node {n} (ns {})", self.ns(n));
            let Some(text) = self.ctl_text(n, &["show", "status"]) else {
                println!("(not running; see {}/fips.log)", self.dir(n).display());
                continue;
            };
            let wanted = ["npub ", "ipv6 addr ", "root ", "is root ", "peers "];
            for line in text
                .lines()
                .filter(|l| wanted.iter().any(|w| l.starts_with(w)))
            {
                println!("{line}");
            }
            for line in self
                .ctl_text(n, &["show", "peers"])
                .unwrap_or_default()
                .lines()
            {
                println!("{}", line.chars().take(120).collect::<String>());
            }
        }
    }

    /// Stops the daemons and deletes the namespaces `up` recorded.
    pub fn down(&self) -> Result<()> {
        self.down_quietly()?;
        println!("mesh: down");
        Ok(())
    }
}

/// `$VAR`, else target/release/NAME, else target/debug/NAME.
fn pick_bin(name: &str, var: &str) -> Result<PathBuf> {
    if let Ok(p) = std::env::var(var) {
        return Ok(PathBuf::from(p));
    }
    for profile in ["release", "debug"] {
        let p = PathBuf::from("target").join(profile).join(name);
        if p.exists() {
            return std::path::absolute(&p).context("the binary's path");
        }
    }
    bail!("no {name} binary: run 'cargo build --release -p fips' or set {var}")
}

fn testkit_npub(n: &str) -> &'static str {
    fips_testkit::key(n).npub
}

pub fn require_root() -> Result<()> {
    let out = Command::new("id").arg("-u").output()?;
    if String::from_utf8_lossy(&out.stdout).trim() != "0" {
        bail!("the mesh needs root (network namespaces, TUN, eBPF): run as root (sudo -E cargo xtask mesh)");
    }
    Ok(())
}
