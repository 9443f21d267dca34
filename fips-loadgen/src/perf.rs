//! `perf record` of the hub over a window, and its top functions: where a
//! hub spends its idle time as the leaf count grows (per-tick work linear
//! in N shows up here).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context};

/// Samples `pid` with call graphs for `window` into `out`, then writes the
/// flat profile (self time by symbol, entries over 1 %) to `out`.txt.
pub fn record(pid: u32, out: &Path, window: Duration) -> anyhow::Result<()> {
    let status = Command::new("perf")
        .args([
            "record",
            "-q",
            "-g",
            "-F",
            "499",
            "-p",
            &pid.to_string(),
            "-o",
        ])
        .arg(out)
        .args(["--", "sleep", &format!("{:.1}", window.as_secs_f64())])
        .status()
        .context("running perf (Debian package linux-perf)")?;
    if !status.success() {
        bail!("perf record -p {pid} failed: {status}");
    }
    let report = Command::new("perf")
        .args([
            "report",
            "--stdio",
            "--no-children",
            "--sort",
            "symbol",
            "--percent-limit",
            "1",
            "-g",
            "none",
            "-i",
        ])
        .arg(out)
        .output()
        .context("running perf report")?;
    let text = out.with_extension("txt");
    std::fs::write(&text, &report.stdout)?;
    Ok(())
}
