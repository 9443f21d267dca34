use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use serde_json::Value;
use tokio::sync::mpsc;

use super::*;

const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/reference-control");

fn sample(name: &str) -> Value {
    let path = Path::new(SAMPLES).join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("sample is JSON")
}

/// A control server on a temp socket whose "node" answers every query with
/// the reference's sample for node a.
struct Harness {
    _dir: tempfile::TempDir,
    path: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

async fn start(answer: bool) -> Harness {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("run/control.sock");
    let server = ControlServer::bind(&path).expect("bind");
    let (tx, mut rx) = mpsc::channel::<ControlRequest>(8);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.run(tx, async move {
        let _ = stopped.await;
    }));
    tokio::spawn(async move {
        while let Some(req) = rx.recv().await {
            if !answer {
                return; // drops the receiver: "node shutting down"
            }
            let reply = match &req.command {
                Command::Show(q) => Response::Ok(sample(&format!(
                    "a-{}.json",
                    q.command_name().replace('_', "-")
                ))),
                other => Response::error(format!("cannot {}", other.name())),
            };
            let _ = req.reply.send(reply);
        }
    });
    Harness {
        _dir: dir,
        path,
        stop: Some(stop),
    }
}

impl Harness {
    /// One request through the blocking client, as fipsctl sends it.
    async fn ask(&self, cmd: Command) -> Result<Response, ClientError> {
        let path = self.path.clone();
        blocking(move || request(&path, &cmd)).await
    }
}

/// Asserts `text` holds every one of `parts`, showing `shown` if not.
fn assert_contains_all(text: &str, parts: &[&str], shown: &str) {
    assert!(parts.iter().all(|p| text.contains(p)), "{shown}");
}

/// Asserts a line of `table` starts with `label` and ends with `value`.
fn assert_has_line(table: &str, label: &str, value: &str) {
    assert!(
        table
            .lines()
            .any(|l| l.starts_with(label) && l.ends_with(value)),
        "{table}"
    );
}

fn raw_exchange(path: &Path, bytes: &[u8]) -> String {
    let mut s = UnixStream::connect(path).expect("connect");
    s.write_all(bytes).expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    out
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("join")
}

#[tokio::test]
async fn answers_show_status_over_a_real_socket() {
    let h = start(true).await;
    let reply = h.ask(Command::Show(Query::Status)).await.expect("reply");
    assert_eq!(reply, Response::Ok(sample("a-show-status.json")));
}

#[tokio::test]
async fn replies_to_an_unknown_command_exactly_like_the_reference() {
    let h = start(true).await;
    let path = h.path.clone();
    let out = blocking(move || raw_exchange(&path, b"{\"command\": \"bogus_cmd\"}\n")).await;
    assert_eq!(
        out,
        "{\"status\":\"error\",\"message\":\"unknown command: bogus_cmd\"}\n"
    );
}

#[tokio::test]
async fn refuses_oversized_empty_and_malformed_requests() {
    let h = start(true).await;
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (vec![b'x'; 5000], "request too large"),
        (b"   \n".to_vec(), "empty request"),
        (b"{\"cmd\":1}\n".to_vec(), "invalid request"),
        (
            b"{\"command\":\"disconnect\"}\n".to_vec(),
            "missing params for disconnect",
        ),
        (
            b"{\"command\":\"disconnect\",\"params\":{}}\n".to_vec(),
            "missing 'npub' parameter",
        ),
    ];
    for (bytes, want) in cases {
        let path = h.path.clone();
        let out = blocking(move || raw_exchange(&path, &bytes)).await;
        let reply = Response::parse_line(out.as_bytes()).expect("json");
        assert!(
            matches!(&reply, Response::Error(m) if m.starts_with(want)),
            "{want}: {out}"
        );
    }
}

#[tokio::test]
async fn passes_parameters_through_to_the_node() {
    let h = start(true).await;
    let cmd = Command::Disconnect {
        npub: "npub1abc".into(),
    };
    let reply = h.ask(cmd).await.expect("reply");
    assert_eq!(reply, Response::error("cannot disconnect"));
}

#[tokio::test]
async fn says_the_node_is_shutting_down_when_it_stops_answering() {
    let h = start(false).await;
    let reply = h.ask(Command::Show(Query::Peers)).await.expect("reply");
    assert_eq!(reply, Response::error("node shutting down"));
}

#[tokio::test]
async fn socket_is_not_accessible_to_others() {
    let h = start(true).await;
    let mode = std::fs::metadata(&h.path)
        .expect("stat")
        .permissions()
        .mode();
    assert_eq!(mode & 0o007, 0, "mode {:o}", mode & 0o777);
}

#[tokio::test]
async fn refuses_to_take_over_a_live_socket_and_replaces_a_stale_one() {
    let h = start(true).await;
    let err = ControlServer::bind(&h.path).expect_err("in use");
    assert!(matches!(err, ControlError::InUse { .. }), "{err}");
    let dir = tempfile::tempdir().expect("tempdir");
    let stale = dir.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).expect("bind"));
    assert!(stale.exists());
    let server = ControlServer::bind(&stale).expect("stale socket replaced");
    drop(server);
    assert!(!stale.exists(), "socket file removed on drop");
}

#[tokio::test]
async fn stops_serving_on_shutdown() {
    let mut h = start(true).await;
    let _ = h.stop.take().expect("stop").send(());
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(!h.path.exists(), "socket removed after shutdown");
}

#[test]
fn client_says_the_daemon_is_not_running() {
    let err = request(
        Path::new("/nonexistent/fips.sock"),
        &Command::Show(Query::Status),
    )
    .expect_err("no daemon");
    let msg = err.to_string();
    assert_contains_all(&msg, &["/nonexistent/fips.sock", "is it running"], &msg);
    assert!(!msg.contains('\n'));
}

#[test]
fn request_lines_round_trip() {
    let cmds = [
        Command::Show(Query::IdentityCache),
        Command::Connect {
            npub: "npub1x".into(),
            address: "10.0.0.1:2121".into(),
            transport: "udp".into(),
        },
        Command::Disconnect {
            npub: "npub1y".into(),
        },
        Command::FirewallRemove,
    ];
    for c in cmds {
        assert_eq!(Command::parse_line(c.to_line().as_bytes()), Ok(c.clone()));
    }
    assert_eq!(
        Command::Show(Query::Status).to_line(),
        r#"{"command":"show_status"}"#
    );
}

#[test]
fn cli_names_map_to_commands() {
    assert_eq!(
        Query::from_cli_name("identity-cache"),
        Some(Query::IdentityCache)
    );
    assert_eq!(
        Query::from_cli_name("firewall").map(Query::command_name),
        Some("show_firewall")
    );
    assert_eq!(Query::from_cli_name("bogus"), None);
}

#[test]
fn tables_show_the_reference_samples() {
    let status = render(Query::Status, &sample("b-show-status.json"));
    assert!(
        status.contains("npub1tdwa4vjrjl33pcjdpf2t4p027nl86xrx24g4d3avg4vwvayr3g8qhd84le"),
        "{status}"
    );
    assert_has_line(&status, "peers", " 2");
    let peers = render(Query::Peers, &sample("b-show-peers.json"));
    assert!(peers.starts_with("NAME"), "{peers}");
    assert_eq!(peers.lines().count(), 3, "{peers}");
    assert_contains_all(&peers, &["10.200.0.6:2121", "child", "parent"], &peers);
    let links = render(Query::Links, &sample("b-show-links.json"));
    assert_contains_all(&links, &["10.200.0.1:2121", "inbound", "connected"], &links);
    let tree = render(Query::Tree, &sample("a-show-tree.json"));
    assert!(tree.contains("ref-b"), "{tree}");
    assert_has_line(&tree, "is root", "yes");
    let sessions = render(Query::Sessions, &sample("a-show-sessions.json"));
    assert_contains_all(&sessions, &["established", "1.891"], &sessions);
    let routing = render(Query::Routing, &sample("a-show-routing.json"));
    assert_contains_all(
        &routing,
        &["delivered_packets: 22", "error_signals: (all zero)"],
        &routing,
    );
}

#[test]
fn tables_say_none_for_empty_lists() {
    let links = render(Query::Links, &serde_json::json!({"links": []}));
    assert_eq!(links, "(none)\n");
}

#[test]
fn other_replies_render_generically() {
    let out = render(Query::Transports, &sample("a-show-transports.json"));
    assert_contains_all(&out, &["transports:", "udp"], &out);
}

#[test]
fn tables_show_the_reference_bloom_mmp_and_identity_cache_samples() {
    let bloom = render(Query::Bloom, &sample("b-show-bloom.json"));
    let filter_rows: Vec<&str> = bloom.lines().filter(|l| l.starts_with("npub1")).collect();
    assert_eq!(filter_rows.len(), 2, "{bloom}");
    assert!(
        filter_rows
            .iter()
            .all(|l| l.contains("yes") && l.contains(" 5 ")),
        "{bloom}"
    );
    assert_contains_all(
        &bloom,
        &["aca221406950440c41d550280ed15a7f", "accepted: 2", "sent: 3"],
        &bloom,
    );
    assert_has_line(&bloom, "sequence", " 3");

    let mmp = render(Query::Mmp, &sample("a-show-mmp.json"));
    let (links, sessions) = mmp.split_once("sessions:").expect("two tables");
    assert_contains_all(links, &["ref-b", "1.125", "full"], &mmp);
    assert_contains_all(sessions, &["npub1cld9...2pe6", "1.891", "1280"], &mmp);

    let ids = render(Query::IdentityCache, &sample("a-show-identity-cache.json"));
    assert!(ids.starts_with("2 of at most 10000 entries\n"), "{ids}");
    assert_contains_all(
        &ids,
        &[
            "npub1tdwa4vjrjl33pcjdpf2t4p027nl86xrx24g4d3avg4vwvayr3g8qhd84le",
            "fd8e:302c:287e:b48d:6268:122f:da76:b77",
        ],
        &ids,
    );
}

#[test]
fn connections_table_shows_pending_handshakes_or_none() {
    let empty = render(Query::Connections, &sample("a-show-connections.json"));
    assert_eq!(empty, "(none)\n");
    let one = serde_json::json!({"connections": [{
        "link_id": null, "direction": "outbound", "handshake_state": "sent_msg1",
        "started_at_ms": 1_795_608_727_000u64, "idle_ms": 1500, "resend_count": 2,
        "expected_peer": "npub1n9lpnv0592cc2ps6nm0ca3qls642vx7yjsv35rkxqzj2vgds52sqgpverl",
        "remote_addr": "10.77.0.13:4000",
    }]});
    let out = render(Query::Connections, &one);
    let row = out.lines().nth(1).expect("one row");
    for cell in [
        "npub1n9lp",
        "10.77.0.13:4000",
        "outbound",
        "sent_msg1",
        " 2 ",
        "1500",
    ] {
        assert!(row.contains(cell), "{cell}: {out}");
    }
}

#[test]
fn the_peers_table_says_silent_for_a_peer_that_stopped_answering() {
    let mut v = sample("b-show-peers.json");
    let table = render(Query::Peers, &v);
    assert!(
        table.contains("connected") && !table.contains("silent"),
        "{table}"
    );
    v["peers"][0]["silent"] = serde_json::Value::Bool(true);
    let table = render(Query::Peers, &v);
    let rows: Vec<&str> = table.lines().skip(1).collect();
    assert!(rows[0].contains("silent"), "{table}");
    assert!(rows[1].contains("connected"), "{table}");
}
