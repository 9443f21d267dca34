//! XDP's gate for handshake initiations: drops a flood of junk msg1 before
//! the kernel queues it on the daemon's socket. A msg1 proves nothing about
//! its sender until the daemon has done an ECDH, and even refusing one in
//! userspace costs a wake-up and a `recvmmsg` slot; here a datagram over
//! its source's budget costs a map lookup.
//!
//! Runs only on what the classifier passed as the transport's UDP at XDP,
//! and looks only at datagrams whose FMP prefix says version 0, phase 1
//! (msg1; any length: a phase-1 datagram that is not 114 bytes is refused
//! by the daemon anyway). Established frames (phase 0) and msg2 are never
//! looked at, so link traffic cannot be dropped here.
//!
//! - A source in `FIPS_MSG1_KNOWN` (a configured peer's or a linked peer's
//!   address, kept by the daemon) always passes: a peer's restart or rekey
//!   is never refused here. The daemon's own admission still budgets it.
//! - Any other source has a bucket in the LRU map `FIPS_MSG1_SRC` (IPv4
//!   address, or IPv6 /64) under the rate in `FIPS_MSG1_GATE`: a new peer's
//!   msg1 and its resends fit in the burst, a flood does not.
//!
//! The bucket is a generic cell rate algorithm: one timestamp per source
//! (when its schedule catches up with now), no floats, no division.
//! Entries are shared by all CPUs and updated without a lock: two CPUs
//! racing on one source can lose an update, which only lets a datagram
//! more through; never fewer.
//!
//! The policy (rate, who is known) is the daemon's; this module applies it
//! and must not touch the classifier's own verdicts.

use aya_ebpf::{
    helpers::bpf_ktime_get_ns,
    macros::map,
    maps::{Array, HashMap, LruHashMap},
};
use fips_common::{Msg1Gate, Reason, SourceKey, MSG1_KNOWN_CAP, MSG1_SOURCES_CAP};

use crate::{load, Frame, ETH_HLEN, ETH_P_IP, ETH_P_IPV6, IPV6_HLEN};

/// Index 0: the rate (all-zero: the gate is off).
#[map]
static FIPS_MSG1_GATE: Array<Msg1Gate> = Array::with_max_entries(1, 0);

/// Per source: the time its bucket's schedule reaches (GCRA's "theoretical
/// arrival time"), ns of `bpf_ktime_get_ns`.
#[map]
static FIPS_MSG1_SRC: LruHashMap<SourceKey, u64> =
    LruHashMap::with_max_entries(MSG1_SOURCES_CAP, 0);

/// Known peers' addresses (value unused), written by the daemon.
#[map]
static FIPS_MSG1_KNOWN: HashMap<SourceKey, u8> = HashMap::with_max_entries(MSG1_KNOWN_CAP, 0);

/// Version 0, phase 1: the first byte of every msg1.
const MSG1_VER_PHASE: u8 = 0x01;
const UDP_HLEN: usize = 8;

/// `Reason::Passed`, or `Reason::Msg1OverBudget` for a handshake
/// initiation over its source's budget. Call only on a frame the
/// classifier passed as the transport's UDP (IPv4, or IPv6 without
/// extension headers).
#[inline(always)]
pub(crate) fn verdict<F: Frame>(ctx: &F) -> Reason {
    let Some(key) = msg1_source(ctx) else {
        return Reason::Passed;
    };
    let Some(gate) = FIPS_MSG1_GATE.get(0).copied() else {
        return Reason::Passed;
    };
    if gate.interval_ns == 0 || FIPS_MSG1_KNOWN.get_ptr(&key).is_some() {
        return Reason::Passed;
    }
    // SAFETY: a helper without arguments.
    let now = unsafe { bpf_ktime_get_ns() };
    if conforms(&key, &gate, now) {
        Reason::Passed
    } else {
        Reason::Msg1OverBudget
    }
}

/// The source key of a msg1, or None when the datagram is no msg1.
#[inline(always)]
fn msg1_source<F: Frame>(ctx: &F) -> Option<SourceKey> {
    let ethertype = load::<[u8; 2]>(ctx, 12).ok().map(u16::from_be_bytes)?;
    if ethertype == ETH_P_IP {
        let ihl = load::<u8>(ctx, ETH_HLEN).ok()? & 0x0f;
        let payload = ETH_HLEN + usize::from(ihl) * 4 + UDP_HLEN;
        // Without options (every packet a FIPS transport sends) the offset
        // is a constant, readable straight from the linear data; with them
        // it varies: through the helper, as in the classifier.
        let first = if ihl == 5 {
            load::<u8>(ctx, ETH_HLEN + 20 + UDP_HLEN)
        } else {
            ctx.load_slow::<u8>(payload)
        };
        if first.ok()? != MSG1_VER_PHASE {
            return None;
        }
        return load::<[u8; 4]>(ctx, ETH_HLEN + 12)
            .ok()
            .map(SourceKey::ipv4);
    }
    if ethertype == ETH_P_IPV6 {
        if load::<u8>(ctx, ETH_HLEN + IPV6_HLEN + UDP_HLEN).ok()? != MSG1_VER_PHASE {
            return None;
        }
        // Only the /64 is read: the key holds no more.
        let prefix = load::<[u8; 8]>(ctx, ETH_HLEN + 8).ok()?;
        return Some(SourceKey::ipv6([
            prefix[0], prefix[1], prefix[2], prefix[3], prefix[4], prefix[5], prefix[6], prefix[7],
            0, 0, 0, 0, 0, 0, 0, 0,
        ]));
    }
    None
}

/// GCRA: a datagram conforms while the source's schedule runs at most
/// `tolerance_ns` ahead of now; each conforming one moves it on by one
/// interval. A source not (or no longer) in the map starts with a full
/// bucket. Drops do not move the schedule, so a flooder that slows down
/// gets through again at the rate, no sooner.
#[inline(always)]
fn conforms(key: &SourceKey, gate: &Msg1Gate, now: u64) -> bool {
    match FIPS_MSG1_SRC.get_ptr_mut(key) {
        Some(tat) => {
            // SAFETY: a value of the map, valid for this run; a racing
            // write from another CPU is tolerated (see the module docs).
            let scheduled = unsafe { *tat }.max(now);
            if scheduled - now > gate.tolerance_ns {
                return false;
            }
            // SAFETY: as above.
            unsafe { *tat = scheduled + gate.interval_ns };
            true
        }
        None => {
            // A full map evicts its least recently used entry. Failing
            // to insert (out of memory) lets the datagram pass: the
            // daemon's admission is the second line.
            let _ = FIPS_MSG1_SRC.insert(key, &(now + gate.interval_ns), 0);
            true
        }
    }
}
