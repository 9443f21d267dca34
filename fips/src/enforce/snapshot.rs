//! What `fipsctl show firewall` prints: the policy in force and the
//! counters per (direction, reason), as JSON (serde) or as a table.

use super::error::{bpf_err, EnforceError};
use super::loader::read_counters;
use super::pin::PinLifetime;
use super::tripwire::PacketSocket;
use aya::maps::{Array, Map, MapData, PerCpuArray};
use fips_common::{Direction, EventBudget, Reason, POLICY_ALLOW_IPV6};
use serde::{Deserialize, Serialize};

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

/// A pinned TCX link: the link stays across restarts, the program changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkEntry {
    pub direction: String,
    pub link_id: u32,
    pub program_id: u32,
}

/// The pinned XDP link in front of ingress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct XdpEntry {
    /// "native" (in the driver) or "generic" (in the core receive path).
    pub mode: super::XdpMode,
    /// The link still filters the interface (its device exists).
    pub attached: bool,
    pub link_id: u32,
    pub program_id: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirewallSnapshot {
    pub interface: String,
    /// Where the program, links and maps are pinned on bpffs.
    pub pin_dir: String,
    /// Both the ingress and the egress link are pinned and attached.
    pub attached: bool,
    pub links: Vec<LinkEntry>,
    /// The XDP link, absent when none is pinned (a filter attached by an
    /// older daemon, or removed).
    #[serde(default)]
    pub xdp: Option<XdpEntry>,
    /// The netfilter egress backstop is installed; its drops are added
    /// to the egress counters.
    #[serde(default)]
    pub egress_backstop: bool,
    pub udp_port: u16,
    pub allow_ipv6: bool,
    pub socket_cookies: Vec<u64>,
    /// Passed at TC ingress and egress (what XDP passes is counted again
    /// at TC ingress, so its passes are not added here).
    pub passed_packets: u64,
    /// Dropped at any hook.
    pub dropped_packets: u64,
    /// Drops not reported as events (over the per-CPU rate or ring full).
    pub drop_events_suppressed: u64,
    pub counters: Vec<CounterEntry>,
    /// Whether the filter outlives the daemon (`fail-closed`) or goes
    /// with it (`until exit`); unknown (null) when read from the pins.
    #[serde(default)]
    pub pinned: Option<PinLifetime>,
    /// The tripwire: packet sockets open in the namespace that are not the
    /// daemon's (each means a process with CAP_NET_RAW).
    #[serde(default)]
    pub packet_sockets: Vec<PacketSocket>,
    /// Foreign packet sockets seen since the daemon started.
    #[serde(default)]
    pub packet_sockets_seen: u64,
    /// XDP's gate for handshake initiations; unknown (null) when read
    /// from the pins (its maps live with the daemon's classifier).
    #[serde(default)]
    pub msg1_gate: Option<super::Msg1GateEntry>,
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
        let state = if self.attached {
            "attached"
        } else {
            "NOT attached"
        };
        let ipv6 = if self.allow_ipv6 {
            "allowed"
        } else {
            "dropped"
        };
        let mut out = format!(
            "firewall on {} ({state}, pinned at {}): udp port {}, {} transport socket(s), ipv6 {ipv6}\n",
            self.interface,
            self.pin_dir,
            self.udp_port,
            self.socket_cookies.len(),
        );
        out += &match &self.xdp {
            Some(x) if x.attached => format!(
                "xdp before ingress: {} mode (link {})\n",
                x.mode.name(),
                x.link_id
            ),
            Some(x) => format!("xdp before ingress: NOT attached (link {})\n", x.link_id),
            None => "xdp before ingress: none\n".to_owned(),
        };
        if let Some(gate) = &self.msg1_gate {
            out += &gate.render();
        }
        out += if self.egress_backstop {
            "netfilter egress backstop: installed (its drops count as egress)\n"
        } else {
            "netfilter egress backstop: none\n"
        };
        out += &self.render_guards();
        out += &format!(
            "passed {} packets, dropped {} packets\n",
            self.passed_packets, self.dropped_packets
        );
        out += &row("DIRECTION", "REASON", "VERDICT", "PACKETS", "BYTES");
        for c in self.counters.iter().filter(|c| c.packets > 0) {
            out += &row(
                &c.direction,
                &c.reason,
                &c.verdict,
                &c.packets.to_string(),
                &c.bytes.to_string(),
            );
        }
        out
    }

    /// The lines on the pins' lifetime and the packet-socket tripwire.
    fn render_guards(&self) -> String {
        let mut out = match self.pinned {
            Some(PinLifetime::FailClosed) => "pinned: fail-closed (bpffs outlives the daemon: \
                 if it dies, the filter stays and drops)\n"
                .to_owned(),
            Some(PinLifetime::UntilExit) => "pinned: until exit (the daemon mounted bpffs in a \
                 mount namespace of its own: if it dies, the filter goes with it; mount bpffs \
                 on the host, or give the container a bpffs volume)\n"
                .to_owned(),
            None => String::new(),
        };
        if self.packet_sockets.is_empty() {
            out += &format!(
                "packet sockets: none open ({} seen)\n",
                self.packet_sockets_seen
            );
            return out;
        }
        out += &format!(
            "packet sockets: {} OPEN ({} seen): a process in this namespace has CAP_NET_RAW; \
             drop it from the app (cap_drop: [NET_RAW])\n",
            self.packet_sockets.len(),
            self.packet_sockets_seen
        );
        for s in &self.packet_sockets {
            out += &format!("  {}\n", s.describe());
        }
        out
    }
}

fn row(dir: &str, reason: &str, verdict: &str, packets: &str, bytes: &str) -> String {
    format!("{dir:<9} {reason:<16} {verdict:<7} {packets:>12} {bytes:>14}\n")
}

/// The maps a snapshot reads, whether owned by a live `Enforcer` or
/// opened from their pins.
pub(crate) struct SnapshotMaps<'a> {
    pub policy: &'a Map,
    pub sockets: &'a Map,
    pub counters: &'a Map,
    pub budget: &'a Map,
}

pub(crate) fn build(
    interface: &str,
    pin_dir: &std::path::Path,
    netlink: Option<&super::nfnl::Socket>,
    maps: SnapshotMaps<'_>,
) -> Result<FirewallSnapshot, EnforceError> {
    let links = super::pin::pinned_links(pin_dir);
    let attached = links.len() == 2 && links.iter().all(|(_, l)| l.ifindex != 0);
    let policy: Array<&MapData, fips_common::Policy> =
        Array::try_from(maps.policy).map_err(bpf_err("opening the policy map"))?;
    let policy = policy
        .get(&0, 0)
        .map_err(bpf_err("reading the policy map"))?;
    let sockets: Array<&MapData, fips_common::SocketSet> =
        Array::try_from(maps.sockets).map_err(bpf_err("opening the socket map"))?;
    let set = sockets
        .get(&0, 0)
        .map_err(bpf_err("reading the socket map"))?;
    let mut socket_cookies: Vec<u64> = set.cookies.into_iter().filter(|&c| c != 0).collect();
    socket_cookies.sort_unstable();
    let mut rows = read_counters(maps.counters)?;
    let egress_backstop = match netlink {
        Some(netlink) => add_backstop_drops(netlink, interface, &mut rows)?,
        None => false,
    };
    let budget: PerCpuArray<&MapData, EventBudget> =
        PerCpuArray::try_from(maps.budget).map_err(bpf_err("opening the event budget map"))?;
    let drop_events_suppressed = budget
        .get(&0, 0)
        .map_err(bpf_err("reading the event budget map"))?
        .iter()
        .map(|b| u64::from(b.suppressed))
        .sum();
    let sum = |pass: bool| -> u64 {
        rows.iter()
            .filter(|r| r.reason.passes() == pass && !(pass && r.dir == Direction::Xdp))
            .map(|r| r.packets)
            .sum()
    };
    let xdp = super::xdp::pinned_info(pin_dir).map(|(mode, l)| XdpEntry {
        mode,
        attached: l.ifindex != 0,
        link_id: l.link_id,
        program_id: l.program_id,
    });
    Ok(FirewallSnapshot {
        interface: interface.to_owned(),
        pin_dir: pin_dir.to_string_lossy().into_owned(),
        attached,
        links: links
            .iter()
            .map(|(dir, l)| LinkEntry {
                direction: dir.name().to_owned(),
                link_id: l.link_id,
                program_id: l.program_id,
            })
            .collect(),
        xdp,
        egress_backstop,
        udp_port: policy.udp_port,
        allow_ipv6: policy.flags & POLICY_ALLOW_IPV6 != 0,
        socket_cookies,
        passed_packets: sum(true),
        dropped_packets: sum(false),
        drop_events_suppressed,
        counters: rows.iter().map(entry).collect(),
        pinned: None,
        packet_sockets: Vec::new(),
        packet_sockets_seen: 0,
        msg1_gate: None,
    })
}

/// Adds the backstop's drops to the egress rows of their reasons; false
/// when no backstop is installed.
fn add_backstop_drops(
    netlink: &super::nfnl::Socket,
    interface: &str,
    rows: &mut [CounterRow],
) -> Result<bool, EnforceError> {
    let counts = super::backstop::counters(netlink, interface).map_err(|source| {
        EnforceError::Netfilter {
            what: "reading the egress backstop's counters",
            source,
        }
    })?;
    let Some(counts) = counts else {
        return Ok(false);
    };
    for (reason, packets, bytes) in counts {
        if let Some(row) = rows
            .iter_mut()
            .find(|r| r.dir == Direction::Egress && r.reason == reason)
        {
            row.packets += packets;
            row.bytes += bytes;
        }
    }
    Ok(true)
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
        fips_common::MAP_POLICY | fips_common::MAP_SOCKETS => Map::Array(data),
        _ => Map::PerCpuArray(data),
    };
    Ok(map)
}
