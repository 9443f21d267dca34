//! The classifier's per-packet verdict logs (aya-log): every verdict
//! arrives as a debug record under `fips::enforce::ebpf` when switched on
//! at load, and the logging is gone from the loaded program when off.

#[path = "enforce_util/frames.rs"]
mod frames;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fips::enforce::{Classifier, Direction, Policy, VERDICT_DROP, VERDICT_PASS};
use frames::*;

const PORT: u16 = 4243;

fn policy() -> Policy {
    Policy {
        udp_port: PORT,
        socket_cookies: vec![0xfeed],
        allow_ipv6: false,
    }
}

/// Keeps the (level, target, message) of every record.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<(log::Level, String, String)>>>);

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, r: &log::Record<'_>) {
        let line = (r.level(), r.target().to_string(), r.args().to_string());
        self.0.lock().expect("capture").push(line);
    }
    fn flush(&self) {}
}

#[tokio::test]
async fn every_verdict_is_logged_at_debug_when_switched_on() {
    let mut c = Classifier::load_with(&policy(), true).expect("load with logs");
    let capture = Capture::default();
    c.forward_verdict_logs_to(capture.clone());
    let pass = eth(ETH_P_IP, &ipv4(UDP, &udp(5555, PORT, &[0; 16])));
    let drop = eth(ETH_P_IP, &ipv4(TCP, &[0; 40]));
    assert_eq!(
        c.test_run(Direction::Ingress, &pass).expect("run"),
        VERDICT_PASS
    );
    assert_eq!(
        c.test_run(Direction::Ingress, &drop).expect("run"),
        VERDICT_DROP
    );
    let want = ["ingress pass: passed", "ingress drop: not-udp"];
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let got = capture.0.lock().expect("capture").clone();
        let found = want
            .iter()
            .all(|w| got.iter().any(|(_, _, m)| m.starts_with(w)));
        if found {
            for (level, target, _) in &got {
                assert_eq!(*level, log::Level::Debug);
                assert_eq!(target, "fips::enforce::ebpf");
            }
            break;
        }
        assert!(Instant::now() < deadline, "records: {got:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn the_logging_is_left_out_of_the_loaded_program_when_off() {
    let mut off = Classifier::load_with(&policy(), false).expect("load without logs");
    let mut on = Classifier::load_with(&policy(), true).expect("load with logs");
    for dir in Direction::ALL {
        let (off, on) = (
            off.translated_size(dir).expect("size"),
            on.translated_size(dir).expect("size"),
        );
        assert!(off > 0 && off < on, "{dir:?}: {off} bytes off, {on} on");
    }
}
