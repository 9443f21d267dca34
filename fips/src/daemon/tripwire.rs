//! Runs the packet-socket tripwire (`enforce::tripwire`) while enforcement
//! is on: one look a second on a thread of its own, so reading /proc and
//! finding a socket's owner (a walk over /proc/*/fd) never delays the node
//! task. Logs each foreign socket as it appears and goes, and publishes
//! what is open for `fipsctl show firewall` and `fipsctl health`.

use std::collections::HashSet;
use std::time::Duration;

use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::enforce::tripwire::{self, Tripwire, TripwireReport};

/// How often the namespace's packet sockets are listed: a new one shows
/// in `fipsctl health` within this plus the time of one look.
pub(crate) const INTERVAL: Duration = Duration::from_secs(1);

/// Starts the watcher; it stops once every receiver is gone (the daemon's
/// control context is dropped at exit).
pub(crate) fn spawn() -> std::io::Result<watch::Receiver<TripwireReport>> {
    let (tx, rx) = watch::channel(TripwireReport::default());
    // The thread inherits the daemon's network namespace, which is the
    // one /proc/thread-self/net/packet then lists.
    std::thread::Builder::new()
        .name("fips-tripwire".into())
        .spawn(move || watch_loop(&tx))?;
    Ok(rx)
}

fn watch_loop(tx: &watch::Sender<TripwireReport>) {
    let mut wire = Tripwire::default();
    while !tx.is_closed() {
        let text = match std::fs::read_to_string(tripwire::PROC_PACKET) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return info!(
                    "no {} (kernel without AF_PACKET): no packet sockets to watch for",
                    tripwire::PROC_PACKET
                );
            }
            Err(e) => {
                return warn!(error = %e, "cannot read {}: the packet-socket tripwire is off", tripwire::PROC_PACKET);
            }
        };
        look(&mut wire, &tripwire::parse(&text), tx);
        std::thread::sleep(INTERVAL);
    }
}

fn look(wire: &mut Tripwire, entries: &[tripwire::Entry], tx: &watch::Sender<TripwireReport>) {
    // Our own fds are read only when there is something to tell apart.
    let own = if entries.is_empty() {
        HashSet::new()
    } else {
        tripwire::socket_inodes("self").unwrap_or_default()
    };
    let changes = wire.update(entries, &own, tripwire::describe);
    for s in &changes.appeared {
        error!(
            "a packet socket is open in this network namespace ({}): a process here has \
             CAP_NET_RAW, and a packet socket sees frames before the eBPF filter's TC hooks and \
             sends past them; drop the capability from every container in the sidecar's \
             namespace (compose: cap_drop: [NET_RAW]; Kubernetes: \
             securityContext.capabilities.drop: [NET_RAW]). fipsctl health fails until it is closed",
            s.describe()
        );
    }
    for s in &changes.gone {
        info!(inode = s.inode, "the packet socket is closed");
    }
    if !changes.appeared.is_empty() || !changes.gone.is_empty() {
        tx.send_replace(wire.report());
    }
}
