//! A random mesh of hubs and leaves in the in-process simulator (virtual
//! time), measured: tree convergence after start and after the
//! best-connected hub dies, control bytes per node per minute, lookup
//! success and route stretch of sampled sessions, and bloom filter fill.
//!
//! `cargo run --release -p fips-proto --features sim --example meshsim -- --nodes 1000 --seed 1`
//!
//! Options: `-- --help`.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use fips_proto::node::sim::{Convergence, Lookups, Mesh, MeshSpec, Window};

const USAGE: &str = "\
usage: meshsim [--nodes N] [--seed S] [--pairs P] [--hub-percent X]
               [--observe SECS] [--limit SECS] [--timeline]
  --nodes N         nodes in the random mesh (1000)
  --seed S          seed of the topology and of the simulation (1)
  --pairs P         sampled sessions for lookup success and stretch (200)
  --hub-percent X   share of hubs, in percent (3)
  --observe SECS    virtual time to watch the tree after start and after
                    the hub dies, past its periodic re-evaluation (150)
  --limit SECS      most virtual time to wait for the tree to settle (300)
  --timeline        print, per 250 ms probe with any change, the nodes
                    without the right root and the nodes whose coordinates
                    changed";

struct Args {
    nodes: usize,
    seed: u64,
    pairs: usize,
    hub_percent: f64,
    limit: u64,
    observe: u64,
    timeline: bool,
}

fn parse_args() -> Result<Args> {
    let mut a = Args {
        nodes: 1000,
        seed: 1,
        pairs: 200,
        hub_percent: 3.0,
        limit: 300,
        observe: 150,
        timeline: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--help" || flag == "-h" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        if flag == "--timeline" {
            a.timeline = true;
            continue;
        }
        let value = it
            .next()
            .with_context(|| format!("{flag} needs a value, e.g. {flag} 10"))?;
        let bad = || format!("{flag} {value}: not a number");
        match flag.as_str() {
            "--nodes" => a.nodes = value.parse().with_context(bad)?,
            "--seed" => a.seed = value.parse().with_context(bad)?,
            "--pairs" => a.pairs = value.parse().with_context(bad)?,
            "--hub-percent" => a.hub_percent = value.parse().with_context(bad)?,
            "--limit" => a.limit = value.parse().with_context(bad)?,
            "--observe" => a.observe = value.parse().with_context(bad)?,
            _ => bail!("unknown option {flag}\n{USAGE}"),
        }
    }
    if a.nodes < 3 {
        bail!("--nodes {}: a mesh needs at least 3 nodes", a.nodes);
    }
    Ok(a)
}

fn main() -> Result<()> {
    let args = parse_args()?;
    let wall = Instant::now();
    let mut spec = MeshSpec::new(args.nodes, args.seed);
    spec.hub_percent = args.hub_percent;
    let mut mesh = Mesh::build(&spec);
    println!("nodes: {}", args.nodes);
    println!("hubs: {}", mesh.hubs);
    println!("links: {}", mesh.links());
    let window = Window {
        observe: Duration::from_secs(args.observe),
        limit: Duration::from_secs(args.limit.max(args.observe)),
    };
    let (probe, quiet) = (Duration::from_millis(250), Duration::from_secs(20));

    let stage = Instant::now();
    let c = mesh.converge(probe, quiet, window);
    report("start", &c, stage, args.timeline);

    let stage = Instant::now();
    let t = mesh.traffic(Duration::from_secs(60));
    println!("control_bytes_per_node_per_min: {:.0}", t.total);
    for (kind, b) in &t.by_kind {
        println!("  {kind}: {b:.0}");
    }
    println!("wall_traffic_s: {:.1}", stage.elapsed().as_secs_f64());

    let f = mesh.bloom_fill();
    println!(
        "bloom: filters {} mean_fill {:.3} max_fill {:.3} fpr_over_5pct {} rejected_full {} child_without_parent_filter {}",
        f.filters, f.mean_fill, f.max_fill, f.over_5pct, f.rejected_full, f.missing_from_parent
    );

    let stage = Instant::now();
    let l = mesh.lookups(args.pairs, args.seed, Duration::from_secs(16));
    report_lookups(&l, stage);

    let hub = mesh.best_connected_hub();
    println!("killed_hub: n{hub} (degree {})", mesh.adj[hub].len());
    mesh.sim.crash(hub);
    let stage = Instant::now();
    let c = mesh.converge(probe, quiet, window);
    report("hub_death", &c, stage, args.timeline);

    println!("wall_total_s: {:.1}", wall.elapsed().as_secs_f64());
    println!("peak_rss_mb: {}", peak_rss_mb().unwrap_or_default());
    Ok(())
}

fn secs(d: Option<Duration>) -> String {
    d.map_or("not settled".into(), |d| format!("{:.2}", d.as_secs_f64()))
}

fn report(what: &str, c: &Convergence, stage: Instant, timeline: bool) {
    // Only the probes where something happened.
    let busy = c
        .timeline
        .iter()
        .filter(|(_, wrong, moved)| *wrong + *moved > 0);
    for (t, wrong, moved) in busy.filter(|_| timeline) {
        println!(
            "  t={:.2}s wrong_root {wrong} changed {moved}",
            t.as_secs_f64()
        );
    }
    println!(
        "first_settled_after_{what}_s: {}",
        secs(c.first_settled_after)
    );
    println!("last_change_after_{what}_s: {}", secs(c.settled_after));
    println!("roots_agree_after_{what}_s: {}", secs(c.roots_agree_after));
    println!("nodes_moved_after_{what}: {}", c.moved);
    println!(
        "stranded_after_{what}: {} (own root after {} s)",
        c.stranded,
        secs(c.stranded_rooted_after)
    );
    println!("wall_{what}_s: {:.1}", stage.elapsed().as_secs_f64());
}

fn report_lookups(l: &Lookups, stage: Instant) {
    println!(
        "lookups: pairs {} reached {} success {:.3}",
        l.pairs,
        l.reached,
        l.success()
    );
    println!(
        "stretch: measured {} mean {:.3} max {:.2}",
        l.measured,
        l.mean_stretch(),
        l.max_stretch
    );
    println!(
        "lookup_requests: {} forwards {} false_forwards {} ({:.2} per request) off_tree_forwards {}",
        l.requests,
        l.forwards,
        l.false_forwards,
        l.false_per_lookup(),
        l.off_tree_forwards
    );
    println!("wall_lookups_s: {:.1}", stage.elapsed().as_secs_f64());
}

/// The process's peak resident set (VmHWM), in MB.
fn peak_rss_mb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}
