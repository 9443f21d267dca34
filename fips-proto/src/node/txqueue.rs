//! Datagrams waiting for `poll_transmit`, and a small pool of spare buffers
//! to build new ones in. `poll_transmit` swaps the queued buffer with the
//! caller's and keeps the caller's as a spare, so at steady state a frame
//! costs no allocation and no copy between the seal and the socket.

use std::collections::VecDeque;
use std::net::SocketAddr;

/// Room for a frame of any link MTU we use without growing.
const BUFFER_CAPACITY: usize = 2048;
/// Spares kept; more are freed. Bounds the pool to ~128 KiB at steady state.
const SPARE_MAX: usize = 64;
/// Buffers larger than this (a caller's GSO buffer, say) are not kept.
const SPARE_MAX_CAPACITY: usize = 1 << 16;

#[derive(Default)]
pub(crate) struct TxQueue {
    pending: VecDeque<(SocketAddr, Vec<u8>)>,
    spare: Vec<Vec<u8>>,
}

impl TxQueue {
    /// An empty buffer to build a datagram in, from the pool when possible.
    pub(crate) fn buffer(&mut self) -> Vec<u8> {
        match self.spare.pop() {
            Some(mut b) => {
                b.clear();
                b
            }
            None => Vec::with_capacity(BUFFER_CAPACITY),
        }
    }

    pub(crate) fn push(&mut self, to: SocketAddr, bytes: Vec<u8>) {
        self.pending.push_back((to, bytes));
    }

    /// Moves the oldest datagram into `out`; `out`'s old buffer becomes a spare.
    pub(crate) fn pop_into(&mut self, out: &mut Vec<u8>) -> Option<SocketAddr> {
        let (to, mut bytes) = self.pending.pop_front()?;
        std::mem::swap(out, &mut bytes);
        self.recycle(bytes);
        Some(to)
    }

    /// Takes a buffer back into the pool (a datagram that was not sent).
    pub(crate) fn recycle(&mut self, buf: Vec<u8>) {
        let cap = buf.capacity();
        if self.spare.len() < SPARE_MAX && (BUFFER_CAPACITY..=SPARE_MAX_CAPACITY).contains(&cap) {
            self.spare.push(buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to() -> SocketAddr {
        SocketAddr::from(([10, 0, 0, 1], 2121))
    }

    #[test]
    fn pop_hands_over_the_queued_buffer_and_keeps_the_callers_as_spare() {
        let mut q = TxQueue::default();
        let mut b = q.buffer();
        b.extend_from_slice(b"frame");
        let queued_ptr = b.as_ptr();
        q.push(to(), b);
        let mut out = Vec::with_capacity(BUFFER_CAPACITY);
        out.extend_from_slice(b"old contents");
        let callers_ptr = out.as_ptr();
        assert_eq!(q.pop_into(&mut out), Some(to()));
        assert_eq!(out, b"frame");
        assert_eq!(out.as_ptr(), queued_ptr, "no copy");
        let next = q.buffer();
        assert!(next.is_empty());
        assert_eq!(next.as_ptr(), callers_ptr, "the caller's buffer is reused");
        assert_eq!(q.pop_into(&mut out), None);
    }

    #[test]
    fn pool_keeps_a_bounded_number_of_reasonably_sized_spares() {
        let mut q = TxQueue::default();
        for _ in 0..SPARE_MAX + 10 {
            q.recycle(Vec::with_capacity(BUFFER_CAPACITY));
        }
        q.recycle(Vec::new());
        q.recycle(Vec::with_capacity(SPARE_MAX_CAPACITY + 1));
        assert_eq!(q.spare.len(), SPARE_MAX);
        assert!(q.spare.iter().all(|b| b.capacity() >= BUFFER_CAPACITY));
    }
}
