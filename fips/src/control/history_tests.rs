use std::time::{Duration, Instant};

use super::*;

fn peer(n: u8, bytes_in: u64) -> PeerSample {
    PeerSample {
        node_addr: format!("{n:032x}"),
        label: PeerLabel::Text {
            npub: format!("npub-{n}"),
            display_name: format!("peer-{n}"),
        },
        srtt_ms: Some(1.5),
        loss_rate: Some(0.1),
        bytes_in_total: bytes_in,
        ..PeerSample::default()
    }
}

fn node(bytes_in: u64, parent: &str) -> NodeSample {
    NodeSample {
        mesh_size: Some(5),
        tree_depth: 2,
        peer_count: 1,
        parent: parent.into(),
        bytes_in_total: bytes_in,
        ..NodeSample::default()
    }
}

const MIN: Duration = Duration::from_secs(60);

#[test]
fn counters_become_per_second_deltas_and_gauges_are_kept_as_sampled() {
    let (mut h, t) = (StatsHistory::default(), Instant::now());
    for (i, total) in [100u64, 150, 400].into_iter().enumerate() {
        h.tick(t + Duration::from_secs(i as u64), &node(total, "p"), &[]);
    }
    let w = Duration::from_secs(3);
    assert_eq!(
        h.series(Metric::BytesIn, w, Granularity::Second),
        [0.0, 50.0, 250.0]
    );
    assert_eq!(h.series(Metric::MeshSize, w, Granularity::Second), [5.0; 3]);
}

#[test]
fn a_window_longer_than_the_history_is_front_padded_with_gaps() {
    let (mut h, t) = (StatsHistory::default(), Instant::now());
    h.tick(t, &node(0, "p"), &[]);
    let s = h.series(
        Metric::TreeDepth,
        Duration::from_secs(4),
        Granularity::Second,
    );
    assert_eq!(s.len(), 4);
    assert!(s[..3].iter().all(|v| v.is_nan()));
    assert_eq!(s[3], 2.0);
}

#[test]
fn rings_stay_at_their_fixed_size_however_long_the_node_runs() {
    let (mut h, t) = (StatsHistory::default(), Instant::now());
    let ticks = FAST_SLOTS as u64 + 3 * PER_MINUTE;
    for i in 0..ticks {
        h.tick(t + Duration::from_secs(i), &node(i, "p"), &[peer(1, i)]);
    }
    let day = Duration::from_secs(48 * 3600);
    assert_eq!(
        h.series(Metric::BytesIn, day, Granularity::Second).len(),
        FAST_SLOTS
    );
    assert_eq!(h.rings[Metric::BytesIn as usize].fast.len(), FAST_SLOTS);
    let slow = &h.rings[Metric::BytesIn as usize].slow;
    assert_eq!(slow.len() as u64, ticks / PER_MINUTE);
    assert_eq!(slow.back().copied(), Some(1.0), "a minute of 1/s means 1/s");
    let p = h.peer(&format!("{:032x}", 1)).expect("tracked");
    assert_eq!(p.rings[0].fast.len(), FAST_SLOTS);
}

#[test]
fn minutes_fold_by_last_sum_or_mean() {
    let (mut h, t) = (StatsHistory::default(), Instant::now());
    for i in 0..PER_MINUTE {
        // The parent changes every second: 59 switches in 60 ticks.
        let parent = if i % 2 == 1 { "b" } else { "a" };
        h.tick(t + Duration::from_secs(i), &node(i * 10, parent), &[]);
    }
    let one = |m| h.series(m, MIN, Granularity::Minute);
    assert_eq!(one(Metric::ParentSwitches), [59.0]);
    assert_eq!(one(Metric::TreeDepth), [2.0]);
    let mean = one(Metric::BytesIn)[0];
    assert!((mean - 590.0 / 60.0).abs() < 0.01, "{mean}");
    assert_eq!(h.parent_switches(), 59);
}

#[test]
fn a_new_peer_lines_up_with_the_node_and_an_absent_one_leaves_gaps() {
    let (mut h, t) = (StatsHistory::default(), Instant::now());
    h.tick(t, &node(0, "p"), &[]);
    h.tick(t + Duration::from_secs(1), &node(0, "p"), &[peer(1, 10)]);
    h.tick(t + Duration::from_secs(2), &node(0, "p"), &[peer(1, 30)]);
    h.tick(t + Duration::from_secs(3), &node(0, "p"), &[]);
    h.tick(t + Duration::from_secs(4), &node(0, "p"), &[peer(1, 100)]);
    let p = h.peer(&format!("{:032x}", 1)).expect("tracked");
    let s = p.series(
        PeerMetric::BytesIn,
        Duration::from_secs(5),
        Granularity::Second,
    );
    let shown: Vec<Option<f32>> = s.iter().map(|v| (!v.is_nan()).then_some(*v)).collect();
    // Back-fill, first sight (no baseline), a delta, absent, no baseline.
    assert_eq!(shown, [None, None, Some(20.0), None, None]);
    assert!(p.active);
}

#[test]
fn a_hub_with_ten_thousand_peers_up_tracks_sixteen_and_counts_the_rest() {
    let (mut h, t) = (StatsHistory::default(), Instant::now());
    let hub: Vec<PeerSample> = (0..10_000u32)
        .map(|n| PeerSample {
            node_addr: format!("{n:032x}"),
            bytes_in_total: u64::from(n),
            ..PeerSample::default()
        })
        .collect();
    for i in 0..3 {
        h.tick(t + Duration::from_secs(i), &node(0, "p"), &hub);
    }
    assert_eq!(h.peers().count(), MAX_PEERS);
    assert_eq!(h.untracked, 3 * (10_000 - MAX_PEERS as u64));
    assert!(h.peers().all(|(_, p)| p.active));
    // One tracked peer goes: the first newcomer in line takes its slot.
    let gone = format!("{:032x}", 3);
    let rest: Vec<PeerSample> = hub
        .iter()
        .filter(|s| s.node_addr != gone)
        .cloned()
        .collect();
    h.tick(t + Duration::from_secs(3), &node(0, "p"), &rest);
    assert!(h.peer(&gone).is_none());
    assert!(h.peer(&format!("{:032x}", MAX_PEERS)).is_some());
}

#[test]
fn tracked_peers_are_capped_and_a_gone_peer_makes_room() {
    let (mut h, t) = (StatsHistory::default(), Instant::now());
    let many: Vec<PeerSample> = (0..MAX_PEERS as u8 + 2).map(|n| peer(n, 0)).collect();
    h.tick(t, &node(0, "p"), &many);
    assert_eq!(h.peers().count(), MAX_PEERS);
    assert_eq!(h.untracked, 2);
    let fewer = &many[1..MAX_PEERS];
    h.tick(t + Duration::from_secs(1), &node(0, "p"), fewer);
    let newcomer = [fewer.to_vec(), vec![peer(200, 0)]].concat();
    h.tick(t + Duration::from_secs(2), &node(0, "p"), &newcomer);
    assert_eq!(h.peers().count(), MAX_PEERS);
    assert!(h.peer(&format!("{:032x}", 200)).is_some());
    assert!(
        h.peer(&format!("{:032x}", 0)).is_none(),
        "the gone peer left"
    );
}

#[test]
fn peers_gone_a_day_are_forgotten() {
    let (mut h, t) = (StatsHistory::default(), Instant::now());
    h.tick(t, &node(0, "p"), &[peer(1, 0)]);
    h.tick(t + PEER_RETENTION, &node(0, "p"), &[]);
    assert_eq!(h.peers().count(), 0);
}
