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
use serde_json::{json, Value};

/// One listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub proto: &'static str,
    pub local: SocketAddr,
    pub inode: u64,
}

/// The reply's data for the node whose fips0 address is `fips0`.
pub fn listening_sockets(fips0: Ipv6Addr) -> Value {
    let listeners = listeners(fips0);
    let owners = owners(&listeners);
    let rows: Vec<Value> = listeners
        .iter()
        .map(|l| {
            let owner = owners.get(&l.inode);
            json!({
                "proto": l.proto,
                "local_addr": l.local.ip().to_string(),
                "port": l.local.port(),
                "pid": owner.map(|o| o.0),
                "process": owner.map(|o| o.1.clone()),
                "filter": "no_firewall",
                "wildcard_bind": l.local.ip().is_unspecified(),
            })
        })
        .collect();
    json!({
        "fips0_addr": fips0.to_string(),
        "firewall_active": false,
        "sockets": rows,
    })
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
        .filter(|e| e.state == TcpState::Listen && reachable(&e.local_address))
        .map(|e| Listener {
            proto: "tcp",
            local: e.local_address,
            inode: e.inode,
        });
    let udp = procfs::net::udp6().unwrap_or_default().into_iter();
    let udp = udp
        .filter(|e| e.state == UdpState::Close && reachable(&e.local_address))
        .map(|e| Listener {
            proto: "udp",
            local: e.local_address,
            inode: e.inode,
        });
    let mut all: Vec<Listener> = tcp.chain(udp).collect();
    all.sort_by_key(|l| (l.proto, l.local.port()));
    all.dedup_by_key(|l| (l.proto, l.local));
    all
}

/// pid and command name of the process holding each socket inode; stops
/// scanning once every inode is found. Processes we cannot read are
/// skipped (their rows get no owner).
fn owners(listeners: &[Listener]) -> HashMap<u64, (i32, String)> {
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
