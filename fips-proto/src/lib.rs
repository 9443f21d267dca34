//! FIPS protocol core.
//!
//! This crate owns everything that is pure protocol: identities, the Noise IK
//! and XK handshakes, wire codecs, link and session state, the spanning tree,
//! bloom filters and routing. It performs no I/O: callers feed it datagrams,
//! TUN packets and the current time, and drain what it must send. Randomness
//! comes in through `rand_core::RngCore` arguments so tests replay exactly.
#![forbid(unsafe_code)]

pub mod addr;

pub use addr::NodeAddr;
