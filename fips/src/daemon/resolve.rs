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

/// Where names are looked up, and which address family the transport can
/// reach.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Resolver {
    pub server: Option<SocketAddr>,
    pub ipv6: bool,
}

impl Resolver {
    pub(crate) fn from_config(config: &Config) -> Resolver {
        Resolver {
            server: config.peer_resolver,
            ipv6: config.udp.bind.is_ipv6(),
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
            .filter(|ip| ip.is_ipv6() == self.ipv6)
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

    fn family(&self) -> &'static str {
        if self.ipv6 {
            "IPv6"
        } else {
            "IPv4"
        }
    }

    async fn ask(&self, server: SocketAddr, host: &str) -> Result<Vec<IpAddr>, ResolveError> {
        let kind = if self.ipv6 {
            RecordType::AAAA
        } else {
            RecordType::A
        };
        let raw = query_bytes(host, kind, rand::random())?;
        let upstream = Upstream {
            addr: server,
            timeout: QUERY_TIMEOUT,
        };
        let answer = upstream.query(&raw, Protocol::Udp).await?;
        let ips: Vec<IpAddr> = answer
            .answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::A(a) => Some(IpAddr::V4(a.0)),
                RData::AAAA(a) => Some(IpAddr::V6(a.0)),
                _ => None,
            })
            .collect();
        if ips.is_empty() {
            return Err(ResolveError::NoAddress {
                family: self.family(),
                code: format!("{:?}", answer.metadata.response_code),
            });
        }
        Ok(ips)
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

/// Resolves every name now and then keeps them fresh, sending a peer's
/// whole address list whenever it changes; `msgs` adds, forgets and
/// refreshes peers while it runs. Ends when `tx` closes.
pub(crate) async fn run(
    mut peers: Vec<NamedPeer>,
    mut msgs: mpsc::UnboundedReceiver<ResolverMsg>,
    resolver: Resolver,
    tx: mpsc::Sender<AddrUpdate>,
) {
    let mut last: HashMap<NodeAddr, Vec<SocketAddr>> = HashMap::new();
    let mut failing: HashMap<String, String> = HashMap::new();
    let mut retry = RETRY;
    let mut only: Option<NodeAddr> = None;
    loop {
        let mut all_resolved = true;
        for p in peers.iter().filter(|p| only.is_none_or(|o| o == p.peer)) {
            let (addrs, resolved) = resolve_peer(&resolver, p, &mut failing).await;
            all_resolved &= resolved;
            // Nothing resolved: keep dialling what we had rather than nothing.
            if addrs.is_empty() || last.get(&p.peer) == Some(&addrs) {
                continue;
            }
            info!(peer = %p.peer, addrs = ?addrs, "peer addresses from host names");
            last.insert(p.peer, addrs.clone());
            if tx.send((p.peer, addrs)).await.is_err() {
                return;
            }
        }
        // After a one-peer lookup the round's timing stays as it was.
        let wait = match (only.take(), all_resolved) {
            (Some(_), _) => retry.min(REFRESH),
            (None, true) => {
                retry = RETRY;
                REFRESH
            }
            (None, false) => {
                let w = retry;
                retry = (retry * 2).min(REFRESH);
                w
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            Some(msg) = msgs.recv() => only = apply(&mut peers, &mut last, msg),
            _ = tx.closed() => return,
        }
    }
}

/// Applies `msg`; returns the one peer to look up now, if any.
fn apply(
    peers: &mut Vec<NamedPeer>,
    last: &mut HashMap<NodeAddr, Vec<SocketAddr>>,
    msg: ResolverMsg,
) -> Option<NodeAddr> {
    match msg {
        ResolverMsg::Add(p) => {
            let peer = p.peer;
            peers.retain(|q| q.peer != peer);
            last.remove(&peer);
            peers.push(p);
            Some(peer)
        }
        ResolverMsg::Forget(peer) => {
            peers.retain(|q| q.peer != peer);
            last.remove(&peer);
            None
        }
        ResolverMsg::Refresh(peer) => peers.iter().any(|q| q.peer == peer).then_some(peer),
    }
}

/// A peer's fixed addresses plus what its names resolve to now, and
/// whether every name resolved.
async fn resolve_peer(
    resolver: &Resolver,
    p: &NamedPeer,
    failing: &mut HashMap<String, String>,
) -> (Vec<SocketAddr>, bool) {
    let mut addrs = p.fixed.clone();
    let mut resolved = true;
    for name in &p.names {
        match resolver.resolve(name).await {
            Ok(found) => {
                if failing.remove(&name.to_string()).is_some() {
                    info!(name = %name, key = %name.key, "peer host name resolves again");
                }
                addrs.extend(found);
            }
            Err(e) => {
                resolved = false;
                note_failure(failing, name, &e);
            }
        }
    }
    addrs.sort();
    addrs.dedup();
    (addrs, resolved)
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
    fn a_name_that_is_not_a_dns_name_is_an_error_naming_it() {
        let long = "a".repeat(300);
        let err = query_bytes(&long, RecordType::A, 1).expect_err("too long");
        assert!(err.to_string().contains("not a valid DNS name"), "{err}");
    }
}
