//! A hostile mesh peer built on fips-proto: a real `Node` that links to a
//! daemon over UDP (Noise IK, heartbeats, tree), then sends link messages
//! crafted by the test through that link (`bench_link_send`): session
//! Setups from many fresh source addresses, junk XK msg3, LookupRequests for targets
//! nobody has. Everything it sends is well formed and authenticated on the
//! link, as a compromised mesh node's traffic would be.
//!
//! Used through `#[path = "support/mesh_peer.rs"] mod mesh_peer;`; must be
//! created on a thread inside the namespace it sends from.

#![allow(dead_code)]

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fips_proto::identity::{Identity, PeerIdentity};
use fips_proto::node::{Node, NodeConfig, PeerConfig, Timers};
use fips_proto::noise::xk_initiate;
use fips_proto::wire::fsp::{SessionMsg3, SessionSetup};
use fips_proto::wire::link::SessionDatagram;
use fips_proto::wire::lookup::LookupRequest;
use fips_proto::wire::Coords;
use fips_proto::NodeAddr;

pub struct MeshPeer {
    node: Node,
    sock: UdpSocket,
    target: NodeAddr,
    target_id: PeerIdentity,
    buf: Vec<u8>,
    sent: u64,
}

impl MeshPeer {
    /// Binds `bind`, dials `target` at `to` and waits until the link is up.
    pub fn link(bind: SocketAddr, to: SocketAddr, target: PeerIdentity, seed: u8) -> MeshPeer {
        let identity = Identity::from_secret_bytes([seed; 32]).expect("test key");
        let config = NodeConfig {
            identity,
            peers: vec![PeerConfig {
                identity: target,
                alias: None,
                addrs: vec![to],
                auto_connect: true,
            }],
            link_mtu: 1280,
            tun_mtu: 1280,
            timers: Timers::default(),
        };
        let unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let node = Node::new(config, [seed; 32], Instant::now(), unix_ms);
        let sock = UdpSocket::bind(bind).expect("bind mesh peer");
        sock.set_nonblocking(true).expect("nonblocking");
        let mut peer = MeshPeer {
            node,
            sock,
            target: target.node_addr(),
            target_id: target,
            buf: Vec::with_capacity(2048),
            sent: 0,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !peer.linked() {
            assert!(Instant::now() < deadline, "mesh peer never linked");
            peer.pump();
            std::thread::sleep(Duration::from_millis(5));
        }
        // Let the tree settle so both ends know their coordinates.
        let settle = Instant::now() + Duration::from_secs(2);
        while Instant::now() < settle {
            peer.pump();
            std::thread::sleep(Duration::from_millis(5));
        }
        peer
    }

    pub fn linked(&self) -> bool {
        self.node.peer_addrs().contains(&self.target)
    }

    pub fn addr(&self) -> NodeAddr {
        self.node.node_addr()
    }

    /// Feeds every waiting datagram and due timer, sends what the node
    /// queued.
    pub fn pump(&mut self) {
        let mut rx = [0u8; 2048];
        while let Ok((n, from)) = self.sock.recv_from(&mut rx) {
            self.node
                .handle_datagram(Instant::now(), from, &mut rx[..n]);
        }
        let now = Instant::now();
        if self.node.poll_timeout().is_some_and(|t| t <= now) {
            self.node.handle_timeout(now);
        }
        self.flush();
    }

    fn flush(&mut self) {
        while let Some(to) = self.node.poll_transmit(&mut self.buf) {
            // A full socket buffer drops the frame, as a loaded link would.
            let _ = self.sock.send_to(&self.buf, to);
        }
        let mut tun = Vec::new();
        while self.node.poll_tun(&mut tun) {}
        while self.node.poll_event().is_some() {}
    }

    /// Sends one link message to the daemon; pumps every 64 messages so
    /// the link stays alive and the socket drains.
    pub fn send(&mut self, msg: &[u8]) -> bool {
        let ok = self.node.bench_link_send(Instant::now(), &self.target, msg);
        self.sent += 1;
        if self.sent.is_multiple_of(64) {
            self.pump();
            // Paced like a busy peer, not faster than the daemon's socket.
            std::thread::sleep(Duration::from_micros(200));
        }
        ok
    }

    /// Coordinates of a node hanging below us (`leaf` as its own first
    /// entry), and the daemon's own coordinates.
    fn coords(&self, leaf: NodeAddr) -> (Coords, Coords) {
        let root = self.target.min(self.addr());
        let mut mine = vec![leaf, self.addr()];
        let mut theirs = vec![self.target];
        if root == self.target {
            mine.push(self.target);
        } else {
            theirs.push(self.addr());
        }
        (Coords(mine), Coords(theirs))
    }

    /// An XK msg1 for the daemon's key. It carries no static key (XK
    /// sends that in msg3), so one msg1 may go out under many source
    /// addresses: the daemon pays an ECDH for each all the same.
    pub fn msg1(&self, ephemeral: [u8; 32]) -> [u8; 33] {
        let me = Identity::from_secret_bytes([0x5a; 32]).expect("test key");
        xk_initiate(&me, &self.target_id, ephemeral)
            .expect("msg1")
            .1
    }

    /// A SessionDatagram carrying a SessionSetup with `msg1` from `src`.
    pub fn session_setup(&self, src: NodeAddr, msg1: [u8; 33]) -> Vec<u8> {
        let (src_coords, dst_coords) = self.coords(src);
        let setup = SessionSetup {
            flags: 0,
            src_coords,
            dst_coords,
            noise: msg1,
        };
        let mut fsp = Vec::new();
        setup.emit(&mut fsp);
        self.to_target(src, &fsp)
    }

    /// `fsp` in a SessionDatagram from `src` to the target.
    fn to_target(&self, src: NodeAddr, fsp: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        SessionDatagram {
            ttl: 8,
            path_mtu: u16::MAX,
            src,
            dst: self.target,
            payload: fsp,
        }
        .emit(&mut out);
        out
    }

    /// A SessionDatagram carrying an XK msg3 from `src` whose Noise bytes
    /// are `noise` (junk: it cannot authenticate).
    pub fn session_msg3(&self, src: NodeAddr, noise: [u8; 73]) -> Vec<u8> {
        let mut fsp = Vec::new();
        SessionMsg3 { flags: 0, noise }.emit(&mut fsp);
        self.to_target(src, &fsp)
    }

    /// A LookupRequest for `target` (nobody's), as if `origin` asked.
    pub fn lookup(&self, request_id: u64, target: NodeAddr, origin: NodeAddr) -> Vec<u8> {
        let (origin_coords, _) = self.coords(origin);
        let req = LookupRequest {
            request_id,
            target,
            origin,
            ttl: 8,
            min_mtu: 0,
            origin_coords,
        };
        let mut out = Vec::new();
        req.emit(&mut out);
        out
    }
}
