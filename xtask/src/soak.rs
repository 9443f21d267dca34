//! The short soaks CI runs (`cargo xtask test`): the loss soak and the churn
//! soak of `testing/soak/`, bounded versions of the documented 30-minute
//! runs, asserting the same properties. Both run at once (each is light, and
//! their namespaces, prefixed `sl-ci`/`sc-ci`, are their own), in about two
//! minutes. Without FIPS_REF_BIN the loss soak measures only our goodput and
//! says so; the comparison with the reference is the documented full run.

use crate::install::sh;
use anyhow::{bail, Context, Result};
use std::process::Command;

/// (script, namespace prefix, environment) of each short soak.
const SOAKS: &[(&str, &str, &[(&str, &str)])] = &[
    (
        "testing/soak/loss-soak.sh",
        "sl-ci",
        &[
            ("DURATION", "75"),
            ("SAMPLE", "5"),
            ("RSS_EVERY", "5"),
            ("BURST_FIRST", "5"),
            ("BURST_EVERY", "600"),
            ("BASE_T", "40"),
            ("GOODPUT_SECS", "10"),
        ],
    ),
    (
        "testing/soak/churn-soak.sh",
        "sc-ci",
        &[("DURATION", "60"), ("SAMPLE", "5"), ("BASE_T", "20")],
    ),
];

pub fn run() -> Result<()> {
    println!("xtask: the short loss and churn soaks (testing/soak/, namespaces sl-ci-*, sc-ci-*)");
    sh(Command::new("cargo").args(["build", "--release", "-p", "fips"]))?;
    let mut running = Vec::new();
    for (script, prefix, env) in SOAKS {
        let mut cmd = Command::new("bash");
        cmd.arg(script)
            .env("PREFIX", prefix)
            .env("RUNDIR", format!("/tmp/soak-{prefix}"))
            .envs(env.iter().copied());
        let child = cmd.spawn().with_context(|| format!("starting {script}"))?;
        running.push((script, child));
    }
    let mut failed = Vec::new();
    for (script, mut child) in running {
        let status = child.wait().with_context(|| format!("waiting for {script}"))?;
        if !status.success() {
            failed.push(format!("{script} ({status})"));
        }
    }
    if !failed.is_empty() {
        bail!("soak failed: {}", failed.join(", "));
    }
    Ok(())
}
