//! The netfilter egress backstop: an nf_tables netdev-family chain on the
//! `egress` hook of eth0 (Linux 5.16+) that passes only IPv4 ARP and the
//! transport's UDP shape (IPv4 without options or fragments, from the
//! transport port; for an IPv6 transport also IPv6 UDP from the port and
//! neighbour discovery) and drops the rest.
//!
//! Why: a packet socket with PACKET_QDISC_BYPASS hands its frames straight
//! to the driver, past every TC hook, but the kernel still runs this hook
//! for them. It sees only frames: it cannot tell the daemon's socket from
//! an app's packet socket forging the same shape (the TC egress program
//! does that by socket cookie for everything that is not bypassed).
//!
//! The normal path meets this hook first, then TC egress: frames of any
//! other shape are dropped here and counted per reason in the rules'
//! counters (merged into the egress rows of `fipsctl show firewall`);
//! they no longer reach the TC program, so they raise no drop events.
//!
//! Lifecycle: a table `fips-<iface>` in the namespace, not owned by the
//! daemon's netlink socket, so it stays when the daemon dies (like the
//! pinned TC links). A restart rewrites the chain's rules in one
//! transaction (flush + add, atomic for the packet path, drop policy
//! throughout); `remove` deletes the table.

use super::nfnl::{self, Attrs, Batch, NFPROTO_NETDEV};
use fips_common::{Reason, METRICS_MARK};
use std::io;

/// The ports the backstop lets out: the transport's UDP, the metrics
/// server's TCP (0: none).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ports {
    pub udp: u16,
    pub metrics: u16,
}

const CHAIN: &str = "egress";
const NF_DROP: u32 = 0;
const NF_ACCEPT: u32 = 1;
const NF_NETDEV_EGRESS: u32 = 1;
/// Registers: NFT_REG_VERDICT and the first 16-byte data register.
const REG_VERDICT: u32 = 0;
const REG_1: u32 = 1;
const NFT_PAYLOAD_LL_HEADER: u32 = 0;
const CMP_EQ: u32 = 0;
const CMP_NEQ: u32 = 1;
const CMP_LTE: u32 = 3;
const CMP_GTE: u32 = 5;

/// Frame offsets (from the start of the Ethernet header), as in the eBPF
/// classifier: the backstop checks the same fields.
const ETHERTYPE: u32 = 12;
const ARP_HEADER: u32 = 14;
const IPV4_VERSION_IHL: u32 = 14;
const IPV4_FRAG: u32 = 20;
const IPV4_PROTO: u32 = 23;
const IPV4_SPORT: u32 = 34;
/// `meta` keys (`enum nft_meta_keys`).
const NFT_META_MARK: u32 = 3;
const IPV6_NEXT: u32 = 20;
const IPV6_SPORT: u32 = 54;
const IPV6_ICMP_TYPE: u32 = 54;

pub(crate) fn table_name(iface: &str) -> String {
    format!("fips-{iface}")
}

/// One expression of a rule.
enum Expr {
    /// Loads `len` bytes at `offset` of the frame into register 1.
    Load {
        offset: u32,
        len: u32,
    },
    Cmp {
        op: u32,
        value: Vec<u8>,
    },
    /// Register 1 &= mask.
    Mask(Vec<u8>),
    /// Loads `skb->mark` into register 1.
    Mark,
    /// Counts packets and bytes, starting from the given totals.
    Counter(u64, u64),
    Verdict(u32),
}

impl Expr {
    fn encode(&self) -> Attrs {
        let (name, data) = match self {
            Expr::Load { offset, len } => (
                "payload",
                Attrs::new()
                    .be32(1, REG_1)
                    .be32(2, NFT_PAYLOAD_LL_HEADER)
                    .be32(3, *offset)
                    .be32(4, *len),
            ),
            Expr::Cmp { op, value } => (
                "cmp",
                Attrs::new()
                    .be32(1, REG_1)
                    .be32(2, *op)
                    .nested(3, Attrs::new().bytes(1, value)),
            ),
            Expr::Mask(mask) => (
                "bitwise",
                Attrs::new()
                    .be32(1, REG_1)
                    .be32(2, REG_1)
                    .be32(3, mask.len() as u32)
                    .nested(4, Attrs::new().bytes(1, mask))
                    .nested(5, Attrs::new().bytes(1, &vec![0; mask.len()])),
            ),
            Expr::Mark => ("meta", Attrs::new().be32(1, REG_1).be32(2, NFT_META_MARK)),
            Expr::Counter(packets, bytes) => (
                "counter",
                Attrs::new()
                    .bytes(1, &bytes.to_be_bytes())
                    .bytes(2, &packets.to_be_bytes()),
            ),
            Expr::Verdict(code) => (
                "immediate",
                Attrs::new()
                    .be32(1, REG_VERDICT)
                    .nested(2, Attrs::new().nested(2, Attrs::new().be32(1, *code))),
            ),
        };
        Attrs::new().str(1, name).nested(2, data)
    }
}

/// The match part of a rule, built field by field.
#[derive(Default)]
struct Match(Vec<Expr>);

impl Match {
    fn load(mut self, offset: u32, len: usize) -> Match {
        self.0.push(Expr::Load {
            offset,
            len: len as u32,
        });
        self
    }

    fn cmp(mut self, op: u32, value: &[u8]) -> Match {
        self.0.push(Expr::Cmp {
            op,
            value: value.to_vec(),
        });
        self
    }

    /// The bytes at `offset` equal `value`.
    fn eq(self, offset: u32, value: &[u8]) -> Match {
        self.load(offset, value.len()).cmp(CMP_EQ, value)
    }

    fn ne(self, offset: u32, value: &[u8]) -> Match {
        self.load(offset, value.len()).cmp(CMP_NEQ, value)
    }

    /// The bytes at `offset`, masked, compare with `value` under `op`.
    fn masked(mut self, offset: u32, mask: &[u8], op: u32, value: &[u8]) -> Match {
        self = self.load(offset, mask.len());
        self.0.push(Expr::Mask(mask.to_vec()));
        self.cmp(op, value)
    }

    /// The packet carries `mark` (`skb->mark`; a host-order u32 in the
    /// register).
    fn mark(mut self, mark: u32) -> Match {
        self.0.push(Expr::Mark);
        self.cmp(CMP_EQ, &mark.to_ne_bytes())
    }

    /// The byte at `offset` lies in `lo..=hi`.
    fn byte_in(self, offset: u32, lo: u8, hi: u8) -> Match {
        self.load(offset, 1).cmp(CMP_GTE, &[lo]).cmp(CMP_LTE, &[hi])
    }
}

/// A rule: matches, then accept, or count under a reason and drop (the
/// reason travels in the rule's user data, read back by [`counters`]).
struct Rule {
    matches: Match,
    drop_as: Option<Reason>,
}

impl Rule {
    fn accept(matches: Match) -> Rule {
        Rule {
            matches,
            drop_as: None,
        }
    }

    fn drop(reason: Reason, matches: Match) -> Rule {
        Rule {
            matches,
            drop_as: Some(reason),
        }
    }

    /// `carried`: totals of the backstop being replaced, per reason; the
    /// first rule of a reason takes them over.
    fn encode(self, table: &str, carried: &mut Vec<(Reason, u64, u64)>) -> Attrs {
        let mut exprs = self.matches.0;
        match self.drop_as {
            Some(reason) => {
                let (packets, bytes) = match carried.iter().position(|(r, _, _)| *r == reason) {
                    Some(i) => {
                        let (_, p, b) = carried.swap_remove(i);
                        (p, b)
                    }
                    None => (0, 0),
                };
                exprs.extend([Expr::Counter(packets, bytes), Expr::Verdict(NF_DROP)]);
            }
            None => exprs.push(Expr::Verdict(NF_ACCEPT)),
        }
        let list = exprs
            .iter()
            .fold(Attrs::new(), |list, e| list.nested(1, e.encode()));
        let attrs = Attrs::new().str(1, table).str(2, CHAIN).nested(4, list);
        match self.drop_as {
            Some(reason) => attrs.bytes(7, &[reason as u8]),
            None => attrs,
        }
    }
}

const FRAG_MASK: [u8; 2] = [0x3f, 0xff];

/// The rules in order. A load past the end of a frame makes its rule not
/// match, so a truncated IPv4 header ends at the catch-all IPv4 rule
/// (malformed); what no rule matches is counted as other-ethertype by
/// the last one (the chain's drop policy backs it up).
fn rules(ports: Ports, allow_ipv6: bool) -> Vec<Rule> {
    let port = ports.udp.to_be_bytes();
    let ipv4 = || Match::default().eq(ETHERTYPE, &[0x08, 0x00]);
    let ipv6 = || Match::default().eq(ETHERTYPE, &[0x86, 0xdd]);
    let mut out = vec![
        // IPv4 ARP over Ethernet: htype 1, ptype 0x0800, hlen 6, plen 4.
        Rule::accept(
            Match::default()
                .eq(ETHERTYPE, &[0x08, 0x06])
                .eq(ARP_HEADER, &[0, 1, 8, 0, 6, 4]),
        ),
        Rule::accept(
            Match::default()
                .eq(ETHERTYPE, &[0x08, 0x00, 0x45])
                .masked(IPV4_FRAG, &FRAG_MASK, CMP_EQ, &[0, 0])
                .eq(IPV4_PROTO, &[17])
                .eq(IPV4_SPORT, &port),
        ),
    ];
    out.extend(metrics_rules(ports.metrics, allow_ipv6));
    out.extend([
        Rule::drop(
            Reason::Fragment,
            ipv4().masked(IPV4_FRAG, &FRAG_MASK, CMP_NEQ, &[0, 0]),
        ),
        Rule::drop(Reason::NotUdp, ipv4().ne(IPV4_PROTO, &[17])),
        // UDP from the port with IPv4 options: the transport sends none.
        Rule::drop(Reason::Malformed, ipv4().ne(IPV4_VERSION_IHL, &[0x45])),
        Rule::drop(Reason::WrongPort, ipv4().ne(IPV4_SPORT, &port)),
        Rule::drop(Reason::Malformed, ipv4()),
    ]);
    if allow_ipv6 {
        out.extend([
            Rule::accept(ipv6().eq(IPV6_NEXT, &[17]).eq(IPV6_SPORT, &port)),
            Rule::accept(
                ipv6()
                    .eq(IPV6_NEXT, &[58])
                    .byte_in(IPV6_ICMP_TYPE, 133, 137),
            ),
            Rule::drop(Reason::Fragment, ipv6().eq(IPV6_NEXT, &[44])),
            Rule::drop(Reason::WrongPort, ipv6().eq(IPV6_NEXT, &[17])),
            Rule::drop(Reason::NotUdp, ipv6()),
        ]);
    } else {
        out.push(Rule::drop(Reason::Ipv6, ipv6()));
    }
    out.extend([
        Rule::drop(Reason::Vlan, Match::default().eq(ETHERTYPE, &[0x81, 0x00])),
        Rule::drop(Reason::Vlan, Match::default().eq(ETHERTYPE, &[0x88, 0xa8])),
        Rule::drop(Reason::OtherEthertype, Match::default()),
    ]);
    out
}

/// TCP from the metrics port, only with the daemon's listener mark. The
/// backstop sees frames, not sockets, so the TC program's socket-cookie
/// match cannot be repeated here; the mark is what ties a frame to the
/// daemon at this hook: the daemon sets `SO_MARK` on its listener (its
/// accepted sockets and the kernel's SYN-ACKs for it inherit it), and
/// setting a mark needs CAP_NET_ADMIN or CAP_NET_RAW, which an app
/// without NET_RAW lacks. (Checked on kernel 6.18: `meta mark` is set at
/// the netdev egress hook for the stack's TCP; `meta skuid` is forgeable
/// by a root app, `socket cgroupv2` is refused in the netdev family, see
/// the README.) An app with NET_RAW can mark its own sockets, but TC
/// still drops their data (no registered cookie), and NET_RAW already
/// lets it send the transport's UDP shape past TC.
fn metrics_rules(port: u16, allow_ipv6: bool) -> Vec<Rule> {
    if port == 0 {
        return Vec::new();
    }
    let port = port.to_be_bytes();
    let mut out = vec![Rule::accept(
        Match::default()
            .eq(ETHERTYPE, &[0x08, 0x00, 0x45])
            .masked(IPV4_FRAG, &FRAG_MASK, CMP_EQ, &[0, 0])
            .eq(IPV4_PROTO, &[6])
            .eq(IPV4_SPORT, &port)
            .mark(METRICS_MARK),
    )];
    if allow_ipv6 {
        out.push(Rule::accept(
            Match::default()
                .eq(ETHERTYPE, &[0x86, 0xdd])
                .eq(IPV6_NEXT, &[6])
                .eq(IPV6_SPORT, &port)
                .mark(METRICS_MARK),
        ));
    }
    out
}

/// Creates (or rewrites in place) the backstop of `iface` for the
/// transport's `port`. The counts of a backstop being replaced carry over,
/// as the TC counters do.
pub(crate) fn install(
    socket: &nfnl::Socket,
    iface: &str,
    ports: Ports,
    allow_ipv6: bool,
) -> io::Result<()> {
    let table = table_name(iface);
    // Unreadable old counts are not worth failing over: start from zero.
    let mut carried = counters(socket, iface).ok().flatten().unwrap_or_default();
    let mut batch = Batch::new();
    batch.add(
        nfnl::NFT_MSG_NEWTABLE,
        nfnl::NLM_F_CREATE,
        NFPROTO_NETDEV,
        Attrs::new().str(1, &table),
    );
    let hook = Attrs::new()
        .be32(1, NF_NETDEV_EGRESS)
        .be32(2, 0)
        .str(3, iface);
    batch.add(
        nfnl::NFT_MSG_NEWCHAIN,
        nfnl::NLM_F_CREATE,
        NFPROTO_NETDEV,
        Attrs::new()
            .str(1, &table)
            .str(3, CHAIN)
            .nested(4, hook)
            .be32(5, NF_DROP)
            .str(7, "filter"),
    );
    // Flush, then the new rules: one transaction, so the packet path
    // sees the old rules until the instant it sees the new ones.
    batch.add(
        nfnl::NFT_MSG_DELRULE,
        0,
        NFPROTO_NETDEV,
        Attrs::new().str(1, &table).str(2, CHAIN),
    );
    for rule in rules(ports, allow_ipv6) {
        batch.add(
            nfnl::NFT_MSG_NEWRULE,
            nfnl::NLM_F_CREATE | nfnl::NLM_F_APPEND,
            NFPROTO_NETDEV,
            rule.encode(&table, &mut carried),
        );
    }
    batch.commit(socket)
}

/// Deletes the backstop of `iface`; false when there was none.
pub(crate) fn remove(socket: &nfnl::Socket, iface: &str) -> io::Result<bool> {
    let mut batch = Batch::new();
    batch.add(
        nfnl::NFT_MSG_DELTABLE,
        0,
        NFPROTO_NETDEV,
        Attrs::new().str(1, &table_name(iface)),
    );
    match batch.commit(socket) {
        Ok(()) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Packets and bytes the backstop dropped, per reason; `None` when no
/// backstop is installed on `iface` (an installed one always has rules).
pub(crate) fn counters(
    socket: &nfnl::Socket,
    iface: &str,
) -> io::Result<Option<Vec<(Reason, u64, u64)>>> {
    let rules = nfnl::dump_rules(socket, NFPROTO_NETDEV, &table_name(iface), CHAIN)?;
    if rules.is_empty() {
        return Ok(None);
    }
    let mut out: Vec<(Reason, u64, u64)> = Vec::new();
    for rule in &rules {
        let Some((reason, packets, bytes)) = rule_counter(rule) else {
            continue;
        };
        match out.iter_mut().find(|(r, _, _)| *r == reason) {
            Some(row) => {
                row.1 += packets;
                row.2 += bytes;
            }
            None => out.push((reason, packets, bytes)),
        }
    }
    Ok(Some(out))
}

/// The reason (user data) and counter of one dumped rule.
fn rule_counter(rule: &[u8]) -> Option<(Reason, u64, u64)> {
    let top = nfnl::attrs(rule);
    let reason = top
        .iter()
        .find(|(kind, _)| *kind == 7)
        .and_then(|(_, data)| Reason::from_index(u32::from(*data.first()?)))?;
    let (_, exprs) = top.iter().find(|(kind, _)| *kind == 4)?;
    for (_, expr) in nfnl::attrs(exprs) {
        let fields = nfnl::attrs(expr);
        let is_counter = fields
            .iter()
            .any(|(kind, name)| *kind == 1 && *name == b"counter\0");
        if !is_counter {
            continue;
        }
        let data = fields.iter().find(|(kind, _)| *kind == 2)?.1;
        let value = |kind: u16| -> u64 {
            nfnl::attrs(data)
                .iter()
                .find(|(k, _)| *k == kind)
                .and_then(|(_, v)| v.get(..8)?.try_into().ok())
                .map_or(0, u64::from_be_bytes)
        };
        return Some((reason, value(2), value(1)));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const PORTS: Ports = Ports {
        udp: 4242,
        metrics: 0,
    };

    #[test]
    fn every_drop_rule_reads_back_its_reason_and_carried_counts() {
        let mut carried = vec![(Reason::NotUdp, 5, 300), (Reason::Ipv6, 2, 180)];
        let mut seen = Vec::new();
        for rule in rules(PORTS, false) {
            let dropping = rule.drop_as;
            let encoded = rule.encode("fips-eth0", &mut carried);
            let read = rule_counter(&encoded.into_bytes());
            assert_eq!(read.map(|(r, _, _)| r), dropping);
            seen.extend(read);
        }
        assert!(carried.is_empty(), "counts not handed over: {carried:?}");
        assert!(seen.contains(&(Reason::NotUdp, 5, 300)), "{seen:?}");
        assert!(seen.contains(&(Reason::Ipv6, 2, 180)), "{seen:?}");
        assert!(seen.contains(&(Reason::WrongPort, 0, 0)), "{seen:?}");
        assert_eq!(seen.last().map(|s| s.0), Some(Reason::OtherEthertype));
    }

    #[test]
    fn an_ipv6_transport_gets_ipv6_rules_instead_of_the_ipv6_drop() {
        let reasons = |ipv6| -> Vec<Option<Reason>> {
            rules(PORTS, ipv6).into_iter().map(|r| r.drop_as).collect()
        };
        assert!(reasons(false).contains(&Some(Reason::Ipv6)));
        assert!(!reasons(true).contains(&Some(Reason::Ipv6)));
        let accepts = |ipv6| reasons(ipv6).iter().filter(|r| r.is_none()).count();
        assert_eq!((accepts(false), accepts(true)), (2, 4));
    }

    #[test]
    fn a_metrics_port_adds_one_accept_per_ip_version_and_no_drop() {
        let with = |metrics, ipv6| {
            let r = rules(Ports { udp: 4242, metrics }, ipv6);
            let accepts = r.iter().filter(|r| r.drop_as.is_none()).count();
            (accepts, r.len())
        };
        assert_eq!(
            with(9464, false),
            (with(0, false).0 + 1, with(0, false).1 + 1)
        );
        assert_eq!(with(9464, true), (with(0, true).0 + 2, with(0, true).1 + 2));
    }
}
