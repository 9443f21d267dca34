//! The daemon's bounded stores: what the app (DNS, the control socket) can
//! make it hold, with each bound, what happens when it is reached, and the
//! counter. The protocol core's stores (identities, sessions, lookups,
//! coordinates, pending packets) are tabled in `fips_proto::limits`; the
//! README's "Bounds" section repeats both tables.
//!
//! | store | key | cap | when full | counter (`show status` → `bounds`) |
//! |---|---|---|---|---|
//! | names answered by DNS (PTR, decoded-npub cache) | fd address, npub | [`DNS_NAMES`]; a name not asked for in `node.identity_idle_secs` (600 s) is forgotten | oldest name forgotten (it is decoded again if asked) | `dns_names.evicted`, `dns_names.expired` |
//! | DNS requests being answered (UDP and TCP) | none | [`DNS_IN_FLIGHT`] | request dropped, as a loaded server does | `dns_in_flight.refused` |
//! | DNS forwards to the upstream | none | [`DNS_FORWARDS`] | SERVFAIL at once | `dns_forwards.refused` |
//! | DNS TCP connections | client | closed after 5 s idle; hickory-server has no count cap, so the fd limit bounds them | new connection fails (EMFILE) | none |
//! | identities on their way from DNS to the node | none | [`IDENTITY_CHANNEL`] | not sent now; the next answer for the name sends it | none |
//! | control-socket clients at once | connection | [`CONTROL_CLIENTS`] | connection closed at once | `control_clients.refused` |
//! | control request line | connection | `control::MAX_REQUEST` bytes, 5 s to send it | "request too large" / "read timeout", connection closed | `control_requests.refused` |
//! | XDP msg1 gate: source buckets (kernel LRU map, enforcement on) | IPv4 address, IPv6 /64 | `fips_common::MSG1_SOURCES_CAP` | least recently seen source forgotten (it starts with a full bucket again) | `show firewall`: `msg1_gate.sources_tracked`, `xdp msg1-over-budget` |
//! | XDP msg1 gate: known peers exempt (kernel map the daemon syncs) | IPv4 address, IPv6 /64 | `fips_common::MSG1_KNOWN_CAP` | the rest gated like any source, warned once | `show firewall`: `msg1_gate.known_over_cap` |
//!
//! Memory: after a store evicted entries, or idle entries aged out of the
//! identity cache or the DNS names (whose maps then shrink), the daemon
//! hands freed heap back to the kernel (`malloc_trim`) once the pressure
//! stops, so RSS returns to its idle size instead of staying at its peak
//! (glibc keeps freed memory in its arenas otherwise).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use fips_proto::limits::Store;

/// Names the DNS server remembers (the reference's identity cache size).
pub const DNS_NAMES: usize = 10_000;
/// DNS requests handled at once.
pub const DNS_IN_FLIGHT: usize = 512;
/// DNS forwards in flight at once.
pub const DNS_FORWARDS: usize = 64;
/// Identities queued from the DNS task to the node task.
pub const IDENTITY_CHANNEL: usize = 64;
/// Control-socket connections served at once.
pub const CONTROL_CLIENTS: usize = 64;

/// A bound reached is logged at most this often per store.
const WARN_EVERY: Duration = Duration::from_secs(60);
/// Heap is trimmed once no store has evicted for this long.
const TRIM_AFTER_QUIET: Duration = Duration::from_secs(2);

/// Counters of the daemon's tasks, one set per process.
pub static DNS_NAMES_EVICTED: AtomicU64 = AtomicU64::new(0);
pub static DNS_NAMES_LEN: AtomicUsize = AtomicUsize::new(0);
pub static DNS_NAMES_EXPIRED: AtomicU64 = AtomicU64::new(0);
pub static DNS_DROPPED: AtomicU64 = AtomicU64::new(0);
pub static DNS_FORWARDS_REFUSED: AtomicU64 = AtomicU64::new(0);
pub static CONTROL_CLIENTS_NOW: AtomicUsize = AtomicUsize::new(0);
pub static CONTROL_REFUSED: AtomicU64 = AtomicU64::new(0);
pub static CONTROL_BAD_REQUESTS: AtomicU64 = AtomicU64::new(0);

pub fn count(c: &AtomicU64) {
    c.fetch_add(1, Relaxed);
}

/// The daemon's stores as `show status` reports them (beside the core's).
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct DaemonBounds {
    pub dns_names: Store,
    pub dns_in_flight: Store,
    pub dns_forwards: Store,
    pub control_clients: Store,
    pub control_requests: Store,
}

impl DaemonBounds {
    /// The counters as they are now.
    pub fn now() -> Self {
        let store = Store::capped;
        DaemonBounds {
            dns_names: Store {
                expired: DNS_NAMES_EXPIRED.load(Relaxed),
                ..store(
                    DNS_NAMES_LEN.load(Relaxed),
                    DNS_NAMES,
                    DNS_NAMES_EVICTED.load(Relaxed),
                    0,
                )
            },
            dns_in_flight: store(0, DNS_IN_FLIGHT, 0, DNS_DROPPED.load(Relaxed)),
            dns_forwards: store(0, DNS_FORWARDS, 0, DNS_FORWARDS_REFUSED.load(Relaxed)),
            control_clients: store(
                CONTROL_CLIENTS_NOW.load(Relaxed),
                CONTROL_CLIENTS,
                0,
                CONTROL_REFUSED.load(Relaxed),
            ),
            control_requests: store(
                0,
                crate::control::MAX_REQUEST,
                0,
                CONTROL_BAD_REQUESTS.load(Relaxed),
            ),
        }
    }
}

/// What [`daemon_pressure`] reports DNS names that aged out under.
const DNS_NAMES_AGED_OUT: &str = "DNS names: idle names aged out";
/// Totals that count entries gone after their idle time: no bound was hit
/// (no warning), but the heap is trimmed after them as after evictions.
const AGED_OUT: [&str; 2] = [fips_proto::limits::IDENTITIES_AGED_OUT, DNS_NAMES_AGED_OUT];

fn daemon_pressure() -> [(&'static str, u64); 6] {
    [
        ("DNS names", DNS_NAMES_EVICTED.load(Relaxed)),
        ("DNS requests in flight", DNS_DROPPED.load(Relaxed)),
        ("DNS forwards", DNS_FORWARDS_REFUSED.load(Relaxed)),
        ("control-socket clients", CONTROL_REFUSED.load(Relaxed)),
        (
            "control-socket requests",
            CONTROL_BAD_REQUESTS.load(Relaxed),
        ),
        (DNS_NAMES_AGED_OUT, DNS_NAMES_EXPIRED.load(Relaxed)),
    ]
}

/// Watches every store's refused/evicted totals: warns (at most once a
/// minute per store) while a bound is hit, and trims the heap once the
/// pressure has stopped.
#[derive(Default)]
pub struct Watch {
    seen: HashMap<&'static str, u64>,
    warned: HashMap<&'static str, (Instant, u64)>,
    last_pressure: Option<Instant>,
}

impl Watch {
    /// Call about once a second with the core's totals.
    pub fn check(&mut self, now: Instant, core: &[(&'static str, u64)]) {
        for &(store, total) in core.iter().chain(daemon_pressure().iter()) {
            let before = self.seen.insert(store, total).unwrap_or(0);
            if total > before {
                self.last_pressure = Some(now);
                if !AGED_OUT.contains(&store) {
                    self.warn(now, store, total);
                }
            }
        }
        if self
            .last_pressure
            .is_some_and(|t| now.saturating_duration_since(t) >= TRIM_AFTER_QUIET)
        {
            self.last_pressure = None;
            trim_heap();
        }
    }

    fn warn(&mut self, now: Instant, store: &'static str, total: u64) {
        let (at, at_total) = self.warned.get(store).copied().unwrap_or((now, 0));
        if self.warned.contains_key(store) && now.saturating_duration_since(at) < WARN_EVERY {
            return;
        }
        tracing::warn!(
            store,
            turned_away = total - at_total,
            total,
            "bound reached: entries refused or evicted (fipsctl show status, bounds)"
        );
        self.warned.insert(store, (now, total));
    }
}

/// Returns freed heap to the kernel. glibc keeps what was freed in its
/// arenas, so without this RSS stays at a flood's peak.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim_heap() {
    // SAFETY: malloc_trim only walks glibc's own arenas under their locks.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim_heap() {}
