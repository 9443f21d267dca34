//! The metrics server's TCP through eth0: inbound to its port, outbound
//! only from the daemon's own metrics connections.
//!
//! Owns the `FIPS_METRICS` map (socket cookies of the connections the
//! daemon accepted; it inserts on accept and deletes a few seconds after
//! close) and the TCP verdict. Everything else about TCP stays as before:
//! dropped as `not-udp`. It must not pass anything while the policy has no
//! metrics port (0).

use aya_ebpf::{macros::map, maps::HashMap};
use fips_common::{Direction, Policy, Reason, MAX_METRICS_CONNS, METRICS_MARK};

use crate::{load, Frame, ETH_HLEN};

/// Socket cookie -> unused byte: a set of the daemon's metrics connections.
#[map]
static FIPS_METRICS: HashMap<u64, u8> = HashMap::with_max_entries(MAX_METRICS_CONNS, 0);

const TCP_SYN: u8 = 0x02;
const TCP_RST: u8 = 0x04;
const TCP_ACK: u8 = 0x10;
const TCP_FIN: u8 = 0x01;
/// Offset of the flags byte in the TCP header.
const TCP_FLAGS: usize = 13;

/// Where the TCP header starts. The offset must reach the loads as a
/// constant: without CAP_PERFMON the verifier refuses `data + offset` with
/// a variable offset, even one a branch proved constant (it does not carry
/// that proof over to a register derived from it).
pub(crate) enum At {
    /// After an IPv4 header without options.
    Ipv4,
    /// After the IPv6 header.
    Ipv6,
    /// After an IPv4 header with options: through the load helper.
    Ipv4Options(usize),
}

/// Ports and flags of the TCP header.
#[inline(always)]
fn header<F: Frame>(ctx: &F, at: At) -> Result<[u8; 14], i64> {
    match at {
        At::Ipv4 => load::<[u8; 14]>(ctx, ETH_HLEN + 20),
        At::Ipv6 => load::<[u8; 14]>(ctx, ETH_HLEN + 40),
        At::Ipv4Options(l4) => ctx.load_slow::<[u8; 14]>(l4),
    }
}

/// The verdict for a TCP segment whose header is `at`. Ingress
/// (TC and XDP): to the metrics port. Egress: from the metrics port and
/// either sent by a socket whose cookie the daemon registered, or a SYN-ACK
/// of a connection still in the listener's queue (the kernel's reply from a
/// request socket, before any `accept` could register a cookie) carrying the
/// daemon's listener mark. An app's listener on the same port (another
/// address, or bound before the daemon) has neither.
#[inline(always)]
pub(crate) fn tcp<F: Frame>(ctx: &F, dir: Direction, policy: &Policy, at: At) -> Reason {
    if policy.metrics_port == 0 {
        return Reason::NotUdp;
    }
    let Ok(h) = header(ctx, at) else {
        return Reason::Malformed;
    };
    let port = match dir {
        Direction::Ingress | Direction::Xdp => u16::from_be_bytes([h[2], h[3]]),
        Direction::Egress => u16::from_be_bytes([h[0], h[1]]),
    };
    if port != policy.metrics_port {
        return Reason::NotUdp;
    }
    if dir != Direction::Egress {
        return Reason::Passed;
    }
    let cookie = ctx.socket_cookie();
    // SAFETY: a lookup in a map of plain integers; the value is not kept.
    if cookie != 0 && unsafe { FIPS_METRICS.get(&cookie) }.is_some() {
        return Reason::Passed;
    }
    let flags = h[TCP_FLAGS] & (TCP_SYN | TCP_ACK | TCP_RST | TCP_FIN);
    if flags == TCP_SYN | TCP_ACK && ctx.mark() == METRICS_MARK && ctx.from_request_socket() {
        return Reason::Passed;
    }
    Reason::ForeignSocket
}
