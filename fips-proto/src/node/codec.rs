//! The node's narrow use of `wire`: FMP packet classification, msg1/msg2
//! emission, and established-frame sealing and opening. Keeping it in one
//! place keeps the state machines free of byte offsets.

use crate::noise::{RecvKey, SendKey};
use crate::wire::fmp::{self, EstablishedHeader, FmpPacket, Msg1, Msg2, FLAG_K};
use crate::wire::link::{LinkInner, LinkMessage};
use crate::wire::WireError;

/// Length of the established-frame header, which is also the AEAD AD.
pub(crate) const HEADER_LEN: usize = 16;
/// ChaCha20-Poly1305 tag.
pub(crate) const TAG_LEN: usize = 16;

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

/// Builds one encrypted link frame: header (the AD) + AEAD(ts + message) + tag.
pub(crate) fn seal_frame(
    key: &SendKey,
    k_bit: bool,
    receiver_idx: u32,
    counter: u64,
    timestamp_ms: u32,
    msg: &LinkMessage<'_>,
) -> Vec<u8> {
    let inner = LinkInner {
        timestamp_ms,
        msg: msg.clone(),
    };
    let mut body = Vec::with_capacity(inner.encoded_len() + TAG_LEN);
    inner.emit(&mut body);
    let header = EstablishedHeader {
        flags: if k_bit { FLAG_K } else { 0 },
        payload_len: body.len() as u16,
        receiver_idx,
        counter,
    };
    let mut out = Vec::with_capacity(HEADER_LEN + body.len() + TAG_LEN);
    header.emit(&mut out);
    key.seal(counter, &out[..HEADER_LEN], &mut body);
    out.extend_from_slice(&body);
    out
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
