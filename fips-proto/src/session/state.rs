//! Per-destination session state: the XK handshake in flight, then the
//! established keys with their rekey slots (current, pending, previous).
//! No I/O here; `Dataplane` decides what to send.

use std::time::Instant;

use super::dataplane::{SessionInfo, SessionStats};
use super::liveness::SessionMmp;
use crate::addr::NodeAddr;
use crate::identity::PeerIdentity;
use crate::noise::{RecvKey, ReplayWindow, SendKey, Transport, XkInitiator, XkResponder};
use crate::noise::{TAG_LEN, XK_MSG1_LEN};

/// One direction pair of session keys with its counters.
pub(crate) struct Keys {
    tx: SendKey,
    rx: RecvKey,
    next_counter: u64,
    replay: ReplayWindow,
}

impl Keys {
    pub fn new(t: Transport) -> Keys {
        Keys {
            tx: t.send,
            rx: t.recv,
            next_counter: 0,
            replay: ReplayWindow::new(),
        }
    }

    pub fn take_counter(&mut self) -> u64 {
        let c = self.next_counter;
        self.next_counter += 1;
        c
    }

    pub fn seal(&self, counter: u64, ad: &[u8], in_out: &mut Vec<u8>) {
        self.tx.seal(counter, ad, in_out);
    }

    /// Replay check, decrypt in place, then window update. Returns the
    /// plaintext length; `buf` is garbage on failure.
    pub fn open(&mut self, counter: u64, ad: &[u8], buf: &mut [u8]) -> Option<usize> {
        if !self.replay.check(counter) {
            return None;
        }
        let n = self.rx.open(counter, ad, buf).ok()?.len();
        self.replay.update(counter);
        Some(n)
    }
}

/// A resend schedule for a stored handshake message.
pub(crate) struct Resend {
    pub payload: Vec<u8>,
    pub count: u8,
    pub next: Instant,
}

/// Our side of an FSP rekey on an established session.
pub(crate) enum Rekey {
    Idle,
    /// We sent a SessionSetup on the live session.
    Initiating {
        hs: XkInitiator,
    },
    /// We answered the peer's SessionSetup; waiting for msg3.
    Responding {
        hs: XkResponder,
        msg1: [u8; XK_MSG1_LEN],
        ack: Vec<u8>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    Current,
    Pending,
    Previous,
}

pub(crate) struct Established {
    /// Known from the start by the initiator, from msg3 by the responder.
    pub peer: PeerIdentity,
    pub initiator: bool,
    pub stats: SessionStats,
    pub current: Keys,
    /// Our K flag: toggles at every cutover.
    pub k_bit: bool,
    pub pending: Option<Keys>,
    /// When we, as rekey initiator, switch to `pending` on our own.
    pub cutover_at: Option<Instant>,
    pub previous: Option<Keys>,
    pub previous_until: Instant,
    pub rekey: Rekey,
    pub start: Instant,
    pub last_data: Instant,
    /// Last frame that authenticated, whatever its type.
    pub last_recv: Instant,
    /// Our first Data since the last frame that authenticated.
    pub unanswered_since: Option<Instant>,
    /// Our ReceiverReports, the peer's, and how long its silence may last.
    pub mmp: SessionMmp,
    /// Last PathMtuNotification we sent: when, and the value.
    pub mtu_reported: Option<(Instant, u16)>,
    /// Data arrived that nothing of ours has answered since: when the
    /// PathMtuNotification that answers it is due (10 s after the last
    /// one), so a sender's last Data never goes unanswered and never
    /// makes a live session look dead to it (`dead_after`).
    pub answer_due: Option<Instant>,
    pub warmup_remaining: u8,
    /// Largest datagram the path takes, learned from MtuExceeded.
    pub path_mtu: u16,
    /// Our msg3 (initial or rekey), resent until the peer proves receipt.
    pub msg3: Option<Resend>,
    pub next_rekey: Instant,
    pub sent_since_rekey: u64,
    pub last_warmup_reply: Option<Instant>,
    pub last_peer_rekey: Option<Instant>,
    pub rekey_started: Instant,
    /// The Setup that created this session (responder side), so a late
    /// copy is not mistaken for a rekey.
    pub initial_msg1: Option<[u8; XK_MSG1_LEN]>,
}

impl Established {
    pub fn new(
        peer: PeerIdentity,
        keys: Keys,
        now: Instant,
        warmup: u8,
        next_rekey: Instant,
    ) -> Self {
        Established {
            peer,
            initiator: false,
            stats: SessionStats::default(),
            current: keys,
            k_bit: false,
            pending: None,
            cutover_at: None,
            previous: None,
            previous_until: now,
            rekey: Rekey::Idle,
            start: now,
            last_data: now,
            last_recv: now,
            unanswered_since: None,
            mmp: SessionMmp::new(),
            mtu_reported: None,
            answer_due: None,
            warmup_remaining: warmup,
            path_mtu: u16::MAX,
            msg3: None,
            next_rekey,
            sent_since_rekey: 0,
            last_warmup_reply: None,
            last_peer_rekey: None,
            rekey_started: now,
            initial_msg1: None,
        }
    }

    /// Whether to tell the sender the path MTU its Data arrived with: first
    /// time, on a decrease, and every 10 s (as the reference does). This
    /// also keeps one-way flows from looking dead to the sender. Data that
    /// is not answered now is answered when the 10 s are up
    /// (`answer_due`, sent by the timer sweep).
    pub fn path_mtu_to_report(&mut self, now: Instant, observed: u16) -> Option<u16> {
        let due = match self.mtu_reported {
            None => true,
            Some((at, v)) => {
                observed < v || now.saturating_duration_since(at) >= MTU_REPORT_INTERVAL
            }
        };
        if due {
            self.mtu_reported = Some((now, observed));
            self.answer_due = None;
        } else if let Some((at, _)) = self.mtu_reported {
            self.answer_due.get_or_insert(at + MTU_REPORT_INTERVAL);
        }
        due.then_some(observed)
    }

    /// The deferred answer to Data (`answer_due`), once it is due: the
    /// path MTU to report again.
    pub fn take_due_answer(&mut self, now: Instant) -> Option<u16> {
        if self.answer_due.is_none_or(|t| now < t) {
            return None;
        }
        self.answer_due = None;
        let (_, v) = self.mtu_reported?;
        self.mtu_reported = Some((now, v));
        Some(v)
    }

    /// Session-relative milliseconds for the inner header.
    pub fn timestamp(&self, now: Instant) -> u32 {
        now.saturating_duration_since(self.start).as_millis() as u32
    }

    /// Makes `pending` current; the old keys stay for late frames.
    /// Switches to the pending keys. Whoever started the rekey, our own
    /// rekey timer starts over from here (at least `min_rekey` from now),
    /// as the reference measures its interval from the last cutover; else
    /// answering a peer's rekey would be followed by one of ours.
    pub fn cut_over(
        &mut self,
        now: Instant,
        drain: std::time::Duration,
        min_rekey: std::time::Duration,
    ) {
        if let Some(next) = self.pending.take() {
            self.next_rekey = self.next_rekey.max(now + min_rekey);
            self.previous = Some(std::mem::replace(&mut self.current, next));
            self.previous_until = now + drain;
            self.k_bit = !self.k_bit;
            self.cutover_at = None;
            self.sent_since_rekey = 0;
            self.mmp.reset_for_rekey();
        }
    }

    /// Decrypts `buf` (ciphertext + tag) in place, trying the slot the K
    /// flag points at first. Only when a second slot exists is the
    /// ciphertext copied into `scratch` for the first try.
    pub fn open(
        &mut self,
        k_flag: bool,
        counter: u64,
        ad: &[u8],
        buf: &mut [u8],
        scratch: &mut Vec<u8>,
    ) -> Option<(Slot, usize)> {
        if buf.len() < TAG_LEN {
            return None;
        }
        let first = if k_flag != self.k_bit && self.pending.is_some() {
            [Slot::Pending, Slot::Current, Slot::Previous]
        } else {
            [Slot::Current, Slot::Pending, Slot::Previous]
        };
        let mut cand = [Slot::Current; 3];
        let mut n = 0;
        for slot in first {
            if self.has(slot) {
                cand[n] = slot;
                n += 1;
            }
        }
        for (i, &slot) in cand[..n].iter().enumerate() {
            let keys = self.keys_mut(slot)?;
            if i + 1 == n {
                return keys.open(counter, ad, buf).map(|len| (slot, len));
            }
            scratch.clear();
            scratch.extend_from_slice(buf);
            if let Some(len) = keys.open(counter, ad, scratch) {
                buf[..len].copy_from_slice(&scratch[..len]);
                return Some((slot, len));
            }
        }
        None
    }

    fn has(&self, slot: Slot) -> bool {
        match slot {
            Slot::Current => true,
            Slot::Pending => self.pending.is_some(),
            Slot::Previous => self.previous.is_some(),
        }
    }

    fn keys_mut(&mut self, slot: Slot) -> Option<&mut Keys> {
        match slot {
            Slot::Current => Some(&mut self.current),
            Slot::Pending => self.pending.as_mut(),
            Slot::Previous => self.previous.as_mut(),
        }
    }
}

const MTU_REPORT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

/// Encrypted messages kept per session while msg3 is missing.
pub(crate) use crate::limits::EARLY_LIMIT;

pub(crate) enum SessionState {
    /// We sent SessionSetup and wait for the Ack.
    Initiating {
        hs: XkInitiator,
        setup: Vec<u8>,
        resends: u8,
        next_resend: Instant,
        deadline: Instant,
    },
    /// We answered a SessionSetup and wait for msg3.
    AwaitingMsg3 {
        hs: XkResponder,
        msg1: [u8; XK_MSG1_LEN],
        ack: Vec<u8>,
        deadline: Instant,
        /// Encrypted messages that overtook a lost msg3 (the initiator
        /// flushes its queue as soon as it sends msg3); replayed after it.
        early: Vec<Vec<u8>>,
    },
    Established(Box<Established>),
}

impl SessionState {
    pub fn info(&self, remote: NodeAddr) -> SessionInfo {
        let mut info = SessionInfo {
            remote,
            peer: None,
            state: self.name(),
            is_initiator: matches!(self, SessionState::Initiating { .. }),
            current_k_bit: false,
            is_draining: false,
            coords_warmup_remaining: 0,
            session_start: None,
            last_activity: None,
            path_mtu: None,
            stats: SessionStats::default(),
        };
        if let SessionState::Established(e) = self {
            info.peer = Some(e.peer);
            info.is_initiator = e.initiator;
            info.current_k_bit = e.k_bit;
            info.is_draining = e.previous.is_some();
            info.coords_warmup_remaining = e.warmup_remaining;
            info.session_start = Some(e.start);
            info.last_activity = Some(e.last_data);
            info.path_mtu = (e.path_mtu != u16::MAX).then_some(e.path_mtu);
            info.stats = e.stats;
        }
        info
    }

    pub fn name(&self) -> &'static str {
        match self {
            SessionState::Initiating { .. } => "initiating",
            SessionState::AwaitingMsg3 { .. } => "awaiting_msg3",
            SessionState::Established(_) => "established",
        }
    }
}
