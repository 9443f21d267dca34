//! Peer addresses given by host name (`FIPS_PEER_ADDR=fips-node-d:4000`),
//! resolved by the daemon at start and again while it runs: a peer whose
//! name does not resolve yet (its container is still starting) is dialled
//! as soon as it does, and a peer that comes back at a new address (a
//! restarted container) is dialled there. A failed lookup is logged and
//! retried, never fatal.
//!
//! Names go to `peer_resolver` when it is set (the sidecar sets it to
//! Docker's resolver, since its own resolv.conf names the `.fips` server,
//! which answers nothing else), else to the system resolver.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use fips_proto::NodeAddr;
use hickory_server::net::xfer::Protocol;
use hickory_server::proto::op::{Message, MessageType, OpCode, Query};
use hickory_server::proto::rr::{Name, RData, RecordType};
use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::config::{Config, PeerHost};
use crate::dns::forward::Upstream;

/// How often names are looked up again once they resolve.
const REFRESH: Duration = Duration::from_secs(30);
/// First retry after a failed lookup; doubles up to `REFRESH`.
const RETRY: Duration = Duration::from_secs(1);
/// One query to a configured resolver.
const QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// A peer with at least one address given by name.
#[derive(Clone, Debug)]
pub(crate) struct NamedPeer {
    pub peer: NodeAddr,
    /// Its IP-literal addresses, kept in every update.
    pub fixed: Vec<SocketAddr>,
    pub names: Vec<PeerHost>,
}

/// New addresses for a peer, for `Node::set_peer_addrs`.
pub(crate) type AddrUpdate = (NodeAddr, Vec<SocketAddr>);

/// What the rest of the daemon tells the resolver while it runs.
#[derive(Debug)]
pub(crate) enum ResolverMsg {
    /// A peer named by host name (`fipsctl connect`): replaces an earlier
    /// entry for it, resolved at once.
    Add(NamedPeer),
    /// The peer was disconnected: stop looking its names up.
    Forget(NodeAddr),
    /// The peer fell silent: look its names up now (it may have moved).
    Refresh(NodeAddr),
}

/// Why a name did not resolve.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ResolveError {
    #[error("{0}")]
    System(#[source] std::io::Error),
    #[error(transparent)]
    Server(#[from] crate::dns::forward::ForwardError),
    #[error("{host} is not a valid DNS name: {source}")]
    Name {
        host: String,
        #[source]
        source: hickory_server::proto::ProtoError,
    },
    #[error("no {family} address (answer code {code})")]
    NoAddress { family: &'static str, code: String },
}

/// Where names are looked up, and which address families the transport
/// can send to: an IPv4 bind only IPv4; `[::]` both (IPv4 as v4-mapped); a
/// specific IPv6 address only IPv6.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Resolver {
    pub server: Option<SocketAddr>,
    pub v4: bool,
    pub v6: bool,
}

impl Resolver {
    pub(crate) fn from_config(config: &Config) -> Resolver {
        let bind = config.udp.bind.ip();
        Resolver {
            server: config.peer_resolver,
            v4: bind.is_ipv4() || bind.is_unspecified(),
            v6: bind.is_ipv6(),
        }
    }

    /// The addresses of `host` that the transport can send to.
    pub(crate) async fn resolve(&self, host: &PeerHost) -> Result<Vec<SocketAddr>, ResolveError> {
        let ips = match self.server {
            Some(server) => self.ask(server, &host.host).await?,
            None => tokio::net::lookup_host((host.host.as_str(), host.port))
                .await
                .map_err(ResolveError::System)?
                .map(|a| a.ip())
                .collect(),
        };
        let mut out: Vec<SocketAddr> = ips
            .into_iter()
            .filter(|ip| self.reaches(ip))
            .map(|ip| SocketAddr::new(ip, host.port))
            .collect();
        out.sort();
        out.dedup();
        if out.is_empty() {
            return Err(ResolveError::NoAddress {
                family: self.family(),
                code: "NoError".into(),
            });
        }
        Ok(out)
    }

    fn reaches(&self, ip: &IpAddr) -> bool {
        if ip.is_ipv4() {
            self.v4
        } else {
            self.v6
        }
    }

    fn family(&self) -> &'static str {
        match (self.v4, self.v6) {
            (true, true) => "IPv4 or IPv6",
            (false, true) => "IPv6",
            _ => "IPv4",
        }
    }

    /// Asks `server` for the A and/or AAAA records the transport can use.
    async fn ask(&self, server: SocketAddr, host: &str) -> Result<Vec<IpAddr>, ResolveError> {
        let kinds = [(self.v4, RecordType::A), (self.v6, RecordType::AAAA)];
        let upstream = Upstream {
            addr: server,
            timeout: QUERY_TIMEOUT,
        };
        let (mut ips, mut code, mut error) = (Vec::new(), String::from("NoError"), None);
        for (_, kind) in kinds.into_iter().filter(|(on, _)| *on) {
            let raw = query_bytes(host, kind, rand::random())?;
            match upstream.query(&raw, Protocol::Udp).await {
                Ok(answer) => {
                    code = format!("{:?}", answer.metadata.response_code);
                    ips.extend(answer.answers.iter().filter_map(|r| match &r.data {
                        RData::A(a) => Some(IpAddr::V4(a.0)),
                        RData::AAAA(a) => Some(IpAddr::V6(a.0)),
                        _ => None,
                    }));
                }
                Err(e) => error = Some(e),
            }
        }
        match (ips.is_empty(), error) {
            (false, _) => Ok(ips),
            (true, Some(e)) => Err(e.into()),
            (true, None) => Err(ResolveError::NoAddress {
                family: self.family(),
                code,
            }),
        }
    }
}

/// A recursive query for `host` (made absolute) of type `kind`.
fn query_bytes(host: &str, kind: RecordType, id: u16) -> Result<Vec<u8>, ResolveError> {
    let bad = |source| ResolveError::Name {
        host: host.into(),
        source,
    };
    let mut name = Name::from_ascii(host).map_err(bad)?;
    name.set_fqdn(true);
    let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(name, kind));
    msg.to_vec().map_err(bad)
}

/// What the resolver remembers between rounds.
#[derive(Default)]
struct State {
    /// Last address list sent per peer.
    sent: HashMap<NodeAddr, Vec<SocketAddr>>,
    /// Last good answer per name: a failed lookup keeps it (a DNS hiccup
    /// must not take a working address away).
    good: HashMap<String, Vec<SocketAddr>>,
    /// Names failing now, with their error (logged once per change).
    failing: HashMap<String, String>,
}

/// Resolves every name now and then keeps them fresh, sending a peer's
/// whole address list whenever it changes; `msgs` adds, forgets and
/// refreshes peers while it runs, each looked up at once without moving
/// the next full round. Ends when `tx` closes.
pub(crate) async fn run(
    mut peers: Vec<NamedPeer>,
    mut msgs: mpsc::UnboundedReceiver<ResolverMsg>,
    resolver: Resolver,
    tx: mpsc::Sender<AddrUpdate>,
) {
    let mut state = State::default();
    let mut retry = RETRY;
    let mut next_full = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(next_full) => {
                let mut all_resolved = true;
                for p in &peers {
                    let (update, resolved) = lookup(&resolver, p, &mut state).await;
                    all_resolved &= resolved;
                    if let Some(u) = update {
                        if tx.send(u).await.is_err() {
                            return;
                        }
                    }
                }
                let wait = if all_resolved {
                    retry = RETRY;
                    REFRESH
                } else {
                    let w = retry;
                    retry = (retry * 2).min(REFRESH);
                    w
                };
                next_full = tokio::time::Instant::now() + wait;
            }
            Some(msg) = msgs.recv() => {
                let Some(peer) = apply(&mut peers, &mut state, msg) else {
                    continue;
                };
                let Some(p) = peers.iter().find(|p| p.peer == peer) else {
                    continue;
                };
                let (update, resolved) = lookup(&resolver, p, &mut state).await;
                if !resolved {
                    // A name that fails now is retried soon, not at the
                    // next 30 s round.
                    next_full = next_full.min(tokio::time::Instant::now() + retry);
                }
                if let Some(u) = update {
                    if tx.send(u).await.is_err() {
                        return;
                    }
                }
            }
            _ = tx.closed() => return,
        }
    }
}

/// Applies `msg`; returns the one peer to look up now, if any.
fn apply(peers: &mut Vec<NamedPeer>, state: &mut State, msg: ResolverMsg) -> Option<NodeAddr> {
    match msg {
        ResolverMsg::Add(p) => {
            let peer = p.peer;
            peers.retain(|q| q.peer != peer);
            state.sent.remove(&peer);
            peers.push(p);
            Some(peer)
        }
        ResolverMsg::Forget(peer) => {
            peers.retain(|q| q.peer != peer);
            state.sent.remove(&peer);
            None
        }
        // Sent again even if unchanged: the node may have kept the link
        // when the address changed, and only now, silent, drops it.
        ResolverMsg::Refresh(peer) => {
            state.sent.remove(&peer);
            peers.iter().any(|q| q.peer == peer).then_some(peer)
        }
    }
}

/// Looks up `p`'s names; returns its new address list if it differs from
/// the last one sent, and whether every name resolved.
async fn lookup(
    resolver: &Resolver,
    p: &NamedPeer,
    state: &mut State,
) -> (Option<AddrUpdate>, bool) {
    let mut addrs = p.fixed.clone();
    let mut resolved = true;
    for name in &p.names {
        let key = name.to_string();
        match resolver.resolve(name).await {
            Ok(found) => {
                if state.failing.remove(&key).is_some() {
                    info!(name = %name, key = %name.key, "peer host name resolves again");
                }
                state.good.insert(key, found.clone());
                addrs.extend(found);
            }
            Err(e) => {
                resolved = false;
                note_failure(&mut state.failing, name, &e);
                addrs.extend(state.good.get(&key).into_iter().flatten().copied());
            }
        }
    }
    addrs.sort();
    addrs.dedup();
    // Nothing known at all: keep dialling what we had rather than nothing.
    if addrs.is_empty() || state.sent.get(&p.peer) == Some(&addrs) {
        return (None, resolved);
    }
    info!(peer = %p.peer, addrs = ?addrs, "peer addresses from host names");
    state.sent.insert(p.peer, addrs.clone());
    (Some((p.peer, addrs)), resolved)
}

/// Logs a failure once per distinct error, not on every retry.
fn note_failure(failing: &mut HashMap<String, String>, name: &PeerHost, e: &ResolveError) {
    let text = e.to_string();
    if failing.get(&name.to_string()) != Some(&text) {
        warn!(
            name = %name, key = %name.key, error = %text,
            "cannot resolve a peer host name; retrying (the peer is dialled once it resolves)"
        );
        failing.insert(name.to_string(), text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_asks_recursively_for_the_absolute_name() {
        let raw = query_bytes("fips-node-d", RecordType::A, 0x1234).expect("query");
        let msg = Message::from_vec(&raw).expect("parses back");
        assert_eq!(msg.metadata.id, 0x1234);
        assert!(msg.metadata.recursion_desired);
        assert_eq!(msg.queries[0].name().to_ascii(), "fips-node-d.");
        assert_eq!(msg.queries[0].query_type(), RecordType::A);
    }

    #[test]
    fn the_bind_address_decides_which_families_are_looked_up() {
        let nsec = "01".repeat(32);
        let families = |bind: &str| {
            let env = [("FIPS_NSEC", nsec.as_str()), ("FIPS_UDP_BIND", bind)];
            let config = Config::from_env(&env).expect("config");
            let r = Resolver::from_config(&config);
            (r.v4, r.v6)
        };
        assert_eq!(families("0.0.0.0:4000"), (true, false));
        // Dual stack: IPv4 peers are reached as v4-mapped addresses.
        assert_eq!(families("[::]:4000"), (true, true));
        assert_eq!(families("[fd00::1]:4000"), (false, true));
    }

    #[test]
    fn a_name_that_is_not_a_dns_name_is_an_error_naming_it() {
        let long = "a".repeat(300);
        let err = query_bytes(&long, RecordType::A, 1).expect_err("too long");
        assert!(err.to_string().contains("not a valid DNS name"), "{err}");
    }
}
