//! Drop events: the classifier's rate-limited descriptions of dropped
//! packets (at most `EVENTS_PER_SECOND` per CPU), read from a ring buffer.
//! The daemon logs them; the counters stay the complete record.

use super::error::{bpf_err, EnforceError};
use aya::maps::{MapData, RingBuf};
use fips_common::{Direction, Reason};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, RawFd};

/// A dropped packet as the classifier saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropEvent {
    pub direction: Direction,
    pub reason: Reason,
    pub ethertype: u16,
    /// IP protocol / next header; 0 when not IP.
    pub protocol: u8,
    pub src: Option<IpAddr>,
    pub dst: Option<IpAddr>,
    /// TCP/UDP ports; 0 otherwise.
    pub src_port: u16,
    pub dst_port: u16,
    pub len: u32,
}

impl DropEvent {
    fn from_raw(raw: &fips_common::DropEvent) -> Option<DropEvent> {
        let direction = Direction::from_index(raw.direction)?;
        let reason = Reason::from_index(u32::from(raw.reason))?;
        let (src, dst) = match raw.ip_version {
            4 => (Some(v4(&raw.src)), Some(v4(&raw.dst))),
            6 => (Some(v6(&raw.src)), Some(v6(&raw.dst))),
            _ => (None, None),
        };
        Some(DropEvent {
            direction,
            reason,
            ethertype: raw.ethertype,
            protocol: raw.protocol,
            src,
            dst,
            src_port: raw.src_port,
            dst_port: raw.dst_port,
            len: raw.len,
        })
    }
}

/// The words hold the packet's bytes in memory order.
fn v4(words: &[u32; 4]) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(words[0].to_ne_bytes()))
}

fn v6(words: &[u32; 4]) -> IpAddr {
    let mut bytes = [0u8; 16];
    for (chunk, word) in bytes.chunks_exact_mut(4).zip(words) {
        chunk.copy_from_slice(&word.to_ne_bytes());
    }
    IpAddr::V6(Ipv6Addr::from(bytes))
}

impl fmt::Display for DropEvent {
    /// `egress not-udp proto 6 10.0.0.1:40000 -> 10.0.0.2:22 (74 bytes)`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.direction.name(), self.reason.name())?;
        match (self.src, self.dst) {
            (Some(src), Some(dst)) => write!(
                f,
                " proto {} {} -> {}",
                self.protocol,
                endpoint(src, self.src_port),
                endpoint(dst, self.dst_port)
            )?,
            _ => write!(f, " ethertype {:#06x}", self.ethertype)?,
        }
        write!(f, " ({} bytes)", self.len)
    }
}

fn endpoint(ip: IpAddr, port: u16) -> String {
    match (ip, port) {
        (ip, 0) => ip.to_string(),
        (IpAddr::V4(ip), port) => format!("{ip}:{port}"),
        (IpAddr::V6(ip), port) => format!("[{ip}]:{port}"),
    }
}

/// The reader side of the ring buffer. Not blocking: register its fd with
/// the runtime (e.g. tokio's `AsyncFd`) and call [`DropEvents::next`]
/// until `None` each time it is readable.
pub struct DropEvents {
    ring: RingBuf<MapData>,
}

impl DropEvents {
    pub(crate) fn new(map: aya::maps::Map) -> Result<DropEvents, EnforceError> {
        let ring = RingBuf::try_from(map).map_err(bpf_err("opening the drop event ring"))?;
        Ok(DropEvents { ring })
    }

    /// The next queued event, if any. Records of an unexpected size (a
    /// classifier from another build) are skipped.
    #[allow(clippy::should_implement_trait)] // not an Iterator: None is "for now"
    pub fn next(&mut self) -> Option<DropEvent> {
        loop {
            let item = self.ring.next()?;
            if item.len() != std::mem::size_of::<fips_common::DropEvent>() {
                continue;
            }
            // SAFETY: the length matches and the type is plain old data;
            // read_unaligned because the ring gives no alignment promise.
            let raw =
                unsafe { std::ptr::read_unaligned(item.as_ptr() as *const fips_common::DropEvent) };
            if let Some(event) = DropEvent::from_raw(&raw) {
                return Some(event);
            }
        }
    }
}

impl AsRawFd for DropEvents {
    fn as_raw_fd(&self) -> RawFd {
        self.ring.as_raw_fd()
    }
}

/// [`DropEvents`] for a tokio runtime: `next().await` waits for the ring
/// to become readable. E.g. in the daemon:
/// `while let Ok(ev) = events.next().await { tracing::info!("dropped {ev}") }`.
pub struct AsyncDropEvents {
    fd: tokio::io::unix::AsyncFd<DropEvents>,
}

impl AsyncDropEvents {
    /// Registers the ring with the current tokio runtime.
    pub fn new(events: DropEvents) -> std::io::Result<AsyncDropEvents> {
        // SAFETY: the fd is the ring buffer map's, owned by `events`, which
        // the AsyncFd owns from here on: it stays open and the same.
        let fd = unsafe {
            tokio::io::unix::AsyncFd::register_with_interest(events, tokio::io::Interest::READABLE)
        }?;
        Ok(AsyncDropEvents { fd })
    }

    pub async fn next(&mut self) -> std::io::Result<DropEvent> {
        loop {
            let mut guard = self.fd.readable_mut().await?;
            if let Some(event) = guard.get_inner_mut().next() {
                return Ok(event);
            }
            // Drained: wait for the kernel's next wakeup.
            guard.clear_ready();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_a_tcp_drop_with_addresses_and_ports() {
        let mut raw = fips_common::DropEvent {
            len: 74,
            direction: Direction::Egress as u8,
            reason: Reason::NotUdp as u8,
            ip_version: 4,
            protocol: 6,
            ethertype: 0x0800,
            src_port: 40000,
            dst_port: 22,
            ..Default::default()
        };
        raw.src[0] = u32::from_ne_bytes([10, 0, 0, 1]);
        raw.dst[0] = u32::from_ne_bytes([10, 0, 0, 2]);
        let event = DropEvent::from_raw(&raw).expect("valid");
        assert_eq!(
            event.to_string(),
            "egress not-udp proto 6 10.0.0.1:40000 -> 10.0.0.2:22 (74 bytes)"
        );
    }

    #[test]
    fn formats_a_non_ip_drop_by_ethertype() {
        let raw = fips_common::DropEvent {
            len: 60,
            reason: Reason::OtherEthertype as u8,
            ethertype: 0x88cc,
            ..Default::default()
        };
        let event = DropEvent::from_raw(&raw).expect("valid");
        assert_eq!(
            event.to_string(),
            "ingress other-ethertype ethertype 0x88cc (60 bytes)"
        );
    }

    #[test]
    fn reads_ipv6_addresses_in_packet_byte_order() {
        let ip: Ipv6Addr = "fe80::1:2".parse().expect("address");
        let o = ip.octets();
        let mut raw = fips_common::DropEvent {
            ip_version: 6,
            ..Default::default()
        };
        for (i, word) in raw.src.iter_mut().enumerate() {
            *word = u32::from_ne_bytes([o[4 * i], o[4 * i + 1], o[4 * i + 2], o[4 * i + 3]]);
        }
        let event = DropEvent::from_raw(&raw).expect("valid");
        assert_eq!(event.src, Some(IpAddr::V6(ip)));
    }

    #[test]
    fn rejects_unknown_reason_or_direction() {
        let raw = fips_common::DropEvent {
            reason: 200,
            ..Default::default()
        };
        assert_eq!(DropEvent::from_raw(&raw), None);
        let raw = fips_common::DropEvent {
            direction: 9,
            ..Default::default()
        };
        assert_eq!(DropEvent::from_raw(&raw), None);
    }
}
