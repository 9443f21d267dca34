//! The daemon's side of XDP's gate for handshake initiations
//! (`fips-ebpf/src/msg1_gate.rs`): the rate each unknown source's msg1
//! datagrams may reach the daemon at, and the known peers' addresses that
//! pass the gate whatever their rate.
//!
//! The gate sits in front of the node's own msg1 admission
//! (`fips_proto::node::admission`) and is looser than it: it only has to
//! keep a flood from waking the daemon, the node still decides what is
//! worth an ECDH. Known peers are the same set the node exempts
//! ([`fips_proto::node::Node::known_source_ips`]), copied into the map by
//! [`KnownPeers::sync`].

use std::collections::BTreeSet;
use std::net::IpAddr;

use aya::maps::{Array, HashMap, Map, MapData, MapError};
use fips_common::{Msg1Gate, SourceKey, MSG1_KNOWN_CAP, MSG1_SOURCES_CAP};
use serde::{Deserialize, Serialize};

use super::error::{bpf_err, EnforceError};

/// How many msg1 datagrams per second one unknown source (IPv4 address
/// or IPv6 /64) gets past XDP, after a burst. Twice the node's own
/// per-source budget (16, then 4/s), so the node's admission, not this
/// gate, decides for any sender that stays near it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Msg1Rate {
    pub per_sec: u32,
    pub burst: u32,
}

impl Msg1Rate {
    pub const DEFAULT: Msg1Rate = Msg1Rate {
        per_sec: 8,
        burst: 32,
    };

    fn raw(self) -> Msg1Gate {
        if self.per_sec == 0 {
            return Msg1Gate::default();
        }
        let interval_ns = 1_000_000_000 / u64::from(self.per_sec);
        Msg1Gate {
            interval_ns,
            tolerance_ns: u64::from(self.burst.saturating_sub(1)) * interval_ns,
        }
    }
}

/// Writes `rate` into the gate's map; a rate of 0 per second turns the
/// gate off (every msg1 reaches the daemon).
pub(crate) fn write_rate(map: &mut Map, rate: Msg1Rate) -> Result<(), EnforceError> {
    let mut array: Array<_, Msg1Gate> =
        Array::try_from(map).map_err(bpf_err("opening the msg1 gate map"))?;
    array
        .set(0, rate.raw(), 0)
        .map_err(bpf_err("writing the msg1 gate map"))
}

/// The gate's key of `ip`: IPv4 (also IPv4-mapped) as itself, IPv6 by /64.
pub fn source_key(ip: IpAddr) -> SourceKey {
    match ip.to_canonical() {
        IpAddr::V4(v4) => SourceKey::ipv4(v4.octets()),
        IpAddr::V6(v6) => SourceKey::ipv6(v6.octets()),
    }
}

/// What one [`KnownPeers::sync`] changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KnownSync {
    pub added: usize,
    pub removed: usize,
    /// Known addresses left out because the map holds [`MSG1_KNOWN_CAP`].
    pub over_cap: usize,
}

/// The known peers' keys last written into `FIPS_MSG1_KNOWN`.
#[derive(Debug, Default)]
pub(crate) struct KnownPeers {
    synced: BTreeSet<[u8; 16]>,
    over_cap: usize,
}

impl KnownPeers {
    /// Makes the map hold exactly the keys of `ips` (up to the cap):
    /// removes first, so a full map makes room for the new ones.
    pub(crate) fn sync(
        &mut self,
        map: &mut Map,
        ips: impl IntoIterator<Item = IpAddr>,
    ) -> Result<KnownSync, EnforceError> {
        let mut known: HashMap<_, SourceKey, u8> =
            HashMap::try_from(map).map_err(bpf_err("opening the known peers map"))?;
        let wanted: BTreeSet<[u8; 16]> = ips.into_iter().map(|ip| source_key(ip).addr).collect();
        let mut change = KnownSync::default();
        for gone in self.synced.difference(&wanted).copied().collect::<Vec<_>>() {
            match known.remove(&SourceKey { addr: gone }) {
                Ok(()) | Err(MapError::KeyNotFound) => {}
                Err(e) => return Err(bpf_err("removing from the known peers map")(e)),
            }
            self.synced.remove(&gone);
            change.removed += 1;
        }
        for new in wanted.difference(&self.synced).copied().collect::<Vec<_>>() {
            if self.synced.len() >= MSG1_KNOWN_CAP as usize {
                change.over_cap += 1;
                continue;
            }
            known
                .insert(SourceKey { addr: new }, 1, 0)
                .map_err(bpf_err("writing the known peers map"))?;
            self.synced.insert(new);
            change.added += 1;
        }
        self.over_cap = change.over_cap;
        Ok(change)
    }

    pub(crate) fn len(&self) -> usize {
        self.synced.len()
    }

    pub(crate) fn over_cap(&self) -> usize {
        self.over_cap
    }
}

/// The gate as `fipsctl show firewall` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Msg1GateEntry {
    /// Per unknown source, msg1 datagrams per second past XDP (0: off).
    pub per_source_per_sec: u32,
    pub per_source_burst: u32,
    /// Sources with a bucket now, and the most the LRU map keeps.
    pub sources_tracked: usize,
    pub sources_cap: u32,
    /// Known peers' addresses exempt from the gate, and the most it holds.
    pub known_peers: usize,
    pub known_cap: u32,
    /// Known addresses not exempt because the map was full.
    pub known_over_cap: usize,
}

impl Msg1GateEntry {
    pub(crate) fn read(
        rate: Msg1Rate,
        sources: &Map,
        known: &KnownPeers,
    ) -> Result<Msg1GateEntry, EnforceError> {
        let sources: HashMap<&MapData, SourceKey, u64> =
            HashMap::try_from(sources).map_err(bpf_err("opening the msg1 source map"))?;
        Ok(Msg1GateEntry {
            per_source_per_sec: rate.per_sec,
            per_source_burst: rate.burst,
            sources_tracked: sources.keys().filter(Result::is_ok).count(),
            sources_cap: MSG1_SOURCES_CAP,
            known_peers: known.len(),
            known_cap: MSG1_KNOWN_CAP,
            known_over_cap: known.over_cap(),
        })
    }

    /// The line under the XDP line of the table.
    pub fn render(&self) -> String {
        if self.per_source_per_sec == 0 {
            return "xdp msg1 gate: off\n".to_owned();
        }
        format!(
            "xdp msg1 gate: {}/s per unknown source (burst {}), {}/{} sources tracked, \
             {}/{} known peer addresses exempt{}\n",
            self.per_source_per_sec,
            self.per_source_burst,
            self.sources_tracked,
            self.sources_cap,
            self.known_peers,
            self.known_cap,
            if self.known_over_cap > 0 {
                format!(" ({} over the cap, not exempt)", self.known_over_cap)
            } else {
                String::new()
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_becomes_an_interval_and_a_tolerance() {
        let raw = Msg1Rate {
            per_sec: 8,
            burst: 32,
        }
        .raw();
        assert_eq!(raw.interval_ns, 125_000_000);
        assert_eq!(raw.tolerance_ns, 31 * 125_000_000);
    }

    #[test]
    fn a_zero_rate_turns_the_gate_off() {
        let raw = Msg1Rate {
            per_sec: 0,
            burst: 32,
        }
        .raw();
        assert_eq!(raw, Msg1Gate::default());
    }

    #[test]
    fn ipv4_mapped_peers_get_the_ipv4_key() {
        let mapped: IpAddr = "::ffff:10.1.2.3".parse().expect("literal");
        let v4: IpAddr = "10.1.2.3".parse().expect("literal");
        assert_eq!(source_key(mapped), source_key(v4));
    }
}
