//! The markdown table of a bench run: one row per (N, hub binary), and a
//! ratio row (ours / baseline) where both ran.

use crate::run::Figures;

pub fn header(load_pps: u64) -> String {
    format!(
        "| N | hub | linked | all linked after s | handshakes/s | RSS MB | RSS KB/peer | fds | idle CPU % | CPU % at {load_pps} pps | delivered | ctl B/peer/s up / down | pairs reached | emulator CPU % | load avg |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    )
}

pub fn row(label: &str, f: &Figures) -> String {
    let all = f.all_linked_secs.map_or("no".into(), |s| format!("{s:.1}"));
    let hub = f.hub_peers.map_or("?".into(), |p| p.to_string());
    format!(
        "| {} | {label} | {} (hub: {hub}) | {all} | {:.0} | {:.1} | {:.1} | {} | {:.1} | {:.1} | {}/{} | {:.0} / {:.0} | {}/{} | {:.0} | {} |",
        f.n,
        f.linked,
        f.handshakes_per_sec,
        f.rss_kib as f64 / 1024.0,
        f.rss_kib as f64 / f.n.max(1) as f64,
        f.fds,
        f.idle_cpu,
        f.load_cpu,
        f.load_received,
        f.load_sent,
        f.ctl_up,
        f.ctl_down,
        f.pairs_ok,
        f.pairs,
        f.emulator_cpu,
        f.loadavg,
    )
}

/// ours / baseline for the figures where lower is better (and handshakes/s).
pub fn ratio_row(ours: &Figures, base: &Figures) -> String {
    let r = |a: f64, b: f64| {
        if b > 0.0 {
            format!("{:.2}x", a / b)
        } else {
            "-".into()
        }
    };
    let all = match (ours.all_linked_secs, base.all_linked_secs) {
        (Some(a), Some(b)) => r(a, b),
        _ => "-".into(),
    };
    format!(
        "| {} | ours / baseline | | {all} | {} | {} | | {} | {} | {} | | {} / {} | | | |",
        ours.n,
        r(ours.handshakes_per_sec, base.handshakes_per_sec),
        r(ours.rss_kib as f64, base.rss_kib as f64),
        r(ours.fds as f64, base.fds as f64),
        r(ours.idle_cpu, base.idle_cpu),
        r(ours.load_cpu, base.load_cpu),
        r(ours.ctl_up, base.ctl_up),
        r(ours.ctl_down, base.ctl_down),
    )
}
