//! Benchmark helper (not a test): one end of a plain, unencrypted tunnel
//! built from the daemon's I/O pieces (the offloading `Tun` with tun-rs's
//! split and join, `fips::udp`) with no protocol: TUN packets go to
//! the peer verbatim and back. It measures the I/O ceiling of the data
//! path; see testing/bench/relay-bench.sh.
//!
//!   relay_tunnel <bind addr> <peer addr> <tun name> [--no-offload]

use std::io::ErrorKind;
use std::net::SocketAddr;

use anyhow::Context;
use fips::tun::{ReadBatch, Tun, WriteBatch};
use fips::udp::{AsyncUdpSocket, RecvBatch, SendBatch, UdpSocket, MAX_GRO_BYTES};

struct Relay {
    udp: AsyncUdpSocket,
    tun: Tun,
    peer: SocketAddr,
    rx: RecvBatch,
    tx: SendBatch,
    tun_in: ReadBatch,
    tun_out: WriteBatch,
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
                if !self.tun_out.push(d) {
                    self.tun.send_packets(&mut self.tun_out).await?;
                    self.tun_out.push(d);
                }
            }
            self.tun.send_packets(&mut self.tun_out).await?;
        }
        Ok(())
    }

    /// TUN reads, cut to the MTU, sent to the peer in GSO runs.
    async fn tun_to_udp(&mut self) -> anyhow::Result<()> {
        for _ in 0..16 {
            for p in self.tun_in.packets() {
                if self.tx.is_full() {
                    flush(&self.udp, &mut self.tx).await?;
                }
                self.tx.push(self.peer, p);
            }
            match self.tun.try_recv_packets(&mut self.tun_in) {
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => return Err(e.into()),
            }
        }
        self.flush().await
    }

    async fn flush(&mut self) -> anyhow::Result<()> {
        flush(&self.udp, &mut self.tx).await
    }
}

async fn flush(udp: &AsyncUdpSocket, tx: &mut SendBatch) -> anyhow::Result<()> {
    while !tx.is_empty() {
        match udp.try_send_batch(tx) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => udp.writable().await?,
            Err(e) => return Err(e.into()),
        }
    }
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
            peer: peer.parse().context("peer address")?,
            rx: RecvBatch::new(32, MAX_GRO_BYTES),
            tx: SendBatch::new(64),
            // Any MTU the script may set: room for the largest packets.
            tun_in: ReadBatch::new(u16::MAX),
            tun_out: WriteBatch::new(),
        };
        loop {
            tokio::select! {
                r = relay.udp.readable() => {
                    r?;
                    relay.udp_to_tun().await?;
                }
                r = relay.tun.recv_packets(&mut relay.tun_in) => {
                    r?;
                    relay.tun_to_udp().await?;
                }
            }
        }
    })
}
