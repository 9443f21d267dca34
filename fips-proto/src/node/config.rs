//! Node configuration: identity, configured peers, MTUs and protocol timers.
//! Plain data; the daemon builds it from YAML, tests build it directly.

use std::net::SocketAddr;
use std::time::Duration;

use crate::identity::{Identity, PeerIdentity};

/// Everything the node needs at start. The secret key moves in here.
pub struct NodeConfig {
    pub identity: Identity,
    pub peers: Vec<PeerConfig>,
    pub link_mtu: u16,
    pub tun_mtu: u16,
    pub timers: Timers,
}

/// A peer we know how to reach (from config or `connect`).
#[derive(Clone, Debug)]
pub struct PeerConfig {
    pub identity: PeerIdentity,
    pub alias: Option<String>,
    pub addrs: Vec<SocketAddr>,
    pub auto_connect: bool,
}

/// Protocol timers and limits. Defaults are the reference v0.4.1 values.
#[derive(Clone, Debug)]
pub struct Timers {
    pub heartbeat: Duration,
    pub link_dead: Duration,
    pub handshake_resend: Duration,
    pub handshake_max_resends: u32,
    pub handshake_timeout: Duration,
    pub reconnect_base: Duration,
    pub reconnect_cap: Duration,
    pub rekey_after: Duration,
    pub rekey_jitter: Duration,
    pub rekey_after_messages: u64,
    pub rekey_min_age: Duration,
    pub rekey_dampening: Duration,
    pub rekey_cutover: Duration,
    pub drain: Duration,
    pub mmp_report: Duration,
    /// A peer that has answered nothing for this long (or twice its MMP
    /// report interval, if longer) since we sent it a frame is "silent":
    /// routing prefers any other peer that makes progress until it is
    /// heard again. Every live peer answers within its report interval,
    /// so this moves traffic off a dead transit long before `link_dead`
    /// removes it. Not a wire change.
    pub peer_silent: Duration,
    pub tree_reeval: Duration,
    pub tree_announce_min_gap: Duration,
    pub bloom_debounce: Duration,
    /// How often (±25 %) every peer gets our TreeAnnounce and FilterAnnounce
    /// again, changed or not: neither is acknowledged, so one lost on a
    /// lossy link would otherwise stay lost (the reference has no such
    /// timer; resends are plain announces, no wire change).
    pub mesh_refresh: Duration,
    pub max_decrypt_failures: u32,
    /// Authenticated peers (`node.limits.max_peers`): msg1 from a new
    /// identity is refused while this many are linked.
    pub max_peers: usize,
    /// Links (`node.limits.max_links`): linked peers plus our handshakes in
    /// flight, each of which holds a link's state. A new dial or a msg1
    /// from a new identity is refused while this many exist.
    pub max_links: usize,
    /// Our handshakes in flight (`node.limits.max_connections`): a dial
    /// beyond it waits for its next attempt (counted, then retried with
    /// backoff).
    pub max_connections: usize,
    /// An identity nothing used for this long (a DNS answer no packet
    /// followed, a session long ended) leaves the identity cache
    /// (`node.identity_idle_secs`); linked peers' and sessions' never do.
    pub identity_idle: Duration,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            heartbeat: Duration::from_secs(10),
            link_dead: Duration::from_secs(30),
            handshake_resend: Duration::from_secs(1),
            handshake_max_resends: 5,
            handshake_timeout: Duration::from_secs(30),
            reconnect_base: Duration::from_secs(5),
            reconnect_cap: Duration::from_secs(300),
            rekey_after: Duration::from_secs(120),
            rekey_jitter: Duration::from_secs(15),
            rekey_after_messages: 65_536,
            rekey_min_age: Duration::from_secs(30),
            rekey_dampening: Duration::from_secs(30),
            // The initiator cuts over on its next 1 s tick after msg2, as the reference does.
            rekey_cutover: Duration::from_secs(1),
            drain: Duration::from_secs(10),
            mmp_report: Duration::from_secs(1),
            peer_silent: Duration::from_secs(3),
            tree_reeval: Duration::from_secs(60),
            tree_announce_min_gap: Duration::from_millis(500),
            bloom_debounce: Duration::from_millis(500),
            mesh_refresh: Duration::from_secs(15),
            max_decrypt_failures: 20,
            max_peers: 128,
            max_links: 256,
            max_connections: 256,
            identity_idle: crate::limits::IDENTITY_IDLE,
        }
    }
}

impl Timers {
    /// Delay before resend number `done + 1` of a msg1: base × 2^done.
    pub(crate) fn resend_after(&self, done: u32) -> Duration {
        self.handshake_resend.saturating_mul(1u32 << done.min(16))
    }
}
