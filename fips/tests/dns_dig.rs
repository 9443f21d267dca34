//! The DNS server on loopback, queried with real `dig` over UDP and TCP.
//! Each test binds its own server on a free port.

mod dns_support;

use std::net::{Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use dns_support::*;
use fips::dns::DnsConfig;

fn config(hosts: &TempHosts) -> DnsConfig {
    DnsConfig {
        bind: "127.0.0.1:0".parse().expect("literal"),
        hosts_file: hosts.path.clone(),
        aliases: vec![("peer-b".to_owned(), id(NPUB_B))],
        upstream_timeout: Duration::from_millis(500),
        ..DnsConfig::default()
    }
}

fn server() -> (ServerThread, TempHosts) {
    let hosts = TempHosts::new(&format!("# test roster\nlaptop {NPUB_C}\n"));
    (start_server(config(&hosts), None), hosts)
}

fn aaaa_of(out: &str) -> Vec<String> {
    answers(out)
        .into_iter()
        .filter(|a| a.2 == "AAAA")
        .map(|a| a.3)
        .collect()
}

#[test]
fn npub_aaaa_is_the_derived_address_with_ttl_300_and_aa_over_udp_and_tcp() {
    let (srv, _hosts) = server();
    for transport in ["+notcp", "+tcp"] {
        let out = dig(srv.addr, &[transport, &format!("{NPUB_A}.fips"), "AAAA"]);
        assert_eq!(status(&out), "NOERROR", "{out}");
        assert!(flags(&out).split(' ').any(|f| f == "aa"), "{out}");
        let ans = answers(&out);
        assert_eq!(ans.len(), 1, "{out}");
        assert_eq!(ans[0].1, 300);
        assert_eq!(ans[0].3, ipv6_of(keys::A));
    }
}

#[test]
fn npub_names_resolve_in_any_case_with_or_without_trailing_dot() {
    let (srv, _hosts) = server();
    let upper = format!("{}.FIPS", NPUB_A.to_ascii_uppercase());
    let mixed = format!("{NPUB_A}.FiPs.");
    for name in [
        format!("{NPUB_A}.fips"),
        format!("{NPUB_A}.fips."),
        upper,
        mixed,
    ] {
        let out = dig(srv.addr, &[&name, "AAAA"]);
        assert_eq!(aaaa_of(&out), vec![ipv6_of(keys::A)], "{name}: {out}");
    }
}

#[test]
fn answering_a_name_tells_the_node_its_identity_before_the_reply() {
    let (mut srv, _hosts) = server();
    let out = dig(srv.addr, &[&format!("{NPUB_A}.fips"), "AAAA"]);
    assert_eq!(status(&out), "NOERROR");
    // dig has returned, so the identity was queued before the answer left.
    assert_eq!(srv.identities.try_recv().ok(), Some(id(NPUB_A)));
    let out = dig(srv.addr, &["laptop.fips", "AAAA"]);
    assert_eq!(status(&out), "NOERROR");
    assert_eq!(srv.identities.try_recv().ok(), Some(id(NPUB_C)));
    // NXDOMAIN and NODATA name nothing to the node.
    dig(srv.addr, &["nobody.fips", "AAAA"]);
    dig(srv.addr, &[&format!("{NPUB_B}.fips"), "A"]);
    assert!(srv.identities.try_recv().is_err());
}

#[test]
fn configured_peer_alias_resolves() {
    let (srv, _hosts) = server();
    let out = dig(srv.addr, &["peer-b.fips", "AAAA"]);
    assert_eq!(aaaa_of(&out), vec![ipv6_of(keys::B)], "{out}");
    assert_eq!(answers(&out)[0].1, 300);
}

#[test]
fn hosts_file_names_resolve_and_edits_apply_without_restart() {
    let (srv, hosts) = server();
    assert_eq!(
        aaaa_of(&dig(srv.addr, &["laptop.fips", "AAAA"])),
        vec![ipv6_of(keys::C)]
    );
    hosts.rewrite(&format!(
        "desk {NPUB_A}\n# laptop removed\npeer-b {NPUB_C}\n"
    ));
    assert_eq!(
        aaaa_of(&dig(srv.addr, &["desk.fips", "AAAA"])),
        vec![ipv6_of(keys::A)]
    );
    assert_eq!(status(&dig(srv.addr, &["laptop.fips", "AAAA"])), "NXDOMAIN");
    // The hosts file wins over a peer alias of the same name.
    assert_eq!(
        aaaa_of(&dig(srv.addr, &["peer-b.fips", "AAAA"])),
        vec![ipv6_of(keys::C)]
    );
}

#[test]
fn other_record_types_of_a_valid_name_are_noerror_without_answers() {
    let (srv, _hosts) = server();
    for qtype in ["A", "MX", "TXT", "HTTPS", "SRV"] {
        let out = dig(srv.addr, &[&format!("{NPUB_A}.fips"), qtype]);
        assert_eq!(status(&out), "NOERROR", "{qtype}: {out}");
        assert!(answers(&out).is_empty(), "{qtype}: {out}");
        assert_eq!(
            authority(&out).first().map(|r| r.2.clone()).as_deref(),
            Some("SOA"),
            "{out}"
        );
    }
}

#[test]
fn malformed_npubs_and_unknown_names_are_nxdomain() {
    let (srv, _hosts) = server();
    let bad_checksum = format!("{}q.fips", &NPUB_A[..NPUB_A.len() - 1]);
    let too_short = format!("{}.fips", &NPUB_A[..40]);
    let deep = format!("www.{NPUB_A}.fips");
    for name in [
        bad_checksum.as_str(),
        &too_short,
        "nobody.fips",
        "npub1.fips",
        &deep,
    ] {
        let out = dig(srv.addr, &[name, "AAAA"]);
        assert_eq!(status(&out), "NXDOMAIN", "{name}: {out}");
        assert!(flags(&out).contains("aa"), "{out}");
        assert_eq!(
            authority(&out).len(),
            1,
            "negative answers carry the SOA: {out}"
        );
    }
}

#[test]
fn ptr_names_hosts_aliases_and_answered_npubs() {
    let (srv, _hosts) = server();
    let ptr = |addr: &str| {
        let out = dig(srv.addr, &["-x", addr]);
        (
            status(&out),
            answers(&out).into_iter().map(|a| a.3).collect::<Vec<_>>(),
        )
    };
    assert_eq!(
        ptr(&ipv6_of(keys::C)),
        ("NOERROR".to_owned(), vec!["laptop.fips.".to_owned()])
    );
    assert_eq!(
        ptr(&ipv6_of(keys::B)),
        ("NOERROR".to_owned(), vec!["peer-b.fips.".to_owned()])
    );
    assert_eq!(
        ptr(&ipv6_of(keys::A)).0,
        "NXDOMAIN",
        "not answered yet, so unknown"
    );
    dig(srv.addr, &[&format!("{NPUB_A}.fips"), "AAAA"]);
    assert_eq!(
        ptr(&ipv6_of(keys::A)),
        ("NOERROR".to_owned(), vec![format!("{NPUB_A}.fips.")])
    );
    let fd_unknown: Ipv6Addr = "fd00::1".parse().expect("literal");
    assert_eq!(ptr(&fd_unknown.to_string()).0, "NXDOMAIN");
}

#[test]
fn zone_apex_answers_soa_and_ns() {
    let (srv, _hosts) = server();
    let out = dig(srv.addr, &["fips.", "SOA"]);
    assert_eq!(status(&out), "NOERROR");
    let soa = answers(&out);
    assert_eq!(soa.len(), 1, "{out}");
    assert_eq!((soa[0].0.as_str(), soa[0].2.as_str()), ("fips.", "SOA"));
    assert!(soa[0].3.starts_with("localhost. "), "{out}");
    let ns = answers(&dig(srv.addr, &["fips", "NS"]));
    assert_eq!(
        ns.first().map(|r| (r.2.clone(), r.3.clone())),
        Some(("NS".into(), "localhost.".into()))
    );
}

#[test]
fn other_names_are_refused_when_no_upstream_is_configured() {
    let (srv, _hosts) = server();
    for args in [
        ["example.com", "A"],
        ["1.0.0.127.in-addr.arpa", "PTR"],
        [".", "NS"],
    ] {
        let out = dig(srv.addr, &args);
        assert_eq!(status(&out), "REFUSED", "{args:?}: {out}");
    }
}

#[test]
fn other_names_go_to_the_configured_upstream_over_udp_and_tcp() {
    let hosts = TempHosts::new("");
    let (up, _up) = start_upstream("127.0.0.1:0".parse().expect("lit"), Upstream::Answers, None);
    let srv = start_server(
        DnsConfig {
            upstream: Some(up),
            ..config(&hosts)
        },
        None,
    );
    for transport in ["+notcp", "+tcp"] {
        let out = dig(srv.addr, &[transport, "db.example", "A"]);
        assert_eq!(status(&out), "NOERROR", "{out}");
        assert_eq!(
            answers(&out).first().map(|a| a.3.clone()),
            Some(UPSTREAM_A.to_string()),
            "{out}"
        );
        assert!(
            !flags(&out).contains("aa"),
            "forwarded answers are not ours: {out}"
        );
    }
    // .fips names never leave.
    assert_eq!(
        aaaa_of(&dig(srv.addr, &[&format!("{NPUB_A}.fips"), "AAAA"])),
        vec![ipv6_of(keys::A)]
    );
}

#[test]
fn silent_or_dead_upstream_gives_servfail_after_the_timeout() {
    let hosts = TempHosts::new("");
    let (silent, _bg) = start_upstream("127.0.0.1:0".parse().expect("lit"), Upstream::Silent, None);
    let dead: SocketAddr = {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        s.local_addr().expect("addr") // closed at the end of the block: nothing listens
    };
    for upstream in [silent, dead] {
        let srv = start_server(
            DnsConfig {
                upstream: Some(upstream),
                ..config(&hosts)
            },
            None,
        );
        let t0 = Instant::now();
        let out = dig(srv.addr, &["db.example", "A"]);
        assert_eq!(status(&out), "SERVFAIL", "{upstream}: {out}");
        assert!(
            t0.elapsed() < Duration::from_secs(2),
            "bounded by the 500 ms timeout"
        );
    }
}

#[test]
fn forwards_beyond_the_limit_fail_fast_and_fips_names_still_answer() {
    let hosts = TempHosts::new("");
    let (silent, _bg) = start_upstream("127.0.0.1:0".parse().expect("lit"), Upstream::Silent, None);
    let cfg = DnsConfig {
        upstream: Some(silent),
        upstream_timeout: Duration::from_secs(2),
        max_forwards: 2,
        ..config(&hosts)
    };
    let srv = start_server(cfg, None);
    let addr = srv.addr;
    let hanging: Vec<_> = (0..2)
        .map(|i| std::thread::spawn(move || dig(addr, &[&format!("slow{i}.example"), "A"])))
        .collect();
    // Both digs hold their forward slot from their start until the 2 s
    // timeout: at 1 s they have started and still hold it, with a second of
    // margin either way.
    std::thread::sleep(Duration::from_millis(1000));
    let t0 = Instant::now();
    assert_eq!(status(&dig(addr, &["third.example", "A"])), "SERVFAIL");
    assert_eq!(
        aaaa_of(&dig(addr, &[&format!("{NPUB_A}.fips"), "AAAA"])),
        vec![ipv6_of(keys::A)]
    );
    assert!(
        t0.elapsed() < Duration::from_secs(1),
        "neither waited for the hung forwards"
    );
    for h in hanging {
        assert_eq!(status(&h.join().expect("dig thread")), "SERVFAIL");
    }
}

#[test]
fn edns_is_echoed_and_unknown_edns_versions_get_badvers() {
    let (srv, _hosts) = server();
    let out = dig(
        srv.addr,
        &[
            "+edns=0",
            "+bufsize=1232",
            &format!("{NPUB_A}.fips"),
            "AAAA",
        ],
    );
    assert!(out.contains("; EDNS: version: 0"), "{out}");
    let out = dig(
        srv.addr,
        &[
            "+edns=1",
            "+noednsnegotiation",
            &format!("{NPUB_A}.fips"),
            "AAAA",
        ],
    );
    assert_eq!(status(&out), "BADVERS", "{out}");
    let out = dig(srv.addr, &["+noedns", &format!("{NPUB_A}.fips"), "AAAA"]);
    assert!(!out.contains("OPT PSEUDOSECTION"), "{out}");
    assert_eq!(status(&out), "NOERROR");
}

#[test]
fn zone_transfers_are_refused() {
    let (srv, _hosts) = server();
    let out = dig(srv.addr, &["fips.", "AXFR"]);
    assert!(
        out.contains("Transfer failed") || out.contains("REFUSED"),
        "{out}"
    );
}

#[test]
fn bind_reports_a_busy_port_and_shutdown_frees_it() {
    let (srv, hosts) = server();
    let addr = srv.addr;
    let busy = DnsConfig {
        bind: addr,
        ..config(&hosts)
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let (tx, _rx) = tokio::sync::mpsc::channel(1);
    let err = rt
        .block_on(fips::dns::DnsServer::bind(busy.clone(), tx.clone()))
        .err()
        .expect("the port is taken");
    assert!(
        err.to_string().contains("cannot bind the DNS UDP socket"),
        "{err}"
    );
    drop(srv); // stops the server and joins its thread
               // The listener tasks close their sockets as they wind down: allow them
               // a moment under a loaded test run, but the port must come free.
    let again = fips_testkit::wait::retry(std::time::Duration::from_secs(3), || {
        rt.block_on(fips::dns::DnsServer::bind(busy.clone(), tx.clone()))
    })
    .unwrap_or_else(|e| panic!("port still busy 3 s after shutdown: {e}"));
    assert_eq!(again.local_addr(), addr);
}

#[test]
fn listens_on_ipv6_loopback_like_the_reference_default() {
    let hosts = TempHosts::new("");
    let cfg = DnsConfig {
        bind: "[::1]:0".parse().expect("literal"),
        ..config(&hosts)
    };
    let srv = start_server(cfg, None);
    for transport in ["+notcp", "+tcp"] {
        let out = dig(srv.addr, &[transport, &format!("{NPUB_A}.fips"), "AAAA"]);
        assert_eq!(aaaa_of(&out), vec![ipv6_of(keys::A)], "{out}");
    }
}
