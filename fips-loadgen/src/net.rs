//! The bench's two namespaces: the hub's (`lg-<pid>-h`) and the leaves'
//! (`lg-<pid>-g`), joined by one veth pair. Every leaf has its own IPv4
//! address (a /32 on the leaves' loopback, out of 10.77.0.0/16), because
//! hubs budget handshakes per source address. The hub reaches them all
//! through one route via the leaves' end of the veth, so its neighbour
//! table holds one entry, not one per leaf (the kernel's table is shared
//! by all namespaces and holds 1024 by default).
//!
//! Both namespaces (and so the veth and every address) are deleted when
//! the [`Testbed`] drops, also on a panic.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Command, Stdio};

use anyhow::{bail, Context};
use fips_testkit::netns::{in_ns, veth, NetNs};

/// The hub's UDP port.
pub const PORT: u16 = 4000;
/// The hub's address on its end of the veth.
pub const HUB_IP: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 1);
const LEAVES_GW: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 2);
/// Leaf addresses: 10.77.0.2 onwards; the /16 holds this many.
pub const MAX_LEAVES: usize = 65_000;

pub struct Testbed {
    pub hub: NetNs,
    pub leaves: NetNs,
    /// Leaf addresses assigned so far.
    assigned: usize,
}

/// Leaf `i`'s source address.
pub fn leaf_ip(i: usize) -> Ipv4Addr {
    let n = u32::try_from(i + 2).unwrap_or(u32::MAX);
    Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 77, 0, 0)) + n)
}

pub fn hub_addr() -> SocketAddr {
    SocketAddr::new(HUB_IP.into(), PORT)
}

impl Testbed {
    pub fn new() -> Testbed {
        let tag = format!("lg-{}", std::process::id());
        let hub = NetNs::named(&format!("{tag}-h"));
        let leaves = NetNs::named(&format!("{tag}-g"));
        let (h, g) = (
            format!("lg-h{}", std::process::id()),
            format!("lg-g{}", std::process::id()),
        );
        veth(
            &hub,
            &h,
            &format!("{HUB_IP}/30"),
            &leaves,
            &g,
            &format!("{LEAVES_GW}/30"),
        );
        hub.ip(&[
            "route",
            "add",
            "10.77.0.0/16",
            "via",
            &LEAVES_GW.to_string(),
        ]);
        Testbed {
            hub,
            leaves,
            assigned: 0,
        }
    }

    /// Makes sure leaves `0..n` have their addresses (one `ip -batch`).
    pub fn assign(&mut self, n: usize) -> anyhow::Result<()> {
        if n > MAX_LEAVES {
            bail!("{n} leaves: at most {MAX_LEAVES} fit the bench's 10.77.0.0/16");
        }
        if n <= self.assigned {
            return Ok(());
        }
        let mut batch = String::new();
        for i in self.assigned..n {
            batch += &format!("addr add {}/32 dev lo\n", leaf_ip(i));
        }
        let mut child = Command::new("ip")
            .args(["-n", &self.leaves.name, "-batch", "-"])
            .stdin(Stdio::piped())
            .spawn()
            .context("running ip -batch")?;
        child
            .stdin
            .take()
            .context("ip's stdin")?
            .write_all(batch.as_bytes())?;
        let status = child.wait()?;
        if !status.success() {
            bail!("ip -batch adding leaf addresses failed: {status}");
        }
        self.assigned = n;
        Ok(())
    }

    /// UDP sockets for leaves `0..n`, each bound to its own address and
    /// the hub's port number, in the leaves' namespace.
    pub fn leaf_sockets(&self, n: usize) -> anyhow::Result<Vec<std::net::UdpSocket>> {
        in_ns(&self.leaves.name, || {
            (0..n)
                .map(|i| {
                    let a = SocketAddr::new(leaf_ip(i).into(), PORT);
                    std::net::UdpSocket::bind(a).with_context(|| format!("binding {a}"))
                })
                .collect()
        })
    }
}

impl Default for Testbed {
    fn default() -> Self {
        Testbed::new()
    }
}

/// Raises this process's open-file limit (inherited by the hub it starts)
/// towards `want` (one socket per leaf, and a hub that may use more than
/// one descriptor per peer), as far as the hard limit allows (raising that
/// needs CAP_SYS_RESOURCE, which a container may not grant). The limit set.
pub fn raise_nofile(want: u64) -> anyhow::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        bail!(
            "getrlimit(RLIMIT_NOFILE): {}",
            std::io::Error::last_os_error()
        );
    }
    lim.rlim_cur = want.min(lim.rlim_max).max(lim.rlim_cur);
    // SAFETY: setrlimit reads the struct we pass.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
        bail!(
            "setrlimit(RLIMIT_NOFILE, {}): {}",
            lim.rlim_cur,
            std::io::Error::last_os_error()
        );
    }
    Ok(lim.rlim_cur)
}

/// On SIGINT or SIGTERM: kills what runs in this process's bench
/// namespaces (the hub), deletes them and exits, as a shell `trap` would
/// (a signal skips the destructors that do it otherwise).
pub fn clean_up_on_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (mut int, mut term) = {
        let _in_rt = rt.enter();
        (
            signal(SignalKind::interrupt())?,
            signal(SignalKind::terminate())?,
        )
    };
    std::thread::spawn(move || {
        rt.block_on(async {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        });
        let pid = std::process::id();
        for ns in [format!("lg-{pid}-h"), format!("lg-{pid}-g")] {
            let pids = Command::new("ip").args(["netns", "pids", &ns]).output();
            let listed = pids.map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
            let me = pid.to_string();
            for p in listed.iter().flat_map(|l| l.split_whitespace()) {
                if p != me {
                    let _gone = Command::new("kill").args(["-9", p]).status();
                }
            }
            let _deleted = Command::new("ip").args(["netns", "del", &ns]).status();
        }
        eprintln!("hubbench: interrupted; namespaces lg-{pid}-* deleted");
        std::process::exit(130);
    });
    Ok(())
}
