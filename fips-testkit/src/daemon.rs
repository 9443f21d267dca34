//! Real `fips` daemons in network namespaces, queried over their control
//! sockets with the daemon's own client. A daemon is killed on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use fips::control::{self, Command as Ctl, Query, Response};
use serde_json::Value;

use crate::keys::Key;
use crate::netns::NetNs;
use crate::wait::poll;

/// The `fips` binary: `$FIPS_BIN`, else the one cargo built beside the
/// running test or benchmark (cargo builds a package's binaries before its
/// integration tests and benchmarks).
pub fn fips_bin() -> PathBuf {
    bin("fips", "FIPS_BIN")
}

/// The `fipsctl` binary, found as [`fips_bin`] is (`$FIPSCTL_BIN`).
pub fn fipsctl_bin() -> PathBuf {
    bin("fipsctl", "FIPSCTL_BIN")
}

fn bin(name: &str, var: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(var) {
        return PathBuf::from(p);
    }
    // target/<profile>/deps/<test>-<hash> -> target/<profile>/<name>
    let exe = std::env::current_exe().expect("the test's own path");
    let profile = exe
        .parent()
        .and_then(Path::parent)
        .unwrap_or(Path::new("."));
    let path = profile.join(name);
    assert!(
        path.exists(),
        "no {name} binary at {}: build it (cargo build -p fips) or set {var}",
        path.display()
    );
    path
}

/// How the daemon enters its namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Launch {
    /// `nsenter --net=/run/netns/NS`: only the network namespace changes
    /// (the host's mount namespace and bpffs stay).
    Nsenter,
    /// `ip netns exec NS`: also a private mount namespace with its own /sys.
    IpNetnsExec,
}

/// A running (or stopped, restartable) daemon.
pub struct Daemon {
    pub key: Key,
    pub ns: String,
    pub dir: PathBuf,
    pub socket: PathBuf,
    child: Option<Child>,
    launch: Launch,
    args: Vec<String>,
    envs: Vec<(String, String)>,
    /// The daemon's own directory (sidecar daemons): kept when the test
    /// fails, for its log.
    own_dir: Option<tempfile::TempDir>,
}

impl Daemon {
    /// Starts `fips -c <dir>/<name>.yaml` inside `ns`.
    pub fn with_config(ns: &NetNs, dir: &Path, key: Key, yaml: &str) -> Daemon {
        let config = dir.join(format!("{}.yaml", key.name));
        std::fs::write(&config, yaml).expect("write config");
        let mut d = Daemon::new(&ns.name, dir, key, Launch::IpNetnsExec);
        d.args = vec!["-c".into(), config.display().to_string()];
        d.start();
        d
    }

    /// Starts `fips` in environment mode inside `ns`.
    pub fn with_env(ns: &NetNs, dir: &Path, key: Key, envs: &[(&str, &str)]) -> Daemon {
        Daemon::with_env_in(&ns.name, dir, key, envs)
    }

    /// Like `with_env`, in a namespace given by name.
    pub fn with_env_in(ns: &str, dir: &Path, key: Key, envs: &[(&str, &str)]) -> Daemon {
        let mut d = Daemon::new(ns, dir, key, Launch::IpNetnsExec);
        d.envs
            .extend(envs.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        d.start();
        d
    }

    /// A sidecar: environment mode as `key` (`FIPS_NSEC`), entering `ns` as
    /// `launch` says, with a directory of its own.
    pub fn sidecar(ns: &str, key: Key, launch: Launch, envs: &[(&str, String)]) -> Daemon {
        let own = tempfile::Builder::new()
            .prefix(&format!("{ns}-{}-", key.name))
            .tempdir()
            .expect("tempdir");
        let mut d = Daemon::new(ns, own.path(), key, launch);
        d.own_dir = Some(own);
        d.envs.push(("FIPS_NSEC".into(), key.nsec.into()));
        d.envs
            .extend(envs.iter().map(|(k, v)| (k.to_string(), v.clone())));
        d.start();
        d
    }

    fn new(ns: &str, dir: &Path, key: Key, launch: Launch) -> Daemon {
        let socket = dir.join(format!("{}.sock", key.name));
        Daemon {
            key,
            ns: ns.to_owned(),
            dir: dir.to_path_buf(),
            envs: vec![("FIPS_CONTROL_SOCKET".into(), socket.display().to_string())],
            socket,
            child: None,
            launch,
            args: Vec::new(),
            own_dir: None,
        }
    }

    /// Starts (or restarts) the daemon, appending to its log.
    pub fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("log file");
        let mut cmd = match self.launch {
            Launch::Nsenter => {
                let mut c = Command::new("nsenter");
                c.arg(format!("--net=/run/netns/{}", self.ns));
                c
            }
            Launch::IpNetnsExec => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", &self.ns]);
                c
            }
        };
        cmd.arg(fips_bin())
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

    /// The daemon's pid (`ip netns exec` and `nsenter` exec it in place),
    /// while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join(format!("{}.log", self.key.name))
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// The reply to `command`, or the client's error.
    pub fn request(&self, command: &Ctl) -> Result<Response, control::ClientError> {
        control::request(&self.socket, command)
    }

    /// `data` of a `show_*` reply, or None while the daemon is not answering.
    pub fn show(&self, q: Query) -> Option<Value> {
        match self.request(&Ctl::Show(q)) {
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

    /// The tree root it reports (`show tree`), a node address in hex.
    pub fn root(&self) -> Option<String> {
        self.show(Query::Tree)?["root"].as_str().map(str::to_string)
    }

    /// Its resident and peak memory (`VmRSS`, `VmHWM`), in KiB.
    pub fn rss_kib(&self) -> (u64, u64) {
        rss_kib(self.pid().expect("running"))
    }

    /// `show firewall` as JSON, or the daemon's (or client's) error.
    pub fn firewall(&self) -> Result<Value, String> {
        match self.request(&Ctl::Show(Query::Firewall)) {
            Ok(Response::Ok(v)) => Ok(v),
            Ok(Response::Error(m)) => Err(m),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Waits until the daemon answers with its filter attached.
    pub fn wait_attached(&self) -> Value {
        self.wait_for("the filter attached", Duration::from_secs(20), || {
            self.firewall().ok().filter(|f| f["attached"] == true)
        })
    }

    /// Polls `cond` until it holds, or panics naming `what` with the log.
    pub fn wait_until(&self, what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
        self.wait_for(what, limit, || cond().then_some(()));
    }

    /// Polls `probe` until it yields, or panics naming `what` with the log.
    pub fn wait_for<T>(&self, what: &str, limit: Duration, probe: impl FnMut() -> Option<T>) -> T {
        poll(limit, probe).unwrap_or_else(|| {
            panic!(
                "timed out after {limit:?} waiting for {what}; daemon log:\n{}",
                self.log()
            )
        })
    }

    /// `fipsctl health` as the image's HEALTHCHECK runs it (DNS not asked).
    pub fn health(&self) -> Output {
        Command::new(fipsctl_bin())
            .arg("-s")
            .arg(&self.socket)
            .args(["health", "--dns", "off"])
            .env_remove("FIPS_ENFORCE")
            .env_remove("FIPS_PEER_NPUB")
            .env_remove("FIPS_PEERS")
            .output()
            .expect("run fipsctl health")
    }

    /// SIGKILL and reap (no-op when not running).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            // Exited already is fine: ESRCH.
            let _may_be_dead = c.kill();
            let _status = c.wait();
        }
    }

    /// `kill -9` of a running daemon, which must still be running.
    pub fn kill9(&mut self) {
        let mut c = self.child.take().expect("daemon running");
        c.kill().expect("SIGKILL fips");
        c.wait().expect("reap fips");
    }

    /// SIGTERM, then the exit status (killed if it hangs for 10 s).
    pub fn terminate(&mut self) -> Option<ExitStatus> {
        let mut c = self.child.take()?;
        let pid = libc::pid_t::try_from(c.id()).expect("pid fits pid_t");
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = c.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _may_be_dead = c.kill();
        c.wait().ok()
    }

    /// The exit status, once the daemon has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            if let Some(own) = self.own_dir.take() {
                eprintln!("kept the daemon's log: {}", own.keep().display());
            }
        }
    }
}

/// `VmRSS` and `VmHWM` (peak) of `pid`, in KiB.
pub fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// utime + stime of `pid` from /proc/PID/stat, in clock ticks.
pub fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // After the command name: utime and stime are the 12th and 13th fields.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0)
}

/// Clock ticks per second.
pub fn ticks_per_sec() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    hz.max(1) as f64
}

/// The first number named `name` anywhere in `v` (the daemons' replies
/// name a counter once, at a depth that differs between implementations).
pub fn find_number(v: &Value, name: &str) -> Option<u64> {
    match v {
        Value::Object(m) => m
            .get(name)
            .and_then(Value::as_u64)
            .or_else(|| m.values().find_map(|c| find_number(c, name))),
        Value::Array(a) => a.iter().find_map(|c| find_number(c, name)),
        _ => None,
    }
}
