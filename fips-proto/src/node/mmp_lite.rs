//! TEMPORARY minimal MMP (until `crate::mmp` lands): enough of the receiver
//! to fill a ReceiverReport's counters, timestamp echo and dwell, and enough
//! of the metrics to compute SRTT from the peer's reports.
#![allow(dead_code)]

use std::time::Instant;

use crate::wire::link::ReceiverReport;

#[derive(Debug, Default)]
pub(crate) struct MmpReceiver {
    highest: u64,
    packets: u64,
    bytes: u64,
    interval_packets: u32,
    interval_bytes: u32,
    last_ts: Option<(u32, Instant)>,
}

impl MmpReceiver {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn on_frame(&mut self, counter: u64, len: usize, ts_ms: u32, now: Instant) {
        self.highest = self.highest.max(counter);
        self.packets += 1;
        self.bytes += len as u64;
        self.interval_packets = self.interval_packets.saturating_add(1);
        self.interval_bytes = self.interval_bytes.saturating_add(len as u32);
        self.last_ts = Some((ts_ms, now));
    }

    pub(crate) fn build_report(&mut self, now: Instant) -> ReceiverReport {
        let (echo, dwell) = self.last_ts.map_or((0, 0), |(ts, at)| {
            let d = now.saturating_duration_since(at).as_millis();
            (ts, d.min(u128::from(u16::MAX)) as u16)
        });
        let rr = ReceiverReport {
            highest_counter: self.highest,
            cumulative_packets_recv: self.packets,
            cumulative_bytes_recv: self.bytes,
            timestamp_echo: echo,
            dwell_time: dwell,
            max_burst_loss: 0,
            mean_burst_loss: 0,
            jitter: 0,
            ecn_ce_count: 0,
            owd_trend: 0,
            burst_loss_count: 0,
            cumulative_reorder_count: 0,
            interval_packets_recv: self.interval_packets,
            interval_bytes_recv: self.interval_bytes,
        };
        self.interval_packets = 0;
        self.interval_bytes = 0;
        rr
    }
}

#[derive(Debug, Default)]
pub(crate) struct MmpMetrics {
    srtt: Option<f64>,
    last: Option<(u64, u64)>,
    loss: f64,
}

impl MmpMetrics {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn on_receiver_report(&mut self, rr: &ReceiverReport, now_link_ts_ms: u32) {
        if let Some((h, p)) = self.last {
            if rr.highest_counter < h
                || (rr.highest_counter == h && rr.cumulative_packets_recv == p)
            {
                return;
            }
            let expected = rr.highest_counter - h;
            let got = rr.cumulative_packets_recv.saturating_sub(p);
            if expected > 0 {
                self.loss = (1.0 - got as f64 / expected as f64).clamp(0.0, 1.0);
            }
        }
        self.last = Some((rr.highest_counter, rr.cumulative_packets_recv));
        let sent_at = i64::from(rr.timestamp_echo) + i64::from(rr.dwell_time);
        let rtt = i64::from(now_link_ts_ms) - sent_at;
        if rtt > 0 && rr.timestamp_echo != 0 {
            let r = rtt as f64;
            self.srtt = Some(self.srtt.map_or(r, |s| 0.875 * s + 0.125 * r));
        }
    }

    pub(crate) fn srtt_ms(&self) -> Option<f64> {
        self.srtt
    }

    pub(crate) fn loss_rate(&self) -> f64 {
        self.loss
    }

    pub(crate) fn etx(&self) -> f64 {
        1.0 / (1.0 - self.loss).max(0.05)
    }
}
