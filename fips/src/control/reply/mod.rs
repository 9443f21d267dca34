//! The one renderer of control-socket replies: turns what the core reports
//! (its snapshot and inspect views, the dataplane's sessions, caches and
//! counters, `Instant`s) and what only the daemon knows (pid, socket, TUN,
//! stats history) into the reference's JSON, field names and shapes exactly
//! as its tools read them. fipsctl's tables (`table.rs`) read that JSON, so
//! they work against either daemon. `testdata/golden/` pins every reply.
//!
//! Replies are `#[derive(Serialize)]` structs; `Response::ok_from` turns
//! them into the reply line. The core's views are plain data (addresses,
//! identities, `Instant`s, enums, numbers); hex, npubs, display names and
//! state names are written here. Instants become Unix milliseconds through
//! the node's one clock, `Node::unix_ms`. This module reads; it changes no
//! node state.
//!
//! The core keeps `Serialize` only on its counter sets (`BloomStats`,
//! `MmpCounters`, `AdmissionStats`, the `limits` bounds), whose field
//! names are the reply's keys.

mod dataplane;
pub(crate) mod history;
mod inspect;
mod listening;
mod node;
mod peers;
#[cfg(test)]
mod tests;

pub(crate) use dataplane::{cache, routing, sessions};
pub(crate) use inspect::{bloom, connections, identity_cache, mmp};
pub(crate) use listening::listening;
pub(crate) use node::{status, transports, tree, DaemonFacts};
pub(crate) use peers::{links, peers};

use fips_proto::node::snapshot::PeerName;
use fips_proto::node::Direction;
use fips_proto::NodeAddr;
use serde::Serialize;

/// Node addresses as the reference writes them: lowercase hex.
fn hexes(addrs: &[NodeAddr]) -> Vec<String> {
    addrs.iter().map(NodeAddr::to_hex).collect()
}

/// `npub1cld9...2pe6`, as the reference abbreviates npubs: the one
/// abbreviation every `display_name` uses.
pub(crate) fn short_npub(npub: &str) -> String {
    if npub.len() <= 13 {
        return npub.to_owned();
    }
    format!("{}...{}", &npub[..9], &npub[npub.len() - 4..])
}

/// A peer's `display_name`: its configured alias, else its abbreviated npub
/// (also the metrics' peer label and the stats history's name).
pub(crate) fn display_name(peer: &PeerName) -> String {
    match &peer.alias {
        Some(alias) => alias.clone(),
        None => short_npub(&peer.identity.npub()),
    }
}

/// The four keys that name a peer in `show_peers` and
/// `show_identity_cache`, in the reference's order.
#[derive(Serialize)]
struct Named {
    node_addr: String,
    npub: String,
    display_name: String,
    ipv6_addr: String,
}

impl From<&PeerName> for Named {
    fn from(p: &PeerName) -> Self {
        Named {
            node_addr: p.addr.to_hex(),
            npub: p.identity.npub(),
            display_name: display_name(p),
            ipv6_addr: p.addr.ipv6().to_string(),
        }
    }
}

fn direction(d: Direction) -> &'static str {
    match d {
        Direction::Outbound => "outbound",
        Direction::Inbound => "inbound",
    }
}

/// `disconnect`.
#[derive(Serialize)]
pub(crate) struct Disconnected<'a> {
    pub disconnected: &'a str,
}

/// `connect`: an address is dialled now; a host name goes to the resolver
/// (`resolving: true`).
#[derive(Serialize)]
pub(crate) struct Connecting<'a> {
    pub connecting: &'a str,
    pub address: String,
    pub transport: &'static str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub resolving: bool,
}

/// `firewall_remove`.
#[derive(Serialize)]
pub(crate) struct FirewallRemoved<'a> {
    pub removed: bool,
    pub interface: &'a str,
}
