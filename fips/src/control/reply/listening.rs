//! `show_listening_sockets`: the listeners the mesh can reach through
//! fips0, in the reference's fields.

use std::net::Ipv6Addr;

use serde::Serialize;

use crate::control::listening::{Listener, Owners};

#[derive(Serialize)]
pub(crate) struct ListeningSockets {
    fips0_addr: String,
    /// We put no filter on fips0 inbound.
    firewall_active: bool,
    sockets: Vec<Socket>,
}

#[derive(Serialize)]
struct Socket {
    proto: &'static str,
    local_addr: String,
    port: u16,
    pid: Option<i32>,
    process: Option<String>,
    filter: &'static str,
    wildcard_bind: bool,
}

pub(crate) fn listening(
    fips0: Ipv6Addr,
    listeners: &[Listener],
    owners: &Owners,
) -> ListeningSockets {
    let sockets = listeners
        .iter()
        .map(|l| {
            let owner = owners.get(&l.inode);
            Socket {
                proto: l.proto,
                local_addr: l.local.ip().to_string(),
                port: l.local.port(),
                pid: owner.map(|o| o.0),
                process: owner.map(|o| o.1.clone()),
                filter: "no_firewall",
                wildcard_bind: l.local.ip().is_unspecified(),
            }
        })
        .collect();
    ListeningSockets {
        fips0_addr: fips0.to_string(),
        firewall_active: false,
        sockets,
    }
}
