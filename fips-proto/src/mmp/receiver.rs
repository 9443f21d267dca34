//! `MmpReceiver`: what we received from one peer, and when to report it.

use std::time::{Duration, Instant};

use super::{
    ReportFields, COLD_START_INTERVAL, COLD_START_SAMPLES, MAX_REPORT_INTERVAL, MIN_REPORT_INTERVAL,
};

/// When reports go out: a cold-start interval for the first SRTT samples,
/// then SRTT clamped to `[min, max]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReportSchedule {
    pub cold_start: Duration,
    pub cold_start_samples: u32,
    pub min: Duration,
    pub max: Duration,
    /// The first report waits this long after the first frame (session
    /// reports are a timer, not an echo of the first Data).
    pub first_delay: Duration,
}

impl ReportSchedule {
    /// Link MMP: 200 ms cold start, then [1 s, 5 s].
    pub const LINK: ReportSchedule = ReportSchedule {
        cold_start: COLD_START_INTERVAL,
        cold_start_samples: COLD_START_SAMPLES,
        min: MIN_REPORT_INTERVAL,
        max: MAX_REPORT_INTERVAL,
        first_delay: Duration::ZERO,
    };
    /// Session MMP: 1 s cold start, then [500 ms, 10 s] (reports cross
    /// every transit link, so they are sparser).
    pub const SESSION: ReportSchedule = ReportSchedule {
        cold_start: Duration::from_secs(1),
        cold_start_samples: COLD_START_SAMPLES,
        min: Duration::from_millis(500),
        max: Duration::from_secs(10),
        first_delay: Duration::from_secs(1),
    };
}

/// Loss bursts (runs of missing counters) within one report interval.
#[derive(Debug, Default)]
struct Bursts {
    expected: Option<u64>,
    current: Option<u64>,
    count: u32,
    max: u64,
    total: u64,
}

impl Bursts {
    fn observe(&mut self, counter: u64) {
        let Some(expected) = self.expected else {
            self.expected = Some(counter.saturating_add(1));
            return;
        };
        if counter > expected {
            let gap = counter - expected;
            match &mut self.current {
                Some(len) => *len += gap,
                None => {
                    self.count += 1;
                    self.current = Some(gap);
                }
            }
        } else {
            self.finish();
        }
        if counter >= expected {
            self.expected = Some(counter.saturating_add(1));
        }
    }

    fn finish(&mut self) {
        if let Some(len) = self.current.take() {
            self.max = self.max.max(len);
            self.total += len;
        }
    }

    /// (count, max, mean as u8.8), resetting the interval.
    fn take(&mut self) -> (u32, u16, u16) {
        self.finish();
        let mean = if self.count == 0 {
            0
        } else {
            (self.total * 256 / u64::from(self.count)).min(u64::from(u16::MAX)) as u16
        };
        let out = (self.count, self.max.min(u64::from(u16::MAX)) as u16, mean);
        self.count = 0;
        self.max = 0;
        self.total = 0;
        out
    }
}

/// Receiver side of link MMP for one peer.
///
/// Feed every authenticated frame to `on_frame`; when `report_due(now)`,
/// send `build_report(now)` as a ReceiverReport. Feed our SRTT samples
/// (from the same link's [`super::MmpMetrics`]) to `on_srtt_sample` so the
/// report interval adapts.
#[derive(Debug)]
pub struct MmpReceiver {
    highest_counter: u64,
    cumulative_packets: u64,
    cumulative_bytes: u64,
    reorder: u64,
    interval_packets: u32,
    interval_bytes: u32,
    ecn_ce: u32,
    bursts: Bursts,
    /// RFC 3550 interarrival jitter, microseconds.
    jitter_us: f64,
    /// Sender timestamp of the last frame and when it arrived: the echo.
    last_ts_ms: u32,
    last_arrival: Option<Instant>,
    first_arrival: Option<Instant>,
    interval_has_data: bool,
    last_report: Option<Instant>,
    report_interval: Duration,
    srtt_samples: u32,
    schedule: ReportSchedule,
    /// Reports built for the peer over the link's life.
    reports_built: u64,
}

impl Default for MmpReceiver {
    fn default() -> Self {
        Self::new()
    }
}

impl MmpReceiver {
    /// A receiver on the link schedule.
    pub fn new() -> Self {
        Self::with_schedule(ReportSchedule::LINK)
    }

    pub fn with_schedule(schedule: ReportSchedule) -> Self {
        MmpReceiver {
            highest_counter: 0,
            cumulative_packets: 0,
            cumulative_bytes: 0,
            reorder: 0,
            interval_packets: 0,
            interval_bytes: 0,
            ecn_ce: 0,
            bursts: Bursts::default(),
            jitter_us: 0.0,
            last_ts_ms: 0,
            last_arrival: None,
            first_arrival: None,
            interval_has_data: false,
            last_report: None,
            report_interval: schedule.cold_start,
            srtt_samples: 0,
            schedule,
            reports_built: 0,
        }
    }

    /// An authenticated frame: its FMP counter, its size on the wire, the
    /// sender's inner timestamp (ms), and its arrival time.
    pub fn on_frame(&mut self, counter: u64, len: usize, ts_ms: u32, now: Instant) {
        self.interval_has_data = true;
        self.count_frame(counter, len, ts_ms, now);
    }

    /// A frame that counts (counters, loss, jitter) but does not by itself
    /// call for a report: a session's own reports, so two reporting ends
    /// do not keep each other reporting once Data stops.
    pub fn on_frame_unreported(&mut self, counter: u64, len: usize, ts_ms: u32, now: Instant) {
        self.count_frame(counter, len, ts_ms, now);
    }

    fn count_frame(&mut self, counter: u64, len: usize, ts_ms: u32, now: Instant) {
        self.cumulative_packets += 1;
        self.cumulative_bytes += len as u64;
        self.interval_packets = self.interval_packets.saturating_add(1);
        let len32 = u32::try_from(len).unwrap_or(u32::MAX);
        self.interval_bytes = self.interval_bytes.saturating_add(len32);
        if counter < self.highest_counter {
            self.reorder += 1;
        } else {
            self.highest_counter = counter;
        }
        self.bursts.observe(counter);
        self.update_jitter(ts_ms, now);
        self.last_ts_ms = ts_ms;
        self.last_arrival = Some(now);
        self.first_arrival.get_or_insert(now);
    }

    /// The frame just fed to `on_frame` carried the CE flag.
    pub fn on_congestion_mark(&mut self) {
        self.ecn_ce = self.ecn_ce.saturating_add(1);
    }

    fn update_jitter(&mut self, ts_ms: u32, now: Instant) {
        let Some(prev) = self.last_arrival else {
            return;
        };
        let arrival_us = now.duration_since(prev).as_micros() as f64;
        let sent_us = f64::from(ts_ms.wrapping_sub(self.last_ts_ms) as i32) * 1000.0;
        let d = (arrival_us - sent_us).abs();
        self.jitter_us += (d - self.jitter_us) / 16.0;
    }

    /// When the last frame arrived (link liveness).
    pub fn last_frame_at(&self) -> Option<Instant> {
        self.last_arrival
    }

    pub fn cumulative_packets(&self) -> u64 {
        self.cumulative_packets
    }

    /// ReceiverReports built (and so sent) for this peer.
    pub fn reports_built(&self) -> u64 {
        self.reports_built
    }

    /// RFC 3550 interarrival jitter of the peer's frames, microseconds.
    pub fn jitter_us(&self) -> f64 {
        self.jitter_us
    }

    pub fn highest_counter(&self) -> u64 {
        self.highest_counter
    }

    pub fn report_interval(&self) -> Duration {
        self.report_interval
    }

    /// A new SRTT (ms) for this link or session. The first few samples
    /// keep the cold-start floor so SRTT converges fast; later ones clamp
    /// to the schedule's bounds.
    pub fn on_srtt_sample(&mut self, srtt_ms: f64) {
        // Also rejects NaN.
        if !srtt_ms.is_finite() || srtt_ms <= 0.0 {
            return;
        }
        self.srtt_samples = self.srtt_samples.saturating_add(1);
        let s = self.schedule;
        let floor = if self.srtt_samples <= s.cold_start_samples {
            s.cold_start
        } else {
            s.min
        };
        let srtt = Duration::from_secs_f64(srtt_ms.min(1e9) / 1000.0);
        self.report_interval = srtt.clamp(floor, s.max.max(floor));
    }

    /// When the next report is due; `None` while nothing new arrived.
    pub fn next_report_at(&self) -> Option<Instant> {
        if !self.interval_has_data {
            return None;
        }
        match self.last_report {
            Some(t) => Some(t + self.report_interval),
            // The first report goes out as soon as there is something to
            // say, or the schedule's delay after the first frame.
            None => self
                .first_arrival
                .map(|t| (t + self.schedule.first_delay).max(self.last_arrival.unwrap_or(t))),
        }
    }

    pub fn report_due(&self, now: Instant) -> bool {
        self.next_report_at().is_some_and(|at| now >= at)
    }

    /// The report for everything since the last one, or `None` if no frame
    /// arrived since. Resets the interval counters.
    pub fn build_report(&mut self, now: Instant) -> Option<ReportFields> {
        if !self.interval_has_data {
            return None;
        }
        let (timestamp_echo, dwell_ms) = self.echo(now);
        let (burst_count, max_burst, mean_burst) = self.bursts.take();
        let report = ReportFields {
            highest_counter: self.highest_counter,
            cumulative_packets: self.cumulative_packets,
            cumulative_bytes: self.cumulative_bytes,
            timestamp_echo,
            dwell_ms,
            max_burst,
            mean_burst,
            jitter_us: self.jitter_us.min(f64::from(u32::MAX)) as u32,
            ecn_ce: self.ecn_ce,
            owd_trend: 0,
            burst_count,
            reorder: u32::try_from(self.reorder).unwrap_or(u32::MAX),
            interval_packets: self.interval_packets,
            interval_bytes: self.interval_bytes,
        };
        self.interval_packets = 0;
        self.interval_bytes = 0;
        self.interval_has_data = false;
        self.last_report = Some(now);
        self.reports_built += 1;
        Some(report)
    }

    /// Echo plus dwell; a dwell too long for the u16 field would make the
    /// peer's RTT sample wrong, so the echo is zeroed instead.
    fn echo(&self, now: Instant) -> (u32, u16) {
        let Some(arrival) = self.last_arrival else {
            return (0, 0);
        };
        match u16::try_from(now.saturating_duration_since(arrival).as_millis()) {
            Ok(dwell) => (self.last_ts_ms, dwell),
            Err(_) => (0, u16::MAX),
        }
    }

    /// After a rekey the peer's counters restart at 0: forget per-session
    /// counter state, keep lifetime totals and the report schedule.
    pub fn reset_for_rekey(&mut self) {
        self.highest_counter = 0;
        self.reorder = 0;
        self.bursts = Bursts::default();
        self.ecn_ce = 0;
        self.jitter_us = 0.0;
    }
}
