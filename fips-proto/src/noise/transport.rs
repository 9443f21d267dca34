//! Transport keys after a completed handshake: ChaCha20-Poly1305 with the
//! frame counter as nonce. ring's keys cannot be zeroized, so the raw key
//! bytes are dropped (wiped) as soon as ring has expanded them, and no
//! type here prints key material.

use core::fmt;

use ring::aead::{Aad, LessSafeKey};
use zeroize::Zeroizing;

use super::symmetric::{aead_key, nonce};
use super::{NoiseError, TAG_LEN};

/// Both directions of one established Noise session.
#[derive(Debug)]
pub struct Transport {
    pub send: SendKey,
    pub recv: RecvKey,
}

impl Transport {
    /// The initiator sends with k1, the responder with k2.
    pub(super) fn from_split(
        initiator: bool,
        k1: Zeroizing<[u8; 32]>,
        k2: Zeroizing<[u8; 32]>,
    ) -> Transport {
        let (send, recv) = if initiator { (k1, k2) } else { (k2, k1) };
        Transport {
            send: SendKey::from_bytes(&send),
            recv: RecvKey::from_bytes(&recv),
        }
    }
}

pub struct SendKey(LessSafeKey);

impl SendKey {
    /// For keys recorded elsewhere (test captures); normal keys come from a handshake.
    pub fn from_bytes(k: &[u8; 32]) -> SendKey {
        SendKey(aead_key(k))
    }

    /// Encrypts `in_out` in place and appends the 16-byte tag.
    pub fn seal(&self, counter: u64, ad: &[u8], in_out: &mut Vec<u8>) {
        self.0
            .seal_in_place_append_tag(nonce(counter), Aad::from(ad), in_out)
            .expect("frames are far below the ChaCha20 length limit");
    }

    /// Encrypts `in_out` in place and returns the tag, which the caller
    /// places after the ciphertext: lets a frame be built once in a reused
    /// buffer, header, body and tag, with no second allocation or copy.
    pub fn seal_in_place_detached(
        &self,
        counter: u64,
        ad: &[u8],
        in_out: &mut [u8],
    ) -> [u8; TAG_LEN] {
        let tag = self
            .0
            .seal_in_place_separate_tag(nonce(counter), Aad::from(ad), in_out)
            .expect("frames are far below the ChaCha20 length limit");
        let mut out = [0u8; TAG_LEN];
        out.copy_from_slice(tag.as_ref());
        out
    }
}

pub struct RecvKey(LessSafeKey);

impl RecvKey {
    /// For keys recorded elsewhere (test captures); normal keys come from a handshake.
    pub fn from_bytes(k: &[u8; 32]) -> RecvKey {
        RecvKey(aead_key(k))
    }

    /// Authenticates and decrypts ciphertext+tag in place; returns the plaintext.
    /// Check the replay window before and update it only after success.
    pub fn open<'a>(
        &self,
        counter: u64,
        ad: &[u8],
        in_out: &'a mut [u8],
    ) -> Result<&'a mut [u8], NoiseError> {
        self.0
            .open_in_place(nonce(counter), Aad::from(ad), in_out)
            .map_err(|_| NoiseError::DecryptFailed {
                what: "transport frame",
            })
    }
}

impl fmt::Debug for SendKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendKey(..)")
    }
}

impl fmt::Debug for RecvKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecvKey(..)")
    }
}
