//! `metrics.bind_addr` and `FIPS_METRICS_ADDR`.

use std::path::Path;

use super::file::parse;
use super::tests::assert_env_refused;
use super::*;

// Test key a (testdata/identity.json).
const NSEC_A: &str = fips_testkit::keys::A.nsec;

#[test]
fn metrics_are_off_unless_an_address_is_given() {
    let c = Config::from_env(&[("FIPS_NSEC", NSEC_A)]).expect("valid");
    assert_eq!(c.metrics, None);
    let c = Config::from_env(&[("FIPS_NSEC", NSEC_A), ("FIPS_METRICS_ADDR", " ")]).expect("valid");
    assert_eq!(c.metrics, None, "an empty variable counts as unset");
}

#[test]
fn env_mode_reads_the_metrics_address() {
    let env = [("FIPS_NSEC", NSEC_A), ("FIPS_METRICS_ADDR", "0.0.0.0:9464")];
    let c = Config::from_env(&env).expect("valid");
    assert_eq!(c.metrics, Some("0.0.0.0:9464".parse().expect("addr")));
    assert!(c.notices.is_empty(), "{:?}", c.notices);
}

#[test]
fn a_metrics_address_without_a_port_names_the_variable_and_the_form() {
    let env = [("FIPS_NSEC", NSEC_A), ("FIPS_METRICS_ADDR", "0.0.0.0")];
    assert_env_refused(&env, "no port", &["FIPS_METRICS_ADDR", "IP:port"]);
}

#[test]
fn the_file_reads_metrics_bind_addr() {
    let text = format!(
        "node:\n  identity:\n    nsec: \"{NSEC_A}\"\nmetrics:\n  bind_addr: \"[::]:9464\"\n"
    );
    let c = parse(Path::new("/etc/fips/fips.yaml"), &text).expect("valid");
    assert_eq!(c.metrics, Some("[::]:9464".parse().expect("addr")));
    let bad = text.replace("[::]:9464", "nine");
    let e = parse(Path::new("/etc/fips/fips.yaml"), &bad)
        .expect_err("not an address")
        .to_string();
    assert!(e.contains("metrics.bind_addr"), "{e}");
}
