//! `show_bloom`, `show_mmp`, `show_connections` and `show_identity_cache`:
//! the core's plain views under the reference's field names. Where the
//! node does not track a fact the reference reports, the reply says so by
//! shape (an absent key, a `null`, an always-empty list) rather than
//! inventing a value.

use std::time::Instant;

use fips_proto::bloom::BloomStats;
use fips_proto::mmp::MmpCounters;
use fips_proto::node::inspect::{
    ConnectionView, FilterFill, HandshakePhase, IdentityEntryView, PeerFilterView, PeerMmpView,
};
use fips_proto::node::Node;
use serde::Serialize;

use super::{direction, display_name, Named};

/// `show_bloom`.
#[derive(Serialize)]
pub(crate) struct Bloom {
    own_node_addr: String,
    /// We always forward: there is no leaf-only mode.
    is_leaf_only: bool,
    sequence: u64,
    /// Leaf-only nodes leaning on us; none, as we accept no leaf-only peers.
    leaf_dependent_count: usize,
    leaf_dependents: [String; 0],
    peer_filters: Vec<PeerFilter>,
    /// The filter last sent to our parent; `null` at the root or before
    /// the first send.
    uptree_fill_ratio: Option<f64>,
    uptree_estimated_count: Option<f64>,
    stats: BloomStats,
}

#[derive(Serialize)]
pub(super) struct PeerFilter {
    peer: String,
    display_name: String,
    has_filter: bool,
    filter_sequence: u64,
    /// Present only when the peer sent a filter.
    #[serde(flatten)]
    fill: Option<Fill>,
}

#[derive(Serialize)]
struct Fill {
    /// `null` if saturated.
    estimated_count: Option<f64>,
    set_bits: u32,
    fill_ratio: f64,
}

impl From<FilterFill> for Fill {
    fn from(f: FilterFill) -> Self {
        Fill {
            estimated_count: f.estimated_count,
            set_bits: f.set_bits,
            fill_ratio: f.fill_ratio,
        }
    }
}

impl PeerFilter {
    pub(super) fn of(p: &PeerFilterView) -> PeerFilter {
        PeerFilter {
            peer: p.peer.addr.to_hex(),
            display_name: display_name(&p.peer),
            has_filter: p.fill.is_some(),
            filter_sequence: p.filter_sequence,
            fill: p.fill.map(Fill::from),
        }
    }
}

pub(crate) fn bloom(node: &Node) -> Bloom {
    let v = node.bloom_view();
    Bloom {
        own_node_addr: v.own_node_addr.to_hex(),
        is_leaf_only: false,
        sequence: v.sequence,
        leaf_dependent_count: 0,
        leaf_dependents: [],
        peer_filters: v.peer_filters.iter().map(PeerFilter::of).collect(),
        uptree_fill_ratio: v.uptree.map(|f| f.fill_ratio),
        uptree_estimated_count: v.uptree.and_then(|f| f.estimated_count),
        stats: v.stats,
    }
}

/// `show_mmp`.
#[derive(Serialize)]
pub(crate) struct Mmp {
    peers: Vec<PeerMmp>,
    /// Session-layer MMP is not run by this node, so there is never an
    /// entry (the type has no values).
    sessions: [NoSessionMmp; 0],
}

/// Uninhabited: see [`Mmp::sessions`].
enum NoSessionMmp {}

#[derive(Serialize)]
pub(super) struct PeerMmp {
    peer: String,
    display_name: String,
    /// We send full ReceiverReports only.
    mode: &'static str,
    link_layer: LinkLayer,
    /// Ours, not the reference's: what MMP did on this link.
    counters: LinkCounters,
}

/// The reference's `link_layer` keys for what we measure. It also shows
/// `smoothed_loss`, `smoothed_etx` and four `*_trend`s, which we do not
/// compute, so those keys are absent (as in the reference before it has them).
#[derive(Serialize)]
struct LinkLayer {
    loss_rate: f64,
    etx: f64,
    goodput_bps: f64,
    /// We do not run the spin bit: `null`.
    spin_bit_role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    srtt_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lqi: Option<f64>,
    delivery_ratio_forward: f64,
    delivery_ratio_reverse: f64,
    ecn_ce_count: u32,
}

#[derive(Serialize)]
struct LinkCounters {
    frames_received: u64,
    reports_sent: u64,
    #[serde(flatten)]
    metrics: MmpCounters,
    jitter_us: f64,
}

impl PeerMmp {
    pub(super) fn of(p: &PeerMmpView) -> PeerMmp {
        let (l, c) = (&p.link_layer, &p.counters);
        PeerMmp {
            peer: p.peer.addr.to_hex(),
            display_name: display_name(&p.peer),
            mode: "full",
            link_layer: LinkLayer {
                loss_rate: l.loss_rate,
                etx: l.etx,
                goodput_bps: l.goodput_bps,
                spin_bit_role: None,
                srtt_ms: l.srtt_ms,
                lqi: l.lqi,
                delivery_ratio_forward: l.delivery_ratio_forward,
                delivery_ratio_reverse: l.delivery_ratio_reverse,
                ecn_ce_count: l.ecn_ce_count,
            },
            counters: LinkCounters {
                frames_received: c.frames_received,
                reports_sent: c.reports_sent,
                metrics: c.metrics,
                jitter_us: c.jitter_us,
            },
        }
    }
}

pub(crate) fn mmp(node: &Node) -> Mmp {
    Mmp {
        peers: node.mmp_view().peers.iter().map(PeerMmp::of).collect(),
        sessions: [],
    }
}

/// `show_connections`: handshakes not finished yet.
#[derive(Serialize)]
pub(crate) struct Connections {
    connections: Vec<Connection>,
}

#[derive(Serialize)]
struct Connection {
    /// Links get their id when the handshake completes: `null` until then.
    link_id: Option<u64>,
    direction: &'static str,
    handshake_state: &'static str,
    started_at_ms: u64,
    idle_ms: u64,
    resend_count: u32,
    expected_peer: String,
    /// Ours: the transport address msg1 goes to.
    remote_addr: String,
}

impl Connection {
    fn of(node: &Node, c: &ConnectionView) -> Connection {
        Connection {
            link_id: None,
            direction: direction(c.direction),
            handshake_state: match c.phase {
                HandshakePhase::SentMsg1 => "sent_msg1",
            },
            started_at_ms: node.unix_ms(c.started),
            idle_ms: c.idle.as_millis() as u64,
            resend_count: c.resend_count,
            expected_peer: c.expected_peer.npub(),
            remote_addr: c.remote_addr.to_string(),
        }
    }
}

pub(crate) fn connections(node: &Node, now: Instant) -> Connections {
    let view = node.connections_view(now);
    Connections {
        connections: view
            .connections
            .iter()
            .map(|c| Connection::of(node, c))
            .collect(),
    }
}

/// `show_identity_cache`, by node address.
#[derive(Serialize)]
pub(crate) struct IdentityCache {
    entries: Vec<IdentityEntry>,
    count: usize,
    max_entries: usize,
}

#[derive(Serialize)]
struct IdentityEntry {
    #[serde(flatten)]
    name: Named,
    /// Unix ms of the last insert or lookup.
    last_seen_ms: u64,
    age_ms: u64,
}

impl IdentityEntry {
    fn of(node: &Node, e: &IdentityEntryView) -> IdentityEntry {
        IdentityEntry {
            name: Named::from(&e.peer),
            last_seen_ms: node.unix_ms(e.last_seen),
            age_ms: e.age.as_millis() as u64,
        }
    }
}

pub(crate) fn identity_cache(node: &Node, now: Instant) -> IdentityCache {
    let view = node.identity_cache_view(now);
    IdentityCache {
        count: view.entries.len(),
        entries: view
            .entries
            .iter()
            .map(|e| IdentityEntry::of(node, e))
            .collect(),
        max_entries: view.max_entries,
    }
}
