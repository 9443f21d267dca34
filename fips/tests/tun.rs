//! fips0 on a real kernel, inside a throwaway network namespace.

mod support;

use std::net::Ipv6Addr;

use fips::tun::{configure, Tun, TunSetup};
use support::netns::NetNs;

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
        let path = format!("/run/netns/{}", ns.name);
        std::thread::spawn(move || {
            enter(&path);
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
                    let n =
                        tokio::time::timeout(std::time::Duration::from_secs(5), tun.recv(&mut buf))
                            .await
                            .expect("reply within 5 s")
                            .expect("recv");
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

fn enter(path: &str) {
    use std::os::fd::AsRawFd;
    let file = std::fs::File::open(path).expect("netns file");
    // SAFETY: file is an open netns descriptor; affects this thread only.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
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
