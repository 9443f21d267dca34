//! Discovery: finding a destination's tree coordinates with
//! LookupRequest/LookupResponse.
//!
//! - Origination: attempts with timeouts [1, 2, 4, 8] s, a fresh request_id
//!   each, sent only while some peer's bloom filter contains the target.
//! - Answering requests for ourselves with a signed proof.
//! - Transit: dedup by request_id (10 s), TTL, at most one forward per
//!   target per 2 s, tree peers whose filter matches (else non-tree peers),
//!   responses back along the reverse path, one per request.
//! - Verification of responses with the identity cache.
//!
//! Owns only lookup state; the coordinate cache and what to do with a
//! resolved destination belong to the caller (`session::Dataplane`).

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::addr::NodeAddr;
use crate::routing::{Cx, IdentityCache, MeshView, Throttle};
use crate::wire::lookup::{LookupRequest, LookupResponse};
use crate::wire::Coords;

#[derive(Debug, Clone)]
pub struct DiscoveryConfig {
    pub attempt_timeouts: Vec<Duration>,
    pub ttl: u8,
    pub recent_expiry: Duration,
    pub forward_interval: Duration,
}

impl Default for DiscoveryConfig {
    fn default() -> Self {
        DiscoveryConfig {
            attempt_timeouts: [1, 2, 4, 8].map(Duration::from_secs).to_vec(),
            ttl: 64,
            recent_expiry: Duration::from_secs(10),
            forward_interval: Duration::from_secs(2),
        }
    }
}

/// Bounds on state an attacker can grow by sending requests.
use crate::limits::{MAX_PENDING_LOOKUPS as MAX_PENDING, MAX_RECENT_LOOKUPS as MAX_RECENT};

#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error("duplicate LookupRequest {request_id:#x}")]
    Duplicate { request_id: u64 },
    #[error("request table full")]
    TableFull,
    #[error("LookupRequest TTL exhausted")]
    TtlExhausted,
    #[error("forwarding for this target is rate limited")]
    RateLimited,
    #[error("no peer's bloom filter contains the target")]
    NoCandidate,
    #[error("response for {request_id:#x} already forwarded")]
    AlreadyAnswered { request_id: u64 },
    #[error("no identity known for {target:?}; cannot verify the proof")]
    UnknownIdentity { target: NodeAddr },
    #[error("LookupResponse proof does not verify for {target:?}")]
    BadProof { target: NodeAddr },
    #[error("unsolicited LookupResponse for {target:?}")]
    Unsolicited { target: NodeAddr },
}

/// What a LookupRequest led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestOutcome {
    Answered,
    Forwarded { peers: usize },
}

/// What a LookupResponse led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseOutcome {
    Forwarded,
    /// Our own lookup succeeded: cache these coordinates.
    Resolved {
        target: NodeAddr,
        coords: Coords,
        path_mtu: u16,
    },
}

#[derive(Debug)]
struct PendingLookup {
    attempt: usize,
    deadline: Instant,
}

#[derive(Debug)]
struct Recent {
    from: NodeAddr,
    at: Instant,
    answered: bool,
}

#[derive(Debug)]
pub struct Discovery {
    cfg: DiscoveryConfig,
    pending: HashMap<NodeAddr, PendingLookup>,
    recent: HashMap<u64, Recent>,
    forwards: Throttle<NodeAddr>,
    buf: Vec<u8>,
}

impl Discovery {
    pub fn new(cfg: DiscoveryConfig) -> Self {
        let forwards = Throttle::new(cfg.forward_interval, MAX_RECENT);
        Discovery {
            cfg,
            pending: HashMap::new(),
            recent: HashMap::new(),
            forwards,
            buf: Vec::with_capacity(256),
        }
    }

    /// Our lookups in flight.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Request ids remembered for dedup and reverse paths.
    pub fn recent_len(&self) -> usize {
        self.recent.len()
    }

    pub fn is_pending(&self, target: &NodeAddr) -> bool {
        self.pending.contains_key(target)
    }

    /// Starts a lookup for `target` unless one is running. The first attempt
    /// goes out now if any peer's filter contains the target; otherwise it
    /// waits for the next attempt (blooms may still be converging).
    /// Returns false only when the lookup table is full.
    pub fn start<M: MeshView>(
        &mut self,
        now: Instant,
        target: NodeAddr,
        cx: &mut Cx<'_, M>,
    ) -> bool {
        if self.pending.contains_key(&target) {
            return true;
        }
        if self.pending.len() >= MAX_PENDING {
            return false;
        }
        let first = self
            .cfg
            .attempt_timeouts
            .first()
            .copied()
            .unwrap_or_default();
        self.pending.insert(
            target,
            PendingLookup {
                attempt: 0,
                deadline: now + first,
            },
        );
        self.send_request(target, cx);
        true
    }

    /// Forgets a lookup (the destination became reachable another way).
    pub fn cancel(&mut self, target: &NodeAddr) {
        self.pending.remove(target);
    }

    /// Sends one attempt; returns how many peers it went to.
    fn send_request<M: MeshView>(&mut self, target: NodeAddr, cx: &mut Cx<'_, M>) -> usize {
        let mut peers = candidates(cx.mesh, &target, None);
        if peers.is_empty() {
            // No filter names the target. A reference v0.4.1 parent may
            // hold a child's filter without advertising it (it merges only
            // filters that arrived after the child's TreeAnnounce), yet it
            // forwards lookups by the stored filter: ask our tree peers.
            peers = cx
                .mesh
                .peers_for(&target)
                .filter(|p| p.is_tree_peer)
                .map(|p| p.addr)
                .collect();
        }
        if peers.is_empty() {
            return 0;
        }
        let mut id = [0u8; 8];
        cx.rng.fill_bytes(&mut id);
        let req = LookupRequest {
            request_id: u64::from_le_bytes(id),
            target,
            origin: cx.mesh.identity().node_addr(),
            ttl: self.cfg.ttl,
            min_mtu: 0,
            origin_coords: Coords(cx.mesh.my_coords().to_vec()),
        };
        self.buf.clear();
        req.emit(&mut self.buf);
        peers
            .iter()
            .filter(|p| cx.queue_link(p, &self.buf).is_ok())
            .count()
    }

    /// Handles a LookupRequest received from peer `from`.
    pub fn handle_request<M: MeshView>(
        &mut self,
        now: Instant,
        from: NodeAddr,
        mut req: LookupRequest,
        cx: &mut Cx<'_, M>,
    ) -> Result<RequestOutcome, DiscoveryError> {
        self.purge_recent(now);
        if self.recent.contains_key(&req.request_id) {
            return Err(DiscoveryError::Duplicate {
                request_id: req.request_id,
            });
        }
        if self.recent.len() >= MAX_RECENT {
            return Err(DiscoveryError::TableFull);
        }
        let recent = Recent {
            from,
            at: now,
            answered: false,
        };
        self.recent.insert(req.request_id, recent);
        if req.target == cx.mesh.identity().node_addr() {
            self.answer(&req, from, cx);
            return Ok(RequestOutcome::Answered);
        }
        if req.ttl == 0 {
            return Err(DiscoveryError::TtlExhausted);
        }
        if self.forwards.held(now, &req.target) {
            return Err(DiscoveryError::RateLimited);
        }
        req.ttl -= 1;
        let peers = candidates(cx.mesh, &req.target, Some(&from));
        if peers.is_empty() {
            // Nothing forwarded, nothing charged: while filters converge
            // (a mesh starting), the origin's next attempt a second later
            // must not find this target held back here for 2 s.
            return Err(DiscoveryError::NoCandidate);
        }
        if !self.forwards.allow(now, req.target) {
            return Err(DiscoveryError::RateLimited);
        }
        self.buf.clear();
        req.emit(&mut self.buf);
        let sent = peers
            .iter()
            .filter(|p| cx.queue_link(p, &self.buf).is_ok())
            .count();
        Ok(RequestOutcome::Forwarded { peers: sent })
    }

    /// Signs and sends the response to a request that targets us.
    fn answer<M: MeshView>(&mut self, req: &LookupRequest, to: NodeAddr, cx: &mut Cx<'_, M>) {
        let mtu = cx.mesh.link_mtu(&to).unwrap_or(u16::MAX);
        let mut resp = LookupResponse {
            request_id: req.request_id,
            target: req.target,
            path_mtu: mtu,
            target_coords: Coords(cx.mesh.my_coords().to_vec()),
            proof: [0; 64],
        };
        let mut aux = [0u8; 32];
        cx.rng.fill_bytes(&mut aux);
        resp.proof = cx.mesh.identity().sign(&resp.proof_bytes(), aux);
        self.buf.clear();
        resp.emit(&mut self.buf);
        // A send failure means the peer just went away; the origin retries.
        let _ = cx.queue_link(&to, &self.buf);
    }

    /// Handles a LookupResponse.
    pub fn handle_response<M: MeshView>(
        &mut self,
        now: Instant,
        mut resp: LookupResponse,
        cx: &mut Cx<'_, M>,
        identities: &mut IdentityCache,
    ) -> Result<ResponseOutcome, DiscoveryError> {
        self.purge_recent(now);
        if let Some(recent) = self.recent.get_mut(&resp.request_id) {
            if recent.answered {
                return Err(DiscoveryError::AlreadyAnswered {
                    request_id: resp.request_id,
                });
            }
            recent.answered = true;
            let back = recent.from;
            if let Some(mtu) = cx.mesh.link_mtu(&back) {
                resp.path_mtu = resp.path_mtu.min(mtu);
            }
            self.buf.clear();
            resp.emit(&mut self.buf);
            let _ = cx.queue_link(&back, &self.buf);
            return Ok(ResponseOutcome::Forwarded);
        }
        self.accept(now, resp, identities)
    }

    /// Verifies a response to our own lookup.
    fn accept(
        &mut self,
        now: Instant,
        resp: LookupResponse,
        identities: &mut IdentityCache,
    ) -> Result<ResponseOutcome, DiscoveryError> {
        let target = resp.target;
        if !self.pending.contains_key(&target) {
            return Err(DiscoveryError::Unsolicited { target });
        }
        let id = identities
            .get(now, &target)
            .ok_or(DiscoveryError::UnknownIdentity { target })?;
        if id.node_addr() != target || !id.verify(&resp.proof_bytes(), &resp.proof) {
            return Err(DiscoveryError::BadProof { target });
        }
        self.pending.remove(&target);
        Ok(ResponseOutcome::Resolved {
            target,
            coords: resp.target_coords,
            path_mtu: resp.path_mtu,
        })
    }

    /// Runs due attempts; appends targets whose last attempt expired to
    /// `failed`.
    pub fn handle_timeout<M: MeshView>(
        &mut self,
        now: Instant,
        cx: &mut Cx<'_, M>,
        failed: &mut Vec<NodeAddr>,
    ) {
        let due: Vec<NodeAddr> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(t, _)| *t)
            .collect();
        for target in due {
            let next = self
                .pending
                .get(&target)
                .map_or(usize::MAX, |p| p.attempt + 1);
            match self.cfg.attempt_timeouts.get(next).copied() {
                Some(timeout) => {
                    if let Some(p) = self.pending.get_mut(&target) {
                        p.attempt = next;
                        p.deadline = now + timeout;
                    }
                    self.send_request(target, cx);
                }
                None => {
                    self.pending.remove(&target);
                    failed.push(target);
                }
            }
        }
        self.purge_recent(now);
        self.forwards.purge(now);
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.pending.values().map(|p| p.deadline).min()
    }

    fn purge_recent(&mut self, now: Instant) {
        let expiry = self.cfg.recent_expiry;
        if self.recent.len() < MAX_RECENT / 2 {
            // Cheap path: entries only matter for dedup and reverse paths,
            // so a lazy sweep when the table grows is enough.
            return;
        }
        self.recent
            .retain(|_, r| now.saturating_duration_since(r.at) < expiry);
    }
}

/// Peers to send a request for `target` to: tree peers whose filter
/// contains it, else any other peer whose filter does. Never back to
/// `except` (the peer the request came from).
fn candidates<M: MeshView>(
    mesh: &M,
    target: &NodeAddr,
    except: Option<&NodeAddr>,
) -> Vec<NodeAddr> {
    let mut tree = Vec::new();
    let mut other = Vec::new();
    for p in mesh.peers_for(target) {
        if !p.may_reach || Some(&p.addr) == except {
            continue;
        }
        if p.is_tree_peer {
            tree.push(p.addr);
        } else {
            other.push(p.addr);
        }
    }
    if tree.is_empty() {
        other
    } else {
        tree
    }
}
