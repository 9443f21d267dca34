//! A real `fips` daemon in environment (sidecar) mode inside a test
//! namespace, started the way a user would: `nsenter --net` (the host's
//! mount namespace and bpffs) or `ip netns exec` (a private /sys). Its
//! control socket is queried in-process; it is SIGKILLed on drop.

// Shared by several test binaries, each using a part.
#![allow(dead_code)]

use fips::control::{self, Command as Ctl, Query, Response};
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const FIPS: &str = env!("CARGO_BIN_EXE_fips");
pub const FIPSCTL: &str = env!("CARGO_BIN_EXE_fipsctl");

/// How the daemon enters its namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Launch {
    /// `nsenter --net=/run/netns/NS`: only the network namespace changes.
    Nsenter,
    /// `ip netns exec NS`: also a private mount namespace with its own /sys.
    IpNetnsExec,
}

pub struct Daemon {
    child: Child,
    pub log: PathBuf,
    pub socket: PathBuf,
}

impl Daemon {
    pub fn start(ns: &str, name: &str, launch: Launch, envs: &[(&str, String)]) -> Daemon {
        let log = std::env::temp_dir().join(format!("{ns}-{name}.log"));
        let file = std::fs::File::create(&log).expect("log file");
        let socket = std::env::temp_dir().join(format!("{ns}-{name}.sock"));
        let mut cmd = match launch {
            Launch::Nsenter => {
                let mut c = Command::new("nsenter");
                c.arg(format!("--net=/run/netns/{ns}"));
                c
            }
            Launch::IpNetnsExec => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]);
                c
            }
        };
        let child = cmd
            .arg(FIPS)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "info")
            .env("FIPS_CONTROL_SOCKET", &socket)
            .envs(envs.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log"))
            .stderr(file)
            .spawn()
            .expect("spawn fips");
        Daemon { child, log, socket }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `show firewall` as JSON, or the daemon's error.
    pub fn firewall(&self) -> Result<Value, String> {
        match control::request(&self.socket, &Ctl::Show(Query::Firewall)) {
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

    /// Polls `probe` every 50 ms until it yields, or panics with the log.
    pub fn wait_for<T>(
        &self,
        what: &str,
        limit: Duration,
        mut probe: impl FnMut() -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(v) = probe() {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {limit:?} waiting for {what}; daemon log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `fipsctl health` as the image's HEALTHCHECK runs it (DNS not asked).
    pub fn health(&self) -> Output {
        Command::new(FIPSCTL)
            .arg("-s")
            .arg(&self.socket)
            .args(["health", "--dns", "off"])
            .env_remove("FIPS_ENFORCE")
            .env_remove("FIPS_PEER_NPUB")
            .env_remove("FIPS_PEERS")
            .output()
            .expect("run fipsctl health")
    }

    pub fn kill9(&mut self) {
        self.child.kill().expect("SIGKILL fips");
        self.child.wait().expect("reap fips");
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // Possibly dead already (kill9); ESRCH is fine then.
        let _may_be_dead = self.child.kill();
        let _status = self.child.wait();
        // The log stays when the test failed, for the report.
        let mut files = vec![&self.socket];
        if !std::thread::panicking() {
            files.push(&self.log);
        }
        for f in files {
            if let Err(e) = std::fs::remove_file(f) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    eprintln!("removing {}: {e}", f.display());
                }
            }
        }
    }
}
