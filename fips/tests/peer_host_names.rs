//! A peer given by host name, on real daemons in network namespaces, with a
//! real DNS server (UDP, in the dialling node's namespace) that the test
//! controls: the daemon starts while the name does not resolve, says so,
//! and links as soon as the name resolves; `fipsctl connect` with a host
//! name answers at once and never stalls the node.

use std::net::{Ipv4Addr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fips::control::{Command, Query, Response};
use fips_testkit::{key, wait_until, Daemon, Lan};

/// What the test's DNS server answers for every A query: NXDOMAIN while
/// `None`.
type Answer = Arc<Mutex<Option<Ipv4Addr>>>;

/// The response to `query`: its header and question, then one A record
/// pointing back at the question's name, or NXDOMAIN.
fn respond(query: &[u8], answer: Option<Ipv4Addr>) -> Option<Vec<u8>> {
    // Header (12 bytes), then one question: name, type (2), class (2).
    let name_end = 12 + query.get(12..)?.iter().position(|&b| b == 0)? + 1;
    let question_end = name_end + 4;
    let mut out = query.get(..question_end)?.to_vec();
    out[2] = 0x81; // QR, RD
    out[3] = if answer.is_some() { 0x80 } else { 0x83 }; // RA, rcode
    out[6..8].copy_from_slice(&u16::from(answer.is_some()).to_be_bytes());
    out[8..12].fill(0);
    if let Some(ip) = answer {
        out.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4]);
        out.extend_from_slice(&ip.octets());
    }
    Some(out)
}

/// A DNS server on 127.0.0.1:5300 of `lan`'s namespace `node`; stops when
/// `stop` is set.
fn dns_server(lan: &Lan, node: &str, answer: Answer, stop: Arc<AtomicBool>) {
    let ns = lan.ns(node);
    let bound = Arc::new(AtomicBool::new(false));
    let ready = bound.clone();
    ns.spawn(move || {
        let sock = UdpSocket::bind("127.0.0.1:5300").expect("bind the test DNS server");
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        ready.store(true, Ordering::SeqCst);
        let mut buf = [0u8; 512];
        while !stop.load(Ordering::SeqCst) {
            let Ok((n, from)) = sock.recv_from(&mut buf) else {
                continue;
            };
            let now = *answer.lock().expect("answer");
            if let Some(reply) = respond(&buf[..n], now) {
                let _ = sock.send_to(&reply, from);
            }
        }
    });
    assert!(wait_until(Duration::from_secs(5), || bound.load(Ordering::SeqCst)));
}

/// a and b on a LAN, the test's DNS server in a's namespace (answering
/// `first` for now), b running and dialling nobody.
struct Setup {
    lan: Lan,
    answer: Answer,
    stop: Arc<AtomicBool>,
    b: Daemon,
}

impl Setup {
    fn new(tag: &str, first: Option<&str>) -> Setup {
        let lan = Lan::new(tag, &["a", "b"]);
        let answer: Answer = Arc::new(Mutex::new(None));
        let stop = Arc::new(AtomicBool::new(false));
        dns_server(&lan, "a", answer.clone(), stop.clone());
        let b = lan.start("b", &[]);
        let s = Setup {
            lan,
            answer,
            stop,
            b,
        };
        s.resolve_to(first);
        s
    }

    /// What the name resolves to from now on (`None`: NXDOMAIN).
    fn resolve_to(&self, ip: Option<&str>) {
        *self.answer.lock().expect("answer") = ip.map(|ip| ip.parse().expect("IPv4"));
    }

    /// Starts a with the test's DNS server as its peer_resolver; with
    /// `dial_b`, b is its configured peer at `node-b.test:4000`.
    fn start_a(&self, dial_b: bool) -> Daemon {
        let dials: &[&str] = if dial_b { &["b"] } else { &[] };
        let yaml = self
            .lan
            .config("a", dials)
            .replace(&format!("{}:4000", Lan::ip_of("b")), "node-b.test:4000")
            .replace(
                "  control:\n",
                "  peer_resolver: \"127.0.0.1:5300\"\n  control:\n",
            );
        assert!(yaml.contains("peer_resolver") && (!dial_b || yaml.contains("node-b.test")));
        Daemon::with_config(self.lan.ns("a"), self.lan.dir.path(), key("a"), &yaml)
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Asserts that `d` logs `text` within 10 s.
fn assert_warns(d: &Daemon, text: &str) {
    assert!(
        wait_until(Duration::from_secs(10), || d.log().contains(text)),
        "no warning:\n{}",
        d.log()
    );
}

#[test]
fn a_peer_named_by_a_host_name_that_resolves_only_later_is_linked_once_it_does() {
    let s = Setup::new("phn", None);
    let b = &s.b;
    let mut a = s.start_a(true);

    // The name does not resolve: the daemon runs on, says so, and waits.
    assert_warns(&a, "cannot resolve a peer host name");
    assert!(
        a.exited().is_none(),
        "the daemon must not exit:\n{}",
        a.log()
    );
    assert!(
        a.log().contains("peers[0].addresses[0].addr"),
        "{}",
        a.log()
    );
    assert!(!a.has_peer(b.key));

    // It resolves now: linked within the retry backoff (1, 2, 4 ... s).
    s.resolve_to(Some(&Lan::ip_of("b")));
    assert!(
        wait_until(Duration::from_secs(20), || a.has_peer(b.key)
            && b.has_peer(a.key)),
        "not linked after the name resolved:\n{}\n{}",
        a.log(),
        b.log()
    );
    assert!(
        a.log().contains("peer addresses from host names"),
        "{}",
        a.log()
    );
}

/// `fipsctl connect` over the control socket.
fn connect(d: &Daemon, npub: &str, address: &str) -> Response {
    let cmd = Command::Connect {
        npub: npub.into(),
        address: address.into(),
        transport: "udp".into(),
    };
    fips::control::request(&d.socket, &cmd).expect("control socket answers")
}

#[test]
fn connect_by_host_name_answers_at_once_and_links_when_the_name_resolves() {
    let s = Setup::new("phc", None);
    let b = &s.b;
    let a = s.start_a(false);
    assert!(wait_until(Duration::from_secs(10), || a
        .show(Query::Status)
        .is_some()));

    let bad = connect(&a, key("b").npub, "node b:4000");
    assert!(
        matches!(&bad, Response::Error(e) if e.contains("address") && e.contains("host:port")),
        "{bad:?}"
    );
    let t0 = Instant::now();
    let ok = connect(&a, key("b").npub, "node-b.test:4000");
    assert!(
        matches!(&ok, Response::Ok(v) if v["resolving"] == true),
        "{ok:?}"
    );
    assert!(t0.elapsed() < Duration::from_secs(1), "connect blocked");
    // The node keeps answering while the name does not resolve.
    std::thread::sleep(Duration::from_secs(2));
    let t1 = Instant::now();
    assert!(a.show(Query::Status).is_some());
    assert!(t1.elapsed() < Duration::from_secs(1), "the node stalled");
    assert!(!a.has_peer(b.key));

    s.resolve_to(Some(&Lan::ip_of("b")));
    assert!(
        wait_until(Duration::from_secs(20), || a.has_peer(b.key)),
        "not linked after the name resolved:\n{}",
        a.log()
    );
}

#[test]
fn a_peer_that_comes_back_at_a_new_address_is_found_there_within_seconds() {
    let mut s = Setup::new("phm", Some(&Lan::ip_of("b")));
    let a = s.start_a(true);
    let b = &mut s.b;
    assert!(
        wait_until(Duration::from_secs(20), || a.has_peer(b.key)),
        "{}",
        a.log()
    );

    // b's process dies and comes back at another address; its name follows.
    b.kill();
    let (old, new) = (format!("{}/24", Lan::ip_of("b")), "10.77.0.99/24");
    s.lan.ns("b").ip(&["addr", "del", &old, "dev", "eth0"]);
    s.lan.ns("b").ip(&["addr", "add", new, "dev", "eth0"]);
    s.resolve_to(Some("10.77.0.99"));
    s.b.start();
    let t0 = Instant::now();
    let at_new_address = || {
        a.show(Query::Links).is_some_and(|v| {
            v["links"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|l| l["state"] == "connected" && l["remote_addr"] == "10.77.0.99:4000")
        })
    };
    // Silent after 3 s, looked up at once, redialled there: well before the
    // 30 s after which a dead link would be dropped.
    assert!(
        wait_until(Duration::from_secs(15), at_new_address),
        "not relinked at the new address within 15 s:\n{}",
        a.log()
    );
    eprintln!("relinked at the new address after {:?}", t0.elapsed());
    assert!(a.log().contains("Moved"), "{}", a.log());
}

#[test]
fn a_resolver_beyond_the_filtered_interface_is_named_in_a_warning() {
    let lan = Lan::new("phw", &["a", "b"]);
    let resolver = Lan::ip_of("b");
    let env = [
        ("FIPS_NSEC", key("a").nsec),
        ("FIPS_PEER_NPUB", key("b").npub),
        ("FIPS_PEER_ADDR", "node-b.test:4000"),
        ("FIPS_PEER_RESOLVER", resolver.as_str()),
        ("FIPS_ENFORCE", "1"),
    ];
    let mut a = Daemon::with_env(lan.ns("a"), lan.dir.path(), key("a"), &env);
    assert_warns(&a, "the filter closes");
    assert!(a.log().contains(&resolver), "{}", a.log());
    assert!(a.exited().is_none(), "a warning, not an exit:\n{}", a.log());
}
