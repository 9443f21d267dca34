//! One emulated leaf: a `fips_proto::node::Node` with its own key and its
//! own UDP socket, driven as the daemon's node loop drives it (datagrams
//! in, timers, then drain transmits, events and TUN output). No TUN: the
//! leaf's application is this module, which answers echo probes and
//! counts what arrives.
//!
//! Each leaf is one tokio task; the tasks share only [`Shared`] (counters)
//! and read commands from their own channel.

use std::net::{Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fips_proto::identity::{Identity, PeerIdentity};
use fips_proto::node::{Node, NodeConfig, NodeEvent, PeerConfig, Timers};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use crate::packet;

/// The daemon's default link and TUN MTU.
const MTU: u16 = 1280;
/// Largest datagram a leaf takes in (above any link MTU).
const RECV_BUF: usize = 2048;

/// Counters all leaves add to.
#[derive(Default)]
pub struct Shared {
    /// Leaves whose link to the hub is up now.
    pub linked: AtomicUsize,
    /// Link-up events so far (handshakes completed).
    pub handshakes: AtomicU64,
    /// UDP payload bytes sent and received by all leaves.
    pub tx_bytes: AtomicU64,
    pub rx_bytes: AtomicU64,
    /// Load datagrams ([`packet::LOAD`]) delivered to a leaf.
    pub load_rx: AtomicU64,
}

/// Per leaf, readable from outside its task.
#[derive(Default)]
pub struct LeafStats {
    /// Echo replies received.
    pub replies: AtomicU64,
}

/// What a leaf is told to do.
#[derive(Debug)]
pub enum Cmd {
    /// Send one datagram to `to` on `port` (an echo request or load).
    Send { to: PeerIdentity, port: u16 },
}

/// Everything a leaf needs to start.
pub struct LeafSpec {
    pub identity: Identity,
    pub rng_seed: [u8; 32],
    pub hub: PeerIdentity,
    pub hub_addr: SocketAddr,
    pub socket: std::net::UdpSocket,
}

/// A running leaf: its commands channel and its stats.
pub struct LeafHandle {
    pub identity: PeerIdentity,
    pub cmds: mpsc::UnboundedSender<Cmd>,
    pub stats: Arc<LeafStats>,
    pub task: tokio::task::JoinHandle<()>,
}

struct Leaf {
    node: Node,
    ipv6: Ipv6Addr,
    sock: UdpSocket,
    shared: Arc<Shared>,
    stats: Arc<LeafStats>,
    linked: bool,
    out: Vec<u8>,
}

/// Starts a leaf task on the current runtime; it dials the hub at once.
pub fn spawn(spec: LeafSpec, shared: Arc<Shared>) -> std::io::Result<LeafHandle> {
    spec.socket.set_nonblocking(true)?;
    let sock = UdpSocket::from_std(spec.socket)?;
    let identity = *spec.identity.public();
    let now = Instant::now();
    let hub = PeerConfig {
        identity: spec.hub,
        alias: Some("hub".into()),
        addrs: vec![spec.hub_addr],
        auto_connect: true,
    };
    let config = NodeConfig {
        identity: spec.identity,
        peers: vec![hub],
        link_mtu: MTU,
        tun_mtu: MTU,
        timers: Timers::default(),
    };
    let stats = Arc::new(LeafStats::default());
    let leaf = Leaf {
        node: Node::new(config, spec.rng_seed, now, unix_ms()),
        ipv6: identity.ipv6(),
        sock,
        shared,
        stats: stats.clone(),
        linked: false,
        out: Vec::with_capacity(usize::from(MTU)),
    };
    let (tx, rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(leaf.run(rx));
    Ok(LeafHandle {
        identity,
        cmds: tx,
        stats,
        task,
    })
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Leaf {
    /// Runs until the task is aborted (or its command channel closes).
    async fn run(mut self, mut cmds: mpsc::UnboundedReceiver<Cmd>) {
        let mut buf = vec![0u8; RECV_BUF];
        loop {
            self.flush().await;
            let deadline = self
                .node
                .poll_timeout()
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(1));
            tokio::select! {
                r = self.sock.recv_from(&mut buf) => {
                    if let Ok((n, from)) = r {
                        self.shared.rx_bytes.fetch_add(n as u64, Relaxed);
                        self.node.handle_datagram(Instant::now(), from, &mut buf[..n]);
                    }
                }
                c = cmds.recv() => match c {
                    Some(c) => self.on_cmd(c),
                    None => break,
                },
                _ = tokio::time::sleep_until(deadline.into()) => {}
            }
            let now = Instant::now();
            if self.node.poll_timeout().is_some_and(|t| t <= now) {
                self.node.handle_timeout(now);
            }
        }
        self.set_linked(false);
    }

    fn on_cmd(&mut self, cmd: Cmd) {
        let now = Instant::now();
        match cmd {
            Cmd::Send { to, port } => {
                // As the daemon's DNS does for `<npub>.fips`: the node
                // learns the key behind the address before the packet.
                self.node.learn_identity(now, to);
                let p = packet::udp6(self.ipv6, to.ipv6(), port, b"fips-loadgen");
                self.node.handle_tun_packet(now, &p);
            }
        }
    }

    /// Sends every queued datagram and handles events and TUN output,
    /// until answering echo probes queues nothing more.
    async fn flush(&mut self) {
        loop {
            while let Some(to) = self.node.poll_transmit(&mut self.out) {
                // A full socket buffer or an unreachable hub loses the
                // datagram, as on a real leaf; the protocol resends.
                if self.sock.send_to(&self.out, to).await.is_ok() {
                    self.shared
                        .tx_bytes
                        .fetch_add(self.out.len() as u64, Relaxed);
                }
            }
            self.drain_events();
            let answers = self.drain_tun();
            if answers.is_empty() {
                return;
            }
            let now = Instant::now();
            for src in answers {
                let p = packet::udp6(self.ipv6, src, packet::REPLY, b"fips-loadgen");
                self.node.handle_tun_packet(now, &p);
            }
        }
    }

    fn drain_events(&mut self) {
        while let Some(e) = self.node.poll_event() {
            match e {
                NodeEvent::PeerUp { .. } => {
                    self.shared.handshakes.fetch_add(1, Relaxed);
                    self.set_linked(true);
                }
                NodeEvent::PeerDown { .. } => self.set_linked(false),
                NodeEvent::PeerSilent { .. } => {}
            }
        }
    }

    /// Counts what arrived for the application; the sources of echo
    /// requests, to answer.
    fn drain_tun(&mut self) -> Vec<Ipv6Addr> {
        let mut answers = Vec::new();
        while self.node.poll_tun(&mut self.out) {
            let Some(p) = packet::parse(&self.out) else {
                continue;
            };
            match p.port {
                packet::ECHO => answers.push(p.src),
                packet::REPLY => _ = self.stats.replies.fetch_add(1, Relaxed),
                packet::LOAD => _ = self.shared.load_rx.fetch_add(1, Relaxed),
                _ => {}
            }
        }
        answers
    }

    fn set_linked(&mut self, up: bool) {
        if up != self.linked {
            self.linked = up;
            if up {
                self.shared.linked.fetch_add(1, Relaxed);
            } else {
                self.shared.linked.fetch_sub(1, Relaxed);
            }
        }
    }
}
