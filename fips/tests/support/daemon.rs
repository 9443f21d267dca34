//! Real `fips` daemons in network namespaces, queried over their control
//! sockets. Every daemon is killed on drop; namespaces go with their guard.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use fips::control::{self, Command as Ctl, Query, Response};
use serde_json::Value;

use super::netns::{run, NetNs};

pub const FIPS: &str = env!("CARGO_BIN_EXE_fips");
pub const FIPSCTL: &str = env!("CARGO_BIN_EXE_fipsctl");

/// One node's identity (from shared/vectors/identity.json).
#[derive(Clone, Copy, Debug)]
pub struct Key {
    pub name: &'static str,
    pub nsec: &'static str,
    pub npub: &'static str,
    pub node_addr: &'static str,
}

pub const KEYS: [Key; 5] = [
    Key {
        name: "a",
        nsec: "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20",
        npub: "npub1sjlh2c3x9w7kjsqg2ay080n2lff2uvt325vpan33ke34rn8l5jcqawh57m",
        node_addr: "69e08d65cc3a6b9c2c2ac4bd405e4b0e",
    },
    Key {
        name: "b",
        nsec: "b102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1fb0",
        npub: "npub1tdwa4vjrjl33pcjdpf2t4p027nl86xrx24g4d3avg4vwvayr3g8qhd84le",
        node_addr: "8e302c287eb48d6268122fda760b7727",
    },
    Key {
        name: "c",
        nsec: "c102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1fc0",
        npub: "npub1cld9yay0u24davpu6c35l4vldrhzvaq66pcqtg9a0j2cnjrn9rtsxx2pe6",
        node_addr: "aca221406950440c41d550280ed15a7f",
    },
    Key {
        name: "d",
        nsec: "d102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1fd0",
        npub: "npub1n9lpnv0592cc2ps6nm0ca3qls642vx7yjsv35rkxqzj2vgds52sqgpverl",
        node_addr: "b68411a1916d48efc6b8bd63bb1cd7df",
    },
    Key {
        name: "e",
        nsec: "e102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1fe0",
        npub: "npub1wf8akf8lu2zdkjkmwhl75pqvven654mpv4sz2x2tprl5265mgrzq8nhak4",
        node_addr: "ed7deed386a5462a43510316d84f3ccb",
    },
];

pub fn key(name: &str) -> Key {
    *KEYS.iter().find(|k| k.name == name).expect("known node")
}

/// A running daemon.
pub struct Daemon {
    pub key: Key,
    pub ns: String,
    pub dir: PathBuf,
    pub socket: PathBuf,
    child: Option<Child>,
    args: Vec<String>,
    envs: Vec<(String, String)>,
}

impl Daemon {
    /// Starts `fips -c <dir>/<name>.yaml` inside `ns`.
    pub fn with_config(ns: &NetNs, dir: &Path, key: Key, yaml: &str) -> Daemon {
        let config = dir.join(format!("{}.yaml", key.name));
        std::fs::write(&config, yaml).expect("write config");
        let mut d = Daemon {
            key,
            ns: ns.name.clone(),
            dir: dir.to_path_buf(),
            socket: dir.join(format!("{}.sock", key.name)),
            child: None,
            args: vec!["-c".into(), config.display().to_string()],
            envs: Vec::new(),
        };
        d.start();
        d
    }

    /// Starts `fips` in environment mode inside `ns`.
    pub fn with_env(ns: &NetNs, dir: &Path, key: Key, envs: &[(&str, &str)]) -> Daemon {
        Daemon::with_env_in(&ns.name, dir, key, envs)
    }

    /// Like `with_env`, in a namespace someone else owns (by name).
    pub fn with_env_in(ns: &str, dir: &Path, key: Key, envs: &[(&str, &str)]) -> Daemon {
        let socket = dir.join(format!("{}.sock", key.name));
        let mut all: Vec<(String, String)> = envs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        all.push(("FIPS_CONTROL_SOCKET".into(), socket.display().to_string()));
        let mut d = Daemon {
            key,
            ns: ns.to_owned(),
            dir: dir.to_path_buf(),
            socket,
            child: None,
            args: Vec::new(),
            envs: all,
        };
        d.start();
        d
    }

    pub fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("log file");
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns, FIPS])
            .args(&self.args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "info")
            .envs(self.envs.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        self.child = Some(cmd.spawn().expect("spawn fips"));
    }

    /// The daemon's pid (`ip netns exec` execs it in place), while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join(format!("{}.log", self.key.name))
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// `data` of a `show_*` reply, or None while the daemon is not answering.
    pub fn show(&self, q: Query) -> Option<Value> {
        match control::request(&self.socket, &Ctl::Show(q)) {
            Ok(Response::Ok(v)) => Some(v),
            _ => None,
        }
    }

    /// npubs of the authenticated peers.
    pub fn peer_npubs(&self) -> Vec<String> {
        let Some(v) = self.show(Query::Peers) else {
            return Vec::new();
        };
        v["peers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["npub"].as_str().map(str::to_string))
            .collect()
    }

    pub fn has_peer(&self, other: Key) -> bool {
        self.peer_npubs().iter().any(|n| n == other.npub)
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then the exit status (killed if it hangs for 10 s).
    pub fn terminate(&mut self) -> Option<ExitStatus> {
        let mut c = self.child.take()?;
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe { libc::kill(c.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = c.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = c.kill();
        c.wait().ok()
    }

    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Polls `cond` every 200 ms until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Nodes on one IPv4 segment: each in its own namespace with `eth0`,
/// bridged in a hub namespace. Addresses 10.77.0.(10 + index)/24.
pub struct Lan {
    pub hub: NetNs,
    pub nodes: Vec<(Key, NetNs)>,
    pub dir: tempfile::TempDir,
}

impl Lan {
    pub fn new(tag: &str, names: &[&str]) -> Lan {
        let hub = NetNs::new(&format!("{tag}h"));
        hub.ip(&["link", "add", "fdv-br", "type", "bridge"]);
        hub.ip(&["link", "set", "fdv-br", "up"]);
        let nodes = names
            .iter()
            .map(|n| {
                let ns = NetNs::new(&format!("{tag}{n}"));
                let hub_end = format!("fdv-{n}");
                hub.ip(&[
                    "link", "add", &hub_end, "type", "veth", "peer", "name", "eth0", "netns",
                    &ns.name,
                ]);
                hub.ip(&["link", "set", &hub_end, "master", "fdv-br", "up"]);
                ns.ip(&[
                    "addr",
                    "add",
                    &format!("{}/24", Lan::ip_of(n)),
                    "dev",
                    "eth0",
                ]);
                ns.ip(&["link", "set", "eth0", "up"]);
                run(ns
                    .command("sysctl")
                    .args(["-qw", "net.ipv6.conf.all.disable_ipv6=0"]));
                (key(n), ns)
            })
            .collect();
        Lan {
            hub,
            nodes,
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn ip_of(name: &str) -> String {
        let index = KEYS
            .iter()
            .position(|k| k.name == name)
            .expect("known node");
        format!("10.77.0.{}", 10 + index)
    }

    pub fn ns(&self, name: &str) -> &NetNs {
        &self
            .nodes
            .iter()
            .find(|(k, _)| k.name == name)
            .expect("node in lan")
            .1
    }

    /// The YAML for `name`, dialling `dials`.
    pub fn config(&self, name: &str, dials: &[&str]) -> String {
        let k = key(name);
        let mut y = format!(
            "node:\n  identity:\n    nsec: \"{}\"\n  control:\n    socket_path: \"{}\"\n\
             tun:\n  enabled: true\n  name: fips0\n  mtu: 1280\ndns:\n  enabled: false\n\
             transports:\n  udp:\n    bind_addr: \"0.0.0.0:4000\"\npeers:\n",
            k.nsec,
            self.dir.path().join(format!("{name}.sock")).display()
        );
        for p in dials {
            let pk = key(p);
            y += &format!(
                "  - npub: \"{}\"\n    alias: node-{p}\n    addresses:\n      - transport: udp\n        addr: \"{}:4000\"\n    connect_policy: auto_connect\n",
                pk.npub,
                Lan::ip_of(p)
            );
        }
        if dials.is_empty() {
            y = y.replace("peers:\n", "peers: []\n");
        }
        y
    }

    pub fn start(&self, name: &str, dials: &[&str]) -> Daemon {
        Daemon::with_config(
            self.ns(name),
            self.dir.path(),
            key(name),
            &self.config(name, dials),
        )
    }

    /// `dig +short AAAA <npub of to>.fips @127.0.0.1` inside `from`: the
    /// answer of `from`'s own DNS server (which teaches its node `to`'s key).
    pub fn dig_fips(&self, from: &str, to: &str) -> String {
        let name = format!("{}.fips", key(to).npub);
        let dig = self
            .ns(from)
            .command("dig")
            .args(["+short", "AAAA", &name, "@127.0.0.1"])
            .output()
            .expect("dig");
        String::from_utf8_lossy(&dig.stdout).trim().to_string()
    }

    /// Like `start`, with the DNS server on 127.0.0.1:53 of the namespace.
    pub fn start_with_dns(&self, name: &str, dials: &[&str]) -> Daemon {
        let yaml = self.config(name, dials).replace(
            "dns:\n  enabled: false\n",
            "dns:\n  enabled: true\n  bind_addr: 127.0.0.1\n  port: 53\n",
        );
        Daemon::with_config(self.ns(name), self.dir.path(), key(name), &yaml)
    }
}
