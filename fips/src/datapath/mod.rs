//! The daemon's packet pump: moves datagrams and TUN packets between the
//! kernel and the protocol core in batches. UDP comes in by `recvmmsg`
//! (GRO-coalesced runs split), TUN reads are TSO super-packets split to
//! the mesh MTU, outgoing datagrams leave by `sendmmsg`/GSO and packets
//! for the TUN are coalesced into GSO frames.
//!
//! It owns the sockets' buffers and the order of calls, not the protocol:
//! the core is anything with the `Node` input/output shape (`Core`).
//! Control, DNS and the rest of the daemon stay outside; the daemon's loop
//! waits on `ready()` beside its other sources, then calls `handle`.

mod node;
#[cfg(test)]
mod tests;

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use crate::tun::offload::{self, Coalescer, OffloadTun, VnetHdr, MAX_READ, VNET_HDR_LEN};
use crate::udp::{AsyncUdpSocket, RecvBatch, SendBatch, MAX_GRO_BYTES};

/// The protocol core as the pump drives it: the input/output half of
/// `fips_proto::node::Node` (see its call order).
pub trait Core {
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, data: &mut [u8]);
    fn handle_tun_packet(&mut self, now: Instant, packet: &[u8]);
    fn poll_transmit(&mut self, buf: &mut Vec<u8>) -> Option<SocketAddr>;
    fn poll_tun(&mut self, buf: &mut Vec<u8>) -> bool;
}

/// Messages per `recvmmsg`. Each slot holds a whole GRO run (64 KiB), so
/// this is also the receive memory: 16 x 64 KiB = 1 MiB.
const RECV_SLOTS: usize = 16;
/// Datagrams queued before a `sendmmsg` (GSO runs of up to 64).
const SEND_BATCH: usize = 256;
/// Work done per wake-up before yielding to the other source and to the
/// daemon's other tasks: UDP receive calls, TUN reads.
const UDP_ROUNDS: usize = 4;
const TUN_ROUNDS: usize = 16;

/// Which source has input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ready {
    Udp,
    Tun,
}

/// What went through the pump (cumulative), for profiling and `fipsctl`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub udp_recv_calls: u64,
    pub udp_datagrams_in: u64,
    pub udp_recv_errors: u64,
    pub udp_datagrams_out: u64,
    pub udp_send_calls: u64,
    pub udp_send_errors: u64,
    pub tun_reads: u64,
    pub tun_packets_in: u64,
    pub tun_bad_frames: u64,
    pub tun_writes: u64,
    pub tun_packets_out: u64,
    pub tun_write_errors: u64,
}

/// The sockets and every buffer of the data path, allocated once.
pub struct DataPath {
    udp: AsyncUdpSocket,
    tun: OffloadTun,
    mtu: usize,
    recv: RecvBatch,
    send: SendBatch,
    tun_in: Box<[u8]>,
    /// Bytes of the frame `ready` read into `tun_in`.
    tun_in_len: usize,
    segment_scratch: Vec<u8>,
    tun_out: Vec<u8>,
    coalescer: Coalescer,
    stats: Stats,
}

impl DataPath {
    /// `mtu` is the TUN MTU: TSO super-packets are split to it.
    pub fn new(udp: AsyncUdpSocket, tun: OffloadTun, mtu: u16) -> DataPath {
        DataPath {
            udp,
            tun,
            mtu: usize::from(mtu),
            recv: RecvBatch::new(RECV_SLOTS, MAX_GRO_BYTES),
            send: SendBatch::new(SEND_BATCH),
            tun_in: vec![0; MAX_READ].into_boxed_slice(),
            tun_in_len: 0,
            segment_scratch: Vec::with_capacity(usize::from(mtu)),
            tun_out: Vec::with_capacity(usize::from(mtu)),
            coalescer: Coalescer::new(),
            stats: Stats::default(),
        }
    }

    pub fn udp(&self) -> &AsyncUdpSocket {
        &self.udp
    }

    pub fn tun(&self) -> &OffloadTun {
        &self.tun
    }

    pub fn stats(&self) -> Stats {
        let mut s = self.stats;
        s.udp_send_calls = self.send.syscalls;
        s
    }

    /// Waits until the UDP socket or the TUN device has input and reads
    /// the first of it (kept for `handle`). Cancel-safe: data is read only
    /// in the poll that returns, so it can sit in the daemon's `select!`.
    pub async fn ready(&mut self) -> io::Result<Ready> {
        let DataPath {
            udp,
            tun,
            recv,
            tun_in,
            tun_in_len,
            ..
        } = self;
        tokio::select! {
            r = udp.recv_batch(recv) => r.map(|_| Ready::Udp),
            r = tun.recv(tun_in) => r.map(|n| {
                *tun_in_len = n;
                Ready::Tun
            }),
        }
    }

    /// Feeds what `ready` read to `core`, then up to a bounded amount more
    /// from the same source without waiting, then sends everything the
    /// core produced.
    pub async fn handle(&mut self, ready: Ready, core: &mut impl Core) -> io::Result<()> {
        match ready {
            Ready::Udp => {
                self.feed_udp(core);
                for _ in 1..UDP_ROUNDS {
                    if !self.recv_more_udp()? {
                        break;
                    }
                    self.feed_udp(core);
                }
            }
            Ready::Tun => {
                self.feed_tun(core);
                for _ in 1..TUN_ROUNDS {
                    if !self.read_more_tun()? {
                        break;
                    }
                    self.feed_tun(core);
                }
            }
        }
        self.flush(core).await
    }

    /// Another `recvmmsg` without waiting; false when nothing is queued.
    fn recv_more_udp(&mut self) -> io::Result<bool> {
        match self.udp.try_recv_batch(&mut self.recv) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            // A receive error is about one message (the socket stays
            // usable): count it and let the next wake-up go on.
            Err(_) => {
                self.stats.udp_recv_errors += 1;
                Ok(false)
            }
        }
    }

    fn read_more_tun(&mut self) -> io::Result<bool> {
        match self.tun.try_recv(&mut self.tun_in) {
            Ok(n) => {
                self.tun_in_len = n;
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn feed_udp(&mut self, core: &mut impl Core) {
        self.stats.udp_recv_calls += 1;
        self.stats.udp_datagrams_in += self.recv.len() as u64;
        // One clock read per batch: the datagrams arrived together.
        let now = Instant::now();
        for i in 0..self.recv.len() {
            if let Some((from, data)) = self.recv.get_mut(i) {
                core.handle_datagram(now, from, data);
            }
        }
        // Send as we go so the core's queues stay short.
        self.drain_transmit(core);
    }

    fn feed_tun(&mut self, core: &mut impl Core) {
        self.stats.tun_reads += 1;
        let now = Instant::now();
        let Some((hdr, packet)) = split_frame(&mut self.tun_in[..self.tun_in_len]) else {
            self.stats.tun_bad_frames += 1;
            return;
        };
        let packets = offload::segment(&hdr, packet, self.mtu, &mut self.segment_scratch, |p| {
            core.handle_tun_packet(now, p)
        });
        match packets {
            Ok(k) => self.stats.tun_packets_in += k as u64,
            Err(_) => self.stats.tun_bad_frames += 1,
        }
        self.drain_transmit(core);
    }

    /// Moves the core's datagrams into the send batch, sending whenever it
    /// fills (without waiting: a full socket buffer leaves them queued).
    fn drain_transmit(&mut self, core: &mut impl Core) {
        while self.send.push_with(|buf| core.poll_transmit(buf)) {
            self.stats.udp_datagrams_out += 1;
            if self.send.is_full() {
                self.try_send();
                if self.send.is_full() {
                    // The socket buffer is full; the rest waits in the core.
                    return;
                }
            }
        }
    }

    fn try_send(&mut self) {
        loop {
            match self.udp.try_send_batch(&mut self.send) {
                Ok(()) => return,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                // One destination failed (unreachable, ...); the message was
                // dropped and the rest goes on.
                Err(_) => self.stats.udp_send_errors += 1,
            }
        }
    }

    /// Sends every queued datagram (waiting out a full socket buffer) and
    /// writes every packet the core has for the TUN.
    pub async fn flush(&mut self, core: &mut impl Core) -> io::Result<()> {
        loop {
            self.drain_transmit(core);
            if self.send.is_empty() {
                break;
            }
            if let Err(e) = self.udp.send_batch(&mut self.send).await {
                if e.kind() != io::ErrorKind::WouldBlock {
                    self.stats.udp_send_errors += 1;
                }
            }
        }
        self.write_tun(core);
        Ok(())
    }

    fn write_tun(&mut self, core: &mut impl Core) {
        let (tun, stats) = (&self.tun, &mut self.stats);
        let mut write = |frame: &[u8]| {
            stats.tun_writes += 1;
            // A TUN write fails only when the kernel drops the packet
            // (no memory, device down): count it like a lost packet.
            if tun.try_send_frame(frame).is_err() {
                stats.tun_write_errors += 1;
            }
        };
        while core.poll_tun(&mut self.tun_out) {
            self.coalescer.push(&self.tun_out, &mut write);
        }
        self.coalescer.flush(&mut write);
        self.stats.tun_packets_out = self.coalescer.packets;
    }
}

/// The virtio header and the packet of a frame read from the TUN.
fn split_frame(frame: &mut [u8]) -> Option<(VnetHdr, &mut [u8])> {
    let hdr = VnetHdr::parse(frame)?;
    Some((hdr, &mut frame[VNET_HDR_LEN..]))
}
