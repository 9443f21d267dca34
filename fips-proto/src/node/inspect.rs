//! Read-only views for `show_bloom`, `show_mmp`, `show_connections` and
//! `show_identity_cache`, under the reference's field names where the node
//! tracks the same fact. Where it does not, the view says so by type (an
//! absent key, a `null`, an always-empty list) rather than inventing a value.
//! No keys in here: public identities only.

use std::time::Instant;

use serde::Serialize;

use crate::bloom::{BloomFilter, BloomStats};
use crate::identity::PeerIdentity;
use crate::mmp::MmpCounters;
use crate::NodeAddr;

use super::handshake::Dial;
use super::link::Peer;
use super::snapshot::short_npub;
use super::Node;

/// `show_bloom`.
#[derive(Clone, Debug, Serialize)]
pub struct BloomView {
    pub own_node_addr: String,
    /// We always forward: there is no leaf-only mode.
    pub is_leaf_only: bool,
    /// Sequence of the last filter we sent (one counter for all peers).
    pub sequence: u64,
    /// Leaf-only nodes leaning on us; none, as we accept no leaf-only peers.
    pub leaf_dependent_count: usize,
    pub leaf_dependents: Vec<String>,
    pub peer_filters: Vec<PeerFilterView>,
    /// The filter last sent to our parent; `null` at the root or before
    /// the first send.
    pub uptree_fill_ratio: Option<f64>,
    pub uptree_estimated_count: Option<f64>,
    pub stats: BloomStats,
}

#[derive(Clone, Debug, Serialize)]
pub struct PeerFilterView {
    pub peer: String,
    pub display_name: String,
    pub has_filter: bool,
    pub filter_sequence: u64,
    /// Present only when the peer sent a filter.
    #[serde(flatten)]
    pub fill: Option<FilterFill>,
}

#[derive(Clone, Copy, Debug, Serialize)]
pub struct FilterFill {
    /// Members estimated from the fill; `null` if saturated.
    pub estimated_count: Option<f64>,
    pub set_bits: u32,
    pub fill_ratio: f64,
}

impl FilterFill {
    fn of(f: &BloomFilter) -> Self {
        FilterFill {
            estimated_count: f.estimated_count(),
            set_bits: f.count_ones(),
            fill_ratio: f.fill_ratio(),
        }
    }
}

/// `show_mmp`.
#[derive(Clone, Debug, Serialize)]
pub struct MmpView {
    pub peers: Vec<PeerMmpView>,
    /// Session-layer MMP is not run by this node, so there is never an
    /// entry (the type has no values).
    pub sessions: Vec<NoSessionMmp>,
}

/// Uninhabited: see [`MmpView::sessions`].
#[derive(Clone, Copy, Debug, Serialize)]
pub enum NoSessionMmp {}

#[derive(Clone, Debug, Serialize)]
pub struct PeerMmpView {
    pub peer: String,
    pub display_name: String,
    /// We send full ReceiverReports only.
    pub mode: &'static str,
    pub link_layer: LinkLayerView,
    /// Ours, not the reference's: what MMP did on this link.
    pub counters: LinkMmpCounters,
}

/// The reference's `link_layer` keys for what we measure. It also shows
/// `smoothed_loss`, `smoothed_etx` and four `*_trend`s, which we do not
/// compute, so those keys are absent (as in the reference before it has them).
#[derive(Clone, Debug, Serialize)]
pub struct LinkLayerView {
    pub loss_rate: f64,
    pub etx: f64,
    pub goodput_bps: f64,
    /// We do not run the spin bit: `null`.
    pub spin_bit_role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub srtt_ms: Option<f64>,
    /// `etx * (1 + srtt_ms / 100)`, the link cost our tree uses (from the
    /// last ETX: we do not smooth it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lqi: Option<f64>,
    pub delivery_ratio_forward: f64,
    pub delivery_ratio_reverse: f64,
    pub ecn_ce_count: u32,
}

#[derive(Clone, Copy, Debug, Serialize)]
pub struct LinkMmpCounters {
    /// Authenticated frames from the peer MMP counted.
    pub frames_received: u64,
    /// ReceiverReports we sent the peer.
    pub reports_sent: u64,
    #[serde(flatten)]
    pub metrics: MmpCounters,
    pub jitter_us: f64,
}

/// `show_connections`: handshakes not finished yet.
#[derive(Clone, Debug, Serialize)]
pub struct ConnectionsView {
    pub connections: Vec<ConnectionView>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ConnectionView {
    /// Links get their id when the handshake completes: `null` until then.
    pub link_id: Option<u64>,
    pub direction: &'static str,
    pub handshake_state: &'static str,
    pub started_at_ms: u64,
    pub idle_ms: u64,
    pub resend_count: u32,
    pub expected_peer: String,
    /// Ours: the transport address msg1 goes to.
    pub remote_addr: String,
}

/// `show_identity_cache`.
#[derive(Clone, Debug, Serialize)]
pub struct IdentityCacheView {
    pub entries: Vec<IdentityEntryView>,
    pub count: usize,
    pub max_entries: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct IdentityEntryView {
    pub node_addr: String,
    pub npub: String,
    pub display_name: String,
    pub ipv6_addr: String,
    /// Unix ms of the last insert or lookup.
    pub last_seen_ms: u64,
    pub age_ms: u64,
}

impl Node {
    /// What `show_bloom` reports.
    pub fn bloom_view(&self) -> BloomView {
        let peer_filters = self
            .peers
            .keys()
            .map(|a| PeerFilterView {
                peer: a.to_hex(),
                display_name: self.display_name(a),
                has_filter: self.bloom.inbound(a).is_some(),
                filter_sequence: self.bloom.inbound_seq(a).unwrap_or(0),
                fill: self.bloom.inbound(a).map(FilterFill::of),
            })
            .collect();
        let uptree = self
            .tree
            .parent()
            .and_then(|p| self.bloom.last_sent(&p))
            .map(FilterFill::of);
        BloomView {
            own_node_addr: self.my_addr.to_hex(),
            is_leaf_only: false,
            sequence: self.bloom.send_seq(),
            leaf_dependent_count: 0,
            leaf_dependents: Vec::new(),
            peer_filters,
            uptree_fill_ratio: uptree.map(|f| f.fill_ratio),
            uptree_estimated_count: uptree.and_then(|f| f.estimated_count),
            stats: *self.bloom.stats(),
        }
    }

    /// What `show_mmp` reports.
    pub fn mmp_view(&self) -> MmpView {
        MmpView {
            peers: self.peers.values().map(|p| self.peer_mmp(p)).collect(),
            sessions: Vec::new(),
        }
    }

    fn peer_mmp(&self, p: &Peer) -> PeerMmpView {
        let m = &p.mmp;
        PeerMmpView {
            peer: p.addr.to_hex(),
            display_name: self.display_name(&p.addr),
            mode: "full",
            link_layer: LinkLayerView {
                loss_rate: m.loss_rate(),
                etx: m.etx(),
                goodput_bps: m.goodput_bps(),
                spin_bit_role: None,
                srtt_ms: m.srtt_ms(),
                lqi: m.link_cost(),
                delivery_ratio_forward: m.delivery_ratio_forward(),
                delivery_ratio_reverse: m.delivery_ratio_reverse(),
                ecn_ce_count: m.ecn_ce_count(),
            },
            counters: LinkMmpCounters {
                frames_received: p.mmp_rx.cumulative_packets(),
                reports_sent: p.mmp_rx.reports_built(),
                metrics: *m.counters(),
                jitter_us: p.mmp_rx.jitter_us(),
            },
        }
    }

    /// What `show_connections` reports: our outbound IK handshakes waiting
    /// for msg2. (An inbound msg1 is answered and promoted at once, so no
    /// inbound handshake is ever pending.)
    pub fn connections_view(&self, now: Instant) -> ConnectionsView {
        ConnectionsView {
            connections: self
                .peers
                .dials()
                .map(|(_, d)| self.dial_view(now, d))
                .collect(),
        }
    }

    fn dial_view(&self, now: Instant, d: &Dial) -> ConnectionView {
        ConnectionView {
            link_id: None,
            direction: "outbound",
            handshake_state: "sent_msg1",
            started_at_ms: self.unix_ms(d.started),
            idle_ms: now.saturating_duration_since(d.last_sent).as_millis() as u64,
            resend_count: d.resends,
            expected_peer: d.identity.npub(),
            remote_addr: d.remote.to_string(),
        }
    }

    /// What `show_identity_cache` reports: the dataplane's fd-address →
    /// key cache (DNS answers, configured and linked peers, session
    /// initiators), sorted by node address.
    pub fn identity_cache_view(&self, now: Instant) -> IdentityCacheView {
        let Some(dp) = self.dataplane() else {
            return IdentityCacheView {
                entries: Vec::new(),
                count: 0,
                max_entries: 0,
            };
        };
        let cache = dp.identity_cache();
        let mut entries: Vec<IdentityEntryView> = cache
            .entries()
            .map(|(id, at)| self.identity_entry(now, &id, at))
            .collect();
        entries.sort_by(|a, b| a.node_addr.cmp(&b.node_addr));
        IdentityCacheView {
            count: entries.len(),
            entries,
            max_entries: cache.capacity(),
        }
    }

    fn identity_entry(&self, now: Instant, id: &PeerIdentity, at: Instant) -> IdentityEntryView {
        let addr: NodeAddr = id.node_addr();
        let npub = id.npub();
        let alias = self.peers.slot(&addr).and_then(|s| s.cfg.alias.clone());
        IdentityEntryView {
            node_addr: addr.to_hex(),
            display_name: alias.unwrap_or_else(|| short_npub(&npub)),
            npub,
            ipv6_addr: addr.ipv6().to_string(),
            last_seen_ms: self.unix_ms(at),
            age_ms: now.saturating_duration_since(at).as_millis() as u64,
        }
    }
}
