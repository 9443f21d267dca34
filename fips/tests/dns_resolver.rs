//! The system resolver against the server: each test makes a namespace
//! `fdns-*` whose /etc/netns/NAME/resolv.conf says `nameserver 127.0.0.1`,
//! runs the server on 127.0.0.1:53 inside it (the sidecar's setting), and
//! asks glibc through `ip netns exec NAME getent ...` (and `dig` with no
//! server given, which reads the same resolv.conf).

mod dns_support;

use std::net::SocketAddr;
use std::time::Duration;

use dns_support::*;
use fips::dns::DnsConfig;
use fips_testkit::netns::output;

struct Sidecar {
    ns: NetNs,
    hosts: TempHosts,
    _srv: ServerThread,
    _upstream: Option<Background>,
}

fn sidecar(tag: &str, upstream: Option<(SocketAddr, Upstream)>) -> Sidecar {
    let ns = resolver_ns(tag);
    let hosts = TempHosts::new(&format!("laptop {NPUB_C}\n"));
    let (up_addr, up_bg) = match upstream {
        Some((addr, mode)) => {
            let (a, bg) = start_upstream(addr, mode, Some(&ns.name));
            (Some(a), Some(bg))
        }
        None => (None, None),
    };
    let cfg = DnsConfig {
        bind: "127.0.0.1:53".parse().expect("literal"),
        upstream: up_addr,
        upstream_timeout: Duration::from_millis(500),
        hosts_file: hosts.path.clone(),
        aliases: vec![("peer-b".to_owned(), id(NPUB_B))],
        ..DnsConfig::default()
    };
    let srv = start_server(cfg, Some(&ns.name));
    Sidecar {
        ns,
        hosts,
        _srv: srv,
        _upstream: up_bg,
    }
}

impl Sidecar {
    /// `getent DB KEY` in the namespace: (exit code, stdout).
    fn getent(&self, db: &str, key: &str) -> (i32, String) {
        let out = output(self.ns.command("getent").args([db, key]));
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }

    /// The addresses getaddrinfo returns (first column, deduplicated).
    fn addrs(&self, db: &str, name: &str) -> Vec<String> {
        let (code, out) = self.getent(db, name);
        assert!(code == 0 || code == 2, "getent {db} {name}: exit {code}");
        let mut v: Vec<String> = out
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .map(str::to_owned)
            .collect();
        v.dedup();
        v
    }

    /// `dig` in the namespace with no server: it uses the resolv.conf.
    fn dig(&self, args: &[&str]) -> String {
        let dig = output(
            self.ns
                .command("dig")
                .args(["+time=2", "+tries=1"])
                .args(args),
        );
        String::from_utf8_lossy(&dig.stdout).into_owned()
    }
}

#[test]
fn getaddrinfo_resolves_npub_names_in_any_case_and_with_trailing_dot() {
    let sc = sidecar("res-aaaa", None);
    let upper = format!("{}.FIPS", NPUB_A.to_ascii_uppercase());
    for name in [format!("{NPUB_A}.fips"), format!("{NPUB_A}.fips."), upper] {
        assert_eq!(
            sc.addrs("ahostsv6", &name),
            vec![ipv6_of(keys::A)],
            "{name}"
        );
    }
    let out = sc.dig(&[&format!("{NPUB_A}.fips"), "AAAA"]);
    assert!(
        out.contains("SERVER: 127.0.0.1#53"),
        "dig used the namespace's resolv.conf: {out}"
    );
    assert_eq!(answers(&out).first().map(|a| a.1), Some(300));
}

#[test]
fn getaddrinfo_resolves_aliases_and_hosts_file_names_and_sees_edits() {
    let sc = sidecar("res-names", None);
    assert_eq!(sc.addrs("ahostsv6", "peer-b.fips"), vec![ipv6_of(keys::B)]);
    assert_eq!(sc.addrs("ahostsv6", "laptop.fips"), vec![ipv6_of(keys::C)]);
    sc.hosts.rewrite(&format!("desk {NPUB_A}\n"));
    assert_eq!(sc.addrs("ahostsv6", "desk.fips"), vec![ipv6_of(keys::A)]);
    assert_eq!(
        sc.getent("ahostsv6", "laptop.fips").0,
        2,
        "removed from the hosts file"
    );
}

#[test]
fn unknown_and_malformed_names_fail_with_nxdomain() {
    let sc = sidecar("res-nx", None);
    let bad = format!("{}q.fips", &NPUB_A[..NPUB_A.len() - 1]);
    for name in [bad.as_str(), "nobody.fips"] {
        assert_eq!(sc.getent("ahostsv6", name).0, 2, "{name}");
        assert_eq!(status(&sc.dig(&[name, "AAAA"])), "NXDOMAIN", "{name}");
    }
}

#[test]
fn ipv4_lookups_of_fips_names_find_nothing_but_the_name_exists() {
    let sc = sidecar("res-nodata", None);
    let name = format!("{NPUB_A}.fips");
    assert_eq!(sc.getent("ahostsv4", &name).0, 2);
    let out = sc.dig(&[&name, "A"]);
    assert_eq!(status(&out), "NOERROR", "{out}");
    assert!(answers(&out).is_empty());
    // getaddrinfo for any family still returns the IPv6 address.
    assert_eq!(sc.addrs("ahosts", &name), vec![ipv6_of(keys::A)]);
}

#[test]
fn reverse_lookup_names_known_addresses() {
    let sc = sidecar("res-ptr", None);
    let (code, out) = sc.getent("hosts", &ipv6_of(keys::C));
    assert_eq!(code, 0);
    assert!(out.contains("laptop.fips"), "{out}");
    assert_eq!(sc.getent("hosts", "fd00::1").0, 2);
}

#[test]
fn resolvers_find_soa_and_ns_for_the_zone() {
    let sc = sidecar("res-soa", None);
    let soa = answers(&sc.dig(&["fips.", "SOA"]));
    assert_eq!(soa.first().map(|r| r.2.as_str()), Some("SOA"));
    let ns = answers(&sc.dig(&["fips.", "NS"]));
    assert_eq!(ns.first().map(|r| r.3.as_str()), Some("localhost."));
}

#[test]
fn other_names_are_refused_without_an_upstream() {
    let sc = sidecar("res-refuse", None);
    assert_eq!(sc.getent("ahostsv4", "db.example").0, 2);
    assert_eq!(status(&sc.dig(&["db.example", "A"])), "REFUSED");
}

#[test]
fn other_names_are_forwarded_to_the_upstream_like_dockers_resolver() {
    let up: SocketAddr = "127.0.0.11:53".parse().expect("literal");
    let sc = sidecar("res-fwd", Some((up, Upstream::Answers)));
    assert_eq!(
        sc.addrs("ahostsv4", "db.example"),
        vec![UPSTREAM_A.to_string()]
    );
    assert_eq!(
        sc.addrs("ahostsv6", &format!("{NPUB_A}.fips")),
        vec![ipv6_of(keys::A)]
    );
}

#[test]
fn a_silent_upstream_gives_servfail() {
    let up: SocketAddr = "127.0.0.11:53".parse().expect("literal");
    let sc = sidecar("res-servfail", Some((up, Upstream::Silent)));
    assert_eq!(status(&sc.dig(&["db.example", "A"])), "SERVFAIL");
    assert_eq!(sc.getent("ahostsv4", "db.example").0, 2);
}

#[test]
fn garbage_sent_inside_the_namespace_does_not_stop_resolution() {
    let sc = sidecar("res-junk", None);
    sc.ns.enter(|| {
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        for len in [0usize, 3, 12, 13, 512, 5000] {
            let junk: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            sock.send_to(&junk, "127.0.0.1:53").expect("send");
        }
    });
    assert_eq!(
        sc.addrs("ahostsv6", &format!("{NPUB_A}.fips")),
        vec![ipv6_of(keys::A)]
    );
}
