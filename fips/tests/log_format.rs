//! `log.format: json` / `FIPS_LOG_FORMAT=json`: a real daemon's log is one
//! JSON object per line, with no secret in it; a bad value is refused with
//! the key and the valid values named.

use std::process::Command;
use std::time::Duration;

use fips::control::Query;
use fips_testkit::daemon::fips_bin;
use fips_testkit::{key, wait_until, Daemon, Lan};
use serde_json::Value;

const LINK_UP: Duration = Duration::from_secs(30);

/// The secret of `name` in every spelling a log could leak it.
fn secret_forms(name: &str) -> Vec<String> {
    let hex = key(name).nsec.to_string();
    let id = fips_proto::identity::Identity::from_secret_str(&hex).expect("valid key");
    vec![hex.clone(), hex.to_uppercase(), id.nsec()]
}

fn json_lines(log: &str) -> Vec<Value> {
    log.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

#[test]
fn json_log_format_writes_one_object_per_line_and_no_secret() {
    let lan = Lan::new("lj", &["a", "b"]);
    let a_yaml = format!("{}log:\n  format: json\n", lan.config("a", &[]));
    let mut a = Daemon::with_config(lan.ns("a"), lan.dir.path(), key("a"), &a_yaml);
    let addr = format!("{}:4000", Lan::ip_of("a"));
    let env = [
        ("FIPS_NSEC", key("b").nsec),
        ("FIPS_PEER_NPUB", key("a").npub),
        ("FIPS_PEER_ADDR", addr.as_str()),
        ("FIPS_ENFORCE", "0"),
        ("FIPS_LOG_FORMAT", "json"),
    ];
    let mut b = Daemon::with_env(lan.ns("b"), lan.dir.path(), key("b"), &env);
    assert!(
        wait_until(LINK_UP, || a.has_peer(key("b"))
            && b.show(Query::Status).is_some()),
        "{}\n{}",
        a.log(),
        b.log()
    );
    for d in [&mut a, &mut b] {
        assert!(d.terminate().expect("exit").success(), "{}", d.log());
        let log = d.log();
        let lines = json_lines(&log);
        let messages: Vec<&str> = lines.iter().filter_map(|l| l["message"].as_str()).collect();
        for m in ["identity", "ready", "peer up", "stopped"] {
            assert!(messages.contains(&m), "no {m:?} in {messages:?}");
        }
        assert!(lines
            .iter()
            .all(|l| l["level"].is_string() && l["timestamp"].is_string()));
        for s in secret_forms(d.key.name) {
            assert!(
                !log.contains(&s),
                "secret in the JSON log of {}",
                d.key.name
            );
        }
    }
}

#[test]
fn text_log_format_stays_the_default_and_holds_no_secret() {
    let lan = Lan::new("lt", &["a"]);
    let mut a = lan.start("a", &[]);
    assert!(wait_until(LINK_UP, || a.show(Query::Status).is_some()));
    assert!(a.terminate().expect("exit").success());
    let log = a.log();
    assert!(log.contains("ready"), "{log}");
    assert!(log
        .lines()
        .all(|l| serde_json::from_str::<Value>(l).is_err()));
    for s in secret_forms("a") {
        assert!(!log.contains(&s), "secret in the text log");
    }
}

#[test]
fn a_bad_log_format_is_refused_naming_the_key_and_the_choices() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, "log:\n  format: yaml\n").expect("write");
    let out = Command::new(fips_bin())
        .arg("-c")
        .arg(&path)
        .output()
        .expect("run fips");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("log.format") && err.contains("text or json") && err.contains("\"yaml\""),
        "{err}"
    );
    let out = Command::new(fips_bin())
        .env_clear()
        .env("FIPS_LOG_FORMAT", "JSONL")
        .output()
        .expect("run fips");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("FIPS_LOG_FORMAT") && err.contains("text or json"),
        "{err}"
    );
}
