//! Node behaviour in the simulator: link setup, liveness, rekey, restart,
//! cross-connection, hostile input; and the IK known-answer exchange.

use std::time::Duration;

pub(super) use super::sim::{mesh_identities, LinkParams, Sim};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Nodes a and b of the static mesh, not linked yet.
fn two_nodes(seed: u64) -> Sim {
    let mut sim = Sim::new(seed);
    for (name, id) in mesh_identities().into_iter().take(2) {
        sim.add_node(&name, id);
    }
    sim
}

/// A link with `ms` of latency, no loss.
fn latency_ms(ms: u64) -> LinkParams {
    LinkParams {
        latency: Duration::from_millis(ms),
        ..LinkParams::default()
    }
}

/// A wire that delays, drops and duplicates frames.
fn lossy(latency_ms: u64, loss: f64, duplicate: f64) -> LinkParams {
    LinkParams {
        latency: Duration::from_millis(latency_ms),
        loss,
        duplicate,
    }
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

/// `chain` without loss, `s` simulated seconds in.
fn chain_after(seed: u64, s: u64) -> Sim {
    let mut sim = chain(seed, LinkParams::default());
    sim.run_for(secs(s));
    sim
}

/// The links of the static test mesh, from testdata/identity.json
/// (`static_mesh_links`), as indices of `mesh_identities` (a = 0 .. e = 4);
/// the first end dials.
fn static_mesh_links() -> Vec<(usize, usize)> {
    let v: serde_json::Value =
        serde_json::from_str(include_str!("../../../../testdata/identity.json")).expect("json");
    let idx = |end: &serde_json::Value| {
        let name = end.as_str().expect("a link names two nodes");
        usize::from(name.as_bytes()[0] - b'a')
    };
    v["static_mesh_links"]
        .as_array()
        .expect("static_mesh_links")
        .iter()
        .map(|l| (idx(&l[0]), idx(&l[1])))
        .collect()
}

/// The five nodes of the static mesh, each link dialled with
/// `params(link)`, in the file's order.
fn static_mesh(seed: u64, params: impl Fn((usize, usize)) -> LinkParams) -> Sim {
    let mut sim = Sim::new(seed);
    for (name, id) in mesh_identities() {
        sim.add_node(&name, id);
    }
    for link in static_mesh_links() {
        sim.dial(link.0, link.1, params(link));
    }
    sim
}

mod hostile;
mod inspect;
mod junk;
mod links;
mod mesh;
mod rekey;
mod restart;
mod scale;
mod sessions;
