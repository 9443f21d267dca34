//! Entry points for `examples/core_bench.rs` (feature `bench`): the link
//! send and receive paths alone, without the dataplane around them, so
//! their per-frame cost can be told apart from the session layer's.

use std::net::SocketAddr;
use std::time::Instant;

use crate::NodeAddr;

use super::{codec, Node};

impl Node {
    /// What draining the dataplane's outbox does per message: one encoded link message
    /// (msg_type byte first) framed, sealed and queued for `peer`.
    pub fn bench_link_send(&mut self, now: Instant, peer: &NodeAddr, msg: &[u8]) -> bool {
        self.send_link_bytes(now, peer, msg).is_ok()
    }

    /// A received frame up to (not including) dispatch of its message:
    /// classification, index lookup, replay check, AEAD open, MMP.
    pub fn bench_link_receive(&mut self, now: Instant, from: SocketAddr, data: &mut [u8]) -> bool {
        let Ok(codec::Packet::Frame(h)) = codec::classify(data) else {
            return false;
        };
        self.receive_frame(now, from, &h, data)
            .is_some_and(|(_, plain)| codec::parse_inner(plain).is_ok())
    }
}
