//! What the daemon tells about the limits of its filter, with a real
//! daemon in a namespace: the packet-socket tripwire (a foreign AF_PACKET
//! socket fails `fipsctl health` within 2 s, naming it, until it closes),
//! and whether the filter outlives the daemon (`pinned: fail-closed` on
//! the host's bpffs, where it holds after `kill -9`; `pinned: until exit`
//! with a WARN under `ip netns exec`, where it does not).

#[path = "enforce_util/sockets.rs"]
mod sockets;

use fips::enforce;
use fips_testkit::netns::in_ns;
use fips_testkit::pair::RemoveFilterOnDrop;
use fips_testkit::{key, Daemon, Launch, SidecarPair};
use sockets::{raw_udp_send, receives};
use std::net::UdpSocket;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

const PORT: u16 = 4000;

fn sidecar(topo: &SidecarPair, launch: Launch) -> Daemon {
    // Test identity a (testdata/identity.json).
    Daemon::sidecar(
        &topo.sidecar.name,
        key("a"),
        launch,
        &[
            ("FIPS_UDP_BIND", format!("{}:{PORT}", topo.sidecar_ip)),
            ("FIPS_ENFORCE", "on".into()),
        ],
    )
}

/// An AF_PACKET socket for all protocols on `ns`'s eth0, as a process with
/// CAP_NET_RAW in the sidecar's namespace would open; with its inode.
fn packet_socket(ns: &str) -> (OwnedFd, u64) {
    in_ns(ns, || {
        let proto = (libc::ETH_P_ALL as u16).to_be();
        // SAFETY: plain socket(2) call; the fd is owned below.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, libc::c_int::from(proto)) };
        assert!(
            fd >= 0,
            "AF_PACKET socket: {}",
            std::io::Error::last_os_error()
        );
        // SAFETY: a fresh descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let ifname = std::ffi::CString::new("eth0").expect("name");
        // SAFETY: NUL-terminated name.
        let ifindex = unsafe { libc::if_nametoindex(ifname.as_ptr()) };
        assert_ne!(ifindex, 0, "no eth0 in {ns}");
        // SAFETY: sockaddr_ll is plain data; zeroed is valid.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = proto;
        sll.sll_ifindex = ifindex as i32;
        // SAFETY: `sll` is a valid sockaddr_ll of the given length.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                &sll as *const libc::sockaddr_ll as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        assert_eq!(rc, 0, "bind AF_PACKET: {}", std::io::Error::last_os_error());
        let link =
            std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).expect("fd link");
        let inode = link
            .to_string_lossy()
            .trim_start_matches("socket:[")
            .trim_end_matches(']')
            .parse()
            .expect("socket inode");
        (fd, inode)
    })
}

/// Whether a UDP datagram forged in the sidecar with the transport's source
/// port (a raw IP socket: no daemon socket cookie) reaches the peer. TC
/// egress drops it; the netfilter backstop alone would pass it (it judges
/// only the shape).
fn forged_datagram_gets_out(topo: &SidecarPair, payload: &[u8]) -> bool {
    let peer = topo.peer_ip;
    let listener = topo
        .peer
        .enter(|| UdpSocket::bind((peer, 9931)).expect("bind on the peer"));
    topo.sidecar
        .enter(|| raw_udp_send(PORT, peer, 9931, payload));
    receives(&listener, payload, Duration::from_millis(500))
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn a_packet_socket_in_the_namespace_fails_health_within_two_seconds_until_it_closes() {
    let topo = SidecarPair::with_prefix("fg", "tw", 94);
    let _cleanup = RemoveFilterOnDrop(&topo);
    let d = sidecar(&topo, Launch::Nsenter);
    let fw = d.wait_attached();
    assert_eq!(fw["packet_sockets"], serde_json::json!([]), "{fw}");
    assert_eq!(fw["packet_sockets_seen"], 0, "{fw}");
    let healthy = d.health();
    assert!(healthy.status.success(), "{}", text(&healthy));

    let (socket, inode) = packet_socket(&topo.sidecar.name);
    let opened = Instant::now();
    let sick = d.wait_for("health to fail", Duration::from_secs(2), || {
        let out = d.health();
        (!out.status.success()).then_some(out)
    });
    let took = opened.elapsed();
    let message = text(&sick);
    eprintln!("health failed {took:?} after the socket opened: {message}");
    for part in [
        format!("inode {inode}"),
        "protocol 0x0003".to_owned(),
        "interface eth0".to_owned(),
        format!("process {}", std::process::id()),
        "cap_drop: [NET_RAW]".to_owned(),
    ] {
        assert!(message.contains(&part), "health names {part:?}: {message}");
    }
    let fw = d.firewall().expect("show firewall");
    assert_eq!(fw["packet_sockets"][0]["inode"], inode, "{fw}");
    assert_eq!(fw["packet_sockets_seen"], 1, "{fw}");
    let log = d.log();
    assert!(
        log.contains("ERROR")
            && log.contains(&format!("inode {inode}"))
            && log.contains("cap_drop: [NET_RAW]"),
        "the daemon logs an error naming the socket and the fix:\n{log}"
    );

    drop(socket);
    d.wait_for("health to recover", Duration::from_secs(3), || {
        d.health().status.success().then_some(())
    });
    let fw = d.firewall().expect("show firewall");
    assert_eq!(fw["packet_sockets"], serde_json::json!([]), "{fw}");
    assert_eq!(fw["packet_sockets_seen"], 1, "the count stays: {fw}");
}

#[test]
fn on_the_hosts_bpffs_the_daemon_says_fail_closed_and_its_filter_outlives_kill_9() {
    let topo = SidecarPair::with_prefix("fg", "pinh", 95);
    let _cleanup = RemoveFilterOnDrop(&topo);
    let mut d = sidecar(&topo, Launch::Nsenter);
    let fw = d.wait_attached();
    assert_eq!(fw["pinned"], "fail-closed", "{fw}");
    assert!(!d.log().contains("until the daemon exits"), "{}", d.log());
    assert!(
        !forged_datagram_gets_out(&topo, b"alive"),
        "a forged datagram got out past the filter"
    );

    d.kill9();
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !forged_datagram_gets_out(&topo, b"dead"),
        "a forged datagram got out after kill -9: the filter died with the daemon"
    );
    let pinned = topo
        .sidecar
        .enter(|| enforce::snapshot_pinned("eth0"))
        .expect("pins");
    assert!(pinned.attached, "{}", pinned.render_table());
}

#[test]
fn under_ip_netns_exec_the_daemon_warns_that_its_filter_dies_with_it() {
    let topo = SidecarPair::with_prefix("fg", "pinx", 96);
    let mut d = sidecar(&topo, Launch::IpNetnsExec);
    let fw = d.wait_attached();
    assert_eq!(fw["pinned"], "until exit", "{fw}");
    let log = d.log();
    let warning = log
        .lines()
        .find(|l| l.contains("WARN") && l.contains("bpffs"))
        .unwrap_or_else(|| panic!("no WARN naming bpffs:\n{log}"));
    for part in [
        "until the daemon exits",
        "not fail-closed",
        "mount -t bpf",
        "nsenter",
        "bpffs volume",
    ] {
        assert!(
            warning.contains(part),
            "the warning names {part:?}: {warning}"
        );
    }
    let table = fips::control::render(
        fips::control::Query::Firewall,
        &d.firewall().expect("show firewall"),
    );
    assert!(table.contains("pinned: until exit"), "{table}");

    // The consequence it warns of, shown: the filter goes with the daemon.
    assert!(
        !forged_datagram_gets_out(&topo, b"alive"),
        "a forged datagram got out past the filter"
    );
    d.kill9();
    let escaped = (0..20).any(|i| forged_datagram_gets_out(&topo, format!("dead {i}").as_bytes()));
    assert!(
        escaped,
        "the filter outlived a daemon that said `until exit`"
    );
}
