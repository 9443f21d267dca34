//! The binaries' behaviour at the edges: bad configuration, no daemon,
//! keygen.

use std::process::{Command, Output};

use fips_testkit::daemon::{fips_bin, fipsctl_bin};

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run binary")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `fips -c FILE` with a config file holding `text`.
fn run_with_config(text: &str) -> Output {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("fips.yaml");
    std::fs::write(&path, text).expect("write");
    run(Command::new(fips_bin()).arg("-c").arg(&path))
}

#[test]
fn bad_config_file_exits_non_zero_naming_the_key_expectation_and_value() {
    let out = run_with_config("tun:\n  mtu: 900\n");
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("tun.mtu") && err.contains("1280") && err.contains("900"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn unknown_config_key_exits_non_zero_naming_it() {
    let out = run_with_config("transports:\n  udp:\n    bind_adr: \"0.0.0.0:1\"\n");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("transports.udp.bind_adr"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn bad_environment_variable_exits_non_zero_naming_it() {
    let out = run(Command::new(fips_bin())
        .env_clear()
        .env("FIPS_TUN_MTU", "jumbo"));
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("FIPS_TUN_MTU") && err.contains("\"jumbo\""),
        "{err}"
    );
}

#[test]
fn bad_secret_is_never_echoed() {
    let secret = "nsec1qypqxpq9qcrsszg2pvxq6rs0zqg3yyc5z5tpwxqergd3c8g7rusqpqcc2z";
    let out = run(Command::new(fips_bin())
        .env_clear()
        .env("FIPS_NSEC", secret));
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("FIPS_NSEC") && !err.contains("qypqxpq9"),
        "{err}"
    );
}

#[test]
fn fipsctl_without_a_daemon_prints_one_line_and_fails() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sock = dir.path().join("none.sock");
    let out = run(Command::new(fipsctl_bin())
        .arg("-s")
        .arg(&sock)
        .args(["show", "status"]));
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("none.sock") && err.contains("is it running"),
        "{err}"
    );
}

#[test]
fn fipsctl_keygen_prints_a_matching_nsec_npub_and_address() {
    let out = run(Command::new(fipsctl_bin()).args(["keygen", "--json"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let id = fips_proto::identity::Identity::from_secret_str(v["nsec"].as_str().expect("nsec"))
        .expect("valid nsec");
    assert_eq!(v["npub"], id.public().npub());
    assert_eq!(v["ipv6_addr"], id.public().ipv6().to_string());
    let text = run(Command::new(fipsctl_bin()).arg("keygen"));
    let s = String::from_utf8_lossy(&text.stdout);
    assert!(
        s.contains("nsec1") && s.contains("npub1") && s.contains("address fd"),
        "{s}"
    );
}

#[test]
fn fipsctl_help_and_the_readme_name_every_show_query() {
    let out = run(Command::new(fipsctl_bin()).args(["show", "--help"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let help = String::from_utf8_lossy(&out.stdout);
    let readme = include_str!("../../README.md");
    let row = readme
        .lines()
        .find(|l| l.starts_with("| `fipsctl` |"))
        .expect("README lists fipsctl");
    let words: Vec<&str> = row
        .split(|c: char| matches!(c, '|' | '\\' | '`' | ',') || c.is_whitespace())
        .collect();
    for q in fips::control::Query::ALL {
        let name = q.cli_name();
        assert!(help.contains(name), "show --help lacks {name}: {help}");
        assert!(words.contains(&name), "README row lacks {name}: {row}");
    }
}
