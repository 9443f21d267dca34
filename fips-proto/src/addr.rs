//! `NodeAddr`: the 16-byte routing identity of a node (first 16 bytes of
//! SHA-256 of its x-only public key). Shared by every layer of the core.

use core::fmt;
use std::net::Ipv6Addr;

/// First 16 bytes of SHA-256(x-only public key). Ordered numerically
/// (big-endian byte order), which is what root election compares.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct NodeAddr(pub [u8; 16]);

impl NodeAddr {
    pub const LEN: usize = 16;

    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(NodeAddr)
    }

    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// The node's fd00::/8 address: 0xfd followed by the first 15 bytes.
    pub fn ipv6(&self) -> Ipv6Addr {
        let mut b = [0u8; 16];
        b[0] = 0xfd;
        b[1..].copy_from_slice(&self.0[..15]);
        Ipv6Addr::from(b)
    }

    /// Whether an fd00::/8 address belongs to this node (compares 15 bytes).
    pub fn matches_ipv6(&self, addr: &Ipv6Addr) -> bool {
        let o = addr.octets();
        o[0] == 0xfd && o[1..] == self.0[..15]
    }

    /// Lowercase hex of all 16 bytes.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// First 4 bytes as hex, the short form used in logs.
    pub fn short(&self) -> String {
        self.0[..4].iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Display for NodeAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for NodeAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeAddr({})", self.short())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_is_fd_followed_by_fifteen_bytes() {
        let a = NodeAddr([
            0x69, 0xe0, 0x8d, 0x65, 0xcc, 0x3a, 0x6b, 0x9c, 0x2c, 0x2a, 0xc4, 0xbd, 0x40, 0x5e,
            0x4b, 0x0e,
        ]);
        assert_eq!(
            a.ipv6(),
            "fd69:e08d:65cc:3a6b:9c2c:2ac4:bd40:5e4b"
                .parse::<Ipv6Addr>()
                .unwrap()
        );
        assert!(a.matches_ipv6(&a.ipv6()));
        assert_eq!(a.short(), "69e08d65");
    }

    #[test]
    fn ordering_is_numeric_big_endian() {
        let mut lo = [0u8; 16];
        let mut hi = [0u8; 16];
        lo[15] = 0xff;
        hi[0] = 1;
        assert!(NodeAddr(lo) < NodeAddr(hi));
    }
}
