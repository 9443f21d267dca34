//! Types shared between the `fips-ebpf` classifier and the daemon's loader.
//! `#![no_std]` so the eBPF program can use them; `user` adds `aya::Pod`.
//!
//! This crate owns the layout of the maps and the meaning of every counter
//! slot. It must not hold policy decisions: the classifier applies what the
//! daemon writes into [`Policy`] and the socket-cookie map.
#![no_std]

/// Map names as they appear in the ELF object and under the bpffs pin
/// directory. The kernel truncates object names to 15 bytes: keep them short.
pub const MAP_POLICY: &str = "FIPS_POLICY";
pub const MAP_SOCKETS: &str = "FIPS_SOCKETS";
pub const MAP_COUNTERS: &str = "FIPS_COUNTERS";
pub const MAP_EVENTS: &str = "FIPS_EVENTS";
pub const MAP_EVENT_BUDGET: &str = "FIPS_EV_BUDGET";
/// XDP's handshake-initiation gate (`fips-ebpf/src/msg1_gate.rs`): its
/// rate, the per-source buckets, and the known peers' addresses.
pub const MAP_MSG1_GATE: &str = "FIPS_MSG1_GATE";
pub const MAP_MSG1_SOURCES: &str = "FIPS_MSG1_SRC";
pub const MAP_MSG1_KNOWN: &str = "FIPS_MSG1_KNOWN";
/// Socket cookies of the daemon's open metrics connections (see
/// [`METRICS_MARK`]).
pub const MAP_METRICS_CONNS: &str = "FIPS_METRICS";
/// The classifier's switch for per-packet verdict logs (aya-log): a byte in
/// read-only data the loader sets before load, 0 (off) unless the daemon
/// logs `fips::enforce` at debug.
pub const GLOBAL_LOG_VERDICTS: &str = "FIPS_LOG_VERDICTS";
/// The log target of those verdicts (under `fips::enforce`).
pub const LOG_TARGET_VERDICTS: &str = "fips::enforce::ebpf";
/// Program (function) names in the ELF object.
pub const PROG_INGRESS: &str = "fips_ingress";
pub const PROG_EGRESS: &str = "fips_egress";
pub const PROG_XDP: &str = "fips_xdp";

/// Most transport sockets the daemon may register (IPv4 + IPv6, plus one
/// spare so a replacement can be added before the old one is removed).
pub const MAX_SOCKETS: u32 = 8;

/// Entries of the `FIPS_METRICS` hash map: the metrics server's open
/// connections plus those it closed in the last few seconds (their FIN and
/// last ACKs still leave through the same socket). The daemon refuses a
/// connection that does not fit, so a flood of scrapers cannot grow it.
pub const MAX_METRICS_CONNS: u32 = 64;

/// `SO_MARK` the daemon puts on its metrics listener (accepted sockets
/// inherit it). TC egress lets a SYN-ACK out for a connection not yet
/// accepted only with this mark (no socket cookie exists for it before
/// `accept`), and the netfilter backstop, which sees no sockets, lets the
/// metrics port's TCP out only with it. Setting a mark needs CAP_NET_ADMIN
/// or CAP_NET_RAW: the app has neither in the configuration the sidecar
/// promises isolation for. ASCII "FMet".
pub const METRICS_MARK: u32 = 0x464d_6574;

/// TC verdicts. Passing returns "next" (`TC_ACT_UNSPEC`, `TCX_NEXT`) rather
/// than "pass" so programs attached after ours still run; when ours is the
/// last one, the kernel treats "next" as pass.
pub const VERDICT_PASS: i32 = -1;
pub const VERDICT_DROP: i32 = 2;
/// XDP verdicts (`enum xdp_action`).
pub const XDP_DROP: u32 = 1;
pub const XDP_PASS: u32 = 2;

/// `Policy::flags`: the transport also uses IPv6, so IPv6 UDP to/from the
/// transport port and IPv6 neighbour discovery pass.
pub const POLICY_ALLOW_IPV6: u32 = 1;

/// The single entry (index 0) of the `FIPS_POLICY` array. All-zero (the
/// state before the daemon fills it) passes nothing but ARP: fail closed.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    /// The transport's UDP port, host byte order.
    pub udp_port: u16,
    /// The metrics server's TCP port, host byte order; 0: none. Inbound TCP
    /// to it passes, outbound TCP from it only from the daemon's metrics
    /// connections (`FIPS_METRICS`).
    pub metrics_port: u16,
    /// `POLICY_*` bits.
    pub flags: u32,
}

/// The single entry (index 0) of the `FIPS_SOCKETS` array: socket cookies
/// (`SO_COOKIE`) of the daemon's transport sockets, unused slots zero (the
/// kernel never hands out cookie 0, and `bpf_get_socket_cookie` returns 0
/// for a packet without a socket, which the classifier refuses first). An
/// array the classifier compares word by word is cheaper per packet than a
/// hash-map lookup.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SocketSet {
    pub cookies: [u64; MAX_SOCKETS as usize],
}

/// The hook a packet was seen on: TC ingress or egress, or XDP (ingress,
/// before packet sockets see the frame; what it passes reaches TC ingress).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Ingress = 0,
    Egress = 1,
    Xdp = 2,
}

impl Direction {
    /// The two TC hooks (one TCX link each).
    pub const ALL: [Direction; 2] = [Direction::Ingress, Direction::Egress];
    /// Every hook with counters.
    pub const COUNTED: [Direction; 3] = [Direction::Ingress, Direction::Egress, Direction::Xdp];

    pub const fn name(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
            Direction::Xdp => "xdp",
        }
    }

    pub fn from_index(index: u8) -> Option<Direction> {
        Direction::COUNTED.get(usize::from(index)).copied()
    }
}

/// Why the classifier passed or dropped a packet. One counter slot per
/// (direction, reason), like cilium's metrics map.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// UDP of the transport: its port on ingress, its socket on egress.
    Passed = 0,
    ArpPassed = 1,
    /// IPv6 neighbour discovery (only with `POLICY_ALLOW_IPV6`).
    NdPassed = 2,
    /// IPv4/IPv6 carrying something other than UDP (TCP, ICMP, ...).
    NotUdp = 3,
    /// UDP, but not to (ingress) or from (egress) the transport port.
    WrongPort = 4,
    /// Egress UDP from the transport port, but not from the daemon's socket.
    ForeignSocket = 5,
    /// An IPv4 fragment or an IPv6 fragment header.
    Fragment = 6,
    /// IPv6 while the transport is IPv4 only.
    Ipv6 = 7,
    /// IPv6 with an extension header before the transport header.
    Ipv6ExtHeader = 8,
    /// An 802.1Q/802.1ad tag, in the frame or in the skb's metadata.
    Vlan = 9,
    /// A header shorter than it claims, or a wrong IP version field.
    Malformed = 10,
    /// Any other ethertype.
    OtherEthertype = 11,
    /// XDP only: a handshake initiation (FMP phase 1) from an address that
    /// is not a known peer's, over that address's budget.
    Msg1OverBudget = 12,
}

pub const REASON_COUNT: u32 = 13;
/// Entries of the `FIPS_COUNTERS` per-CPU array.
pub const COUNTER_SLOTS: u32 = 3 * REASON_COUNT;

impl Reason {
    pub const ALL: [Reason; REASON_COUNT as usize] = [
        Reason::Passed,
        Reason::ArpPassed,
        Reason::NdPassed,
        Reason::NotUdp,
        Reason::WrongPort,
        Reason::ForeignSocket,
        Reason::Fragment,
        Reason::Ipv6,
        Reason::Ipv6ExtHeader,
        Reason::Vlan,
        Reason::Malformed,
        Reason::OtherEthertype,
        Reason::Msg1OverBudget,
    ];

    /// Stable names used in `fipsctl show firewall` and its JSON.
    pub const fn name(self) -> &'static str {
        match self {
            Reason::Passed => "passed",
            Reason::ArpPassed => "arp-passed",
            Reason::NdPassed => "nd-passed",
            Reason::NotUdp => "not-udp",
            Reason::WrongPort => "wrong-port",
            Reason::ForeignSocket => "foreign-socket",
            Reason::Fragment => "fragment",
            Reason::Ipv6 => "ipv6",
            Reason::Ipv6ExtHeader => "ipv6-ext-header",
            Reason::Vlan => "vlan",
            Reason::Malformed => "malformed",
            Reason::OtherEthertype => "other-ethertype",
            Reason::Msg1OverBudget => "msg1-over-budget",
        }
    }

    pub fn from_index(index: u32) -> Option<Reason> {
        Reason::ALL.get(index as usize).copied()
    }

    pub const fn passes(self) -> bool {
        matches!(self, Reason::Passed | Reason::ArpPassed | Reason::NdPassed)
    }
}

/// The counter slot of a (direction, reason) pair.
pub const fn counter_slot(dir: Direction, reason: Reason) -> u32 {
    dir as u32 * REASON_COUNT + reason as u32
}

/// Drop events each CPU may emit per second; the rest are only counted
/// (`EventBudget::suppressed`), so a flood cannot flood the daemon too.
pub const EVENTS_PER_SECOND: u32 = 32;
/// Bytes of the `FIPS_EVENTS` ring buffer (a power of two, page multiple).
pub const EVENTS_RING_BYTES: u32 = 64 * 1024;

/// What the classifier reports about a dropped packet (best effort: fields
/// it could not read stay zero). Addresses are the packet's bytes in
/// memory order (IPv4 in the first word); u32 words keep the struct
/// 4-aligned so the classifier fills it with word stores, not a byte loop
/// the verifier refuses without CAP_PERFMON.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DropEvent {
    pub len: u32,
    /// `Direction as u8`.
    pub direction: u8,
    /// `Reason as u8`.
    pub reason: u8,
    /// 4, 6, or 0 when not IP.
    pub ip_version: u8,
    pub protocol: u8,
    pub ethertype: u16,
    pub src_port: u16,
    pub dst_port: u16,
    pub _pad: u16,
    pub src: [u32; 4],
    pub dst: [u32; 4],
}

/// Per-CPU rate limit state of the drop events (index 0).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventBudget {
    pub window_start_ns: u64,
    pub sent: u32,
    /// Events not emitted: over the budget, or the ring buffer was full.
    pub suppressed: u32,
}

/// Per-source buckets XDP keeps for handshake initiations (an LRU map: the
/// least recently seen source is forgotten first; a forgotten source only
/// gets a full bucket again, it never loses a link).
pub const MSG1_SOURCES_CAP: u32 = 8192;
/// Known peers' addresses the daemon can exempt from the gate; past that,
/// a peer's msg1 is charged to its own per-source bucket like anyone's.
pub const MSG1_KNOWN_CAP: u32 = 1024;

/// The single entry (index 0) of the `FIPS_MSG1_GATE` array: a generic
/// cell rate (GCRA) per source address, the bucket's state being one
/// timestamp (see `fips-ebpf/src/msg1_gate.rs`). All-zero, the gate is
/// off and every handshake initiation passes to the daemon, whose own
/// admission still applies: the gate saves CPU, it is not isolation.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Msg1Gate {
    /// Nanoseconds one token takes to refill (1e9 / rate per second).
    pub interval_ns: u64,
    /// How far ahead of now a source's schedule may run: (burst - 1) *
    /// interval_ns.
    pub tolerance_ns: u64,
}

/// Key of the per-source and known-peer maps: the IPv4 address mapped
/// into IPv6 (`::ffff:a.b.c.d`), or an IPv6 address cut to its /64 (the
/// daemon's own admission buckets IPv6 by /64, as one host usually holds
/// a whole /64). Bytes in packet order.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SourceKey {
    pub addr: [u8; 16],
}

impl SourceKey {
    pub const fn ipv4(addr: [u8; 4]) -> SourceKey {
        SourceKey {
            addr: [
                0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, addr[0], addr[1], addr[2], addr[3],
            ],
        }
    }

    /// The /64 of an IPv6 source, or the IPv4 key of an IPv4-mapped one.
    pub const fn ipv6(addr: [u8; 16]) -> SourceKey {
        let mapped = addr[0] == 0
            && addr[1] == 0
            && addr[2] == 0
            && addr[3] == 0
            && addr[4] == 0
            && addr[5] == 0
            && addr[6] == 0
            && addr[7] == 0
            && addr[8] == 0
            && addr[9] == 0
            && addr[10] == 0xff
            && addr[11] == 0xff;
        if mapped {
            return SourceKey { addr };
        }
        SourceKey {
            addr: [
                addr[0], addr[1], addr[2], addr[3], addr[4], addr[5], addr[6], addr[7], 0, 0, 0, 0,
                0, 0, 0, 0,
            ],
        }
    }
}

/// One per-CPU counter slot.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counter {
    pub packets: u64,
    pub bytes: u64,
}

#[cfg(feature = "user")]
mod pod {
    // SAFETY: both are #[repr(C)] plain integers with no padding holes the
    // kernel could leave uninitialised (Policy has none).
    unsafe impl aya::Pod for super::Policy {}
    unsafe impl aya::Pod for super::Counter {}
    unsafe impl aya::Pod for super::SocketSet {}
    unsafe impl aya::Pod for super::DropEvent {}
    unsafe impl aya::Pod for super::EventBudget {}
    unsafe impl aya::Pod for super::Msg1Gate {}
    unsafe impl aya::Pod for super::SourceKey {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_slots_are_distinct_and_in_range() {
        let mut seen = [false; COUNTER_SLOTS as usize];
        for dir in Direction::COUNTED {
            for reason in Reason::ALL {
                let slot = counter_slot(dir, reason) as usize;
                assert!(slot < seen.len());
                assert!(!seen[slot], "slot {slot} used twice");
                seen[slot] = true;
            }
        }
        assert!(seen.iter().all(|s| *s));
    }

    #[test]
    fn reason_table_is_in_discriminant_order() {
        for (i, reason) in Reason::ALL.iter().enumerate() {
            assert_eq!(*reason as usize, i);
        }
    }

    #[test]
    fn drop_event_has_no_implicit_padding() {
        assert_eq!(core::mem::size_of::<DropEvent>(), 48);
        assert_eq!(core::mem::size_of::<EventBudget>(), 16);
    }

    #[test]
    fn source_keys_map_ipv4_and_cut_ipv6_to_its_64() {
        let v4 = SourceKey::ipv4([10, 0, 0, 1]);
        assert_eq!(&v4.addr[10..], &[0xff, 0xff, 10, 0, 0, 1]);
        assert_eq!(SourceKey::ipv6(v4.addr), v4);
        let mut v6 = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 7, 1, 2, 3, 4, 5, 6, 7, 8];
        let key = SourceKey::ipv6(v6);
        assert_eq!(&key.addr[..8], &v6[..8]);
        assert_eq!(&key.addr[8..], &[0; 8]);
        v6[15] = 9;
        assert_eq!(SourceKey::ipv6(v6), key);
    }

    #[test]
    fn reasons_convert_back_from_their_index() {
        for reason in Reason::ALL {
            assert_eq!(Reason::from_index(reason as u32), Some(reason));
        }
        assert_eq!(Reason::from_index(REASON_COUNT), None);
    }

    #[test]
    fn map_names_fit_the_kernel_object_name_limit() {
        for name in [
            MAP_POLICY,
            MAP_SOCKETS,
            MAP_COUNTERS,
            MAP_EVENTS,
            MAP_EVENT_BUDGET,
            MAP_MSG1_GATE,
            MAP_MSG1_SOURCES,
            MAP_MSG1_KNOWN,
            MAP_METRICS_CONNS,
        ] {
            assert!(name.len() <= 15, "{name}");
        }
    }
}
