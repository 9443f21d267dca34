//! Control-socket views the node's snapshot does not cover yet: sessions,
//! routing counters and the coordinate cache, read from the dataplane and
//! written with the reference's field names where we report the same fact.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use fips_proto::node::Node;
use fips_proto::session::{DataplaneCounters, SessionInfo};
use serde_json::{json, Value};

/// Converts an `Instant` to Unix milliseconds (the reference's `*_ms`).
fn unix_ms(now: Instant, at: Instant) -> u64 {
    let wall = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    wall.saturating_sub(now.saturating_duration_since(at).as_millis() as u64)
}

fn short_npub(npub: &str) -> String {
    if npub.len() <= 13 {
        return npub.to_string();
    }
    format!("{}...{}", &npub[..9], &npub[npub.len() - 4..])
}

fn session(now: Instant, s: &SessionInfo) -> Value {
    let npub = s.peer.map(|p| p.npub());
    json!({
        "remote_addr": s.remote.to_hex(),
        "npub": npub,
        "display_name": npub.as_deref().map(short_npub).unwrap_or_else(|| s.remote.short()),
        "state": s.state,
        "is_initiator": s.is_initiator,
        "current_k_bit": s.current_k_bit,
        "is_draining": s.is_draining,
        "coords_warmup_remaining": s.coords_warmup_remaining,
        "session_start_ms": s.session_start.map(|t| unix_ms(now, t)),
        "last_activity_ms": s.last_activity.map(|t| unix_ms(now, t)),
        "mmp": { "path_mtu": s.path_mtu },
        "stats": {
            "packets_sent": s.stats.packets_sent,
            "bytes_sent": s.stats.bytes_sent,
            "packets_recv": s.stats.packets_recv,
            "bytes_recv": s.stats.bytes_recv,
        },
    })
}

pub(crate) fn sessions(node: &Node, now: Instant) -> Value {
    let list: Vec<Value> = node
        .dataplane()
        .map(|d| d.sessions().map(|s| session(now, &s)).collect())
        .unwrap_or_default();
    json!({ "sessions": list })
}

/// The reference's `forwarding` counters we have an equivalent for.
pub(crate) fn forwarding(c: &DataplaneCounters) -> Value {
    json!({
        "originated_packets": c.data_sent,
        "delivered_packets": c.data_received,
        "forwarded_packets": c.forwarded,
        "drop_no_route_packets": c.no_route,
        "drop_mtu_exceeded_packets": c.mtu_exceeded,
        "ttl_exhausted_packets": c.ttl_exhausted,
        "decode_error_packets": c.malformed,
    })
}

pub(crate) fn routing(node: &Node) -> Value {
    let Some(dp) = node.dataplane() else {
        return json!({ "node": node.counters() });
    };
    let b = dp.bounds();
    json!({
        "coord_cache_entries": dp.coord_cache().count(),
        "identity_cache_entries": b.identity_cache.len,
        "recent_requests": b.lookup_requests.len,
        "pending_tun_destinations": b.pending.len,
        "forwarding": forwarding(dp.counters()),
        "dataplane": dp.counters(),
        "node": node.counters(),
    })
}

pub(crate) fn cache(node: &Node, now: Instant) -> Value {
    let entries: Vec<Value> = node
        .dataplane()
        .map(|d| {
            d.coord_cache()
                .map(|e| {
                    json!({
                        "node_addr": e.node.to_hex(),
                        "depth": e.coords.len().saturating_sub(1),
                        "coords": e.coords.iter().map(|a| a.to_hex()).collect::<Vec<_>>(),
                        "path_mtu": e.path_mtu,
                        "last_used_ms": unix_ms(now, e.last_used),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let cap = node.dataplane().map_or(0, |d| d.bounds().coord_cache.cap);
    json!({
        "count": entries.len(),
        "max_entries": cap,
        "fill_ratio": if cap == 0 { 0.0 } else { entries.len() as f64 / cap as f64 },
        "entries": entries,
    })
}
