//! Dataplane settings, defaulting to the reference v0.4.1 values.

use std::time::Duration;

use crate::discovery::DiscoveryConfig;

#[derive(Debug, Clone)]
pub struct DataplaneConfig {
    /// Link MTU the TUN side plans for; the effective IPv6 MTU is this − 77.
    pub link_mtu: u16,
    /// Our startup epoch, carried in XK msg2/msg3.
    pub epoch: [u8; 8],
    pub session_ttl: u8,
    pub idle_timeout: Duration,
    /// A session whose oldest unanswered Data is this old is dead (the
    /// peer restarted and dropped it): start over. A live peer answers
    /// Data within 10 s (reference ReceiverReports every 0.5-10 s, our
    /// PathMtuNotification at least every 10 s while Data arrives and
    /// within 10 s of the last Data).
    pub dead_after: Duration,
    /// Data packets per session that carry CP coordinates.
    pub coords_warmup_packets: u8,
    pub coords_response_interval: Duration,
    pub routing_error_interval: Duration,
    pub icmp_interval: Duration,
    pub pending_per_dest: usize,
    pub pending_dests: usize,
    pub handshake_resend: Duration,
    pub handshake_resends: u8,
    /// First resend of our msg3 while the peer has not proven it got it;
    /// short because the data we send meanwhile is lost if it did not.
    pub msg3_resend: Duration,
    pub handshake_timeout: Duration,
    pub max_handshakes: usize,
    /// Sessions of any state; a new peer beyond this is refused.
    pub max_sessions: usize,
    pub rekey_after: Duration,
    pub rekey_jitter: Duration,
    pub rekey_after_packets: u64,
    pub rekey_cutover: Duration,
    pub drain_window: Duration,
    pub peer_rekey_dampening: Duration,
    pub discovery: DiscoveryConfig,
}

impl Default for DataplaneConfig {
    fn default() -> Self {
        DataplaneConfig {
            link_mtu: 1280,
            epoch: [0; 8],
            session_ttl: 64,
            idle_timeout: Duration::from_secs(90),
            dead_after: Duration::from_secs(30),
            coords_warmup_packets: 5,
            coords_response_interval: Duration::from_secs(2),
            routing_error_interval: Duration::from_millis(100),
            icmp_interval: Duration::from_millis(100),
            pending_per_dest: 16,
            pending_dests: 256,
            handshake_resend: Duration::from_secs(1),
            handshake_resends: 5,
            msg3_resend: Duration::from_millis(250),
            handshake_timeout: Duration::from_secs(30),
            max_handshakes: 1024,
            max_sessions: 16_384,
            rekey_after: Duration::from_secs(120),
            rekey_jitter: Duration::from_secs(15),
            rekey_after_packets: 65_536,
            rekey_cutover: Duration::from_secs(2),
            drain_window: Duration::from_secs(10),
            peer_rekey_dampening: Duration::from_secs(30),
            discovery: DiscoveryConfig::default(),
        }
    }
}

impl DataplaneConfig {
    /// The earliest our own rekey may follow a cutover: the interval less
    /// its jitter, so a rekey the peer started restarts our timer.
    pub fn min_rekey_after_cutover(&self) -> Duration {
        self.rekey_after.saturating_sub(self.rekey_jitter)
    }
}
