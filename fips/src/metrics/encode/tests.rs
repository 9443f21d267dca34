use super::*;
use crate::metrics::snapshot::{bound_labels, OTHER_PEERS};

fn figures() -> NodeFigures {
    let links = (0..40)
        .map(|i| LinkFigures {
            peer: format!("peer-{i:02}"),
            rtt_seconds: Some(0.012),
            loss_ratio: Some(0.25),
            bytes_sent: 1000,
            bytes_recv: 2000,
            packets_sent: 10,
            packets_recv: 20,
        })
        .collect();
    let mut f = NodeFigures {
        npub: "npub1test".into(),
        node_addr: "aa".repeat(16),
        peers_connected: 39,
        peers_silent: 1,
        links_up: 40,
        links: bound_labels(links),
        sessions: vec![("established", 3)],
        tree_depth: 2,
        tree_root: "bb".repeat(16),
        links_established: 41,
        ..NodeFigures::default()
    };
    f.dataplane.no_route = 7;
    f.node.handshake_failed = 5;
    f
}

fn scrape(f: NodeFigures) -> String {
    let (_tx, rx) = watch::channel(Arc::new(f));
    let sources = Sources {
        node: rx,
        firewall_iface: None,
        server: Arc::new(ServerStats::default()),
    };
    render(&registry(sources)).expect("encodes")
}

/// The sample lines of a family (name followed by `{` or a space).
fn samples<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|r| r.starts_with('{') || r.starts_with(' '))
        })
        .collect()
}

#[test]
fn counters_end_in_total_and_units_are_in_the_names() {
    let text = scrape(figures());
    for line in [
        "# TYPE fips_link_bytes_total counter",
        "# TYPE fips_link_packets_total counter",
        "# TYPE fips_link_rtt_seconds gauge",
        "# TYPE fips_link_loss_ratio gauge",
        "# TYPE fips_dropped_packets_total counter",
        "# TYPE fips_link_handshakes_total counter",
        "# TYPE fips_dns_responses_total counter",
        "# TYPE fips_tree_depth gauge",
        "# TYPE fips_uptime_seconds gauge",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
}

#[test]
fn every_family_of_the_issue_has_samples() {
    let text = scrape(figures());
    assert!(
        text.contains("fips_peers{state=\"connected\"} 39"),
        "{text}"
    );
    assert!(text.contains("fips_links{state=\"up\"} 40"));
    assert!(text.contains("fips_sessions{state=\"established\"} 3"));
    assert!(text.contains("fips_dropped_packets_total{reason=\"no_route\"} 7"));
    assert!(text.contains("fips_link_handshakes_total{outcome=\"completed\"} 41"));
    assert!(text.contains("fips_link_handshakes_total{outcome=\"failed\"} 5"));
    assert!(text.contains("fips_tree_depth 2"));
    assert!(text.contains(&format!(
        "fips_tree_root_info{{root=\"{}\"}} 1",
        "bb".repeat(16)
    )));
    assert!(text.contains("fips_link_rtt_seconds{peer=\"peer-00\"} 0.012"));
    assert!(text.contains("fips_link_bytes_total{peer=\"peer-00\",direction=\"transmit\"} 1000"));
    assert!(text.contains(&format!(
        "fips_build_info{{version=\"{}\"",
        env!("CARGO_PKG_VERSION")
    )));
    assert!(!samples(&text, "fips_dns_responses_total").is_empty());
}

#[test]
fn per_link_families_stay_within_the_label_bound() {
    let text = scrape(figures());
    let bytes = samples(&text, "fips_link_bytes_total");
    // Two directions per label: the bound plus the summed rest.
    assert_eq!(bytes.len(), 2 * (crate::metrics::MAX_LABELLED_PEERS + 1));
    let other =
        format!("fips_link_bytes_total{{peer=\"{OTHER_PEERS}\",direction=\"transmit\"}} 8000");
    assert!(text.contains(&other), "{text}");
    // No RTT or loss for the summed rest: an average of averages means nothing.
    assert_eq!(
        samples(&text, "fips_link_rtt_seconds").len(),
        crate::metrics::MAX_LABELLED_PEERS
    );
}

#[test]
fn a_label_value_with_quotes_is_escaped() {
    let mut f = figures();
    f.links = vec![LinkFigures {
        peer: "a\"b".into(),
        ..LinkFigures::default()
    }];
    let text = scrape(f);
    assert!(text.contains("peer=\"a\\\"b\""), "{text}");
}
