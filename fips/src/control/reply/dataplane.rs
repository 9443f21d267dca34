//! `show_sessions`, `show_cache` and `show_routing`: the dataplane's
//! sessions, coordinate cache and counters, under the reference's field
//! names where we report the same fact.

use fips_proto::node::{Counters, Node};
use fips_proto::session::{CoordInfo, Dataplane, DataplaneCounters, SessionInfo, SessionStats};
use serde::Serialize;

use super::{hexes, short_npub};

/// `show_sessions`, by remote address (the dataplane keeps no order).
#[derive(Serialize)]
pub(crate) struct Sessions {
    sessions: Vec<Session>,
}

#[derive(Serialize)]
struct Session {
    remote_addr: String,
    npub: Option<String>,
    display_name: String,
    state: &'static str,
    is_initiator: bool,
    current_k_bit: bool,
    is_draining: bool,
    coords_warmup_remaining: u8,
    session_start_ms: Option<u64>,
    last_activity_ms: Option<u64>,
    mmp: SessionMmp,
    stats: Traffic,
}

#[derive(Serialize)]
struct SessionMmp {
    path_mtu: Option<u16>,
}

#[derive(Serialize)]
struct Traffic {
    packets_sent: u64,
    bytes_sent: u64,
    packets_recv: u64,
    bytes_recv: u64,
}

impl From<SessionStats> for Traffic {
    fn from(s: SessionStats) -> Self {
        Traffic {
            packets_sent: s.packets_sent,
            bytes_sent: s.bytes_sent,
            packets_recv: s.packets_recv,
            bytes_recv: s.bytes_recv,
        }
    }
}

impl Session {
    fn of(node: &Node, s: SessionInfo) -> Session {
        let npub = s.peer.map(|p| p.npub());
        Session {
            remote_addr: s.remote.to_hex(),
            display_name: npub.as_deref().map_or_else(|| s.remote.short(), short_npub),
            npub,
            state: s.state,
            is_initiator: s.is_initiator,
            current_k_bit: s.current_k_bit,
            is_draining: s.is_draining,
            coords_warmup_remaining: s.coords_warmup_remaining,
            session_start_ms: s.session_start.map(|t| node.unix_ms(t)),
            last_activity_ms: s.last_activity.map(|t| node.unix_ms(t)),
            mmp: SessionMmp {
                path_mtu: s.path_mtu,
            },
            stats: s.stats.into(),
        }
    }
}

/// Rows read from the dataplane (none without one), in `key` order: the
/// dataplane's maps keep none, and a reply should not change order
/// between two reads of the same state.
fn rows<T, K: Ord>(
    node: &Node,
    read: impl Fn(&Dataplane) -> Vec<T>,
    key: impl Fn(&T) -> K,
) -> Vec<T> {
    let mut rows: Vec<T> = node.dataplane().map(read).unwrap_or_default();
    rows.sort_by_key(key);
    rows
}

pub(crate) fn sessions(node: &Node) -> Sessions {
    let sessions = rows(
        node,
        |d| d.sessions().map(|s| Session::of(node, s)).collect(),
        |s: &Session| s.remote_addr.clone(),
    );
    Sessions { sessions }
}

/// The reference's `forwarding` counters we have an equivalent for.
#[derive(Serialize)]
pub(crate) struct Forwarding {
    originated_packets: u64,
    delivered_packets: u64,
    forwarded_packets: u64,
    drop_no_route_packets: u64,
    drop_mtu_exceeded_packets: u64,
    ttl_exhausted_packets: u64,
    decode_error_packets: u64,
}

impl From<&DataplaneCounters> for Forwarding {
    fn from(c: &DataplaneCounters) -> Self {
        Forwarding {
            originated_packets: c.data_sent,
            delivered_packets: c.data_received,
            forwarded_packets: c.forwarded,
            drop_no_route_packets: c.no_route,
            drop_mtu_exceeded_packets: c.mtu_exceeded,
            ttl_exhausted_packets: c.ttl_exhausted,
            decode_error_packets: c.malformed,
        }
    }
}

/// `show_routing`: without a dataplane, the node's counters only.
#[derive(Serialize)]
pub(crate) struct Routing<'a> {
    #[serde(flatten)]
    dataplane: Option<RoutingDataplane<'a>>,
    node: &'a Counters,
}

#[derive(Serialize)]
struct RoutingDataplane<'a> {
    coord_cache_entries: usize,
    identity_cache_entries: usize,
    recent_requests: usize,
    pending_tun_destinations: usize,
    forwarding: Forwarding,
    dataplane: &'a DataplaneCounters,
}

impl<'a> RoutingDataplane<'a> {
    fn of(dp: &'a Dataplane) -> Self {
        let b = dp.bounds();
        RoutingDataplane {
            coord_cache_entries: dp.coord_cache().count(),
            identity_cache_entries: b.identity_cache.len,
            recent_requests: b.lookup_requests.len,
            pending_tun_destinations: b.pending.len,
            forwarding: dp.counters().into(),
            dataplane: dp.counters(),
        }
    }
}

pub(crate) fn routing(node: &Node) -> Routing<'_> {
    Routing {
        dataplane: node.dataplane().map(RoutingDataplane::of),
        node: node.counters(),
    }
}

/// `show_cache`: the coordinate cache, by node address.
#[derive(Serialize)]
pub(crate) struct Cache {
    count: usize,
    max_entries: usize,
    fill_ratio: f64,
    entries: Vec<CacheEntry>,
}

#[derive(Serialize)]
struct CacheEntry {
    node_addr: String,
    depth: usize,
    coords: Vec<String>,
    path_mtu: Option<u16>,
    last_used_ms: u64,
}

impl CacheEntry {
    fn of(node: &Node, e: CoordInfo) -> CacheEntry {
        CacheEntry {
            node_addr: e.node.to_hex(),
            depth: e.coords.len().saturating_sub(1),
            coords: hexes(&e.coords),
            path_mtu: e.path_mtu,
            last_used_ms: node.unix_ms(e.last_used),
        }
    }
}

pub(crate) fn cache(node: &Node) -> Cache {
    let entries = rows(
        node,
        |d| d.coord_cache().map(|e| CacheEntry::of(node, e)).collect(),
        |e: &CacheEntry| e.node_addr.clone(),
    );
    let cap = node.dataplane().map_or(0, |d| d.bounds().coord_cache.cap);
    Cache {
        count: entries.len(),
        max_entries: cap,
        fill_ratio: if cap == 0 {
            0.0
        } else {
            entries.len() as f64 / cap as f64
        },
        entries,
    }
}
