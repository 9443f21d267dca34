//! AF_PACKET sockets as an app with CAP_NET_RAW would use them: a reader
//! of every frame on eth0 (ETH_P_ALL), and a sender that bypasses the
//! qdisc layer (PACKET_QDISC_BYPASS) and with it every TC egress hook.

// Shared by several test binaries, each using a part.
#![allow(dead_code)]

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

const ETH_P_ALL: u16 = 0x0003;
const PACKET_OUTGOING: u8 = 4;
const PACKET_QDISC_BYPASS: libc::c_int = 20;

// Included next to sockets.rs, whose libc helpers it shares.
use super::sockets::sys::{check, ifindex, link_addr, sendto};

/// A SOCK_RAW/ETH_P_ALL packet socket bound to one interface, in the
/// calling thread's network namespace.
pub struct PacketSocket {
    fd: OwnedFd,
    ifindex: i32,
}

impl PacketSocket {
    pub fn open(iface: &str) -> PacketSocket {
        let ifindex = ifindex(iface);
        // SAFETY: plain socket syscalls on a descriptor we own.
        unsafe {
            let fd = check(
                libc::socket(
                    libc::AF_PACKET,
                    libc::SOCK_RAW | libc::SOCK_NONBLOCK,
                    i32::from(ETH_P_ALL.to_be()),
                ),
                "packet socket",
            );
            let fd = OwnedFd::from_raw_fd(fd);
            let addr = link_addr(ifindex, ETH_P_ALL.to_be());
            check(
                libc::bind(
                    fd.as_raw_fd(),
                    &addr as *const _ as *const libc::sockaddr,
                    std::mem::size_of_val(&addr) as u32,
                ),
                "bind packet socket",
            );
            PacketSocket { fd, ifindex }
        }
    }

    /// Sets PACKET_QDISC_BYPASS: sends go straight to the driver.
    pub fn bypass_qdisc(&self) {
        let one: libc::c_int = 1;
        // SAFETY: setsockopt with a valid int option.
        check(
            unsafe {
                libc::setsockopt(
                    self.fd.as_raw_fd(),
                    libc::SOL_PACKET,
                    PACKET_QDISC_BYPASS,
                    &one as *const _ as *const libc::c_void,
                    4,
                )
            },
            "PACKET_QDISC_BYPASS",
        );
    }

    /// Sends one whole Ethernet frame; the kernel's result.
    pub fn send(&self, frame: &[u8]) -> std::io::Result<()> {
        sendto(self.fd.as_raw_fd(), frame, &link_addr(self.ifindex, 0)).map(drop)
    }

    /// Every inbound frame (not our own outgoing ones) read within `wait`.
    pub fn inbound(&self, wait: Duration) -> Vec<Vec<u8>> {
        self.frames(wait, |pkttype| pkttype != PACKET_OUTGOING)
    }

    /// Every outbound frame (sent from this host) read within `wait`.
    pub fn outbound(&self, wait: Duration) -> Vec<Vec<u8>> {
        self.frames(wait, |pkttype| pkttype == PACKET_OUTGOING)
    }

    /// Every frame read within `wait`, both directions.
    pub fn all(&self, wait: Duration) -> Vec<Vec<u8>> {
        self.frames(wait, |_| true)
    }

    fn frames(&self, wait: Duration, keep: impl Fn(u8) -> bool) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + wait;
        let mut out = Vec::new();
        let mut buf = vec![0u8; 65536];
        while Instant::now() < deadline {
            // SAFETY: a zeroed sockaddr_ll is valid; buffers outlive the call.
            let (n, pkttype) = unsafe {
                let mut from: libc::sockaddr_ll = std::mem::zeroed();
                let mut len = std::mem::size_of_val(&from) as libc::socklen_t;
                let n = libc::recvfrom(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr() as *mut libc::c_void,
                    buf.len(),
                    0,
                    &mut from as *mut _ as *mut libc::sockaddr,
                    &mut len,
                );
                (n, from.sll_pkttype)
            };
            if n < 0 {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            }
            if keep(pkttype) {
                out.push(buf[..n as usize].to_vec());
            }
        }
        out
    }
}

/// A short description of a frame for assertion messages.
pub fn describe(frame: &[u8]) -> String {
    let ethertype = frame
        .get(12..14)
        .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
    match ethertype {
        0x0800 if frame.len() >= 38 => format!(
            "IPv4 proto {} ports {}->{}",
            frame[23],
            u16::from_be_bytes([frame[34], frame[35]]),
            u16::from_be_bytes([frame[36], frame[37]])
        ),
        0x86dd if frame.len() >= 54 => format!("IPv6 next header {}", frame[20]),
        other => format!("ethertype {other:#06x} ({} bytes)", frame.len()),
    }
}

/// An IPv4 UDP frame whose destination (`to_port`) or source port is `port`.
pub fn is_udp4_port(frame: &[u8], port: u16, to_port: bool) -> bool {
    if frame.len() < 38 || frame[12..14] != [0x08, 0x00] || frame[14] != 0x45 || frame[23] != 17 {
        return false;
    }
    let at = if to_port { 36 } else { 34 };
    u16::from_be_bytes([frame[at], frame[at + 1]]) == port
}

pub fn is_arp(frame: &[u8]) -> bool {
    frame.get(12..14) == Some(&[0x08, 0x06])
}
