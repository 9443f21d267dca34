//! Real daemons in network namespaces: links, the spanning tree, a dead
//! node dropped and re-linked, clean shutdown.

use std::time::Duration;

use fips::control::Query;
use fips_testkit::daemon::fipsctl_bin;
use fips_testkit::topology::Topology;
use fips_testkit::transfer::tcp_transfer;
use fips_testkit::{key, wait_until, Daemon, Lan};

const LINK_UP: Duration = Duration::from_secs(30);

fn parent_of(d: &Daemon) -> Option<String> {
    let tree = d.show(Query::Tree)?;
    let coords = tree["my_coords"].as_array()?;
    // my_coords runs self -> root; the parent is the second entry.
    coords.get(1).and_then(|v| v.as_str()).map(str::to_string)
}

/// Both ends list each other, and each end's `show links` has a connected
/// link to the other's IPv4 address.
fn linked(x: &Daemon, y: &Daemon) -> bool {
    let link_to = |from: &Daemon, to: &Daemon| {
        let ip = Lan::ip_of(to.key.name);
        from.show(Query::Links).is_some_and(|v| {
            v["links"].as_array().into_iter().flatten().any(|l| {
                l["state"] == "connected"
                    && l["remote_addr"]
                        .as_str()
                        .is_some_and(|a| a.starts_with(&format!("{ip}:")))
            })
        })
    };
    x.has_peer(y.key) && y.has_peer(x.key) && link_to(x, y) && link_to(y, x)
}

#[test]
fn three_node_chain_links_up_and_roots_the_tree_at_a() {
    let (_lan, [a, b, c]) = chain("ch", false);
    assert!(!a.has_peer(c.key), "a and c are not configured peers");
    let a_addr = key("a").node_addr.to_string();
    assert!(
        wait_until(LINK_UP, || [&a, &b, &c]
            .iter()
            .all(|d| d.root().as_ref() == Some(&a_addr))),
        "root: {:?}",
        [&a, &b, &c].map(|d| d.root())
    );
    assert!(wait_until(LINK_UP, || parent_of(&c).as_deref()
        == Some(key("b").node_addr)));
    assert_eq!(parent_of(&b).as_deref(), Some(key("a").node_addr));
    assert_eq!(a.show(Query::Tree).expect("tree")["is_root"], true);
}

#[test]
fn five_node_static_mesh_links_every_configured_pair_and_builds_the_expected_tree() {
    // Links a-d a-e c-d b-c d-e c-e; the first of each pair dials.
    let mesh = Topology::static_mesh();
    let lan = Lan::new("sm", &mesh.nodes());
    let daemons = lan.start_topology(&mesh);
    let d = |n: &str| daemons.iter().find(|x| x.key.name == n).expect("node");
    let links = &mesh.links;
    assert!(
        wait_until(LINK_UP, || links.iter().all(|(x, y)| linked(d(x), d(y)))),
        "missing: {:?}",
        links
            .iter()
            .filter(|(x, y)| !linked(d(x), d(y)))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        mesh.unlinked(),
        [("a", "b"), ("a", "c"), ("b", "d"), ("b", "e")]
    );
    for (x, y) in mesh.unlinked() {
        assert!(
            !d(x).has_peer(key(y)),
            "{x} and {y} are not configured peers"
        );
    }
    let a_addr = key("a").node_addr;
    let expected = |n: &str| -> &[&str] {
        match n {
            "d" | "e" => &["a"],
            "b" => &["c"],
            "c" => &["d", "e"],
            _ => &[],
        }
    };
    let settled = || {
        daemons.iter().all(|x| {
            x.root().as_deref() == Some(a_addr)
                && match x.key.name {
                    "a" => parent_of(x).is_none(),
                    n => parent_of(x)
                        .is_some_and(|p| expected(n).iter().any(|e| key(e).node_addr == p)),
                }
        })
    };
    assert!(
        wait_until(LINK_UP, settled),
        "tree: {:?}",
        daemons
            .iter()
            .map(|x| (x.key.name, x.root(), parent_of(x)))
            .collect::<Vec<_>>()
    );
}

/// Nodes b and c, c dialling b, linked.
fn b_and_c_linked(tag: &str) -> (Lan, Daemon, Daemon) {
    let lan = Lan::new(tag, &["b", "c"]);
    let b = lan.start("b", &[]);
    let c = lan.start("c", &["b"]);
    assert!(wait_until(LINK_UP, || linked(&b, &c)), "{}", c.log());
    (lan, b, c)
}

#[test]
fn killed_node_is_dropped_by_its_peer_within_35_s_and_relinks_after_restart() {
    let (_lan, b, mut c) = b_and_c_linked("kl");
    c.kill();
    let t0 = std::time::Instant::now();
    assert!(
        wait_until(Duration::from_secs(35), || !b.has_peer(c.key)),
        "b still lists c after 35 s"
    );
    eprintln!("b dropped the killed c after {:?}", t0.elapsed());
    c.start();
    assert!(
        wait_until(LINK_UP, || linked(&b, &c)),
        "no re-link: {}",
        c.log()
    );
}

#[test]
fn sigterm_says_goodbye_so_the_peer_drops_the_link_at_once() {
    let (_lan, b, mut c) = b_and_c_linked("st");
    let status = c.terminate().expect("exit status");
    assert!(status.success(), "exit {status:?}: {}", c.log());
    assert!(c.log().contains("stopped"), "{}", c.log());
    assert!(!c.socket.exists(), "control socket removed");
    assert!(
        wait_until(Duration::from_secs(3), || !b.has_peer(c.key)),
        "b kept c after its goodbye"
    );
}

#[test]
fn env_mode_daemon_keeps_its_generated_key_across_restarts() {
    let lan = Lan::new("ev", &["b", "c"]);
    let b = lan.start("b", &[]);
    let key_file = lan.dir.path().join("state/fips.key");
    let kf = key_file.display().to_string();
    let addr = format!("{}:4000", Lan::ip_of("b"));
    let env = [
        ("FIPS_NSEC_FILE", kf.as_str()),
        ("FIPS_PEER_NPUB", key("b").npub),
        ("FIPS_PEER_ADDR", addr.as_str()),
        ("FIPS_ENFORCE", "0"),
        ("FIPS_UDP_BIND", "0.0.0.0:4000"),
    ];
    let mut c = Daemon::with_env(lan.ns("c"), lan.dir.path(), key("c"), &env);
    let npub_of = |d: &Daemon| {
        d.show(Query::Status)
            .and_then(|s| s["npub"].as_str().map(str::to_string))
    };
    assert!(wait_until(LINK_UP, || npub_of(&c).is_some()), "{}", c.log());
    let first = npub_of(&c).expect("npub");
    assert!(
        wait_until(LINK_UP, || b.peer_npubs().contains(&first)),
        "{}",
        c.log()
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&key_file)
        .expect("key file")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    assert!(
        !c.log()
            .contains(std::fs::read_to_string(&key_file).expect("key").trim()),
        "secret in log"
    );
    c.terminate();
    c.start();
    assert!(wait_until(LINK_UP, || npub_of(&c).is_some()), "{}", c.log());
    assert_eq!(npub_of(&c).expect("npub"), first);
}

#[test]
fn dns_answers_peer_aliases_and_npubs_inside_the_namespace() {
    let lan = Lan::new("dn", &["a", "b"]);
    let _b = lan.start("b", &[]);
    let a = lan.start_with_dns("a", &["b"]);
    let dig = |name: &str| {
        let out = lan
            .ns("a")
            .command("dig")
            .args(["+short", "+time=1", "+tries=1", "AAAA", name, "@127.0.0.1"])
            .output();
        out.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    let b_ip = "fd8e:302c:287e:b48d:6268:122f:da76:b77";
    assert!(
        wait_until(Duration::from_secs(10), || dig("node-b.fips") == b_ip),
        "{}",
        a.log()
    );
    assert_eq!(
        dig(&format!("{}.fips", key("c").npub)),
        key("c").ipv6.to_string()
    );
}

/// The chain a - b - c (a and c dial b), links up; a with its DNS server
/// on 127.0.0.1:53 if `dns`. Daemons before the segment: they go first.
fn chain(tag: &str, dns: bool) -> (Lan, [Daemon; 3]) {
    let lan = Lan::new(tag, &["a", "b", "c"]);
    let b = lan.start("b", &[]);
    let a = if dns {
        lan.start_with_dns("a", &["b"])
    } else {
        lan.start("a", &["b"])
    };
    let c = lan.start("c", &["b"]);
    assert!(
        wait_until(LINK_UP, || linked(&a, &b) && linked(&b, &c)),
        "links: {}\n{}",
        b.log(),
        a.log()
    );
    (lan, [a, b, c])
}

/// `chain` with a's DNS server.
fn dns_chain(tag: &str) -> (Lan, [Daemon; 3]) {
    chain(tag, true)
}

#[test]
fn ping_crosses_the_chain_once_dns_has_named_the_far_end() {
    let (lan, [a, b, c]) = dns_chain("pg");
    // The mesh routes only to identities it knows: resolving the npub
    // tells a's node who fdac:... is (as the reference does).
    let c_ip = key("c").ipv6.to_string();
    assert_eq!(lan.dig_fips("a", "c"), c_ip);
    let ping = || {
        lan.ns("a")
            .exec_ok(&["ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", &c_ip])
    };
    assert!(
        wait_until(Duration::from_secs(20), ping),
        "a cannot ping c: {}\n{}",
        a.log(),
        c.log()
    );
    let sessions = a.show(Query::Sessions).expect("sessions");
    let to_c = sessions["sessions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["npub"] == key("c").npub);
    assert_eq!(
        to_c.map(|s| s["state"].clone()),
        Some("established".into()),
        "{sessions}"
    );
    let forwarded =
        b.show(Query::Status).expect("status")["forwarding"]["forwarded_packets"].as_u64();
    assert!(
        forwarded.is_some_and(|n| n >= 6),
        "b relayed the pings: {forwarded:?}"
    );
}

#[test]
fn sidecar_in_env_mode_filters_eth0_until_the_firewall_is_removed() {
    let lan = Lan::new("fw", &["b", "c"]);
    let b = lan.start("b", &[]);
    let addr = format!("{}:4000", Lan::ip_of("b"));
    let env = [
        ("FIPS_NSEC", key("c").nsec),
        ("FIPS_PEER_NPUB", key("b").npub),
        ("FIPS_PEER_ADDR", addr.as_str()),
        ("FIPS_ENFORCE", "1"),
    ];
    let c = Daemon::with_env(lan.ns("c"), lan.dir.path(), key("c"), &env);
    assert!(
        wait_until(LINK_UP, || linked(&b, &c)),
        "FIPS passes the filter: {}",
        c.log()
    );
    let fw = c.show(Query::Firewall).expect("show firewall");
    assert_eq!(fw["attached"], true, "{fw}");
    let fipsctl = |args: &[&str]| {
        std::process::Command::new(fipsctl_bin())
            .arg("-s")
            .arg(&c.socket)
            .args(args)
            .output()
            .expect("fipsctl")
    };
    let table = fipsctl(&["show", "firewall"]);
    assert!(
        table.status.success() && !table.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&table.stderr)
    );
    let ping = || {
        lan.ns("c")
            .exec_ok(&["ping", "-c1", "-W1", &Lan::ip_of("b")])
    };
    assert!(!ping(), "plain IPv4 from the sidecar must be dropped");
    let removed = fipsctl(&["firewall", "remove"]);
    assert!(
        removed.status.success(),
        "{}",
        String::from_utf8_lossy(&removed.stderr)
    );
    assert!(ping(), "after firewall remove eth0 is open");
    let links = String::from_utf8_lossy(&fipsctl(&["show", "links"]).stdout).into_owned();
    assert!(
        links.starts_with("LINK") && links.contains(&Lan::ip_of("b")),
        "{links}"
    );
}

#[test]
fn tcp_transfer_across_the_chain_arrives_intact() {
    let (lan, [a, _b, c]) = dns_chain("tc");
    let c_ip = lan.dig_fips("a", "c");
    let t = tcp_transfer(
        lan.ns("a"),
        lan.ns("c"),
        "::",
        &c_ip,
        "bytes(range(251))*80000",
    );
    assert!(
        t.client.status.success(),
        "client: {}\n{}",
        t.client_stderr(),
        a.log()
    );
    assert_eq!(t.received, t.expected, "{}", c.log());
}
