//! Batched UDP I/O: `recvmmsg`/`sendmmsg`, with UDP GSO on send (a run of
//! equal-size datagrams to one peer goes down the stack as one) and UDP GRO
//! on receive (the kernel hands over coalesced runs). A burst of datagrams
//! costs one system call and, mostly, one trip through the kernel's stack.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::SocketAddr;
use std::os::fd::RawFd;

use super::sockaddr::{from_socket_addr, to_socket_addr};

/// Messages per `recvmmsg`.
pub(crate) const RECV_MSGS: usize = 32;
/// Receive slot: a GRO run can be as large as a UDP datagram can.
pub(crate) const RECV_SLOT: usize = 65536;
/// Datagrams queued per `sendmmsg`.
pub(crate) const SEND_BATCH: usize = 64;
/// Room for one datagram we send.
const SEND_SLOT: usize = 4096;
/// Kernel limits for one GSO send: segments, and bytes of payload.
const GSO_MAX_SEGMENTS: usize = 64;
const GSO_MAX_BYTES: usize = 65000;

/// Linux UDP socket options (linux/udp.h), not in the libc crate for glibc.
const UDP_SEGMENT: libc::c_int = 103;
const UDP_GRO: libc::c_int = 104;

/// Control-message room for one u16/int option.
const CMSG_ROOM: usize = 64;

/// Buffers for one `recvmmsg`.
pub(crate) struct RecvBatch {
    data: Vec<u8>,
    addrs: Vec<libc::sockaddr_storage>,
    controls: Vec<[u8; CMSG_ROOM]>,
    lens: Vec<usize>,
    /// Segment size of a GRO run (the whole length when not coalesced).
    segs: Vec<usize>,
    truncated: Vec<bool>,
    count: usize,
}

impl RecvBatch {
    pub(crate) fn new() -> RecvBatch {
        RecvBatch {
            data: vec![0; RECV_MSGS * RECV_SLOT],
            // SAFETY: sockaddr_storage is plain old data; zero is valid.
            addrs: vec![unsafe { zeroed() }; RECV_MSGS],
            controls: vec![[0; CMSG_ROOM]; RECV_MSGS],
            lens: vec![0; RECV_MSGS],
            segs: vec![0; RECV_MSGS],
            truncated: vec![false; RECV_MSGS],
            count: 0,
        }
    }

    /// Reads queued messages without blocking; `WouldBlock` when none.
    pub(crate) fn recv(&mut self, fd: RawFd) -> io::Result<usize> {
        let mut iovs: Vec<libc::iovec> = self
            .data
            .chunks_exact_mut(RECV_SLOT)
            .map(|s| libc::iovec {
                iov_base: s.as_mut_ptr().cast(),
                iov_len: RECV_SLOT,
            })
            .collect();
        let mut msgs: Vec<libc::mmsghdr> = (0..RECV_MSGS)
            .map(|i| {
                // SAFETY: a zeroed mmsghdr is valid; pointers are set here.
                let mut h: libc::mmsghdr = unsafe { zeroed() };
                h.msg_hdr.msg_name = (&mut self.addrs[i] as *mut libc::sockaddr_storage).cast();
                h.msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
                h.msg_hdr.msg_iov = &mut iovs[i];
                h.msg_hdr.msg_iovlen = 1;
                h.msg_hdr.msg_control = self.controls[i].as_mut_ptr().cast();
                h.msg_hdr.msg_controllen = CMSG_ROOM as _;
                h
            })
            .collect();
        // SAFETY: every header points into buffers owned by self or iovs,
        // all alive for the call.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                msgs.as_mut_ptr(),
                RECV_MSGS as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            self.count = 0;
            return Err(io::Error::last_os_error());
        }
        self.count = n as usize;
        for (i, m) in msgs.iter().take(self.count).enumerate() {
            self.lens[i] = m.msg_len as usize;
            self.truncated[i] = m.msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
            self.segs[i] = gro_segment_size(&m.msg_hdr)
                .filter(|&s| s > 0)
                .unwrap_or(self.lens[i]);
        }
        Ok(self.count)
    }

    /// Calls `f` with every datagram of the last batch (GRO runs split
    /// back into datagrams). Truncated messages are skipped.
    pub(crate) fn for_each(&mut self, mut f: impl FnMut(SocketAddr, &mut [u8])) {
        for i in 0..self.count {
            if self.truncated[i] {
                continue;
            }
            let Some(from) = to_socket_addr(&self.addrs[i]) else {
                continue;
            };
            let start = i * RECV_SLOT;
            let run = &mut self.data[start..start + self.lens[i]];
            for dgram in run.chunks_mut(self.segs[i].max(1)) {
                f(from, dgram);
            }
        }
    }
}

/// The UDP_GRO control message, if the kernel coalesced this message.
fn gro_segment_size(hdr: &libc::msghdr) -> Option<usize> {
    // SAFETY: hdr's control buffer was filled by recvmmsg and is walked
    // with the libc CMSG macros, which bound every step by controllen.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(hdr);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_UDP && (*c).cmsg_type == UDP_GRO {
                let v = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::c_int>());
                return usize::try_from(v).ok();
            }
            c = libc::CMSG_NXTHDR(hdr, c);
        }
    }
    None
}

/// Asks the kernel to coalesce received runs (UDP GRO). Older kernels
/// refuse; then datagrams simply arrive one by one.
pub(crate) fn enable_gro(fd: RawFd) -> bool {
    let on: libc::c_int = 1;
    // SAFETY: fd is an open UDP socket; on is a c_int whose size we pass.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_UDP,
            UDP_GRO,
            (&on as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as _,
        )
    };
    rc == 0
}

/// Datagrams queued for one `sendmmsg`.
pub(crate) struct SendBatch {
    bufs: Vec<Vec<u8>>,
    dests: Vec<SocketAddr>,
    len: usize,
    gso: bool,
}

/// A run of datagrams sent as one message.
struct Run {
    start: usize,
    count: usize,
    seg: usize,
}

impl SendBatch {
    pub(crate) fn new(gso: bool) -> SendBatch {
        SendBatch {
            bufs: (0..SEND_BATCH)
                .map(|_| Vec::with_capacity(SEND_SLOT))
                .collect(),
            dests: Vec::with_capacity(SEND_BATCH),
            len: 0,
            gso,
        }
    }

    pub(crate) fn is_full(&self) -> bool {
        self.len == SEND_BATCH
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Fills the next slot with `fill` (which returns the destination, or
    /// None to leave it unused). Returns whether a datagram was added.
    pub(crate) fn push_with(
        &mut self,
        fill: impl FnOnce(&mut Vec<u8>) -> Option<SocketAddr>,
    ) -> bool {
        debug_assert!(!self.is_full());
        let Some(to) = fill(&mut self.bufs[self.len]) else {
            return false;
        };
        self.dests.truncate(self.len);
        self.dests.push(to);
        self.len += 1;
        true
    }

    /// Consecutive datagrams to one destination, all of one size except a
    /// shorter last one, within the kernel's GSO limits.
    fn runs(&self) -> Vec<Run> {
        let mut runs: Vec<Run> = Vec::new();
        for i in 0..self.len {
            let size = self.bufs[i].len();
            if let Some(r) = runs.last_mut() {
                let last_len = self.bufs[r.start + r.count - 1].len();
                let fits = self.gso
                    && self.dests[i] == self.dests[r.start]
                    && last_len == r.seg
                    && size <= r.seg
                    && size > 0
                    && r.count < GSO_MAX_SEGMENTS
                    && r.seg * r.count + size <= GSO_MAX_BYTES;
                if fits {
                    r.count += 1;
                    continue;
                }
            }
            runs.push(Run {
                start: i,
                count: 1,
                seg: size,
            });
        }
        runs
    }

    /// Sends what is queued, from the front. Returns how many datagrams
    /// went (they leave the batch). `WouldBlock` when the socket is full.
    pub(crate) fn send(&mut self, fd: RawFd) -> io::Result<usize> {
        if self.len == 0 {
            return Ok(0);
        }
        let runs = self.runs();
        let result = self.send_runs(fd, &runs);
        match result {
            Ok(sent_runs) => {
                let sent: usize = runs[..sent_runs].iter().map(|r| r.count).sum();
                self.consume(sent);
                Ok(sent)
            }
            // A kernel or device without GSO support fails the whole run:
            // stop using GSO and let the caller retry.
            Err(e) if self.gso && runs[0].count > 1 && gso_unsupported(&e) => {
                tracing::warn!(error = %e, "UDP GSO refused; sending datagrams one by one");
                self.gso = false;
                Ok(0)
            }
            Err(e) => Err(e),
        }
    }

    fn send_runs(&mut self, fd: RawFd, runs: &[Run]) -> io::Result<usize> {
        let addrs: Vec<(libc::sockaddr_storage, libc::socklen_t)> = runs
            .iter()
            .map(|r| from_socket_addr(&self.dests[r.start]))
            .collect();
        let mut iovs: Vec<libc::iovec> = self.bufs[..self.len]
            .iter_mut()
            .map(|b| libc::iovec {
                iov_base: b.as_mut_ptr().cast(),
                iov_len: b.len(),
            })
            .collect();
        let mut controls = vec![[0u8; CMSG_ROOM]; runs.len()];
        let mut msgs: Vec<libc::mmsghdr> = Vec::with_capacity(runs.len());
        for (k, r) in runs.iter().enumerate() {
            // SAFETY: a zeroed mmsghdr is valid; pointers are set here.
            let mut h: libc::mmsghdr = unsafe { zeroed() };
            h.msg_hdr.msg_name = (&addrs[k].0 as *const libc::sockaddr_storage)
                .cast_mut()
                .cast();
            h.msg_hdr.msg_namelen = addrs[k].1;
            h.msg_hdr.msg_iov = &mut iovs[r.start];
            h.msg_hdr.msg_iovlen = r.count as _;
            if r.count > 1 {
                set_segment_cmsg(&mut h.msg_hdr, &mut controls[k], r.seg);
            }
            msgs.push(h);
        }
        // SAFETY: all headers point into addrs, iovs, controls and bufs,
        // alive for the call.
        let n = unsafe {
            libc::sendmmsg(
                fd,
                msgs.as_mut_ptr(),
                msgs.len() as libc::c_uint,
                libc::MSG_DONTWAIT,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }

    fn consume(&mut self, sent: usize) {
        self.bufs[..self.len].rotate_left(sent);
        self.dests.drain(..sent);
        self.len -= sent;
    }

    /// Drops the datagram at the front (it failed with a hard error).
    pub(crate) fn skip_front(&mut self) -> Option<SocketAddr> {
        if self.len == 0 {
            return None;
        }
        let to = self.dests[0];
        self.consume(1);
        Some(to)
    }
}

fn set_segment_cmsg(hdr: &mut libc::msghdr, room: &mut [u8; CMSG_ROOM], seg: usize) {
    let seg = u16::try_from(seg).unwrap_or(u16::MAX);
    hdr.msg_control = room.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE of a u16 is far below CMSG_ROOM; the header and
    // data are written inside `room` through the libc macros.
    unsafe {
        hdr.msg_controllen = libc::CMSG_SPACE(size_of::<u16>() as u32) as _;
        let c = libc::CMSG_FIRSTHDR(hdr);
        (*c).cmsg_level = libc::SOL_UDP;
        (*c).cmsg_type = UDP_SEGMENT;
        (*c).cmsg_len = libc::CMSG_LEN(size_of::<u16>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<u16>(), seg);
    }
}

fn gso_unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EIO) | Some(libc::EINVAL) | Some(libc::ENOPROTOOPT) | Some(libc::EOPNOTSUPP)
    )
}

#[cfg(test)]
mod tests;
