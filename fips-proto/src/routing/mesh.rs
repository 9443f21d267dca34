//! `MeshView`: what the dataplane needs from the node around it. The node
//! implements it over its links, tree and bloom state; tests implement it
//! over a few vectors. Keeping it narrow is what lets sessions, discovery
//! and routing be tested without links.

use crate::addr::NodeAddr;
use crate::identity::Identity;

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

/// The node as the dataplane sees it.
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

    /// Changes whenever peers, the tree or bloom filters change, so routing
    /// decisions cached under one value stay valid until it moves.
    fn topology_version(&self) -> u64;

    /// Queues one link message (msg_type byte first) for `peer`; the node
    /// adds the link header and encrypts.
    fn send_link(&mut self, peer: &NodeAddr, msg: &[u8]) -> Result<(), LinkSendError>;

    /// Fills `out` from the node's CSPRNG (ephemeral keys, request ids,
    /// epochs, signature aux bytes).
    fn fill_random(&mut self, out: &mut [u8]);
}

/// Link framing around a link message: 16-byte outer header, 4-byte
/// timestamp, 16-byte tag. The msg_type byte is part of the message.
pub const LINK_FRAME_OVERHEAD: usize = 36;

/// Whether a link message of `len` bytes fits a link of `link_mtu`.
pub fn fits_link(len: usize, link_mtu: u16) -> bool {
    len + LINK_FRAME_OVERHEAD <= usize::from(link_mtu)
}
