//! Per-peer link state: the authenticated peer, its current / pending /
//! previous Noise sessions (rekey), MMP state and timers. Pure data plus
//! small helpers; the node drives it.

use std::net::SocketAddr;
use std::time::Instant;

use crate::identity::PeerIdentity;
use crate::mmp::{MmpMetrics, MmpReceiver};
use crate::noise::{IkInitiator, RecvKey, ReplayWindow, SendKey, Transport};
use crate::NodeAddr;

use super::timers::TimerTable;

/// Which side dialled the link that is now in use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Outbound,
    Inbound,
}

/// One Noise IK transport session with its indices and counters.
pub(crate) struct LinkSession {
    pub our_index: u32,
    pub their_index: u32,
    pub send: SendKey,
    pub recv: RecvKey,
    pub send_counter: u64,
    pub replay: ReplayWindow,
    pub highest_recv: Option<u64>,
    /// Who ran msg1 for this session (the cross-connection rule compares it).
    pub initiator: NodeAddr,
    /// Responder only: the noise msg1 we answered and our msg2 on the wire,
    /// so a retransmitted msg1 gets the same msg2 without new crypto.
    pub answered: Option<([u8; 106], Vec<u8>)>,
}

impl LinkSession {
    pub(crate) fn new(
        keys: Transport,
        our_index: u32,
        their_index: u32,
        initiator: NodeAddr,
    ) -> Self {
        LinkSession {
            our_index,
            their_index,
            send: keys.send,
            recv: keys.recv,
            send_counter: 0,
            replay: ReplayWindow::new(),
            highest_recv: None,
            initiator,
            answered: None,
        }
    }
}

/// Our outstanding rekey msg1 to an active peer.
pub(crate) struct RekeyInit {
    pub hs: Option<IkInitiator>,
    pub our_index: u32,
    pub msg1: Vec<u8>,
    pub resends: u32,
}

/// Where the last SenderReport's interval ended.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SrMark {
    pub counter: u64,
    pub timestamp: u32,
    pub bytes: u64,
}

/// Authenticated traffic on one link.
#[derive(Clone, Copy, Debug, Default)]
pub struct LinkStats {
    pub packets_sent: u64,
    pub bytes_sent: u64,
    pub packets_recv: u64,
    pub bytes_recv: u64,
}

/// An authenticated neighbour.
pub(crate) struct Peer {
    pub identity: PeerIdentity,
    pub addr: NodeAddr,
    pub link_id: u64,
    pub direction: Direction,
    pub remote: SocketAddr,
    pub current: LinkSession,
    pub pending: Option<LinkSession>,
    pub previous: Option<LinkSession>,
    pub remote_epoch: [u8; 8],
    pub k_bit: bool,
    pub session_start: Instant,
    pub authenticated_at_ms: u64,
    pub last_recv: Instant,
    pub last_recv_unix_ms: u64,
    /// First frame we sent since the peer was last heard, if any.
    pub unanswered_since: Option<Instant>,
    /// Silent (see `Timers::peer_silent`): routing avoids it.
    pub silent: bool,
    pub rekey: Option<RekeyInit>,
    pub peer_rekey_at: Option<Instant>,
    pub mmp_rx: MmpReceiver,
    pub mmp: MmpMetrics,
    pub stats: LinkStats,
    pub sr_mark: SrMark,
    pub decrypt_failures: u32,
    pub timers: TimerTable,
}

/// Which session of a peer a receiver index selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Slot {
    Current,
    Pending,
    Previous,
}

impl Peer {
    /// A frame from the peer arrived. Returns whether it had been silent
    /// (routing must then look at it again).
    pub(crate) fn heard(&mut self) -> bool {
        self.unanswered_since = None;
        std::mem::replace(&mut self.silent, false)
    }

    pub(crate) fn slot_for(&self, our_index: u32) -> Option<Slot> {
        if self.current.our_index == our_index {
            Some(Slot::Current)
        } else if self
            .pending
            .as_ref()
            .is_some_and(|s| s.our_index == our_index)
        {
            Some(Slot::Pending)
        } else if self
            .previous
            .as_ref()
            .is_some_and(|s| s.our_index == our_index)
        {
            Some(Slot::Previous)
        } else {
            None
        }
    }

    pub(crate) fn session_mut(&mut self, slot: Slot) -> Option<&mut LinkSession> {
        match slot {
            Slot::Current => Some(&mut self.current),
            Slot::Pending => self.pending.as_mut(),
            Slot::Previous => self.previous.as_mut(),
        }
    }

    /// Indices this peer holds in the node's index table.
    pub(crate) fn indices(&self) -> Vec<u32> {
        let mut v = vec![self.current.our_index];
        v.extend(self.pending.as_ref().map(|s| s.our_index));
        v.extend(self.previous.as_ref().map(|s| s.our_index));
        v.extend(self.rekey.as_ref().map(|r| r.our_index));
        v
    }

    /// Link timestamp: ms since the current session started (wraps like the wire u32).
    pub(crate) fn link_ts(&self, now: Instant) -> u32 {
        now.saturating_duration_since(self.session_start)
            .as_millis() as u32
    }

    /// The msg2 we sent in answer to exactly this msg1, if any session holds it.
    pub(crate) fn stored_msg2_for(&self, noise1: &[u8; 106]) -> Option<&[u8]> {
        [
            Some(&self.current),
            self.pending.as_ref(),
            self.previous.as_ref(),
        ]
        .into_iter()
        .flatten()
        .find_map(|s| match &s.answered {
            Some((m1, m2)) if m1 == noise1 => Some(m2.as_slice()),
            _ => None,
        })
    }
}
