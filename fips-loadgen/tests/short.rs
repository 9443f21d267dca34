//! The short, bounded version of `hubbench` that CI runs: 50 emulated
//! leaves against our daemon as hub. Every leaf links, the hub counts them
//! all, sampled leaf pairs reach each other through it and traffic
//! between them arrives. The full table (N up to 10,000, beside the
//! reference) is in docs/benchmarks.md.

use std::time::Duration;

use fips_loadgen::{measure, Options, Testbed};

#[test]
fn fifty_emulated_leaves_link_to_our_hub_and_sampled_pairs_reach_each_other() {
    let bin = fips_testkit::daemon::fips_bin();
    let mut bed = Testbed::new();
    let opts = Options {
        n: 50,
        pairs: 5,
        link_timeout: Duration::from_secs(30),
        settle: Duration::from_secs(1),
        idle_window: Duration::from_secs(3),
        load_pps: 200,
        load_window: Duration::from_secs(2),
        seed: 7,
        perf: None,
        keep_log: None,
    };
    let f = measure(&mut bed, &bin, &opts).expect("the bench ran");
    println!("{f:?}");
    assert_eq!(f.linked, 50, "leaves linked (leaf side)");
    assert!(f.all_linked_secs.is_some_and(|s| s < 30.0));
    assert_eq!(f.hub_peers, Some(50), "the hub's own peer count");
    assert_eq!(f.pairs_ok, f.pairs, "sampled pairs that reached each other");
    assert!(f.pairs == 5);
    assert!(
        f.load_received * 10 >= f.load_sent * 9,
        "load delivered: {} of {}",
        f.load_received,
        f.load_sent
    );
    assert!(
        f.ctl_up > 0.0 && f.ctl_down > 0.0,
        "heartbeats and MMP flowed"
    );
}
