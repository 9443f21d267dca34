//! Test fixtures shared by the `fips` crate's tests and benchmarks, and the
//! only place they live: throwaway network namespaces ([`netns`]), the one
//! polling wait ([`wait`]), the test identities and topologies of
//! `testdata/identity.json` ([`keys`], [`topology`]), real daemons queried
//! over their control sockets ([`daemon`]) and nodes on a bridged segment
//! ([`lan`], [`net`]), a sidecar with one peer ([`pair`]), and a checked TCP
//! transfer between namespaces ([`transfer`]).
//!
//! Dev-only (`publish = false`): nothing here is part of the product. It
//! runs real programs (`ip`, `fips`) and needs root for namespaces.

#[cfg(feature = "daemon")]
pub mod daemon;
pub mod keys;
#[cfg(feature = "daemon")]
pub mod lan;
#[cfg(feature = "daemon")]
pub mod net;
pub mod netns;
pub mod pair;
pub mod topology;
pub mod transfer;
pub mod wait;

#[cfg(feature = "daemon")]
pub use daemon::{Daemon, Launch};
pub use keys::{key, keys, Key};
#[cfg(feature = "daemon")]
pub use lan::Lan;
#[cfg(feature = "daemon")]
pub use net::Net;
pub use netns::NetNs;
pub use pair::SidecarPair;
pub use wait::wait_until;
