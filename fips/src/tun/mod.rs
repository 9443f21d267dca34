//! The fips0 TUN device: created by tun-rs (layer 3, no packet-info
//! header, virtio-net offload) and configured over rtnetlink like the
//! reference does it: the
//! node's address as a /128, the MTU, a route for fd00::/8 through the
//! device, a policy rule that keeps fd00::/8 in the main table, link up.
//!
//! This module moves packets between the kernel and byte buffers; it knows
//! nothing of the protocol.

pub(crate) mod device;
mod gro_buf;
mod netlink;
pub mod offload;

pub use device::{ReadBatch, Tun, WriteBatch, Written};
pub use netlink::{configure, TunSetup};

use std::path::PathBuf;

/// Why the TUN device could not be created or configured. Syscall failures
/// name the call and the device.
#[derive(Debug, thiserror::Error)]
pub enum TunError {
    #[error("TUN device {name}: {call} failed: {source}")]
    Syscall {
        name: String,
        call: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "cannot open {path}: {source} (the daemon needs CAP_NET_ADMIN and the /dev/net/tun device)"
    )]
    OpenDevice {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("TUN device name {name:?} is not valid: expected 1 to 15 characters")]
    BadName { name: String },
    #[error("TUN device {name}: netlink {action} failed: {source}")]
    Netlink {
        name: String,
        action: &'static str,
        #[source]
        source: rtnetlink::Error,
    },
    #[error("IPv6 is disabled on {name} (net.ipv6.conf.{name}.disable_ipv6 = 1) and could not be enabled: {source}")]
    Ipv6Disabled {
        name: String,
        #[source]
        source: std::io::Error,
    },
}
