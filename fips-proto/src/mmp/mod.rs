//! Metrics measurement protocol: receiver reports, RTT, loss and link cost.
//!
//! Link-layer MMP, and the receiver side of session-layer MMP (session
//! ReceiverReports, [`ReportSchedule::SESSION`]). [`MmpReceiver`] watches the frames a
//! peer sends us and writes the ReceiverReports we send back;
//! [`MmpMetrics`] reads the ReceiverReports the peer sends about our frames
//! and derives SRTT, loss, ETX and the link cost the tree uses. No wire
//! parsing: [`ReportFields`] maps field for field to the 68-byte message.

mod metrics;
mod receiver;
#[cfg(test)]
mod tests;

pub use metrics::{compute_etx, MmpCounters, MmpMetrics};
pub use receiver::{MmpReceiver, ReportSchedule};

use std::time::Duration;

/// Report interval until SRTT has settled (the first samples).
pub const COLD_START_INTERVAL: Duration = Duration::from_millis(200);
/// How many SRTT samples count as cold start.
pub const COLD_START_SAMPLES: u32 = 5;
/// Bounds of the SRTT-adaptive report interval.
pub const MIN_REPORT_INTERVAL: Duration = Duration::from_secs(1);
pub const MAX_REPORT_INTERVAL: Duration = Duration::from_secs(5);

/// The body of a ReceiverReport (link message 0x02, after the type byte and
/// 3 reserved bytes; the reserved u16 after `mean_burst` is omitted).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReportFields {
    pub highest_counter: u64,
    pub cumulative_packets: u64,
    pub cumulative_bytes: u64,
    /// The sender's link timestamp of the last frame we received.
    pub timestamp_echo: u32,
    /// Milliseconds that frame waited with us before this report.
    pub dwell_ms: u16,
    pub max_burst: u16,
    /// Mean burst length, u8.8 fixed point.
    pub mean_burst: u16,
    pub jitter_us: u32,
    pub ecn_ce: u32,
    pub owd_trend: i32,
    pub burst_count: u32,
    pub reorder: u32,
    pub interval_packets: u32,
    pub interval_bytes: u32,
}

/// Why a ReceiverReport was ignored before updating any metric.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MmpError {
    #[error("duplicate receiver report (highest counter {highest_counter})")]
    Duplicate { highest_counter: u64 },
    #[error("receiver report counters went backwards (highest {highest_counter} < {previous})")]
    Regressed { highest_counter: u64, previous: u64 },
}
