//! Per-link timers that keep a link alive and measured: Heartbeat every 10 s,
//! the dead-peer check (30 s of silence, skipped while a rekey msg1 is
//! outstanding), the silent-peer mark that routing avoids (our frames
//! unanswered for 3 s), MMP ReceiverReports about once a second, and RTT from the
//! peer's reports.

use std::time::Instant;

use crate::mmp::ReportFields;
use crate::routing::MeshChange;
use crate::wire::link::{LinkMessage, ReceiverReport, SenderReport};
use crate::NodeAddr;

use super::link::SrMark;
use super::timers::LinkTimer;
use super::{DownReason, Node, NodeEvent};

impl Node {
    pub(super) fn on_link_timer(&mut self, now: Instant, paddr: NodeAddr, t: LinkTimer) {
        match t {
            LinkTimer::Heartbeat => self.heartbeat(now, paddr),
            LinkTimer::Dead => self.check_dead(now, paddr),
            LinkTimer::Silent => self.check_silent(now, paddr),
            LinkTimer::Report => self.send_report(now, paddr),
            LinkTimer::SenderReport => self.send_sender_report(now, paddr),
            LinkTimer::Rekey => self.start_rekey(now, paddr),
            LinkTimer::RekeyResend => self.rekey_resend(now, paddr),
            LinkTimer::Cutover => self.cutover(now, paddr),
            LinkTimer::Drain => self.finish_drain(paddr),
        }
    }

    fn heartbeat(&mut self, now: Instant, paddr: NodeAddr) {
        self.send_link_message(now, &paddr, &LinkMessage::Heartbeat);
        let every = self.timers.heartbeat;
        if let Some(p) = self.peers.get_mut(&paddr) {
            p.timers.set(LinkTimer::Heartbeat, now + every);
        }
    }

    fn check_dead(&mut self, now: Instant, paddr: NodeAddr) {
        let dead = self.timers.link_dead;
        let Some(p) = self.peers.get_mut(&paddr) else {
            return;
        };
        let silent_until = p.last_recv + dead;
        if now < silent_until {
            p.timers.set(LinkTimer::Dead, silent_until);
        } else if p.rekey.is_some() {
            // The reference skips the check while its rekey msg1 is being resent.
            p.timers
                .set(LinkTimer::Dead, now + self.timers.handshake_resend);
        } else {
            self.counters.dead_peers += 1;
            self.remove_peer(now, paddr, DownReason::Dead);
        }
    }

    /// Marks the peer silent once our frames have gone unanswered for
    /// `peer_silent` (or two report intervals); routing then avoids it.
    fn check_silent(&mut self, now: Instant, paddr: NodeAddr) {
        let floor = self.timers.peer_silent;
        let Some(p) = self.peers.get_mut(&paddr) else {
            return;
        };
        let Some(since) = p.unanswered_since else {
            return;
        };
        let at = since + floor.max(p.mmp_rx.report_interval() * 2);
        if now < at {
            p.timers.set(LinkTimer::Silent, at);
        } else if !p.silent {
            p.silent = true;
            self.counters.silent_peers += 1;
            self.events.push_back(NodeEvent::PeerSilent { addr: paddr });
            self.peer_silence_changed(now, paddr, true);
        }
    }

    fn send_report(&mut self, now: Instant, paddr: NodeAddr) {
        let every = self.timers.mmp_report;
        let Some(p) = self.peers.get_mut(&paddr) else {
            return;
        };
        if !p.mmp_rx.report_due(now) {
            let at = p.mmp_rx.next_report_at().unwrap_or(now + every);
            p.timers.set(LinkTimer::Report, at.max(now));
            return;
        }
        p.mmp
            .update_reverse(p.mmp_rx.cumulative_packets(), p.mmp_rx.highest_counter());
        let Some(f) = p.mmp_rx.build_report(now) else {
            return;
        };
        p.timers.set(
            LinkTimer::Report,
            now + p.mmp_rx.report_interval().max(every / 8),
        );
        self.send_link_message(now, &paddr, &LinkMessage::ReceiverReport(f.into()));
    }

    /// Once a second, what we sent since the last SenderReport. The reference
    /// sends these too (it only logs received ones); they keep frames flowing
    /// between heartbeats, so a lossy link is not declared dead.
    fn send_sender_report(&mut self, now: Instant, paddr: NodeAddr) {
        let every = self.timers.mmp_report;
        let Some(p) = self.peers.get_mut(&paddr) else {
            return;
        };
        p.timers.set(LinkTimer::SenderReport, now + every);
        let mark = p.sr_mark;
        let end_counter = p.current.send_counter.saturating_sub(1);
        // Counters restart at a rekey cutover.
        let start_counter = if mark.counter <= end_counter {
            mark.counter
        } else {
            0
        };
        let ts = p.link_ts(now);
        let sr = SenderReport {
            interval_start_counter: start_counter,
            interval_end_counter: end_counter,
            interval_start_timestamp: mark.timestamp.min(ts),
            interval_end_timestamp: ts,
            interval_bytes_sent: (p.stats.bytes_sent - mark.bytes).min(u64::from(u32::MAX)) as u32,
            cumulative_packets_sent: p.stats.packets_sent,
            cumulative_bytes_sent: p.stats.bytes_sent,
        };
        p.sr_mark = SrMark {
            counter: end_counter + 1,
            timestamp: ts,
            bytes: p.stats.bytes_sent,
        };
        self.send_link_message(now, &paddr, &LinkMessage::SenderReport(sr));
    }

    /// RTT = our link clock now − (echoed timestamp + peer dwell); feeds the
    /// report interval and the tree's link cost.
    pub(super) fn on_receiver_report(&mut self, now: Instant, from: NodeAddr, rr: &ReceiverReport) {
        let Some(p) = self.peers.get_mut(&from) else {
            return;
        };
        let ts = p.link_ts(now);
        if p.mmp
            .on_receiver_report(&ReportFields::from(*rr), ts)
            .is_err()
        {
            return;
        }
        let (srtt, etx) = (p.mmp.srtt_ms(), p.mmp.etx());
        if let Some(s) = srtt {
            p.mmp_rx.on_srtt_sample(s);
        }
        if self.tree.set_peer_cost(from, srtt, etx) {
            self.tree_reevaluate(now);
        } else {
            // Selection cannot move, but routing reads link costs.
            self.mesh_changed(MeshChange::Peers);
        }
    }
}
