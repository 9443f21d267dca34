//! Time-driven work: discovery attempts, handshake resends and timeouts,
//! idle teardown (90 s without Data), msg3 resends, rekey start, cutover
//! and the end of the drain window.

use std::time::Instant;

use super::config::DataplaneConfig;
use super::dataplane::Dataplane;
use super::state::{Established, Rekey, SessionState};
use crate::addr::NodeAddr;
use crate::routing::{Cx, MeshView};

/// What the sweep decided for one session; applied after the iteration.
enum Action {
    Resend(NodeAddr, Vec<u8>),
    HandshakeFailed(NodeAddr),
    Remove(NodeAddr),
    Dead(NodeAddr),
    Rekey(NodeAddr),
    /// Answer the peer's last Data (`Established::answer_due`).
    Answer(NodeAddr, u16),
}

/// When the sweep next has rekey work for `e`: the end of a stuck
/// handshake, or the rekey time once peer dampening allows it. Never a
/// time the sweep would not act on, or the node would spin.
fn rekey_due_at(e: &Established, cfg: &DataplaneConfig) -> Option<Instant> {
    if !matches!(e.rekey, Rekey::Idle) {
        return Some(e.rekey_started + cfg.handshake_timeout);
    }
    if e.pending.is_some() {
        return None; // waiting for the peer's first frame, or our cutover
    }
    let undampened = e.last_peer_rekey.map(|t| t + cfg.peer_rekey_dampening);
    Some(undampened.map_or(e.next_rekey, |u| u.max(e.next_rekey)))
}

impl Dataplane {
    pub fn handle_timeout<M: MeshView>(&mut self, now: Instant, cx: &mut Cx<'_, M>) {
        let mut failed = Vec::new();
        self.discovery.handle_timeout(now, cx, &mut failed);
        for dest in failed {
            self.counters.discovery_failed += 1;
            if !self.is_established(&dest) {
                self.fail_pending(&dest);
            }
        }
        for dest in std::mem::take(&mut self.suspect_paths) {
            self.rewarm_and_lookup(now, cx, dest);
        }
        let actions = self.sweep(now);
        for a in actions {
            match a {
                Action::Resend(dest, bytes) => {
                    self.send_plain(now, cx, dest, &bytes);
                }
                Action::HandshakeFailed(dest) => {
                    self.counters.handshake_timeouts += 1;
                    self.sessions.remove(&dest);
                    self.fail_pending(&dest);
                }
                Action::Remove(dest) => {
                    self.counters.idle_timeouts += 1;
                    self.sessions.remove(&dest);
                }
                Action::Dead(dest) => {
                    self.counters.dead_sessions += 1;
                    self.sessions.remove(&dest);
                }
                Action::Rekey(dest) => self.rekey_initiate(now, cx, dest),
                Action::Answer(dest, mtu) => self.send_path_mtu(now, cx, dest, mtu),
            }
        }
        self.error_throttle.purge(now);
        self.suspect_throttle.purge(now);
        self.icmp_throttle.purge(now);
        self.next_wake = self.earliest_deadline();
    }

    fn sweep(&mut self, now: Instant) -> Vec<Action> {
        let cfg = &self.cfg;
        let mut actions = Vec::new();
        for (&addr, entry) in self.sessions.iter_mut() {
            match &mut entry.state {
                SessionState::Initiating {
                    setup,
                    resends,
                    next_resend,
                    deadline,
                    ..
                } => {
                    if now >= *deadline {
                        actions.push(Action::HandshakeFailed(addr));
                    } else if now >= *next_resend && *resends < cfg.handshake_resends {
                        *resends += 1;
                        *next_resend = now + cfg.handshake_resend * (1 << *resends);
                        actions.push(Action::Resend(addr, setup.clone()));
                    }
                }
                SessionState::AwaitingMsg3 { deadline, .. } => {
                    if now >= *deadline {
                        actions.push(Action::HandshakeFailed(addr));
                    }
                }
                SessionState::Established(e) => {
                    if now.saturating_duration_since(e.last_data) >= cfg.idle_timeout {
                        actions.push(Action::Remove(addr));
                        continue;
                    }
                    // We keep sending but nothing has authenticated for as
                    // long: the peer lost the session (restart). Start over;
                    // a peer that still has it treats our Setup as a rekey.
                    let unanswered = e
                        .unanswered_since
                        .is_some_and(|t| now.saturating_duration_since(t) >= cfg.dead_after);
                    if unanswered || now.saturating_duration_since(e.last_recv) >= cfg.idle_timeout
                    {
                        actions.push(Action::Dead(addr));
                        continue;
                    }
                    if let Some(mtu) = e.take_due_answer(now) {
                        actions.push(Action::Answer(addr, mtu));
                    }
                    if let Some(r) = &mut e.msg3 {
                        if now >= r.next {
                            if r.count >= cfg.handshake_resends {
                                e.msg3 = None;
                            } else {
                                r.count += 1;
                                r.next = now + cfg.msg3_resend * (1 << r.count);
                                actions.push(Action::Resend(addr, r.payload.clone()));
                            }
                        }
                    }
                    if e.cutover_at.is_some_and(|t| now >= t) {
                        e.cut_over(now, cfg.drain_window, cfg.min_rekey_after_cutover());
                        self.counters.rekeys += 1;
                    }
                    if e.previous.is_some() && now >= e.previous_until {
                        e.previous = None;
                    }
                    let stuck =
                        now.saturating_duration_since(e.rekey_started) >= cfg.handshake_timeout;
                    if !matches!(e.rekey, Rekey::Idle) && stuck {
                        e.rekey = Rekey::Idle;
                    }
                    let due = now >= e.next_rekey || e.sent_since_rekey >= cfg.rekey_after_packets;
                    let dampened = e.last_peer_rekey.is_some_and(|t| {
                        now.saturating_duration_since(t) < cfg.peer_rekey_dampening
                    });
                    if due && !dampened && matches!(e.rekey, Rekey::Idle) && e.pending.is_none() {
                        actions.push(Action::Rekey(addr));
                    }
                }
            }
        }
        actions
    }

    fn earliest_deadline(&self) -> Option<Instant> {
        let cfg = &self.cfg;
        self.sessions
            .values()
            .map(|s| match &s.state {
                SessionState::Initiating {
                    next_resend,
                    deadline,
                    resends,
                    ..
                } => {
                    if *resends < cfg.handshake_resends {
                        (*next_resend).min(*deadline)
                    } else {
                        *deadline
                    }
                }
                SessionState::AwaitingMsg3 { deadline, .. } => *deadline,
                SessionState::Established(e) => {
                    let idle = e.last_data.min(e.last_recv) + cfg.idle_timeout;
                    let mut t = idle;
                    if let Some(u) = e.unanswered_since {
                        t = t.min(u + cfg.dead_after);
                    }
                    if let Some(a) = e.answer_due {
                        t = t.min(a);
                    }
                    if let Some(r) = rekey_due_at(e, cfg) {
                        t = t.min(r);
                    }
                    if let Some(r) = &e.msg3 {
                        t = t.min(r.next);
                    }
                    if let Some(c) = e.cutover_at {
                        t = t.min(c);
                    }
                    if e.previous.is_some() {
                        t = t.min(e.previous_until);
                    }
                    t
                }
            })
            .min()
    }
}
