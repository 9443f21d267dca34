//! Markdown tables of a run, as docs/benchmarks.md quotes them.

use crate::load::PAYLOAD;
use crate::setup::{ProgStats, Setup, PER_PACKET, THROUGHPUT};

/// Fewer runs than this make bpf_stats' mean mostly noise.
const MIN_RUNS: u64 = 2000;
use crate::{Opts, Sample};

/// Median and extremes of a set of figures.
struct Spread {
    min: f64,
    median: f64,
    max: f64,
}

fn spread(mut v: Vec<f64>) -> Spread {
    v.sort_by(f64::total_cmp);
    let at = |p: f64| {
        v.get(((v.len().max(1) - 1) as f64 * p).round() as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    Spread {
        min: at(0.0),
        median: at(0.5),
        max: at(1.0),
    }
}

/// A distribution-free 95% confidence interval of the median: order
/// statistics k and n + 1 - k (1-based), k the largest with
/// P(Binomial(n, 1/2) < k) <= 2.5%. None below 6 samples (too few).
fn median_ci(mut v: Vec<f64>) -> Option<(f64, f64)> {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let mut below = 0.0; // P(X < k), X ~ Binomial(n, 1/2)
    let mut choose = 1.0; // C(n, k)
    let mut k = 0;
    loop {
        let next = below + choose * 0.5f64.powi(n as i32);
        if next > 0.025 {
            break;
        }
        below = next;
        choose = choose * (n - k) as f64 / (k + 1) as f64;
        k += 1;
    }
    // Here P(X < k) <= 2.5% < P(X < k + 1); n = 15 gives k = 4: the 4th
    // and 12th of 15, coverage 96.5%.
    (k >= 1).then(|| (v[k - 1], v[n - k]))
}

fn of<'a>(
    samples: &'a [Sample],
    stream: usize,
    setup: Setup,
) -> impl Iterator<Item = &'a Sample> + 'a {
    samples
        .iter()
        .filter(move |s| s.stream == stream && s.setup == setup)
}

/// This setup's Mbit/s over no filter's, within each round.
fn ratios(samples: &[Sample], stream: usize, setup: Setup) -> Vec<f64> {
    ratios_to(samples, stream, setup, Setup::None)
}

/// This setup's Mbit/s over `base`'s, within each round.
fn ratios_to(samples: &[Sample], stream: usize, setup: Setup, base: Setup) -> Vec<f64> {
    of(samples, stream, setup)
        .filter_map(|s| {
            let b = of(samples, stream, base).find(|b| b.round == s.round)?;
            Some(s.mbit / b.mbit)
        })
        .collect()
}

/// Prints the median and 95% CI of the per-round ratios of our classifier
/// (`Setup::Ebpf`) over `base` for `stream`; `what` says what it measures.
fn print_ratio(samples: &[Sample], stream: usize, base: Setup, what: &str) {
    let over = ratios_to(samples, stream, Setup::Ebpf, base);
    let ci =
        median_ci(over.clone()).map_or("-".to_owned(), |(lo, hi)| format!("{lo:.3} - {hi:.3}"));
    println!(
        "\n{} over {} ({what}): median of per-round ratios {:.3}, 95% CI {ci}",
        Setup::Ebpf.name(),
        base.name(),
        spread(over).median
    );
}

pub fn throughput(names: &[&str], samples: &[Sample], opts: &Opts) {
    println!(
        "{} rounds x {:.2} s per stream and setup, setups interleaved in a rotating order; \
         UDP: {PAYLOAD}-byte datagrams, one sender thread, sidecar eth0 (veth) <-> bridge <-> peer; \
         FIPS link: one TCP connection over fips0 between two fips daemons\n",
        opts.rounds,
        opts.dur.as_secs_f64()
    );
    for (i, name) in names.iter().enumerate() {
        println!("### {name}\n");
        println!("| setup | median Mbit/s | ratio to no filter, median of rounds | 95% CI of that median | min - max |");
        println!("|---|---|---|---|---|");
        for setup in THROUGHPUT {
            let mbit = spread(of(samples, i, setup).map(|s| s.mbit).collect());
            if setup == Setup::None {
                println!("| {} | {:.0} | 1 | | |", setup.name(), mbit.median);
                continue;
            }
            let r = spread(ratios(samples, i, setup));
            let ci = median_ci(ratios(samples, i, setup))
                .map_or("-".to_owned(), |(lo, hi)| format!("{lo:.3} - {hi:.3}"));
            println!(
                "| {} | {:.0} | {:.3} | {ci} | {:.3} - {:.3} |",
                setup.name(),
                mbit.median,
                r.median,
                r.min,
                r.max
            );
        }
        print_ratio(
            samples,
            i,
            Setup::Noop,
            "what our classifier adds to any TC program",
        );
        print_ratio(
            samples,
            i,
            Setup::EbpfNoBackstop,
            "what the netfilter egress backstop costs",
        );
        for setup in [
            Setup::Ebpf,
            Setup::EbpfNoBackstop,
            Setup::Iptables,
            Setup::Noop,
        ] {
            let list: Vec<String> = ratios(samples, i, setup)
                .iter()
                .map(|r| format!("{r:.2}"))
                .collect();
            println!("\n{} per round: {}", setup.name(), list.join(" "));
        }
        println!();
    }
}

/// `test_run`: BPF_PROG_TEST_RUN ns of the classifier on a passed and a
/// dropped frame, and of the empty program.
pub fn per_packet(names: &[&str], samples: &[Sample], test_run: [u32; 3]) {
    println!("### Per program run (bpf_stats: run_time_ns / run_cnt, median of rounds)\n");
    println!(
        "One run per skb; the daemon's UDP GSO sends up to 64 datagrams as one skb, \
         hence bytes per run. Hooks with under {MIN_RUNS} runs per round get no difference.\n"
    );
    println!("| traffic | hook | runs per round | bytes per run | classifier ns | empty program ns | difference |");
    println!("|---|---|---|---|---|---|---|");
    for (i, name) in names.iter().enumerate() {
        for (h, hook) in ["ingress", "egress"].iter().enumerate() {
            let [fips, noop] = PER_PACKET.map(|setup| {
                let stats: Vec<_> = of(samples, i, setup)
                    .filter_map(|s| s.stats.map(|st| st[h]))
                    .collect();
                let median =
                    |f: fn(&ProgStats) -> f64| spread(stats.iter().map(f).collect()).median;
                (
                    median(|s| s.runs as f64),
                    median(|s| s.bytes_per_run()),
                    median(|s| s.ns_per_run()),
                )
            });
            let difference = if fips.0 < MIN_RUNS as f64 {
                "-".to_owned()
            } else {
                format!("{:.0}", fips.2 - noop.2)
            };
            println!(
                "| {name} | {hook} | {:.0} | {:.0} | {:.0} | {:.0} | {difference} |",
                fips.0, fips.1, fips.2, noop.2
            );
        }
    }
    let [pass, drop, noop] = test_run;
    println!("\n| BPF_PROG_TEST_RUN, ingress, 1e6 runs | ns per run | minus the empty program |");
    println!("|---|---|---|");
    println!(
        "| classifier, passed UDP frame | {pass} | {} |",
        i64::from(pass) - i64::from(noop)
    );
    println!(
        "| classifier, dropped TCP frame | {drop} | {} |",
        i64::from(drop) - i64::from(noop)
    );
    println!("| empty program, same UDP frame | {noop} | |");
}
