//! Clean shutdown with real daemons: on SIGTERM a node sends Disconnect to
//! its peers, which drop the link at once (not after the dead timeout),
//! keeps answering on its control socket for the drain window
//! (`node.drain_timeout_secs`), then exits 0.

use std::time::{Duration, Instant};

use fips::control::Query;
use fips_testkit::{wait_until, Daemon, Lan};

const LINK_UP: Duration = Duration::from_secs(30);

fn sigterm(d: &Daemon) {
    let pid = d.pid().expect("running") as libc::pid_t;
    // SAFETY: plain kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
}

fn start_with_drain(lan: &Lan, name: &str, dials: &[&str], secs: u64) -> Daemon {
    let yaml = lan.config(name, dials).replacen(
        "node:\n",
        &format!("node:\n  drain_timeout_secs: {secs}\n"),
        1,
    );
    Daemon::with_config(lan.ns(name), lan.dir.path(), fips_testkit::key(name), &yaml)
}

#[test]
fn sigterm_drops_the_peers_link_within_a_second_then_drains_and_exits_0() {
    let lan = Lan::new("dr", &["b", "c"]);
    let b = lan.start("b", &[]);
    let mut c = start_with_drain(&lan, "c", &["b"], 3);
    assert!(
        wait_until(LINK_UP, || b.has_peer(c.key) && c.has_peer(b.key)),
        "{}",
        c.log()
    );
    let t0 = Instant::now();
    sigterm(&c);
    // Polled faster than wait_until's 200 ms, to measure.
    let mut gone_after = None;
    while t0.elapsed() < Duration::from_secs(1) {
        if !b.has_peer(c.key) {
            gone_after = Some(t0.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let gone_after = gone_after.unwrap_or_else(|| panic!("b kept c: {}", b.log()));
    println!("b dropped c {} ms after SIGTERM", gone_after.as_millis());
    let status = c
        .show(Query::Status)
        .expect("c still answers while draining");
    assert_eq!(status["state"], "draining");
    assert!(c.exited().is_none(), "c left before its drain window");
    let code = c.terminate().expect("exit status");
    let lived = t0.elapsed();
    assert!(code.success(), "exit {code:?}: {}", c.log());
    assert!(
        lived >= Duration::from_secs(3) && lived < Duration::from_secs(6),
        "drained for {lived:?}, configured 3 s"
    );
    assert!(c.log().contains("draining") && c.log().contains("stopped"));
    assert!(!b.has_peer(c.key), "b did not take c back while it drained");
    assert_eq!(
        b.show(Query::Routing).expect("routing")["node"]["dead_peers"],
        0,
        "b dropped c on its Disconnect, not by the dead timeout"
    );
}

#[test]
fn a_node_without_peers_exits_at_once_on_sigterm() {
    let lan = Lan::new("dq", &["b"]);
    let mut b = start_with_drain(&lan, "b", &[], 30);
    assert!(wait_until(LINK_UP, || b.show(Query::Status).is_some()));
    let t0 = Instant::now();
    let code = b.terminate().expect("exit status");
    assert!(code.success(), "{}", b.log());
    assert!(
        t0.elapsed() < Duration::from_secs(3),
        "no peer to drain: {:?}",
        t0.elapsed()
    );
}
