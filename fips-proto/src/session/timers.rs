//! Time-driven work: discovery attempts, handshake resends and timeouts,
//! idle teardown (90 s without Data), msg3 resends, rekey start, cutover
//! and the end of the drain window.

use std::time::Instant;

use super::config::DataplaneConfig;
use super::dataplane::Dataplane;
use super::state::{Established, Rekey, SessionState};
use crate::addr::NodeAddr;
use crate::routing::{Cx, MeshView};

/// Session timers. Their deadlines derive from the session state
/// (`earliest_deadline`); `handle_timeout` collects the (session, timer)
/// pairs due and fires each through `on_session_timer`, as the node does
/// with its peers' timers. Declaration order is firing order within a
/// session: state changes (cutover, drain end) before what is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SessionTimer {
    /// The handshake did not complete in time.
    HandshakeTimeout,
    /// Resend our SessionSetup.
    HandshakeResend,
    /// No Data either way for `idle_timeout`: tear down quietly.
    Idle,
    /// We keep sending but nothing authenticated: the peer lost it.
    Dead,
    /// Switch to the pending keys.
    Cutover,
    /// Forget the previous keys after the drain window.
    DrainEnd,
    /// Abandon a rekey handshake that did not complete.
    RekeyStuck,
    /// Answer the peer's last Data (`Established::answer_due`).
    Answer,
    /// Send the session ReceiverReport due for the peer's Data.
    Report,
    /// Resend our msg3.
    Msg3Resend,
    /// Start a rekey.
    Rekey,
}

impl SessionTimer {
    const ESTABLISHED: [SessionTimer; 7] = [
        SessionTimer::Cutover,
        SessionTimer::DrainEnd,
        SessionTimer::RekeyStuck,
        SessionTimer::Answer,
        SessionTimer::Report,
        SessionTimer::Msg3Resend,
        SessionTimer::Rekey,
    ];
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

/// The timers of one session due at `now`, in firing order.
fn due(state: &SessionState, now: Instant, cfg: &DataplaneConfig) -> Vec<SessionTimer> {
    let e = match state {
        SessionState::Initiating {
            resends,
            next_resend,
            deadline,
            ..
        } => {
            return if now >= *deadline {
                vec![SessionTimer::HandshakeTimeout]
            } else if now >= *next_resend && *resends < cfg.handshake_resends {
                vec![SessionTimer::HandshakeResend]
            } else {
                vec![]
            };
        }
        SessionState::AwaitingMsg3 { deadline, .. } => {
            return if now >= *deadline {
                vec![SessionTimer::HandshakeTimeout]
            } else {
                vec![]
            };
        }
        SessionState::Established(e) => e,
    };
    if now.saturating_duration_since(e.last_data) >= cfg.idle_timeout {
        return vec![SessionTimer::Idle];
    }
    if is_dead(e, now, cfg) {
        return vec![SessionTimer::Dead];
    }
    SessionTimer::ESTABLISHED
        .into_iter()
        .filter(|t| established_due(e, *t, now, cfg))
        .collect()
}

/// We keep sending but nothing has authenticated for as long: the peer
/// lost the session (restart). Start over; a peer that still has it
/// treats our Setup as a rekey. "As long" is `dead_after`, or a few of
/// its report intervals for a peer that sends session ReceiverReports
/// (`SessionMmp::dead_after`).
fn is_dead(e: &Established, now: Instant, cfg: &DataplaneConfig) -> bool {
    let limit = e.mmp.dead_after(cfg.dead_after);
    let unanswered = e
        .unanswered_since
        .is_some_and(|t| now.saturating_duration_since(t) >= limit);
    unanswered || now.saturating_duration_since(e.last_recv) >= cfg.idle_timeout
}

fn rekey_stuck(e: &Established, now: Instant, cfg: &DataplaneConfig) -> bool {
    !matches!(e.rekey, Rekey::Idle)
        && now.saturating_duration_since(e.rekey_started) >= cfg.handshake_timeout
}

fn established_due(e: &Established, t: SessionTimer, now: Instant, cfg: &DataplaneConfig) -> bool {
    match t {
        SessionTimer::Cutover => e.cutover_at.is_some_and(|t| now >= t),
        SessionTimer::DrainEnd => e.previous.is_some() && now >= e.previous_until,
        SessionTimer::RekeyStuck => rekey_stuck(e, now, cfg),
        SessionTimer::Answer => e.answer_due.is_some_and(|t| now >= t),
        SessionTimer::Report => e.mmp.rx.report_due(now),
        SessionTimer::Msg3Resend => e.msg3.as_ref().is_some_and(|r| now >= r.next),
        SessionTimer::Rekey => {
            let idle = matches!(e.rekey, Rekey::Idle) || rekey_stuck(e, now, cfg);
            let due = now >= e.next_rekey || e.sent_since_rekey >= cfg.rekey_after_packets;
            let dampened = e
                .last_peer_rekey
                .is_some_and(|t| now.saturating_duration_since(t) < cfg.peer_rekey_dampening);
            due && !dampened && idle && e.pending.is_none()
        }
        _ => false,
    }
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
        let cfg = &self.cfg;
        let due: Vec<(NodeAddr, SessionTimer)> = self
            .sessions
            .iter()
            .flat_map(|(a, s)| due(&s.state, now, cfg).into_iter().map(|t| (*a, t)))
            .collect();
        for (dest, t) in due {
            self.on_session_timer(now, cx, dest, t);
        }
        self.error_throttle.purge(now);
        self.suspect_throttle.purge(now);
        self.icmp_throttle.purge(now);
        self.next_wake = self.earliest_deadline();
    }

    fn on_session_timer<M: MeshView>(
        &mut self,
        now: Instant,
        cx: &mut Cx<'_, M>,
        dest: NodeAddr,
        t: SessionTimer,
    ) {
        match t {
            SessionTimer::HandshakeTimeout => {
                self.counters.handshake_timeouts += 1;
                self.sessions.remove(&dest);
                self.fail_pending(&dest);
            }
            SessionTimer::HandshakeResend => self.resend_setup(now, cx, dest),
            SessionTimer::Idle => {
                self.counters.idle_timeouts += 1;
                self.sessions.remove(&dest);
            }
            SessionTimer::Dead => {
                self.counters.dead_sessions += 1;
                if let Some(SessionState::Established(e)) =
                    self.sessions.remove(&dest).map(|s| s.state)
                {
                    if e.mmp.dead_after(self.cfg.dead_after) < self.cfg.dead_after {
                        self.counters.dead_sessions_fast += 1;
                    }
                }
            }
            SessionTimer::Report => self.send_due_report(now, cx, dest),
            SessionTimer::Rekey => self.rekey_if_due(now, cx, dest),
            SessionTimer::Msg3Resend => self.resend_msg3(now, cx, dest),
            SessionTimer::Answer => {
                let mtu = self
                    .established_mut(&dest)
                    .and_then(|e| e.take_due_answer(now));
                if let Some(mtu) = mtu {
                    self.send_path_mtu(now, cx, dest, mtu);
                }
            }
            _ => self.update_keys(now, dest, t),
        }
    }

    /// Cutover, the end of the drain window, a stuck rekey given up.
    fn update_keys(&mut self, now: Instant, dest: NodeAddr, t: SessionTimer) {
        let (drain, min_rekey) = (self.cfg.drain_window, self.cfg.min_rekey_after_cutover());
        let Some(e) = self.established_mut(&dest) else {
            return;
        };
        match t {
            SessionTimer::Cutover => {
                e.cut_over(now, drain, min_rekey);
                self.counters.rekeys += 1;
            }
            SessionTimer::DrainEnd => e.previous = None,
            SessionTimer::RekeyStuck => e.rekey = Rekey::Idle,
            _ => {}
        }
    }

    fn established_mut(&mut self, dest: &NodeAddr) -> Option<&mut Established> {
        match self.sessions.get_mut(dest).map(|s| &mut s.state) {
            Some(SessionState::Established(e)) => Some(e),
            _ => None,
        }
    }

    fn resend_setup<M: MeshView>(&mut self, now: Instant, cx: &mut Cx<'_, M>, dest: NodeAddr) {
        let cfg = &self.cfg;
        let Some(SessionState::Initiating {
            setup,
            resends,
            next_resend,
            ..
        }) = self.sessions.get_mut(&dest).map(|s| &mut s.state)
        else {
            return;
        };
        *resends += 1;
        *next_resend = now + cfg.handshake_resend * (1 << *resends);
        let bytes = setup.clone();
        self.send_plain(now, cx, dest, &bytes);
    }

    fn resend_msg3<M: MeshView>(&mut self, now: Instant, cx: &mut Cx<'_, M>, dest: NodeAddr) {
        let (max, every) = (self.cfg.handshake_resends, self.cfg.msg3_resend);
        let Some(e) = self.established_mut(&dest) else {
            return;
        };
        let Some(r) = &mut e.msg3 else {
            return;
        };
        if r.count >= max {
            e.msg3 = None;
            return;
        }
        r.count += 1;
        r.next = now + every * (1 << r.count);
        let payload = r.payload.clone();
        self.send_plain(now, cx, dest, &payload);
    }

    /// Starts a rekey unless a timer fired before it this round changed
    /// the session so that none is due.
    fn rekey_if_due<M: MeshView>(&mut self, now: Instant, cx: &mut Cx<'_, M>, dest: NodeAddr) {
        let cfg = &self.cfg;
        let due = match self.sessions.get(&dest).map(|s| &s.state) {
            Some(SessionState::Established(e)) => established_due(e, SessionTimer::Rekey, now, cfg),
            _ => false,
        };
        if due {
            self.rekey_initiate(now, cx, dest);
        }
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
                        t = t.min(u + e.mmp.dead_after(cfg.dead_after));
                    }
                    if let Some(r) = e.mmp.rx.next_report_at() {
                        t = t.min(r);
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
