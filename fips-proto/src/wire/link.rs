//! The decrypted plaintext of an established FMP frame: `timestamp u32`
//! (ms since this link session started) then one link message, dispatched by
//! its first byte. Also the small link messages: SessionDatagram (0x00),
//! Disconnect (0x50) and Heartbeat (0x51).

use super::field::{accessors, Field};
use super::reader::Reader;
use super::WireError;
use crate::addr::NodeAddr;

pub use super::filter::FilterAnnounce;
pub use super::lookup::{LookupRequest, LookupResponse};
pub use super::mmp::{ReceiverReport, SenderReport};
pub use super::tree::{AncestryEntry, TreeAnnounce};

pub const SESSION_DATAGRAM: u8 = 0x00;
pub const SENDER_REPORT: u8 = 0x01;
pub const RECEIVER_REPORT: u8 = 0x02;
pub const TREE_ANNOUNCE: u8 = 0x10;
pub const FILTER_ANNOUNCE: u8 = 0x20;
pub const LOOKUP_REQUEST: u8 = 0x30;
pub const LOOKUP_RESPONSE: u8 = 0x31;
pub const DISCONNECT: u8 = 0x50;
pub const HEARTBEAT: u8 = 0x51;

/// Disconnect reason codes. Unknown codes are kept as sent (`reason: u8`).
pub mod reason {
    pub const SHUTDOWN: u8 = 0x00;
    pub const RESTART: u8 = 0x01;
    pub const PROTOCOL_ERROR: u8 = 0x02;
    pub const TRANSPORT_FAILURE: u8 = 0x03;
    pub const RESOURCE_EXHAUSTION: u8 = 0x04;
    pub const SECURITY_VIOLATION: u8 = 0x05;
    pub const CONFIGURATION_CHANGE: u8 = 0x06;
    pub const TIMEOUT: u8 = 0x07;
    pub const OTHER: u8 = 0xff;
}

/// Default TTL and path MTU a source puts on a new SessionDatagram.
pub const DEFAULT_TTL: u8 = 64;
pub const DEFAULT_PATH_MTU: u16 = u16::MAX;

mod dg_field {
    use core::ops::Range;
    pub const TTL: Range<usize> = 1..2;
    pub const PATH_MTU: Range<usize> = 2..4;
    pub const SRC: Range<usize> = 4..20;
    pub const DST: Range<usize> = 20..36;
    pub const PAYLOAD: usize = 36;
}

/// A session-layer payload routed hop by hop (link message 0x00). The
/// payload is borrowed so forwarding and delivery do not copy it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionDatagram<'a> {
    pub ttl: u8,
    pub path_mtu: u16,
    pub src: NodeAddr,
    pub dst: NodeAddr,
    pub payload: &'a [u8],
}

impl<'a> SessionDatagram<'a> {
    pub const HEADER_LEN: usize = dg_field::PAYLOAD;

    /// Parses the link message (msg_type byte included); the payload is
    /// everything after the 36-byte header.
    pub fn parse(buf: &'a [u8]) -> Result<SessionDatagram<'a>, WireError> {
        let mut r = Reader::new(buf, "SessionDatagram");
        r.expect_type(SESSION_DATAGRAM)?;
        Ok(SessionDatagram {
            ttl: r.u8()?,
            path_mtu: r.u16()?,
            src: r.addr()?,
            dst: r.addr()?,
            payload: r.rest(),
        })
    }

    pub fn emit(&self, out: &mut Vec<u8>) {
        out.push(SESSION_DATAGRAM);
        out.push(self.ttl);
        out.extend_from_slice(&self.path_mtu.to_le_bytes());
        out.extend_from_slice(self.src.as_bytes());
        out.extend_from_slice(self.dst.as_bytes());
        out.extend_from_slice(self.payload);
    }

    pub fn encoded_len(&self) -> usize {
        Self::HEADER_LEN + self.payload.len()
    }

    /// Rewrites TTL and path MTU of an encoded datagram in place, so a
    /// transit hop can forward without re-encoding the payload.
    pub fn set_forwarding_fields(msg: &mut [u8], ttl: u8, path_mtu: u16) -> Result<(), WireError> {
        let mut view = DatagramView::new_checked(msg)?;
        view.set_ttl(ttl);
        view.set_path_mtu(path_mtu);
        Ok(())
    }

    /// The destination of an encoded datagram without a full parse.
    pub fn peek_dst(msg: &[u8]) -> Option<NodeAddr> {
        DatagramView::new_checked(msg).ok().map(|v| v.dst())
    }

    /// The source of an encoded datagram without a full parse.
    pub fn peek_src(msg: &[u8]) -> Option<NodeAddr> {
        DatagramView::new_checked(msg).ok().map(|v| v.src())
    }
}

/// A checked view over an encoded SessionDatagram (msg_type byte first),
/// read and edited in place: the data path parses the header without
/// copying the payload, and a transit hop lowers TTL and path MTU without
/// re-encoding. `SessionDatagram` is the value; both use `dg_field`.
#[derive(Debug, Clone, Copy)]
pub struct DatagramView<T: AsRef<[u8]>> {
    buf: T,
}

accessors!(DatagramView {
    ttl / set_ttl: u8 = dg_field::TTL,
    path_mtu / set_path_mtu: u16 = dg_field::PATH_MTU,
    src / set_src: NodeAddr = dg_field::SRC,
    dst / set_dst: NodeAddr = dg_field::DST,
});

impl<T: AsRef<[u8]>> DatagramView<T> {
    /// Checks the type byte and that the whole header is present.
    pub fn new_checked(buf: T) -> Result<Self, WireError> {
        let b = buf.as_ref();
        if b.len() < SessionDatagram::HEADER_LEN {
            return Err(WireError::Truncated {
                what: "SessionDatagram",
                need: SessionDatagram::HEADER_LEN,
                got: b.len(),
            });
        }
        if b[0] != SESSION_DATAGRAM {
            return Err(WireError::UnknownType {
                what: "SessionDatagram",
                msg_type: b[0],
            });
        }
        Ok(DatagramView { buf })
    }

    /// The session-layer payload after the header.
    pub fn payload(&self) -> &[u8] {
        &self.buf.as_ref()[dg_field::PAYLOAD..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> DatagramView<T> {
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buf.as_mut()[dg_field::PAYLOAD..]
    }
}

/// One link message, borrowed from the decrypted plaintext where it carries
/// a payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkMessage<'a> {
    SessionDatagram(SessionDatagram<'a>),
    SenderReport(SenderReport),
    ReceiverReport(ReceiverReport),
    TreeAnnounce(TreeAnnounce),
    FilterAnnounce(FilterAnnounce),
    LookupRequest(LookupRequest),
    LookupResponse(LookupResponse),
    Disconnect { reason: u8 },
    Heartbeat,
}

impl<'a> LinkMessage<'a> {
    /// Parses one link message (msg_type byte first).
    pub fn parse(buf: &'a [u8]) -> Result<LinkMessage<'a>, WireError> {
        let msg_type = *buf.first().ok_or(WireError::Truncated {
            what: "link message",
            need: 1,
            got: 0,
        })?;
        Ok(match msg_type {
            SESSION_DATAGRAM => LinkMessage::SessionDatagram(SessionDatagram::parse(buf)?),
            SENDER_REPORT => LinkMessage::SenderReport(SenderReport::parse(buf)?),
            RECEIVER_REPORT => LinkMessage::ReceiverReport(ReceiverReport::parse(buf)?),
            TREE_ANNOUNCE => LinkMessage::TreeAnnounce(TreeAnnounce::parse(buf)?),
            FILTER_ANNOUNCE => LinkMessage::FilterAnnounce(FilterAnnounce::parse(buf)?),
            LOOKUP_REQUEST => LinkMessage::LookupRequest(LookupRequest::parse(buf)?),
            LOOKUP_RESPONSE => LinkMessage::LookupResponse(LookupResponse::parse(buf)?),
            DISCONNECT => {
                let mut r = Reader::new(buf, "Disconnect");
                r.u8()?;
                LinkMessage::Disconnect { reason: r.u8()? }
            }
            HEARTBEAT => LinkMessage::Heartbeat,
            msg_type => {
                return Err(WireError::UnknownType {
                    what: "link message",
                    msg_type,
                })
            }
        })
    }

    pub fn msg_type(&self) -> u8 {
        match self {
            LinkMessage::SessionDatagram(_) => SESSION_DATAGRAM,
            LinkMessage::SenderReport(_) => SENDER_REPORT,
            LinkMessage::ReceiverReport(_) => RECEIVER_REPORT,
            LinkMessage::TreeAnnounce(_) => TREE_ANNOUNCE,
            LinkMessage::FilterAnnounce(_) => FILTER_ANNOUNCE,
            LinkMessage::LookupRequest(_) => LOOKUP_REQUEST,
            LinkMessage::LookupResponse(_) => LOOKUP_RESPONSE,
            LinkMessage::Disconnect { .. } => DISCONNECT,
            LinkMessage::Heartbeat => HEARTBEAT,
        }
    }

    pub fn emit(&self, out: &mut Vec<u8>) {
        match self {
            LinkMessage::SessionDatagram(m) => m.emit(out),
            LinkMessage::SenderReport(m) => m.emit(out),
            LinkMessage::ReceiverReport(m) => m.emit(out),
            LinkMessage::TreeAnnounce(m) => m.emit(out),
            LinkMessage::FilterAnnounce(m) => m.emit(out),
            LinkMessage::LookupRequest(m) => m.emit(out),
            LinkMessage::LookupResponse(m) => m.emit(out),
            LinkMessage::Disconnect { reason } => out.extend_from_slice(&[DISCONNECT, *reason]),
            LinkMessage::Heartbeat => out.push(HEARTBEAT),
        }
    }

    pub fn encoded_len(&self) -> usize {
        match self {
            LinkMessage::SessionDatagram(m) => m.encoded_len(),
            LinkMessage::SenderReport(m) => m.encoded_len(),
            LinkMessage::ReceiverReport(m) => m.encoded_len(),
            LinkMessage::TreeAnnounce(m) => m.encoded_len(),
            LinkMessage::FilterAnnounce(m) => m.encoded_len(),
            LinkMessage::LookupRequest(m) => m.encoded_len(),
            LinkMessage::LookupResponse(m) => m.encoded_len(),
            LinkMessage::Disconnect { .. } => 2,
            LinkMessage::Heartbeat => 1,
        }
    }
}

/// The whole decrypted plaintext of an established frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkInner<'a> {
    pub timestamp_ms: u32,
    pub msg: LinkMessage<'a>,
}

impl<'a> LinkInner<'a> {
    /// The timestamp before the message.
    pub const TIMESTAMP_LEN: usize = 4;
    /// Timestamp + msg_type.
    pub const MIN_LEN: usize = Self::TIMESTAMP_LEN + 1;

    pub fn parse(plaintext: &'a [u8]) -> Result<LinkInner<'a>, WireError> {
        let mut r = Reader::new(plaintext, "link plaintext");
        if plaintext.len() < Self::MIN_LEN {
            return Err(WireError::Truncated {
                what: "link plaintext",
                need: Self::MIN_LEN,
                got: plaintext.len(),
            });
        }
        let timestamp_ms = r.u32()?;
        Ok(LinkInner {
            timestamp_ms,
            msg: LinkMessage::parse(r.rest())?,
        })
    }

    pub fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.timestamp_ms.to_le_bytes());
        self.msg.emit(out);
    }

    /// The timestamp of a decrypted plaintext without parsing its message;
    /// `None` when it is too short to hold one.
    pub fn peek_timestamp(plaintext: &[u8]) -> Option<u32> {
        plaintext
            .get(..Self::TIMESTAMP_LEN)
            .map(|b| Field::get(b, 0..Self::TIMESTAMP_LEN))
    }

    /// The type byte of the message in a decrypted plaintext, if present.
    pub fn peek_msg_type(plaintext: &[u8]) -> Option<u8> {
        plaintext.get(Self::TIMESTAMP_LEN).copied()
    }

    /// Also the `payload_len` of the established header that carries it.
    pub fn encoded_len(&self) -> usize {
        Self::TIMESTAMP_LEN + self.msg.encoded_len()
    }
}

#[cfg(test)]
#[path = "link_tests.rs"]
mod tests;
