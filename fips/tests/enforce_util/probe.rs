//! A probe that would notice any moment without a filter: a UDP sender in
//! the sidecar, from a port the filter never allows, sending to the peer
//! every millisecond, and a receiver in the peer counting what arrives.

// Shared by several test binaries, each using a part.
#![allow(dead_code)]

use fips_testkit::SidecarPair;
use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A UDP sender in the sidecar, from a port the filter never allows,
/// sending to the peer every millisecond; a receiver counting what gets
/// through. Any window without a filter shows up as a received datagram.
pub struct Probe {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    received: Arc<AtomicU64>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Probe {
    pub fn start(topo: &SidecarPair, port: u16) -> Probe {
        let (sc_ip, peer_ip) = (topo.sidecar_ip, topo.peer_ip);
        let sender = topo
            .sidecar
            .enter(|| UdpSocket::bind((sc_ip, 0)).expect("bind probe"));
        let receiver = topo
            .peer
            .enter(|| UdpSocket::bind((peer_ip, port)).expect("bind sink"));
        receiver
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("timeout");
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let received = Arc::new(AtomicU64::new(0));
        let (st, se) = (stop.clone(), sent.clone());
        let send = std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                sender
                    .send_to(b"probe", (peer_ip, port))
                    .expect("probe send");
                se.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        let (st, re) = (stop.clone(), received.clone());
        let recv = std::thread::spawn(move || {
            let mut buf = [0u8; 64];
            while !st.load(Ordering::Relaxed) {
                if receiver.recv_from(&mut buf).is_ok() {
                    re.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        Probe {
            stop,
            sent,
            received,
            threads: vec![send, recv],
        }
    }

    /// Waits until the probe has sent at least `min` datagrams (or `limit`
    /// passes): a loaded machine schedules the sender late, so tests wait
    /// for a count instead of sleeping a fixed time.
    pub fn wait_sent(&self, min: u64, limit: Duration) {
        let _reached = fips_testkit::wait_until(limit, || self.sent.load(Ordering::Relaxed) >= min);
    }

    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    pub fn stop(mut self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            t.join().expect("probe thread");
        }
        (self.sent.load(Ordering::Relaxed), self.received())
    }
}
