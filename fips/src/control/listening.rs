//! `show_listening_sockets`: the TCP and UDP listeners of this network
//! namespace that the mesh can reach through fips0 (bound to the node's
//! fips0 address or to `::`), with the process owning each, in the
//! reference's fields (its fipstop shows them as "Listening on fips0").
//!
//! Read from /proc, so it runs off the node task (the control server calls
//! it on a blocking thread). Our daemon puts no filter on fips0 inbound:
//! every row is `no_firewall` and `firewall_active` is false, which is
//! what an operator should see.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use procfs::net::{TcpState, UdpState};
use procfs::process::FDTarget;

use super::proto::Response;
use super::reply;

/// pid and command name by socket inode.
pub(crate) type Owners = HashMap<u64, (i32, String)>;

/// One listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub proto: &'static str,
    pub local: SocketAddr,
    pub inode: u64,
}

/// The reply for the node whose fips0 address is `fips0`.
pub fn listening_sockets(fips0: Ipv6Addr) -> Response {
    let listeners = listeners(fips0);
    let owners = owners(&listeners);
    Response::ok_from(&reply::listening(fips0, &listeners, &owners))
}

/// Listening TCP and unconnected UDP IPv6 sockets on `fips0` or `::`.
/// A table that cannot be read contributes nothing.
pub fn listeners(fips0: Ipv6Addr) -> Vec<Listener> {
    let reachable = |a: &SocketAddr| match a.ip() {
        IpAddr::V6(ip) => ip == fips0 || ip.is_unspecified(),
        IpAddr::V4(_) => false,
    };
    let tcp = procfs::net::tcp6().unwrap_or_default().into_iter();
    let tcp = tcp
        .filter(|e| e.state == TcpState::Listen)
        .map(|e| ("tcp", e.local_address, e.inode));
    let udp = procfs::net::udp6().unwrap_or_default().into_iter();
    let udp = udp
        .filter(|e| e.state == UdpState::Close)
        .map(|e| ("udp", e.local_address, e.inode));
    let mut all: Vec<Listener> = tcp
        .chain(udp)
        .filter(|(_, local, _)| reachable(local))
        .map(|(proto, local, inode)| Listener {
            proto,
            local,
            inode,
        })
        .collect();
    all.sort_by_key(|l| (l.proto, l.local.port()));
    all.dedup_by_key(|l| (l.proto, l.local));
    all
}

/// pid and command name of the process holding each socket inode; stops
/// scanning once every inode is found. Processes we cannot read are
/// skipped (their rows get no owner).
pub(crate) fn owners(listeners: &[Listener]) -> Owners {
    let mut found = HashMap::new();
    let Ok(procs) = procfs::process::all_processes() else {
        return found;
    };
    for p in procs.flatten() {
        if found.len() == listeners.len() {
            break;
        }
        let Ok(fds) = p.fd() else { continue };
        for fd in fds.flatten() {
            let FDTarget::Socket(inode) = fd.target else {
                continue;
            };
            if listeners.iter().any(|l| l.inode == inode) {
                let comm = p.stat().map(|s| s.comm).unwrap_or_default();
                found.entry(inode).or_insert((p.pid(), comm));
            }
        }
    }
    found
}
