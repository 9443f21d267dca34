//! FIPS protocol core.
//!
//! This crate owns everything that is pure protocol: identities, the Noise IK
//! and XK handshakes, wire codecs, link and session state, the spanning tree,
//! bloom filters and routing. It performs no I/O: callers feed it datagrams,
//! TUN packets and the current time, and drain what it must send. Randomness
//! comes in as arguments so tests replay exactly.
#![forbid(unsafe_code)]

pub mod addr;
pub mod bloom;
pub mod discovery;
pub mod identity;
pub mod ipv6;
pub mod limits;
pub mod mmp;
pub mod node;
pub mod noise;
mod pace;
pub mod routing;
pub mod session;
pub mod tree;
pub mod wire;

pub use addr::NodeAddr;
