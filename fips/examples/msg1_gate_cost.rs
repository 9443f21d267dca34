//! Benchmark (not a test): what XDP's msg1 gate costs per frame, in the
//! kernel with BPF_PROG_TEST_RUN, beside the classifier's cost for an
//! established frame of the transport (the gate only reads its first
//! payload byte) in the same run. Needs root and the eBPF object:
//!
//!   cargo xtask build-ebpf
//!   FIPS_REQUIRE_EBPF=1 cargo run --release -p fips --example msg1_gate_cost
//!
//! Rows: an established frame (baseline); a junk msg1 from one source,
//! dropped after its burst (what a flood costs per datagram in the kernel);
//! a msg1 from a known peer (map hit, passed). Median of `--rounds` runs of
//! `--repeat` frames each; the kernel reports the mean ns per run.

use std::net::IpAddr;

use anyhow::Context;
use clap::Parser;
use fips::enforce::{Classifier, Direction, Msg1Rate, Policy, XDP_DROP, XDP_PASS};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 1_000_000)]
    repeat: u32,
    #[arg(long, default_value_t = 7)]
    rounds: usize,
}

const PORT: u16 = 2121;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let policy = Policy {
        udp_port: PORT,
        socket_cookies: vec![1],
        allow_ipv6: false,
    };
    let mut c = Classifier::load(&policy).context("loading the classifier (root? eBPF built?)")?;
    c.set_msg1_rate(Msg1Rate::DEFAULT)?;
    let known: IpAddr = "10.0.0.7".parse()?;
    c.set_known_peers([known])?;
    let rows = [
        (
            "established frame (baseline)",
            frame([10, 0, 0, 9], 0x00, 200),
            XDP_PASS,
        ),
        (
            "junk msg1 over budget",
            frame([10, 0, 0, 1], 0x01, 114),
            XDP_DROP,
        ),
        (
            "msg1 from a known peer",
            frame([10, 0, 0, 7], 0x01, 114),
            XDP_PASS,
        ),
    ];
    let mut base = None;
    for (name, frame, want) in rows {
        let ns = median_ns(&mut c, &frame, want, &args)?;
        let base_ns = *base.get_or_insert(ns);
        println!("{name:32} {ns:6.1} ns/frame  x{:.2}", ns / base_ns);
    }
    Ok(())
}

fn median_ns(c: &mut Classifier, frame: &[u8], want: u32, args: &Args) -> anyhow::Result<f64> {
    let mut runs = Vec::with_capacity(args.rounds);
    for _ in 0..args.rounds {
        let (verdict, ns) = c.test_run_repeat(Direction::Xdp, frame, args.repeat)?;
        anyhow::ensure!(verdict == want as i32, "verdict {verdict}, expected {want}");
        runs.push(f64::from(ns));
    }
    runs.sort_by(f64::total_cmp);
    Ok(runs[runs.len() / 2])
}

/// Ethernet, IPv4 from `src`, UDP to the transport port, a payload whose
/// first byte is `ver_phase`, `len` bytes long.
fn frame(src: [u8; 4], ver_phase: u8, len: usize) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x08, 0x00];
    let total = (20 + 8 + len) as u16;
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&[0, 1, 0, 0, 64, 17, 0, 0]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&[10, 0, 0, 2]);
    f.extend_from_slice(&5555u16.to_be_bytes());
    f.extend_from_slice(&PORT.to_be_bytes());
    f.extend_from_slice(&((8 + len) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    let mut payload = vec![0xa5; len];
    payload[0] = ver_phase;
    f.extend_from_slice(&payload);
    f
}
