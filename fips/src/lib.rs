//! The FIPS sidecar daemon: the I/O around `fips-proto` (UDP, TUN, the
//! control socket, the embedded DNS server and the eBPF enforcement loader).

pub mod config;
pub mod control;
pub mod daemon;
pub mod dns;
pub mod enforce;
pub mod limits;
pub mod metrics;
pub mod tun;
pub mod udp;
