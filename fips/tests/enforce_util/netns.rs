//! A sidecar and a peer namespace joined by a bridge in a third one, all
//! carrying the `fe-` prefix (the bench's `eb-`) and deleted on drop (even
//! when a test fails).
//!
//! ```text
//! fe-sc-<tag>: eth0 ──veth── fe-br-<tag>: feb<tag> ──veth── fe-pe-<tag>: eth0
//!   10.<net>.0.1                                                10.<net>.0.2
//! ```

// Shared by several test binaries, each using a part.
#![allow(dead_code)]

use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::process::{Command, Output};

pub struct Topology {
    pub sidecar: String,
    pub peer: String,
    pub bridge: String,
    pub sidecar_ip: Ipv4Addr,
    pub peer_ip: Ipv4Addr,
}

/// Runs `ip` (or any command) and panics with its stderr on failure.
pub fn run(cmd: &str, args: &[&str]) -> Output {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("starting {cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

impl Topology {
    /// `tag`: at most 10 characters, unique per test; `net`: the second
    /// octet of the test's 10.x.0.0/24.
    pub fn new(tag: &str, net: u8) -> Topology {
        Topology::with_prefix("fe", tag, net)
    }

    /// Like `new`, with namespaces and interfaces named after `prefix`
    /// (two characters) instead of `fe`.
    pub fn with_prefix(prefix: &str, tag: &str, net: u8) -> Topology {
        assert!(
            prefix.len() == 2 && tag.len() <= 10,
            "interface names must fit 15 bytes"
        );
        let t = Topology {
            sidecar: format!("{prefix}-sc-{tag}"),
            peer: format!("{prefix}-pe-{tag}"),
            bridge: format!("{prefix}-br-{tag}"),
            sidecar_ip: Ipv4Addr::new(10, net, 0, 1),
            peer_ip: Ipv4Addr::new(10, net, 0, 2),
        };
        t.delete(); // leftovers of an earlier crashed run
        for ns in [&t.sidecar, &t.peer, &t.bridge] {
            run("ip", &["netns", "add", ns]);
            // No duplicate address detection: link-local IPv6 is usable at
            // once, so an IPv6 ping is blocked by the filter, not by DAD.
            sysctl(ns, "net.ipv6.conf.default.accept_dad=0");
            run("ip", &["-n", ns, "link", "set", "lo", "up"]);
        }
        let br = format!("{prefix}b{tag}");
        run(
            "ip",
            &["-n", &t.bridge, "link", "add", &br, "type", "bridge"],
        );
        run("ip", &["-n", &t.bridge, "link", "set", &br, "up"]);
        for (ns, ip, end) in [(&t.sidecar, t.sidecar_ip, "s"), (&t.peer, t.peer_ip, "p")] {
            let port = format!("{prefix}v{tag}{end}");
            run(
                "ip",
                &[
                    "-n", &t.bridge, "link", "add", &port, "type", "veth", "peer", "name", "eth0",
                    "netns", ns,
                ],
            );
            run(
                "ip",
                &["-n", &t.bridge, "link", "set", &port, "master", &br, "up"],
            );
            run(
                "ip",
                &["-n", ns, "addr", "add", &format!("{ip}/24"), "dev", "eth0"],
            );
            run("ip", &["-n", ns, "link", "set", "eth0", "up"]);
        }
        t
    }

    fn delete(&self) {
        for ns in [&self.sidecar, &self.peer, &self.bridge] {
            // Absent namespaces are the normal case here; nothing to report.
            let _ignored = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }

    /// Runs a command inside a namespace, returning whether it succeeded.
    pub fn exec_ok(&self, ns: &str, args: &[&str]) -> bool {
        Command::new("ip")
            .args(["netns", "exec", ns])
            .args(args)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    }

    /// The link-local IPv6 address of `ns`'s eth0.
    pub fn link_local(&self, ns: &str) -> String {
        let out = run(
            "ip",
            &[
                "-n", ns, "-6", "-o", "addr", "show", "dev", "eth0", "scope", "link",
            ],
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let addr = text
            .split_whitespace()
            .skip_while(|w| *w != "inet6")
            .nth(1)
            .unwrap_or_else(|| panic!("no link-local address on {ns} eth0: {text}"));
        addr.split('/').next().unwrap_or(addr).to_owned()
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        self.delete();
    }
}

/// Runs `f` on a thread that entered network namespace `ns`. Sockets made
/// there stay in `ns` and can be used from any thread afterwards.
pub fn in_ns<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> T {
    let path = format!("/run/netns/{ns}");
    std::thread::scope(|s| {
        s.spawn(|| {
            let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            // SAFETY: a valid namespace fd; only this thread changes namespace.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
            f()
        })
        .join()
        .expect("thread in namespace panicked")
    })
}

/// Sets one sysctl (`key=value`) inside namespace `ns`.
pub fn sysctl(ns: &str, setting: &str) {
    run("ip", &["netns", "exec", ns, "sysctl", "-qw", setting]);
}
