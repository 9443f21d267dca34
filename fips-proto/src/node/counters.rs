//! Why packets were dropped. Every drop on the receive path bumps exactly one
//! counter here; the node never panics on outside input.

use serde::Serialize;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// Datagrams that failed to parse at the FMP layer (bad prefix, sizes, flags).
    pub malformed: u64,
    /// Established frames or msg2s whose receiver index we do not know.
    pub unknown_index: u64,
    /// Frames that failed AEAD authentication.
    pub decrypt_failed: u64,
    /// Frames rejected by the replay window.
    pub replayed: u64,
    /// Authenticated frames whose inner link message did not parse.
    pub malformed_inner: u64,
    /// msg1 that failed Noise processing (wrong responder key, garbage).
    pub handshake_failed: u64,
    /// msg1 from a new identity refused because `max_peers` are up.
    pub peer_limit: u64,
    /// msg1 from a new identity or a dial of ours refused because
    /// `max_links` links exist.
    pub link_limit: u64,
    /// Dials of ours put off because `max_connections` handshakes are in flight.
    pub connection_limit: u64,
    /// msg1 dropped by the rate limiter.
    pub msg1_rate_limited: u64,
    /// msg1 from an active peer answered by resending the stored msg2.
    pub msg1_duplicate: u64,
    /// msg1 dropped because the other handshake of a cross-connection wins.
    pub cross_connection_dropped: u64,
    /// msg1 for a rekey dropped (pending session held, or we win the dual init).
    pub rekey_msg1_dropped: u64,
    /// Completed rekeys (cutovers).
    pub rekeys: u64,
    /// Peers restarted (new epoch) and re-accepted.
    pub peer_restarts: u64,
    /// Peers dropped for silence.
    pub dead_peers: u64,
    /// Peers marked silent (frames unanswered for `Timers::peer_silent`).
    pub silent_peers: u64,
    /// TreeAnnounce rejected: bad signature.
    pub tree_sig_failed: u64,
    /// TreeAnnounce rejected by the tree (invalid ancestry, root not minimum).
    pub tree_rejected: u64,
    /// TreeAnnounce not newer than the stored one (periodic re-broadcasts).
    pub tree_stale: u64,
    /// FilterAnnounce rejected (stale seq, antipoison, bad size).
    pub filter_rejected: u64,
    /// Link messages for the dataplane (SessionDatagram, Lookup*) not yet handled.
    pub dataplane_unhandled: u64,
    /// Dataplane link messages the node could not frame (the link went
    /// down between routing and sending, or a message too long).
    pub link_sends_failed: u64,
    /// TUN packets not yet handled.
    pub tun_unhandled: u64,
    /// Handshakes given up after the timeout.
    pub handshake_timeouts: u64,
}
