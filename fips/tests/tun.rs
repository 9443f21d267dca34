//! fips0 on a real kernel, inside a throwaway network namespace.

use std::net::Ipv6Addr;

use fips::tun::{configure, Tun, TunSetup};
use fips_testkit::netns::enter_thread;
use fips_testkit::transfer::tcp_transfer;
use fips_testkit::NetNs;

const OUR_ADDR: Ipv6Addr = Ipv6Addr::new(0xfd12, 0x3456, 0, 0, 0, 0, 0, 1);
const PEER_ADDR: Ipv6Addr = Ipv6Addr::new(0xfd99, 0, 0, 0, 0, 0, 0, 2);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn kernel_sees_the_configuration_and_packets_flow_both_ways() {
    let ns = NetNs::new("tunio");
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
    let handle = {
        let name = ns.name.clone();
        std::thread::spawn(move || {
            enter_thread(&name);
            let rt = runtime();
            rt.block_on(async move {
                let tun = Tun::create("fips0").expect("create");
                configure(
                    tun.name(),
                    TunSetup {
                        addr: OUR_ADDR,
                        mtu: 1400,
                    },
                )
                .await
                .expect("configure");
                ready_tx.send(()).expect("ready");
                // An echo request from a mesh peer to us: the kernel must
                // answer through fips0.
                tun.send(&echo_request(PEER_ADDR, OUR_ADDR))
                    .await
                    .expect("send");
                // The kernel also sends its own (router solicitations, MLD):
                // skip to the echo reply.
                let mut buf = [0u8; 2048];
                let reply = loop {
                    let r =
                        tokio::time::timeout(std::time::Duration::from_secs(5), tun.recv(&mut buf))
                            .await;
                    let n = r.expect("reply within 5 s").expect("recv");
                    if n > 40 && buf[6] == 58 && buf[40] == 129 {
                        break buf[..n].to_vec();
                    }
                };
                let _ = rx.recv();
                reply
            })
        })
    };
    ready_rx.recv().expect("configured");
    let addr = ns.ip(&["-6", "addr", "show", "dev", "fips0"]);
    assert!(addr.contains("fd12:3456::1/128"), "{addr}");
    let link = ns.ip(&["link", "show", "dev", "fips0"]);
    assert!(link.contains("mtu 1400") && link.contains(",UP"), "{link}");
    let route = ns.ip(&["-6", "route", "show", "fd00::/8"]);
    assert!(route.contains("dev fips0"), "{route}");
    let rule = ns.ip(&["-6", "rule", "show"]);
    assert!(rule.contains("5265") && rule.contains("fd00::/8"), "{rule}");
    tx.send(()).expect("release");
    let reply = handle.join().expect("tun thread");
    assert_eq!(reply[0] >> 4, 6, "IPv6");
    assert_eq!(reply[6], 58, "ICMPv6");
    assert_eq!(reply[40], 129, "echo reply");
    assert_eq!(&reply[8..24], &OUR_ADDR.octets());
    assert_eq!(&reply[24..40], &PEER_ADDR.octets());
}

#[test]
fn rejects_a_name_the_kernel_would_truncate() {
    let rt = runtime();
    rt.block_on(async {
        let err = Tun::create("a-name-that-is-too-long").expect_err("too long");
        assert!(err.to_string().contains("1 to 15 characters"), "{err}");
    });
}

/// An ICMPv6 echo request with a correct checksum.
fn echo_request(src: Ipv6Addr, dst: Ipv6Addr) -> Vec<u8> {
    let body = [128u8, 0, 0, 0, 0x12, 0x34, 0, 1, b'f', b'i', b'p', b's'];
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&(body.len() as u16).to_be_bytes());
    p.extend_from_slice(&[58, 64]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(&body);
    let mut sum: u32 = 0;
    let mut add = |b: &[u8]| {
        for c in b.chunks(2) {
            sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
        }
    };
    add(&src.octets());
    add(&dst.octets());
    add(&(body.len() as u32).to_be_bytes());
    add(&[0, 0, 0, 58]);
    add(&body);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let csum = !(sum as u16);
    p[42..44].copy_from_slice(&csum.to_be_bytes());
    p
}

/// Joined frames of a write, none when it failed.
fn super_packets(w: std::io::Result<fips::tun::Written>) -> usize {
    w.map_or(0, |w| w.super_packets)
}

/// Two namespaces, each with an offloading fips0, bridged by this test in
/// userspace. A TCP transfer between them must arrive intact, and the
/// kernel must have handed over TSO super-packets that we cut.
#[test]
fn tcp_through_offloading_tuns_arrives_intact_after_segmentation() {
    use fips::tun::{ReadBatch, WriteBatch};
    const A: Ipv6Addr = Ipv6Addr::new(0xfd12, 0, 0, 0, 0, 0, 0, 1);
    const B: Ipv6Addr = Ipv6Addr::new(0xfd13, 0, 0, 0, 0, 0, 0, 2);
    let (na, nb) = (NetNs::new("tsoa"), NetNs::new("tsob"));
    let (pa, pb) = (na.name.clone(), nb.name.clone());
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let bridge = std::thread::spawn(move || {
        let rt = runtime();
        rt.block_on(async move {
            enter_thread(&pa);
            let ta = Tun::create_with_offload("fips0").expect("tun a");
            configure(ta.name(), TunSetup { addr: A, mtu: 1280 })
                .await
                .expect("configure a");
            enter_thread(&pb);
            let tb = Tun::create_with_offload("fips0").expect("tun b");
            configure(tb.name(), TunSetup { addr: B, mtu: 1280 })
                .await
                .expect("configure b");
            assert!(ta.has_vnet_hdr() && tb.has_vnet_hdr());
            ready_tx.send(()).expect("ready");
            let (mut ba, mut bb) = (ReadBatch::new(1280), ReadBatch::new(1280));
            let mut out = WriteBatch::new();
            let (mut supers, mut joined) = (0usize, 0usize);
            let mut stop = stop_rx;
            loop {
                let (r, from_a) = tokio::select! {
                    _ = &mut stop => return (supers, joined),
                    r = ta.recv_packets(&mut ba) => (r, true),
                    r = tb.recv_packets(&mut bb) => (r, false),
                };
                let (batch, to) = if from_a { (&ba, &tb) } else { (&bb, &ta) };
                supers += usize::from(batch.was_super_packet());
                // A device error fails the test; a read that cannot be
                // cut (InvalidData) is dropped, as the daemon does.
                match r {
                    Err(e) if e.kind() == std::io::ErrorKind::InvalidData => continue,
                    r => r.expect(if from_a { "read a" } else { "read b" }),
                };
                if !from_a {
                    for p in batch.packets() {
                        let _ = to.send(p).await;
                    }
                    continue;
                }
                // The data direction joins segments again on the way out,
                // as the daemon does.
                for p in batch.packets() {
                    if !out.push(p) {
                        joined += super_packets(to.send_packets(&mut out).await);
                        out.push(p);
                    }
                }
                joined += super_packets(to.send_packets(&mut out).await);
            }
        })
    });
    ready_rx.recv().expect("bridge up");
    let t = tcp_transfer(&na, &nb, "fd13::2", "fd13::2", "bytes(range(256))*40000");
    assert!(t.client.status.success(), "{}", t.client_stderr());
    let _ = stop_tx.send(());
    let (supers, joined) = bridge.join().expect("bridge");
    assert_eq!(t.received, t.expected);
    assert!(supers > 0, "the kernel never used TSO");
    assert!(joined > 0, "no segments were joined for the write");
}
