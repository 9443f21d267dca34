//! Established link frames: receive (index lookup, replay check, AEAD open,
//! roaming, trial-promotion of a pending rekey session) and send (counter
//! nonce, K bit, inner timestamp), and the dispatch of link messages.

use std::net::SocketAddr;
use std::time::Instant;

use crate::routing::{LinkSendError, Outbox};
use crate::wire::fmp::{EstablishedHeader, FLAG_CE};
use crate::wire::link::{LinkInner, LinkMessage};
use crate::NodeAddr;

use super::link::Slot;
use super::peers::PeerTable;
use super::timers::LinkTimer;
use super::txqueue::TxQueue;
use super::{codec, DownReason, Node, Owner, Timers, UDP};

/// The link inner timestamp before the message.
const LINK_TS_LEN: usize = LinkInner::TIMESTAMP_LEN;
/// The longest message the header's 16-bit payload length can carry.
pub(crate) const MAX_LINK_MESSAGE: usize = u16::MAX as usize - LINK_TS_LEN;

impl Node {
    pub(super) fn handle_frame(
        &mut self,
        now: Instant,
        from: SocketAddr,
        h: EstablishedHeader,
        data: &mut [u8],
    ) {
        let Some((paddr, plain)) = self.receive_frame(now, from, &h, data) else {
            return;
        };
        let Ok(inner) = codec::parse_inner(plain) else {
            self.counters.malformed_inner += 1;
            if LinkInner::peek_msg_type(plain) == Some(crate::wire::link::FILTER_ANNOUNCE) {
                self.bloom.record_decode_error();
            }
            return;
        };
        // The dataplane decrypts SessionDatagrams in place: hand it the bytes.
        if matches!(inner.msg, LinkMessage::SessionDatagram(_)) {
            return self.dataplane_session_datagram(now, paddr, &mut plain[LINK_TS_LEN..]);
        }
        self.on_link_message(now, paddr, inner.msg);
    }

    /// Everything a frame costs before its message is dispatched: the
    /// crypto, rekey cutover and MMP. Returns the decrypted inner bytes
    /// (timestamp + message) when the frame authenticated.
    pub(super) fn receive_frame<'d>(
        &mut self,
        now: Instant,
        from: SocketAddr,
        h: &EstablishedHeader,
        data: &'d mut [u8],
    ) -> Option<(NodeAddr, &'d mut [u8])> {
        let len = data.len();
        let (paddr, slot, plain) = self.authenticate(now, from, h, data)?;
        if slot == Slot::Pending {
            // The peer switched to the new keys: so do we.
            self.cutover(now, paddr);
        }
        // Frames of the draining session belong to another counter space.
        if slot != Slot::Previous {
            let ts = codec::inner_timestamp(plain);
            self.measure_frame(now, paddr, h, len, ts);
        }
        Some((paddr, plain))
    }

    /// Index lookup, replay window, AEAD. On success the frame counts as
    /// proof of life and its source becomes the peer's address (roaming).
    fn authenticate<'d>(
        &mut self,
        now: Instant,
        from: SocketAddr,
        h: &EstablishedHeader,
        data: &'d mut [u8],
    ) -> Option<(NodeAddr, Slot, &'d mut [u8])> {
        let owner = self.indices.get(&(UDP, h.receiver_idx)).copied();
        let found = match owner {
            Some(Owner::Peer(paddr)) => self
                .peers
                .get(&paddr)
                .and_then(|p| p.slot_for(h.receiver_idx))
                .map(|slot| (paddr, slot)),
            _ => None,
        };
        let Some((paddr, slot)) = found else {
            self.counters.unknown_index += 1;
            return None;
        };
        let max_failures = self.timers.max_decrypt_failures;
        let unix = self.unix_ms(now);
        let p = self.peers.get_mut(&paddr)?;
        let s = p.session_mut(slot)?;
        if !s.replay.check(h.counter) {
            self.counters.replayed += 1;
            return None;
        }
        let len = data.len() as u64;
        let Some(plain) = codec::open_frame(&s.recv, h.counter, data) else {
            self.counters.decrypt_failed += 1;
            p.decrypt_failures += 1;
            if p.decrypt_failures >= max_failures {
                self.remove_peer(now, paddr, DownReason::DecryptFailures);
            }
            return None;
        };
        s.replay.update(h.counter);
        s.highest_recv = Some(s.highest_recv.map_or(h.counter, |c| c.max(h.counter)));
        p.decrypt_failures = 0;
        p.last_recv = now;
        p.last_recv_unix_ms = unix;
        let woke = p.heard();
        let moved = p.remote != from;
        p.remote = from;
        p.stats.packets_recv += 1;
        p.stats.bytes_recv += len;
        if moved {
            self.peers.remote_moved();
        }
        if woke {
            self.peer_silence_changed(now, paddr, false);
        }
        Some((paddr, slot, plain))
    }

    /// Feeds MMP and schedules the next ReceiverReport.
    fn measure_frame(
        &mut self,
        now: Instant,
        paddr: NodeAddr,
        h: &EstablishedHeader,
        len: usize,
        ts: u32,
    ) {
        let Some(p) = self.peers.get_mut(&paddr) else {
            return;
        };
        p.mmp_rx.on_frame(h.counter, len, ts, now);
        if h.flags & FLAG_CE != 0 {
            p.mmp_rx.on_congestion_mark();
        }
        if let Some(at) = p.mmp_rx.next_report_at() {
            p.timers.set_earliest(LinkTimer::Report, at);
        }
    }

    fn on_link_message(&mut self, now: Instant, from: NodeAddr, msg: LinkMessage<'_>) {
        match msg {
            LinkMessage::Heartbeat | LinkMessage::SenderReport(_) => {}
            LinkMessage::Disconnect { reason } => {
                self.remove_peer(now, from, DownReason::RemoteDisconnect(reason));
            }
            LinkMessage::ReceiverReport(rr) => self.on_receiver_report(now, from, &rr),
            LinkMessage::TreeAnnounce(ta) => self.on_tree_announce(now, from, &ta),
            LinkMessage::FilterAnnounce(fa) => self.on_filter_announce(now, from, &fa),
            LinkMessage::SessionDatagram(_) => {}
            LinkMessage::LookupRequest(r) => self.dataplane_lookup_request(now, from, r),
            LinkMessage::LookupResponse(r) => self.dataplane_lookup_response(now, from, r),
        }
    }

    /// Encrypts `msg` on the peer's current session and queues it.
    /// Returns false if the peer is not active.
    pub(crate) fn send_link_message(
        &mut self,
        now: Instant,
        to: &NodeAddr,
        msg: &LinkMessage<'_>,
    ) -> bool {
        self.link_tx().send_frame(now, to, |out| msg.emit(out))
    }

    /// Sends every link message the dataplane left in the outbox.
    pub(super) fn drain_link_out(&mut self, now: Instant) {
        let (mut tx, out) = self.link_tx_and_outbox();
        let mut failed = 0;
        while let Some((peer, msg)) = out.poll() {
            failed += u64::from(tx.send_bytes(now, &peer, msg).is_err());
        }
        self.counters.link_sends_failed += failed;
    }

    /// Sends an encoded link message (msg_type byte first), framed as it
    /// is, without a parse and re-encode.
    #[cfg(feature = "bench")]
    pub(crate) fn send_link_bytes(
        &mut self,
        now: Instant,
        to: &NodeAddr,
        msg: &[u8],
    ) -> Result<(), LinkSendError> {
        self.link_tx().send_bytes(now, to, msg)
    }

    fn link_tx(&mut self) -> LinkTx<'_> {
        self.link_tx_and_outbox().0
    }

    /// The link sender and the dataplane's outbox, borrowed apart.
    fn link_tx_and_outbox(&mut self) -> (LinkTx<'_>, &mut Outbox) {
        let tx = LinkTx {
            peers: &mut self.peers,
            transmits: &mut self.transmits,
            timers: &self.timers,
        };
        (tx, &mut self.link_out)
    }

    pub(super) fn send_disconnect(&mut self, now: Instant, to: &NodeAddr, reason: u8) {
        self.send_link_message(now, to, &LinkMessage::Disconnect { reason });
    }
}

/// The parts of the node a frame is sent with, borrowed apart from the
/// dataplane's outbox so the node can drain one into the other.
struct LinkTx<'a> {
    peers: &'a mut PeerTable,
    transmits: &'a mut TxQueue,
    timers: &'a Timers,
}

impl LinkTx<'_> {
    fn send_bytes(&mut self, now: Instant, to: &NodeAddr, msg: &[u8]) -> Result<(), LinkSendError> {
        if msg.is_empty() || msg.len() > MAX_LINK_MESSAGE {
            return Err(LinkSendError::BadLength {
                peer: *to,
                len: msg.len(),
                max: MAX_LINK_MESSAGE,
            });
        }
        if self.send_frame(now, to, |out| out.extend_from_slice(msg)) {
            Ok(())
        } else {
            Err(LinkSendError::NotConnected { peer: *to })
        }
    }

    /// Builds a frame around what `write_msg` appends, in a pooled buffer,
    /// seals it in place on the peer's current session and queues it.
    fn send_frame(
        &mut self,
        now: Instant,
        to: &NodeAddr,
        write_msg: impl FnOnce(&mut Vec<u8>),
    ) -> bool {
        let rekey_after = self.timers.rekey_after_messages;
        let Some(p) = self.peers.get_mut(to) else {
            return false;
        };
        let mut buf = self.transmits.buffer();
        let ts = p.link_ts(now);
        let s = &mut p.current;
        let counter = s.send_counter;
        if !codec::seal_frame_into(
            &s.send,
            p.k_bit,
            s.their_index,
            counter,
            ts,
            &mut buf,
            write_msg,
        ) {
            self.transmits.recycle(buf);
            return false;
        }
        s.send_counter += 1;
        if p.unanswered_since.is_none() {
            p.unanswered_since = Some(now);
            let quiet = self.timers.peer_silent.max(p.mmp_rx.report_interval() * 2);
            p.timers.set(LinkTimer::Silent, now + quiet);
        }
        p.stats.packets_sent += 1;
        p.stats.bytes_sent += buf.len() as u64;
        if counter + 1 >= rekey_after && p.rekey.is_none() && p.pending.is_none() {
            p.timers.set_earliest(LinkTimer::Rekey, now);
        }
        self.transmits.push(p.remote, buf);
        true
    }
}
