//! The 5-node static mesh of shared/vectors/identity.json (links a-d a-e
//! c-d b-c d-e c-e) with real daemons, real `fips0` TUN devices and real
//! namespaces: every ordered pair pings, first packet included, and
//! traffic survives the loss of a transit node.

#[path = "support/fx.rs"]
mod fx;
mod support;

use std::time::Duration;

use fx::{fips_name, Net};
use support::daemon::key;

const LINKS: [(&str, &str); 6] = [
    ("a", "d"),
    ("a", "e"),
    ("c", "d"),
    ("b", "c"),
    ("d", "e"),
    ("c", "e"),
];
const NODES: [&str; 5] = ["a", "b", "c", "d", "e"];

/// The static mesh, links up and the tree rooted at a (the smallest
/// node_addr). The first of each pair dials.
fn static_mesh(tag: &str, port: u16) -> Net {
    let mut net = Net::new(tag, &NODES, port);
    net.start("a", &["d", "e"]);
    net.start("b", &["c"]);
    net.start("c", &["d", "e"]);
    net.start("d", &["e"]);
    net.start("e", &[]);
    net.wait_links(&LINKS, Duration::from_secs(30));
    net.wait_root("a", Duration::from_secs(20));
    net
}

#[test]
fn every_ordered_pair_of_the_static_mesh_answers_its_first_ping() {
    let net = static_mesh("pr", 4101);
    let mut failures = Vec::new();
    for from in NODES {
        for to in NODES.iter().copied().filter(|t| *t != from) {
            // A node routes only to identities it knows (configured peers,
            // DNS answers, XK msg3). Like a user, name the destination
            // through the node's own DNS first; the address must be the
            // one derived from the key.
            let addr = net.resolve(from, to);
            assert_eq!(
                net.dig(from, &fips_name(key(to))),
                vec![addr],
                "stable answer"
            );
            // One echo request, no warm-up: it waits in the node while
            // discovery and the XK session complete, then goes out.
            let t0 = std::time::Instant::now();
            let (got, text) = net.ping(from, &addr.to_string(), 1, 10);
            eprintln!("{from} -> {to}: {got}/1 in {:.2} s", fx::secs(t0));
            if got != 1 {
                failures.push(format!("{from} -> {to}: {text}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of 20 first pings lost:\n{}\n{}",
        failures.len(),
        failures.join("\n"),
        net.logs()
    );
}
