use std::path::PathBuf;

use hickory_server::proto::op::Query;

use super::*;

// Test keys a and b (testdata/identity.json).
const A: &str = fips_testkit::keys::A.npub;
const A_IPV6: &str = "fd69:e08d:65cc:3a6b:9c2c:2ac4:bd40:5e4b";
const B: &str = fips_testkit::keys::B.npub;

fn book() -> NameBook {
    let b = PeerIdentity::from_npub(B).expect("vector");
    NameBook::new(
        PathBuf::from("/nonexistent/fdns/hosts"),
        &[("bee".to_owned(), b)],
    )
}

fn ask(book: &NameBook, name: &str, qtype: RecordType) -> Reply {
    let name = Name::from_ascii(name).expect("test name");
    answer(book, &LowerQuery::from(Query::query(name, qtype)))
}

fn parts(reply: Reply) -> (ResponseCode, Vec<Record>, Vec<Record>, Option<PeerIdentity>) {
    match reply {
        Reply::Local {
            rcode,
            answers,
            authority,
            named,
        } => (rcode, answers, authority, named),
        Reply::Foreign => panic!("expected a local answer"),
    }
}

#[test]
fn npub_aaaa_is_the_derived_address_with_ttl_300() {
    let (rcode, answers, authority, named) =
        parts(ask(&book(), &format!("{A}.fips."), RecordType::AAAA));
    assert_eq!(rcode, ResponseCode::NoError);
    assert_eq!(answers.len(), 1);
    assert_eq!(answers[0].ttl, 300);
    let want: Ipv6Addr = A_IPV6.parse().expect("literal");
    assert_eq!(answers[0].data, RData::AAAA(AAAA(want)));
    assert!(authority.is_empty());
    assert_eq!(named.map(|id| id.ipv6()), Some(want));
}

#[test]
fn npub_name_is_case_insensitive_and_keeps_the_asked_case() {
    let asked = format!("{}.FIPS.", A.to_ascii_uppercase());
    let (rcode, answers, _, named) = parts(ask(&book(), &asked, RecordType::AAAA));
    assert_eq!(rcode, ResponseCode::NoError);
    assert!(named.is_some());
    assert_eq!(answers[0].name.to_ascii(), asked);
}

#[test]
fn alias_resolves_to_its_peer() {
    let (_, answers, _, named) = parts(ask(&book(), "Bee.fips.", RecordType::AAAA));
    let b = PeerIdentity::from_npub(B).expect("vector");
    assert_eq!(answers[0].data, RData::AAAA(AAAA(b.ipv6())));
    assert_eq!(named, Some(b));
}

#[test]
fn other_types_of_a_valid_name_are_nodata_with_the_soa() {
    for qtype in [
        RecordType::A,
        RecordType::MX,
        RecordType::TXT,
        RecordType::HTTPS,
    ] {
        let (rcode, answers, authority, named) = parts(ask(&book(), &format!("{A}.fips."), qtype));
        assert_eq!(rcode, ResponseCode::NoError, "{qtype}");
        assert!(answers.is_empty());
        assert_eq!(authority[0].record_type(), RecordType::SOA);
        assert_eq!(named, None, "only an address answer teaches the node");
    }
}

#[test]
fn malformed_npub_unknown_name_and_deep_names_are_nxdomain() {
    let bad_checksum = format!("{}x.fips.", &A[..A.len() - 1]);
    for name in [
        bad_checksum.as_str(),
        "npub1abc.fips.",
        "nobody.fips.",
        &format!("www.{A}.fips."),
    ] {
        let (rcode, answers, authority, _) = parts(ask(&book(), name, RecordType::AAAA));
        assert_eq!(rcode, ResponseCode::NXDomain, "{name}");
        assert!(answers.is_empty());
        assert_eq!(authority.len(), 1);
    }
}

#[test]
fn zone_apex_has_soa_and_ns() {
    let (_, answers, _, _) = parts(ask(&book(), "fips.", RecordType::SOA));
    assert!(matches!(answers[0].data, RData::SOA(_)));
    let (_, answers, _, _) = parts(ask(&book(), "FIPS.", RecordType::NS));
    assert_eq!(answers[0].data, RData::NS(NS(localhost())));
    let (rcode, answers, authority, _) = parts(ask(&book(), "fips.", RecordType::AAAA));
    assert_eq!(
        (rcode, answers.len(), authority.len()),
        (ResponseCode::NoError, 0, 1)
    );
}

#[test]
fn ptr_names_known_addresses_only() {
    let b = PeerIdentity::from_npub(B).expect("vector");
    let arpa = |addr: Ipv6Addr| {
        let hex: String = addr.octets().iter().map(|o| format!("{o:02x}")).collect();
        let mut labels: Vec<String> = hex.chars().rev().map(String::from).collect();
        labels.push("ip6.arpa.".to_owned());
        labels.join(".")
    };
    let (rcode, answers, _, _) = parts(ask(&book(), &arpa(b.ipv6()), RecordType::PTR));
    assert_eq!(rcode, ResponseCode::NoError);
    assert_eq!(
        answers[0].data,
        RData::PTR(PTR(Name::from_str("bee.fips.").expect("name")))
    );
    let unknown: Ipv6Addr = A_IPV6.parse().expect("literal");
    let (rcode, _, _, _) = parts(ask(&book(), &arpa(unknown), RecordType::PTR));
    assert_eq!(rcode, ResponseCode::NXDomain);
    let (rcode, answers, _, _) = parts(ask(&book(), "d.f.ip6.arpa.", RecordType::SOA));
    assert_eq!((rcode, answers.len()), (ResponseCode::NoError, 1));
}

#[test]
fn other_zones_are_foreign() {
    assert_eq!(ask(&book(), "example.com.", RecordType::A), Reply::Foreign);
    assert_eq!(ask(&book(), "fips.example.", RecordType::A), Reply::Foreign);
    assert_eq!(
        ask(&book(), "1.0.0.127.in-addr.arpa.", RecordType::PTR),
        Reply::Foreign
    );
    assert_eq!(ask(&book(), ".", RecordType::NS), Reply::Foreign);
}
