//! The dispatch point for the dataplane (sessions, discovery, routing, IPv6).
//! Link messages that are not link maintenance land here, as do TUN packets.
//! For now they are counted and dropped; the dataplane replaces these bodies.
//!
//! What the dataplane may use from the node (all `pub(crate)`):
//! `send_link_message(now, &peer, &LinkMessage)` to send on a link,
//! `peers` (active neighbours), `tree` and `bloom` (routing inputs),
//! `identities` (the identity cache), `tun_out` (packets for fips0),
//! `identity` (to sign and for XK), `epoch`, and the RNG via `random_bytes32`.

use std::time::Instant;

use crate::wire::link::{LookupRequest, LookupResponse, SessionDatagram};
use crate::NodeAddr;

use super::Node;

impl Node {
    pub(super) fn dataplane_session_datagram(
        &mut self,
        _now: Instant,
        _from: NodeAddr,
        _dg: SessionDatagram<'_>,
    ) {
        self.counters.dataplane_unhandled += 1;
    }

    pub(super) fn dataplane_lookup_request(
        &mut self,
        _now: Instant,
        _from: NodeAddr,
        _req: LookupRequest,
    ) {
        self.counters.dataplane_unhandled += 1;
    }

    pub(super) fn dataplane_lookup_response(
        &mut self,
        _now: Instant,
        _from: NodeAddr,
        _resp: LookupResponse,
    ) {
        self.counters.dataplane_unhandled += 1;
    }

    pub(super) fn dataplane_tun_packet(&mut self, _now: Instant, _packet: &[u8]) {
        self.counters.tun_unhandled += 1;
    }
}

/// Timers and link/tree notifications for the dataplane.
impl Node {
    /// The dataplane's earliest deadline (session idle, lookup retries, ...).
    pub(super) fn dataplane_poll_timeout(&self) -> Option<Instant> {
        None
    }

    /// Called from `handle_timeout` on every wake-up.
    pub(super) fn dataplane_timeout(&mut self, _now: Instant) {}

    /// A peer link went down (routes through it are gone).
    pub(super) fn dataplane_peer_down(&mut self, _now: Instant, _peer: NodeAddr) {}

    /// Our tree coordinates changed (coordinate caches may be stale).
    pub(super) fn dataplane_coords_changed(&mut self, _now: Instant) {}
}
