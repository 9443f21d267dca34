//! Sanity checks on IPv6 packets read from or written to the TUN device.
//! Only the fixed 40-byte header is interpreted; extension headers pass
//! through untouched (the shim carries them as upper-layer payload).

use super::Ipv6Error;

pub const HEADER_LEN: usize = 40;
pub const OFF_PAYLOAD_LEN: usize = 4;
pub const OFF_NEXT_HEADER: usize = 6;
pub const OFF_SRC: usize = 8;
pub const OFF_DST: usize = 24;
pub const NEXT_HEADER_TCP: u8 = 6;
pub const NEXT_HEADER_ICMPV6: u8 = 58;
/// First byte of every FIPS address (fd00::/8).
pub const FIPS_PREFIX: u8 = 0xfd;

/// A checked view of an IPv6 packet: the header is present, the version is 6
/// and the payload length matches the bytes we were given.
#[derive(Clone, Copy, Debug)]
pub struct Ipv6Packet<'a> {
    bytes: &'a [u8],
}

impl<'a> Ipv6Packet<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Ipv6Error> {
        if bytes.len() < HEADER_LEN {
            return Err(Ipv6Error::Truncated { len: bytes.len() });
        }
        if bytes[0] >> 4 != 6 {
            return Err(Ipv6Error::NotIpv6 {
                version: bytes[0] >> 4,
            });
        }
        let declared = usize::from(u16::from_be_bytes([bytes[4], bytes[5]]));
        if HEADER_LEN + declared != bytes.len() {
            return Err(Ipv6Error::LengthMismatch {
                declared,
                actual: bytes.len() - HEADER_LEN,
            });
        }
        Ok(Ipv6Packet { bytes })
    }

    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    pub fn src(&self) -> [u8; 16] {
        addr_at(self.bytes, OFF_SRC)
    }

    pub fn dst(&self) -> [u8; 16] {
        addr_at(self.bytes, OFF_DST)
    }

    pub fn next_header(&self) -> u8 {
        self.bytes[OFF_NEXT_HEADER]
    }

    pub fn payload(&self) -> &'a [u8] {
        &self.bytes[HEADER_LEN..]
    }

    /// The 15 bytes after the fd prefix of the destination: the key of the
    /// identity cache.
    pub fn dst_prefix(&self) -> [u8; 15] {
        let mut p = [0u8; 15];
        p.copy_from_slice(&self.bytes[OFF_DST + 1..OFF_DST + 16]);
        p
    }

    pub fn dst_is_fips(&self) -> bool {
        self.bytes[OFF_DST] == FIPS_PREFIX
    }
}

fn addr_at(b: &[u8], off: usize) -> [u8; 16] {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[off..off + 16]);
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(payload_len: u16, extra: usize) -> Vec<u8> {
        let mut p = vec![0u8; HEADER_LEN + usize::from(payload_len) + extra];
        p[0] = 0x60;
        p[4..6].copy_from_slice(&payload_len.to_be_bytes());
        p[24] = 0xfd;
        p[25] = 0xab;
        p
    }

    #[test]
    fn accepts_a_well_formed_packet_and_reads_its_destination_prefix() {
        let p = packet(8, 0);
        let v = Ipv6Packet::parse(&p).expect("valid");
        assert!(v.dst_is_fips());
        assert_eq!(v.dst_prefix()[0], 0xab);
        assert_eq!(v.payload().len(), 8);
    }

    #[test]
    fn rejects_short_wrong_version_and_length_mismatch() {
        assert!(matches!(
            Ipv6Packet::parse(&[0x60; 39]),
            Err(Ipv6Error::Truncated { len: 39 })
        ));
        let mut v4 = packet(0, 0);
        v4[0] = 0x45;
        assert!(matches!(
            Ipv6Packet::parse(&v4),
            Err(Ipv6Error::NotIpv6 { version: 4 })
        ));
        assert!(matches!(
            Ipv6Packet::parse(&packet(8, 1)),
            Err(Ipv6Error::LengthMismatch {
                declared: 8,
                actual: 9
            })
        ));
    }
}
