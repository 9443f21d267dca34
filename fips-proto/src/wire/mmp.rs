//! MMP reports, used on links (SenderReport 0x01, 48 bytes; ReceiverReport
//! 0x02, 68 bytes: msg_type + 3 reserved + fields) and in sessions (0x11 and
//! 0x12 inside the FSP inner header: 2 reserved + the same fields, 46 and
//! 66 bytes). Reserved bytes are written as zero and ignored on receipt.

use super::reader::Reader;
use super::WireError;

pub const LINK_SENDER_REPORT_TYPE: u8 = 0x01;
pub const LINK_RECEIVER_REPORT_TYPE: u8 = 0x02;

/// Byte length of the fields shared by both forms.
const SR_FIELDS_LEN: usize = 44;
const RR_FIELDS_LEN: usize = 64;
/// Link form: msg_type + 3 reserved. Session form: 2 reserved.
const LINK_PAD: usize = 3;
const SESSION_PAD: usize = 2;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SenderReport {
    pub interval_start_counter: u64,
    pub interval_end_counter: u64,
    pub interval_start_timestamp: u32,
    pub interval_end_timestamp: u32,
    pub interval_bytes_sent: u32,
    pub cumulative_packets_sent: u64,
    pub cumulative_bytes_sent: u64,
}

impl SenderReport {
    pub const LINK_LEN: usize = 1 + LINK_PAD + SR_FIELDS_LEN;
    pub const SESSION_LEN: usize = SESSION_PAD + SR_FIELDS_LEN;

    /// Parses the link message (msg_type byte included).
    pub fn parse(buf: &[u8]) -> Result<SenderReport, WireError> {
        parse_link(buf)
    }

    /// Parses the session body (after the FSP inner header).
    pub fn parse_session(body: &[u8]) -> Result<SenderReport, WireError> {
        parse_session(body)
    }

    pub fn emit(&self, out: &mut Vec<u8>) {
        emit_link(self, out);
    }

    pub fn emit_session(&self, out: &mut Vec<u8>) {
        emit_session(self, out);
    }

    pub fn encoded_len(&self) -> usize {
        Self::LINK_LEN
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReceiverReport {
    pub highest_counter: u64,
    pub cumulative_packets_recv: u64,
    pub cumulative_bytes_recv: u64,
    /// The peer's frame timestamp being echoed (its link clock, ms).
    pub timestamp_echo: u32,
    /// Time between receiving the echoed frame and sending this report, ms.
    pub dwell_time: u16,
    pub max_burst_loss: u16,
    /// u8.8 fixed point.
    pub mean_burst_loss: u16,
    /// Interarrival jitter, microseconds.
    pub jitter: u32,
    pub ecn_ce_count: u32,
    /// One-way delay trend, µs/s.
    pub owd_trend: i32,
    pub burst_loss_count: u32,
    pub cumulative_reorder_count: u32,
    pub interval_packets_recv: u32,
    pub interval_bytes_recv: u32,
}

impl ReceiverReport {
    pub const LINK_LEN: usize = 1 + LINK_PAD + RR_FIELDS_LEN;
    pub const SESSION_LEN: usize = SESSION_PAD + RR_FIELDS_LEN;

    /// Parses the link message (msg_type byte included).
    pub fn parse(buf: &[u8]) -> Result<ReceiverReport, WireError> {
        parse_link(buf)
    }

    /// Parses the session body (after the FSP inner header).
    pub fn parse_session(body: &[u8]) -> Result<ReceiverReport, WireError> {
        parse_session(body)
    }

    pub fn emit(&self, out: &mut Vec<u8>) {
        emit_link(self, out);
    }

    pub fn emit_session(&self, out: &mut Vec<u8>) {
        emit_session(self, out);
    }

    pub fn encoded_len(&self) -> usize {
        Self::LINK_LEN
    }
}

/// What the link and session framings of a report share: only the
/// prefix differs (type byte and padding, or padding alone).
trait Report: Sized {
    const LINK_TYPE: u8;
    const LINK_WHAT: &'static str;
    const SESSION_WHAT: &'static str;
    fn read_fields(r: &mut Reader<'_>) -> Result<Self, WireError>;
    fn emit_fields(&self, out: &mut Vec<u8>);
}

impl Report for SenderReport {
    const LINK_TYPE: u8 = LINK_SENDER_REPORT_TYPE;
    const LINK_WHAT: &'static str = "SenderReport";
    const SESSION_WHAT: &'static str = "session SenderReport";

    fn read_fields(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(SenderReport {
            interval_start_counter: r.u64()?,
            interval_end_counter: r.u64()?,
            interval_start_timestamp: r.u32()?,
            interval_end_timestamp: r.u32()?,
            interval_bytes_sent: r.u32()?,
            cumulative_packets_sent: r.u64()?,
            cumulative_bytes_sent: r.u64()?,
        })
    }

    fn emit_fields(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.interval_start_counter.to_le_bytes());
        out.extend_from_slice(&self.interval_end_counter.to_le_bytes());
        out.extend_from_slice(&self.interval_start_timestamp.to_le_bytes());
        out.extend_from_slice(&self.interval_end_timestamp.to_le_bytes());
        out.extend_from_slice(&self.interval_bytes_sent.to_le_bytes());
        out.extend_from_slice(&self.cumulative_packets_sent.to_le_bytes());
        out.extend_from_slice(&self.cumulative_bytes_sent.to_le_bytes());
    }
}

impl Report for ReceiverReport {
    const LINK_TYPE: u8 = LINK_RECEIVER_REPORT_TYPE;
    const LINK_WHAT: &'static str = "ReceiverReport";
    const SESSION_WHAT: &'static str = "session ReceiverReport";

    fn read_fields(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let highest_counter = r.u64()?;
        let cumulative_packets_recv = r.u64()?;
        let cumulative_bytes_recv = r.u64()?;
        let timestamp_echo = r.u32()?;
        let dwell_time = r.u16()?;
        let max_burst_loss = r.u16()?;
        let mean_burst_loss = r.u16()?;
        r.take(2)?; // reserved
        Ok(ReceiverReport {
            highest_counter,
            cumulative_packets_recv,
            cumulative_bytes_recv,
            timestamp_echo,
            dwell_time,
            max_burst_loss,
            mean_burst_loss,
            jitter: r.u32()?,
            ecn_ce_count: r.u32()?,
            owd_trend: r.i32()?,
            burst_loss_count: r.u32()?,
            cumulative_reorder_count: r.u32()?,
            interval_packets_recv: r.u32()?,
            interval_bytes_recv: r.u32()?,
        })
    }

    fn emit_fields(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.highest_counter.to_le_bytes());
        out.extend_from_slice(&self.cumulative_packets_recv.to_le_bytes());
        out.extend_from_slice(&self.cumulative_bytes_recv.to_le_bytes());
        out.extend_from_slice(&self.timestamp_echo.to_le_bytes());
        out.extend_from_slice(&self.dwell_time.to_le_bytes());
        out.extend_from_slice(&self.max_burst_loss.to_le_bytes());
        out.extend_from_slice(&self.mean_burst_loss.to_le_bytes());
        out.extend_from_slice(&[0; 2]);
        out.extend_from_slice(&self.jitter.to_le_bytes());
        out.extend_from_slice(&self.ecn_ce_count.to_le_bytes());
        out.extend_from_slice(&self.owd_trend.to_le_bytes());
        out.extend_from_slice(&self.burst_loss_count.to_le_bytes());
        out.extend_from_slice(&self.cumulative_reorder_count.to_le_bytes());
        out.extend_from_slice(&self.interval_packets_recv.to_le_bytes());
        out.extend_from_slice(&self.interval_bytes_recv.to_le_bytes());
    }
}

fn parse_link<R: Report>(buf: &[u8]) -> Result<R, WireError> {
    let mut r = Reader::new(buf, R::LINK_WHAT);
    r.expect_type(R::LINK_TYPE)?;
    r.take(LINK_PAD)?;
    R::read_fields(&mut r)
}

fn parse_session<R: Report>(body: &[u8]) -> Result<R, WireError> {
    let mut r = Reader::new(body, R::SESSION_WHAT);
    r.take(SESSION_PAD)?;
    R::read_fields(&mut r)
}

fn emit_link<R: Report>(report: &R, out: &mut Vec<u8>) {
    out.push(R::LINK_TYPE);
    out.extend_from_slice(&[0; LINK_PAD]);
    report.emit_fields(out);
}

fn emit_session<R: Report>(report: &R, out: &mut Vec<u8>) {
    out.extend_from_slice(&[0; SESSION_PAD]);
    report.emit_fields(out);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rr() -> ReceiverReport {
        ReceiverReport {
            highest_counter: 3,
            cumulative_packets_recv: 4,
            cumulative_bytes_recv: 0x5a4,
            timestamp_echo: 0xdf,
            dwell_time: 0x1cf,
            max_burst_loss: 1,
            mean_burst_loss: 0x100,
            jitter: 0x2f,
            ecn_ce_count: 0,
            owd_trend: -5,
            burst_loss_count: 1,
            cumulative_reorder_count: 2,
            interval_packets_recv: 4,
            interval_bytes_recv: 0x5a4,
        }
    }

    #[test]
    fn link_receiver_report_is_68_bytes_with_fields_at_documented_offsets() {
        let mut out = Vec::new();
        rr().emit(&mut out);
        assert_eq!(out.len(), 68);
        assert_eq!(&out[..4], &[0x02, 0, 0, 0]);
        assert_eq!(&out[28..32], &[0xdf, 0, 0, 0]); // timestamp_echo
        assert_eq!(&out[32..34], &[0xcf, 0x01]); // dwell
        assert_eq!(&out[38..40], &[0, 0]); // reserved
        assert_eq!(&out[48..52], &(-5i32).to_le_bytes()); // owd_trend
        assert_eq!(ReceiverReport::parse(&out), Ok(rr()));
    }

    #[test]
    fn session_receiver_report_is_66_bytes_and_drops_the_type_byte() {
        let mut link = Vec::new();
        rr().emit(&mut link);
        let mut session = Vec::new();
        rr().emit_session(&mut session);
        assert_eq!(session.len(), ReceiverReport::SESSION_LEN);
        assert_eq!(session.len(), 66);
        assert_eq!(&session[2..], &link[4..]);
        assert_eq!(ReceiverReport::parse_session(&session), Ok(rr()));
    }

    #[test]
    fn sender_report_round_trips_in_both_forms() {
        let sr = SenderReport {
            interval_start_counter: 1,
            interval_end_counter: 9,
            interval_start_timestamp: 10,
            interval_end_timestamp: 900,
            interval_bytes_sent: 1234,
            cumulative_packets_sent: 10,
            cumulative_bytes_sent: 2000,
        };
        let mut link = Vec::new();
        sr.emit(&mut link);
        assert_eq!(link.len(), 48);
        assert_eq!(&link[..4], &[1, 0, 0, 0]);
        assert_eq!(&link[4..12], &1u64.to_le_bytes());
        assert_eq!(SenderReport::parse(&link), Ok(sr));
        let mut session = Vec::new();
        sr.emit_session(&mut session);
        assert_eq!(session.len(), 46);
        assert_eq!(SenderReport::parse_session(&session), Ok(sr));
    }

    #[test]
    fn rejects_a_truncated_receiver_report() {
        let mut out = Vec::new();
        rr().emit(&mut out);
        assert!(matches!(
            ReceiverReport::parse(&out[..67]),
            Err(WireError::Truncated {
                need: 68,
                got: 67,
                ..
            })
        ));
    }
}
