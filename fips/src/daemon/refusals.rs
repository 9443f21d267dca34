//! The rate-limited warning for refused handshakes: one line at most every
//! [`WARN_EVERY`] while msg1s are being refused, with what was refused
//! since the last line, so a flood is visible in the log without flooding it.

use std::time::{Duration, Instant};

use fips_proto::node::AdmissionStats;
use tracing::warn;

const WARN_EVERY: Duration = Duration::from_secs(30);

#[derive(Default)]
pub(crate) struct RefusalLog {
    /// The totals at the last warning.
    seen: AdmissionStats,
    last_warn: Option<Instant>,
}

impl RefusalLog {
    /// Warns when msg1s were refused since the last warning and the last
    /// one is at least [`WARN_EVERY`] old. `refused` is the node's running
    /// total; `stats` is only read when a line is due.
    pub(crate) fn check(
        &mut self,
        now: Instant,
        refused: u64,
        stats: impl FnOnce() -> AdmissionStats,
    ) {
        if refused == self.seen.refused {
            return;
        }
        if self
            .last_warn
            .is_some_and(|t| now.saturating_duration_since(t) < WARN_EVERY)
        {
            return;
        }
        let s = stats();
        warn!(
            refused = s.refused - self.seen.refused,
            per_source = s.refused_source - self.seen.refused_source,
            global = s.refused_global - self.seen.refused_global,
            known_peer = s.refused_known - self.seen.refused_known,
            sources_tracked = s.sources_tracked,
            "handshake msg1s refused by the rate limits (a flood?); see `fipsctl show transports`"
        );
        self.seen = s.clone();
        self.last_warn = Some(now);
    }
}
