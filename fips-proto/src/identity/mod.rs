//! Node identities: secret keys, npub/nsec, NodeAddr derivation, BIP-340 signatures.
//!
//! A FIPS identity is a Nostr secp256k1 key. Peers are known by the x-only
//! public key (the npub); the compressed form with its real parity is only
//! known once a peer sends it (Noise msg1/msg3). Signatures are BIP-340
//! Schnorr over SHA-256 of the signed bytes, as the reference does.
//! This module owns key parsing and formatting; it knows nothing of Noise.

mod encoding;
mod error;
#[cfg(test)]
mod tests;

use core::fmt;
use core::hash::{Hash, Hasher};
use std::net::Ipv6Addr;

use secp256k1::{
    schnorr, Keypair, Message, Parity, PublicKey, SecretKey, XOnlyPublicKey, SECP256K1,
};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

pub use error::IdentityError;

use crate::NodeAddr;

/// Our own key pair. The secret is wiped on drop and never printed.
pub struct Identity {
    secret: Zeroizing<[u8; 32]>,
    keypair: Keypair,
    public: PeerIdentity,
}

impl Identity {
    /// Parses 64 hex characters or an `nsec1...` bech32 string (surrounding
    /// whitespace is ignored, so key files may end in a newline).
    pub fn from_secret_str(s: &str) -> Result<Identity, IdentityError> {
        let s = s.trim();
        let bytes = if s.get(..5).is_some_and(|p| p.eq_ignore_ascii_case("nsec1")) {
            encoding::decode_bech32_32(s, encoding::NSEC)?
        } else {
            encoding::decode_hex_secret(s)?
        };
        Self::from_secret_bytes(*bytes)
    }

    pub fn from_secret_bytes(b: [u8; 32]) -> Result<Identity, IdentityError> {
        let secret = Zeroizing::new(b);
        let sk = SecretKey::from_slice(&b[..]).map_err(|_| IdentityError::SecretOutOfRange)?;
        let keypair = Keypair::from_secret_key(SECP256K1, &sk);
        let (xonly, parity) = keypair.x_only_public_key();
        let public = PeerIdentity {
            xonly,
            parity: Some(parity),
        };
        Ok(Identity {
            secret,
            keypair,
            public,
        })
    }

    /// Draws a fresh key. Retries the (astronomically rare) out-of-range draws.
    pub fn generate(rng: &mut impl rand_core::CryptoRngCore) -> Identity {
        loop {
            let mut b = Zeroizing::new([0u8; 32]);
            rng.fill_bytes(&mut b[..]);
            if let Ok(id) = Self::from_secret_bytes(*b) {
                return id;
            }
        }
    }

    pub fn public(&self) -> &PeerIdentity {
        &self.public
    }

    pub fn node_addr(&self) -> NodeAddr {
        self.public.node_addr()
    }

    /// The secret as `nsec1...`; only for key generation and the key file.
    pub fn nsec(&self) -> String {
        encoding::encode_bech32(encoding::NSEC, &self.secret[..])
    }

    /// BIP-340 Schnorr signature over SHA-256(data). The reference draws
    /// `aux` at random; with a fixed `aux` the signature is deterministic.
    pub fn sign(&self, data: &[u8], aux: [u8; 32]) -> [u8; 64] {
        let msg = Message::from_digest(Sha256::digest(data).into());
        SECP256K1
            .sign_schnorr_with_aux_rand(&msg, &self.keypair, &aux)
            .serialize()
    }

    /// Raw secret for the Noise handshakes only.
    pub fn secret_bytes(&self) -> &[u8; 32] {
        &self.secret
    }
}

impl Clone for Identity {
    fn clone(&self) -> Self {
        Identity {
            secret: self.secret.clone(),
            keypair: self.keypair,
            public: self.public,
        }
    }
}

impl Drop for Identity {
    fn drop(&mut self) {
        // `secret` zeroizes itself; the keypair holds the same scalar.
        self.keypair.non_secure_erase();
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identity({})", self.public.npub())
    }
}

/// A peer's public key. Equality and hashing use only the x-only key: the
/// same npub is the same node whether or not its parity is known.
#[derive(Clone, Copy)]
pub struct PeerIdentity {
    xonly: XOnlyPublicKey,
    parity: Option<Parity>,
}

impl PeerIdentity {
    pub fn from_npub(s: &str) -> Result<PeerIdentity, IdentityError> {
        let bytes = encoding::decode_bech32_32(s.trim(), encoding::NPUB)?;
        Self::from_xonly(*bytes)
    }

    pub fn from_xonly(b: [u8; 32]) -> Result<PeerIdentity, IdentityError> {
        let xonly = XOnlyPublicKey::from_slice(&b).map_err(|_| IdentityError::NotOnCurve {
            what: "an x-only public key",
        })?;
        Ok(PeerIdentity {
            xonly,
            parity: None,
        })
    }

    pub fn from_compressed(b: &[u8; 33]) -> Result<PeerIdentity, IdentityError> {
        if b[0] != 0x02 && b[0] != 0x03 {
            return Err(IdentityError::CompressedPrefix { got: b[0] });
        }
        let pk = PublicKey::from_slice(b).map_err(|_| IdentityError::NotOnCurve {
            what: "a compressed public key",
        })?;
        let (xonly, parity) = pk.x_only_public_key();
        Ok(PeerIdentity {
            xonly,
            parity: Some(parity),
        })
    }

    pub fn xonly(&self) -> [u8; 32] {
        self.xonly.serialize()
    }

    /// The compressed key with its real parity if known, else assuming even
    /// (what a key learned from an npub gives; FIPS ECDH ignores parity).
    pub fn compressed(&self) -> [u8; 33] {
        let parity = self.parity.unwrap_or(Parity::Even);
        self.xonly.public_key(parity).serialize()
    }

    /// Whether the parity is known (learned from a compressed key).
    pub fn parity_known(&self) -> bool {
        self.parity.is_some()
    }

    /// The point for ECDH. Parity does not matter there (FIPS hashes only x).
    pub(crate) fn public_key(&self) -> PublicKey {
        self.xonly.public_key(self.parity.unwrap_or(Parity::Even))
    }

    pub fn npub(&self) -> String {
        encoding::encode_bech32(encoding::NPUB, &self.xonly())
    }

    pub fn node_addr(&self) -> NodeAddr {
        let digest = Sha256::digest(self.xonly());
        let mut a = [0u8; 16];
        a.copy_from_slice(&digest[..16]);
        NodeAddr(a)
    }

    pub fn ipv6(&self) -> Ipv6Addr {
        self.node_addr().ipv6()
    }

    /// Verifies a BIP-340 signature over SHA-256(data).
    pub fn verify(&self, data: &[u8], sig: &[u8; 64]) -> bool {
        let Ok(sig) = schnorr::Signature::from_slice(sig) else {
            return false;
        };
        let msg = Message::from_digest(Sha256::digest(data).into());
        SECP256K1.verify_schnorr(&sig, &msg, &self.xonly).is_ok()
    }
}

impl PartialEq for PeerIdentity {
    fn eq(&self, other: &Self) -> bool {
        self.xonly == other.xonly
    }
}

impl Eq for PeerIdentity {}

impl Hash for PeerIdentity {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.xonly.serialize().hash(state);
    }
}

impl fmt::Debug for PeerIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeerIdentity({})", self.npub())
    }
}

impl fmt::Display for PeerIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.npub())
    }
}
