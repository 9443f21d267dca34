//! The one-way boundary between the node and its dataplane (sessions,
//! discovery, routing), in the shape of quinn's endpoint and connection:
//! the dataplane reads the mesh through `MeshView` (read only), draws
//! randomness from the RNG it is handed, and leaves the link messages it
//! wants sent in an `Outbox` that the node drains after the call. It never
//! calls back into the node. Topology changes reach it as `MeshChange`
//! events. The node implements `MeshView` over its links, tree and bloom
//! state; tests implement it over a few vectors.

use std::ops::Range;

use rand_core::RngCore;

use crate::addr::NodeAddr;
use crate::identity::Identity;
use crate::wire::fmp::EstablishedHeader;
use crate::wire::link::LinkInner;
use crate::wire::TAG_LEN;

/// One authenticated neighbour, as seen for a particular target address.
#[derive(Debug, Clone, Copy)]
pub struct PeerInfo<'a> {
    pub addr: NodeAddr,
    /// Our parent or one of our children in the spanning tree.
    pub is_tree_peer: bool,
    /// The peer's inbound bloom filter contains the target asked about.
    pub may_reach: bool,
    /// The peer's tree coordinates (self → root), once it announced them.
    pub coords: Option<&'a [NodeAddr]>,
    /// Largest link frame (UDP payload) we may send to this peer.
    pub link_mtu: u16,
    /// Link cost from MMP (lower is better); 1.0 when unmeasured.
    pub link_cost: f64,
    /// Our recent frames went unanswered: likely dead, not yet timed out.
    /// Chosen only when no other peer makes progress.
    pub silent: bool,
}

/// Why a link message could not be queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkSendError {
    /// No authenticated link to `peer` (never linked, or gone).
    #[error("no link to {peer:?}: it is not an authenticated peer")]
    NotConnected { peer: NodeAddr },
    /// The message does not fit one link frame (or is empty).
    #[error("a {len}-byte link message for {peer:?} does not fit a link frame (1 to {max} bytes)")]
    BadLength {
        peer: NodeAddr,
        len: usize,
        max: usize,
    },
}

/// The node as the dataplane sees it: read only.
pub trait MeshView {
    /// Our long-term identity (signs LookupResponse proofs, XK static key).
    fn identity(&self) -> &Identity;

    /// Our tree coordinates, self → root.
    fn my_coords(&self) -> &[NodeAddr];

    /// Every authenticated peer, with `may_reach` answered for `target`.
    fn peers_for(&self, target: &NodeAddr) -> impl Iterator<Item = PeerInfo<'_>>;

    /// One peer, with `may_reach` answered for `target`.
    fn peer(&self, addr: &NodeAddr, target: &NodeAddr) -> Option<PeerInfo<'_>>;

    /// The link MTU toward a connected peer, `None` when it is not
    /// connected. Called per packet, so it must not touch bloom filters.
    fn link_mtu(&self, peer: &NodeAddr) -> Option<u16>;
}

/// What changed in the mesh around the dataplane. Every change may move
/// next hops, so remembered routing decisions go with each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MeshChange {
    /// A peer link came up or went down, a peer fell silent or was heard
    /// again, a peer's bloom filter or tree position changed.
    Peers,
    /// Our tree coordinates changed: cached coordinates of others stay
    /// unless the parent moved (as the reference keeps them).
    Coords,
    /// Our tree parent changed (or we became root): coordinates cached
    /// under the old position go too.
    Parent,
}

/// Link messages (msg_type byte first) the dataplane wants sent, in the
/// order it produced them, in one reused byte buffer. The node drains it
/// with `poll` after every dataplane call, adds the link header and
/// encrypts.
#[derive(Debug, Default)]
pub struct Outbox {
    bytes: Vec<u8>,
    sends: Vec<(NodeAddr, Range<usize>)>,
    next: usize,
}

impl Outbox {
    /// Queues `msg` for `peer`, which must be connected in `mesh`.
    pub fn send<M: MeshView>(
        &mut self,
        mesh: &M,
        peer: &NodeAddr,
        msg: &[u8],
    ) -> Result<(), LinkSendError> {
        if mesh.link_mtu(peer).is_none() {
            return Err(LinkSendError::NotConnected { peer: *peer });
        }
        let max = crate::node::frames::MAX_LINK_MESSAGE;
        if msg.is_empty() || msg.len() > max {
            return Err(LinkSendError::BadLength {
                peer: *peer,
                len: msg.len(),
                max,
            });
        }
        let start = self.bytes.len();
        self.bytes.extend_from_slice(msg);
        self.sends.push((*peer, start..self.bytes.len()));
        Ok(())
    }

    /// The next queued message and its peer; `None` once drained (the
    /// buffer is then reset for the next call).
    pub fn poll(&mut self) -> Option<(NodeAddr, &[u8])> {
        let Some((peer, range)) = self.sends.get(self.next).cloned() else {
            self.bytes.clear();
            self.sends.clear();
            self.next = 0;
            return None;
        };
        self.next += 1;
        Some((peer, &self.bytes[range]))
    }

    pub fn is_empty(&self) -> bool {
        self.next >= self.sends.len()
    }
}

/// One dataplane call's context: the mesh as it stands, the randomness it
/// may draw (ephemeral keys, request ids, jitter, signature aux bytes),
/// and the outbox its link messages go to.
pub struct Cx<'a, M> {
    pub mesh: &'a M,
    pub rng: &'a mut dyn RngCore,
    pub out: &'a mut Outbox,
}

impl<M: MeshView> Cx<'_, M> {
    /// Queues a link message for `peer` (see `Outbox::send`).
    pub fn queue_link(&mut self, peer: &NodeAddr, msg: &[u8]) -> Result<(), LinkSendError> {
        self.out.send(self.mesh, peer, msg)
    }
}

/// Link framing around a link message: outer header, timestamp, tag. The
/// msg_type byte is part of the message.
pub const LINK_FRAME_OVERHEAD: usize = EstablishedHeader::LEN + LinkInner::TIMESTAMP_LEN + TAG_LEN;

/// Whether a link message of `len` bytes fits a link of `link_mtu`.
pub fn fits_link(len: usize, link_mtu: u16) -> bool {
    len + LINK_FRAME_OVERHEAD <= usize::from(link_mtu)
}
