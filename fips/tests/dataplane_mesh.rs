//! The 5-node static mesh of testdata/identity.json (links a-d a-e
//! c-d b-c d-e c-e) with real daemons, real `fips0` TUN devices and real
//! namespaces: every ordered pair pings, first packet included, and
//! traffic survives the loss of a transit node.

use std::time::{Duration, Instant};

use fips::control::Query;
use fips_testkit::net::{bytes_sent_to, secs, Net};
use fips_testkit::{key, wait_until};

const NODES: [&str; 5] = ["a", "b", "c", "d", "e"];

#[test]
fn every_ordered_pair_of_the_static_mesh_answers_its_first_ping() {
    let net = Net::static_mesh("pr", 4101);
    let mut failures = Vec::new();
    for from in NODES {
        for to in NODES.iter().copied().filter(|t| *t != from) {
            // A node routes only to identities it knows (configured peers,
            // DNS answers, XK msg3). Like a user, name the destination
            // through the node's own DNS first; the address must be the
            // one derived from the key.
            let addr = net.resolve(from, to);
            assert_eq!(
                net.dig(from, &key(to).fips_name()),
                vec![addr],
                "stable answer"
            );
            // One echo request, no warm-up: it waits in the node while
            // discovery and the XK session complete, then goes out.
            let t0 = std::time::Instant::now();
            let (got, text) = net.ping(from, &addr.to_string(), 1, 10);
            eprintln!("{from} -> {to}: {got}/1 in {:.2} s", secs(t0));
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

#[test]
fn all_twenty_pairs_pinging_at_once_each_get_their_first_echo_answered() {
    let net = std::sync::Arc::new(Net::static_mesh("cc", 4103));
    // Every node names every other through its DNS first (as above), then
    // all 20 first echoes leave together: discoveries cross and each pair
    // starts its XK session from both ends at once.
    let pairs: Vec<(&str, &str)> = NODES
        .iter()
        .flat_map(|f| NODES.iter().filter(move |t| *t != f).map(move |t| (*f, *t)))
        .collect();
    let addrs: Vec<String> = pairs
        .iter()
        .map(|(f, t)| net.resolve(f, t).to_string())
        .collect();
    let go = std::sync::Arc::new(std::sync::Barrier::new(pairs.len()));
    let threads: Vec<_> = pairs
        .iter()
        .zip(addrs)
        .map(|(&(f, t), addr)| {
            let (net, go) = (net.clone(), go.clone());
            std::thread::spawn(move || {
                go.wait();
                let t0 = Instant::now();
                let (got, text) = net.ping(f, &addr, 1, 10);
                eprintln!("{f} -> {t} (together): {got}/1 in {:.2} s", secs(t0));
                (f, t, got, text)
            })
        })
        .collect();
    let lost: Vec<String> = threads
        .into_iter()
        .map(|h| h.join().expect("ping thread"))
        .filter(|(_, _, got, _)| *got != 1)
        .map(|(f, t, _, text)| format!("{f} -> {t}: {text}"))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of 20 simultaneous first pings lost:\n{}\n{}",
        lost.len(),
        lost.join("\n"),
        net.logs()
    );
}

/// A `ping -i 0.1` running in a namespace; every reply's arrival and send
/// instants (arrival minus its RTT) are recorded. Killed on drop.
struct PingStream {
    child: std::process::Child,
    replies: std::sync::Arc<std::sync::Mutex<Vec<Reply>>>,
}

#[derive(Clone, Copy, Debug)]
struct Reply {
    seq: u64,
    sent: Instant,
    arrived: Instant,
}

impl PingStream {
    fn start(net: &Net, from: &str, addr: &str) -> PingStream {
        use std::io::BufRead;
        let mut child = net
            .ns(from)
            .command("ping")
            .args(["-6", "-n", "-i", "0.1", "-W", "1", addr])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn ping");
        let out = child.stdout.take().expect("stdout");
        let replies = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = replies.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                let arrived = Instant::now();
                if let Some(r) = parse_reply(&line, arrived) {
                    sink.lock().expect("replies").push(r);
                }
            }
        });
        PingStream { child, replies }
    }

    fn replies(&self) -> Vec<Reply> {
        self.replies.lock().expect("replies").clone()
    }

    /// How long after `t` the first echo request sent after `t` was
    /// answered, if one has been.
    fn answered_after(&self, t: Instant) -> Option<Duration> {
        self.replies()
            .iter()
            .find(|r| r.sent > t)
            .map(|r| r.arrived.duration_since(t))
    }

    /// Echo requests that went unanswered so far.
    fn lost(&self) -> u64 {
        let r = self.replies();
        let last = r.iter().map(|r| r.seq).max().unwrap_or(0);
        last.saturating_sub(r.len() as u64)
    }
}

impl Drop for PingStream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// "64 bytes from X: icmp_seq=N ttl=64 time=T ms" -> the reply.
fn parse_reply(line: &str, arrived: Instant) -> Option<Reply> {
    let field = |name: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(name))
            .map(str::to_string)
    };
    let seq = field("icmp_seq=")?.parse().ok()?;
    let rtt_ms: f64 = field("time=")?.parse().ok()?;
    let sent = arrived.checked_sub(Duration::from_secs_f64(rtt_ms / 1000.0))?;
    Some(Reply { seq, sent, arrived })
}

/// Bytes `from` has sent towards c through each of its candidates.
fn relayed_to_c(net: &Net) -> [u64; 2] {
    ["d", "e"].map(|t| bytes_sent_to(net.daemon(t), key("c")))
}

/// c restarted: a's session to it is declared dead 3 s after c stops
/// answering (c had been sending session ReceiverReports, so its silence
/// is noticed well before `dead_after`, 30 s), then a new one opens.
/// Measured 2.1-2.3 s after the restart (3 runs; 29.2 s with the 30 s
/// rule); the bound leaves room for a loaded machine.
const RESUME_BOUND: Duration = Duration::from_secs(8);

/// A dead transit is avoided once our frames go unanswered for 3 s (the
/// peer is "silent"), long before the 30 s link-dead timeout drops it.
const FAILOVER_BOUND: Duration = Duration::from_secs(10);

#[test]
fn traffic_resumes_over_the_other_path_within_10_s_of_its_transit_node_being_killed() {
    let mut net = Net::static_mesh("kt", 4102);
    // Start from the settled tree: d and e children of the root a, so each
    // keeps its own path to a whichever of them dies. A node that hears c
    // before a takes c as its first parent and holds it for the 30 s
    // hold-down, with its path to a through c's transit.
    let settled = wait_until(Duration::from_secs(45), || {
        ["d", "e"].iter().all(|n| {
            net.daemon(n)
                .show(Query::Tree)
                .and_then(|t| t["depth"].as_u64())
                == Some(1)
        })
    });
    assert!(settled, "d and e never settled under a\n{}", net.state());
    // a reaches c through d or e (a-d-c, a-e-c); both stay linked to c.
    let c_ip = net.resolve("a", "c").to_string();
    let stream = PingStream::start(&net, "a", &c_ip);
    assert!(
        wait_until(Duration::from_secs(10), || stream.replies().len() >= 5),
        "no steady ping a -> c: {:?}\n{}",
        stream.replies(),
        net.logs()
    );
    // The transit is whichever of d and e is carrying the echo requests.
    let before = relayed_to_c(&net);
    std::thread::sleep(Duration::from_secs(1));
    let after = relayed_to_c(&net);
    let grew = [after[0] - before[0], after[1] - before[1]];
    let (victim, other) = if grew[0] >= grew[1] {
        ("d", "e")
    } else {
        ("e", "d")
    };
    assert!(
        grew.iter().any(|g| *g > 0),
        "neither d nor e relays a -> c: {grew:?}"
    );
    eprintln!(
        "a -> c goes through {victim} (bytes to c in 1 s: d {}, e {})",
        grew[0], grew[1]
    );

    net.daemon_mut(victim).kill();
    let killed = Instant::now();
    // Resumed: an echo request sent after the kill has been answered.
    let resumed = || {
        stream
            .replies()
            .iter()
            .find(|r| r.sent > killed)
            .map(|r| r.arrived.duration_since(killed))
    };
    let ok = wait_until(FAILOVER_BOUND, || resumed().is_some());
    let resume = resumed();
    let lost = {
        let r = stream.replies();
        let last = r.iter().map(|r| r.seq).max().unwrap_or(0);
        last.saturating_sub(r.len() as u64)
    };
    eprintln!("traffic resumed {resume:?} after {victim} was killed (SIGKILL); {lost} echoes lost");
    assert!(
        ok,
        "no reply within {FAILOVER_BOUND:?} of killing {victim}\n{}\n{}",
        net.state(),
        net.logs()
    );
    // And it keeps flowing, over the survivor.
    keeps_flowing(&stream);
    let survivor = bytes_sent_to(net.daemon(other), key("c"));
    assert!(survivor > 0, "{other} carries nothing to c");
}

/// 15 more echoes (1.5 s of the stream) within 6 s: the path may still
/// move while links around the change come up.
fn keeps_flowing(stream: &PingStream) {
    let base = stream.replies().len();
    let steady = wait_until(Duration::from_secs(6), || {
        stream.replies().len() - base >= 15
    });
    let fresh = stream.replies().len() - base;
    assert!(steady, "only {fresh} replies in the 6 s after resuming");
}

#[test]
fn a_destination_killed_and_restarted_is_answering_again_within_8_s() {
    let mut net = Net::static_mesh("rs", 4104);
    let c_ip = net.resolve("a", "c").to_string();
    let stream = PingStream::start(&net, "a", &c_ip);
    // Mid-stream: long enough for c's session ReceiverReports (one a
    // second) to show a that c reports.
    assert!(
        wait_until(Duration::from_secs(20), || stream.replies().len() >= 80),
        "no steady ping a -> c\n{}",
        net.logs()
    );
    // c loses its sessions with its process; a keeps sending on the old
    // one, which c drops as unknown. a must notice and start over.
    net.daemon_mut("c").kill();
    std::thread::sleep(Duration::from_secs(1));
    net.daemon_mut("c").start();
    let restarted = Instant::now();
    let ok = wait_until(RESUME_BOUND, || stream.answered_after(restarted).is_some());
    eprintln!(
        "c answers again {:?} after its restart; {} echoes lost",
        stream.answered_after(restarted),
        stream.lost()
    );
    assert!(
        ok,
        "c silent {RESUME_BOUND:?} after its restart\n{}\n{}",
        net.state(),
        net.logs()
    );
    keeps_flowing(&stream);
    let dp = net
        .daemon("a")
        .show(Query::Routing)
        .map(|s| s["dataplane"].clone())
        .unwrap_or_default();
    eprintln!(
        "a: dead_sessions {} (fast {}), session reports received {}",
        dp["dead_sessions"], dp["dead_sessions_fast"], dp["reports_received"]
    );
    assert_eq!(dp["dead_sessions_fast"].as_u64(), Some(1), "{dp}");
}
