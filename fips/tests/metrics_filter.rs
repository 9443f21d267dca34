//! The metrics server through the eth0 filter, with real daemons on real
//! veths: a scraper in another namespace reads `GET /metrics` from the
//! sidecar, while an app in the sidecar's namespace still gets nothing
//! out, including through the metrics port: from it, listening on it on
//! another address, or holding it before the daemon starts.
//!
//! Namespaces `mt-*` (this file's prefix). The daemons run under
//! `nsenter --net` (see enforce_daemon.rs).

use fips::enforce;
use fips_testkit::netns::in_ns;
use fips_testkit::pair::RemoveFilterOnDrop;
use fips_testkit::wait::poll;
use fips_testkit::{Daemon, SidecarPair};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

const PORT: u16 = 4000;
const METRICS: u16 = 19464;
// The sidecar runs test identity a, its peer b (testdata/identity.json).
/// What escape.py's listener prints when none of its six probes arrived.
const NOTHING: &str = "arrived tcp=0 udp=0 raw=0 twin=0 icmp=0 icmp6=0";

/// The sidecar's daemon, serving metrics on its eth0 address.
fn sidecar(topo: &SidecarPair) -> Daemon {
    let addr = format!("{}:{METRICS}", topo.sidecar_ip);
    topo.sidecar_daemon(PORT, &[("FIPS_METRICS_ADDR", addr)])
}

/// `GET /metrics` from namespace `ns`: the whole HTTP response.
fn scrape(ns: &str, to: SocketAddr) -> std::io::Result<String> {
    in_ns(ns, || {
        let mut s = TcpStream::connect_timeout(&to, Duration::from_secs(2))?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: sidecar\r\nConnection: close\r\n\r\n")?;
        let mut out = String::new();
        s.read_to_string(&mut out)?;
        Ok(out)
    })
}

/// escape.py's six probes (TCP, UDP, raw IPv4 forging the transport's
/// port, a SO_REUSEPORT twin on it, ICMP, IPv6 link-local) from the
/// sidecar's namespace to the peer's: what arrived there.
fn escape_probes(topo: &SidecarPair) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../testing/netns/escape.py");
    let mut listener = Command::new("ip")
        .args([
            "netns",
            "exec",
            &topo.peer.name,
            "python3",
            script,
            "listen",
            "7100",
            "5",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("escape.py listen");
    let mut out = listener.stdout.take().expect("stdout");
    let mut first = [0u8; 10];
    out.read_exact(&mut first).expect("escape.py listening");
    let ll = topo.peer.link_local("eth0");
    let ll = ll.split('/').next().unwrap_or_default().to_string();
    let sent = Command::new("nsenter")
        .arg(format!("--net=/run/netns/{}", topo.sidecar.name))
        .args([
            "python3",
            script,
            "send",
            &topo.peer_ip.to_string(),
            &ll,
            "7100",
        ])
        .arg(PORT.to_string())
        .output()
        .expect("escape.py send");
    let mut rest = String::new();
    out.read_to_string(&mut rest).expect("escape.py result");
    listener.wait().expect("escape.py exit");
    format!(
        "{}\n(sent: {})",
        rest.trim(),
        String::from_utf8_lossy(&sent.stdout).replace('\n', "; ")
    )
}

/// A TCP socket bound to `from` (SO_REUSEADDR), as an app would bind it.
/// A TCP connection from `from` in the sidecar to the peer's `sink` (port
/// 7200) neither completes nor reaches the sink; `what` names the failure.
fn assert_no_tcp_out(topo: &SidecarPair, from: SocketAddr, sink: &TcpListener, what: &str) {
    let out = in_ns(&topo.sidecar.name, || {
        bound_tcp(from).connect_timeout(
            &SocketAddr::from((topo.peer_ip, 7200)).into(),
            Duration::from_secs(2),
        )
    });
    assert!(out.is_err(), "{what}");
    assert!(
        sink.accept().is_err(),
        "the peer accepted the app's connection"
    );
}

fn bound_tcp(from: SocketAddr) -> socket2::Socket {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    s.set_reuse_address(true).expect("SO_REUSEADDR");
    s.bind(&from.into()).expect("bind the app's socket");
    s
}

/// Accepts one connection within 5 s and answers it; whether one came.
fn answer_once(listener: socket2::Socket) -> bool {
    listener.set_nonblocking(true).expect("nonblocking");
    let Some((conn, _)) = poll(Duration::from_secs(5), || listener.accept().ok()) else {
        return false;
    };
    let mut conn: TcpStream = conn.into();
    // The reply must not get out; whether write succeeds is the kernel's.
    let _queued = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nleak!");
    std::thread::sleep(Duration::from_secs(4));
    true
}

#[test]
fn a_scraper_reads_the_metrics_through_the_filter_and_the_app_still_gets_nothing_out() {
    let topo = SidecarPair::with_prefix("mt", "open", 91);
    let _peer = topo.peer_daemon(PORT);
    let sidecar = sidecar(&topo);
    let _cleanup = RemoveFilterOnDrop(&topo);
    let metrics = SocketAddr::from((topo.sidecar_ip, METRICS));
    sidecar.wait_until("a scrape showing the link", Duration::from_secs(20), || {
        scrape(&topo.peer.name, metrics).is_ok_and(|r| r.contains("fips_links{state=\"up\"} 1"))
    });
    let reply = scrape(&topo.peer.name, metrics).expect("scrape");
    assert!(reply.starts_with("HTTP/1.1 200 OK"), "{reply}");
    for family in [
        "fips_link_bytes_total{peer=\"peer\",direction=\"receive\"}",
        "fips_link_rtt_seconds{peer=\"peer\"}",
        "fips_firewall_packets_total{direction=\"ingress\",reason=\"passed\",verdict=\"pass\"}",
        "fips_build_info{",
        "fips_tree_depth",
    ] {
        assert!(reply.contains(family), "no {family} in\n{reply}");
    }
    // Connections come and go (each lingers in the filter's map a few
    // seconds after it closes): twenty in a row all get through.
    for i in 0..20 {
        let r = scrape(&topo.peer.name, metrics).unwrap_or_else(|e| panic!("scrape {i}: {e}"));
        assert!(r.starts_with("HTTP/1.1 200 OK"), "scrape {i}: {r}");
    }

    // The app, with the port open: the six escape probes.
    let escaped = escape_probes(&topo);
    assert!(escaped.starts_with(NOTHING), "{escaped}");

    // The app on the metrics port at another address of eth0.
    let other = Ipv4Addr::new(10, 91, 0, 11);
    topo.sidecar
        .ip(&["addr", "add", &format!("{other}/24"), "dev", "eth0"]);
    let app_port = SocketAddr::from((other, METRICS));
    let sink = in_ns(&topo.peer.name, || {
        TcpListener::bind((topo.peer_ip, 7200)).expect("sink")
    });
    sink.set_nonblocking(true).expect("nonblocking");
    assert_no_tcp_out(&topo, app_port, &sink, "TCP from the metrics port got out");

    let app = in_ns(&topo.sidecar.name, || {
        let s = bound_tcp(app_port);
        s.listen(8).expect("listen");
        s
    });
    let reached = scrape(&topo.peer.name, app_port);
    assert!(
        reached.is_err(),
        "a scraper reached the app's listener on the metrics port: {reached:?}"
    );
    app.set_nonblocking(true).expect("nonblocking");
    assert!(
        app.accept().is_err(),
        "the app's listener completed a handshake"
    );
    // The daemon's own server still answers.
    assert!(scrape(&topo.peer.name, metrics).is_ok_and(|r| r.starts_with("HTTP/1.1 200")));
    let fw = sidecar.firewall().expect("show firewall");
    assert_eq!(fw["egress_backstop"], true, "{fw:#}");
    let foreign = fw["counters"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["direction"] == "egress" && c["reason"] == "foreign-socket");
    assert!(
        foreign.is_some(),
        "the app's SYN-ACKs were not dropped as foreign:\n{fw:#}"
    );

    // A process that can mark its sockets (CAP_NET_ADMIN or CAP_NET_RAW,
    // which the app must not have) on the port at a third address: its
    // SYN-ACKs carry the mark and pass, its data has no registered cookie
    // and does not.
    let third = SocketAddr::from((Ipv4Addr::new(10, 91, 0, 12), METRICS));
    topo.sidecar
        .ip(&["addr", "add", "10.91.0.12/24", "dev", "eth0"]);
    let marked = in_ns(&topo.sidecar.name, || {
        let s = bound_tcp(third);
        s.set_mark(fips_common::METRICS_MARK).expect("SO_MARK");
        s.listen(8).expect("listen");
        s
    });
    let leak = std::thread::spawn(move || answer_once(marked));
    let got = in_ns(&topo.peer.name, || -> std::io::Result<usize> {
        let mut s = TcpStream::connect_timeout(&third, Duration::from_secs(2))?;
        s.set_read_timeout(Some(Duration::from_secs(3)))?;
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")?;
        s.read(&mut [0u8; 256])
    });
    assert!(
        leak.join().expect("marked listener"),
        "the marked listener saw no connection"
    );
    let timed_out = got.as_ref().is_err_and(|e| {
        matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        )
    });
    assert!(
        timed_out,
        "data left a marked socket with no registered cookie: {got:?}"
    );

    // TC alone holds too (the backstop only repeats it by mark): the
    // daemon is scraped, the app's listener and its socket on the port
    // are not let out.
    let removed = in_ns(&topo.sidecar.name, || enforce::remove_backstop("eth0"));
    assert!(removed.expect("remove the backstop"));
    assert!(scrape(&topo.peer.name, metrics).is_ok_and(|r| r.starts_with("HTTP/1.1 200")));
    assert!(
        scrape(&topo.peer.name, app_port).is_err(),
        "TC let the app's SYN-ACK out"
    );
    assert!(
        app.accept().is_err(),
        "the app's listener completed a handshake"
    );
    drop(app);
    assert_no_tcp_out(
        &topo,
        app_port,
        &sink,
        "TCP from the metrics port got past TC",
    );

    // Control: without the filter the same listener is reached, so the
    // filter is what refused it above.
    in_ns(&topo.sidecar.name, || enforce::remove("eth0")).expect("remove the filter");
    let _app = in_ns(&topo.sidecar.name, || {
        let s = bound_tcp(app_port);
        s.listen(8).expect("listen");
        s
    });
    let reached = in_ns(&topo.peer.name, || {
        TcpStream::connect_timeout(&app_port, Duration::from_secs(2))
    });
    assert!(
        reached.is_ok(),
        "unfiltered, the app's listener: {reached:?}"
    );
}

#[test]
fn an_app_holding_the_metrics_port_before_the_daemon_gets_nothing_out() {
    let topo = SidecarPair::with_prefix("mt", "first", 92);
    let metrics = SocketAddr::from((topo.sidecar_ip, METRICS));
    let app = in_ns(&topo.sidecar.name, || {
        TcpListener::bind(metrics).expect("the app binds first")
    });
    app.set_nonblocking(true).expect("nonblocking");
    let sidecar = sidecar(&topo);
    let _cleanup = RemoveFilterOnDrop(&topo);
    sidecar.wait_attached();
    assert!(
        sidecar.log().contains("no metrics server"),
        "{}",
        sidecar.log()
    );
    // The daemon runs on without metrics and the filter keeps the port shut.
    let reached = scrape(&topo.peer.name, metrics);
    assert!(reached.is_err(), "a scraper reached the app: {reached:?}");
    assert!(
        app.accept().is_err(),
        "the app's listener completed a handshake"
    );
    let escaped = escape_probes(&topo);
    assert!(escaped.starts_with(NOTHING), "{escaped}");
}
