//! The filter's life across processes: it stays and keeps dropping after
//! the attaching process is SIGKILLed, a restarted process takes it over
//! with no window in which traffic passes, and attaching needs only
//! CAP_BPF + CAP_NET_ADMIN.
//!
//! No libtest harness: the binary re-runs itself (under `nsenter`, and
//! `setpriv` for the capability tests) as the attaching process, selected
//! by the FIPS_ENFORCE_HELPER environment variable.

#[path = "enforce_util/probe.rs"]
mod probe;
#[path = "enforce_util/sockets.rs"]
mod sockets;

use fips::enforce::{self, Direction, Enforcer, FirewallSnapshot, Policy, Reason, XdpMode};
use fips_testkit::pair::RemoveFilterOnDrop;
use fips_testkit::{netns::run_cmd, SidecarPair};
use probe::Probe;
use sockets::{drain, receives, v4};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

const HELPER: &str = "FIPS_ENFORCE_HELPER";
const WAIT: Duration = Duration::from_millis(400);
const CAP_NET_ADMIN: u32 = 12;
const CAP_BPF: u32 = 39;

fn main() {
    if let Ok(spec) = std::env::var(HELPER) {
        helper(&spec);
    }
    let tests: [(&str, fn()); 4] = [
        (
            "filter_survives_sigkill_and_restart_replaces_it_without_a_passing_window",
            survives_kill_and_restart,
        ),
        (
            "attaches_with_only_cap_bpf_and_cap_net_admin",
            attaches_with_only_bpf_and_net_admin,
        ),
        (
            "names_cap_bpf_when_it_is_missing",
            names_cap_bpf_when_missing,
        ),
        ("explains_a_missing_bpffs", explains_a_missing_bpffs),
    ];
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let mut failed = 0;
    for (name, test) in tests {
        if filter.as_deref().is_some_and(|f| !name.contains(f)) {
            continue;
        }
        let ok = std::panic::catch_unwind(test).is_ok();
        println!("test {name} ... {}", if ok { "ok" } else { "FAILED" });
        failed += usize::from(!ok);
    }
    if failed > 0 {
        println!("test result: FAILED. {failed} failed");
        std::process::exit(1);
    }
    println!("test result: ok.");
}

/// The attaching process: binds the transport, attaches, says "ready",
/// then sends a datagram to the peer every 20 ms until killed.
fn helper(spec: &str) -> ! {
    // SAFETY: prctl with integer arguments. The helper must not outlive a
    // test run that panicked before killing it.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    let mut parts = spec.split(' ');
    let (Some(local), Some(peer)) = (parts.next(), parts.next()) else {
        panic!("bad {HELPER} spec {spec:?}");
    };
    let local: SocketAddr = local.parse().expect("local address");
    let peer: SocketAddr = peer.parse().expect("peer address");
    println!("caps {:x}", effective_caps());
    let transport = UdpSocket::bind(local).expect("bind transport");
    let policy = Policy::for_socket(&transport).expect("policy");
    if let Err(e) = Enforcer::attach("eth0", &policy) {
        // The whole cause chain (e.g. a verifier log) for the test's stderr.
        let mut cause: Option<&dyn std::error::Error> = std::error::Error::source(&e);
        while let Some(c) = cause {
            eprintln!("caused by: {c}");
            cause = c.source();
        }
        println!("error: {e}");
        std::process::exit(3);
    }
    println!("ready");
    std::io::stdout().flush().expect("flush");
    loop {
        transport.send_to(b"alive", peer).expect("send");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn effective_caps() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("status");
    let line = status
        .lines()
        .find(|l| l.starts_with("CapEff:"))
        .expect("CapEff");
    u64::from_str_radix(line["CapEff:".len()..].trim(), 16).expect("hex")
}

/// A helper process; killed (SIGKILL) on drop.
struct Helper {
    child: Child,
    /// Kept open so the helper never writes into a closed pipe.
    _out: BufReader<ChildStdout>,
    caps: u64,
}

impl Helper {
    /// Starts the helper in `ns` under `wrapper` (e.g. setpriv ...) and
    /// waits for "ready"; Err carries its "error: ..." line.
    fn start(
        ns: &str,
        wrapper: &[&str],
        local: SocketAddr,
        peer: SocketAddr,
    ) -> Result<Helper, String> {
        let exe = std::env::current_exe().expect("current_exe");
        // nsenter --net only: `ip netns exec` would also remount /sys and
        // hide the host's bpffs, where the pins must go.
        let mut child = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{ns}"))
            .args(wrapper)
            .arg(exe)
            .env(HELPER, format!("{local} {peer}"))
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn helper");
        let Some(stdout) = child.stdout.take() else {
            reap(&mut child);
            return Err("no stdout from the helper".into());
        };
        let mut out = BufReader::new(stdout);
        match read_until_ready(&mut out) {
            Ok(caps) => Ok(Helper {
                child,
                _out: out,
                caps,
            }),
            Err(e) => {
                reap(&mut child);
                Err(e)
            }
        }
    }

    fn kill9(mut self) {
        self.child.kill().expect("SIGKILL helper");
        self.child.wait().expect("reap helper");
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        reap(&mut self.child);
    }
}

fn reap(child: &mut Child) {
    // It may have exited already; then kill reports ESRCH, which is fine.
    let _may_be_dead = child.kill();
    let _status = child.wait();
}

/// Reads the helper's lines up to "ready", returning its effective
/// capabilities, or its "error: ..." text.
fn read_until_ready(out: &mut BufReader<ChildStdout>) -> Result<u64, String> {
    let mut caps = 0;
    let mut line = String::new();
    loop {
        line.clear();
        match out.read_line(&mut line) {
            Ok(0) => return Err("the helper exited before attaching".into()),
            Ok(_) => {}
            Err(e) => return Err(format!("reading the helper: {e}")),
        }
        let line = line.trim();
        if let Some(hex) = line.strip_prefix("caps ") {
            caps = u64::from_str_radix(hex, 16).map_err(|e| format!("caps {hex}: {e}"))?;
        } else if line == "ready" {
            return Ok(caps);
        } else if let Some(err) = line.strip_prefix("error: ") {
            return Err(err.to_owned());
        }
    }
}

fn pinned(topo: &SidecarPair) -> FirewallSnapshot {
    topo.sidecar
        .enter(|| enforce::snapshot_pinned("eth0"))
        .expect("pinned snapshot")
}

fn wait_for_alive(peer: &UdpSocket) -> bool {
    drain(peer);
    receives(peer, b"alive", Duration::from_secs(2))
}

fn survives_kill_and_restart() {
    let topo = SidecarPair::new("lc", 81);
    let local = SocketAddr::from((topo.sidecar_ip, 31081));
    let peer_addr = SocketAddr::from((topo.peer_ip, 32081));
    let peer_ip = topo.peer_ip;
    let peer = topo
        .peer
        .enter(|| UdpSocket::bind(peer_addr).expect("bind peer"));

    let first = Helper::start(&topo.sidecar.name, &[], local, peer_addr).expect("first daemon");
    let _cleanup = RemoveFilterOnDrop(&topo);
    let probe = Probe::start(&topo, 33081);
    assert!(
        wait_for_alive(&peer),
        "the first daemon's transport traffic does not pass"
    );
    let before = pinned(&topo);
    assert!(before.attached, "{}", before.render_table());
    let xdp_before = before.xdp.clone().expect("an XDP link is pinned");
    assert!(xdp_before.attached, "{}", before.render_table());
    assert!(
        xdp_attached(&topo.sidecar.name),
        "ip link shows no XDP on eth0"
    );

    first.kill9();
    std::thread::sleep(Duration::from_millis(300));
    let dead = pinned(&topo);
    assert!(
        dead.attached,
        "the filter went away with its process:\n{}",
        dead.render_table()
    );
    assert_eq!(dead.links, before.links);
    assert_eq!(
        dead.xdp.as_ref(),
        Some(&xdp_before),
        "the XDP link went away with its process"
    );
    assert!(
        before.egress_backstop && dead.egress_backstop,
        "the netfilter egress backstop is not in place, or went away with its process"
    );
    let tcp = topo
        .sidecar
        .enter(|| std::net::TcpStream::connect_timeout(&v4(peer_ip, 22).into(), WAIT));
    assert!(tcp.is_err(), "TCP got out while the daemon was dead");
    let dropped_while_dead = dead.packets(Direction::Egress, Reason::WrongPort);
    assert!(dropped_while_dead > before.packets(Direction::Egress, Reason::WrongPort));

    let second =
        Helper::start(&topo.sidecar.name, &[], local, peer_addr).expect("restarted daemon");
    assert!(
        wait_for_alive(&peer),
        "the restarted daemon's transport traffic does not pass"
    );
    let after = pinned(&topo);
    for (old, new) in before.links.iter().zip(&after.links) {
        assert_eq!(
            old.link_id, new.link_id,
            "the link was recreated, not updated in place"
        );
        assert_ne!(
            old.program_id, new.program_id,
            "the program was not replaced"
        );
    }
    let xdp_after = after.xdp.clone().expect("XDP link after restart");
    assert_eq!(
        (xdp_after.link_id, xdp_after.mode),
        (xdp_before.link_id, xdp_before.mode),
        "the XDP link was recreated, not updated in place"
    );
    assert_ne!(xdp_after.program_id, xdp_before.program_id);
    assert!(after.egress_backstop, "no backstop after the restart");
    assert!(
        after.packets(Direction::Egress, Reason::WrongPort) >= dropped_while_dead,
        "counters were not carried over"
    );
    std::thread::sleep(Duration::from_millis(200));
    let (sent, leaked) = probe.stop();
    second.kill9();
    assert!(sent > 300, "the probe ran too briefly ({sent} datagrams)");
    assert_eq!(
        leaked, 0,
        "{leaked} of {sent} probe datagrams passed around kill/restart"
    );

    // The probe is able to see a window: without the filter it passes.
    topo.sidecar
        .enter(|| enforce::remove("eth0"))
        .expect("remove");
    assert!(
        !xdp_attached(&topo.sidecar.name),
        "remove left an XDP program on eth0"
    );
    let backstop_left = topo.sidecar.enter(|| enforce::remove_backstop("eth0"));
    assert!(
        !backstop_left.expect("netfilter"),
        "remove left the backstop table"
    );
    let probe = Probe::start(&topo, 33082);
    std::thread::sleep(Duration::from_millis(200));
    let (_, got) = probe.stop();
    assert!(got > 0, "the probe gets nothing even without a filter");
}

fn setpriv(caps: &str) -> Vec<String> {
    [
        "setpriv".to_owned(),
        format!("--inh-caps=-all,{caps}"),
        format!("--ambient-caps=-all,{caps}"),
        format!("--bounding-set=-all,{caps}"),
        "--".to_owned(),
    ]
    .into()
}

fn attaches_with_only_bpf_and_net_admin() {
    let topo = SidecarPair::new("cap", 82);
    let local = SocketAddr::from((topo.sidecar_ip, 31082));
    let peer_addr = SocketAddr::from((topo.peer_ip, 32082));
    let peer = topo
        .peer
        .enter(|| UdpSocket::bind(peer_addr).expect("bind peer"));
    let wrapper = setpriv("+bpf,+net_admin");
    let wrapper: Vec<&str> = wrapper.iter().map(String::as_str).collect();
    let helper = Helper::start(&topo.sidecar.name, &wrapper, local, peer_addr);
    let _cleanup = RemoveFilterOnDrop(&topo);
    let helper =
        helper.unwrap_or_else(|e| panic!("attach with CAP_BPF + CAP_NET_ADMIN failed: {e}"));
    assert_eq!(
        helper.caps,
        1 << CAP_BPF | 1 << CAP_NET_ADMIN,
        "the helper had other capabilities"
    );
    assert!(wait_for_alive(&peer), "transport traffic does not pass");
    let probe = Probe::start(&topo, 33083);
    probe.wait_sent(51, Duration::from_secs(10));
    let (sent, leaked) = probe.stop();
    assert!(sent > 50, "the probe ran too briefly ({sent} datagrams)");
    assert_eq!(
        leaked, 0,
        "the filter attached without CAP_SYS_ADMIN does not block"
    );
    let snap = pinned(&topo);
    assert!(snap.attached);
    // Measured: veth takes native XDP from a process with only these two
    // capabilities (README, "Packet sockets").
    let xdp = snap.xdp.clone().expect("an XDP link is pinned");
    println!("XDP mode with CAP_BPF + CAP_NET_ADMIN: {}", xdp.mode.name());
    assert_eq!(xdp.mode, XdpMode::Native, "{}", snap.render_table());
    helper.kill9();
}

/// Whether `ip link` shows an XDP program on the namespace's eth0.
fn xdp_attached(ns: &str) -> bool {
    let out = run_cmd("ip", &["-n", ns, "-d", "link", "show", "dev", "eth0"]);
    let text = String::from_utf8_lossy(&out.stdout);
    text.contains("xdp") || text.contains("prog/xdp")
}

fn names_cap_bpf_when_missing() {
    let topo = SidecarPair::new("nocap", 83);
    let local = SocketAddr::from((topo.sidecar_ip, 31083));
    let peer_addr = SocketAddr::from((topo.peer_ip, 32083));
    let wrapper = setpriv("+net_admin");
    let wrapper: Vec<&str> = wrapper.iter().map(String::as_str).collect();
    let result = Helper::start(&topo.sidecar.name, &wrapper, local, peer_addr);
    let _cleanup_if_it_attached = result.is_ok().then(|| RemoveFilterOnDrop(&topo));
    let err = result.err().expect("attached without CAP_BPF");
    println!("without CAP_BPF: {err}");
    assert!(
        err.contains("CAP_BPF"),
        "the error does not name CAP_BPF: {err}"
    );
    assert!(
        err.contains("cap_add"),
        "the error does not say how to fix it: {err}"
    );
}

/// /sys/fs/bpf hidden under a tmpfs in a private mount namespace, and no
/// CAP_SYS_ADMIN to mount a bpffs: the error says what to do.
fn explains_a_missing_bpffs() {
    let topo = SidecarPair::new("nobpffs", 84);
    let local = SocketAddr::from((topo.sidecar_ip, 31084));
    let peer_addr = SocketAddr::from((topo.peer_ip, 32084));
    let caps = "+bpf,+net_admin";
    let script = format!(
        "mount -t tmpfs fe-nobpffs /sys/fs/bpf && exec setpriv --inh-caps=-all,{caps} \
         --ambient-caps=-all,{caps} --bounding-set=-all,{caps} -- \"$0\""
    );
    let wrapper = [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        &script,
    ];
    let result = Helper::start(&topo.sidecar.name, &wrapper, local, peer_addr);
    let _cleanup_if_it_attached = result.is_ok().then(|| RemoveFilterOnDrop(&topo));
    let err = result.err().expect("attached without a bpffs");
    println!("without bpffs: {err}");
    assert!(err.contains("no BPF file system at /sys/fs/bpf"), "{err}");
    assert!(err.contains("mount -t bpf bpf /sys/fs/bpf"), "{err}");
}
