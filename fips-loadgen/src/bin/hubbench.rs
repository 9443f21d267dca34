//! `hubbench`: emulated leaves against a real hub daemon, ours and
//! optionally a baseline binary, for each leaf count; prints a markdown
//! table (see fips-loadgen's docs and docs/benchmarks.md).

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use fips_loadgen::{measure, net, report, Options, Testbed};

#[derive(Parser)]
#[command(
    about = "Emulates N FIPS leaves (fips-proto nodes, one UDP address each) against a real hub daemon and measures the hub. Needs root."
)]
struct Args {
    /// Leaf counts, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "100,300,1000")]
    n: Vec<usize>,
    /// Our hub binary.
    #[arg(long, default_value = "target/release/fips")]
    ours: PathBuf,
    /// A baseline hub binary measured in the same run (e.g. the reference).
    #[arg(long, env = "FIPS_REF_BIN")]
    baseline: Option<PathBuf>,
    /// Leaf pairs that must reach each other through the hub.
    #[arg(long, default_value_t = 10)]
    pairs: usize,
    /// Seconds the leaves get to link (default: 30 + N/20).
    #[arg(long)]
    link_timeout: Option<u64>,
    /// Seconds of quiet after linking, before the idle window.
    #[arg(long, default_value_t = 5)]
    settle: u64,
    /// Seconds of the idle window (CPU, control bytes).
    #[arg(long, default_value_t = 20)]
    idle: u64,
    /// Datagrams per second between the sampled pairs in the load window.
    #[arg(long, default_value_t = 2000)]
    load_pps: u64,
    /// Seconds of the load window.
    #[arg(long, default_value_t = 10)]
    load: u64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Record the hub with perf over the idle and the load windows for N
    /// at least this.
    #[arg(long)]
    perf_from: Option<usize>,
    /// Directory for perf data (DIR/<hub>-<N>.perf, DIR/<hub>-<N>.load.perf
    /// and their .txt) and the hubs' logs (DIR/<hub>-<N>.log).
    #[arg(long, default_value = "/tmp/hubbench")]
    out_dir: PathBuf,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    net::clean_up_on_signal()?;
    let max = args.n.iter().copied().max().unwrap_or(0);
    let want = 4 * max as u64 + 4096;
    let nofile = net::raise_nofile(want)?;
    if nofile < want {
        eprintln!("hubbench: open files limited to {nofile} (hard limit), {want} wanted: a hub with more than one descriptor per peer may run out");
    }
    let mut hubs = vec![("ours", args.ours.clone())];
    if let Some(b) = &args.baseline {
        hubs.push(("baseline", b.clone()));
    }
    for (_, bin) in &hubs {
        anyhow::ensure!(
            bin.exists(),
            "no hub binary at {}: build it (cargo build --release -p fips) or pass its path",
            bin.display()
        );
    }
    let mut bed = Testbed::new();
    println!("{}", report::header(args.load_pps));
    for &n in &args.n {
        let mut figures = Vec::new();
        for (label, bin) in &hubs {
            let opts = options(&args, n, label)?;
            let f = measure(&mut bed, bin, &opts)?;
            println!("{}", report::row(label, &f));
            figures.push(f);
        }
        if let [ours, base] = &figures[..] {
            println!("{}", report::ratio_row(ours, base));
        }
    }
    Ok(())
}

fn options(args: &Args, n: usize, label: &str) -> anyhow::Result<Options> {
    std::fs::create_dir_all(&args.out_dir)?;
    let perf = match args.perf_from {
        Some(from) if n >= from => Some(args.out_dir.join(format!("{label}-{n}.perf"))),
        _ => None,
    };
    Ok(Options {
        n,
        pairs: args.pairs,
        link_timeout: Duration::from_secs(args.link_timeout.unwrap_or(30 + n as u64 / 20)),
        settle: Duration::from_secs(args.settle),
        idle_window: Duration::from_secs(args.idle),
        load_pps: args.load_pps,
        load_window: Duration::from_secs(args.load),
        seed: args.seed,
        perf,
        keep_log: Some(args.out_dir.join(format!("{label}-{n}.log"))),
    })
}
