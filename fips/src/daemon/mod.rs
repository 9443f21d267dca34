//! The daemon runtime: brings up UDP, TUN, the control socket, DNS and
//! enforcement, then drives the protocol core ([`fips_proto::node::Node`])
//! from one task until SIGTERM/SIGINT, when it tells peers goodbye and
//! keeps serving for the drain window (`node.drain_timeout_secs`).
//!
//! Only the node task touches the `Node`; the other tasks (control socket,
//! DNS) talk to it over channels. Protocol decisions stay in `fips-proto`.

mod commands;
mod hooks;
mod metrics;
mod node_loop;
mod offline;
mod refusals;
mod resolve;
mod shutdown;
mod stats;
mod tripwire;
mod udp;

use std::net::SocketAddr;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use fips_proto::identity::Identity;
use fips_proto::node::{Node, NodeConfig, PeerConfig, Timers};
use rand::RngCore;
use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::config::{Config, ConfigError, KeyOrigin};
use crate::control::{ControlError, ControlServer};
use crate::tun::{self, Tun, TunError, TunSetup};

pub use offline::answer_control_line;
pub use shutdown::{DoneGuard, Shutdown, ShutdownToken, Trigger};

/// Why the daemon could not start (or stopped).
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot bind the UDP transport to {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Udp(#[from] crate::udp::UdpError),
    #[error(transparent)]
    Tun(#[from] TunError),
    #[error(transparent)]
    Control(#[from] ControlError),
    #[error("enforcement: cannot read the transport socket's address: {source}")]
    EnforcePolicy {
        #[source]
        source: std::io::Error,
    },
    #[error("enforcement: cannot attach the filter to {iface}: {source}")]
    EnforceAttach {
        iface: String,
        #[source]
        source: crate::enforce::EnforceError,
    },
    #[error("DNS: {source}")]
    Dns {
        #[from]
        source: crate::dns::DnsError,
    },
    #[error("cannot start the async runtime: {source}")]
    Runtime {
        #[source]
        source: std::io::Error,
    },
    #[error("cannot install the {signal} handler: {source}")]
    Signal {
        signal: &'static str,
        #[source]
        source: std::io::Error,
    },
}

/// `err` and its sources as one line, "what: why: underlying cause",
/// each cause once: a variant whose message already shows its source does
/// not get it twice.
pub fn describe(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(e) = cause {
        let line = e.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        cause = e.source();
    }
    text
}

/// Builds a single-threaded runtime and runs the daemon on it until a
/// signal stops it.
pub fn run_blocking(config: Config) -> Result<(), DaemonError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| DaemonError::Runtime { source })?;
    rt.block_on(run(config))
}

/// Runs the daemon until SIGTERM or SIGINT.
pub async fn run(config: Config) -> Result<(), DaemonError> {
    let shutdown = Shutdown::new();
    // SIGTERM stops the node task first: it drains (peers told goodbye,
    // control socket and DNS still serving) and only then is everything
    // else stopped.
    let signalled = Shutdown::new();
    spawn_signal_watch(&signalled)?;
    let node_loop = start(&config, &shutdown).await?;
    info!("ready");
    node_loop.run(signalled.token(), config.drain_timeout).await;
    shutdown.trigger();
    shutdown.wait_done().await;
    info!("stopped");
    Ok(())
}

/// Everything before "ready": identity, sockets, TUN, control, DNS,
/// enforcement. Any failure here exits non-zero.
async fn start(config: &Config, shutdown: &Shutdown) -> Result<node_loop::NodeLoop, DaemonError> {
    let identity = load_identity(config)?;
    let udp = udp::bind(&config.udp)?;
    let metrics = metrics::bind(config);
    let metrics_port = metrics.as_ref().map_or(0, |m| m.local_addr().port());
    let mut firewall = hooks::Firewall::attach(&config.enforce, udp.as_std(), metrics_port)?;
    let publisher = metrics::start(metrics, &mut firewall, shutdown);
    firewall.spawn_drop_log(shutdown);
    firewall.spawn_tripwire();
    let udp_local = udp.local_addr();
    info!(addr = %udp_local, "UDP transport listening");
    let udp = crate::udp::AsyncUdpSocket::new(udp).map_err(|source| DaemonError::Bind {
        addr: config.udp.bind,
        source,
    })?;
    let tun = start_tun(config, &identity).await?;
    let control = ControlServer::bind(&config.control_socket)?.with_fips0(identity.public().ipv6());
    info!(path = %control.path().display(), "control socket listening");
    let (control_tx, control_rx) = mpsc::channel(32);
    let (token, guard) = (shutdown.token(), shutdown.guard());
    tokio::spawn(async move {
        control.run(control_tx, token.cancelled()).await;
        drop(guard);
    });
    let (id_tx, id_rx) = mpsc::channel(crate::limits::IDENTITY_CHANNEL);
    hooks::start_dns(config, id_tx, shutdown).await?;
    let node = build_node(config, identity);
    let (addr_tx, addr_rx) = mpsc::channel(16);
    let names = spawn_resolver(config, addr_tx);
    let ctx = commands::Context {
        control_socket: config.control_socket.clone(),
        tun_name: tun.as_ref().map(|t| t.name().to_string()),
        firewall,
        names,
        udp_local: Some(udp_local),
        history: Default::default(),
    };
    let inputs = node_loop::Inputs {
        control: control_rx,
        identities: id_rx,
        addrs: addr_rx,
        metrics: publisher,
    };
    Ok(node_loop::NodeLoop::new(node, udp, tun, inputs, ctx))
}

fn load_identity(config: &Config) -> Result<Identity, DaemonError> {
    let (identity, how) = config.identity.load_or_create()?;
    let source = match (&config.identity, how) {
        (_, KeyOrigin::Inline) => config.identity.origin().to_string(),
        (crate::config::IdentitySource::KeyFile { path, .. }, KeyOrigin::Generated) => {
            format!("generated, saved to {}", path.display())
        }
        (crate::config::IdentitySource::KeyFile { path, .. }, _) => {
            format!("key file {}", path.display())
        }
        (_, _) => "?".into(),
    };
    info!(npub = %identity.public().npub(), addr = %identity.public().ipv6(), key = %source, "identity");
    Ok(identity)
}

async fn start_tun(config: &Config, identity: &Identity) -> Result<Option<Tun>, DaemonError> {
    if !config.tun.enabled {
        info!("TUN disabled (tun.enabled: false); mesh packets for this node are dropped");
        return Ok(None);
    }
    // TSO lets the kernel hand over 64 KiB of a TCP stream per read; fall
    // back to plain packets where the kernel refuses.
    let tun = match Tun::create_with_offload(&config.tun.name) {
        Ok(t) => t,
        Err(e) => {
            tracing::debug!(error = %e, "TUN offload not available");
            Tun::create(&config.tun.name)?
        }
    };
    let setup = TunSetup {
        addr: identity.public().ipv6(),
        mtu: config.tun.mtu,
    };
    tun::configure(tun.name(), setup).await?;
    info!(name = tun.name(), addr = %setup.addr, mtu = setup.mtu, "TUN up");
    Ok(Some(tun))
}

/// Starts resolving the peers given by host name; returns where peers
/// named later (`fipsctl connect`) go. The task ends with the node task
/// (its channel closes).
fn spawn_resolver(
    config: &Config,
    tx: mpsc::Sender<resolve::AddrUpdate>,
) -> mpsc::UnboundedSender<resolve::ResolverMsg> {
    let named: Vec<resolve::NamedPeer> = config
        .peers
        .iter()
        .filter(|p| !p.names.is_empty())
        .map(|p| resolve::NamedPeer {
            peer: p.identity.node_addr(),
            fixed: p.addrs.clone(),
            names: p.names.clone(),
        })
        .collect();
    let resolver = resolve::Resolver::from_config(config);
    if !named.is_empty() {
        match resolver.server {
            Some(server) if config.enforce.enabled && !server.ip().is_loopback() => warn!(
                %server, interface = %config.enforce.interface,
                "peer host names go to a DNS server across the filtered interface, which \
                 the filter closes: they will not resolve; give IP addresses, or a resolver \
                 on loopback (FIPS_PEER_RESOLVER, node.peer_resolver)"
            ),
            Some(server) => info!(%server, "peer host names are resolved by this DNS server"),
            None => info!("peer host names are resolved by the system resolver"),
        }
    }
    let (more_tx, more_rx) = mpsc::unbounded_channel();
    tokio::spawn(resolve::run(named, more_rx, resolver, tx));
    more_tx
}

fn build_node(config: &Config, identity: Identity) -> Node {
    let peers = config
        .peers
        .iter()
        .map(|p| PeerConfig {
            identity: p.identity,
            alias: p.alias.clone(),
            addrs: p.addrs.clone(),
            auto_connect: p.auto_connect,
        })
        .collect();
    let node_config = NodeConfig {
        identity,
        peers,
        link_mtu: config.udp.mtu,
        tun_mtu: config.tun.mtu,
        timers: Timers {
            max_peers: config.limits.max_peers,
            max_links: config.limits.max_links,
            max_connections: config.limits.max_connections,
            identity_idle: config.identity_idle,
            ..Timers::default()
        },
    };
    let mut seed = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut seed);
    let unix_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    Node::new(node_config, seed, Instant::now(), unix_ms)
}

fn spawn_signal_watch(shutdown: &Shutdown) -> Result<(), DaemonError> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).map_err(|source| DaemonError::Signal {
        signal: "SIGTERM",
        source,
    })?;
    let mut int = signal(SignalKind::interrupt()).map_err(|source| DaemonError::Signal {
        signal: "SIGINT",
        source,
    })?;
    let token = shutdown.token();
    let trigger = shutdown.trigger_handle();
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => info!("SIGTERM: shutting down"),
            _ = int.recv() => info!("SIGINT: shutting down"),
            _ = token.cancelled() => return,
        }
        trigger.trigger();
    });
    Ok(())
}

#[cfg(test)]
mod describe_tests {
    use super::*;

    #[test]
    fn describe_adds_a_cause_the_message_leaves_out() {
        let dns = crate::dns::DnsError::Bind {
            protocol: "UDP",
            addr: "127.0.0.1:53".parse().expect("addr"),
            source: std::io::Error::from(std::io::ErrorKind::AddrInUse),
        };
        let text = describe(&DaemonError::from(dns));
        assert!(
            text.starts_with("DNS: cannot bind the DNS UDP socket to 127.0.0.1:53"),
            "{text}"
        );
        assert!(text.ends_with(": address in use"), "{text}");
    }

    #[test]
    fn describe_shows_a_cause_the_message_holds_once() {
        let e = DaemonError::EnforcePolicy {
            source: std::io::Error::other("bad socket"),
        };
        assert_eq!(
            describe(&e),
            "enforcement: cannot read the transport socket's address: bad socket"
        );
    }
}
