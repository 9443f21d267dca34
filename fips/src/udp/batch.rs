//! Owned buffers for batched receive and send. `RecvBatch` holds what one
//! `recvmmsg` returned, already split into single datagrams; `SendBatch`
//! queues outgoing datagrams and groups runs that GSO can send as one.

use std::net::SocketAddr;

use super::sys::{CmsgBuf, RecvMeta, CMSG_WORDS};

/// The largest UDP payload the kernel hands over in one GRO message (and
/// takes in one GSO message): an IP datagram is at most 64 KiB.
pub const MAX_GRO_BYTES: usize = 65_535;
/// GSO: the kernel's UDP_MAX_SEGMENTS.
pub const MAX_GSO_SEGMENTS: usize = 64;
/// GSO: keep a super-datagram under the IPv4 limit (65535 - 20 - 8) with room
/// for IP options.
const MAX_GSO_BYTES: usize = 65_000;

/// One received datagram inside a `RecvBatch` slot.
#[derive(Clone, Copy, Debug)]
struct Received {
    from: SocketAddr,
    start: usize,
    len: usize,
}

/// Received datagrams, in arrival order, with GRO messages split back into
/// the datagrams the peer sent.
///
/// Each slot can take a whole GRO message (64 KiB); memory is
/// `slots * slot_len` and is touched only as far as messages fill it.
pub struct RecvBatch {
    buf: Box<[u8]>,
    slot_len: usize,
    names: Vec<libc::sockaddr_storage>,
    cmsgs: Vec<CmsgBuf>,
    meta: Vec<RecvMeta>,
    datagrams: Vec<Received>,
    messages: usize,
    /// Messages dropped because they did not fit a slot (cumulative).
    pub truncated: u64,
}

impl RecvBatch {
    /// `slots` messages per `recvmmsg` (at most 64), each up to `slot_len`
    /// bytes; use `MAX_GRO_BYTES` when GRO is on or coalesced messages
    /// are cut short.
    pub fn new(slots: usize, slot_len: usize) -> RecvBatch {
        let slots = slots.clamp(1, super::sys::MAX_MMSG);
        RecvBatch {
            buf: vec![0; slots * slot_len].into_boxed_slice(),
            slot_len,
            // SAFETY: all-zero is a valid sockaddr_storage.
            names: vec![unsafe { std::mem::zeroed() }; slots],
            cmsgs: vec![[0; CMSG_WORDS]; slots],
            meta: vec![RecvMeta::default(); slots],
            datagrams: Vec::with_capacity(slots * 4),
            messages: 0,
            truncated: 0,
        }
    }

    /// Datagrams in the batch.
    pub fn len(&self) -> usize {
        self.datagrams.len()
    }

    pub fn is_empty(&self) -> bool {
        self.datagrams.is_empty()
    }

    /// Kernel messages the last receive returned (fewer than `len()` when
    /// GRO coalesced datagrams).
    pub fn messages(&self) -> usize {
        self.messages
    }

    /// The `i`th datagram and its sender, writable so it can be decrypted
    /// in place.
    pub fn get_mut(&mut self, i: usize) -> Option<(SocketAddr, &mut [u8])> {
        let d = *self.datagrams.get(i)?;
        Some((d.from, &mut self.buf[d.start..d.start + d.len]))
    }

    /// The datagrams and their senders, in order.
    pub fn iter(&self) -> impl Iterator<Item = (SocketAddr, &[u8])> + '_ {
        self.datagrams
            .iter()
            .map(|d| (d.from, &self.buf[d.start..d.start + d.len]))
    }

    /// The buffers for one `recvmmsg` call.
    pub(super) fn slots(&mut self) -> (Vec<super::sys::RecvSlot<'_>>, &mut [RecvMeta]) {
        self.datagrams.clear();
        let slots = self
            .buf
            .chunks_mut(self.slot_len)
            .zip(self.names.iter_mut())
            .zip(self.cmsgs.iter_mut())
            .map(|((data, name), cmsg)| super::sys::RecvSlot { data, name, cmsg })
            .collect();
        (slots, &mut self.meta)
    }

    /// Splits the `got` messages the kernel returned into datagrams.
    pub(super) fn split(&mut self, got: usize) {
        self.datagrams.clear();
        self.messages = got;
        for i in 0..got {
            let m = self.meta[i];
            let Some(from) = super::sys::from_sockaddr(&self.names[i]) else {
                continue;
            };
            if m.truncated {
                self.truncated += 1;
                continue;
            }
            let base = i * self.slot_len;
            let seg = m.gro_size.unwrap_or(m.len).max(1);
            let mut off = 0;
            // A zero-length datagram is still a datagram.
            loop {
                let len = seg.min(m.len - off);
                self.datagrams.push(Received {
                    from,
                    start: base + off,
                    len,
                });
                off += len;
                if off >= m.len {
                    break;
                }
            }
        }
    }
}

/// Outgoing datagrams, queued then sent with as few syscalls as the kernel
/// allows. Buffers are reused across batches.
pub struct SendBatch {
    bufs: Vec<Vec<u8>>,
    dests: Vec<SocketAddr>,
    queued: usize,
    sent: usize,
    capacity: usize,
    /// `sendmmsg` calls made and messages (GSO runs count once) the kernel
    /// took, cumulative: how well the batch amortises syscalls.
    pub syscalls: u64,
    pub messages: u64,
}

impl SendBatch {
    /// A batch of up to `capacity` datagrams.
    pub fn new(capacity: usize) -> SendBatch {
        SendBatch {
            bufs: Vec::with_capacity(capacity),
            dests: Vec::with_capacity(capacity),
            queued: 0,
            sent: 0,
            capacity: capacity.max(1),
            syscalls: 0,
            messages: 0,
        }
    }

    /// Queues a datagram that `fill` writes into a cleared buffer; `fill`
    /// returns the destination, or `None` to queue nothing (this is the
    /// shape of `Node::poll_transmit`). Returns whether one was queued.
    /// Call only when `!is_full()`.
    pub fn push_with(&mut self, fill: impl FnOnce(&mut Vec<u8>) -> Option<SocketAddr>) -> bool {
        if self.queued == self.bufs.len() {
            self.bufs.push(Vec::with_capacity(2048));
            self.dests.push(SocketAddr::from(([0, 0, 0, 0], 0)));
        }
        let buf = &mut self.bufs[self.queued];
        buf.clear();
        match fill(buf) {
            Some(dest) => {
                self.dests[self.queued] = dest;
                self.queued += 1;
                true
            }
            None => false,
        }
    }

    /// Queues a copy of `data` for `dest`.
    pub fn push(&mut self, dest: SocketAddr, data: &[u8]) {
        self.push_with(|b| {
            b.extend_from_slice(data);
            Some(dest)
        });
    }

    pub fn is_full(&self) -> bool {
        self.queued >= self.capacity
    }

    /// Nothing left to send.
    pub fn is_empty(&self) -> bool {
        self.sent >= self.queued
    }

    /// Datagrams queued and not yet sent.
    pub fn pending(&self) -> usize {
        self.queued - self.sent
    }

    /// Forgets everything queued.
    pub fn clear(&mut self) {
        self.queued = 0;
        self.sent = 0;
    }

    /// Marks `n` more datagrams as sent (or given up); resets once all are.
    pub(super) fn advance(&mut self, n: usize) {
        self.sent = (self.sent + n).min(self.queued);
        if self.sent == self.queued {
            self.clear();
        }
    }

    /// The unsent datagrams, in order.
    pub(super) fn unsent(&self) -> impl Iterator<Item = (SocketAddr, &[u8])> + '_ {
        (self.sent..self.queued).map(|i| (self.dests[i], self.bufs[i].as_slice()))
    }

    /// Groups the unsent datagrams into GSO runs (`gso` false: one each).
    pub(super) fn groups(&self, gso: bool, max: usize) -> Vec<Group> {
        group_runs(
            (self.sent..self.queued).map(|i| (self.dests[i], self.bufs[i].len())),
            gso,
            max,
        )
    }
}

/// A run of consecutive datagrams sent as one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Group {
    pub dest: SocketAddr,
    pub count: usize,
    /// The GSO segment size (the first datagram's length) when count > 1.
    pub segment: usize,
}

/// Runs of datagrams to one destination where every datagram but the last
/// has the run's first length and the last is no longer: what UDP_SEGMENT
/// splits back exactly. At most `max` groups.
pub(super) fn group_runs(
    items: impl Iterator<Item = (SocketAddr, usize)>,
    gso: bool,
    max: usize,
) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    let mut open = false; // whether the last group may still grow
    let mut total = 0;
    for (dest, len) in items {
        if let Some(g) = groups.last_mut().filter(|_| open && gso) {
            let fits = g.dest == dest
                && len <= g.segment
                && len > 0
                && g.count < MAX_GSO_SEGMENTS
                && total + len <= MAX_GSO_BYTES;
            if fits {
                g.count += 1;
                total += len;
                // A shorter datagram ends the run: only the last may be short.
                open = len == g.segment;
                continue;
            }
        }
        if groups.len() == max {
            break;
        }
        groups.push(Group {
            dest,
            count: 1,
            segment: len,
        });
        total = len;
        open = len > 0;
    }
    groups
}
