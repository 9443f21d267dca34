//! Throwaway network namespaces: the one namespace helper of the tests.
//! A [`NetNs`] is deleted on drop (with its `/etc/netns/<name>/` if it was
//! given a resolv.conf), also when the test panics.

use std::ffi::OsStr;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A named network namespace that exists while this value lives.
#[derive(Debug)]
pub struct NetNs {
    pub name: String,
    etc: Option<PathBuf>,
}

impl NetNs {
    /// Creates `ft-<tag>-<pid>-<n>` (unique per process and call) with its
    /// loopback up.
    pub fn new(tag: &str) -> NetNs {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        NetNs::named(&format!("ft-{tag}-{}-{n}", std::process::id()))
    }

    /// Creates the namespace `name` with its loopback up, deleting a
    /// leftover of that name first (a crashed earlier run).
    pub fn named(name: &str) -> NetNs {
        // Absent is the normal case; nothing to report.
        let _leftover = Command::new("ip").args(["netns", "del", name]).output();
        run(Command::new("ip").args(["netns", "add", name]));
        // From here the guard owns it: a failing command below still deletes it.
        let ns = NetNs {
            name: name.to_owned(),
            etc: None,
        };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// A guard for an existing namespace (one kept earlier): it deletes
    /// the namespace, and its `/etc/netns/<name>/`, on drop.
    pub fn adopt(name: &str) -> NetNs {
        NetNs {
            name: name.to_owned(),
            etc: Some(PathBuf::from("/etc/netns").join(name)),
        }
    }

    /// Keeps the namespace (and its resolv.conf) past this value: for a
    /// mesh that outlives the process that made it. Its name.
    pub fn keep(self) -> String {
        let kept = std::mem::ManuallyDrop::new(self);
        kept.name.clone()
    }

    /// Gives the namespace `/etc/netns/<name>/resolv.conf` with `text`,
    /// which `ip netns exec` bind-mounts over `/etc/resolv.conf`.
    pub fn with_resolv_conf(mut self, text: &str) -> NetNs {
        let etc = PathBuf::from("/etc/netns").join(&self.name);
        std::fs::create_dir_all(&etc).unwrap_or_else(|e| panic!("{}: {e}", etc.display()));
        self.etc = Some(etc.clone());
        std::fs::write(etc.join("resolv.conf"), text).expect("write resolv.conf");
        self
    }

    /// Runs `ip -n NS ARGS`, panicking with its stderr on failure; its stdout.
    pub fn ip(&self, args: &[&str]) -> String {
        let out = run(Command::new("ip").arg("-n").arg(&self.name).args(args));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A command that runs inside the namespace (`ip netns exec`).
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).arg(program);
        c
    }

    /// Runs `ARGS` inside the namespace: whether it exited 0.
    pub fn exec_ok(&self, args: &[&str]) -> bool {
        let Some((program, rest)) = args.split_first() else {
            return false;
        };
        self.command(program)
            .args(rest)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    }

    /// Sets sysctls (`key=value`) inside the namespace.
    pub fn sysctl(&self, settings: &[&str]) {
        run(self.command("sysctl").arg("-qw").args(settings));
    }

    /// Turns IPv6 on for every interface (some hosts default it off).
    pub fn enable_ipv6(&self) {
        self.sysctl(&[
            "net.ipv6.conf.all.disable_ipv6=0",
            "net.ipv6.conf.default.disable_ipv6=0",
        ]);
    }

    /// Runs `f` on a thread inside the namespace and returns its result.
    pub fn enter<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        in_ns(&self.name, f)
    }

    /// Runs `f` on a new thread inside the namespace, without waiting.
    pub fn spawn<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> JoinHandle<T> {
        let name = self.name.clone();
        std::thread::spawn(move || {
            enter_thread(&name);
            f()
        })
    }

    /// The link-local IPv6 address of `dev`.
    pub fn link_local(&self, dev: &str) -> String {
        let text = self.ip(&["-6", "-o", "addr", "show", "dev", dev, "scope", "link"]);
        let addr = text
            .split_whitespace()
            .skip_while(|w| *w != "inet6")
            .nth(1)
            .unwrap_or_else(|| panic!("no link-local address on {} {dev}: {text}", self.name));
        addr.split('/').next().unwrap_or(addr).to_owned()
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let del = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
        if let Ok(out) = del {
            if !out.status.success() {
                eprintln!(
                    "deleting netns {}: {}",
                    self.name,
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
        if let Some(etc) = &self.etc {
            // Gone already is fine.
            let _absent = std::fs::remove_dir_all(etc);
        }
    }
}

/// Moves the calling thread into the namespace `name`: sockets and devices
/// it creates afterwards live there (and stay there, usable from any
/// thread).
pub fn enter_thread(name: &str) {
    let path = format!("/run/netns/{name}");
    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    // SAFETY: file is an open network-namespace descriptor; setns changes
    // only the calling thread's namespace.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
}

/// Runs `f` on a scoped thread that entered the namespace `name`.
pub fn in_ns<T: Send>(name: &str, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            enter_thread(name);
            f()
        })
        .join()
        .expect("thread in namespace panicked")
    })
}

/// Joins `a` and `b` with a veth pair named `a_dev`/`b_dev`, addresses in
/// CIDR form (IPv6 ones without duplicate address detection), both up.
pub fn veth(a: &NetNs, a_dev: &str, a_cidr: &str, b: &NetNs, b_dev: &str, b_cidr: &str) {
    a.ip(&[
        "link", "add", a_dev, "type", "veth", "peer", "name", b_dev, "netns", &b.name,
    ]);
    for (ns, dev, cidr) in [(a, a_dev, a_cidr), (b, b_dev, b_cidr)] {
        if cidr.contains(':') {
            ns.ip(&["addr", "add", cidr, "dev", dev, "nodad"]);
        } else {
            ns.ip(&["addr", "add", cidr, "dev", dev]);
        }
        ns.ip(&["link", "set", dev, "up"]);
    }
}

/// Runs a command, panicking with its stderr unless it exits 0.
pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs a command to completion, whatever its exit status.
pub fn output(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"))
}

/// `run` for a program and its arguments.
pub fn run_cmd(program: &str, args: &[&str]) -> Output {
    run(Command::new(program).args(args))
}
