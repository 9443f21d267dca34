// Tests unwrap freely: a panic is a failed assertion here.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use super::*;

fn rr(highest: u64, packets: u64, echo: u32, dwell: u16) -> ReportFields {
    ReportFields {
        highest_counter: highest,
        cumulative_packets: packets,
        cumulative_bytes: packets * 100,
        timestamp_echo: echo,
        dwell_ms: dwell,
        ..ReportFields::default()
    }
}

fn ms(t0: Instant, n: u64) -> Instant {
    t0 + Duration::from_millis(n)
}

#[test]
fn rtt_is_now_minus_echo_minus_dwell() {
    let mut m = MmpMetrics::new();
    assert_eq!(
        m.on_receiver_report(&rr(10, 10, 1000, 5), 1050),
        Ok(Some(45))
    );
    assert_eq!(m.srtt_ms(), Some(45.0));
    assert_eq!(m.rttvar_ms(), 22.5);
}

#[test]
fn srtt_follows_rfc6298_smoothing() {
    let mut m = MmpMetrics::new();
    m.on_receiver_report(&rr(10, 10, 1000, 5), 1050).unwrap();
    assert_eq!(
        m.on_receiver_report(&rr(20, 20, 2000, 0), 2085),
        Ok(Some(85))
    );
    // SRTT = 7/8 * 45 + 1/8 * 85; RTTVAR = 3/4 * 22.5 + 1/4 * |45 - 85|.
    assert_eq!(m.srtt_ms(), Some(50.0));
    assert_eq!(m.rttvar_ms(), 26.875);
}

#[test]
fn ignores_rtt_samples_that_are_not_positive_or_have_no_echo() {
    let mut m = MmpMetrics::new();
    assert_eq!(m.on_receiver_report(&rr(1, 1, 1000, 50), 1050), Ok(None));
    assert_eq!(m.on_receiver_report(&rr(2, 2, 1000, 60), 1050), Ok(None));
    assert_eq!(m.on_receiver_report(&rr(3, 3, 0, 0), 1050), Ok(None));
    assert_eq!(m.on_receiver_report(&rr(4, 4, u32::MAX, 9), 5), Ok(None));
    assert_eq!(m.srtt_ms(), None);
    assert_eq!(m.link_cost(), None);
}

#[test]
fn ignores_duplicate_and_backwards_reports() {
    let mut m = MmpMetrics::new();
    m.on_receiver_report(&rr(20, 20, 1000, 0), 1040).unwrap();
    assert_eq!(
        m.on_receiver_report(&rr(20, 20, 1100, 0), 1110),
        Err(MmpError::Duplicate {
            highest_counter: 20
        })
    );
    assert_eq!(
        m.on_receiver_report(&rr(19, 21, 1100, 0), 1110),
        Err(MmpError::Regressed {
            highest_counter: 19,
            previous: 20
        })
    );
    assert_eq!(
        m.srtt_ms(),
        Some(40.0),
        "ignored reports must not feed SRTT"
    );
}

#[test]
fn loss_and_etx_come_from_counter_deltas() {
    let mut m = MmpMetrics::new();
    m.on_receiver_report(&rr(10, 10, 1000, 0), 1050).unwrap();
    assert_eq!(m.loss_rate(), 0.0);
    // 20 counters sent, 15 received.
    m.on_receiver_report(&rr(30, 25, 2000, 0), 2050).unwrap();
    assert!((m.loss_rate() - 0.25).abs() < 1e-12);
    assert!((m.etx() - 1.0 / 0.75).abs() < 1e-12);
    // Reverse direction: we got 5 of the peer's 10 frames.
    m.update_reverse(100, 200);
    m.update_reverse(105, 210);
    assert!((m.etx() - 1.0 / 0.375).abs() < 1e-12);
    // Cost uses SRTT 50 ms: etx * 1.5.
    assert!((m.link_cost().unwrap() - 1.5 / 0.375).abs() < 1e-9);
}

#[test]
fn etx_is_clamped_between_one_and_a_hundred() {
    assert_eq!(compute_etx(1.0, 1.0), 1.0);
    assert_eq!(compute_etx(0.0, 1.0), 100.0);
    assert_eq!(compute_etx(0.001, 1.0), 100.0);
    assert_eq!(compute_etx(0.5, 0.5), 4.0);
}

#[test]
fn report_counts_frames_bytes_reorders_and_loss_bursts() {
    let t0 = Instant::now();
    let mut r = MmpReceiver::new();
    for c in [0u64, 1, 2, 3, 6, 7, 5, 8, 9] {
        r.on_frame(c, 100, 1000 + c as u32, ms(t0, c));
    }
    let rep = r.build_report(ms(t0, 12)).unwrap();
    assert_eq!(rep.highest_counter, 9);
    assert_eq!(rep.cumulative_packets, 9);
    assert_eq!(rep.cumulative_bytes, 900);
    assert_eq!((rep.interval_packets, rep.interval_bytes), (9, 900));
    assert_eq!(rep.reorder, 1);
    assert_eq!(
        (rep.burst_count, rep.max_burst, rep.mean_burst),
        (1, 2, 512)
    );
    assert_eq!((rep.timestamp_echo, rep.dwell_ms), (1009, 3));
    // Nothing new since: no report, interval counters reset.
    assert_eq!(r.build_report(ms(t0, 20)), None);
    r.on_frame(10, 50, 1010, ms(t0, 30));
    let rep = r.build_report(ms(t0, 30)).unwrap();
    assert_eq!((rep.interval_packets, rep.cumulative_packets), (1, 10));
    assert_eq!(rep.burst_count, 0);
}

#[test]
fn report_suppresses_echo_when_dwell_overflows() {
    let t0 = Instant::now();
    let mut r = MmpReceiver::new();
    r.on_frame(0, 10, 500, t0);
    let rep = r.build_report(t0 + Duration::from_secs(70)).unwrap();
    assert_eq!((rep.timestamp_echo, rep.dwell_ms), (0, u16::MAX));
}

#[test]
fn jitter_grows_only_when_arrival_spacing_differs_from_send_spacing() {
    let t0 = Instant::now();
    let mut steady = MmpReceiver::new();
    let mut jittery = MmpReceiver::new();
    for i in 0..10u32 {
        steady.on_frame(u64::from(i), 10, i * 10, ms(t0, u64::from(i) * 10));
        let wobble = if i % 2 == 0 { 0 } else { 4 };
        jittery.on_frame(u64::from(i), 10, i * 10, ms(t0, u64::from(i) * 10 + wobble));
    }
    assert_eq!(steady.build_report(ms(t0, 100)).unwrap().jitter_us, 0);
    assert!(jittery.build_report(ms(t0, 100)).unwrap().jitter_us > 1000);
}

#[test]
fn reports_start_at_cold_start_pace_then_adapt_to_srtt_within_bounds() {
    let t0 = Instant::now();
    let mut r = MmpReceiver::new();
    assert_eq!(r.next_report_at(), None);
    r.on_frame(0, 10, 1, t0);
    assert!(r.report_due(t0), "first report goes out at once");
    r.build_report(t0).unwrap();
    r.on_frame(1, 10, 2, ms(t0, 10));
    assert_eq!(r.next_report_at(), Some(ms(t0, 200)));
    assert!(!r.report_due(ms(t0, 199)));
    for _ in 0..COLD_START_SAMPLES {
        r.on_srtt_sample(3.0);
        assert_eq!(r.report_interval(), COLD_START_INTERVAL);
    }
    r.on_srtt_sample(3.0);
    assert_eq!(r.report_interval(), Duration::from_secs(1));
    r.on_srtt_sample(2500.0);
    assert_eq!(r.report_interval(), Duration::from_millis(2500));
    r.on_srtt_sample(60_000.0);
    assert_eq!(r.report_interval(), Duration::from_secs(5));
    r.on_srtt_sample(-1.0);
    assert_eq!(r.report_interval(), Duration::from_secs(5));
}

#[test]
fn round_trip_through_receiver_and_metrics_measures_the_path() {
    // Our link clock reads 1000 when we send; one way takes 20 ms, the
    // peer holds the frame 5 ms before reporting.
    let t0 = Instant::now();
    let mut peer = MmpReceiver::new();
    peer.on_frame(0, 80, 1000, ms(t0, 20));
    let rep = peer.build_report(ms(t0, 25)).unwrap();
    assert_eq!(rep.dwell_ms, 5);
    let mut ours = MmpMetrics::new();
    assert_eq!(ours.on_receiver_report(&rep, 1045), Ok(Some(40)));
    assert_eq!(ours.link_cost(), Some(1.4));
}

#[test]
fn rekey_reset_accepts_reports_whose_counters_restart() {
    let mut m = MmpMetrics::new();
    m.on_receiver_report(&rr(500, 500, 1000, 0), 1030).unwrap();
    m.reset_for_rekey();
    assert_eq!(m.on_receiver_report(&rr(3, 3, 2000, 0), 2030), Ok(Some(30)));
    let t0 = Instant::now();
    let mut r = MmpReceiver::new();
    r.on_frame(900, 10, 1, t0);
    r.reset_for_rekey();
    r.on_frame(0, 10, 2, ms(t0, 1));
    let rep = r.build_report(ms(t0, 2)).unwrap();
    assert_eq!((rep.highest_counter, rep.cumulative_packets), (0, 2));
}

#[test]
fn goodput_is_confirmed_bytes_per_second_smoothed_by_a_quarter() {
    let mut m = MmpMetrics::new();
    m.on_receiver_report(&rr(10, 10, 0, 0), 1000).unwrap();
    assert_eq!(m.goodput_bps(), 0.0, "one report gives no rate");
    // 10 more packets of 100 bytes over 500 ms: 2000 B/s.
    m.on_receiver_report(&rr(20, 20, 0, 0), 1500).unwrap();
    assert_eq!(m.goodput_bps(), 2000.0);
    // 1000 bytes over 1 s: 1000 B/s, pulled in by a quarter.
    m.on_receiver_report(&rr(30, 30, 0, 0), 2500).unwrap();
    assert_eq!(m.goodput_bps(), 1750.0);
}

#[test]
fn counters_split_accepted_and_rejected_reports_and_rtt_samples() {
    let mut m = MmpMetrics::new();
    m.on_receiver_report(&rr(10, 10, 1000, 5), 1050).unwrap();
    m.on_receiver_report(&rr(10, 10, 1000, 5), 1060)
        .unwrap_err();
    m.on_receiver_report(&rr(20, 19, 0, 0), 2000).unwrap();
    let c = *m.counters();
    assert_eq!(
        (c.reports_received, c.reports_rejected, c.rtt_samples),
        (2, 1, 1)
    );
    assert_eq!(m.delivery_ratio_forward(), 0.9);
    let mut with_ce = rr(30, 29, 0, 0);
    with_ce.ecn_ce = 3;
    m.on_receiver_report(&with_ce, 3000).unwrap();
    assert_eq!(m.ecn_ce_count(), 3);
}

#[test]
fn session_reports_start_a_second_after_the_first_data_and_only_for_data() {
    let t0 = Instant::now();
    let mut r = MmpReceiver::with_schedule(ReportSchedule::SESSION);
    r.on_frame_unreported(0, 66, 1, t0);
    assert_eq!(r.next_report_at(), None, "a report alone calls for none");
    r.on_frame(1, 100, 2, ms(t0, 100));
    assert_eq!(r.next_report_at(), Some(ms(t0, 1000)));
    r.on_frame(2, 100, 3, ms(t0, 900));
    assert!(!r.report_due(ms(t0, 999)));
    let report = r.build_report(ms(t0, 1000)).unwrap();
    assert_eq!((report.highest_counter, report.cumulative_packets), (2, 3));
    r.on_frame(3, 100, 4, ms(t0, 1100));
    assert_eq!(r.next_report_at(), Some(ms(t0, 2000)));
    for _ in 0..=COLD_START_SAMPLES {
        r.on_srtt_sample(2.0 * 10.0);
    }
    assert_eq!(r.report_interval(), Duration::from_millis(500));
    r.on_srtt_sample(2.0 * 9000.0);
    assert_eq!(r.report_interval(), Duration::from_secs(10));
}
