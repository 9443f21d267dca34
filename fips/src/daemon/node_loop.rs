//! The node task: the only owner of the `Node`. It waits for the first of
//! a datagram, a TUN packet, a control command, a learned identity or the
//! node's next timer; feeds it (and whatever else is already queued, up to
//! a batch); then drains every output before waiting again.

use std::io;
use std::time::{Duration, Instant};

use fips_proto::identity::PeerIdentity;
use fips_proto::node::{Node, NodeEvent};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::control::ControlRequest;
use crate::limits;
use crate::tun::{ReadBatch, Tun, WriteBatch};
use crate::udp::{AsyncUdpSocket, RecvBatch, SendBatch, MAX_GRO_BYTES};

use super::commands::{self, Context};
use super::refusals::RefusalLog;
use super::resolve::{AddrUpdate, ResolverMsg};
use super::shutdown::ShutdownToken;

/// Packets taken from one source before the outputs are drained, so
/// replies and forwarded packets leave while more arrive.
const BATCH: usize = 64;
/// recvmmsg calls per wake-up before the outputs are drained.
const UDP_BATCHES: usize = 2;
/// Messages per recvmmsg; each slot holds a whole GRO run (64 KiB).
const RECV_MSGS: usize = 32;
/// Large enough for any TUN packet.
const BUF: usize = 65536 + 64;
/// How long to wait when the node has no timer at all.
const IDLE: Duration = Duration::from_secs(3600);
/// How often the bounded stores are checked (warnings, heap trim).
const BOUNDS_CHECK: Duration = Duration::from_secs(1);
/// How often XDP's msg1 gate gets the known peers without a link event
/// (configured and dialled addresses change without one).
const KNOWN_SYNC: Duration = Duration::from_secs(1);

/// What the other tasks send the node task.
pub(crate) struct Inputs {
    pub control: mpsc::Receiver<ControlRequest>,
    /// Identities the DNS server learned from `<npub>.fips` names.
    pub identities: mpsc::Receiver<PeerIdentity>,
    /// Peer addresses from host names (`resolve`).
    pub addrs: mpsc::Receiver<AddrUpdate>,
    /// Where the figures for the metrics server go, once per stats tick.
    pub metrics: Option<crate::metrics::Publisher>,
}

pub(crate) struct NodeLoop {
    node: Node,
    udp: AsyncUdpSocket,
    tun: Option<Tun>,
    control: mpsc::Receiver<ControlRequest>,
    identities: mpsc::Receiver<PeerIdentity>,
    addrs: mpsc::Receiver<AddrUpdate>,
    metrics: Option<crate::metrics::Publisher>,
    ctx: Context,
    rx: RecvBatch,
    tx: SendBatch,
    /// Where a read from fips0 lands, cut into packets.
    tun_in: ReadBatch,
    /// Packets for fips0, joined into super-packets when written.
    tun_out: WriteBatch,
    out_buf: Vec<u8>,
    refusals: RefusalLog,
    bounds: limits::Watch,
    next_bounds_check: Instant,
    next_known_sync: Instant,
}

impl NodeLoop {
    pub(crate) fn new(
        node: Node,
        udp: AsyncUdpSocket,
        tun: Option<Tun>,
        inputs: Inputs,
        ctx: Context,
    ) -> NodeLoop {
        NodeLoop {
            tun_in: ReadBatch::new(tun_mtu(tun.as_ref())),
            node,
            udp,
            tun,
            control: inputs.control,
            identities: inputs.identities,
            addrs: inputs.addrs,
            metrics: inputs.metrics,
            ctx,
            rx: RecvBatch::new(RECV_MSGS, MAX_GRO_BYTES),
            tx: SendBatch::new(BATCH),
            tun_out: WriteBatch::new(),
            out_buf: Vec::with_capacity(BUF),
            refusals: RefusalLog::default(),
            bounds: limits::Watch::default(),
            next_bounds_check: Instant::now() + BOUNDS_CHECK,
            next_known_sync: Instant::now(),
        }
    }

    /// Runs until `stop` fires; then tells the peers goodbye and keeps
    /// serving for `drain` (less once no peer is left), then shuts the
    /// node down.
    pub(crate) async fn run(mut self, stop: ShutdownToken, drain: Duration) {
        let stopped = stop.cancelled();
        tokio::pin!(stopped);
        let mut drain_end: Option<Instant> = None;
        loop {
            self.flush().await;
            if drain_end.is_some() && self.node.peer_count() == 0 {
                break;
            }
            let node_due = self.node.poll_timeout();
            let deadline = node_due
                .unwrap_or_else(|| Instant::now() + IDLE)
                .min(self.next_bounds_check);
            tokio::select! {
                _ = &mut stopped, if drain_end.is_none() => {
                    info!(peers = self.node.peer_count(), drain_secs = drain.as_secs_f64(),
                        "telling peers goodbye, draining");
                    self.node.begin_drain(Instant::now());
                    drain_end = Some(Instant::now() + drain);
                }
                _ = tokio::time::sleep_until(drain_end.unwrap_or_else(Instant::now).into()),
                    if drain_end.is_some() => break,
                r = self.udp.readable() => self.on_udp(r),
                r = recv_tun(self.tun.as_ref(), &mut self.tun_in) => self.on_tun(r),
                Some(req) = self.control.recv() => self.on_control(req),
                Some(id) = self.identities.recv() => self.node.learn_identity(Instant::now(), id),
                Some((peer, addrs)) = self.addrs.recv() => {
                    self.node.set_peer_addrs(Instant::now(), &peer, addrs);
                }
                _ = tokio::time::sleep_until(deadline.into()) => {}
            }
            let now = Instant::now();
            // `node_due` is still right: an event above that armed an
            // earlier timer is seen by the next turn's poll_timeout (a scan
            // over every peer, so once per turn, not twice).
            if node_due.is_some_and(|t| t <= now) {
                self.node.handle_timeout(now);
            }
            if now >= self.next_bounds_check {
                self.next_bounds_check = now + BOUNDS_CHECK;
                self.bounds.check(now, &self.core_pressure());
                if let Some(m) = &self.metrics {
                    m.publish(&self.node, now);
                }
                super::stats::record(&mut self.ctx.history, &self.node, now);
            }
        }
        info!("drained");
        self.node.shutdown(Instant::now());
        self.flush().await;
    }

    /// The core's refused/evicted totals: its stores, then the peer limits.
    fn core_pressure(&self) -> Vec<(&'static str, u64)> {
        let c = self.node.counters();
        let limits = [
            ("peers (node.limits.max_peers)", c.peer_limit),
            ("links (node.limits.max_links)", c.link_limit),
            (
                "handshakes in flight (node.limits.max_connections)",
                c.connection_limit,
            ),
        ];
        let stores = self.node.bounds().unwrap_or_default().pressure();
        stores.into_iter().chain(limits).collect()
    }

    /// Feeds up to [`UDP_BATCHES`] batches of queued datagrams to the node.
    fn on_udp(&mut self, ready: io::Result<()>) {
        if let Err(e) = ready {
            warn!(error = %e, "UDP socket error");
            return;
        }
        for _ in 0..UDP_BATCHES {
            match self.udp.try_recv_batch(&mut self.rx) {
                Ok(_) => {
                    let now = Instant::now();
                    for i in 0..self.rx.len() {
                        if let Some((from, data)) = self.rx.get_mut(i) {
                            self.node.handle_datagram(now, from, data);
                        }
                    }
                    let node = &self.node;
                    let refused = node.counters().msg1_rate_limited;
                    self.refusals.check(now, refused, || node.admission_stats());
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                // ICMP errors from earlier sends surface here; not fatal.
                Err(e) => debug!(error = %e, "UDP receive error"),
            }
        }
    }

    fn on_tun(&mut self, first: io::Result<usize>) {
        let Some(tun) = self.tun.as_ref() else { return };
        // A program pings a name right after the DNS answer, and the DNS
        // task queued the identity before answering: learn it before the
        // packet, or select! may pick the packet first and answer it with
        // "no route" (its branches are polled in random order).
        let now = Instant::now();
        while let Ok(id) = self.identities.try_recv() {
            self.node.learn_identity(now, id);
        }
        let mut next = first;
        for _ in 0..BATCH {
            match next {
                Ok(_) => {
                    for p in self.tun_in.packets() {
                        self.node.handle_tun_packet(now, p);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                // An OS error is the device's; any other is tun-rs refusing
                // a super-packet it cannot cut (counted as dropped).
                Err(e) if e.raw_os_error().is_some() => {
                    warn!(error = %e, "TUN read error");
                    return;
                }
                Err(e) => debug!(error = %e, "TUN read dropped"),
            }
            next = tun.try_recv_packets(&mut self.tun_in);
        }
    }

    fn on_control(&mut self, req: ControlRequest) {
        let response =
            commands::respond(&mut self.node, &mut self.ctx, Instant::now(), req.command);
        // The client may have gone; nothing to do then.
        let _ = req.reply.send(response);
    }

    /// Sends every queued datagram and TUN packet, logs node events.
    async fn flush(&mut self) {
        loop {
            let node = &mut self.node;
            while !self.tx.is_full() && self.tx.push_with(|buf| node.poll_transmit(buf)) {}
            if self.tx.is_empty() {
                break;
            }
            self.send_batch().await;
        }
        self.flush_tun().await;
        let mut links_changed = false;
        while let Some(event) = self.node.poll_event() {
            match event {
                NodeEvent::PeerUp { addr, npub } => {
                    links_changed = true;
                    if let Some(m) = &mut self.metrics {
                        m.link_established();
                    }
                    info!(peer = %npub, addr = %addr.ipv6(), "peer up")
                }
                NodeEvent::PeerDown { addr, reason } => {
                    links_changed = true;
                    info!(addr = %addr.ipv6(), ?reason, "peer down")
                }
                NodeEvent::PeerSilent { addr } => {
                    debug!(addr = %addr.ipv6(), "peer silent");
                    // A peer known by host name may have moved.
                    let _ = self.ctx.names.send(ResolverMsg::Refresh(addr));
                }
            }
        }
        self.sync_known_peers(links_changed);
    }

    /// Keeps XDP's msg1 gate exempting the node's known peers: at once when
    /// a link comes or goes, else every [`KNOWN_SYNC`].
    fn sync_known_peers(&mut self, links_changed: bool) {
        let now = Instant::now();
        if !links_changed && now < self.next_known_sync {
            return;
        }
        self.next_known_sync = now + KNOWN_SYNC;
        self.ctx
            .firewall
            .sync_known_peers(self.node.known_source_ips());
    }
}

impl NodeLoop {
    /// Writes the node's packets to fips0 in batches; with offload, runs of
    /// one flow are joined into super-packets (one write each).
    async fn flush_tun(&mut self) {
        let Some(tun) = &self.tun else {
            while self.node.poll_tun(&mut self.out_buf) {}
            return;
        };
        while self.node.poll_tun(&mut self.out_buf) {
            if !self.tun_out.push(&self.out_buf) {
                write_batch(tun, &mut self.tun_out).await;
                self.tun_out.push(&self.out_buf);
            }
        }
        write_batch(tun, &mut self.tun_out).await;
    }

    /// Sends the queued batch, waiting for socket space when it is full.
    async fn send_batch(&mut self) {
        while !self.tx.is_empty() {
            match self.udp.try_send_batch(&mut self.tx) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if let Err(e) = self.udp.writable().await {
                        warn!(error = %e, "UDP socket error");
                        return;
                    }
                }
                // A hard error belongs to one destination (e.g. no route);
                // that datagram was dropped and the rest go on.
                Err(e) => debug!(error = %e, "UDP send failed"),
            }
        }
    }
}

async fn write_batch(tun: &Tun, batch: &mut WriteBatch) {
    if let Err(e) = tun.send_packets(batch).await {
        debug!(error = %e, "TUN write failed");
    }
}

/// The MTU the read buffers are sized for: the device's, or the most a
/// TUN packet can be when it cannot be asked.
fn tun_mtu(tun: Option<&Tun>) -> u16 {
    tun.and_then(|t| t.mtu().ok()).unwrap_or(u16::MAX)
}

/// A TUN read, or never when TUN is off.
async fn recv_tun(tun: Option<&Tun>, batch: &mut ReadBatch) -> io::Result<usize> {
    match tun {
        Some(t) => t.recv_packets(batch).await,
        None => std::future::pending().await,
    }
}
