//! `node.limits.*` and `FIPS_MAX_*`.

use std::path::Path;

use super::file::parse;
use super::*;

// Test key a (testdata/identity.json).
const NSEC_A: &str = fips_testkit::keys::A.nsec;

fn file(limits: &str) -> Result<Config, ConfigError> {
    let text = format!("node:\n  identity: {{ nsec: \"{NSEC_A}\" }}\n  limits: {limits}\n");
    parse(Path::new("/etc/fips/fips.yaml"), &text)
}

#[test]
fn limits_default_to_the_reference_values() {
    let c = Config::from_env(&[("FIPS_NSEC", NSEC_A)]).expect("valid");
    let want = Limits {
        max_peers: 128,
        max_links: 256,
        max_connections: 256,
    };
    assert_eq!(c.limits, want);
    assert_eq!(file("{}").expect("valid").limits, want);
}

#[test]
fn the_file_sets_each_limit_without_a_notice() {
    let c = file("{ max_peers: 300, max_links: 600, max_connections: 50 }").expect("valid");
    assert_eq!(
        c.limits,
        Limits {
            max_peers: 300,
            max_links: 600,
            max_connections: 50,
        }
    );
    assert!(c.notices.is_empty(), "{:?}", c.notices);
}

#[test]
fn env_mode_sets_each_limit() {
    let env = [
        ("FIPS_NSEC", NSEC_A),
        ("FIPS_MAX_PEERS", "300"),
        ("FIPS_MAX_LINKS", " 600 "),
        ("FIPS_MAX_CONNECTIONS", "16384"),
    ];
    let c = Config::from_env(&env).expect("valid");
    assert_eq!((c.limits.max_peers, c.limits.max_links), (300, 600));
    assert_eq!(c.limits.max_connections, LIMIT_CEILING);
    assert!(c.notices.is_empty(), "{:?}", c.notices);
}

#[test]
fn a_bad_limit_in_the_file_names_the_key_and_the_range() {
    for (value, key) in [
        ("{ max_peers: 0 }", "node.limits.max_peers"),
        ("{ max_links: 16385 }", "node.limits.max_links"),
        ("{ max_connections: many }", "node.limits.max_connections"),
        ("{ max_peers: -3 }", "node.limits.max_peers"),
        ("{ max_peers: 1.5 }", "node.limits.max_peers"),
    ] {
        let e = file(value).expect_err(value).to_string();
        assert!(e.contains(key), "{value}: {e}");
        assert!(e.contains("from 1 to 16384"), "{value}: {e}");
    }
}

#[test]
fn a_bad_limit_variable_names_the_variable_and_the_range() {
    for (name, value) in [
        ("FIPS_MAX_PEERS", "0"),
        ("FIPS_MAX_LINKS", "lots"),
        ("FIPS_MAX_CONNECTIONS", "99999999999999999999999"),
        ("FIPS_MAX_PEERS", "20000"),
    ] {
        let env = [("FIPS_NSEC", NSEC_A), (name, value)];
        let e = Config::from_env(&env).expect_err(value).to_string();
        assert!(e.contains(name), "{value}: {e}");
        assert!(e.contains("from 1 to 16384"), "{value}: {e}");
    }
}
