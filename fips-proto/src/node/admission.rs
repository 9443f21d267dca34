//! msg1 admission: decides, before any ECDH, whether a handshake initiation
//! is worth the responder's work. A msg1 proves nothing about its sender
//! until the Noise DH is done, so a sender without a key can make us pay
//! one per datagram; this gate bounds what such a sender can cost.
//!
//! Three budgets, all token buckets refilled by the `now` the caller passes:
//!
//! - **Known addresses** (a linked peer's address, a configured peer's
//!   address, an address we are dialling): one bucket per IP, never charged
//!   to the budgets below, so a flood from elsewhere never starves a real
//!   peer's rekey or reconnect. A sender that spoofs a peer's address only
//!   spends that peer's own bucket.
//! - **Per source** (anything else): one bucket per IPv4 address or IPv6
//!   /64, so one flooding host cannot crowd out a new peer elsewhere.
//! - **Global**: what all unknown sources together may cost per second, in
//!   two budgets: one for sources in good standing, one for sources that
//!   went over their own bucket lately (flooders). A flood from many
//!   addresses drains only the second, so a new peer, which never goes over
//!   its bucket, still finds tokens in the first.
//!
//! Both tables are LRU-bounded ([`KNOWN_TABLE_CAP`], [`SOURCE_TABLE_CAP`]);
//! evicting an entry only forgets a refill state (a fresh bucket is full),
//! never a link. This module owns the limits; the node decides who is known.

use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroUsize;
use std::time::Instant;

use lru::LruCache;
use serde::Serialize;

/// Buckets kept for unknown sources (IPv4 address or IPv6 /64).
pub const SOURCE_TABLE_CAP: usize = 4096;
/// Buckets kept for known peers' IPs.
pub const KNOWN_TABLE_CAP: usize = 1024;

/// Per unknown source: a new peer's msg1 and its five resends (1, 2, 4,
/// ... s apart) fit in the burst.
const SOURCE: Rate = Rate {
    burst: 16.0,
    per_sec: 4.0,
};
/// All unknown sources in good standing together (see [`SourceEntry`]).
/// One IK responder step costs ~0.1 ms of CPU: the two global budgets cap
/// junk handshakes at about 5.5% of a core. A hub whose 1,000 leaves start
/// at once links them all in a few seconds (at 50/s, as before, the refused
/// leaves' resend backoff stretched that past 80 s; `hubbench`). The burst
/// (at most ~0.2 s of CPU, once after a quiet spell) is what each wave of
/// resends, 1, 2, 4, 8 s apart, can get beyond the rate: at 256, 10,000
/// leaves starting at once took 83 s to link.
const CLEAN: Rate = Rate {
    burst: CLEAN_BURST,
    per_sec: 500.0,
};
pub(crate) const CLEAN_BURST: f64 = 2048.0;
/// All unknown sources that went over their own budget lately, together.
const FLAGGED: Rate = Rate {
    burst: 32.0,
    per_sec: 50.0,
};
/// Per known peer IP: rekeys, restarts, resends, several peers behind one
/// NAT address.
const KNOWN: Rate = Rate {
    burst: 64.0,
    per_sec: 16.0,
};

#[derive(Clone, Copy, Debug)]
struct Rate {
    burst: f64,
    per_sec: f64,
}

/// A token bucket that is full when created.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn full(rate: Rate, now: Instant) -> Bucket {
        Bucket {
            tokens: rate.burst,
            last: now,
        }
    }

    fn refill(&mut self, rate: Rate, now: Instant) {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = self.last.max(now);
        self.tokens = (self.tokens + dt * rate.per_sec).min(rate.burst);
    }

    fn has_token(&mut self, rate: Rate, now: Instant) -> bool {
        self.refill(rate, now);
        self.tokens >= 1.0
    }

    fn take(&mut self, rate: Rate, now: Instant) -> bool {
        let ok = self.has_token(rate, now);
        if ok {
            self.tokens -= 1.0;
        }
        ok
    }
}

/// An unknown source's bucket, and whether it went over it since the
/// bucket was last full (then it is charged to the flooders' budget).
#[derive(Clone, Copy, Debug)]
struct SourceEntry {
    bucket: Bucket,
    flagged: bool,
}

/// What the gate said about one msg1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Admit,
    /// A known peer's address spent its own budget.
    RefusedKnown,
    /// This unknown source spent its budget.
    RefusedSource,
    /// All unknown sources together spent the global budget.
    RefusedGlobal,
}

/// The gate's figures for the control socket.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AdmissionStats {
    /// All refusals: `refused_known + refused_source + refused_global`.
    pub refused: u64,
    pub admitted_known: u64,
    pub admitted_unknown: u64,
    pub refused_known: u64,
    pub refused_source: u64,
    pub refused_global: u64,
    /// Source buckets forgotten to stay under the cap.
    pub source_evictions: u64,
    pub sources_tracked: usize,
    pub sources_cap: usize,
    pub known_tracked: usize,
}

pub(crate) struct Admission {
    known: LruCache<IpAddr, Bucket>,
    sources: LruCache<IpAddr, SourceEntry>,
    clean: Bucket,
    flagged: Bucket,
    stats: AdmissionStats,
}

impl Admission {
    pub(crate) fn new(now: Instant) -> Admission {
        Admission {
            known: LruCache::new(cap(KNOWN_TABLE_CAP)),
            sources: LruCache::new(cap(SOURCE_TABLE_CAP)),
            clean: Bucket::full(CLEAN, now),
            flagged: Bucket::full(FLAGGED, now),
            stats: AdmissionStats::default(),
        }
    }

    /// Charges one msg1 from `ip` to its budget. `known` says whether the
    /// address belongs to a peer we are linked to, configured or dialling.
    pub(crate) fn admit(&mut self, now: Instant, ip: IpAddr, known: bool) -> Verdict {
        let ip = ip.to_canonical();
        let verdict = if known {
            self.admit_known(now, ip)
        } else {
            self.admit_unknown(now, ip)
        };
        let s = &mut self.stats;
        match (verdict, known) {
            (Verdict::Admit, true) => s.admitted_known += 1,
            (Verdict::Admit, false) => s.admitted_unknown += 1,
            (Verdict::RefusedKnown, _) => s.refused_known += 1,
            (Verdict::RefusedSource, _) => s.refused_source += 1,
            (Verdict::RefusedGlobal, _) => s.refused_global += 1,
        }
        verdict
    }

    fn admit_known(&mut self, now: Instant, ip: IpAddr) -> Verdict {
        let b = self
            .known
            .get_or_insert_mut(ip, || Bucket::full(KNOWN, now));
        if b.take(KNOWN, now) {
            Verdict::Admit
        } else {
            Verdict::RefusedKnown
        }
    }

    /// The source's own bucket is charged first, whatever the global
    /// budget then says: a flooding host spends its burst within
    /// milliseconds, is flagged, and from then on reaches only the
    /// flooders' budget, at its own refill rate.
    fn admit_unknown(&mut self, now: Instant, ip: IpAddr) -> Verdict {
        let key = source_key(ip);
        if !self.sources.contains(&key) && self.sources.len() == self.sources.cap().get() {
            self.stats.source_evictions += 1;
        }
        let e = self.sources.get_or_insert_mut(key, || SourceEntry {
            bucket: Bucket::full(SOURCE, now),
            flagged: false,
        });
        e.bucket.refill(SOURCE, now);
        if e.bucket.tokens >= SOURCE.burst {
            e.flagged = false;
        }
        if !e.bucket.take(SOURCE, now) {
            e.flagged = true;
            return Verdict::RefusedSource;
        }
        let (global, rate) = if e.flagged {
            (&mut self.flagged, FLAGGED)
        } else {
            (&mut self.clean, CLEAN)
        };
        if global.take(rate, now) {
            Verdict::Admit
        } else {
            Verdict::RefusedGlobal
        }
    }

    pub(crate) fn stats(&self) -> AdmissionStats {
        let s = &self.stats;
        AdmissionStats {
            refused: s.refused_known + s.refused_source + s.refused_global,
            sources_tracked: self.sources.len(),
            sources_cap: SOURCE_TABLE_CAP,
            known_tracked: self.known.len(),
            ..self.stats.clone()
        }
    }
}

fn cap(n: usize) -> NonZeroUsize {
    NonZeroUsize::new(n).unwrap_or(NonZeroUsize::MIN)
}

/// IPv4 by address, IPv6 by /64: a host owns a whole /64 as easily as one
/// IPv4 address.
fn source_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(bits))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use std::time::Duration;

    fn v4(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, last))
    }

    fn count(a: &mut Admission, now: Instant, ip: IpAddr, known: bool, n: usize) -> usize {
        (0..n)
            .filter(|_| a.admit(now, ip, known) == Verdict::Admit)
            .count()
    }

    #[test]
    fn one_flooding_source_gets_its_burst_then_its_refill_rate() {
        let t0 = Instant::now();
        let mut a = Admission::new(t0);
        assert_eq!(count(&mut a, t0, v4(1), false, 10_000), 16);
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(count(&mut a, t1, v4(1), false, 10_000), 4);
        assert_eq!(a.stats().refused_source, 2 * 10_000 - 20);
    }

    #[test]
    fn a_flood_from_one_source_leaves_another_source_its_burst() {
        let t0 = Instant::now();
        let mut a = Admission::new(t0);
        count(&mut a, t0, v4(1), false, 100_000);
        assert_eq!(count(&mut a, t0, v4(2), false, 100), 16);
    }

    #[test]
    fn many_flooding_sources_are_capped_by_the_global_budgets() {
        let t0 = Instant::now();
        let mut a = Admission::new(t0);
        let admitted: usize = (0..=255)
            .map(|i| count(&mut a, t0, v4(i), false, 100))
            .sum();
        assert_eq!(admitted as f64, CLEAN.burst);
        assert!(a.stats().refused_global > 0);
    }

    /// 64 sources at 1,000 msg1/s each for 2 s, then a newcomer.
    #[test]
    fn a_new_source_gets_in_while_many_sources_flood() {
        let t0 = Instant::now();
        let mut a = Admission::new(t0);
        let mut admitted = 0;
        for ms in 0..2000 {
            let now = t0 + Duration::from_millis(ms);
            for i in 0..64 {
                admitted += count(&mut a, now, v4(i), false, 1);
            }
        }
        // The clean budget's burst and refill went to the first msg1s (each
        // source is flagged after its own burst, 16 ms in); then the
        // flooders' budget: its burst and 50/s.
        let clean = CLEAN.burst + CLEAN.per_sec * 0.016;
        let flagged = FLAGGED.burst + 2.0 * FLAGGED.per_sec;
        assert!(admitted as f64 <= clean + flagged + 2.0, "{admitted}");
        let now = t0 + Duration::from_millis(2000);
        assert_eq!(count(&mut a, now, v4(200), false, 6), 6);
    }

    #[test]
    fn known_peers_are_served_while_the_global_budgets_are_spent() {
        let t0 = Instant::now();
        let mut a = Admission::new(t0);
        for i in 0..=255 {
            count(&mut a, t0, v4(i), false, 100);
        }
        assert_eq!(a.admit(t0, v4(7), false), Verdict::RefusedSource);
        assert_eq!(a.admit(t0, v4(7), true), Verdict::Admit);
        assert_eq!(count(&mut a, t0, v4(9), true, 1000), 64);
        assert_eq!(a.stats().refused_known, 1000 - 64);
    }

    #[test]
    fn the_source_table_stays_at_its_cap_and_counts_evictions() {
        let t0 = Instant::now();
        let mut a = Admission::new(t0);
        for i in 0..(SOURCE_TABLE_CAP as u32 + 100) {
            let ip = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
            a.admit(t0, ip, false);
        }
        let s = a.stats();
        assert_eq!(s.sources_tracked, SOURCE_TABLE_CAP);
        assert_eq!(s.source_evictions, 100);
    }

    #[test]
    fn ipv6_sources_in_one_slash_64_share_a_bucket_and_mapped_ipv4_is_ipv4() {
        let t0 = Instant::now();
        let mut a = Admission::new(t0);
        for i in 0..40u16 {
            let ip = IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 1, i, 0, 0, 1));
            a.admit(t0, ip, false);
        }
        assert_eq!(a.stats().admitted_unknown, 16);
        let mapped = IpAddr::V6(Ipv4Addr::new(10, 0, 0, 5).to_ipv6_mapped());
        a.admit(t0, mapped, false);
        assert!(a.sources.contains(&v4(5)));
    }
}
