//! The real `fips` daemon as the sidecar: it attaches the filter before
//! ready, its link traffic to a peer daemon passes, a probe from another
//! socket never does, and the filter outlives `kill -9` of the daemon and
//! is taken over by the restarted daemon with no window in between.
//!
//! The daemons run under `nsenter --net` only: `ip netns exec` would also
//! give them a private /sys, where the filter's bpffs pins would die with
//! the process.

#[path = "enforce_util/daemon.rs"]
mod daemon;
#[path = "enforce_util/netns.rs"]
mod netns;
#[path = "enforce_util/probe.rs"]
mod probe;
#[path = "enforce_util/sockets.rs"]
mod sockets;

use daemon::{Daemon, Launch};
use fips::enforce::{self, Direction, FirewallSnapshot, Reason};
use netns::{in_ns, Topology};
use probe::Probe;
use sockets::v4;
use std::time::{Duration, Instant};

const PORT: u16 = 4000;
// Test identities a and b of /work/shared/vectors/identity.json.
const SIDECAR_NSEC: &str = "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20";
const PEER_NSEC: &str = "b102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1fb0";
const PEER_NPUB: &str = "npub1tdwa4vjrjl33pcjdpf2t4p027nl86xrx24g4d3avg4vwvayr3g8qhd84le";

fn sidecar_daemon(topo: &Topology) -> Daemon {
    Daemon::start(
        &topo.sidecar,
        "sidecar",
        Launch::Nsenter,
        &[
            ("FIPS_NSEC", SIDECAR_NSEC.into()),
            ("FIPS_UDP_BIND", format!("{}:{PORT}", topo.sidecar_ip)),
            ("FIPS_PEER_NPUB", PEER_NPUB.into()),
            ("FIPS_PEER_ADDR", format!("{}:{PORT}", topo.peer_ip)),
            ("FIPS_ENFORCE", "on".into()),
        ],
    )
}

fn pinned(topo: &Topology) -> Option<FirewallSnapshot> {
    in_ns(&topo.sidecar, || enforce::snapshot_pinned("eth0")).ok()
}

fn wait_for(what: &str, daemon: &Daemon, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "timed out waiting for {what}; daemon log:\n{}",
        daemon.log()
    );
}

/// Transport packets counted as passed in both directions, beyond `since`.
fn link_traffic_passes(topo: &Topology, since: (u64, u64)) -> bool {
    pinned(topo).is_some_and(|s| {
        s.attached
            && s.packets(Direction::Egress, Reason::Passed) > since.0
            && s.packets(Direction::Ingress, Reason::Passed) > since.1
    })
}

fn passed(s: &FirewallSnapshot) -> (u64, u64) {
    (
        s.packets(Direction::Egress, Reason::Passed),
        s.packets(Direction::Ingress, Reason::Passed),
    )
}

struct RemoveOnDrop<'a>(&'a Topology);

impl Drop for RemoveOnDrop<'_> {
    fn drop(&mut self) {
        match in_ns(&self.0.sidecar, || enforce::remove("eth0")) {
            Ok(()) | Err(enforce::EnforceError::NotAttached { .. }) => {}
            Err(e) => eprintln!("removing the test filter: {e}"),
        }
    }
}

#[test]
fn the_daemon_filter_passes_its_links_and_survives_kill_and_restart() {
    let topo = Topology::new("rd", 85);
    let _peer = Daemon::start(
        &topo.peer,
        "peer",
        Launch::Nsenter,
        &[
            ("FIPS_NSEC", PEER_NSEC.into()),
            ("FIPS_UDP_BIND", format!("{}:{PORT}", topo.peer_ip)),
            ("FIPS_ENFORCE", "off".into()),
        ],
    );
    let mut first = sidecar_daemon(&topo);
    let _cleanup = RemoveOnDrop(&topo);
    wait_for(
        "the daemon's link traffic through the filter",
        &first,
        || link_traffic_passes(&topo, (0, 0)),
    );
    assert!(
        first.log().contains("enforcement filter attached"),
        "{}",
        first.log()
    );
    let probe = Probe::start(&topo, 33085);
    std::thread::sleep(Duration::from_millis(300));
    let before = pinned(&topo).expect("snapshot");

    first.kill9();
    std::thread::sleep(Duration::from_millis(500));
    let dead = pinned(&topo).expect("snapshot after kill -9");
    assert!(
        dead.attached,
        "filter gone with the daemon:\n{}",
        dead.render_table()
    );
    let peer_ip = topo.peer_ip;
    let tcp = in_ns(&topo.sidecar, || {
        std::net::TcpStream::connect_timeout(&v4(peer_ip, 22).into(), Duration::from_millis(300))
    });
    assert!(tcp.is_err(), "TCP got out while the daemon was dead");

    let second = sidecar_daemon(&topo);
    let at_restart = passed(&dead);
    wait_for("the restarted daemon's link traffic", &second, || {
        link_traffic_passes(&topo, at_restart)
    });
    let after = pinned(&topo).expect("snapshot after restart");
    for (old, new) in before.links.iter().zip(&after.links) {
        assert_eq!(
            old.link_id, new.link_id,
            "link recreated instead of updated"
        );
        assert_ne!(old.program_id, new.program_id, "program not replaced");
    }
    let (sent, leaked) = probe.stop();
    assert!(sent > 300, "probe ran too briefly ({sent})");
    assert_eq!(
        leaked,
        0,
        "{leaked} of {sent} probe datagrams passed:\n{}",
        after.render_table()
    );
    // Counters carry over a restart, except for the packets the old program
    // counts between the copy and the link update (one per millisecond of
    // that window: a loaded machine can stretch it, so up to a fifth).
    let last = pinned(&topo).expect("final snapshot");
    assert!(
        last.packets(Direction::Egress, Reason::WrongPort) + sent / 5 >= sent,
        "{sent} probe datagrams, but:\n{}",
        last.render_table()
    );
    drop(second);
}
