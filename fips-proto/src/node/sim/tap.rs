//! What crosses the simulated wire: bytes and messages by kind, and, when
//! `track_paths` is on, the hop count of each session's datagrams at their
//! destination and every LookupRequest hop. Link frames are encrypted, so
//! kinds are read at the receiver, right after the node has decrypted the
//! frame in place; the node itself is not touched.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

use crate::node::codec::{self, Packet};
use crate::node::Node;
use crate::wire::fmp::EstablishedHeader;
use crate::wire::link::{
    DISCONNECT, FILTER_ANNOUNCE, HEARTBEAT, LOOKUP_REQUEST, LOOKUP_RESPONSE, RECEIVER_REPORT,
    SENDER_REPORT, SESSION_DATAGRAM, TREE_ANNOUNCE,
};
use crate::wire::lookup::LookupRequest;
use crate::wire::TAG_LEN;
use crate::NodeAddr;

/// The hop limit a session datagram starts with; each transit takes one.
const SESSION_TTL: u8 = 64;
/// SessionDatagram: type, ttl, path_mtu(2), src(16), dst(16).
const DG_TTL: usize = 1;
const DG_SRC: std::ops::Range<usize> = 4..20;
const DG_DST: std::ops::Range<usize> = 20..36;
/// A frame's plaintext starts with a 4-byte timestamp, then the message.
const MSG_START: usize = EstablishedHeader::LEN + 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MsgKind {
    Handshake,
    Session,
    Mmp,
    Tree,
    Filter,
    Lookup,
    Heartbeat,
    Disconnect,
    Other,
}

impl MsgKind {
    pub const ALL: [MsgKind; 9] = [
        MsgKind::Handshake,
        MsgKind::Session,
        MsgKind::Mmp,
        MsgKind::Tree,
        MsgKind::Filter,
        MsgKind::Lookup,
        MsgKind::Heartbeat,
        MsgKind::Disconnect,
        MsgKind::Other,
    ];

    fn of_link_type(t: u8) -> MsgKind {
        match t {
            SESSION_DATAGRAM => MsgKind::Session,
            SENDER_REPORT | RECEIVER_REPORT => MsgKind::Mmp,
            TREE_ANNOUNCE => MsgKind::Tree,
            FILTER_ANNOUNCE => MsgKind::Filter,
            LOOKUP_REQUEST | LOOKUP_RESPONSE => MsgKind::Lookup,
            HEARTBEAT => MsgKind::Heartbeat,
            DISCONNECT => MsgKind::Disconnect,
            _ => MsgKind::Other,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            MsgKind::Handshake => "handshake",
            MsgKind::Session => "session",
            MsgKind::Mmp => "mmp",
            MsgKind::Tree => "tree",
            MsgKind::Filter => "filter",
            MsgKind::Lookup => "lookup",
            MsgKind::Heartbeat => "heartbeat",
            MsgKind::Disconnect => "disconnect",
            MsgKind::Other => "other",
        }
    }
}

/// One LookupRequest handed from node `from` to its peer `to`.
#[derive(Clone, Copy, Debug)]
pub struct LookupHop {
    pub from: usize,
    pub to: usize,
    pub target: NodeAddr,
    pub request_id: u64,
}

#[derive(Default)]
pub struct WireTap {
    /// Datagrams put on a wire (before loss), and their bytes.
    pub sent_packets: u64,
    pub sent_bytes: u64,
    /// Delivered datagrams by `MsgKind` (index in `MsgKind::ALL`).
    pub packets: [u64; 9],
    pub bytes: [u64; 9],
    /// Delivered frames that did not authenticate (kind unknown).
    pub undecoded: u64,
    /// Record session hops and lookup hops (costs a map insert per
    /// delivered session datagram).
    pub track_paths: bool,
    /// (src, dst) → hops taken by the last session datagram that reached dst.
    pub hops: HashMap<(NodeAddr, NodeAddr), u8>,
    pub lookups: Vec<LookupHop>,
}

impl WireTap {
    pub(super) fn sent(&mut self, len: usize) {
        self.sent_packets += 1;
        self.sent_bytes += len as u64;
    }

    /// Hands `data` to `node` (index `to`) and records what it was.
    pub(super) fn deliver(
        &mut self,
        node: &mut Node,
        now: Instant,
        from: usize,
        to: usize,
        src: SocketAddr,
        data: &mut [u8],
    ) {
        let len = data.len() as u64;
        let is_frame = match codec::classify(data) {
            Ok(Packet::Frame(_)) => true,
            Ok(_) => {
                node.handle_datagram(now, src, data);
                return self.count(MsgKind::Handshake, len);
            }
            Err(_) => false,
        };
        let failed_before = failures(node);
        node.handle_datagram(now, src, data);
        if !is_frame || failures(node) != failed_before || data.len() < MSG_START + TAG_LEN + 1 {
            self.undecoded += 1;
            return;
        }
        let msg = &data[MSG_START..data.len() - TAG_LEN];
        self.count(MsgKind::of_link_type(msg[0]), len);
        if self.track_paths {
            self.record_path(node.node_addr(), from, to, msg);
        }
    }

    fn count(&mut self, kind: MsgKind, len: u64) {
        let k = kind as usize;
        self.packets[k] += 1;
        self.bytes[k] += len;
    }

    fn record_path(&mut self, me: NodeAddr, from: usize, to: usize, msg: &[u8]) {
        match msg[0] {
            SESSION_DATAGRAM if msg.len() >= DG_DST.end && msg[DG_DST] == me.0 => {
                let src = NodeAddr::from_slice(&msg[DG_SRC]).unwrap_or_default();
                let hops = SESSION_TTL.saturating_sub(msg[DG_TTL]) + 1;
                self.hops.insert((src, me), hops);
            }
            LOOKUP_REQUEST => {
                if let Ok(req) = LookupRequest::parse(msg) {
                    self.lookups.push(LookupHop {
                        from,
                        to,
                        target: req.target,
                        request_id: req.request_id,
                    });
                }
            }
            _ => {}
        }
    }
}

/// Drops that mean a frame was not decrypted.
fn failures(node: &Node) -> u64 {
    let c = node.counters();
    c.malformed + c.unknown_index + c.decrypt_failed + c.replayed
}
