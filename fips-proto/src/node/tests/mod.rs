//! Node behaviour in the simulator: link setup, liveness, rekey, restart,
//! cross-connection, hostile input; and the IK known-answer exchange.

use std::time::Duration;

pub(super) use super::sim::{mesh_identities, LinkParams, Sim};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// a – b – c, a and c dial b.
fn chain(seed: u64, params: LinkParams) -> Sim {
    let mut sim = Sim::new(seed);
    let ids = mesh_identities();
    for (name, id) in ids.into_iter().take(3) {
        sim.add_node(&name, id);
    }
    sim.dial(0, 1, params);
    sim.dial(2, 1, params);
    sim
}

mod hostile;
mod inspect;
mod junk;
mod links;
mod mesh;
mod rekey;
mod scale;
mod sessions;
