//! The Noise symmetric state with the reference's deviations: handshake
//! AEAD with empty associated data, and DH = SHA-256 of the x coordinate.
//! `h` is kept for fidelity to the Noise spec although nothing reads it.

use hkdf::Hkdf;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305};
use secp256k1::{ecdh, PublicKey, SecretKey};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::{NoiseError, TAG_LEN};

/// ChaCha20-Poly1305 nonce: 4 zero bytes then the counter little-endian.
pub(super) fn nonce(counter: u64) -> Nonce {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&counter.to_le_bytes());
    Nonce::assume_unique_for_key(n)
}

pub(super) fn aead_key(k: &[u8; 32]) -> LessSafeKey {
    // ring only rejects keys of the wrong length; ours is fixed at 32.
    LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, k).expect("32-byte ChaCha20 key"))
}

/// HKDF-SHA256(salt = ck, ikm, info = "") split into two 32-byte halves.
fn hkdf2(ck: &[u8; 32], ikm: &[u8]) -> (Zeroizing<[u8; 32]>, Zeroizing<[u8; 32]>) {
    let mut okm = Zeroizing::new([0u8; 64]);
    Hkdf::<Sha256>::new(Some(ck), ikm)
        .expand(&[], &mut okm[..])
        .expect("64 bytes is within HKDF-SHA256's output limit");
    let mut a = Zeroizing::new([0u8; 32]);
    let mut b = Zeroizing::new([0u8; 32]);
    a.copy_from_slice(&okm[..32]);
    b.copy_from_slice(&okm[32..]);
    (a, b)
}

/// FIPS ECDH: SHA-256 over the 32-byte x coordinate of `secret · point`.
/// Hashing x only makes the result independent of the point's parity.
pub(super) fn dh(secret: &[u8; 32], point: &PublicKey) -> Result<Zeroizing<[u8; 32]>, NoiseError> {
    let mut sk = SecretKey::from_slice(secret).map_err(|_| NoiseError::InvalidSecret)?;
    let mut xy = Zeroizing::new(ecdh::shared_secret_point(point, &sk));
    sk.non_secure_erase();
    let out = Zeroizing::new(Sha256::digest(&xy[..32]).into());
    xy.zeroize();
    Ok(out)
}

/// Parses a 33-byte compressed point sent by the peer.
pub(super) fn parse_point(b: &[u8], what: &'static str) -> Result<PublicKey, NoiseError> {
    PublicKey::from_slice(b).map_err(|_| NoiseError::InvalidPoint { what })
}

/// The compressed public key of a secret scalar.
pub(super) fn public_of(secret: &[u8; 32]) -> Result<[u8; 33], NoiseError> {
    let mut sk = SecretKey::from_slice(secret).map_err(|_| NoiseError::InvalidSecret)?;
    let pk = PublicKey::from_secret_key(secp256k1::SECP256K1, &sk);
    sk.non_secure_erase();
    Ok(pk.serialize())
}

#[derive(Zeroize, ZeroizeOnDrop)]
pub(super) struct SymmetricState {
    ck: [u8; 32],
    h: [u8; 32],
    k: [u8; 32],
    n: u64,
}

impl SymmetricState {
    /// Protocol names longer than 32 bytes (ours are 36) are hashed.
    pub(super) fn new(protocol_name: &[u8]) -> Self {
        let mut h = [0u8; 32];
        if protocol_name.len() <= 32 {
            h[..protocol_name.len()].copy_from_slice(protocol_name);
        } else {
            h = Sha256::digest(protocol_name).into();
        }
        SymmetricState {
            ck: h,
            h,
            k: [0; 32],
            n: 0,
        }
    }

    pub(super) fn mix_hash(&mut self, data: &[u8]) {
        let mut hasher = Sha256::new();
        hasher.update(self.h);
        hasher.update(data);
        self.h = hasher.finalize().into();
    }

    /// The responder's static key enters `h` with parity forced even: the
    /// initiator may only know it from the npub.
    pub(super) fn mix_premessage(&mut self, xonly: &[u8; 32]) {
        let mut b = [0x02u8; 33];
        b[1..].copy_from_slice(xonly);
        self.mix_hash(&b);
    }

    pub(super) fn mix_key(&mut self, ikm: Zeroizing<[u8; 32]>) {
        let (ck, k) = hkdf2(&self.ck, &ikm[..]);
        self.ck = *ck;
        self.k = *k;
        self.n = 0;
    }

    /// Encrypts into `out` (plaintext length + 16 bytes). Empty AD, not `h`.
    pub(super) fn encrypt_and_hash(&mut self, plaintext: &[u8], out: &mut [u8]) {
        debug_assert_eq!(out.len(), plaintext.len() + TAG_LEN);
        let (body, tag_out) = out.split_at_mut(plaintext.len());
        body.copy_from_slice(plaintext);
        let tag = aead_key(&self.k)
            .seal_in_place_separate_tag(nonce(self.n), Aad::empty(), body)
            .expect("handshake payloads are far below the ChaCha20 length limit");
        tag_out.copy_from_slice(tag.as_ref());
        self.n += 1;
        self.mix_hash(out);
    }

    /// Decrypts `ciphertext` into `out` (ciphertext length - 16 bytes).
    pub(super) fn decrypt_and_hash(
        &mut self,
        ciphertext: &[u8],
        out: &mut [u8],
        what: &'static str,
    ) -> Result<(), NoiseError> {
        let mut buf = Zeroizing::new(ciphertext.to_vec());
        let plain = aead_key(&self.k)
            .open_in_place(nonce(self.n), Aad::empty(), &mut buf)
            .map_err(|_| NoiseError::DecryptFailed { what })?;
        out.copy_from_slice(plain);
        self.n += 1;
        self.mix_hash(ciphertext);
        Ok(())
    }

    /// The two transport keys: (initiator→responder, responder→initiator).
    pub(super) fn split(&self) -> (Zeroizing<[u8; 32]>, Zeroizing<[u8; 32]>) {
        hkdf2(&self.ck, &[])
    }
}
