//! Hostile and broken input against a live server on loopback: every case
//! gets FORMERR/NOTIMP/BADVERS or is dropped, and the server keeps answering.

mod dns_support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use dns_support::*;
use fips::dns::DnsConfig;

const FORMERR: u8 = 1;
const NOTIMP: u8 = 4;
const NOERROR: u8 = 0;

fn server_with(cfg: DnsConfig) -> (ServerThread, TempHosts) {
    let hosts = TempHosts::new("");
    let cfg = DnsConfig {
        bind: "127.0.0.1:0".parse().expect("literal"),
        hosts_file: hosts.path.clone(),
        ..cfg
    };
    (start_server(cfg, None), hosts)
}

fn server() -> (ServerThread, TempHosts) {
    server_with(DnsConfig::default())
}

fn header(flags: u16, counts: [u16; 4]) -> Vec<u8> {
    let mut h = vec![0x12, 0x34];
    h.extend_from_slice(&flags.to_be_bytes());
    for c in counts {
        h.extend_from_slice(&c.to_be_bytes());
    }
    h
}

fn question(name: &str, qtype: u16, qclass: u16) -> Vec<u8> {
    let mut q = Vec::new();
    for label in name.split('.').filter(|l| !l.is_empty()) {
        q.push(u8::try_from(label.len()).expect("short label"));
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&qclass.to_be_bytes());
    q
}

/// An OPT pseudo-record: root name, type 41, payload size, no options.
fn opt() -> Vec<u8> {
    vec![0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]
}

fn valid_query() -> Vec<u8> {
    let mut m = header(0x0100, [1, 0, 0, 0]);
    m.extend(question(&format!("{NPUB_A}.fips"), 28, 1));
    m
}

fn send_udp(addr: SocketAddr, msg: &[u8]) -> Option<Vec<u8>> {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.set_read_timeout(Some(Duration::from_millis(400)))
        .expect("timeout");
    sock.send_to(msg, addr).expect("send");
    let mut buf = [0u8; 4096];
    sock.recv(&mut buf).ok().map(|n| buf[..n].to_vec())
}

fn rcode(addr: SocketAddr, msg: &[u8]) -> Option<u8> {
    send_udp(addr, msg).map(|r| r[3] & 0x0f)
}

/// A valid query is answered, within five tries (after a flood the answer
/// may queue behind what is still being dropped).
fn still_answers(addr: SocketAddr) {
    let answered = (0..5).any(|_| rcode(addr, &valid_query()) == Some(NOERROR));
    assert!(answered, "server stopped answering");
}

#[test]
fn messages_too_short_for_a_header_and_responses_are_dropped() {
    let (srv, _h) = server();
    for len in [0, 1, 5, 11] {
        assert_eq!(
            send_udp(srv.addr, &valid_query()[..len]),
            None,
            "{len} bytes"
        );
    }
    let mut response = valid_query();
    response[2] |= 0x80; // QR: a response, never answered (no reflection loops)
    assert_eq!(send_udp(srv.addr, &response), None);
    still_answers(srv.addr);
}

#[test]
fn wrong_question_counts_and_truncated_sections_are_formerr() {
    let (srv, _h) = server();
    let q = question(&format!("{NPUB_A}.fips"), 28, 1);
    let cases = [
        ("no question", header(0x0100, [0, 0, 0, 0])),
        ("count 1, no bytes", header(0x0100, [1, 0, 0, 0])),
        (
            "two questions",
            [header(0x0100, [2, 0, 0, 0]), q.clone(), q.clone()].concat(),
        ),
        (
            "count 65535",
            [header(0x0100, [65535, 0, 0, 0]), q.clone()].concat(),
        ),
        (
            "truncated question",
            [header(0x0100, [1, 0, 0, 0]), q[..q.len() - 3].to_vec()].concat(),
        ),
        (
            "missing answer",
            [header(0x0100, [1, 1, 0, 0]), q.clone()].concat(),
        ),
        (
            "two OPT records",
            [header(0x0100, [1, 0, 0, 2]), q.clone(), opt(), opt()].concat(),
        ),
        (
            "OPT cut short",
            [header(0x0100, [1, 0, 0, 1]), q.clone(), opt()[..7].to_vec()].concat(),
        ),
    ];
    for (what, msg) in cases {
        assert_eq!(rcode(srv.addr, &msg), Some(FORMERR), "{what}");
    }
    still_answers(srv.addr);
}

#[test]
fn name_compression_loops_and_overlong_names_do_not_hang_or_crash() {
    let (srv, _h) = server();
    // A pointer to itself at offset 12, and a 300-byte name of 63-byte labels.
    let looped = [header(0x0100, [1, 0, 0, 0]), vec![0xc0, 12, 0, 28, 0, 1]].concat();
    let long_name = vec!["a".repeat(63); 5].join(".");
    let long = [header(0x0100, [1, 0, 0, 0]), question(&long_name, 28, 1)].concat();
    for msg in [looped, long] {
        let t0 = Instant::now();
        assert_eq!(rcode(srv.addr, &msg), Some(FORMERR));
        assert!(t0.elapsed() < Duration::from_millis(300));
    }
    still_answers(srv.addr);
}

#[test]
fn other_classes_and_opcodes_are_notimp() {
    let (srv, _h) = server();
    let name = format!("{NPUB_A}.fips");
    for class in [3u16, 4, 255] {
        let msg = [header(0x0100, [1, 0, 0, 0]), question(&name, 28, class)].concat();
        assert_eq!(rcode(srv.addr, &msg), Some(NOTIMP), "class {class}");
    }
    for opcode in [1u16, 2, 4, 5, 15] {
        let msg = [header(opcode << 11, [1, 0, 0, 0]), question(&name, 28, 1)].concat();
        let reply = send_udp(srv.addr, &msg);
        assert!(
            matches!(
                reply.as_deref().map(|r| r[3] & 0x0f),
                Some(NOTIMP) | Some(FORMERR)
            ),
            "opcode {opcode}: {reply:?}"
        );
    }
    still_answers(srv.addr);
}

#[test]
fn oversized_datagrams_and_random_garbage_leave_the_server_answering() {
    let (srv, _h) = server();
    let mut big = valid_query();
    big.resize(9000, 0xab);
    let _ = send_udp(srv.addr, &big);
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15; // xorshift: reproducible junk, no rand dependency
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for i in 0..3000 {
        let msg: Vec<u8> = if i % 2 == 0 {
            let len = usize::try_from(next() % 600).unwrap_or(0);
            (0..len).map(|_| next().to_le_bytes()[0]).collect()
        } else {
            // A valid query with a few flipped bits: reaches deeper code.
            let mut m = valid_query();
            for _ in 0..3 {
                let at = usize::try_from(next() % m.len() as u64).unwrap_or(0);
                m[at] ^= 1 << (next() % 8);
            }
            m
        };
        let _ = sock.send_to(&msg, srv.addr);
    }
    std::thread::sleep(Duration::from_millis(200));
    still_answers(srv.addr);
}

#[test]
fn broken_tcp_streams_are_closed_and_tcp_still_answers() {
    let (srv, _h) = server();
    // Claims 65535 bytes, sends 10, hangs up.
    let mut s = TcpStream::connect(srv.addr).expect("connect");
    s.write_all(&[0xff, 0xff, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
        .expect("write");
    drop(s);
    // Garbage with a plausible length.
    let mut s = TcpStream::connect(srv.addr).expect("connect");
    s.write_all(&[0, 4, 0xde, 0xad, 0xbe, 0xef]).expect("write");
    drop(s);
    // Idle connections do not block others.
    let idle: Vec<TcpStream> = (0..50)
        .map(|_| TcpStream::connect(srv.addr).expect("connect"))
        .collect();
    let q = valid_query();
    let mut s = TcpStream::connect(srv.addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let len = u16::try_from(q.len()).expect("short");
    s.write_all(&[len.to_be_bytes().to_vec(), q].concat())
        .expect("write");
    let mut len = [0u8; 2];
    s.read_exact(&mut len).expect("answer length");
    let mut reply = vec![0u8; usize::from(u16::from_be_bytes(len))];
    s.read_exact(&mut reply).expect("answer");
    assert_eq!(reply[3] & 0x0f, NOERROR);
    drop(idle);
    still_answers(srv.addr);
}

#[test]
fn requests_beyond_max_in_flight_are_dropped_not_queued() {
    let (silent, _bg) = start_upstream("127.0.0.1:0".parse().expect("lit"), Upstream::Silent, None);
    let cfg = DnsConfig {
        upstream: Some(silent),
        upstream_timeout: Duration::from_millis(1500),
        max_in_flight: 3,
        ..DnsConfig::default()
    };
    let (srv, _h) = server_with(cfg);
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    for i in 0..3 {
        let msg = [
            header(0x0100, [1, 0, 0, 0]),
            question(&format!("hang{i}.example"), 1, 1),
        ]
        .concat();
        sock.send_to(&msg, srv.addr).expect("send");
    }
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        send_udp(srv.addr, &valid_query()),
        None,
        "all permits held by hung forwards"
    );
    std::thread::sleep(Duration::from_millis(1500));
    still_answers(srv.addr);
}
