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

/// The verdict for a TCP segment whose header starts at `l4`. Ingress
/// (TC and XDP): to the metrics port. Egress: from the metrics port and
/// either sent by a socket whose cookie the daemon registered, or a SYN-ACK
/// of a connection still in the listener's queue (the kernel's reply from a
/// request socket, before any `accept` could register a cookie) carrying the
/// daemon's listener mark. An app's listener on the same port (another
/// address, or bound before the daemon) has neither.
#[inline(always)]
pub(crate) fn tcp<F: Frame>(ctx: &F, dir: Direction, policy: &Policy, l4: usize) -> Reason {
    if policy.metrics_port == 0 {
        return Reason::NotUdp;
    }
    // Ports and flags; without IP options the header sits at a constant
    // offset, readable straight from the linear data.
    let h = if l4 == ETH_HLEN + 20 || l4 == ETH_HLEN + 40 {
        load::<[u8; 14]>(ctx, l4)
    } else {
        ctx.load_slow::<[u8; 14]>(l4)
    };
    let Ok(h) = h else {
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
