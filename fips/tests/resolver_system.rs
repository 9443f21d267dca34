//! The system resolver (glibc, through nsswitch and resolv.conf) inside a
//! node's namespace: `/etc/netns/<ns>/resolv.conf` says
//! `nameserver 127.0.0.1`, where the node's own DNS listens, so ordinary
//! programs reach `<npub>.fips` with no FIPS-specific code.

use fips_testkit::key;
use fips_testkit::net::{received, secs, Net};
use fips_testkit::netns::output;

// The static mesh of identity.json (Net::static_mesh): b's neighbour is
// c, so d and e are two hops from b (b - c - d, b - c - e).

/// `getent ahostsv6 NAME` inside `from`'s namespace: (exit ok, addresses).
fn getent(net: &Net, from: &str, name: &str) -> (bool, Vec<std::net::Ipv6Addr>) {
    let out = output(net.ns(from).command("getent").args(["ahostsv6", name]));
    let addrs = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect();
    (out.status.success(), addrs)
}

#[test]
fn getent_in_the_namespace_resolves_npub_names_to_the_derived_address_and_nothing_else() {
    let net = Net::static_mesh("ge", 4301);
    for to in ["d", "e", "a"] {
        let (ok, addrs) = getent(&net, "b", &key(to).fips_name());
        assert!(ok, "getent ahostsv6 {to}'s npub failed\n{}", net.logs());
        assert!(!addrs.is_empty(), "no address for {to}");
        assert!(
            addrs.iter().all(|a| *a == key(to).ipv6),
            "{to}: {addrs:?}, want {}",
            key(to).ipv6
        );
    }
    // The daemon answers .fips itself and refuses the rest (no upstream):
    // the namespace cannot resolve its way out.
    let (ok, addrs) = getent(&net, "b", "example.com");
    assert!(!ok && addrs.is_empty(), "example.com resolved: {addrs:?}");
    let (ok, _) = getent(&net, "b", "npub1notakey.fips");
    assert!(!ok, "an invalid npub resolved");
}

#[test]
fn ping_by_npub_name_reaches_a_node_two_hops_away_first_echo_included() {
    let net = Net::static_mesh("pn", 4302);
    // ping resolves the name through glibc and sends at once: the daemon
    // must know the identity (from its DNS answer) before the first echo
    // request reaches fips0, and hold it while discovery and the XK
    // session complete. Nothing has named d or e to b before.
    for to in ["d", "e"] {
        let name = key(to).fips_name();
        let t0 = std::time::Instant::now();
        let out = output(
            net.ns("b")
                .command("ping")
                .args(["-6", "-n", "-c", "3", "-i", "0.2", "-W", "10", &name]),
        );
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        eprintln!(
            "b -> {to} by name: {} in {:.2} s",
            received(&text),
            secs(t0)
        );
        assert!(
            text.contains(&format!("({})", key(to).ipv6)),
            "ping did not resolve {to} to its derived address:\n{text}"
        );
        assert_eq!(
            received(&text),
            3,
            "b -> {to} by name:\n{text}{}\n{}",
            String::from_utf8_lossy(&out.stderr),
            net.logs()
        );
        assert!(
            text.contains("icmp_seq=1 "),
            "the first echo went unanswered:\n{text}"
        );
    }
}
