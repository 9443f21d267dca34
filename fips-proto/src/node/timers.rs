//! Timers of the node's peers: a tiny fixed table per link (one optional
//! deadline per kind), in the style of quinn's `connection/timer.rs`, and
//! `PeerTimer`, what `handle_timeout` fires per peer. The one idiom, here
//! as for sessions (`session::timers`): collect the (peer, timer) pairs due,
//! then fire each through one `on_*_timer` that re-checks what it needs.
//! The node takes the minimum over all deadlines for `poll_timeout`.

use std::time::Instant;

/// One timer of one peer entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PeerTimer {
    /// Our msg1 is due again, or the handshake timed out.
    Dial,
    /// A configured peer's next dial.
    Reconnect,
    /// A link timer.
    Link(LinkTimer),
}

/// Per-link timers. Each fires at most once per arming.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LinkTimer {
    /// Send a Heartbeat (every 10 s regardless of traffic).
    Heartbeat,
    /// Check for a silent (dead) peer.
    Dead,
    /// Mark a peer that left our frames unanswered as silent.
    Silent,
    /// Send an MMP ReceiverReport.
    Report,
    /// Send an MMP SenderReport.
    SenderReport,
    /// Start a rekey (120 s ± jitter after the session started).
    Rekey,
    /// Resend the outstanding rekey msg1, or abandon the cycle.
    RekeyResend,
    /// Switch to the pending session.
    Cutover,
    /// Forget the previous session after the drain window.
    Drain,
}

impl LinkTimer {
    pub(crate) const ALL: [LinkTimer; 9] = [
        LinkTimer::Heartbeat,
        LinkTimer::Dead,
        LinkTimer::Silent,
        LinkTimer::Report,
        LinkTimer::SenderReport,
        LinkTimer::Rekey,
        LinkTimer::RekeyResend,
        LinkTimer::Cutover,
        LinkTimer::Drain,
    ];
}

#[derive(Clone, Debug, Default)]
pub(crate) struct TimerTable {
    at: [Option<Instant>; LinkTimer::ALL.len()],
    /// The earliest of `at`, kept on every change: the node asks every
    /// peer for it after each event, and on a hub with N peers the scan
    /// of all their slots was the largest share of its idle CPU.
    next: Option<Instant>,
    /// The deadline of this link's live entry in the peer table's heap
    /// (`peers::LinkWakes`), never after `next`.
    pub(crate) queued: Option<Instant>,
    /// Listed among the links to re-queue (`peers::LinkWakes::touched`).
    pub(crate) touched: bool,
}

impl TimerTable {
    pub(crate) fn set(&mut self, t: LinkTimer, when: Instant) {
        self.at[t as usize] = Some(when);
        self.recompute();
    }

    /// Arm only if not armed or armed later (keeps the earliest deadline).
    pub(crate) fn set_earliest(&mut self, t: LinkTimer, when: Instant) {
        let slot = &mut self.at[t as usize];
        if slot.is_none_or(|cur| when < cur) {
            *slot = Some(when);
            self.recompute();
        }
    }

    pub(crate) fn stop(&mut self, t: LinkTimer) {
        self.at[t as usize] = None;
        self.recompute();
    }

    fn recompute(&mut self) {
        self.next = self.at.iter().flatten().min().copied();
    }

    #[cfg(test)]
    pub(crate) fn get(&self, t: LinkTimer) -> Option<Instant> {
        self.at[t as usize]
    }

    pub(crate) fn next(&self) -> Option<Instant> {
        self.next
    }

    /// Disarms and returns every timer due at `now`, in declaration order.
    pub(crate) fn expired(&mut self, now: Instant) -> Vec<LinkTimer> {
        let mut out = Vec::new();
        if self.next.is_none_or(|n| n > now) {
            return out;
        }
        for t in LinkTimer::ALL {
            if self.at[t as usize].is_some_and(|at| at <= now) {
                self.at[t as usize] = None;
                out.push(t);
            }
        }
        self.recompute();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn expired_returns_due_timers_and_disarms_them() {
        let t0 = Instant::now();
        let mut tt = TimerTable::default();
        tt.set(LinkTimer::Heartbeat, t0 + Duration::from_secs(10));
        tt.set(LinkTimer::Report, t0 + Duration::from_secs(1));
        assert_eq!(tt.next(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(
            tt.expired(t0 + Duration::from_secs(2)),
            vec![LinkTimer::Report]
        );
        assert_eq!(tt.next(), Some(t0 + Duration::from_secs(10)));
        assert!(tt.expired(t0 + Duration::from_secs(2)).is_empty());
    }

    #[test]
    fn set_earliest_keeps_the_sooner_deadline() {
        let t0 = Instant::now();
        let mut tt = TimerTable::default();
        tt.set_earliest(LinkTimer::Drain, t0 + Duration::from_secs(5));
        tt.set_earliest(LinkTimer::Drain, t0 + Duration::from_secs(9));
        assert_eq!(tt.get(LinkTimer::Drain), Some(t0 + Duration::from_secs(5)));
        tt.stop(LinkTimer::Drain);
        assert_eq!(tt.next(), None);
    }
}
