//! Control commands answered from the node's state. Field names are the
//! reference's; the daemon adds the facts only it knows (pid, socket, TUN).

use std::path::PathBuf;
use std::time::Instant;

use fips_proto::identity::PeerIdentity;
use fips_proto::node::{Node, PeerConfig};
use tokio::sync::mpsc;

use crate::config::{parse_peer_addr, Endpoint};
use crate::control::history::StatsHistory;
use crate::control::{reply, Command, Query, Response};

use super::hooks::Firewall;
use super::resolve::{NamedPeer, ResolverMsg};

/// What the daemon knows beyond the node.
pub(crate) struct Context {
    pub control_socket: PathBuf,
    pub tun_name: Option<String>,
    pub firewall: Firewall,
    /// Peers connected by host name go to the resolver.
    pub names: mpsc::UnboundedSender<ResolverMsg>,
    /// The UDP transport's bound address.
    pub udp_local: Option<std::net::SocketAddr>,
    /// One-second samples for `show_stats_*` (fed by the node task).
    pub history: StatsHistory,
}

pub(crate) fn respond(
    node: &mut Node,
    ctx: &mut Context,
    now: Instant,
    command: Command,
) -> Response {
    match command {
        Command::Show(q) => show(node, ctx, now, q),
        Command::Connect {
            npub,
            address,
            transport,
        } => connect(node, ctx, now, &npub, &address, &transport),
        Command::Disconnect { npub } => match PeerIdentity::from_npub(&npub) {
            Ok(peer) => {
                node.disconnect(now, &peer.node_addr());
                // Its host names, if any, are no longer looked up.
                let _ = ctx.names.send(ResolverMsg::Forget(peer.node_addr()));
                Response::ok_from(&reply::Disconnected {
                    disconnected: &npub,
                })
            }
            Err(e) => Response::error(format!("invalid npub: {e}")),
        },
        Command::FirewallRemove => ctx.firewall.remove(),
        Command::Stats(request) => request.answer(&ctx.history, now),
    }
}

fn show(node: &Node, ctx: &Context, now: Instant, q: Query) -> Response {
    match q {
        Query::Status => Response::ok_from(&reply::status(node, &facts(ctx), now)),
        Query::Peers => Response::ok_from(&reply::peers(node, now)),
        Query::Links => Response::ok_from(&reply::links(node, now)),
        Query::Tree => Response::ok_from(&reply::tree(node, &ctx.history, now)),
        Query::Sessions => Response::ok_from(&reply::sessions(node)),
        Query::Cache => Response::ok_from(&reply::cache(node)),
        Query::Routing => Response::ok_from(&reply::routing(node)),
        Query::Bloom => Response::ok_from(&reply::bloom(node)),
        Query::Mmp => Response::ok_from(&reply::mmp(node)),
        Query::Connections => Response::ok_from(&reply::connections(node, now)),
        Query::IdentityCache => Response::ok_from(&reply::identity_cache(node, now)),
        Query::Transports => Response::ok_from(&reply::transports(node, ctx.udp_local, now)),
        Query::Firewall => ctx.firewall.snapshot(),
        // The control server answers this off the node task; here only
        // for callers without one (answer_control_line).
        Query::ListeningSockets => crate::control::listening_sockets(node.identity().ipv6()),
    }
}

fn facts(ctx: &Context) -> reply::DaemonFacts<'_> {
    reply::DaemonFacts {
        control_socket: &ctx.control_socket,
        tun_name: ctx.tun_name.as_deref(),
        history: &ctx.history,
    }
}

/// `fipsctl connect NPUB ADDRESS udp`. An IP address is dialled now; a
/// host name goes to the resolver (never resolved here: the node task must
/// not block, and in the sidecar the system resolver is our own DNS server,
/// served by this very task), and the peer is dialled once it resolves.
fn connect(
    node: &mut Node,
    ctx: &Context,
    now: Instant,
    npub: &str,
    address: &str,
    transport: &str,
) -> Response {
    if transport != "udp" {
        return Response::error(format!("transport {transport} is not available (only udp)"));
    }
    let identity = match PeerIdentity::from_npub(npub) {
        Ok(id) => id,
        Err(e) => return Response::error(format!("invalid npub: {e}")),
    };
    let (addrs, name) = match parse_peer_addr("address", address) {
        Ok(Endpoint::Ip(addr)) if is_mesh_address(addr) => {
            return Response::error(
                "invalid address: fd00::/8 is the mesh itself, not a transport address",
            )
        }
        Ok(Endpoint::Ip(addr)) => (vec![addr], None),
        Ok(Endpoint::Name(host)) => (Vec::new(), Some(host)),
        Err(e) => return Response::error(e.to_string()),
    };
    node.connect(
        now,
        PeerConfig {
            identity,
            alias: None,
            addrs: addrs.clone(),
            auto_connect: true,
        },
    );
    let Some(host) = name else {
        // An address given now replaces a host name given before.
        let _ = ctx.names.send(ResolverMsg::Forget(identity.node_addr()));
        return Response::ok_from(&reply::Connecting {
            connecting: npub,
            address: addrs[0].to_string(),
            transport: "udp",
            resolving: false,
        });
    };
    let named = NamedPeer {
        peer: identity.node_addr(),
        fixed: Vec::new(),
        names: vec![host.clone()],
    };
    if ctx.names.send(ResolverMsg::Add(named)).is_err() {
        return Response::error("the host name resolver is not running");
    }
    Response::ok_from(&reply::Connecting {
        connecting: npub,
        address: host.to_string(),
        transport: "udp",
        resolving: true,
    })
}

fn is_mesh_address(addr: std::net::SocketAddr) -> bool {
    matches!(addr.ip(), std::net::IpAddr::V6(v6) if v6.octets()[0] == 0xfd)
}
