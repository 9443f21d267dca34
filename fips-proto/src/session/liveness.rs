//! Session MMP as far as liveness needs it: the ReceiverReports we send
//! while the peer's Data arrives (lightweight mode), and noticing from the
//! peer's reports that it lost the session (a restart) within seconds
//! instead of `dead_after`. Owns `Established::reports`, `mmp` and
//! `mmp_rx`; time is an input, nothing here sends.

use std::time::{Duration, Instant};

use crate::mmp::{MmpMetrics, MmpReceiver, ReportFields, ReportSchedule};
use crate::wire::mmp::ReceiverReport;

/// Reports the peer must have sent before its silence counts for more
/// than the plain `dead_after` rule: a few seconds of steady reports, so a
/// session still settling (its path converging under loss) is not ended
/// at the first gap, and one stray report proves no reporting mode.
pub(crate) const MIN_PEER_REPORTS: u32 = 5;
/// The shortest silence that ends a session whose peer reports.
pub(crate) const FAST_DEAD_FLOOR: Duration = Duration::from_secs(3);
/// Missed report intervals before the peer counts as gone.
const MISSED_REPORTS: u32 = 3;

/// What the peer's session ReceiverReports tell about its liveness.
#[derive(Debug, Default)]
pub(crate) struct PeerReports {
    seen: u32,
    /// Our first Data since the peer's last report.
    unreported_since: Option<Instant>,
    /// The longest any Data of ours waited for the next report.
    longest_wait: Duration,
}

impl PeerReports {
    pub fn on_data_sent(&mut self, now: Instant) {
        self.unreported_since.get_or_insert(now);
    }

    pub fn on_report(&mut self, now: Instant) {
        self.seen = self.seen.saturating_add(1);
        if let Some(t) = self.unreported_since.take() {
            self.longest_wait = self.longest_wait.max(now.saturating_duration_since(t));
        }
    }

    /// How long our Data may go unanswered before the session is dead.
    /// A peer that reports does so at least every `expected` (its interval
    /// given `srtt`, 1 s before SRTT is known) or, as measured, every
    /// `longest_wait`; three of those missed, and at least 3 s, is enough.
    /// A peer that never reported (MMP minimal mode, or only one-way
    /// traffic) keeps `slow`, and nothing is ever longer than `slow`.
    pub fn dead_after(&self, srtt: Option<Duration>, slow: Duration) -> Duration {
        if self.seen < MIN_PEER_REPORTS {
            return slow;
        }
        let expected = expected_interval(srtt);
        (expected.max(self.longest_wait) * MISSED_REPORTS)
            .max(FAST_DEAD_FLOOR)
            .min(slow)
    }
}

/// The session report interval a peer uses: clamp(2 × SRTT, 500 ms, 10 s),
/// the cold-start interval while SRTT is unknown.
pub(crate) fn expected_interval(srtt: Option<Duration>) -> Duration {
    let s = ReportSchedule::SESSION;
    srtt.map_or(s.cold_start, |r| (r * 2).clamp(s.min, s.max))
}

/// Our session MMP: what we report to the peer and what its reports
/// measured (SRTT).
#[derive(Debug)]
pub(crate) struct SessionMmp {
    pub rx: MmpReceiver,
    pub metrics: MmpMetrics,
    pub reports: PeerReports,
}

impl SessionMmp {
    pub fn new() -> Self {
        SessionMmp {
            rx: MmpReceiver::with_schedule(ReportSchedule::SESSION),
            metrics: MmpMetrics::new(),
            reports: PeerReports::default(),
        }
    }

    pub fn srtt(&self) -> Option<Duration> {
        let ms = self.metrics.srtt_ms()?;
        (ms.is_finite() && ms >= 0.0).then(|| Duration::from_secs_f64(ms.min(1e9) / 1000.0))
    }

    /// The peer's ReceiverReport, read at `now_ts_ms` on our session
    /// clock: counts as a sign of life and, when it is in order, as an
    /// RTT sample that sets our own report interval (2 × SRTT).
    pub fn on_peer_report(&mut self, now: Instant, now_ts_ms: u32, rr: &ReceiverReport) {
        self.reports.on_report(now);
        let fields = ReportFields::from(*rr);
        if self.metrics.on_receiver_report(&fields, now_ts_ms).is_ok() {
            if let Some(s) = self.metrics.srtt_ms() {
                self.rx.on_srtt_sample(2.0 * s);
            }
        }
    }

    /// The report we owe the peer, if one is due.
    pub fn take_due_report(&mut self, now: Instant) -> Option<ReceiverReport> {
        if !self.rx.report_due(now) {
            return None;
        }
        self.rx.build_report(now).map(ReceiverReport::from)
    }

    /// The peer's counters restart with new keys.
    pub fn reset_for_rekey(&mut self) {
        self.rx.reset_for_rekey();
        self.metrics.reset_for_rekey();
    }

    pub fn dead_after(&self, slow: Duration) -> Duration {
        self.reports.dead_after(self.srtt(), slow)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SLOW: Duration = Duration::from_secs(30);

    fn reporting(waits_ms: &[u64]) -> PeerReports {
        let t0 = Instant::now();
        let mut r = PeerReports::default();
        let mut t = t0;
        for w in waits_ms {
            r.on_data_sent(t);
            t += Duration::from_millis(*w);
            r.on_report(t);
        }
        r
    }

    #[test]
    fn a_peer_that_never_reported_keeps_the_slow_rule() {
        let r = reporting(&[]);
        assert_eq!(r.dead_after(None, SLOW), SLOW);
        assert_eq!(r.dead_after(Some(Duration::from_millis(1)), SLOW), SLOW);
    }

    #[test]
    fn a_few_reports_are_not_enough_to_shorten_the_rule() {
        assert_eq!(
            reporting(&[800, 900, 1000, 700]).dead_after(None, SLOW),
            SLOW
        );
    }

    #[test]
    fn a_reporting_peer_on_a_short_path_is_dead_after_three_seconds() {
        let r = reporting(&[900, 1000, 700, 1000, 1000]);
        assert_eq!(r.dead_after(None, SLOW), FAST_DEAD_FLOOR);
        assert_eq!(
            r.dead_after(Some(Duration::from_millis(5)), SLOW),
            FAST_DEAD_FLOOR
        );
    }

    #[test]
    fn a_slow_reporter_gets_three_of_its_longest_waits() {
        let r = reporting(&[1000, 4000, 2000, 1000, 1000]);
        assert_eq!(r.dead_after(None, SLOW), Duration::from_secs(12));
    }

    #[test]
    fn a_long_rtt_stretches_the_rule_to_three_expected_intervals() {
        let r = reporting(&[600; 5]);
        let srtt = Duration::from_millis(2500); // interval 5 s
        assert_eq!(r.dead_after(Some(srtt), SLOW), Duration::from_secs(15));
    }

    #[test]
    fn nothing_is_longer_than_the_slow_rule() {
        let r = reporting(&[1000, 20_000, 1000, 1000, 1000]);
        assert_eq!(r.dead_after(None, SLOW), SLOW);
    }

    #[test]
    fn the_expected_interval_is_twice_srtt_within_the_session_bounds() {
        assert_eq!(expected_interval(None), Duration::from_secs(1));
        let ms = Duration::from_millis;
        assert_eq!(expected_interval(Some(ms(10))), ms(500));
        assert_eq!(expected_interval(Some(ms(700))), ms(1400));
        assert_eq!(expected_interval(Some(ms(9000))), Duration::from_secs(10));
    }
}
