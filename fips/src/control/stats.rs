//! The stats-history commands the reference's fipstop uses for its Graphs
//! tab — `show_stats_list`, `show_stats_history`, `show_stats_all_history`,
//! `show_stats_peers`, `show_stats_history_all_peers` — parsed from their
//! params and answered from a [`StatsHistory`] with the reference's field
//! names, units and granularities (`1s`, `1m`).

use std::time::{Duration, Instant};

use fips_proto::identity::PeerIdentity;
use serde_json::{Map, Value};

use super::history::{Granularity, Metric, PeerMetric, PeerRings, StatsHistory};
use super::proto::Response;
use super::reply::history as history_reply;
use super::reply::history::{AllSeries, Series};

/// Window and ring of a history query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub window: Duration,
    pub granularity: Granularity,
}

/// A history request's params on the wire.
#[derive(serde::Serialize)]
struct Params<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    metric: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    peer: Option<&'a str>,
    window: String,
    granularity: &'static str,
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
        let (metric, peer, span) = match self {
            StatsRequest::List | StatsRequest::Peers => return None,
            StatsRequest::History { metric, peer, span } => (Some(metric.as_str()), peer, span),
            StatsRequest::AllHistory { peer, span } => (None, peer, span),
            StatsRequest::AllPeers { metric, span } => (Some(metric.name()), &None, span),
        };
        let params = Params {
            metric,
            peer: peer.as_deref(),
            window: format!("{}s", span.window.as_secs()),
            granularity: span.granularity.as_str(),
        };
        match serde_json::to_value(params) {
            Ok(Value::Object(map)) => Some(map),
            _ => None,
        }
    }

    /// The reply, read from `history` at `now`.
    pub fn answer(&self, history: &StatsHistory, now: Instant) -> Response {
        match self {
            StatsRequest::List => Response::ok_from(&history_reply::list()),
            StatsRequest::Peers => Response::ok_from(&history_reply::peers(history, now)),
            StatsRequest::History { metric, peer, span } => {
                one_series(history, metric, peer.as_deref(), *span)
            }
            StatsRequest::AllHistory { peer, span } => all_series(history, peer.as_deref(), *span),
            StatsRequest::AllPeers { metric, span } => {
                Response::ok_from(&history_reply::by_peer(history, *metric, *span))
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
            Some(m) => Response::ok_from(&Series::node(history, m, span)),
            None => Response::error(format!("unknown metric: {metric}")),
        };
    };
    let Some(m) = PeerMetric::from_name(metric) else {
        return Response::error(format!("unknown peer metric: {metric}"));
    };
    match tracked(history, npub) {
        Ok(rings) => Response::ok_from(&Series::peer(rings, m, span)),
        Err(e) => e,
    }
}

fn all_series(history: &StatsHistory, peer: Option<&str>, span: Span) -> Response {
    let series: Vec<Series> = match peer {
        None => Metric::ALL
            .iter()
            .map(|m| Series::node(history, *m, span))
            .collect(),
        Some(npub) => match tracked(history, npub) {
            Ok(rings) => PeerMetric::ALL
                .iter()
                .map(|m| Series::peer(rings, *m, span))
                .collect(),
            Err(e) => return e,
        },
    };
    Response::ok_from(&AllSeries::new(span, peer, series))
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
        let Response::Ok(v) =
            StatsRequest::AllHistory { peer: None, span }.answer(&h, Instant::now())
        else {
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
