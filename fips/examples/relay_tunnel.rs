//! Benchmark helper (not a test): one end of a plain, unencrypted tunnel
//! built on the daemon's batched data path (`fips::datapath`) with a core
//! that only relays: TUN packets go to the peer verbatim and back. It
//! measures the I/O ceiling of the data path without the protocol; see
//! testing/bench/relay-bench.sh.
//!
//!   relay_tunnel <bind addr> <peer addr> <tun name> [--no-offload]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use anyhow::Context;
use fips::datapath::{Core, DataPath};
use fips::tun::offload::OffloadTun;
use fips::udp::{AsyncUdpSocket, UdpSocket};

struct Relay {
    peer: SocketAddr,
    to_udp: VecDeque<Vec<u8>>,
    to_tun: VecDeque<Vec<u8>>,
    spare: Vec<Vec<u8>>,
}

impl Relay {
    fn buffer(&mut self, data: &[u8]) -> Vec<u8> {
        let mut b = self.spare.pop().unwrap_or_default();
        b.clear();
        b.extend_from_slice(data);
        b
    }
}

impl Core for Relay {
    fn handle_datagram(&mut self, _now: Instant, _from: SocketAddr, data: &mut [u8]) {
        let b = self.buffer(data);
        self.to_tun.push_back(b);
    }
    fn handle_tun_packet(&mut self, _now: Instant, packet: &[u8]) {
        let b = self.buffer(packet);
        self.to_udp.push_back(b);
    }
    fn poll_transmit(&mut self, buf: &mut Vec<u8>) -> Option<SocketAddr> {
        let p = self.to_udp.pop_front()?;
        buf.extend_from_slice(&p);
        self.spare.push(p);
        Some(self.peer)
    }
    fn poll_tun(&mut self, buf: &mut Vec<u8>) -> bool {
        let Some(p) = self.to_tun.pop_front() else {
            return false;
        };
        buf.clear();
        buf.extend_from_slice(&p);
        self.spare.push(p);
        true
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [bind, peer, tun_name, rest @ ..] = args.as_slice() else {
        anyhow::bail!("usage: relay_tunnel <bind addr> <peer addr> <tun name> [--no-offload]");
    };
    let offload = !rest.iter().any(|a| a == "--no-offload");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let udp = UdpSocket::bind(bind.parse()?)?;
        let tun = OffloadTun::create(tun_name)?;
        if !offload {
            udp.disable_gro()?;
            udp.disable_gso();
            tun.disable_offloads()?;
        }
        let mut dp = DataPath::new(AsyncUdpSocket::new(udp)?, tun, 1280);
        let mut relay = Relay {
            peer: peer.parse().context("peer address")?,
            to_udp: VecDeque::new(),
            to_tun: VecDeque::new(),
            spare: Vec::new(),
        };
        loop {
            let ready = dp.ready().await?;
            dp.handle(ready, &mut relay).await?;
        }
    })
}
