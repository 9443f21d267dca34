//! The stats-history commands the reference's fipstop uses for its Graphs
//! tab — `show_stats_list`, `show_stats_history`, `show_stats_all_history`,
//! `show_stats_peers`, `show_stats_history_all_peers` — parsed from their
//! params and answered from a [`StatsHistory`] with the reference's field
//! names, units and granularities (`1s`, `1m`).

use std::time::Duration;

use fips_proto::identity::PeerIdentity;
use serde_json::{json, Map, Value};

use super::history::{
    samples_json, Granularity, Metric, PeerMetric, PeerRings, StatsHistory, FAST_SLOTS,
    PEER_RETENTION, SLOW_SLOTS,
};
use super::proto::Response;

/// Window and ring of a history query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub window: Duration,
    pub granularity: Granularity,
}

/// One stats-history request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatsRequest {
    List,
    /// One series: a node metric, or a peer metric when `peer` is given.
    History {
        metric: String,
        peer: Option<String>,
        span: Span,
    },
    /// Every node metric, or every metric of one peer.
    AllHistory {
        peer: Option<String>,
        span: Span,
    },
    Peers,
    /// One peer metric across every tracked peer.
    AllPeers {
        metric: PeerMetric,
        span: Span,
    },
}

const LIST: &str = "show_stats_list";
const HISTORY: &str = "show_stats_history";
const ALL_HISTORY: &str = "show_stats_all_history";
const PEERS: &str = "show_stats_peers";
const ALL_PEERS: &str = "show_stats_history_all_peers";

impl StatsRequest {
    /// The command names this module answers.
    pub const NAMES: [&'static str; 5] = [LIST, HISTORY, ALL_HISTORY, PEERS, ALL_PEERS];

    /// Parses a request; None if `name` is not a stats command.
    pub fn parse(name: &str, params: Option<&Map<String, Value>>) -> Option<Result<Self, String>> {
        let text = |k: &str| params.and_then(|p| p.get(k)).and_then(Value::as_str);
        let metric = || text("metric").ok_or_else(|| "missing 'metric' parameter".to_string());
        let need_params = |cmd: &str| {
            params
                .map(|_| ())
                .ok_or_else(|| format!("missing params for {cmd}"))
        };
        let span = || parse_span(text("window"), text("granularity"));
        let peer = text("peer").map(str::to_string);
        Some(match name {
            LIST => Ok(StatsRequest::List),
            PEERS => Ok(StatsRequest::Peers),
            HISTORY => need_params(HISTORY).and_then(|()| {
                Ok(StatsRequest::History {
                    metric: metric()?.to_string(),
                    peer,
                    span: span()?,
                })
            }),
            ALL_HISTORY => span().map(|span| StatsRequest::AllHistory { peer, span }),
            ALL_PEERS => need_params(ALL_PEERS).and_then(|()| {
                let name = metric()?;
                let metric = PeerMetric::from_name(name)
                    .ok_or_else(|| format!("unknown peer metric: {name}"))?;
                Ok(StatsRequest::AllPeers {
                    metric,
                    span: span()?,
                })
            }),
            _ => return None,
        })
    }

    pub fn name(&self) -> &'static str {
        match self {
            StatsRequest::List => LIST,
            StatsRequest::History { .. } => HISTORY,
            StatsRequest::AllHistory { .. } => ALL_HISTORY,
            StatsRequest::Peers => PEERS,
            StatsRequest::AllPeers { .. } => ALL_PEERS,
        }
    }

    /// The request's params as they travel.
    pub fn params(&self) -> Option<Map<String, Value>> {
        let span_params = |s: &Span| {
            Map::from_iter([
                ("window".into(), json!(format!("{}s", s.window.as_secs()))),
                ("granularity".into(), json!(s.granularity.as_str())),
            ])
        };
        match self {
            StatsRequest::List | StatsRequest::Peers => None,
            StatsRequest::History { metric, peer, span } => {
                let mut p = span_params(span);
                p.insert("metric".into(), json!(metric));
                if let Some(peer) = peer {
                    p.insert("peer".into(), json!(peer));
                }
                Some(p)
            }
            StatsRequest::AllHistory { peer, span } => {
                let mut p = span_params(span);
                if let Some(peer) = peer {
                    p.insert("peer".into(), json!(peer));
                }
                Some(p)
            }
            StatsRequest::AllPeers { metric, span } => {
                let mut p = span_params(span);
                p.insert("metric".into(), json!(metric.name()));
                Some(p)
            }
        }
    }

    /// The reply, read from `history`.
    pub fn answer(&self, history: &StatsHistory) -> Response {
        match self {
            StatsRequest::List => Response::Ok(list()),
            StatsRequest::Peers => Response::Ok(peers(history)),
            StatsRequest::History { metric, peer, span } => {
                one_series(history, metric, peer.as_deref(), *span)
            }
            StatsRequest::AllHistory { peer, span } => all_series(history, peer.as_deref(), *span),
            StatsRequest::AllPeers { metric, span } => {
                Response::Ok(by_peer(history, *metric, *span))
            }
        }
    }
}

/// `window` as `<N>s`, `<N>m` or `<N>h` (default 10m), `granularity` as
/// `1s` or `1m` (default 1s).
fn parse_span(window: Option<&str>, granularity: Option<&str>) -> Result<Span, String> {
    let w = window.unwrap_or("10m");
    let (n, unit) = w.split_at(w.len().saturating_sub(1));
    let n: u64 = n
        .parse()
        .map_err(|_| format!("invalid window: {w} (expected a number then s, m or h, e.g. 10m)"))?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => return Err(format!("unknown window unit in {w} (expected s, m or h)")),
    };
    let secs = n
        .checked_mul(scale)
        .ok_or_else(|| format!("window too long: {w}"))?;
    let g = granularity.unwrap_or("1s");
    let granularity = Granularity::parse(g)
        .ok_or_else(|| format!("unknown granularity: {g} (expected 1s or 1m)"))?;
    Ok(Span {
        window: Duration::from_secs(secs),
        granularity,
    })
}

fn series_json(metric: &str, unit: &str, span: Span, samples: &[f32]) -> Value {
    json!({
        "metric": metric,
        "unit": unit,
        "granularity_seconds": span.granularity.seconds(),
        "values": samples_json(samples),
    })
}

fn list() -> Value {
    let node = Metric::ALL
        .iter()
        .map(|m| json!({ "name": m.name(), "unit": m.unit(), "scope": "node" }));
    let peer = PeerMetric::ALL
        .iter()
        .map(|m| json!({ "name": m.name(), "unit": m.unit(), "scope": "peer" }));
    json!({
        "metrics": node.chain(peer).collect::<Vec<_>>(),
        "fast_ring_seconds": FAST_SLOTS,
        "slow_ring_minutes": SLOW_SLOTS,
        "peer_retention_seconds": PEER_RETENTION.as_secs(),
    })
}

/// The tracked peer an npub names, or the reply's error.
fn tracked<'a>(history: &'a StatsHistory, npub: &str) -> Result<&'a PeerRings, Response> {
    let id = PeerIdentity::from_npub(npub)
        .map_err(|e| Response::error(format!("invalid peer npub: {e}")))?;
    history
        .peer(&id.node_addr().to_hex())
        .ok_or_else(|| Response::error(format!("peer not tracked in stats history: {npub}")))
}

fn one_series(history: &StatsHistory, metric: &str, peer: Option<&str>, span: Span) -> Response {
    let Some(npub) = peer else {
        return match Metric::from_name(metric) {
            Some(m) => Response::Ok(series_json(
                m.name(),
                m.unit(),
                span,
                &history.series(m, span.window, span.granularity),
            )),
            None => Response::error(format!("unknown metric: {metric}")),
        };
    };
    let Some(m) = PeerMetric::from_name(metric) else {
        return Response::error(format!("unknown peer metric: {metric}"));
    };
    match tracked(history, npub) {
        Ok(rings) => Response::Ok(series_json(
            m.name(),
            m.unit(),
            span,
            &rings.series(m, span.window, span.granularity),
        )),
        Err(e) => e,
    }
}

fn all_series(history: &StatsHistory, peer: Option<&str>, span: Span) -> Response {
    let (w, g) = (span.window, span.granularity);
    let series: Vec<Value> = match peer {
        None => Metric::ALL
            .iter()
            .map(|m| series_json(m.name(), m.unit(), span, &history.series(*m, w, g)))
            .collect(),
        Some(npub) => match tracked(history, npub) {
            Ok(rings) => PeerMetric::ALL
                .iter()
                .map(|m| series_json(m.name(), m.unit(), span, &rings.series(*m, w, g)))
                .collect(),
            Err(e) => return e,
        },
    };
    Response::Ok(json!({
        "granularity_seconds": g.seconds(),
        "window_seconds": w.as_secs(),
        "peer": peer,
        "series": series,
    }))
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

fn peers(history: &StatsHistory) -> Value {
    let now = std::time::Instant::now();
    let list: Vec<Value> = sorted(history)
        .into_iter()
        .map(|(addr, p)| {
            json!({
                "npub": p.npub,
                "node_addr": addr,
                "display_name": p.display_name,
                "is_active": p.active,
                "first_seen_secs_ago": now.saturating_duration_since(p.first_seen).as_secs(),
                "last_contact_secs_ago": now.saturating_duration_since(p.last_contact).as_secs(),
            })
        })
        .collect();
    json!({ "count": list.len(), "peers": list })
}

fn by_peer(history: &StatsHistory, metric: PeerMetric, span: Span) -> Value {
    let list: Vec<Value> = sorted(history)
        .into_iter()
        .map(|(addr, p)| {
            json!({
                "node_addr": addr,
                "display_name": p.display_name,
                "is_active": p.active,
                "values": samples_json(&p.series(metric, span.window, span.granularity)),
            })
        })
        .collect();
    json!({
        "metric": metric.name(),
        "unit": metric.unit(),
        "granularity_seconds": span.granularity.seconds(),
        "window_seconds": span.window.as_secs(),
        "peers": list,
    })
}

#[cfg(test)]
mod tests {
    use super::super::proto::Command;
    use super::*;

    #[test]
    fn stats_requests_travel_as_the_reference_writes_them_and_back() {
        let line = br#"{"command":"show_stats_history","params":{"metric":"srtt_ms","peer":"npub1x","window":"1h","granularity":"1m"}}"#;
        let cmd = Command::parse_line(line).expect("parses");
        let want = StatsRequest::History {
            metric: "srtt_ms".into(),
            peer: Some("npub1x".into()),
            span: Span {
                window: Duration::from_secs(3600),
                granularity: Granularity::Minute,
            },
        };
        assert_eq!(cmd, Command::Stats(want));
        let again = Command::parse_line(cmd.to_line().as_bytes()).expect("round trip");
        assert_eq!(again, cmd);
        let bare = Command::parse_line(br#"{"command":"show_stats_all_history"}"#);
        assert!(matches!(
            bare,
            Ok(Command::Stats(StatsRequest::AllHistory { peer: None, span }))
                if span.window == Duration::from_secs(600) && span.granularity == Granularity::Second
        ));
    }

    #[test]
    fn an_empty_history_answers_full_width_series_of_gaps() {
        let h = StatsHistory::default();
        let span = parse_span(Some("30s"), None).expect("span");
        let Response::Ok(v) = StatsRequest::AllHistory { peer: None, span }.answer(&h) else {
            panic!("error reply");
        };
        let series = v["series"].as_array().expect("series");
        assert_eq!(series.len(), Metric::ALL.len());
        assert!(series.iter().all(|s| s["values"]
            .as_array()
            .is_some_and(|v| v.len() == 30 && v.iter().all(Value::is_null))));
        assert!(parse_span(Some("99999999999999999h"), None).is_err());
    }
}
