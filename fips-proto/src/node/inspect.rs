//! Read-only views for `show_bloom`, `show_mmp`, `show_connections` and
//! `show_identity_cache`, as plain data: addresses, public identities,
//! `Instant`s, enums and numbers. `fips::control` writes them under the
//! reference's field names. No keys in here: public identities only.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::bloom::{BloomFilter, BloomStats};
use crate::identity::PeerIdentity;
use crate::mmp::{MmpCounters, MmpMetrics};
use crate::NodeAddr;

use super::handshake::Dial;
use super::link::{Direction, Peer};
use super::snapshot::PeerName;
use super::Node;

/// What [`Node::bloom_view`] reports.
#[derive(Clone, Debug)]
pub struct BloomView {
    pub own_node_addr: NodeAddr,
    /// Sequence of the last filter we sent (one counter for all peers).
    pub sequence: u64,
    pub peer_filters: Vec<PeerFilterView>,
    /// The filter last sent to our parent; `None` at the root or before
    /// the first send.
    pub uptree: Option<FilterFill>,
    pub stats: BloomStats,
}

/// A peer and the filter it sent us.
#[derive(Clone, Debug)]
pub struct PeerFilterView {
    pub peer: PeerName,
    /// 0 before its first filter.
    pub filter_sequence: u64,
    /// `None` until the peer sent a filter.
    pub fill: Option<FilterFill>,
}

#[derive(Clone, Copy, Debug)]
pub struct FilterFill {
    /// Members estimated from the fill; `None` if saturated.
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

/// What [`Node::mmp_view`] reports: link-layer MMP per peer (this node runs
/// no session-layer MMP).
#[derive(Clone, Debug)]
pub struct MmpView {
    pub peers: Vec<PeerMmpView>,
}

#[derive(Clone, Debug)]
pub struct PeerMmpView {
    pub peer: PeerName,
    pub link_layer: LinkLayerView,
    pub counters: LinkMmpCounters,
}

/// What we measure on a link (the reference's smoothed values and trends
/// we do not compute).
#[derive(Clone, Copy, Debug)]
pub struct LinkLayerView {
    pub loss_rate: f64,
    pub etx: f64,
    pub goodput_bps: f64,
    pub srtt_ms: Option<f64>,
    /// `etx * (1 + srtt_ms / 100)`, the link cost our tree uses (from the
    /// last ETX: we do not smooth it).
    pub lqi: Option<f64>,
    pub delivery_ratio_forward: f64,
    pub delivery_ratio_reverse: f64,
    pub ecn_ce_count: u32,
}

impl LinkLayerView {
    pub(super) fn of(m: &MmpMetrics) -> Self {
        LinkLayerView {
            loss_rate: m.loss_rate(),
            etx: m.etx(),
            goodput_bps: m.goodput_bps(),
            srtt_ms: m.srtt_ms(),
            lqi: m.link_cost(),
            delivery_ratio_forward: m.delivery_ratio_forward(),
            delivery_ratio_reverse: m.delivery_ratio_reverse(),
            ecn_ce_count: m.ecn_ce_count(),
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct LinkMmpCounters {
    /// Authenticated frames from the peer MMP counted.
    pub frames_received: u64,
    /// ReceiverReports we sent the peer.
    pub reports_sent: u64,
    pub metrics: MmpCounters,
    pub jitter_us: f64,
}

/// What [`Node::connections_view`] reports: handshakes not finished yet.
#[derive(Clone, Debug)]
pub struct ConnectionsView {
    pub connections: Vec<ConnectionView>,
}

/// Where a pending handshake stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandshakePhase {
    /// We sent msg1 and wait for msg2.
    SentMsg1,
}

#[derive(Clone, Debug)]
pub struct ConnectionView {
    pub direction: Direction,
    pub phase: HandshakePhase,
    pub started: Instant,
    /// Since msg1 last went out.
    pub idle: Duration,
    pub resend_count: u32,
    pub expected_peer: PeerIdentity,
    /// The transport address msg1 goes to.
    pub remote_addr: SocketAddr,
}

/// What [`Node::identity_cache_view`] reports.
#[derive(Clone, Debug)]
pub struct IdentityCacheView {
    /// Sorted by node address.
    pub entries: Vec<IdentityEntryView>,
    pub max_entries: usize,
}

#[derive(Clone, Debug)]
pub struct IdentityEntryView {
    pub peer: PeerName,
    /// The last insert or lookup.
    pub last_seen: Instant,
    pub age: Duration,
}

impl Node {
    /// What `show_bloom` reports.
    pub fn bloom_view(&self) -> BloomView {
        let peer_filters = self
            .peers
            .values()
            .map(|p| PeerFilterView {
                peer: self.peer_name(p.addr, p.identity),
                filter_sequence: self.bloom.inbound_seq(&p.addr).unwrap_or(0),
                fill: self.bloom.inbound(&p.addr).map(FilterFill::of),
            })
            .collect();
        let uptree = self
            .tree
            .parent()
            .and_then(|p| self.bloom.last_sent(&p))
            .map(FilterFill::of);
        BloomView {
            own_node_addr: self.my_addr,
            sequence: self.bloom.send_seq(),
            peer_filters,
            uptree,
            stats: self.bloom.stats(),
        }
    }

    /// What `show_mmp` reports.
    pub fn mmp_view(&self) -> MmpView {
        MmpView {
            peers: self.peers.values().map(|p| self.peer_mmp(p)).collect(),
        }
    }

    fn peer_mmp(&self, p: &Peer) -> PeerMmpView {
        PeerMmpView {
            peer: self.peer_name(p.addr, p.identity),
            link_layer: LinkLayerView::of(&p.mmp),
            counters: LinkMmpCounters {
                frames_received: p.mmp_rx.cumulative_packets(),
                reports_sent: p.mmp_rx.reports_built(),
                metrics: *p.mmp.counters(),
                jitter_us: p.mmp_rx.jitter_us(),
            },
        }
    }

    /// What `show_connections` reports: our outbound IK handshakes waiting
    /// for msg2. (An inbound msg1 is answered and promoted at once, so no
    /// inbound handshake is ever pending.)
    pub fn connections_view(&self, now: Instant) -> ConnectionsView {
        ConnectionsView {
            connections: self.peers.dials().map(|(_, d)| dial_view(now, d)).collect(),
        }
    }

    /// What `show_identity_cache` reports: the dataplane's fd-address →
    /// key cache (DNS answers, configured and linked peers, session
    /// initiators), sorted by node address.
    pub fn identity_cache_view(&self, now: Instant) -> IdentityCacheView {
        let Some(dp) = self.dataplane() else {
            return IdentityCacheView {
                entries: Vec::new(),
                max_entries: 0,
            };
        };
        let cache = dp.identity_cache();
        let mut entries: Vec<IdentityEntryView> = cache
            .entries()
            .map(|(identity, at)| IdentityEntryView {
                peer: self.peer_name(identity.node_addr(), identity),
                last_seen: at,
                age: now.saturating_duration_since(at),
            })
            .collect();
        entries.sort_by_key(|e| e.peer.addr);
        IdentityCacheView {
            entries,
            max_entries: cache.capacity(),
        }
    }
}

fn dial_view(now: Instant, d: &Dial) -> ConnectionView {
    ConnectionView {
        direction: Direction::Outbound,
        phase: HandshakePhase::SentMsg1,
        started: d.started,
        idle: now.saturating_duration_since(d.last_sent),
        resend_count: d.resends,
        expected_peer: d.identity,
        remote_addr: d.remote,
    }
}
