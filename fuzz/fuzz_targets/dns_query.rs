//! The DNS server's request path from structured queries: names in the
//! forms the server knows (`<npub>.fips` with valid, mistyped and
//! mixed-case keys, hosts-file names, aliases, fd00::/8 reverse names, the
//! zone apexes) and forms it must refuse, odd qtypes and classes, several
//! questions, EDNS with odd sizes, versions and options, and the message
//! cut short. Besides "no panic, the reply decodes and fits", a well-formed
//! AAAA question for a known name must get that identity's address, and the
//! node must be told exactly the identities the answers name.
#![no_main]

#[path = "../common/dns.rs"]
mod common;

use arbitrary::Arbitrary;
use fips::dns::PeerIdentity;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RData;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    id: u16,
    /// Header bits other than QR and the opcode (RD, CD, AD, Z, ...).
    flags: u16,
    opcode: u8,
    response_bit: bool,
    questions: Vec<Question>,
    edns: Option<Edns>,
    tcp: bool,
    /// Cut the encoded message to this many bytes.
    cut: Option<u16>,
}

#[derive(Arbitrary, Debug)]
struct Question {
    name: QName,
    qtype: QType,
    /// None is IN.
    qclass: Option<u16>,
}

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq)]
enum QType {
    Aaaa,
    A,
    Any,
    Ptr,
    Soa,
    Ns,
    Axfr,
    Ixfr,
    Other(u16),
}

impl QType {
    fn code(self) -> u16 {
        match self {
            QType::Aaaa => 28,
            QType::A => 1,
            QType::Any => 255,
            QType::Ptr => 12,
            QType::Soa => 6,
            QType::Ns => 2,
            QType::Axfr => 252,
            QType::Ixfr => 251,
            QType::Other(c) => c,
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Key {
    Known(u8),
    /// 32 bytes read as an x-only key (about half are on the curve).
    Xonly([u8; 32]),
    /// A known npub with one character replaced.
    Typo {
        which: u8,
        at: u8,
        ch: u8,
    },
}

#[derive(Arbitrary, Debug)]
enum QName {
    /// `<npub>.fips.`, with a case mask and optional labels around it.
    Npub {
        key: Key,
        upper: u64,
        prefix: Option<String>,
        zone: Zone,
    },
    Host {
        which: u8,
        upper: u64,
    },
    /// The reverse name of an address: `nibbles` of its 32 labels.
    Reverse {
        addr: Addr,
        nibbles: u8,
        odd: Option<(u8, String)>,
    },
    Apex(Zone),
    Labels {
        labels: Vec<Vec<u8>>,
        zone: Zone,
    },
    /// A compression pointer where the name should be.
    Pointer(u16),
}

#[derive(Arbitrary, Debug)]
enum Addr {
    Known(u8),
    Raw([u8; 16]),
}

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq)]
enum Zone {
    Fips,
    Reverse,
    FipsUpper,
    Arpa,
    Root,
    Other,
}

#[derive(Arbitrary, Debug)]
struct Edns {
    payload: u16,
    rcode_high: u8,
    version: u8,
    dnssec_ok: bool,
    options: Vec<(u16, Vec<u8>)>,
    /// A second OPT record (RFC 6891 says FORMERR).
    twice: bool,
}

fuzz_target!(|input: Input| {
    if input.questions.len() > 4 {
        return;
    }
    let mut wire = Vec::new();
    let expect = encode(&input, &mut wire);
    let raw = match input.cut {
        Some(n) if usize::from(n) < wire.len() => &wire[..usize::from(n)],
        _ => &wire[..],
    };
    let mut server = common::responder();
    let reply = server.respond(raw, *common::SRC, input.tcp);
    let told = server.told();
    let Some(reply) = reply else {
        assert!(
            told.is_empty(),
            "told the node about a name it sent no answer for"
        );
        return;
    };
    let msg = common::check_reply(raw, !input.tcp, &reply);
    let addrs: Vec<_> = msg
        .answers
        .iter()
        .filter_map(|r| match r.data {
            RData::AAAA(a) => Some(a.0),
            _ => None,
        })
        .collect();
    for id in &told {
        assert!(
            addrs.contains(&id.ipv6()),
            "told the node about {id:?}, not in the answer"
        );
    }
    let Some(id) = expect.filter(|_| raw.len() == wire.len()) else {
        return;
    };
    assert_eq!(
        msg.metadata.response_code,
        ResponseCode::NoError,
        "{input:?}"
    );
    assert!(msg.metadata.authoritative);
    assert_eq!(addrs, vec![id.ipv6()], "{input:?}");
});

/// Writes the message; returns the identity a correct server must answer
/// with when the message is a plain AAAA query for one known name.
fn encode(input: &Input, out: &mut Vec<u8>) -> Option<PeerIdentity> {
    let opcode = input.opcode & 0x0f;
    let qr = u16::from(input.response_bit) << 15;
    let flags = qr | u16::from(opcode) << 11 | (input.flags & 0x07ff & !0x000f);
    out.extend_from_slice(&input.id.to_be_bytes());
    out.extend_from_slice(&flags.to_be_bytes());
    let opts = input.edns.as_ref().map_or(0, |e| 1 + u16::from(e.twice));
    for n in [input.questions.len() as u16, 0, 0, opts] {
        out.extend_from_slice(&n.to_be_bytes());
    }
    let mut expect = None;
    for q in &input.questions {
        let named = name(&q.name, out);
        out.extend_from_slice(&q.qtype.code().to_be_bytes());
        out.extend_from_slice(&q.qclass.unwrap_or(1).to_be_bytes());
        if matches!(q.qtype, QType::Aaaa) && q.qclass.is_none_or(|c| c == 1) {
            expect = named;
        }
    }
    if let Some(e) = &input.edns {
        for _ in 0..opts {
            opt_record(e, out);
        }
    }
    let plain = input.questions.len() == 1
        && opcode == 0
        && !input.response_bit
        && input
            .edns
            .as_ref()
            .is_none_or(|e| e.version == 0 && !e.twice && e.rcode_high == 0);
    expect.filter(|_| plain)
}

fn opt_record(e: &Edns, out: &mut Vec<u8>) {
    out.push(0); // root owner
    out.extend_from_slice(&41u16.to_be_bytes());
    out.extend_from_slice(&e.payload.to_be_bytes());
    out.push(e.rcode_high);
    out.push(e.version);
    out.extend_from_slice(&(u16::from(e.dnssec_ok) << 15).to_be_bytes());
    let mut rdata = Vec::new();
    for (code, data) in e.options.iter().take(4) {
        let data = &data[..data.len().min(64)];
        rdata.extend_from_slice(&code.to_be_bytes());
        rdata.extend_from_slice(&(data.len() as u16).to_be_bytes());
        rdata.extend_from_slice(data);
    }
    out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    out.extend_from_slice(&rdata);
}

/// Writes the name; returns the identity it names when it is a well-formed
/// name of the fips zone the server must resolve.
fn name(q: &QName, out: &mut Vec<u8>) -> Option<PeerIdentity> {
    match q {
        QName::Npub {
            key,
            upper,
            prefix,
            zone,
        } => {
            let (text, id) = npub(key);
            if let Some(p) = prefix {
                label(p.as_bytes(), out);
            }
            label(cased(&text, *upper).as_bytes(), out);
            zone_labels(*zone, out);
            id.filter(|_| prefix.is_none() && matches!(zone, Zone::Fips | Zone::FipsUpper))
        }
        QName::Host { which, upper } => {
            let (text, id) = match which % 3 {
                0 => (common::HOSTS[0], common::known(0)),
                1 => (common::HOSTS[1], common::known(2)),
                _ => (common::ALIAS, common::known(1)),
            };
            label(cased(text, *upper).as_bytes(), out);
            zone_labels(Zone::Fips, out);
            Some(id)
        }
        QName::Reverse { addr, nibbles, odd } => {
            let octets = match addr {
                Addr::Known(i) => common::known(usize::from(*i)).ipv6().octets(),
                Addr::Raw(b) => *b,
            };
            let digits: Vec<u8> = octets.iter().flat_map(|b| [b >> 4, b & 0x0f]).collect();
            let take = usize::from(*nibbles).min(32);
            for (i, d) in digits.iter().rev().take(take).enumerate() {
                match odd {
                    Some((at, text)) if usize::from(*at) == i => label(text.as_bytes(), out),
                    _ => label(format!("{d:x}").as_bytes(), out),
                }
            }
            zone_labels(Zone::Arpa, out);
            None
        }
        QName::Apex(zone) => {
            zone_labels(*zone, out);
            None
        }
        QName::Labels { labels, zone } => {
            for l in labels.iter().take(8) {
                label(l, out);
            }
            zone_labels(*zone, out);
            None
        }
        QName::Pointer(p) => {
            out.extend_from_slice(&(0xc000 | (p & 0x3fff)).to_be_bytes());
            None
        }
    }
}

fn npub(key: &Key) -> (String, Option<PeerIdentity>) {
    match key {
        Key::Known(i) => {
            let id = common::known(usize::from(*i));
            (id.npub(), Some(id))
        }
        Key::Xonly(b) => match PeerIdentity::from_xonly(*b) {
            Ok(id) => (id.npub(), Some(id)),
            Err(_) => (format!("npub1{}", hex(b)), None),
        },
        Key::Typo { which, at, ch } => {
            let mut text = common::KNOWN[usize::from(*which) % 4].as_bytes().to_vec();
            let at = usize::from(*at) % text.len();
            let was = text[at];
            text[at] = *ch;
            let id = (was.eq_ignore_ascii_case(ch)).then(|| common::known(usize::from(*which)));
            (String::from_utf8_lossy(&text).into_owned(), id)
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Upper-cases the letters whose bit is set in `mask` (DNS names are
/// case-insensitive; bech32 forbids mixed case, but the server lowercases).
fn cased(text: &str, mask: u64) -> String {
    text.chars()
        .enumerate()
        .map(|(i, c)| {
            if mask >> (i % 64) & 1 == 1 {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect()
}

/// A label as the wire holds it: longer than 63 bytes is cut to 63, so the
/// length byte is never read as a pointer (the Pointer name does that).
fn label(l: &[u8], out: &mut Vec<u8>) {
    let l = &l[..l.len().min(63)];
    out.push(l.len() as u8);
    out.extend_from_slice(l);
}

fn zone_labels(zone: Zone, out: &mut Vec<u8>) {
    let labels: &[&str] = match zone {
        Zone::Fips => &["fips"],
        Zone::FipsUpper => &["FIPS"],
        Zone::Reverse => &["d", "f", "ip6", "arpa"],
        Zone::Arpa => &["ip6", "arpa"],
        Zone::Root => &[],
        Zone::Other => &["fips", "example"],
    };
    for l in labels {
        label(l.as_bytes(), out);
    }
    out.push(0);
}
