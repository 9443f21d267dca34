//! The short soaks CI runs (`cargo xtask test`): the loss soak and the churn
//! soak of `testing/soak/`, bounded versions of the documented 30-minute
//! runs, asserting the same properties. Both run at once (each is light, and
//! their namespaces, prefixed `sl-ci`/`sc-ci`, are their own), in about two
//! minutes. Without FIPS_REF_BIN the loss soak measures only our goodput and
//! says so; the comparison with the reference is the documented full run.

use crate::install::sh;
use anyhow::{bail, Context, Result};
use std::process::Command;

/// One short soak: its script, the prefix of its namespaces, its knobs.
struct Soak {
    script: &'static str,
    prefix: &'static str,
    env: &'static [(&'static str, &'static str)],
}

const SOAKS: &[Soak] = &[
    Soak {
        script: "testing/soak/loss-soak.sh",
        prefix: "sl-ci",
        env: &[
            ("DURATION", "75"),
            ("SAMPLE", "5"),
            ("RSS_EVERY", "5"),
            ("BURST_FIRST", "5"),
            ("BURST_EVERY", "600"),
            ("BASE_T", "40"),
            ("GOODPUT_SECS", "10"),
            // About 74 pings: a 3-hop round trip at 5% per link direction
            // loses 26.5% on average, and a short run's first seconds add
            // more (36.5% seen in a CI dry run); the full run keeps 45.
            ("PING_LOSS_MAX", "60"),
        ],
    },
    Soak {
        script: "testing/soak/churn-soak.sh",
        prefix: "sc-ci",
        // Stale links (leaves gone with a fresh key) level off after
        // about 20 s of churn; the base comes after that.
        env: &[("DURATION", "60"), ("SAMPLE", "5"), ("BASE_T", "30")],
    },
];

pub fn run() -> Result<()> {
    println!("xtask: the short loss and churn soaks (testing/soak/, namespaces sl-ci-*, sc-ci-*)");
    sh(Command::new("cargo").args(["build", "--release", "-p", "fips"]))?;
    let mut running = Vec::new();
    for soak in SOAKS {
        let child = Command::new("bash")
            .arg(soak.script)
            .env("PREFIX", soak.prefix)
            .env("RUNDIR", format!("/tmp/soak-{}", soak.prefix))
            .envs(soak.env.iter().copied())
            .spawn()
            .with_context(|| format!("starting {}", soak.script))?;
        running.push((soak.script, child));
    }
    let mut failed = Vec::new();
    for (script, mut child) in running {
        let status = child
            .wait()
            .with_context(|| format!("waiting for {script}"))?;
        if !status.success() {
            failed.push(format!("{script} ({status})"));
        }
    }
    if !failed.is_empty() {
        bail!("soak failed: {}", failed.join(", "));
    }
    Ok(())
}
