//! Sockets the veth tests probe the filter with, made with libc where std
//! has no knob (SO_REUSEPORT, raw IP, AF_PACKET).

// Shared by several test binaries, each using a part.
#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

#[path = "sys.rs"]
pub mod sys;
use sys::{check, ifindex, link_addr, sendto};

fn sockaddr(ip: Ipv4Addr, port: u16) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(ip).to_be(),
        },
        sin_zero: [0; 8],
    }
}

/// A UDP socket bound with SO_REUSEPORT, so a second one can share the port.
pub fn udp_reuseport(ip: Ipv4Addr, port: u16) -> UdpSocket {
    // SAFETY: plain socket syscalls on a descriptor we own.
    unsafe {
        let fd = check(libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0), "socket");
        let one: libc::c_int = 1;
        check(
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_REUSEPORT,
                &one as *const _ as *const libc::c_void,
                4,
            ),
            "SO_REUSEPORT",
        );
        let addr = sockaddr(ip, port);
        check(
            libc::bind(
                fd,
                &addr as *const _ as *const libc::sockaddr,
                std::mem::size_of_val(&addr) as u32,
            ),
            "bind",
        );
        UdpSocket::from_raw_fd(fd)
    }
}

/// Sends one UDP datagram through a raw IP socket, forging `src_port`.
pub fn raw_udp_send(src_port: u16, dst: Ipv4Addr, dst_port: u16, payload: &[u8]) {
    let mut dgram = Vec::new();
    dgram.extend_from_slice(&src_port.to_be_bytes());
    dgram.extend_from_slice(&dst_port.to_be_bytes());
    dgram.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    dgram.extend_from_slice(&[0, 0]); // no checksum: allowed for UDP over IPv4
    dgram.extend_from_slice(payload);
    // SAFETY: plain socket syscalls on a descriptor we own.
    unsafe {
        let fd = check(
            libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_UDP),
            "raw socket",
        );
        let _owned = OwnedFd::from_raw_fd(fd);
        let sent = sendto(fd, &dgram, &sockaddr(dst, 0));
        assert_eq!(
            sent.as_ref().ok(),
            Some(&dgram.len()),
            "raw sendto: {sent:?}"
        );
    }
}

/// Sends one raw Ethernet frame out of `ifname` (AF_PACKET, through the
/// qdisc layer like any other sender). A TC egress drop shows as ENOBUFS.
pub fn packet_send(ifname: &str, frame: &[u8]) -> std::io::Result<()> {
    let ifindex = ifindex(ifname);
    // SAFETY: a plain socket syscall; the descriptor is owned at once.
    let fd = unsafe {
        let fd = check(
            libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0),
            "packet socket",
        );
        OwnedFd::from_raw_fd(fd)
    };
    let sent = sendto(fd.as_raw_fd(), frame, &link_addr(ifindex, 0))?;
    assert_eq!(sent, frame.len(), "short packet sendto");
    Ok(())
}

/// Whether `sock` receives a datagram carrying `payload` within `wait`.
/// Other datagrams (late copies of an earlier step's sends) are skipped.
pub fn receives(sock: &UdpSocket, payload: &[u8], wait: Duration) -> bool {
    let deadline = std::time::Instant::now() + wait;
    let mut buf = [0u8; 2048];
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return false;
        }
        sock.set_read_timeout(Some(left)).expect("set_read_timeout");
        match sock.recv_from(&mut buf) {
            Ok((n, _)) if &buf[..n] == payload => return true,
            Ok(_) => continue,
            Err(_) => return false,
        }
    }
}

/// Drains whatever is queued on `sock` without waiting.
pub fn drain(sock: &UdpSocket) -> usize {
    sock.set_nonblocking(true).expect("nonblocking");
    let mut buf = [0u8; 2048];
    let mut n = 0;
    while sock.recv_from(&mut buf).is_ok() {
        n += 1;
    }
    sock.set_nonblocking(false).expect("blocking");
    n
}

pub fn v4(ip: Ipv4Addr, port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(ip, port)
}
