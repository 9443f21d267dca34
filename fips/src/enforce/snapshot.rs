//! What `fipsctl show firewall` prints: the policy in force and the
//! counters per (direction, reason), as JSON (serde) or as a table.

use super::error::{bpf_err, EnforceError};
use super::loader::read_counters;
use aya::maps::{Array, HashMap, Map, MapData};
use fips_common::{Direction, Reason, POLICY_ALLOW_IPV6};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// One counter slot summed over CPUs, typed (internal form).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CounterRow {
    pub dir: Direction,
    pub reason: Reason,
    pub packets: u64,
    pub bytes: u64,
}

/// One counter in the snapshot: names are `fips_common::Reason::name`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterEntry {
    pub direction: String,
    pub reason: String,
    /// "pass" or "drop".
    pub verdict: String,
    pub packets: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirewallSnapshot {
    pub interface: String,
    /// Where the program, links and maps are pinned on bpffs.
    pub pin_dir: String,
    /// Both the ingress and the egress link are pinned.
    pub attached: bool,
    pub udp_port: u16,
    pub allow_ipv6: bool,
    pub socket_cookies: Vec<u64>,
    pub passed_packets: u64,
    pub dropped_packets: u64,
    pub counters: Vec<CounterEntry>,
}

impl FirewallSnapshot {
    /// The packets counted under one (direction, reason) name pair.
    pub fn packets(&self, direction: Direction, reason: Reason) -> u64 {
        self.counters
            .iter()
            .find(|c| c.direction == direction.name() && c.reason == reason.name())
            .map_or(0, |c| c.packets)
    }

    /// A human table: the policy line, then every non-zero counter.
    pub fn render_table(&self) -> String {
        let mut out = String::new();
        let state = if self.attached {
            "attached"
        } else {
            "NOT attached"
        };
        let _ =
            writeln!(
            out,
            "firewall on {} ({state}, pinned at {}): udp port {}, {} transport socket(s), ipv6 {}",
            self.interface,
            self.pin_dir,
            self.udp_port,
            self.socket_cookies.len(),
            if self.allow_ipv6 { "allowed" } else { "dropped" },
        );
        let _ = writeln!(
            out,
            "passed {} packets, dropped {} packets",
            self.passed_packets, self.dropped_packets
        );
        let _ = writeln!(
            out,
            "{:<9} {:<16} {:<7} {:>12} {:>14}",
            "DIRECTION", "REASON", "VERDICT", "PACKETS", "BYTES"
        );
        for c in self.counters.iter().filter(|c| c.packets > 0) {
            let _ = writeln!(
                out,
                "{:<9} {:<16} {:<7} {:>12} {:>14}",
                c.direction, c.reason, c.verdict, c.packets, c.bytes
            );
        }
        out
    }
}

/// The maps a snapshot reads, whether owned by a live `Enforcer` or
/// opened from their pins.
pub(crate) struct SnapshotMaps<'a> {
    pub policy: &'a Map,
    pub sockets: &'a Map,
    pub counters: &'a Map,
}

pub(crate) fn build(
    interface: &str,
    pin_dir: &str,
    attached: bool,
    maps: SnapshotMaps<'_>,
) -> Result<FirewallSnapshot, EnforceError> {
    let policy: Array<&MapData, fips_common::Policy> =
        Array::try_from(maps.policy).map_err(bpf_err("opening the policy map"))?;
    let policy = policy
        .get(&0, 0)
        .map_err(bpf_err("reading the policy map"))?;
    let sockets: HashMap<&MapData, u64, u8> =
        HashMap::try_from(maps.sockets).map_err(bpf_err("opening the socket map"))?;
    let mut socket_cookies = Vec::new();
    for key in sockets.keys() {
        socket_cookies.push(key.map_err(bpf_err("reading the socket map"))?);
    }
    socket_cookies.sort_unstable();
    let rows = read_counters(maps.counters)?;
    let sum = |pass: bool| -> u64 {
        rows.iter()
            .filter(|r| r.reason.passes() == pass)
            .map(|r| r.packets)
            .sum()
    };
    Ok(FirewallSnapshot {
        interface: interface.to_owned(),
        pin_dir: pin_dir.to_owned(),
        attached,
        udp_port: policy.udp_port,
        allow_ipv6: policy.flags & POLICY_ALLOW_IPV6 != 0,
        socket_cookies,
        passed_packets: sum(true),
        dropped_packets: sum(false),
        counters: rows.iter().map(entry).collect(),
    })
}

fn entry(row: &CounterRow) -> CounterEntry {
    CounterEntry {
        direction: row.dir.name().to_owned(),
        reason: row.reason.name().to_owned(),
        verdict: if row.reason.passes() { "pass" } else { "drop" }.to_owned(),
        packets: row.packets,
        bytes: row.bytes,
    }
}

/// Opens a pinned map (for `fipsctl` while the daemon is down, and to carry
/// counters over a restart).
pub(crate) fn open_pinned(dir: &std::path::Path, name: &str) -> Result<Map, EnforceError> {
    let data = MapData::from_pin(dir.join(name)).map_err(bpf_err("opening a pinned map"))?;
    let map = match name {
        fips_common::MAP_POLICY => Map::Array(data),
        fips_common::MAP_SOCKETS => Map::HashMap(data),
        _ => Map::PerCpuArray(data),
    };
    Ok(map)
}
