//! Throwaway network namespaces for tests that need real kernel networking
//! (veth pairs, TUN devices). Names carry the `fp-` prefix and the process
//! id; the namespace is deleted on drop, also when the test fails.

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A named network namespace, deleted on drop.
pub(crate) struct NetNs {
    pub name: String,
}

impl NetNs {
    /// Creates `fp-<tag>-<pid>-<n>` with its loopback up.
    pub fn new(tag: &str) -> NetNs {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("fp-{tag}-{}-{n}", std::process::id());
        run("ip", &["netns", "add", &name]);
        let ns = NetNs { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// `ip -n <ns> args...`, panicking with its stderr on failure.
    pub fn ip(&self, args: &[&str]) {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        run("ip", &all);
    }

    /// Runs `f` on a thread that has entered the namespace; sockets and
    /// devices it creates stay in the namespace afterwards.
    pub fn enter<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let path = format!("/var/run/netns/{}", self.name);
        std::thread::scope(|s| {
            s.spawn(|| {
                let file = std::fs::File::open(&path).expect("open the netns file");
                // SAFETY: setns on an open namespace fd changes only this
                // (scoped, short-lived) thread's network namespace.
                let rc = unsafe {
                    libc::setns(std::os::fd::AsRawFd::as_raw_fd(&file), libc::CLONE_NEWNET)
                };
                assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
                f()
            })
            .join()
            .expect("netns thread panicked")
        })
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Two namespaces joined by a veth pair with `a_addr`/`b_addr` (CIDR).
pub(crate) fn veth_pair(tag: &str, a_addr: &str, b_addr: &str) -> (NetNs, NetNs) {
    let a = NetNs::new(&format!("{tag}a"));
    let b = NetNs::new(&format!("{tag}b"));
    run(
        "ip",
        &[
            "link", "add", "fp-va", "netns", &a.name, "type", "veth", "peer", "name", "fp-vb",
            "netns", &b.name,
        ],
    );
    for (ns, dev, addr) in [(&a, "fp-va", a_addr), (&b, "fp-vb", b_addr)] {
        if addr.contains(':') {
            ns.ip(&["addr", "add", addr, "dev", dev, "nodad"]);
        } else {
            ns.ip(&["addr", "add", addr, "dev", dev]);
        }
        ns.ip(&["link", "set", dev, "up"]);
    }
    (a, b)
}

fn run(cmd: &str, args: &[&str]) {
    let out = Command::new(cmd).args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
