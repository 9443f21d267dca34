//! The authoritative part: given one question, what the `fips.` zone and
//! the fd00::/8 reverse zone (`d.f.ip6.arpa.`) say. No sockets here, so
//! every rule is unit-tested. Names outside both zones are `Foreign`: the
//! handler refuses or forwards them.

use std::net::Ipv6Addr;
use std::str::FromStr;
use std::sync::LazyLock;

use hickory_server::proto::op::{LowerQuery, ResponseCode};
use hickory_server::proto::rr::rdata::{AAAA, NS, PTR, SOA};
use hickory_server::proto::rr::{LowerName, Name, RData, Record, RecordType};

use super::names::NameBook;
use super::PeerIdentity;

/// TTL of every record we serve (the reference's value).
pub const TTL: u32 = 300;
/// Negative-caching TTL (SOA minimum, RFC 2308): short, so a name added to
/// the hosts file is not hidden for long by a cached NXDOMAIN.
const NEGATIVE_TTL: u32 = 30;

static FIPS_ZONE: LazyLock<LowerName> = LazyLock::new(|| zone("fips."));
static REVERSE_ZONE: LazyLock<LowerName> = LazyLock::new(|| zone("d.f.ip6.arpa."));
/// 32 nibbles + ip6 + arpa: a full /128 reverse name.
const REVERSE_LABELS: u8 = 34;

fn zone(s: &str) -> LowerName {
    LowerName::from(Name::from_str(s).unwrap_or_else(|_| Name::root()))
}

/// What to send for one question.
#[derive(Debug, PartialEq)]
pub enum Reply {
    /// An authoritative answer (aa set): rcode, answer and authority records,
    /// and the identity the answer names, which the node must learn.
    Local {
        rcode: ResponseCode,
        answers: Vec<Record>,
        authority: Vec<Record>,
        named: Option<PeerIdentity>,
    },
    /// Not one of our zones.
    Foreign,
}

/// Answers `query` (class IN, opcode QUERY already checked by the caller).
pub fn answer(book: &NameBook, query: &LowerQuery) -> Reply {
    let name = query.name();
    if FIPS_ZONE.zone_of(name) {
        forward_zone(book, query)
    } else if REVERSE_ZONE.zone_of(name) {
        reverse_zone(book, query)
    } else {
        Reply::Foreign
    }
}

fn forward_zone(book: &NameBook, query: &LowerQuery) -> Reply {
    let owner = query.original().name().clone();
    let qtype = query.query_type();
    match query.name().num_labels() {
        1 => apex(&FIPS_ZONE, owner, qtype),
        2 => {
            let label = first_label(query.name());
            match book.lookup(&label) {
                Some(id) if matches!(qtype, RecordType::AAAA | RecordType::ANY) => {
                    let aaaa = Record::from_rdata(owner, TTL, RData::AAAA(AAAA(id.ipv6())));
                    found(vec![aaaa], Some(id))
                }
                Some(_) => no_data(&FIPS_ZONE),
                None => nx_domain(&FIPS_ZONE),
            }
        }
        _ => nx_domain(&FIPS_ZONE),
    }
}

fn reverse_zone(book: &NameBook, query: &LowerQuery) -> Reply {
    let owner = query.original().name().clone();
    let qtype = query.query_type();
    let labels = query.name().num_labels();
    if labels == REVERSE_ZONE.num_labels() {
        return apex(&REVERSE_ZONE, owner, qtype);
    }
    if labels != REVERSE_LABELS {
        // An empty non-terminal: exists (RFC 8020), has no data.
        return no_data(&REVERSE_ZONE);
    }
    let Some(addr) = reverse_addr(&owner) else {
        return nx_domain(&REVERSE_ZONE);
    };
    match book.reverse(&addr) {
        Some(label) if matches!(qtype, RecordType::PTR | RecordType::ANY) => {
            let Ok(target) = Name::from_str(&format!("{label}.fips.")) else {
                return nx_domain(&REVERSE_ZONE);
            };
            found(
                vec![Record::from_rdata(owner, TTL, RData::PTR(PTR(target)))],
                None,
            )
        }
        Some(_) => no_data(&REVERSE_ZONE),
        None => nx_domain(&REVERSE_ZONE),
    }
}

/// The address of a full reverse name: 32 single-hex-digit labels, least
/// significant first, then `ip6.arpa`.
fn reverse_addr(name: &Name) -> Option<Ipv6Addr> {
    let mut value: u128 = 0;
    for (i, label) in name.iter().take(32).enumerate() {
        let [digit] = label else { return None };
        let nibble = char::from(*digit).to_digit(16)?;
        value |= u128::from(nibble) << (4 * i);
    }
    Some(Ipv6Addr::from(value))
}

fn apex(zone: &LowerName, owner: Name, qtype: RecordType) -> Reply {
    let mut answers = Vec::new();
    if matches!(qtype, RecordType::SOA | RecordType::ANY) {
        answers.push(soa_record(owner.clone()));
    }
    if matches!(qtype, RecordType::NS | RecordType::ANY) {
        answers.push(Record::from_rdata(owner, TTL, RData::NS(NS(localhost()))));
    }
    if answers.is_empty() {
        no_data(zone)
    } else {
        found(answers, None)
    }
}

fn found(answers: Vec<Record>, named: Option<PeerIdentity>) -> Reply {
    Reply::Local {
        rcode: ResponseCode::NoError,
        answers,
        authority: Vec::new(),
        named,
    }
}

fn no_data(zone: &LowerName) -> Reply {
    negative(zone, ResponseCode::NoError)
}

fn nx_domain(zone: &LowerName) -> Reply {
    negative(zone, ResponseCode::NXDomain)
}

/// A negative answer carries the zone's SOA so resolvers can cache it.
fn negative(zone: &LowerName, rcode: ResponseCode) -> Reply {
    let soa = soa_record(Name::from(zone.clone()));
    Reply::Local {
        rcode,
        answers: Vec::new(),
        authority: vec![soa],
        named: None,
    }
}

/// The zones exist only on this host, like `localhost.`: the server is
/// named `localhost.` so nothing tries to reach another one.
fn soa_record(owner: Name) -> Record {
    let rname = Name::from_str("hostmaster.invalid.").unwrap_or_else(|_| Name::root());
    let soa = SOA::new(localhost(), rname, 1, 3600, 600, 86400, NEGATIVE_TTL);
    Record::from_rdata(owner, TTL, RData::SOA(soa))
}

fn localhost() -> Name {
    Name::from_str("localhost.").unwrap_or_else(|_| Name::root())
}

/// The first label, lowercased (LowerName already is) as text. Labels that
/// are not ASCII cannot be ours; they map to a string no lookup matches.
fn first_label(name: &LowerName) -> String {
    let name = Name::from(name.clone());
    name.iter()
        .next()
        .and_then(|l| std::str::from_utf8(l).ok())
        .unwrap_or("")
        .to_owned()
}

#[cfg(test)]
#[path = "answer_tests.rs"]
mod tests;
