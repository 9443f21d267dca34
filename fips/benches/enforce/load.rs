//! Pausable traffic streams: each runs for the whole bench on its own
//! threads and sends only while active, so switching setups between
//! measurements costs no reconnect and no TCP slow start.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use fips_testkit::netns::in_ns;
use fips_testkit::wait::retry;

/// UDP payload per datagram of the raw UDP streams.
pub const PAYLOAD: usize = 1400;
/// How often a blocked sender or receiver looks at the stop flag.
const POLL: Duration = Duration::from_millis(100);

#[derive(Default)]
struct Flags {
    active: AtomicBool,
    stop: AtomicBool,
    /// Payload bytes the receiving end got.
    received: AtomicU64,
}

pub struct Stream {
    pub name: &'static str,
    flags: Arc<Flags>,
    threads: Vec<JoinHandle<()>>,
}

impl Stream {
    /// Datagrams of PAYLOAD bytes from `tx` to `to`, where `rx` counts them.
    pub fn udp(name: &'static str, tx: UdpSocket, rx: UdpSocket, to: SocketAddr) -> Stream {
        let flags = Arc::new(Flags::default());
        rx.set_read_timeout(Some(POLL)).expect("read timeout");
        let f = flags.clone();
        let receiver = std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while !f.stop.load(Ordering::Relaxed) {
                if let Ok((n, _)) = rx.recv_from(&mut buf) {
                    f.received.fetch_add(n as u64, Ordering::Relaxed);
                }
            }
        });
        let f = flags.clone();
        let sender = std::thread::spawn(move || {
            let payload = [0x5a_u8; PAYLOAD];
            while wait_active(&f) {
                for _ in 0..64 {
                    // ENOBUFS under load is the measurement, not an error.
                    if tx.send_to(&payload, to).is_err() {
                        std::thread::yield_now();
                    }
                }
            }
        });
        Stream {
            name,
            flags,
            threads: vec![receiver, sender],
        }
    }

    /// One TCP connection from namespace `from` to `to`, listened on in
    /// namespace `at`; bytes are counted as the receiver reads them.
    pub fn tcp(name: &'static str, from: &str, at: &str, to: SocketAddr) -> Stream {
        let listener = in_ns(at, || TcpListener::bind(to)).expect("listen");
        let mut tx = in_ns(from, || connect(to));
        let (mut rx, _) = listener.accept().expect("accept");
        for s in [&tx, &rx] {
            s.set_read_timeout(Some(POLL)).expect("timeout");
            s.set_write_timeout(Some(POLL)).expect("timeout");
        }
        let flags = Arc::new(Flags::default());
        let f = flags.clone();
        let receiver = std::thread::spawn(move || {
            let mut buf = vec![0u8; 1 << 16];
            while !f.stop.load(Ordering::Relaxed) {
                match rx.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        f.received.fetch_add(n as u64, Ordering::Relaxed);
                    }
                    Err(e) if timed_out(&e) => {}
                    Err(e) => panic!("{name}: receiving: {e}"),
                }
            }
        });
        let f = flags.clone();
        let sender = std::thread::spawn(move || {
            let buf = vec![0xa5_u8; 1 << 16];
            while wait_active(&f) {
                match tx.write(&buf) {
                    Ok(_) => {}
                    Err(e) if timed_out(&e) => {}
                    Err(e) => panic!("{name}: sending: {e}"),
                }
            }
        });
        Stream {
            name,
            flags,
            threads: vec![receiver, sender],
        }
    }

    /// Sends for `settle`, then measures for `dur`: received Mbit/s.
    pub fn measure(&self, settle: Duration, dur: Duration) -> f64 {
        self.flags.active.store(true, Ordering::Relaxed);
        std::thread::sleep(settle);
        let (b0, t0) = (self.flags.received.load(Ordering::Relaxed), Instant::now());
        std::thread::sleep(dur);
        let (b1, t1) = (self.flags.received.load(Ordering::Relaxed), Instant::now());
        self.flags.active.store(false, Ordering::Relaxed);
        assert!(
            self.threads.iter().all(|t| !t.is_finished()),
            "{}: a stream thread ended",
            self.name
        );
        (b1 - b0) as f64 * 8.0 / (t1 - t0).as_secs_f64() / 1e6
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.flags.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            // A panicked stream thread already printed its message.
            let _joined = t.join();
        }
    }
}

/// Sleeps while paused; false once stopped.
fn wait_active(f: &Flags) -> bool {
    while !f.active.load(Ordering::Relaxed) {
        if f.stop.load(Ordering::Relaxed) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    !f.stop.load(Ordering::Relaxed)
}

/// A read or write to retry: its timeout passed, or a signal interrupted it
/// (seen on a loaded machine, where it used to end the whole bench).
fn timed_out(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
    )
}

/// The first SYN may wait for the FIPS session to come up: retry.
fn connect(to: SocketAddr) -> TcpStream {
    retry(Duration::from_secs(20), || {
        TcpStream::connect_timeout(&to, Duration::from_secs(3))
    })
    .unwrap_or_else(|e| panic!("connecting to {to}: {e}"))
}
