//! MMP reports, used on links (SenderReport 0x01, 48 bytes; ReceiverReport
//! 0x02, 68 bytes: msg_type + 3 reserved + fields) and in sessions (0x11 and
//! 0x12 inside the FSP inner header: 2 reserved + the same fields, 46 and
//! 66 bytes). Reserved bytes are written as zero and ignored on receipt.
//! [`SenderReportView`] and [`ReceiverReportView`] read either form in
//! place; the values parse and emit through them.

use super::field::{self, view};
use super::WireError;

pub const LINK_SENDER_REPORT_TYPE: u8 = 0x01;
pub const LINK_RECEIVER_REPORT_TYPE: u8 = 0x02;

/// Bytes of fields after the framing; a ReceiverReport's 34..36 are reserved.
const SR_FIELDS_LEN: usize = 44;
const RR_FIELDS_LEN: usize = 64;

/// Which framing a report has: on a link, msg_type and 3 reserved bytes
/// come first; in a session body, 2 reserved bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    Link,
    Session,
}

impl Form {
    /// Where the fields start.
    pub const fn fields_at(self) -> usize {
        match self {
            Form::Link => 4,
            Form::Session => 2,
        }
    }
}

/// Checks a report's framing in `form`: the type byte on a link, and the
/// length of framing plus fields (trailing bytes are ignored).
fn check(
    b: &[u8],
    form: Form,
    fields_len: usize,
    link_type: u8,
    what: &'static str,
) -> Result<(), WireError> {
    if form == Form::Link {
        field::expect_type(b, link_type, what)?;
    }
    field::need(b, form.fields_at() + fields_len, what)
}

view! {
    /// A checked view over a SenderReport in either form.
    pub struct SenderReportView + at {
        interval_start_counter / set_interval_start_counter: u64 = 0..8,
        interval_end_counter / set_interval_end_counter: u64 = 8..16,
        interval_start_timestamp / set_interval_start_timestamp: u32 = 16..20,
        interval_end_timestamp / set_interval_end_timestamp: u32 = 20..24,
        interval_bytes_sent / set_interval_bytes_sent: u32 = 24..28,
        cumulative_packets_sent / set_cumulative_packets_sent: u64 = 28..36,
        cumulative_bytes_sent / set_cumulative_bytes_sent: u64 = 36..SR_FIELDS_LEN,
    }
}

impl<T: AsRef<[u8]>> SenderReportView<T> {
    pub fn to_value(&self) -> SenderReport {
        SenderReport {
            interval_start_counter: self.interval_start_counter(),
            interval_end_counter: self.interval_end_counter(),
            interval_start_timestamp: self.interval_start_timestamp(),
            interval_end_timestamp: self.interval_end_timestamp(),
            interval_bytes_sent: self.interval_bytes_sent(),
            cumulative_packets_sent: self.cumulative_packets_sent(),
            cumulative_bytes_sent: self.cumulative_bytes_sent(),
        }
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> SenderReportView<T> {
    fn set_value(&mut self, v: &SenderReport) {
        self.set_interval_start_counter(v.interval_start_counter);
        self.set_interval_end_counter(v.interval_end_counter);
        self.set_interval_start_timestamp(v.interval_start_timestamp);
        self.set_interval_end_timestamp(v.interval_end_timestamp);
        self.set_interval_bytes_sent(v.interval_bytes_sent);
        self.set_cumulative_packets_sent(v.cumulative_packets_sent);
        self.set_cumulative_bytes_sent(v.cumulative_bytes_sent);
    }
}

view! {
    /// A checked view over a ReceiverReport in either form.
    pub struct ReceiverReportView + at {
        highest_counter / set_highest_counter: u64 = 0..8,
        cumulative_packets_recv / set_cumulative_packets_recv: u64 = 8..16,
        cumulative_bytes_recv / set_cumulative_bytes_recv: u64 = 16..24,
        timestamp_echo / set_timestamp_echo: u32 = 24..28,
        dwell_time / set_dwell_time: u16 = 28..30,
        max_burst_loss / set_max_burst_loss: u16 = 30..32,
        mean_burst_loss / set_mean_burst_loss: u16 = 32..34,
        jitter / set_jitter: u32 = 36..40,
        ecn_ce_count / set_ecn_ce_count: u32 = 40..44,
        owd_trend / set_owd_trend: i32 = 44..48,
        burst_loss_count / set_burst_loss_count: u32 = 48..52,
        cumulative_reorder_count / set_cumulative_reorder_count: u32 = 52..56,
        interval_packets_recv / set_interval_packets_recv: u32 = 56..60,
        interval_bytes_recv / set_interval_bytes_recv: u32 = 60..RR_FIELDS_LEN,
    }
}

impl<T: AsRef<[u8]>> ReceiverReportView<T> {
    pub fn to_value(&self) -> ReceiverReport {
        ReceiverReport {
            highest_counter: self.highest_counter(),
            cumulative_packets_recv: self.cumulative_packets_recv(),
            cumulative_bytes_recv: self.cumulative_bytes_recv(),
            timestamp_echo: self.timestamp_echo(),
            dwell_time: self.dwell_time(),
            max_burst_loss: self.max_burst_loss(),
            mean_burst_loss: self.mean_burst_loss(),
            jitter: self.jitter(),
            ecn_ce_count: self.ecn_ce_count(),
            owd_trend: self.owd_trend(),
            burst_loss_count: self.burst_loss_count(),
            cumulative_reorder_count: self.cumulative_reorder_count(),
            interval_packets_recv: self.interval_packets_recv(),
            interval_bytes_recv: self.interval_bytes_recv(),
        }
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ReceiverReportView<T> {
    fn set_value(&mut self, v: &ReceiverReport) {
        self.set_highest_counter(v.highest_counter);
        self.set_cumulative_packets_recv(v.cumulative_packets_recv);
        self.set_cumulative_bytes_recv(v.cumulative_bytes_recv);
        self.set_timestamp_echo(v.timestamp_echo);
        self.set_dwell_time(v.dwell_time);
        self.set_max_burst_loss(v.max_burst_loss);
        self.set_mean_burst_loss(v.mean_burst_loss);
        self.set_jitter(v.jitter);
        self.set_ecn_ce_count(v.ecn_ce_count);
        self.set_owd_trend(v.owd_trend);
        self.set_burst_loss_count(v.burst_loss_count);
        self.set_cumulative_reorder_count(v.cumulative_reorder_count);
        self.set_interval_packets_recv(v.interval_packets_recv);
        self.set_interval_bytes_recv(v.interval_bytes_recv);
    }
}

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

/// The view constructor and value API both reports share.
macro_rules! report_value {
    ($value:ident, $view:ident, $fields_len:expr, $link_type:expr) => {
        impl<T: AsRef<[u8]>> $view<T> {
            pub fn new_checked(buf: T, form: Form) -> Result<Self, WireError> {
                let what = match form {
                    Form::Link => stringify!($value),
                    Form::Session => concat!("session ", stringify!($value)),
                };
                check(buf.as_ref(), form, $fields_len, $link_type, what)?;
                Ok($view {
                    buf,
                    at: form.fields_at(),
                })
            }
        }

        impl $value {
            pub const LINK_LEN: usize = Form::Link.fields_at() + $fields_len;
            pub const SESSION_LEN: usize = Form::Session.fields_at() + $fields_len;

            /// Parses the link message (msg_type byte included).
            pub fn parse(buf: &[u8]) -> Result<$value, WireError> {
                $view::new_checked(buf, Form::Link).map(|v| v.to_value())
            }

            /// Parses the session body (after the FSP inner header).
            pub fn parse_session(body: &[u8]) -> Result<$value, WireError> {
                $view::new_checked(body, Form::Session).map(|v| v.to_value())
            }

            pub fn emit(&self, out: &mut Vec<u8>) {
                let buf = field::grow(out, Self::LINK_LEN);
                buf[0] = $link_type;
                $view {
                    buf,
                    at: Form::Link.fields_at(),
                }
                .set_value(self);
            }

            pub fn emit_session(&self, out: &mut Vec<u8>) {
                let buf = field::grow(out, Self::SESSION_LEN);
                $view {
                    buf,
                    at: Form::Session.fields_at(),
                }
                .set_value(self);
            }

            pub fn encoded_len(&self) -> usize {
                Self::LINK_LEN
            }
        }
    };
}

report_value!(
    SenderReport,
    SenderReportView,
    SR_FIELDS_LEN,
    LINK_SENDER_REPORT_TYPE
);
report_value!(
    ReceiverReport,
    ReceiverReportView,
    RR_FIELDS_LEN,
    LINK_RECEIVER_REPORT_TYPE
);

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
