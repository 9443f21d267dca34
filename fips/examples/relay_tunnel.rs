//! Benchmark helper (not a test): one end of a plain, unencrypted tunnel
//! built from the daemon's I/O pieces (the offloading `Tun`, `fips::udp`,
//! `offload::split`, `tun::coalesce`) with no protocol: TUN packets go to
//! the peer verbatim and back. It measures the I/O ceiling of the data
//! path; see testing/bench/relay-bench.sh.
//!
//!   relay_tunnel <bind addr> <peer addr> <tun name> [--no-offload]

use std::io::ErrorKind;
use std::net::SocketAddr;

use anyhow::Context;
use fips::tun::coalesce::Coalescer;
use fips::tun::{offload, Tun};
use fips::udp::{AsyncUdpSocket, RecvBatch, SendBatch, UdpSocket, MAX_GRO_BYTES};

struct Relay {
    udp: AsyncUdpSocket,
    tun: Tun,
    offload: bool,
    peer: SocketAddr,
    rx: RecvBatch,
    tx: SendBatch,
    tun_buf: Vec<u8>,
    scratch: Vec<u8>,
    gro: Coalescer,
}

impl Relay {
    /// Datagrams from the peer to the TUN: joined into super-packets with
    /// offload, one write each without.
    async fn udp_to_tun(&mut self) -> anyhow::Result<()> {
        for _ in 0..4 {
            match self.udp.try_recv_batch(&mut self.rx) {
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => return Err(e.into()),
            }
            for i in 0..self.rx.len() {
                let Some((_, d)) = self.rx.get_mut(i) else {
                    continue;
                };
                if !self.offload {
                    self.tun.send(d).await?;
                } else if !self.gro.push(d) {
                    write_frame(&self.tun, &mut self.gro).await?;
                    self.gro.push(d);
                }
            }
            write_frame(&self.tun, &mut self.gro).await?;
        }
        Ok(())
    }

    /// TUN reads, cut to the MTU, sent to the peer in GSO runs.
    async fn tun_to_udp(&mut self, first: usize) -> anyhow::Result<()> {
        let mut n = first;
        for _ in 0..16 {
            let (tx, peer) = (&mut self.tx, self.peer);
            if self.offload {
                offload::split(&mut self.tun_buf[..n], &mut self.scratch, |p| {
                    tx.push(peer, p)
                })?;
            } else {
                tx.push(peer, &self.tun_buf[..n]);
            }
            if self.tx.is_full() {
                self.flush().await?;
            }
            match self.tun.try_recv(&mut self.tun_buf) {
                Ok(k) => n = k,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => return Err(e.into()),
            }
        }
        self.flush().await
    }

    async fn flush(&mut self) -> anyhow::Result<()> {
        while !self.tx.is_empty() {
            match self.udp.try_send_batch(&mut self.tx) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => self.udp.writable().await?,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}

async fn write_frame(tun: &Tun, gro: &mut Coalescer) -> anyhow::Result<()> {
    if let Some(frame) = gro.finish() {
        tun.send_frame(frame).await?;
    }
    gro.clear();
    Ok(())
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
        if !offload {
            udp.disable_gro()?;
            udp.disable_gso();
        }
        let tun = if offload {
            Tun::create_with_offload(tun_name)?
        } else {
            Tun::create(tun_name)?
        };
        let mut relay = Relay {
            udp: AsyncUdpSocket::new(udp)?,
            tun,
            offload,
            peer: peer.parse().context("peer address")?,
            rx: RecvBatch::new(32, MAX_GRO_BYTES),
            tx: SendBatch::new(64),
            tun_buf: vec![0; offload::MAX_READ],
            scratch: Vec::new(),
            gro: Coalescer::new(),
        };
        loop {
            tokio::select! {
                r = relay.udp.readable() => {
                    r?;
                    relay.udp_to_tun().await?;
                }
                r = relay.tun.recv(&mut relay.tun_buf) => {
                    let n = r?;
                    relay.tun_to_udp(n).await?;
                }
            }
        }
    })
}
