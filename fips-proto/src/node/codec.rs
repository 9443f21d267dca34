//! The node's narrow use of `wire`: FMP packet classification, msg1/msg2
//! emission, and established-frame sealing and opening. Keeping it in one
//! place keeps the state machines free of byte offsets.

use crate::noise::{RecvKey, SendKey};
use crate::wire::fmp::{self, EstablishedHeader, FmpPacket, Msg1, Msg2, FLAG_K};
use crate::wire::link::LinkInner;
use crate::wire::{WireError, TAG_LEN};

/// Length of the established-frame header, which is also the AEAD AD.
const HEADER_LEN: usize = EstablishedHeader::LEN;

/// What an inbound datagram is, before any crypto.
pub(crate) enum Packet {
    Msg1(Msg1),
    Msg2(Msg2),
    Frame(EstablishedHeader),
}

pub(crate) fn classify(data: &[u8]) -> Result<Packet, WireError> {
    Ok(match fmp::classify(data)? {
        FmpPacket::Msg1(m) => Packet::Msg1(m),
        FmpPacket::Msg2(m) => Packet::Msg2(m),
        FmpPacket::Established { header, .. } => Packet::Frame(header),
    })
}

pub(crate) fn msg1(sender_idx: u32, noise: [u8; 106]) -> Vec<u8> {
    let m = Msg1 { sender_idx, noise };
    let mut out = Vec::with_capacity(m.encoded_len());
    m.emit(&mut out);
    out
}

pub(crate) fn msg2(sender_idx: u32, receiver_idx: u32, noise: [u8; 57]) -> Vec<u8> {
    let m = Msg2 {
        sender_idx,
        receiver_idx,
        noise,
    };
    let mut out = Vec::with_capacity(m.encoded_len());
    m.emit(&mut out);
    out
}

/// Builds one encrypted link frame in `out` (cleared first): header (the
/// AD), then timestamp and the message `write_msg` appends, sealed in place,
/// then the tag. One buffer, one copy of the message, no allocation when
/// `out` has room. Returns false (and leaves `out` unspecified) when the
/// message is too long for the header's 16-bit length.
pub(crate) fn seal_frame_into(
    key: &SendKey,
    k_bit: bool,
    receiver_idx: u32,
    counter: u64,
    timestamp_ms: u32,
    out: &mut Vec<u8>,
    write_msg: impl FnOnce(&mut Vec<u8>),
) -> bool {
    out.clear();
    out.extend_from_slice(&[0; HEADER_LEN]);
    out.extend_from_slice(&timestamp_ms.to_le_bytes());
    write_msg(out);
    let Ok(payload_len) = u16::try_from(out.len() - HEADER_LEN) else {
        return false;
    };
    let header = EstablishedHeader {
        flags: if k_bit { FLAG_K } else { 0 },
        payload_len,
        receiver_idx,
        counter,
    };
    out[..HEADER_LEN].copy_from_slice(&header.to_bytes());
    let (ad, body) = out.split_at_mut(HEADER_LEN);
    let tag = key.seal_in_place_detached(counter, ad, body);
    out.extend_from_slice(&tag);
    true
}

/// Authenticates and decrypts a frame in place; returns the plaintext inner message bytes.
pub(crate) fn open_frame<'a>(
    key: &RecvKey,
    counter: u64,
    data: &'a mut [u8],
) -> Option<&'a mut [u8]> {
    if data.len() < HEADER_LEN + TAG_LEN {
        return None;
    }
    let (ad, ct) = data.split_at_mut(HEADER_LEN);
    key.open(counter, ad, ct).ok()
}

pub(crate) fn parse_inner(plain: &[u8]) -> Result<LinkInner<'_>, WireError> {
    LinkInner::parse(plain)
}

/// The link inner timestamp (first 4 bytes, LE) of a decrypted frame; 0 when
/// too short (the message parse reports that).
pub(crate) fn inner_timestamp(plain: &[u8]) -> u32 {
    LinkInner::peek_timestamp(plain).unwrap_or(0)
}
