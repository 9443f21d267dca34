//! `node.identity_idle_secs` and `FIPS_IDENTITY_IDLE_SECS`: how long the
//! node (its identity cache) and the DNS server (its names) keep a key
//! nothing uses, such as one a DNS answer taught them and no packet
//! followed. Keys of linked peers and sessions never age out.

use std::time::Duration;

use super::error::{describe, ConfigError};
use super::value::At;

pub(crate) const FILE_KEY: &str = "node.identity_idle_secs";
pub(crate) const ENV_VAR: &str = "FIPS_IDENTITY_IDLE_SECS";
/// The longest idle time (a day): beyond it a flood of names would stay
/// in memory for good in all but name.
pub const IDLE_CEILING_SECS: u64 = 86_400;
const EXPECTED: &str = "a number of seconds from 1 to 86400";

/// The default, `fips_proto::limits::IDENTITY_IDLE` (600 s).
pub const DEFAULT_IDENTITY_IDLE: Duration = fips_proto::limits::IDENTITY_IDLE;

pub(crate) fn from_file<'a>(get: &dyn Fn(&'static str) -> At<'a>) -> Result<Duration, ConfigError> {
    match get(FILE_KEY).uint(EXPECTED)? {
        Some(n) => check(FILE_KEY, n, || n.to_string()),
        None => Ok(DEFAULT_IDENTITY_IDLE),
    }
}

pub(crate) fn from_env(get: &dyn Fn(&str) -> Option<String>) -> Result<Duration, ConfigError> {
    let Some(s) = get(ENV_VAR) else {
        return Ok(DEFAULT_IDENTITY_IDLE);
    };
    let n = s
        .trim()
        .parse::<u64>()
        .map_err(|_| invalid(ENV_VAR, describe(&s)))?;
    check(ENV_VAR, n, || describe(&s))
}

fn check(key: &str, n: u64, got: impl Fn() -> String) -> Result<Duration, ConfigError> {
    if (1..=IDLE_CEILING_SECS).contains(&n) {
        Ok(Duration::from_secs(n))
    } else {
        Err(invalid(key, got()))
    }
}

fn invalid(key: &str, got: String) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        expected: EXPECTED,
        got,
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::file::parse;
    use super::super::Config;
    use super::*;

    const NSEC_A: &str = "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20";

    fn file(line: &str) -> Result<Config, ConfigError> {
        let text = format!("node:\n  identity: {{ nsec: \"{NSEC_A}\" }}\n{line}");
        parse(Path::new("/etc/fips/fips.yaml"), &text)
    }

    #[test]
    fn identity_idle_defaults_to_ten_minutes_and_is_set_by_file_or_env() {
        let env = [("FIPS_NSEC", NSEC_A)];
        assert_eq!(
            Config::from_env(&env).expect("env").identity_idle,
            Duration::from_secs(600)
        );
        assert_eq!(
            file("").expect("file").identity_idle,
            Duration::from_secs(600)
        );
        let c = file("  identity_idle_secs: 30\n").expect("file");
        assert_eq!(c.identity_idle, Duration::from_secs(30));
        assert!(c.notices.is_empty(), "{:?}", c.notices);
        let env = [
            ("FIPS_NSEC", NSEC_A),
            ("FIPS_IDENTITY_IDLE_SECS", " 86400 "),
        ];
        let c = Config::from_env(&env).expect("env");
        assert_eq!(c.identity_idle, Duration::from_secs(86_400));
        assert!(c.notices.is_empty(), "{:?}", c.notices);
    }

    #[test]
    fn a_bad_identity_idle_names_the_key_the_range_and_the_value() {
        for (value, got) in [("0", "0"), ("86401", "86401"), ("soon", "soon")] {
            let msg = file(&format!("  identity_idle_secs: {value}\n"))
                .expect_err(value)
                .to_string();
            assert!(msg.contains("node.identity_idle_secs"), "{msg}");
            assert!(msg.contains("from 1 to 86400"), "{msg}");
            assert!(msg.contains(got), "{msg}");
            let env = [("FIPS_NSEC", NSEC_A), ("FIPS_IDENTITY_IDLE_SECS", value)];
            let msg = Config::from_env(&env).expect_err(value).to_string();
            assert!(msg.contains("FIPS_IDENTITY_IDLE_SECS"), "{msg}");
            assert!(msg.contains("from 1 to 86400"), "{msg}");
        }
    }
}
