//! `FIPS_PEERS` on real daemons in network namespaces: a sidecar in
//! environment mode, with its eBPF filter on eth0, given two peers, links
//! to both and keeps reaching the mesh when the one carrying its traffic
//! dies.

use std::time::{Duration, Instant};

use fips::control::Query;
use fips_testkit::daemon::fipsctl_bin;
use fips_testkit::{key, wait_until, Daemon, Lan};

fn forwarded(d: &Daemon) -> u64 {
    d.show(Query::Status)
        .and_then(|s| s["forwarding"]["forwarded_packets"].as_u64())
        .unwrap_or(0)
}

#[test]
fn a_sidecar_with_two_peers_keeps_reaching_the_mesh_when_one_dies() {
    // a (the sidecar) - b - d and a - c - d: two ways to d.
    let lan = Lan::new("ep", &["a", "b", "c", "d"]);
    let d = lan.start("d", &[]);
    let mut b = lan.start("b", &["d"]);
    let mut c = lan.start("c", &["d"]);
    let peers = format!(
        "node-b={}@{}:4000, node-c={}@{}:4000",
        key("b").npub,
        Lan::ip_of("b"),
        key("c").npub,
        Lan::ip_of("c")
    );
    let env = [
        ("FIPS_NSEC", key("a").nsec),
        ("FIPS_PEERS", peers.as_str()),
        ("FIPS_ENFORCE", "1"),
    ];
    let a = Daemon::with_env(lan.ns("a"), lan.dir.path(), key("a"), &env);
    assert!(
        wait_until(Duration::from_secs(30), || a.has_peer(b.key)
            && a.has_peer(c.key)
            && d.has_peer(b.key)
            && d.has_peer(c.key)),
        "links:\n{}",
        a.log()
    );
    // The sidecar's own DNS names d, which teaches its node d's key.
    let d_ip = lan.dig_fips("a", "d");
    assert!(d_ip.starts_with("fd"), "dig: {d_ip:?}\n{}", a.log());
    let ping = || {
        lan.ns("a")
            .exec_ok(&["ping", "-6", "-c", "2", "-i", "0.2", "-W", "1", &d_ip])
    };
    assert!(wait_until(Duration::from_secs(20), ping), "{}", a.log());

    // Kill whichever peer carried the pings; the other takes over.
    let via_b = forwarded(&b) >= forwarded(&c);
    let (dead, alive) = if via_b { (&mut b, &c) } else { (&mut c, &b) };
    let dead_name = dead.key.name;
    dead.kill();
    let t0 = Instant::now();
    assert!(
        wait_until(Duration::from_secs(20), ping),
        "d unreachable after {dead_name} died:\n{}",
        a.log()
    );
    eprintln!("d answered again {:?} after {dead_name} died", t0.elapsed());
    assert!(a.has_peer(alive.key));
    // Healthy with one of its two peers linked; not with only the dead one.
    let health = |peers: &str| {
        let out = lan
            .ns("a")
            .command(fipsctl_bin())
            .arg("-s")
            .arg(&a.socket)
            .arg("health")
            .env("FIPS_PEERS", peers)
            .output()
            .expect("fipsctl health");
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.success(), text)
    };
    let (ok, text) = health(&peers);
    assert!(ok && text.contains("peer link up"), "{text}");
    // The dead peer's link lingers until the 30 s dead timeout, but it is
    // silent (3 s) and health does not count it.
    let only_dead = format!("{}@10.77.0.250:4000", key(dead_name).npub);
    assert!(
        wait_until(Duration::from_secs(10), || !health(&only_dead).0),
        "{}",
        health(&only_dead).1
    );
    let (_, text) = health(&only_dead);
    assert!(
        text.contains("no link to a configured peer") && text.contains(key(dead_name).npub),
        "{text}"
    );
    assert_eq!(
        a.show(Query::Firewall).expect("firewall")["attached"],
        true,
        "the filter stays on"
    );
}
