//! The decrypted plaintext of an encrypted FSP message: `timestamp u32`
//! (ms since the session started) | `msg_type` | `inner_flags` (bit 0 SP) |
//! body, and the bodies of the session message types 0x10-0x14.

use super::field::{self, view};
use super::mmp::{ReceiverReport, SenderReport};
use super::WireError;

pub const DATA: u8 = 0x10;
pub const SENDER_REPORT: u8 = 0x11;
pub const RECEIVER_REPORT: u8 = 0x12;
pub const PATH_MTU_NOTIFICATION: u8 = 0x13;
pub const COORDS_WARMUP: u8 = 0x14;

/// Spin bit in `inner_flags`.
pub const INNER_FLAG_SP: u8 = 0x01;

/// The service port of the IPv6 shim.
pub const PORT_IPV6_SHIM: u16 = 256;

/// Where the body starts, after the inner header.
const BODY: usize = 6;
/// Where a Data payload starts, after the port header.
const DATA_PAYLOAD: usize = 4;

view! {
    /// A checked view over a decrypted FSP plaintext (inner header, body).
    pub struct FspInnerView {
        timestamp_ms / set_timestamp_ms: u32 = 0..4,
        msg_type / set_msg_type: u8 = 4..5,
        inner_flags / set_inner_flags: u8 = 5..BODY,
    }
}

impl<T: AsRef<[u8]>> FspInnerView<T> {
    pub fn new_checked(buf: T) -> Result<Self, WireError> {
        field::need(buf.as_ref(), BODY, "FSP plaintext")?;
        Ok(FspInnerView { buf })
    }

    pub fn body(&self) -> &[u8] {
        &self.buf.as_ref()[BODY..]
    }
}

view! {
    /// A checked view over a Data body (port header, payload).
    pub struct DataView {
        src_port / set_src_port: u16 = 0..2,
        dst_port / set_dst_port: u16 = 2..DATA_PAYLOAD,
    }
}

impl<T: AsRef<[u8]>> DataView<T> {
    pub fn new_checked(buf: T) -> Result<Self, WireError> {
        field::need(buf.as_ref(), DATA_PAYLOAD, "Data")?;
        Ok(DataView { buf })
    }

    pub fn payload(&self) -> &[u8] {
        &self.buf.as_ref()[DATA_PAYLOAD..]
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FspInner<'a> {
    pub timestamp_ms: u32,
    pub msg_type: u8,
    pub inner_flags: u8,
    pub body: &'a [u8],
}

impl<'a> FspInner<'a> {
    pub const HEADER_LEN: usize = BODY;

    /// Splits the plaintext; the msg_type is not interpreted here.
    pub fn parse(plaintext: &'a [u8]) -> Result<FspInner<'a>, WireError> {
        let v = FspInnerView::new_checked(plaintext)?;
        Ok(FspInner {
            timestamp_ms: v.timestamp_ms(),
            msg_type: v.msg_type(),
            inner_flags: v.inner_flags(),
            body: &plaintext[BODY..],
        })
    }

    pub fn emit(&self, out: &mut Vec<u8>) {
        emit_header(self.timestamp_ms, self.msg_type, self.inner_flags, out);
        out.extend_from_slice(self.body);
    }

    /// Also the `payload_len` of the encrypted header that carries it.
    pub fn encoded_len(&self) -> usize {
        Self::HEADER_LEN + self.body.len()
    }

    /// Decodes the body according to `msg_type`.
    pub fn message(&self) -> Result<SessionMessage<'a>, WireError> {
        SessionMessage::parse_body(self.msg_type, self.body)
    }
}

/// Appends the 6-byte inner header, for callers that write the body
/// directly after it (the data path does, to avoid a copy).
pub fn emit_header(timestamp_ms: u32, msg_type: u8, inner_flags: u8, out: &mut Vec<u8>) {
    let mut v = FspInnerView {
        buf: field::grow(out, BODY),
    };
    v.set_timestamp_ms(timestamp_ms);
    v.set_msg_type(msg_type);
    v.set_inner_flags(inner_flags);
}

/// Port-multiplexed service data (0x10).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Data<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    pub payload: &'a [u8],
}

impl<'a> Data<'a> {
    pub const HEADER_LEN: usize = DATA_PAYLOAD;

    pub fn parse(body: &'a [u8]) -> Result<Data<'a>, WireError> {
        let v = DataView::new_checked(body)?;
        Ok(Data {
            src_port: v.src_port(),
            dst_port: v.dst_port(),
            payload: &body[DATA_PAYLOAD..],
        })
    }

    pub fn emit(&self, out: &mut Vec<u8>) {
        Self::emit_header(self.src_port, self.dst_port, out);
        out.extend_from_slice(self.payload);
    }

    /// Appends just the port header; the caller appends the payload.
    pub fn emit_header(src_port: u16, dst_port: u16, out: &mut Vec<u8>) {
        let mut v = DataView {
            buf: field::grow(out, DATA_PAYLOAD),
        };
        v.set_src_port(src_port);
        v.set_dst_port(dst_port);
    }

    pub fn encoded_len(&self) -> usize {
        Self::HEADER_LEN + self.payload.len()
    }
}

/// A decoded session message body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionMessage<'a> {
    Data(Data<'a>),
    SenderReport(SenderReport),
    ReceiverReport(ReceiverReport),
    /// The forward-path MTU the destination observed.
    PathMtuNotification {
        path_mtu: u16,
    },
    /// Empty body; the coordinates travel in the CP section.
    CoordsWarmup,
}

impl<'a> SessionMessage<'a> {
    /// Trailing bytes after fixed-size bodies are ignored, as the reference
    /// does.
    pub fn parse_body(msg_type: u8, body: &'a [u8]) -> Result<SessionMessage<'a>, WireError> {
        Ok(match msg_type {
            DATA => SessionMessage::Data(Data::parse(body)?),
            SENDER_REPORT => SessionMessage::SenderReport(SenderReport::parse_session(body)?),
            RECEIVER_REPORT => SessionMessage::ReceiverReport(ReceiverReport::parse_session(body)?),
            PATH_MTU_NOTIFICATION => SessionMessage::PathMtuNotification {
                path_mtu: super::reader::Reader::new(body, "PathMtuNotification").u16()?,
            },
            COORDS_WARMUP => SessionMessage::CoordsWarmup,
            msg_type => {
                return Err(WireError::UnknownType {
                    what: "session message",
                    msg_type,
                })
            }
        })
    }

    pub fn msg_type(&self) -> u8 {
        match self {
            SessionMessage::Data(_) => DATA,
            SessionMessage::SenderReport(_) => SENDER_REPORT,
            SessionMessage::ReceiverReport(_) => RECEIVER_REPORT,
            SessionMessage::PathMtuNotification { .. } => PATH_MTU_NOTIFICATION,
            SessionMessage::CoordsWarmup => COORDS_WARMUP,
        }
    }

    /// Appends the body only (no inner header).
    pub fn emit_body(&self, out: &mut Vec<u8>) {
        match self {
            SessionMessage::Data(d) => d.emit(out),
            SessionMessage::SenderReport(m) => m.emit_session(out),
            SessionMessage::ReceiverReport(m) => m.emit_session(out),
            SessionMessage::PathMtuNotification { path_mtu } => {
                out.extend_from_slice(&path_mtu.to_le_bytes())
            }
            SessionMessage::CoordsWarmup => {}
        }
    }

    pub fn body_len(&self) -> usize {
        match self {
            SessionMessage::Data(d) => d.encoded_len(),
            SessionMessage::SenderReport(_) => SenderReport::SESSION_LEN,
            SessionMessage::ReceiverReport(_) => ReceiverReport::SESSION_LEN,
            SessionMessage::PathMtuNotification { .. } => 2,
            SessionMessage::CoordsWarmup => 0,
        }
    }

    /// Appends the whole plaintext: inner header then body.
    pub fn emit_plaintext(&self, timestamp_ms: u32, inner_flags: u8, out: &mut Vec<u8>) {
        emit_header(timestamp_ms, self.msg_type(), inner_flags, out);
        self.emit_body(out);
    }

    pub fn plaintext_len(&self) -> usize {
        FspInner::HEADER_LEN + self.body_len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_plaintext_is_header_ports_then_payload() {
        let msg = SessionMessage::Data(Data {
            src_port: PORT_IPV6_SHIM,
            dst_port: PORT_IPV6_SHIM,
            payload: &[0xaa, 0xbb],
        });
        let mut out = Vec::new();
        msg.emit_plaintext(5, INNER_FLAG_SP, &mut out);
        assert_eq!(out, [5, 0, 0, 0, 0x10, 0x01, 0, 1, 0, 1, 0xaa, 0xbb]);
        assert_eq!(msg.plaintext_len(), out.len());
        let inner = FspInner::parse(&out).unwrap();
        assert_eq!(inner.timestamp_ms, 5);
        assert_eq!(inner.inner_flags, INNER_FLAG_SP);
        assert_eq!(inner.message(), Ok(msg));
        let mut again = Vec::new();
        inner.emit(&mut again);
        assert_eq!(again, out);
    }

    #[test]
    fn path_mtu_notification_and_warmup_round_trip() {
        for msg in [
            SessionMessage::PathMtuNotification { path_mtu: 1280 },
            SessionMessage::CoordsWarmup,
        ] {
            let mut out = Vec::new();
            msg.emit_plaintext(1, 0, &mut out);
            assert_eq!(out.len(), msg.plaintext_len());
            assert_eq!(FspInner::parse(&out).unwrap().message(), Ok(msg));
        }
    }

    #[test]
    fn session_reports_use_the_two_byte_reserved_form() {
        let rr = ReceiverReport {
            highest_counter: 9,
            ..Default::default()
        };
        let msg = SessionMessage::ReceiverReport(rr);
        let mut out = Vec::new();
        msg.emit_plaintext(0, 0, &mut out);
        assert_eq!(out.len(), 6 + 66);
        assert_eq!(&out[6..8], &[0, 0]);
        assert_eq!(&out[8..16], &9u64.to_le_bytes());
        assert_eq!(FspInner::parse(&out).unwrap().message(), Ok(msg));
    }

    #[test]
    fn rejects_a_plaintext_shorter_than_the_inner_header() {
        assert!(matches!(
            FspInner::parse(&[0, 0, 0, 0, 0x10]),
            Err(WireError::Truncated {
                need: 6,
                got: 5,
                ..
            })
        ));
    }

    #[test]
    fn rejects_an_unknown_session_message_type() {
        let inner = FspInner::parse(&[0, 0, 0, 0, 0x15, 0]).unwrap();
        assert_eq!(
            inner.message(),
            Err(WireError::UnknownType {
                what: "session message",
                msg_type: 0x15
            })
        );
    }

    #[test]
    fn rejects_data_without_a_port_header() {
        assert!(matches!(
            SessionMessage::parse_body(DATA, &[1, 0, 0]),
            Err(WireError::Truncated {
                need: 4,
                got: 3,
                ..
            })
        ));
    }
}
