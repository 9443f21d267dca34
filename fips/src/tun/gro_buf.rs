//! The write batch's packet buffers, as tun-rs's GRO (`send_multiple`)
//! needs them. Its GRO joins a packet into the run's first buffer only
//! when that buffer reports room for a whole 64 KiB super-packet
//! (wireguard-go's rule, which avoids reallocating mid-batch). Plain
//! `Vec`s would each have to hold that room; grown on demand instead, a
//! slot that once led a run kept its 64-128 KiB, and over a long stream
//! every one of the 128 slots did (8 MB more peak RSS than our own
//! coalescer, which had one frame).
//!
//! Here a slot holds what its packet needs. It reports the 64 KiB room,
//! and when a run is joined into it, it takes a buffer of exactly that
//! room from a pool the batch shares; after the write the batch returns
//! those buffers to the pool, which keeps a few. So the big buffers in
//! use are as many as runs in one batch, and those kept are
//! [`POOL_KEEP`] at most.

use std::sync::{Arc, Mutex, PoisonError};

use tun_rs::{ExpandBuffer, VIRTIO_NET_HDR_LEN};

/// The most a joined frame can need: header room twice (tun-rs's check)
/// plus a 64 KiB IP packet.
pub(crate) const GRO_ROOM: usize = 2 * VIRTIO_NET_HDR_LEN + 65_535;

/// Big buffers kept between writes: enough for the runs of a few flows
/// in one batch (a single TCP stream fills a 128-packet batch with
/// two or three runs of 64 KiB).
pub(crate) const POOL_KEEP: usize = 4;

/// The big buffers of one write batch (shared by its slots: tun-rs grows
/// a slot through [`ExpandBuffer`], which sees only the slot).
#[derive(Clone, Default)]
pub(crate) struct BigPool(Arc<Mutex<Vec<Vec<u8>>>>);

impl BigPool {
    fn take(&self) -> Vec<u8> {
        self.lock()
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(GRO_ROOM))
    }

    /// Keeps `buf` for the next run, or frees it when enough are kept.
    pub(crate) fn give(&self, mut buf: Vec<u8>) {
        buf.clear();
        let mut kept = self.lock();
        if kept.len() < POOL_KEEP {
            kept.push(buf);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Vec<u8>>> {
        // Nothing panics while holding it; a poisoned pool is still a pool.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    #[cfg(test)]
    pub(crate) fn kept(&self) -> usize {
        self.lock().len()
    }
}

/// One packet slot of a write batch.
#[derive(Default)]
pub(crate) struct GroBuf {
    buf: Vec<u8>,
    pool: BigPool,
}

impl GroBuf {
    pub(crate) fn new(pool: BigPool) -> GroBuf {
        GroBuf {
            buf: Vec::new(),
            pool,
        }
    }

    /// A slot holding `bytes` (for tests of the GRO alone).
    #[cfg(test)]
    pub(crate) fn holding(bytes: &[u8]) -> GroBuf {
        GroBuf {
            buf: bytes.to_vec(),
            pool: BigPool::default(),
        }
    }

    /// Empties the slot and fills it with `header_room` zero bytes and
    /// `packet`.
    pub(crate) fn fill(&mut self, header_room: usize, packet: &[u8]) {
        self.buf.clear();
        self.buf.reserve_exact(header_room + packet.len());
        self.buf.resize(header_room, 0);
        self.buf.extend_from_slice(packet);
    }

    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Gives a big buffer back to the pool after the write.
    pub(crate) fn recycle(&mut self) {
        if self.buf.capacity() >= GRO_ROOM {
            self.pool.give(std::mem::take(&mut self.buf));
        }
    }

    /// Before growing past what the slot holds: move into a big buffer.
    fn make_room(&mut self, more: usize) {
        if self.buf.len() + more <= self.buf.capacity() {
            return;
        }
        let mut big = self.pool.take();
        big.extend_from_slice(&self.buf);
        self.buf = big;
    }
}

impl AsRef<[u8]> for GroBuf {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl AsMut<[u8]> for GroBuf {
    fn as_mut(&mut self) -> &mut [u8] {
        &mut self.buf
    }
}

impl ExpandBuffer for GroBuf {
    /// Always the 64 KiB room, never the Vec's own: tun-rs stops joining
    /// where this says, so this is also what keeps a super-packet under
    /// the IPv6 length limit.
    fn buf_capacity(&self) -> usize {
        GRO_ROOM
    }

    fn buf_resize(&mut self, new_len: usize, value: u8) {
        self.make_room(new_len.saturating_sub(self.buf.len()));
        self.buf.resize(new_len, value)
    }

    fn buf_extend_from_slice(&mut self, src: &[u8]) {
        self.make_room(src.len());
        self.buf.extend_from_slice(src)
    }
}
