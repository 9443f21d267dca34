//! Control commands answered from the node's state. Field names are the
//! reference's; the daemon adds the facts only it knows (pid, socket, TUN).

use std::path::PathBuf;
use std::time::Instant;

use fips_proto::identity::PeerIdentity;
use fips_proto::node::{Node, PeerConfig};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::config::{parse_peer_addr, Endpoint};
use crate::control::history::StatsHistory;
use crate::control::{Command, Query, Response};

use super::hooks::Firewall;
use super::resolve::{NamedPeer, ResolverMsg};
use super::{stats, views};

/// What the daemon knows beyond the node.
pub(crate) struct Context {
    pub control_socket: PathBuf,
    pub tun_name: Option<String>,
    pub firewall: Firewall,
    pub started: Instant,
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
                Response::Ok(json!({ "disconnected": npub }))
            }
            Err(e) => Response::error(format!("invalid npub: {e}")),
        },
        Command::FirewallRemove => ctx.firewall.remove(),
        Command::Stats(request) => request.answer(&ctx.history),
    }
}

fn show(node: &Node, ctx: &Context, now: Instant, q: Query) -> Response {
    match q {
        Query::Status => status(node, ctx, now),
        Query::Peers => Response::ok_from(&node.snapshot(now).peers),
        Query::Links => Response::ok_from(&node.snapshot(now).links),
        Query::Tree => Response::Ok(stats::tree(node, &ctx.history, now)),
        Query::Sessions => Response::Ok(views::sessions(node, now)),
        Query::Cache => Response::Ok(views::cache(node, now)),
        Query::Routing => Response::Ok(views::routing(node)),
        Query::Bloom => Response::ok_from(&node.bloom_view()),
        Query::Mmp => Response::ok_from(&node.mmp_view()),
        Query::Connections => Response::ok_from(&node.connections_view(now)),
        Query::IdentityCache => Response::ok_from(&node.identity_cache_view(now)),
        // No `name`: the reference writes one only for a named transport.
        Query::Transports => Response::Ok(json!({ "transports": [{
            "transport_id": 1, "type": "udp", "state": "up",
            "mtu": node.link_mtu(),
            "local_addr": ctx.udp_local.map(|a| a.to_string()),
            "stats": stats::link_totals(node, now),
        }], "msg1_admission": node.admission_stats() })),
        Query::Firewall => ctx.firewall.snapshot(),
        // The control server answers this off the node task; here only
        // for callers without one (answer_control_line).
        Query::ListeningSockets => {
            Response::Ok(crate::control::listening_sockets(node.identity().ipv6()))
        }
    }
}

fn status(node: &Node, ctx: &Context, now: Instant) -> Response {
    match serde_json::to_value(node.snapshot(now).status) {
        Ok(mut v) => {
            add_daemon_facts(&mut v, ctx, now);
            if let Some(obj) = v.as_object_mut() {
                stats::status_extras(obj, &ctx.history);
            }
            if let (Some(obj), Some(dp)) = (v.as_object_mut(), node.dataplane()) {
                obj.entry("forwarding")
                    .or_insert_with(|| views::forwarding(dp.counters()));
                obj.insert("bounds".into(), bounds(dp));
            }
            if let (Some(obj), Ok(a)) = (
                v.as_object_mut(),
                serde_json::to_value(node.admission_stats()),
            ) {
                obj.insert("msg1_admission".into(), a);
            }
            Response::Ok(v)
        }
        Err(e) => Response::error(format!("internal error: {e}")),
    }
}

/// Every bounded store, the core's and the daemon's (see the `limits`
/// modules): fill, cap, evicted, refused.
fn bounds(dp: &fips_proto::session::Dataplane) -> Value {
    let mut v = serde_json::to_value(dp.bounds()).unwrap_or_default();
    if let (Some(obj), Value::Object(daemon)) = (v.as_object_mut(), crate::limits::daemon_bounds())
    {
        obj.extend(daemon);
    }
    v
}

fn add_daemon_facts(v: &mut Value, ctx: &Context, now: Instant) {
    let Some(obj) = v.as_object_mut() else { return };
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let facts = [
        ("version", json!(env!("CARGO_PKG_VERSION"))),
        ("pid", json!(std::process::id())),
        ("exe_path", json!(exe)),
        (
            "control_socket",
            json!(ctx.control_socket.display().to_string()),
        ),
        ("tun_name", json!(ctx.tun_name)),
        (
            "tun_state",
            json!(if ctx.tun_name.is_some() {
                "up"
            } else {
                "disabled"
            }),
        ),
        ("transport_count", json!(1)),
        ("is_leaf_only", json!(false)),
        ("persistent", json!(true)),
    ];
    for (k, val) in facts {
        obj.entry(k).or_insert(val);
    }
    obj.entry("uptime_secs")
        .or_insert(json!(now.saturating_duration_since(ctx.started).as_secs()));
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
        return Response::Ok(
            json!({ "connecting": npub, "address": addrs[0].to_string(), "transport": "udp" }),
        );
    };
    let named = NamedPeer {
        peer: identity.node_addr(),
        fixed: Vec::new(),
        names: vec![host.clone()],
    };
    if ctx.names.send(ResolverMsg::Add(named)).is_err() {
        return Response::error("the host name resolver is not running");
    }
    Response::Ok(json!({
        "connecting": npub, "address": host.to_string(), "transport": "udp",
        "resolving": true,
    }))
}

fn is_mesh_address(addr: std::net::SocketAddr) -> bool {
    matches!(addr.ip(), std::net::IpAddr::V6(v6) if v6.octets()[0] == 0xfd)
}
