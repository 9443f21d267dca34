//! TUN offload: the device is opened with `IFF_VNET_HDR` and
//! `TUNSETOFFLOAD` by tun-rs, which also does the work: a read's TSO/USO
//! super-packet is split into packets with their own lengths, sequence
//! numbers and checksums (`Tun::recv_packets`), and runs of one flow are
//! joined into super-packets on write (`Tun::send_packets`). Nothing of
//! that is written here any more; the tests below hold the library to
//! what the daemon relies on, on crafted packets.

#[cfg(test)]
mod gro_tests;
#[cfg(test)]
mod split_tests;
#[cfg(test)]
mod tests;

pub use tun_rs::VIRTIO_NET_HDR_LEN as VNET_HDR_LEN;

/// What the crafted-packet tests call: tun-rs's own functions, as its
/// device methods use them.
#[cfg(test)]
pub(crate) mod lib_calls {
    use std::io;

    pub use tun_rs::VirtioNetHdr as VnetHdr;

    use crate::tun::device::GroBuf;
    use tun_rs::{gso_split, GROTable, IDEAL_BATCH_SIZE, VIRTIO_NET_HDR_LEN as VNET_HDR_LEN};

    /// The Internet checksum, for building and checking test packets.
    pub mod checksum {
        pub fn add(mut acc: u64, data: &[u8]) -> u64 {
            for c in data.chunks(2) {
                acc += u64::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
            }
            acc
        }

        pub fn fold(mut acc: u64) -> u16 {
            while acc >> 16 != 0 {
                acc = (acc & 0xffff) + (acc >> 16);
            }
            acc as u16
        }

        /// The TCP pseudo-header sum of the IPv6 packet at `p`.
        pub fn pseudo_header(p: &[u8], l4_len: usize) -> u64 {
            add(0, &p[8..40]) + l4_len as u64 + 6
        }
    }

    pub const F_NEEDS_CSUM: u8 = 1;
    pub const GSO_NONE: u8 = 0;
    pub const GSO_TCPV6: u8 = tun_rs::VIRTIO_NET_HDR_GSO_TCPV6;
    pub const GSO_ECN: u8 = 0x80;

    /// The header at the front of `b`; `None` when `b` is shorter.
    pub fn parse(b: &[u8]) -> Option<VnetHdr> {
        VnetHdr::decode(b.get(..VNET_HDR_LEN)?).ok()
    }

    pub fn to_bytes(h: &VnetHdr) -> [u8; VNET_HDR_LEN] {
        let mut b = [0; VNET_HDR_LEN];
        h.encode(&mut b).expect("10 bytes");
        b
    }

    /// One read (header + data) cut into packets, as `recv_multiple` does
    /// for a GSO read. A GSO_NONE read goes through tun-rs's private
    /// `handle_virtio_read`, which only a device reaches (the real-TUN
    /// tests cover it: the kernel's SYN arrives with its checksum done).
    pub fn split(read: &mut [u8]) -> io::Result<Vec<Vec<u8>>> {
        let hdr = parse(read).ok_or_else(|| io::Error::other("shorter than its header"))?;
        let packet = &mut read[VNET_HDR_LEN..];
        let is_v6 = packet.first().is_some_and(|b| b >> 4 == 6);
        let mut bufs = vec![vec![0u8; 65_535]; IDEAL_BATCH_SIZE];
        let mut sizes = vec![0; IDEAL_BATCH_SIZE];
        let n = gso_split(packet, hdr, &mut bufs, &mut sizes, 0, is_v6)?;
        Ok(bufs
            .iter()
            .zip(&sizes)
            .take(n)
            .map(|(b, &len)| b[..len].to_vec())
            .collect())
    }

    /// Packets joined as `send_multiple` joins them: the frames it would
    /// write (header + packet), in order. A run is joined into its first
    /// buffer; the later ones, which it then skips, are those the
    /// super-packet splits back into.
    pub fn join(packets: &[Vec<u8>]) -> io::Result<Vec<Vec<u8>>> {
        let mut bufs: Vec<GroBuf> = packets
            .iter()
            .map(|p| GroBuf([&[0u8; VNET_HDR_LEN][..], p].concat()))
            .collect();
        GROTable::new().apply_gro(&mut bufs, VNET_HDR_LEN, false)?;
        let bufs: Vec<Vec<u8>> = bufs.into_iter().map(|b| b.0).collect();
        let mut folded = Vec::new();
        for b in bufs.iter().filter(|b| b[1] != GSO_NONE) {
            folded.extend(split(&mut b.clone())?.into_iter().skip(1));
        }
        Ok(bufs
            .into_iter()
            .filter(|b| b[1] != GSO_NONE || !folded.iter().any(|f| f[..] == b[VNET_HDR_LEN..]))
            .collect())
    }
}
