//! `node.limits.*` and `FIPS_MAX_*`: how many peers, links and handshakes
//! in flight the node holds (the reference's keys and defaults). Each has
//! a hard ceiling, [`LIMIT_CEILING`], so a typo cannot let peers grow the
//! node's memory without bound.

use super::error::{describe, ConfigError};
use super::value::At;

/// The largest value any limit takes. A linked peer costs a hub about
/// 21 KiB (200 leaves: 15.1 MiB against a leaf's 10.9 MiB, see
/// docs/benchmarks.md), so 16,384 peers stay near 350 MiB; the goal is a
/// hub for 10,000 sidecars.
pub const LIMIT_CEILING: usize = 16_384;

const EXPECTED: &str = "a whole number from 1 to 16384";

/// The three limits, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Authenticated peers (`node.limits.max_peers`, `FIPS_MAX_PEERS`).
    pub max_peers: usize,
    /// Linked peers plus our handshakes in flight (`node.limits.max_links`,
    /// `FIPS_MAX_LINKS`).
    pub max_links: usize,
    /// Our handshakes in flight (`node.limits.max_connections`,
    /// `FIPS_MAX_CONNECTIONS`).
    pub max_connections: usize,
}

impl Default for Limits {
    /// The reference v0.4.1's defaults.
    fn default() -> Self {
        Limits {
            max_peers: 128,
            max_links: 256,
            max_connections: 256,
        }
    }
}

/// The file's keys and the environment's variables, in the same order as
/// the fields of [`Limits`].
pub(crate) const FILE_KEYS: [&str; 3] = [
    "node.limits.max_peers",
    "node.limits.max_links",
    "node.limits.max_connections",
];
pub(crate) const ENV_VARS: [&str; 3] = ["FIPS_MAX_PEERS", "FIPS_MAX_LINKS", "FIPS_MAX_CONNECTIONS"];

impl Limits {
    fn from_values(values: [Option<usize>; 3]) -> Limits {
        let d = Limits::default();
        Limits {
            max_peers: values[0].unwrap_or(d.max_peers),
            max_links: values[1].unwrap_or(d.max_links),
            max_connections: values[2].unwrap_or(d.max_connections),
        }
    }
}

/// Reads the limits from the YAML document.
pub(crate) fn from_file<'a>(get: &dyn Fn(&'static str) -> At<'a>) -> Result<Limits, ConfigError> {
    let mut values = [None; 3];
    for (slot, key) in values.iter_mut().zip(FILE_KEYS) {
        let at = get(key);
        *slot = match at.uint(EXPECTED)? {
            Some(n) => Some(check(key, n, || n.to_string())?),
            None => None,
        };
    }
    Ok(Limits::from_values(values))
}

/// Reads the limits from the environment (an unset variable keeps the default).
pub(crate) fn from_env(get: &dyn Fn(&str) -> Option<String>) -> Result<Limits, ConfigError> {
    let mut values = [None; 3];
    for (slot, name) in values.iter_mut().zip(ENV_VARS) {
        *slot = match get(name) {
            Some(s) => {
                let n = s
                    .trim()
                    .parse::<u64>()
                    .map_err(|_| invalid(name, describe(&s)))?;
                Some(check(name, n, || describe(&s))?)
            }
            None => None,
        };
    }
    Ok(Limits::from_values(values))
}

fn check(key: &str, n: u64, got: impl Fn() -> String) -> Result<usize, ConfigError> {
    match usize::try_from(n) {
        Ok(n) if (1..=LIMIT_CEILING).contains(&n) => Ok(n),
        _ => Err(invalid(key, got())),
    }
}

fn invalid(key: &str, got: String) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        expected: EXPECTED,
        got,
    }
}
