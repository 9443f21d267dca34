//! The stats-history replies (`show_stats_*`) the reference's fipstop
//! reads for its Graphs tab, and the samples `show_status` shows inline.

use std::time::Instant;

use serde::ser::{Serialize, Serializer};

use crate::control::history::{
    Metric, PeerMetric, PeerRings, StatsHistory, FAST_SLOTS, PEER_RETENTION, SLOW_SLOTS,
};
use crate::control::Span;

/// Samples: gaps are `null`; each number is written as its shortest `f32`
/// form (0.1, not 0.10000000149).
pub(crate) struct Samples(pub Vec<f32>);

impl Serialize for Samples {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|v| {
            v.is_finite()
                .then(|| v.to_string().parse().unwrap_or(f64::from(*v)))
        }))
    }
}

/// One series of `show_stats_history` (and of `show_stats_all_history`).
#[derive(serde::Serialize)]
pub(crate) struct Series {
    metric: &'static str,
    unit: &'static str,
    granularity_seconds: u64,
    values: Samples,
}

impl Series {
    pub(crate) fn node(history: &StatsHistory, m: Metric, span: Span) -> Series {
        let values = history.series(m, span.window, span.granularity);
        Series::new(m.name(), m.unit(), span, values)
    }

    pub(crate) fn peer(rings: &PeerRings, m: PeerMetric, span: Span) -> Series {
        let values = rings.series(m, span.window, span.granularity);
        Series::new(m.name(), m.unit(), span, values)
    }

    fn new(metric: &'static str, unit: &'static str, span: Span, values: Vec<f32>) -> Series {
        Series {
            metric,
            unit,
            granularity_seconds: span.granularity.seconds(),
            values: Samples(values),
        }
    }
}

/// `show_stats_all_history`: every node metric, or every metric of a peer.
#[derive(serde::Serialize)]
pub(crate) struct AllSeries<'a> {
    granularity_seconds: u64,
    window_seconds: u64,
    peer: Option<&'a str>,
    series: Vec<Series>,
}

impl<'a> AllSeries<'a> {
    pub(crate) fn new(span: Span, peer: Option<&'a str>, series: Vec<Series>) -> Self {
        AllSeries {
            granularity_seconds: span.granularity.seconds(),
            window_seconds: span.window.as_secs(),
            peer,
            series,
        }
    }
}

/// `show_stats_list`.
#[derive(serde::Serialize)]
pub(crate) struct List {
    metrics: Vec<MetricInfo>,
    fast_ring_seconds: usize,
    slow_ring_minutes: usize,
    peer_retention_seconds: u64,
}

#[derive(serde::Serialize)]
struct MetricInfo {
    name: &'static str,
    unit: &'static str,
    scope: &'static str,
}

pub(crate) fn list() -> List {
    let node = Metric::ALL.iter().map(|m| MetricInfo {
        name: m.name(),
        unit: m.unit(),
        scope: "node",
    });
    let peer = PeerMetric::ALL.iter().map(|m| MetricInfo {
        name: m.name(),
        unit: m.unit(),
        scope: "peer",
    });
    List {
        metrics: node.chain(peer).collect(),
        fast_ring_seconds: FAST_SLOTS,
        slow_ring_minutes: SLOW_SLOTS,
        peer_retention_seconds: PEER_RETENTION.as_secs(),
    }
}

/// Tracked peers, up ones first, then by display name.
fn sorted(history: &StatsHistory) -> Vec<(&String, &PeerRings)> {
    let mut list: Vec<_> = history.peers().collect();
    list.sort_by(|(_, a), (_, b)| {
        b.active
            .cmp(&a.active)
            .then_with(|| a.display_name.cmp(&b.display_name))
    });
    list
}

/// `show_stats_peers`.
#[derive(serde::Serialize)]
pub(crate) struct Peers<'a> {
    count: usize,
    peers: Vec<TrackedPeer<'a>>,
}

#[derive(serde::Serialize)]
struct TrackedPeer<'a> {
    npub: &'a str,
    node_addr: &'a str,
    display_name: &'a str,
    is_active: bool,
    first_seen_secs_ago: u64,
    last_contact_secs_ago: u64,
}

pub(crate) fn peers(history: &StatsHistory, now: Instant) -> Peers<'_> {
    let ago = |t: Instant| now.saturating_duration_since(t).as_secs();
    let peers: Vec<TrackedPeer<'_>> = sorted(history)
        .into_iter()
        .map(|(addr, p)| TrackedPeer {
            npub: &p.npub,
            node_addr: addr,
            display_name: &p.display_name,
            is_active: p.active,
            first_seen_secs_ago: ago(p.first_seen),
            last_contact_secs_ago: ago(p.last_contact),
        })
        .collect();
    Peers {
        count: peers.len(),
        peers,
    }
}

/// `show_stats_history_all_peers`: one peer metric for every tracked peer.
#[derive(serde::Serialize)]
pub(crate) struct ByPeer<'a> {
    metric: &'static str,
    unit: &'static str,
    granularity_seconds: u64,
    window_seconds: u64,
    peers: Vec<PeerSeries<'a>>,
}

#[derive(serde::Serialize)]
struct PeerSeries<'a> {
    node_addr: &'a str,
    display_name: &'a str,
    is_active: bool,
    values: Samples,
}

pub(crate) fn by_peer(history: &StatsHistory, metric: PeerMetric, span: Span) -> ByPeer<'_> {
    let peers = sorted(history)
        .into_iter()
        .map(|(addr, p)| PeerSeries {
            node_addr: addr,
            display_name: &p.display_name,
            is_active: p.active,
            values: Samples(p.series(metric, span.window, span.granularity)),
        })
        .collect();
    ByPeer {
        metric: metric.name(),
        unit: metric.unit(),
        granularity_seconds: span.granularity.seconds(),
        window_seconds: span.window.as_secs(),
        peers,
    }
}

#[cfg(test)]
mod tests {
    use super::Samples;

    #[test]
    fn samples_print_short_and_gaps_print_null() {
        let v = serde_json::to_value(Samples(vec![0.1, f32::NAN, 3.0])).expect("json");
        assert_eq!(v.to_string(), "[0.1,null,3.0]");
    }
}
