//! The one renderer of control-socket replies: turns what the core reports
//! (its snapshot and inspect views, the dataplane's sessions, caches and
//! counters, `Instant`s) and what only the daemon knows (pid, socket, TUN,
//! stats history) into the reference's JSON, field names and shapes exactly
//! as its tools read them. fipsctl's tables (`table.rs`) read that JSON, so
//! they work against either daemon. `testdata/golden/` pins every reply.
//!
//! Replies are `#[derive(Serialize)]` structs; `Response::ok_from` turns
//! them into the reply line. Instants become Unix milliseconds through the
//! node's one clock, `Node::unix_ms`. This module reads; it changes no
//! node state.
//!
//! Not here yet: `show_peers`, `show_links`, `show_bloom`, `show_mmp`,
//! `show_connections` and `show_identity_cache` are the core's
//! `node::snapshot` / `node::inspect` views serialized as they are; those
//! types still carry the reference's strings (hex addresses, npubs, state
//! names), which the core's own tests assert on.

mod dataplane;
pub(crate) mod history;
mod listening;
mod node;

pub(crate) use dataplane::{cache, routing, sessions};
pub(crate) use listening::listening;
pub(crate) use node::{status, transports, tree, DaemonFacts};

use fips_proto::NodeAddr;
use serde::Serialize;

/// Node addresses as the reference writes them: lowercase hex.
fn hexes(addrs: &[NodeAddr]) -> Vec<String> {
    addrs.iter().map(NodeAddr::to_hex).collect()
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
