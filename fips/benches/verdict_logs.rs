//! What the classifier's per-packet verdict logs (aya-log) cost, off and
//! on, in one run: mean ns per run over BPF_PROG_TEST_RUN loops of the
//! TC ingress program, for a passed and a dropped frame, rounds
//! interleaved (off, on, off, on, ...), medians and the on/off ratio; and
//! the program's size after the verifier's rewrite (dead code removed).
//! "Free when off" means the off figure matches the program without
//! logging: the size shows the logging code is gone when off.
//!
//! With FIPS_BENCH_BASELINE_OBJECT=path, an object built without aya-log
//! (e.g. `cargo xtask build-ebpf` on the commit before it, copied aside)
//! is measured in the same rounds: "logs off" beside it is the cost of
//! the switch itself.
//!
//! Run (root): `cargo xtask build-ebpf && cargo bench -p fips --bench verdict_logs`
//! (FIPS_BENCH_ROUNDS overrides 11). Without `--bench` one short round
//! checks that both loads work. The figures are the kernel's own timing
//! of the program, so the userspace build profile does not change them.

#[path = "../tests/enforce_util/frames.rs"]
mod frames;

use std::os::fd::AsFd;

use aya::maps::Array;
use aya::programs::SchedClassifier;
use aya::{Ebpf, EbpfLoader};
use fips::enforce::{test_run_repeat, Classifier, Direction, Policy};
use frames::*;

const PORT: u16 = 4244;

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let rounds: usize = std::env::var("FIPS_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if full { 11 } else { 1 });
    let runs = if full { 1_000_000 } else { 1_000 };
    let policy = Policy {
        udp_port: PORT,
        socket_cookies: vec![1],
        allow_ipv6: false,
    };
    let mut off = Classifier::load_with(&policy, false).expect("load, logs off");
    let mut on = Classifier::load_with(&policy, true).expect("load, logs on");
    let pass = eth(ETH_P_IP, &ipv4(UDP, &udp(5555, PORT, &[0; 64])));
    let drop = eth(ETH_P_IP, &ipv4(TCP, &[0; 40]));
    let mut baseline = std::env::var("FIPS_BENCH_BASELINE_OBJECT")
        .ok()
        .map(|path| load_baseline(&path));
    let mut ns: [Vec<u32>; 6] = Default::default();
    for _ in 0..rounds {
        for (i, frame) in [&pass, &drop].into_iter().enumerate() {
            for (j, c) in [&mut off, &mut on].into_iter().enumerate() {
                let (_, t) = c
                    .test_run_repeat(Direction::Ingress, frame, runs)
                    .expect("BPF_PROG_TEST_RUN");
                ns[2 * i + j].push(t);
            }
            if let Some(object) = baseline.as_mut() {
                let prog: &SchedClassifier = object
                    .program("fips_ingress")
                    .expect("baseline program")
                    .try_into()
                    .expect("a classifier");
                let fd = prog.fd().expect("loaded");
                let (_, t) = test_run_repeat(fd.as_fd(), frame, runs).expect("run");
                ns[4 + i].push(t);
            }
        }
    }
    let med = |v: &mut Vec<u32>| {
        v.sort_unstable();
        v[v.len() / 2]
    };
    let [po, pn, dof, dn, pb, db] = ns.map(|mut v| if v.is_empty() { 0 } else { med(&mut v) });
    let size = |c: &mut Classifier| c.translated_size(Direction::Ingress).expect("size");
    let (so, sn) = (size(&mut off), size(&mut on));
    println!(
        "verdict logs, TC ingress, BPF_PROG_TEST_RUN, {rounds} rounds x {runs} runs, median ns/run"
    );
    println!(
        "| frame | logs off | logs on | on/off | no aya-log (baseline object) | off/baseline |"
    );
    println!("|---|---|---|---|---|---|");
    let over = |a: u32, b: u32| {
        if b == 0 {
            "-".to_string()
        } else {
            format!("{:.2}", f64::from(a) / f64::from(b))
        }
    };
    println!(
        "| UDP to the transport (pass) | {po} | {pn} | {} | {pb} | {} |",
        over(pn, po),
        over(po, pb)
    );
    println!(
        "| TCP (drop) | {dof} | {dn} | {} | {db} | {} |",
        over(dn, dof),
        over(dof, db)
    );
    println!("| program size after the verifier (bytes) | {so} | {sn} | | | |");
}

/// The baseline object's ingress program, loaded with the same policy.
fn load_baseline(path: &str) -> Ebpf {
    let mut object = EbpfLoader::new().load_file(path).expect("baseline object");
    let mut policy: Array<_, fips_common::Policy> =
        Array::try_from(object.map_mut("FIPS_POLICY").expect("policy map")).expect("array");
    let raw = fips_common::Policy {
        udp_port: PORT,
        metrics_port: 0,
        flags: 0,
    };
    policy.set(0, raw, 0).expect("write policy");
    let prog: &mut SchedClassifier = object
        .program_mut("fips_ingress")
        .expect("baseline program")
        .try_into()
        .expect("a classifier");
    prog.load().expect("load baseline");
    object
}
