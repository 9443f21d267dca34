//! `FIPS_PEERS`: more than one peer in sidecar mode (two ways into the
//! mesh, so that losing one peer does not cut the app off). Entries are
//! separated by commas or white space; each is `[alias=]npub1...@host:port`,
//! the address an IP literal or a host name, as in `FIPS_PEER_ADDR`.

use super::error::{describe, ConfigError};
use super::value::{self, Endpoint};
use super::PeerEntry;

const VAR: &str = "FIPS_PEERS";
const EXPECTED: &str = "[alias=]npub1...@host:port, entries separated by commas";

/// Parses the entries of `FIPS_PEERS`; errors name the entry, e.g.
/// `FIPS_PEERS[1]`.
pub(super) fn parse(text: &str) -> Result<Vec<PeerEntry>, ConfigError> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|e| !e.is_empty())
        .enumerate()
        .map(|(i, entry)| parse_entry(&format!("{VAR}[{i}]"), entry))
        .collect()
}

/// The npubs of `FIPS_PEERS`, for `fipsctl health` (empty if it does not
/// parse: the daemon has refused to start then, naming the entry).
pub fn npubs(text: &str) -> Vec<String> {
    parse(text).map_or_else(
        |_| Vec::new(),
        |peers| peers.iter().map(|p| p.identity.npub()).collect(),
    )
}

fn parse_entry(key: &str, entry: &str) -> Result<PeerEntry, ConfigError> {
    let invalid = || ConfigError::Invalid {
        key: key.into(),
        expected: EXPECTED,
        got: describe(entry),
    };
    let (alias, rest) = match entry.split_once('=') {
        Some((alias, rest)) if !alias.is_empty() => (Some(alias.to_string()), rest),
        Some(_) => return Err(invalid()),
        None => (None, entry),
    };
    let (npub, addr) = rest.split_once('@').ok_or_else(invalid)?;
    let identity = value::parse_npub(key, npub)?;
    let (addrs, names) = match value::parse_host_port(key, addr)? {
        Endpoint::Ip(a) => (vec![a], Vec::new()),
        Endpoint::Name(h) => (Vec::new(), vec![h]),
    };
    Ok(PeerEntry {
        identity,
        alias,
        addrs,
        names,
        auto_connect: true,
        origin: key.into(),
    })
}

/// Refuses the same peer twice (FIPS_PEER_NPUB and FIPS_PEERS together, or
/// within FIPS_PEERS): one of the two addresses would silently win.
pub(super) fn check_unique(peers: &[PeerEntry]) -> Result<(), ConfigError> {
    for (i, p) in peers.iter().enumerate() {
        if let Some(first) = peers[..i].iter().find(|q| q.identity == p.identity) {
            return Err(ConfigError::Invalid {
                key: p.origin.clone(),
                expected: "each peer once",
                got: format!("the peer already given by {}", first.origin),
            });
        }
    }
    Ok(())
}
