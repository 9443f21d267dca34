//! A load generator for FIPS hubs (dev-only): emulates N leaves from one
//! process, each a real `fips_proto` node with its own key and its own UDP
//! source address, against a real hub daemon (ours, or any FIPS binary
//! given by path, so the reference can be measured in the same run), and
//! measures the hub: time until all linked, handshakes per second, RSS,
//! CPU idle and under traffic, control bytes per peer, and whether
//! sampled leaf pairs reach each other through it.
//!
//! The leaves send what real leaves send (handshakes, heartbeats, MMP
//! reports, TreeAnnounce, FilterAnnounce, session traffic) because they
//! are the protocol core itself; nothing here builds protocol messages.
//! Needs root (namespaces, addresses).

pub mod hub;
pub mod leaf;
pub mod net;
pub mod packet;
pub mod perf;
pub mod report;
pub mod run;

pub use net::Testbed;
pub use run::{measure, Figures, Options};
