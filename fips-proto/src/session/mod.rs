//! End-to-end FSP sessions and the dataplane around them.
//!
//! `Dataplane` takes IPv6 packets from the TUN and SessionDatagrams and
//! lookups from links; it runs the XK handshakes, encrypts Data on port
//! 256 (IPv6 shim), forwards transit traffic, answers with routing errors
//! and ICMPv6, and rekeys. It sees the node only through
//! `routing::MeshView`; links, tree and bloom state are the node's.

mod codec;
mod config;
mod dataplane;
mod handshake;
mod liveness;
mod pending;
mod receive;
mod send;
mod state;
#[cfg(test)]
mod tests;
mod timers;

pub use config::DataplaneConfig;
pub use dataplane::{CoordInfo, Dataplane, DataplaneCounters, SessionInfo, SessionStats};
