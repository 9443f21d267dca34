//! The real `fips` daemon as the sidecar: it attaches the filter before
//! ready, its link traffic to a peer daemon passes, a probe from another
//! socket never does, and the filter outlives `kill -9` of the daemon and
//! is taken over by the restarted daemon with no window in between.
//!
//! The daemons run under `nsenter --net` only: `ip netns exec` would also
//! give them a private /sys, where the filter's bpffs pins would die with
//! the process.

#[path = "enforce_util/probe.rs"]
mod probe;
#[path = "enforce_util/sockets.rs"]
mod sockets;

use fips::enforce::{self, Direction, FirewallSnapshot, Reason};
use fips_testkit::pair::RemoveFilterOnDrop;
use fips_testkit::SidecarPair;
use probe::Probe;
use sockets::v4;
use std::time::Duration;

const PORT: u16 = 4000;
/// How long a daemon's link traffic may take to pass the filter.
const LINK_WAIT: Duration = Duration::from_secs(20);
// The sidecar runs test identity a, its peer b (testdata/identity.json).

fn pinned(topo: &SidecarPair) -> Option<FirewallSnapshot> {
    topo.sidecar.enter(|| enforce::snapshot_pinned("eth0")).ok()
}

/// Transport packets counted as passed in both directions, beyond `since`.
fn link_traffic_passes(topo: &SidecarPair, since: (u64, u64)) -> bool {
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

#[test]
fn the_daemon_filter_passes_its_links_and_survives_kill_and_restart() {
    let topo = SidecarPair::new("rd", 85);
    let _peer = topo.peer_daemon(PORT);
    let mut first = topo.sidecar_daemon(PORT, &[]);
    let _cleanup = RemoveFilterOnDrop(&topo);
    first.wait_until(
        "the daemon's link traffic through the filter",
        LINK_WAIT,
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
    let tcp = topo.sidecar.enter(|| {
        std::net::TcpStream::connect_timeout(&v4(peer_ip, 22).into(), Duration::from_millis(300))
    });
    assert!(tcp.is_err(), "TCP got out while the daemon was dead");

    let second = topo.sidecar_daemon(PORT, &[]);
    let at_restart = passed(&dead);
    second.wait_until("the restarted daemon's link traffic", LINK_WAIT, || {
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
