//! Stand-in for `fips_proto::identity::PeerIdentity` (same names and
//! signatures as docs/internal-api.md) so the DNS server builds before the
//! identity module lands. Deleted at the merge; nothing else refers to it.

use std::net::Ipv6Addr;

use fips_proto::NodeAddr;
use sha2::{Digest, Sha256};

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct PeerIdentity {
    xonly: [u8; 32],
}

#[derive(Debug, thiserror::Error)]
#[error("expected an npub1... of 32 bytes, got {given}")]
pub struct IdentityError {
    given: String,
}

impl PeerIdentity {
    pub fn from_npub(s: &str) -> Result<PeerIdentity, IdentityError> {
        let bad = || IdentityError {
            given: s.to_owned(),
        };
        let (hrp, data) = bech32::decode(s).map_err(|_| bad())?;
        if hrp.as_str() != "npub" {
            return Err(bad());
        }
        let xonly: [u8; 32] = data.as_slice().try_into().map_err(|_| bad())?;
        Ok(PeerIdentity { xonly })
    }

    pub fn npub(&self) -> String {
        let hrp = bech32::Hrp::parse_unchecked("npub");
        bech32::encode::<bech32::Bech32>(hrp, &self.xonly).unwrap_or_default()
    }

    pub fn node_addr(&self) -> NodeAddr {
        let digest = Sha256::digest(self.xonly);
        let mut b = [0u8; 16];
        b.copy_from_slice(&digest[..16]);
        NodeAddr(b)
    }

    pub fn ipv6(&self) -> Ipv6Addr {
        self.node_addr().ipv6()
    }
}
