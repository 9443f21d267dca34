//! Floods of hostile input against real daemons (issue 10): each asserts
//! that the daemon's RSS stays under a ceiling, comes back near its idle
//! size once the flood stops, and that the node still routes (a ping over
//! the mesh). CI runs them at a size that finishes in well under a minute;
//! `FIPS_FLOOD_FULL=1 cargo test --release -p fips --test floods` runs the
//! issue's full sizes (results in docs/benchmarks.md, "Floods").

#[path = "support/blast.rs"]
mod blast;
#[path = "support/mesh_peer.rs"]
mod mesh_peer;

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use blast::{rss_kib, settle_rss, size};
use fips::control::Query;
use fips_proto::identity::PeerIdentity;
use fips_proto::NodeAddr;
use fips_testkit::daemon::fipsctl_bin;
use fips_testkit::{key, wait_until, Lan, Net};
use mesh_peer::MeshPeer;

/// The goal for any flood.
const CEILING_KIB: u64 = 64 * 1024;
/// What full caches may hold after a flood, above an empty node's RSS
/// (filled by design, emptied by TTL or replaced by use); measured in
/// docs/benchmarks.md ("Floods"): about 9 MiB after a million names.
const CACHE_BUDGET_KIB: u64 = 16 * 1024;

/// a's idle time for identities in the DNS flood: short, so the test sees
/// them age out (the default is 600 s).
const IDLE_SECS: u64 = 15;
/// What RSS may exceed idle + 10% by once a DNS flood aged out, for the
/// allocator: heap pages that hold one live allocation among freed ones
/// cannot go back to the kernel (measured in docs/benchmarks.md, "Floods").
const AGED_SLACK_KIB: u64 = 1024;

/// Two linked daemons, a and b; a ping from a to b by name works.
fn pair(tag: &str, port: u16) -> Net {
    pair_with(tag, port, "")
}

/// Like [`pair`], with `node_keys` (indented YAML lines) in a's `node:`.
fn pair_with(tag: &str, port: u16, node_keys: &str) -> Net {
    let mut net = Net::new(tag, &["a", "b"], port);
    let yaml = net
        .config("a", &[])
        .replacen("node:\n", &format!("node:\n{node_keys}"), 1);
    net.start_yaml("a", &yaml);
    net.start("b", &["a"]);
    net.wait_links(&[("a", "b")], Duration::from_secs(30));
    assert_routes(&net);
    net
}

fn assert_routes(net: &Net) {
    let addr = net.resolve("a", "b");
    let (got, text) = net.ping("a", &addr.to_string(), 3, 5);
    let show = |n, q| net.daemon(n).show(q).unwrap_or_default().to_string();
    assert!(
        got >= 2,
        "a -> b after the flood:\n{text}\nb sessions {}\nb routing {}\nb peers {}\n{}",
        show("b", Query::Sessions),
        show("b", Query::Routing),
        show("b", Query::Peers),
        net.logs()
    );
}

fn bounds(net: &Net, name: &str) -> serde_json::Value {
    net.daemon(name).show(Query::Status).expect("status")["bounds"].clone()
}

/// RSS of `name` now, after everything settled (KiB).
fn idle_rss(net: &Net, name: &str) -> u64 {
    std::thread::sleep(Duration::from_secs(1));
    rss_kib(net.daemon(name).pid().expect("running")).0
}

#[test]
fn a_million_distinct_npub_names_do_not_grow_the_daemon_and_age_out() {
    let net = pair_with("fla", 4311, &format!("  identity_idle_secs: {IDLE_SECS}\n"));
    let pid = net.daemon("a").pid().expect("running");
    let idle = idle_rss(&net, "a");
    let links = link_ids(&net, "a");
    let flood = |n, seed| {
        net.ns("a")
            .spawn(move || blast::dns_flood("127.0.0.1:53".parse().expect("addr"), n, seed))
            .join()
            .expect("flood")
    };
    // First just enough names to fill every cache to its cap: RSS then is
    // what the bounds allow; the big flood must not add much to it.
    flood(12_000, 6);
    let full = settle_rss(pid, 0, Duration::from_secs(4));
    let n = size(30_000, 1_000_000);
    let f = flood(n, 7);
    let (during, peak) = rss_kib(pid);
    let b = bounds(&net, "a");
    eprintln!(
        "dns flood: {} queries in {:.1} s ({:.0}/s), {} answered; RSS KiB idle {idle}, \
         full caches {full}, after {during}, peak {peak}; bounds {b}",
        f.sent,
        f.secs,
        f.sent as f64 / f.secs,
        f.answered
    );
    assert!(f.answered > n / 2, "most queries answered: {f:?}");
    assert!(peak < CEILING_KIB, "peak RSS {peak} KiB");
    let ids = &b["identity_cache"];
    assert!(
        ids["len"].as_u64() <= ids["cap"].as_u64().map(|c| c + 2),
        "{b}"
    );
    assert!(
        ids["evicted"].as_u64() > Some(0),
        "the cap was reached: {b}"
    );
    assert!(b["dns_names"]["evicted"].as_u64() > Some(0), "{b}");
    app_traffic_to_unroutable_names_is_bounded(&net);
    fipsctl_into_a_closed_pipe_exits_quietly(&net);
    aged_out_names_give_the_memory_back(&net, idle);
    assert_eq!(link_ids(&net, "a"), links, "a's link to b held");
    assert_routes(&net);
    assert!(
        net.daemon("a").log().contains("bound reached"),
        "a WARN says the bound was hit"
    );
}

/// Once nothing uses the flood's names for [`IDLE_SECS`] (and the app's
/// lookups for them have given up, 15 s), the stores are empty and RSS is
/// back within 10% of idle (+ [`AGED_SLACK_KIB`]).
fn aged_out_names_give_the_memory_back(net: &Net, idle: u64) {
    let pid = net.daemon("a").pid().expect("running");
    let t0 = Instant::now();
    let len = |b: &serde_json::Value, store: &str| b[store]["len"].as_u64().unwrap_or(u64::MAX);
    let empty = wait_until(Duration::from_secs(60), || {
        let b = bounds(net, "a");
        // b's identity stays: a linked peer, with a session.
        len(&b, "identity_cache") <= 1 && len(&b, "dns_names") == 0 && len(&b, "lookups") == 0
    });
    let emptied = t0.elapsed().as_secs_f64();
    let limit = idle + idle / 10 + AGED_SLACK_KIB;
    // The daemon trims its heap 2 s after the last store shrank (checked
    // once a second): the reading after that is what stays.
    std::thread::sleep(Duration::from_secs(4));
    let aged = settle_rss(pid, limit, Duration::from_secs(10));
    let b = bounds(net, "a");
    eprintln!(
        "aged out: stores empty after {emptied:.1} s; RSS KiB idle {idle}, then {aged} \
         (limit {limit}) after {:.1} s; bounds {b}",
        t0.elapsed().as_secs_f64()
    );
    assert!(empty, "the flood's entries aged out: {b}");
    assert!(b["identity_cache"]["expired"].as_u64() > Some(0), "{b}");
    assert!(b["dns_names"]["expired"].as_u64() > Some(0), "{b}");
    assert!(aged <= limit, "RSS {aged} KiB vs idle {idle} KiB");
}

/// `name`'s link ids (`show links`), sorted.
fn link_ids(net: &Net, name: &str) -> Vec<u64> {
    let links = net.daemon(name).show(Query::Links).expect("links");
    let mut ids: Vec<u64> = links["links"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l["link_id"].as_u64())
        .collect();
    ids.sort_unstable();
    assert!(!ids.is_empty(), "{links}");
    ids
}

/// The app sends a datagram to every name it was given in the last half
/// of [`IDLE_SECS`] (none of them is on the mesh; older ones may age out
/// meanwhile on a slow machine): each starts a lookup and queues its
/// packet, up to the bounds; the rest are refused and counted.
fn app_traffic_to_unroutable_names_is_bounded(net: &Net) {
    let cache = net.daemon("a").show(Query::IdentityCache).expect("cache");
    let addrs: Vec<String> = cache["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["age_ms"].as_u64() < Some(IDLE_SECS * 1000 / 2))
        .filter_map(|e| e["ipv6_addr"].as_str().map(str::to_owned))
        .collect();
    let sent = net
        .ns("a")
        .spawn(move || {
            let sock = std::net::UdpSocket::bind("[::]:0").expect("bind");
            addrs
                .iter()
                .filter(|a| sock.send_to(b"x", format!("[{a}]:9")).is_ok())
                .count()
        })
        .join()
        .expect("app");
    std::thread::sleep(Duration::from_secs(1));
    let b = bounds(net, "a");
    eprintln!(
        "app datagrams to {sent} unroutable names: lookups {}, pending {}",
        b["lookups"], b["pending"]
    );
    assert!(sent > 1024, "{sent}");
    for store in ["lookups", "pending"] {
        assert!(b[store]["len"].as_u64() <= b[store]["cap"].as_u64(), "{b}");
        assert!(b[store]["refused"].as_u64() > Some(0), "{store} full: {b}");
    }
}

/// Issue 10, deliverable 6: `fipsctl --json show identity-cache | head -c
/// 600` (a reply far larger than the pipe) exits as `yes | head -c 600`
/// does: no panic, killed by SIGPIPE.
fn fipsctl_into_a_closed_pipe_exits_quietly(net: &Net) {
    let socket = net.daemon("a").socket.display().to_string();
    let script = format!(
        "{} -s {socket} --json show identity-cache | head -c 600 >/dev/null; \
         echo \"fipsctl=${{PIPESTATUS[0]}}\"; yes | head -c 600 >/dev/null; \
         echo \"yes=${{PIPESTATUS[0]}}\"",
        fipsctl_bin().display()
    );
    let out = Command::new("bash")
        .args(["-c", &script])
        .output()
        .expect("bash");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(stderr.is_empty(), "fipsctl wrote to stderr: {stderr}");
    assert!(stdout.contains("yes=141"), "{stdout}");
    assert!(stdout.contains("fipsctl=141"), "like yes: {stdout}");
}

#[test]
fn control_socket_survives_oversized_and_endless_lines_and_idle_clients() {
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;

    let net = pair("flc", 4312);
    let pid = net.daemon("a").pid().expect("running");
    let socket = net.daemon("a").socket.clone();
    let idle = idle_rss(&net, "a");
    let connect = || UnixStream::connect(&socket).expect("connect control socket");
    // Idle clients beyond the cap: the first 64 are held (5 s), the rest
    // are closed at once.
    let held: Vec<UnixStream> = (0..200).map(|_| connect()).collect();
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        net.daemon("a").show(Query::Status).is_none(),
        "64 idle clients take every slot"
    );
    drop(held);
    let mut refused_idle = 0;
    wait_until(Duration::from_secs(10), || {
        let status = net.daemon("a").show(Query::Status);
        refused_idle = status.map_or(0, |s| {
            s["bounds"]["control_clients"]["refused"]
                .as_u64()
                .unwrap_or(0)
        });
        refused_idle > 0
    });
    // Oversized lines, many at once: each gets "request too large".
    let n = size(2_000, 20_000);
    let big = vec![b'x'; 64 * 1024];
    let mut too_large = 0;
    for _ in 0..n {
        let mut s = connect();
        let _ = s.write_all(&big);
        let mut reply = String::new();
        let _ = s.read_to_string(&mut reply);
        too_large += u64::from(reply.contains("request too large"));
    }
    // Endless lines: writers that never stop, 8 at a time for 3 s.
    let endless: Vec<_> = (0..8)
        .map(|_| {
            let mut s = connect();
            std::thread::spawn(move || {
                let chunk = [b'{'; 4096];
                let t0 = std::time::Instant::now();
                let mut written = 0usize;
                while t0.elapsed() < Duration::from_secs(3) {
                    match s.write(&chunk) {
                        Ok(k) => written += k,
                        Err(_) => break,
                    }
                }
                written
            })
        })
        .collect();
    let written: Vec<usize> = endless
        .into_iter()
        .map(|h| h.join().expect("writer"))
        .collect();
    let (_, peak) = rss_kib(pid);
    let settled = settle_rss(pid, idle + idle / 10, Duration::from_secs(15));
    let b = bounds(&net, "a");
    eprintln!(
        "control flood: {refused_idle} idle clients refused, {too_large}/{n} oversized lines \
         refused, endless writers cut after {written:?} bytes; RSS KiB idle {idle}, peak {peak}, \
         settled {settled}; bounds {}",
        b["control_requests"]
    );
    assert!(refused_idle >= 200 - 64, "{b}");
    assert_eq!(too_large, n, "every oversized line refused");
    assert!(
        written.iter().all(|w| *w < 1 << 20),
        "the daemon stops reading an endless line: {written:?}"
    );
    assert!(peak < CEILING_KIB, "peak RSS {peak} KiB");
    assert!(
        settled <= idle + idle / 10,
        "RSS {settled} KiB vs idle {idle}"
    );
    assert!(
        net.daemon("a").show(Query::Status).is_some(),
        "still answers"
    );
    let table = Command::new(fipsctl_bin())
        .arg("-s")
        .arg(&socket)
        .args(["show", "status"])
        .output()
        .expect("fipsctl");
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(
        table.contains("bounds:") && table.contains("control_clients"),
        "show status lists the bounds:\n{table}"
    );
    assert_routes(&net);
}

/// a and b linked (b routes for the ping check); c is an empty namespace
/// for the hostile mesh peer, which links to a.
fn trio(tag: &str, port: u16) -> Net {
    let mut net = Net::new(tag, &["a", "b", "c"], port);
    net.start("a", &[]);
    net.start("b", &["a"]);
    net.wait_links(&[("a", "b")], Duration::from_secs(30));
    assert_routes(&net);
    net
}

/// Runs `flood` as a mesh peer in c, linked to a; returns whether the
/// link was still up at the end, and how long the flood took.
fn from_mesh_peer(net: &Net, flood: impl FnOnce(&mut MeshPeer) + Send + 'static) -> (bool, f64) {
    let a = PeerIdentity::from_npub(key("a").npub).expect("npub");
    let to: SocketAddr = format!("{}:{}", Lan::ip_of("a"), net.port)
        .parse()
        .expect("addr");
    let bind: SocketAddr = format!("{}:{}", Lan::ip_of("c"), net.port)
        .parse()
        .expect("addr");
    net.ns("c")
        .spawn(move || {
            let mut peer = MeshPeer::link(bind, to, a, 0x77);
            let t0 = Instant::now();
            flood(&mut peer);
            let secs = t0.elapsed().as_secs_f64();
            for _ in 0..200 {
                peer.pump();
                std::thread::sleep(Duration::from_millis(5));
            }
            (peer.linked(), secs)
        })
        .join()
        .expect("mesh peer")
}

/// Sends `n` SessionSetups from fresh keys (`blast::Keys` seeded with
/// `seed`), their msg1s cycling through 64 ephemerals; `then(peer, i, src,
/// keys)` runs after the i-th.
fn send_setups(
    peer: &mut MeshPeer,
    n: u64,
    seed: u64,
    mut then: impl FnMut(&mut MeshPeer, usize, NodeAddr, &mut blast::Keys),
) {
    let msg1s: Vec<[u8; 33]> = (1..=64u8).map(|i| peer.msg1([i; 32])).collect();
    let mut keys = blast::Keys::new(seed);
    for i in 0..n as usize {
        let src = keys.next().expect("key").node_addr();
        let m = peer.session_setup(src, msg1s[i % msg1s.len()]);
        peer.send(&m);
        then(peer, i, src, &mut keys);
    }
}

/// Peak, settled (KiB) of a's RSS after a flood, with a report line.
fn after_flood(net: &Net, what: &str, idle: u64, extra: &str) -> (u64, u64) {
    let pid = net.daemon("a").pid().expect("running");
    let (_, peak) = rss_kib(pid);
    let settled = settle_rss(pid, idle + idle / 10, Duration::from_secs(15));
    eprintln!(
        "{what}: {extra}; RSS KiB idle {idle}, peak {peak}, settled {settled}; bounds {}",
        bounds(net, "a")
    );
    assert!(peak < CEILING_KIB, "{what}: peak RSS {peak} KiB");
    (peak, settled)
}

/// What every flood from the mesh peer must leave: the peer's own link
/// held, a's `store` within its cap, a's RSS `settled` back near `idle`,
/// and routes that work. a's bounds.
fn assert_held(net: &Net, linked: bool, store: &str, settled: u64, idle: u64) -> serde_json::Value {
    let b = bounds(net, "a");
    assert!(linked, "the flooding peer's own link held");
    let s = &b[store];
    assert!(s["len"].as_u64() <= s["cap"].as_u64(), "{b}");
    assert!(
        settled <= idle + idle / 10 + CACHE_BUDGET_KIB,
        "{settled} vs {idle}"
    );
    assert_routes(net);
    b
}

#[test]
fn fresh_keys_opening_sessions_over_the_mesh_do_not_grow_the_daemon() {
    let net = trio("fls", 4313);
    let idle = idle_rss(&net, "a");
    let n = size(20_000, 100_000);
    let (linked, secs) = from_mesh_peer(&net, move |peer| {
        send_setups(peer, n, 11, |_, _, _, _| {});
    });
    let extra = format!("{n} session setups from fresh keys in {secs:.1} s");
    let (_, settled) = after_flood(&net, "session flood", idle, &extra);
    let b = assert_held(&net, linked, "sessions", settled, idle);
    assert!(
        b["sessions"]["refused"].as_u64() > Some(0),
        "the handshake cap was reached: {b}"
    );
}

#[test]
fn lookups_for_unknown_targets_do_not_grow_the_daemon() {
    let net = trio("fll", 4314);
    let idle = idle_rss(&net, "a");
    let n = size(20_000, 100_000);
    let (linked, secs) = from_mesh_peer(&net, move |peer| {
        let mut keys = blast::Keys::new(12);
        for i in 0..n {
            let target = keys.next().expect("key").node_addr();
            let origin = keys.next().expect("key").node_addr();
            let m = peer.lookup(i.wrapping_mul(0x9E37_79B9_7F4A_7C15), target, origin);
            peer.send(&m);
        }
    });
    let extra = format!("{n} lookups for unknown targets in {secs:.1} s");
    let (_, settled) = after_flood(&net, "lookup flood", idle, &extra);
    assert_held(&net, linked, "lookup_requests", settled, idle);
}

#[test]
fn xk_setups_each_followed_by_a_junk_msg3_are_bounded_and_counted() {
    let net = trio("flx", 4315);
    let idle = idle_rss(&net, "a");
    let established = |net: &Net| {
        let routing = net.daemon("a").show(Query::Routing).expect("routing");
        routing["dataplane"]["sessions_established"].as_u64()
    };
    let before = established(&net);
    let n = size(5_000, 100_000);
    let (linked, secs) = from_mesh_peer(&net, move |peer| {
        send_setups(peer, n, 13, |peer, i, src, keys| {
            // Half answer their own setup, half come from nowhere.
            let from = if i % 2 == 0 {
                src
            } else {
                keys.next().expect("key").node_addr()
            };
            peer.send(&peer.session_msg3(from, [i as u8; 73]));
        });
    });
    let extra = format!("{n} session setups, each with a junk msg3, in {secs:.1} s");
    let (_, settled) = after_flood(&net, "msg3 flood", idle, &extra);
    let routing = net.daemon("a").show(Query::Routing).expect("routing");
    let refused = routing["dataplane"]["msg3_refused"].as_u64().unwrap_or(0);
    eprintln!("msg3 refused: {refused} of {n}");
    // Every msg3 that arrived is refused and none makes a session. On a
    // busy machine many datagrams of the flood are lost before a reads
    // them (UDP); each setup a read (answered or refused at the cap) has
    // its msg3 right behind it.
    let dp = &routing["dataplane"];
    let setups =
        dp["acks_sent"].as_u64().unwrap_or(0) + dp["sessions_refused"].as_u64().unwrap_or(0);
    assert!(
        refused <= n && refused * 10 >= setups * 9 && refused > 0,
        "{refused} msg3 refused, {setups} setups read, {n} sent: {routing}"
    );
    assert_eq!(established(&net), before, "{routing}");
    assert_held(&net, linked, "sessions", settled, idle);
}
