//! Chains of real daemons (each node links only to its neighbours): pings
//! over four hops both ways, and a 50 MB TCP stream over three hops that
//! arrives intact.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use fips_testkit::key;
use fips_testkit::net::{bytes_sent_to, secs, sha256_hex, Net};

/// A chain over `names` in order: each node dials the one before it.
fn chain(tag: &str, names: &[&str], port: u16) -> Net {
    chain_with_mtu(tag, names, port, None)
}

fn chain_with_mtu(tag: &str, names: &[&str], port: u16, udp_mtu: Option<u16>) -> Net {
    let mut net = Net::new(tag, names, port);
    net.udp_mtu = udp_mtu;
    net.start(names[0], &[]);
    for pair in names.windows(2) {
        net.start(pair[1], &[pair[0]]);
    }
    let links: Vec<(&str, &str)> = names.windows(2).map(|p| (p[0], p[1])).collect();
    net.wait_links(&links, Duration::from_secs(30));
    net.wait_root("a", Duration::from_secs(20));
    for (x, y) in [("a", "c"), ("b", "d")] {
        if names.contains(&x) && names.contains(&y) {
            assert!(!net.daemon(x).has_peer(key(y)), "{x} and {y} are not peers");
        }
    }
    net
}

/// Bytes each node sent to the next one along `path`.
fn sent_along(net: &Net, path: &[&str]) -> Vec<u64> {
    path.windows(2)
        .map(|p| bytes_sent_to(net.daemon(p[0]), key(p[1])))
        .collect()
}

#[test]
fn five_node_chain_carries_pings_over_four_hops_both_ways() {
    let net = chain("ch", &["a", "b", "c", "d", "e"], 4201);
    for path in [["a", "b", "c", "d", "e"], ["e", "d", "c", "b", "a"]] {
        let (from, to) = (path[0], path[4]);
        // The far end is known to nobody yet: name it through the node's
        // DNS first, as a user would.
        let addr = net.resolve(from, to);
        let before = sent_along(&net, &path);
        let t0 = Instant::now();
        let (got, text) = net.ping_with(from, &addr.to_string(), 3, 10, &["-s", "1000"]);
        eprintln!("{from} -> {to}: {got}/3 in {:.2} s", secs(t0));
        assert_eq!(got, 3, "{from} -> {to}:\n{text}\n{}", net.logs());
        assert!(text.contains("icmp_seq=1 "), "first echo lost:\n{text}");
        // Each of the four hops carried the three 1000-byte requests
        // (tree and bloom chatter is far smaller).
        let grew: Vec<u64> = sent_along(&net, &path)
            .iter()
            .zip(&before)
            .map(|(a, b)| a - b)
            .collect();
        assert!(
            grew.iter().all(|g| *g >= 3000),
            "bytes per hop {path:?}: {grew:?}"
        );
    }
}

const TRANSFER: usize = 50 * 1024 * 1024;

/// Deterministic incompressible bytes (xorshift64*), so a corrupted,
/// reordered or truncated stream cannot hash the same.
fn payload() -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut v = Vec::with_capacity(TRANSFER);
    while v.len() < TRANSFER {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        v.extend_from_slice(&x.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    v.truncate(TRANSFER);
    v
}

#[test]
fn fifty_megabytes_of_tcp_cross_three_hops_with_the_same_sha256() {
    let net = chain("tx", &["a", "b", "c", "d"], 4202);
    let (a_ip, d_ip) = (key("a").ipv6, key("d").ipv6);
    assert_eq!(net.resolve("a", "d"), d_ip);
    let data = payload();
    let want = sha256_hex(|w| w.write_all(&data));

    // Receiver on d's fips0 address: counts and hashes what arrives and
    // notes who sent it.
    let listen = SocketAddr::new(d_ip.into(), 5201);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let receiver = net.ns("d").spawn(move || {
        let l = TcpListener::bind(listen).expect("bind d's fd address");
        ready_tx.send(()).expect("ready");
        let (mut s, peer) = l.accept().expect("accept");
        s.set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        let mut n = 0usize;
        let hash = sha256_hex(|w| {
            let mut buf = vec![0u8; 1 << 16];
            loop {
                let k = s.read(&mut buf)?;
                if k == 0 {
                    return Ok(());
                }
                n += k;
                w.write_all(&buf[..k])?;
            }
        });
        (peer, n, hash)
    });
    ready_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("receiver listening");

    let t0 = Instant::now();
    let sender = net.ns("a").spawn(move || -> std::io::Result<()> {
        let mut s = TcpStream::connect_timeout(&listen, Duration::from_secs(20))?;
        s.set_write_timeout(Some(Duration::from_secs(30)))?;
        s.write_all(&data)?;
        s.shutdown(std::net::Shutdown::Write)
    });
    let sent = sender.join().expect("sender thread");
    let (peer, n, got) = receiver.join().expect("receiver thread");
    let secs = secs(t0);
    eprintln!(
        "50 MB a -> d over three hops: {secs:.1} s, {:.1} Mbit/s",
        TRANSFER as f64 * 8.0 / secs / 1e6
    );
    sent.unwrap_or_else(|e| panic!("sender: {e}\n{}", net.logs()));
    assert_eq!(
        peer.ip(),
        std::net::IpAddr::from(a_ip),
        "source is a's fd address"
    );
    assert_eq!(n, TRANSFER, "bytes received");
    assert_eq!(got, want, "SHA-256 at d");
    // It went the only way there is: through b and c.
    for (x, y) in [("b", "c"), ("c", "d")] {
        let relayed = bytes_sent_to(net.daemon(x), key(y));
        assert!(
            relayed >= TRANSFER as u64,
            "{x} relayed only {relayed} bytes to {y}"
        );
    }
}

#[test]
fn packets_above_the_path_mtu_get_packet_too_big_and_a_wider_link_carries_full_and_fragmented_ones()
{
    // Default UDP link MTU 1280: 77 bytes of FIPS overhead leave 1203 for
    // IPv6. A 1203-byte packet crosses; a 1204-byte one is answered by
    // the sending node with Packet Too Big, mtu 1203 (Linux ignores PTB
    // below 1280, so such sizes cannot pass with this link MTU).
    let narrow = chain("mn", &["a", "b", "c"], 4203);
    let c_ip = narrow.resolve("a", "c").to_string();
    let (got, text) = narrow.ping_with("a", &c_ip, 2, 10, &["-s", "1155"]);
    assert_eq!(got, 2, "1203-byte packets:\n{text}\n{}", narrow.logs());
    let (got, text) = narrow.ping_with("a", &c_ip, 2, 3, &["-s", "1156"]);
    assert_eq!(got, 0, "1204-byte packets passed a 1203-byte path:\n{text}");
    assert!(text.contains("Packet too big: mtu=1203"), "{text}");
    // A 1472-byte UDP link (Ethernet) leaves room for 1280-byte IPv6
    // packets, so the kernel's own fragments of larger ones cross too.
    let wide = chain_with_mtu("mw", &["a", "b", "c"], 4204, Some(1472));
    let c_ip = wide.resolve("a", "c").to_string();
    for size in ["1232", "3000"] {
        let (got, text) = wide.ping_with("a", &c_ip, 2, 10, &["-s", size]);
        assert_eq!(
            got,
            2,
            "-s {size} over a 1472-byte link:\n{text}\n{}",
            wide.logs()
        );
    }
}
