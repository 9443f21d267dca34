//! `MmpMetrics`: the peer's ReceiverReports about our frames, turned into
//! SRTT, loss, ETX and link cost.

use super::{MmpError, ReportFields};
use crate::tree::link_cost;

/// `1 / (forward * reverse)` delivery, clamped to [1, 100].
pub fn compute_etx(forward: f64, reverse: f64) -> f64 {
    let product = forward * reverse;
    if product <= 0.0 {
        return 100.0;
    }
    (1.0 / product).clamp(1.0, 100.0)
}

/// Sender side of link MMP for one peer.
#[derive(Debug)]
pub struct MmpMetrics {
    /// RFC 6298 estimator, milliseconds.
    srtt_ms: Option<f64>,
    rttvar_ms: f64,
    forward_delivery: f64,
    reverse_delivery: f64,
    etx: f64,
    prev: Option<ReportFields>,
    prev_reverse: Option<(u64, u64)>,
    /// Our link clock (ms) when `prev` arrived, for goodput.
    prev_at_ms: Option<u32>,
    /// Bytes per second the peer confirmed receiving, EWMA with 1/4.
    goodput_bps: f64,
    counters: MmpCounters,
}

/// Lifetime counts of what MMP did on one link (ours; the reference shows
/// no such counters). Kept across rekeys.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct MmpCounters {
    /// ReceiverReports from the peer that updated the metrics.
    pub reports_received: u64,
    /// ReceiverReports ignored as duplicates or going backwards.
    pub reports_rejected: u64,
    /// RTT samples taken from those reports.
    pub rtt_samples: u64,
}

impl Default for MmpMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl MmpMetrics {
    pub fn new() -> Self {
        MmpMetrics {
            srtt_ms: None,
            rttvar_ms: 0.0,
            forward_delivery: 1.0,
            reverse_delivery: 1.0,
            etx: 1.0,
            prev: None,
            prev_reverse: None,
            prev_at_ms: None,
            goodput_bps: 0.0,
            counters: MmpCounters::default(),
        }
    }

    /// A ReceiverReport from the peer, read at `now_link_ts_ms` in our own
    /// link-timestamp clock (the clock we stamp outgoing frames with).
    /// Returns the RTT sample in ms, if the report yielded one.
    pub fn on_receiver_report(
        &mut self,
        rr: &ReportFields,
        now_link_ts_ms: u32,
    ) -> Result<Option<u32>, MmpError> {
        if let Some(prev) = &self.prev {
            if let Err(e) = check_progress(prev, rr) {
                self.counters.reports_rejected += 1;
                return Err(e);
            }
        }
        self.counters.reports_received += 1;
        let sample = rtt_sample(rr, now_link_ts_ms);
        if let Some(rtt) = sample {
            self.counters.rtt_samples += 1;
            self.add_rtt_sample(f64::from(rtt));
        }
        self.update_goodput(rr, now_link_ts_ms);
        if let Some(prev) = &self.prev {
            let span = rr.highest_counter.saturating_sub(prev.highest_counter);
            let got = rr
                .cumulative_packets
                .saturating_sub(prev.cumulative_packets);
            if span > 0 {
                self.forward_delivery = (got as f64 / span as f64).clamp(0.0, 1.0);
                self.etx = compute_etx(self.forward_delivery, self.reverse_delivery);
            }
        }
        self.prev = Some(*rr);
        self.prev_at_ms = Some(now_link_ts_ms);
        Ok(sample)
    }

    /// Bytes the peer confirmed since the last report over the time between
    /// the two reports' arrivals.
    fn update_goodput(&mut self, rr: &ReportFields, now_link_ts_ms: u32) {
        let (Some(prev), Some(at)) = (&self.prev, self.prev_at_ms) else {
            return;
        };
        let elapsed_ms = now_link_ts_ms.wrapping_sub(at);
        if elapsed_ms == 0 || elapsed_ms > u32::MAX / 2 {
            return;
        }
        let bytes = rr.cumulative_bytes.saturating_sub(prev.cumulative_bytes);
        let bps = bytes as f64 * 1000.0 / f64::from(elapsed_ms);
        self.goodput_bps = if self.goodput_bps == 0.0 {
            bps
        } else {
            self.goodput_bps + (bps - self.goodput_bps) / 4.0
        };
    }

    /// RFC 6298: first sample sets SRTT and RTTVAR = R/2, later ones use
    /// alpha = 1/8, beta = 1/4.
    fn add_rtt_sample(&mut self, rtt_ms: f64) {
        match self.srtt_ms {
            None => {
                self.srtt_ms = Some(rtt_ms);
                self.rttvar_ms = rtt_ms / 2.0;
            }
            Some(srtt) => {
                self.rttvar_ms = 0.75 * self.rttvar_ms + 0.25 * (srtt - rtt_ms).abs();
                self.srtt_ms = Some(0.875 * srtt + 0.125 * rtt_ms);
            }
        }
    }

    /// Our own view of the reverse direction: how many of the peer's frames
    /// we received against its highest counter (from our `MmpReceiver`).
    /// Call when building a report for the peer.
    pub fn update_reverse(&mut self, our_cumulative_packets: u64, peer_highest_counter: u64) {
        let now = (our_cumulative_packets, peer_highest_counter);
        if let Some((packets, highest)) = self.prev_reverse {
            let span = peer_highest_counter.saturating_sub(highest);
            if span > 0 {
                let got = our_cumulative_packets.saturating_sub(packets);
                self.reverse_delivery = (got as f64 / span as f64).clamp(0.0, 1.0);
                self.etx = compute_etx(self.forward_delivery, self.reverse_delivery);
            }
        }
        self.prev_reverse = Some(now);
    }

    pub fn srtt_ms(&self) -> Option<f64> {
        self.srtt_ms
    }

    pub fn rttvar_ms(&self) -> f64 {
        self.rttvar_ms
    }

    /// Fraction of our frames lost over the last report interval.
    pub fn loss_rate(&self) -> f64 {
        1.0 - self.forward_delivery
    }

    pub fn etx(&self) -> f64 {
        self.etx
    }

    /// Fraction of our frames the peer received (last report interval).
    pub fn delivery_ratio_forward(&self) -> f64 {
        self.forward_delivery
    }

    /// Fraction of the peer's frames we received (last report we built).
    pub fn delivery_ratio_reverse(&self) -> f64 {
        self.reverse_delivery
    }

    /// Bytes per second of ours the peer confirmed, smoothed; 0 until two
    /// reports arrived.
    pub fn goodput_bps(&self) -> f64 {
        self.goodput_bps
    }

    /// CE-marked frames of ours the peer counted in its last report.
    pub fn ecn_ce_count(&self) -> u32 {
        self.prev.map_or(0, |p| p.ecn_ce)
    }

    pub fn counters(&self) -> &MmpCounters {
        &self.counters
    }

    /// `etx * (1 + srtt_ms / 100)`; `None` until an RTT sample exists
    /// (such a peer is not a parent candidate once others are measured).
    pub fn link_cost(&self) -> Option<f64> {
        self.srtt_ms.map(|s| link_cost(s, self.etx))
    }

    /// After a rekey the peer's report counters restart: forget the last
    /// report, keep SRTT and ETX.
    pub fn reset_for_rekey(&mut self) {
        self.prev = None;
        self.prev_reverse = None;
        self.prev_at_ms = None;
        self.forward_delivery = 1.0;
    }
}

/// A report must advance at least one cumulative counter and move none
/// backwards; otherwise it is a duplicate or a replay and teaches nothing.
fn check_progress(prev: &ReportFields, rr: &ReportFields) -> Result<(), MmpError> {
    let regressed = rr.highest_counter < prev.highest_counter
        || rr.cumulative_packets < prev.cumulative_packets
        || rr.cumulative_bytes < prev.cumulative_bytes
        || rr.ecn_ce < prev.ecn_ce
        || rr.reorder < prev.reorder;
    if regressed {
        return Err(MmpError::Regressed {
            highest_counter: rr.highest_counter,
            previous: prev.highest_counter,
        });
    }
    let same = rr.highest_counter == prev.highest_counter
        && rr.cumulative_packets == prev.cumulative_packets
        && rr.cumulative_bytes == prev.cumulative_bytes
        && rr.ecn_ce == prev.ecn_ce
        && rr.reorder == prev.reorder;
    if same {
        return Err(MmpError::Duplicate {
            highest_counter: rr.highest_counter,
        });
    }
    Ok(())
}

/// `now - (echo + dwell)` in our link clock; no sample without an echo or
/// when the result is not positive (clock confusion or a bogus dwell).
fn rtt_sample(rr: &ReportFields, now_link_ts_ms: u32) -> Option<u32> {
    if rr.timestamp_echo == 0 {
        return None;
    }
    let sent_back = rr.timestamp_echo.checked_add(u32::from(rr.dwell_ms))?;
    now_link_ts_ms.checked_sub(sent_back).filter(|rtt| *rtt > 0)
}
