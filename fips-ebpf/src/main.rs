//! The FIPS sidecar's classifier: TC programs on ingress and egress of
//! eth0, and an XDP program in front of ingress.
//!
//! It parses the headers, compares them with the policy the daemon wrote
//! into the maps, bumps one per-CPU counter keyed by (hook, reason) and
//! returns a verdict. Only the transport's UDP, IPv4 ARP and (for an IPv6
//! transport) neighbour discovery pass; everything else is dropped. The
//! XDP program runs before the kernel hands a frame to packet sockets
//! (AF_PACKET taps), so what it drops no local reader ever sees; TC
//! ingress stays as the second line. The policy itself lives in userspace
//! (`fips::enforce`).
//!
//! One classifier serves both kinds of context through [`Frame`].
//!
//! What reports what: the per-CPU counters are the complete record (every
//! verdict, by hook and reason; `fipsctl show firewall`); the ring buffer
//! carries rate-limited, structured descriptions of drops for the daemon's
//! log (addresses, ports, at most `EVENTS_PER_SECOND` per CPU); aya-log
//! carries every verdict as a debug line for whoever debugs the filter,
//! only when switched on at load (`FIPS_LOG_VERDICTS`).
#![no_std]
#![no_main]

mod metrics;
mod msg1_gate;

use aya_ebpf::{
    helpers::{bpf_get_socket_cookie, bpf_ktime_get_ns},
    macros::{classifier, map, xdp},
    maps::{Array, PerCpuArray, RingBuf},
    programs::{TcContext, XdpContext},
    EbpfContext,
};
use fips_common::{
    counter_slot, Counter, Direction, DropEvent, EventBudget, Policy, Reason, SocketSet,
    COUNTER_SLOTS, EVENTS_PER_SECOND, EVENTS_RING_BYTES, POLICY_ALLOW_IPV6, VERDICT_DROP,
    VERDICT_PASS, XDP_DROP, XDP_PASS,
};

/// Index 0: the transport's port and flags.
#[map]
static FIPS_POLICY: Array<Policy> = Array::with_max_entries(1, 0);

/// Index 0: socket cookies (`SO_COOKIE`) of the daemon's transport sockets.
#[map]
static FIPS_SOCKETS: Array<SocketSet> = Array::with_max_entries(1, 0);

/// Packets and bytes per (direction, reason), see `fips_common::counter_slot`.
#[map]
static FIPS_COUNTERS: PerCpuArray<Counter> = PerCpuArray::with_max_entries(COUNTER_SLOTS, 0);

/// Rate-limited descriptions of dropped packets, for the daemon's log.
#[map]
static FIPS_EVENTS: RingBuf = RingBuf::with_byte_size(EVENTS_RING_BYTES, 0);

#[map]
static FIPS_EV_BUDGET: PerCpuArray<EventBudget> = PerCpuArray::with_max_entries(1, 0);

/// Non-zero: log every verdict through aya-log (`GLOBAL_LOG_VERDICTS`).
/// aya-log-ebpf 0.1 has no level filter in the kernel (each call formats
/// and writes its perf buffer; the level is checked in userspace), so this
/// is the switch: the loader sets it before load, and as read-only data
/// its value is known to the verifier, which removes the logging branch
/// when it is 0. Off, it costs nothing.
#[no_mangle]
static FIPS_LOG_VERDICTS: u8 = 0;

pub(crate) const ETH_HLEN: usize = 14;
const IPPROTO_TCP: u8 = 6;
const ETH_P_IP: u16 = 0x0800;
const ETH_P_ARP: u16 = 0x0806;
const ETH_P_IPV6: u16 = 0x86dd;
const ETH_P_8021Q: u16 = 0x8100;
const ETH_P_8021AD: u16 = 0x88a8;
const IPPROTO_UDP: u8 = 17;
const IPPROTO_ICMPV6: u8 = 58;
const IPV6_HLEN: usize = 40;
/// `sk_state` of a request socket (a connection in a listener's queue).
const TCP_NEW_SYN_RECV: u32 = 12;
/// More-fragments flag and fragment offset of the IPv4 header.
const IPV4_FRAG_MASK: u16 = 0x3fff;

#[classifier]
pub fn fips_ingress(ctx: TcContext) -> i32 {
    tc_verdict(&ctx, Direction::Ingress)
}

#[classifier]
pub fn fips_egress(ctx: TcContext) -> i32 {
    tc_verdict(&ctx, Direction::Egress)
}

/// Ingress before the packet taps: counted under `Direction::Xdp`.
#[xdp]
pub fn fips_xdp(ctx: XdpContext) -> u32 {
    if passes(&ctx, Direction::Xdp) {
        XDP_PASS
    } else {
        XDP_DROP
    }
}

/// What the classifier needs from a program context: the packet's bytes,
/// its length, and the two facts only an skb has.
pub(crate) trait Frame {
    fn data(&self) -> usize;
    fn data_end(&self) -> usize;
    fn len(&self) -> u32;
    /// Reads beyond the directly readable bytes (paged skb data, or a
    /// variable offset the verifier refuses without CAP_PERFMON).
    fn load_slow<T: Copy>(&self, offset: usize) -> Result<T, i64>;
    /// A VLAN tag the driver moved out of the frame into skb metadata.
    fn vlan_present(&self) -> bool;
    /// `bpf_get_socket_cookie` of the sending socket, 0 without one.
    fn socket_cookie(&self) -> u64;
    /// `skb->mark` (the sending socket's `SO_MARK` on egress), 0 in XDP.
    fn mark(&self) -> u32;
    /// The packet's socket is a request socket: a SYN-ACK the kernel sends
    /// for a connection not yet accepted.
    fn from_request_socket(&self) -> bool;
}

/// `Frame::data` and `Frame::data_end`: the context's own.
macro_rules! frame_bounds {
    ($ctx:ty) => {
        #[inline(always)]
        fn data(&self) -> usize {
            <$ctx>::data(self)
        }
        #[inline(always)]
        fn data_end(&self) -> usize {
            <$ctx>::data_end(self)
        }
    };
}

impl Frame for TcContext {
    frame_bounds!(TcContext);
    #[inline(always)]
    fn len(&self) -> u32 {
        TcContext::len(self)
    }
    #[inline(always)]
    fn load_slow<T: Copy>(&self, offset: usize) -> Result<T, i64> {
        self.load::<T>(offset)
    }
    #[inline(always)]
    fn vlan_present(&self) -> bool {
        // SAFETY: `skb` is the context pointer the kernel gave this program.
        unsafe { (*self.skb.skb).vlan_present != 0 }
    }
    #[inline(always)]
    fn socket_cookie(&self) -> u64 {
        // SAFETY: the helper takes the program's context pointer.
        unsafe { bpf_get_socket_cookie(self.skb.skb as *mut _) }
    }
    #[inline(always)]
    fn mark(&self) -> u32 {
        // SAFETY: `skb` is the context pointer the kernel gave this program.
        unsafe { (*self.skb.skb).mark }
    }
    #[inline(always)]
    fn from_request_socket(&self) -> bool {
        // SAFETY: `skb` is the context pointer; `sk` is null or a socket
        // (common part) the verifier lets us read `state` from.
        unsafe {
            let sk = (*self.skb.skb).__bindgen_anon_2.sk;
            !sk.is_null() && (*sk).state == TCP_NEW_SYN_RECV
        }
    }
}

impl Frame for XdpContext {
    frame_bounds!(XdpContext);
    /// Through the helper: `data_end - data` is pointer arithmetic the
    /// verifier refuses without CAP_PERFMON.
    #[inline(always)]
    fn len(&self) -> u32 {
        // SAFETY: the helper takes the program's context pointer.
        unsafe { aya_ebpf::helpers::gen::bpf_xdp_get_buff_len(self.ctx) as u32 }
    }
    #[inline(always)]
    fn load_slow<T: Copy>(&self, offset: usize) -> Result<T, i64> {
        let mut out = core::mem::MaybeUninit::<T>::uninit();
        // SAFETY: the helper writes exactly size_of::<T>() bytes into
        // `out` or fails; `out` is read only on success.
        let ret = unsafe {
            aya_ebpf::helpers::gen::bpf_xdp_load_bytes(
                self.ctx as *mut _,
                offset as u32,
                out.as_mut_ptr() as *mut _,
                core::mem::size_of::<T>() as u32,
            )
        };
        if ret == 0 {
            // SAFETY: initialised by the successful helper call.
            Ok(unsafe { out.assume_init() })
        } else {
            Err(ret)
        }
    }
    #[inline(always)]
    fn vlan_present(&self) -> bool {
        // In native mode a tag stays in the frame; in generic mode one in
        // skb metadata is not visible here, and TC ingress drops it.
        false
    }
    #[inline(always)]
    fn socket_cookie(&self) -> u64 {
        0
    }
    #[inline(always)]
    fn mark(&self) -> u32 {
        0
    }
    #[inline(always)]
    fn from_request_socket(&self) -> bool {
        false
    }
}

/// Passes everything and touches nothing: the enforce bench attaches it
/// alone to measure what `kernel.bpf_stats_enabled` itself adds per run
/// (two clock reads), the floor under any classifier's figure. The daemon
/// never loads it.
#[classifier]
pub fn fips_noop(_ctx: TcContext) -> i32 {
    VERDICT_PASS
}

#[inline(always)]
fn tc_verdict(ctx: &TcContext, dir: Direction) -> i32 {
    if passes(ctx, dir) {
        VERDICT_PASS
    } else {
        VERDICT_DROP
    }
}

/// Classifies, counts, and reports a drop; true when the frame passes.
#[inline(always)]
fn passes<F: Frame + EbpfContext>(ctx: &F, dir: Direction) -> bool {
    let mut reason = classify(ctx, dir);
    if dir == Direction::Xdp && reason == Reason::Passed {
        reason = msg1_gate::verdict(ctx);
    }
    count(ctx, dir, reason);
    if log_verdicts() {
        log_verdict(ctx, dir, reason);
    }
    if reason.passes() {
        return true;
    }
    report_drop(ctx, dir, reason);
    false
}

#[inline(always)]
fn log_verdicts() -> bool {
    // SAFETY: a read of a static byte; volatile so that the compiler keeps
    // the load (the loader patches the value) instead of folding in 0.
    unsafe { core::ptr::read_volatile(&FIPS_LOG_VERDICTS) != 0 }
}

#[inline(never)]
fn log_verdict<F: Frame + EbpfContext>(ctx: &F, dir: Direction, reason: Reason) {
    let verdict = if reason.passes() { "pass" } else { "drop" };
    aya_log_ebpf::debug!(
        ctx,
        target: fips_common::LOG_TARGET_VERDICTS,
        "{} {}: {} ({} bytes)",
        dir.name(),
        verdict,
        reason.name(),
        ctx.len()
    );
}

/// Emits a drop event if this CPU's budget for the current second allows.
#[inline(always)]
fn report_drop<F: Frame>(ctx: &F, dir: Direction, reason: Reason) {
    let Some(budget) = FIPS_EV_BUDGET.get_ptr_mut(0) else {
        return;
    };
    // SAFETY: a helper without arguments.
    let now = unsafe { bpf_ktime_get_ns() };
    // SAFETY: this CPU's slot of a per-CPU array, valid for this run.
    let budget = unsafe { &mut *budget };
    if now.wrapping_sub(budget.window_start_ns) >= 1_000_000_000 {
        budget.window_start_ns = now;
        budget.sent = 0;
    }
    if budget.sent >= EVENTS_PER_SECOND {
        budget.suppressed += 1;
        return;
    }
    budget.sent += 1;
    if FIPS_EVENTS.output(&describe(ctx, dir, reason), 0).is_err() {
        budget.suppressed += 1;
    }
}

/// Best-effort header fields of a dropped packet; what cannot be read
/// (truncated, not IP) stays zero. Every field is assigned once from a
/// scalar: no zero-filled struct, hence no memset loop for the verifier.
#[inline(always)]
fn describe<F: Frame>(ctx: &F, dir: Direction, reason: Reason) -> DropEvent {
    let ethertype = load::<[u8; 2]>(ctx, 12).map_or(0, u16::from_be_bytes);
    let (ip_version, protocol, src, dst, l4) = match ethertype {
        ETH_P_IP => match load::<[u8; 20]>(ctx, ETH_HLEN) {
            Ok(h) => (
                4,
                h[9],
                [u32::from_ne_bytes([h[12], h[13], h[14], h[15]]), 0, 0, 0],
                [u32::from_ne_bytes([h[16], h[17], h[18], h[19]]), 0, 0, 0],
                ETH_HLEN + usize::from(h[0] & 0x0f) * 4,
            ),
            Err(_) => (0, 0, [0; 4], [0; 4], 0),
        },
        ETH_P_IPV6 => match (
            load::<[u8; 8]>(ctx, ETH_HLEN),
            load::<[u32; 4]>(ctx, ETH_HLEN + 8),
            load::<[u32; 4]>(ctx, ETH_HLEN + 24),
        ) {
            (Ok(h), Ok(src), Ok(dst)) => (6, h[6], src, dst, ETH_HLEN + IPV6_HLEN),
            _ => (0, 0, [0; 4], [0; 4], 0),
        },
        _ => (0, 0, [0; 4], [0; 4], 0),
    };
    let ports = if l4 != 0 && (protocol == IPPROTO_TCP || protocol == IPPROTO_UDP) {
        ctx.load_slow::<[u8; 4]>(l4).unwrap_or([0; 4])
    } else {
        [0; 4]
    };
    DropEvent {
        len: ctx.len(),
        direction: dir as u8,
        reason: reason as u8,
        ip_version,
        protocol,
        ethertype,
        src_port: u16::from_be_bytes([ports[0], ports[1]]),
        dst_port: u16::from_be_bytes([ports[2], ports[3]]),
        _pad: 0,
        src,
        dst,
    }
}

/// Reads a `T` at a constant `offset`: straight from the packet when the
/// bytes are in the linear part (the usual case), else through
/// `bpf_skb_load_bytes` / `bpf_xdp_load_bytes`, which also reach paged
/// data. Errs when the packet is shorter.
#[inline(always)]
pub(crate) fn load<T: Copy>(ctx: &impl Frame, offset: usize) -> Result<T, i64> {
    let start = ctx.data();
    if start + offset + core::mem::size_of::<T>() <= ctx.data_end() {
        // SAFETY: the bytes lie between data and data_end, checked above;
        // read_unaligned because headers have no alignment promise.
        return Ok(unsafe { core::ptr::read_unaligned((start + offset) as *const T) });
    }
    ctx.load_slow::<T>(offset)
}

#[inline(always)]
fn count<F: Frame>(ctx: &F, dir: Direction, reason: Reason) {
    if let Some(counter) = FIPS_COUNTERS.get_ptr_mut(counter_slot(dir, reason)) {
        // SAFETY: the pointer is this CPU's slot of a per-CPU array, valid
        // for the program's run; no other CPU writes it.
        unsafe {
            (*counter).packets += 1;
            (*counter).bytes += u64::from(ctx.len());
        }
    }
}

#[inline(always)]
fn classify<F: Frame>(ctx: &F, dir: Direction) -> Reason {
    if ctx.vlan_present() {
        return Reason::Vlan;
    }
    let policy = FIPS_POLICY.get(0).copied().unwrap_or_default();
    if let Some(reason) = ipv4_udp_fast(ctx, dir, &policy) {
        return reason;
    }
    let Ok(ethertype) = load::<[u8; 2]>(ctx, 12).map(u16::from_be_bytes) else {
        return Reason::Malformed;
    };
    match ethertype {
        ETH_P_ARP => arp(ctx),
        ETH_P_IP => ipv4(ctx, dir, &policy),
        ETH_P_IPV6 if policy.flags & POLICY_ALLOW_IPV6 != 0 => ipv6(ctx, dir, &policy),
        ETH_P_IPV6 => Reason::Ipv6,
        ETH_P_8021Q | ETH_P_8021AD => Reason::Vlan,
        _ => Reason::OtherEthertype,
    }
}

/// The transport's own packets (Ethernet, IPv4 without options, UDP, all
/// in the linear data) with one bounds check instead of one per header,
/// and single-byte reads of just the fields the verdict needs. It returns
/// what `ipv4` would for these packets: version 4 and a 20-byte header
/// are checked here, and the skb is at least as long as its linear part,
/// so `ipv4`'s length check holds. Anything else takes the general path.
#[inline(always)]
fn ipv4_udp_fast<F: Frame>(ctx: &F, dir: Direction, policy: &Policy) -> Option<Reason> {
    const UDP_AT: usize = ETH_HLEN + 20;
    let start = ctx.data();
    if start + UDP_AT + 8 > ctx.data_end() {
        return None;
    }
    // SAFETY: every offset read is below UDP_AT + 8, inside the linear
    // data checked above.
    let byte = |offset: usize| unsafe { *((start + offset) as *const u8) };
    if byte(12) != (ETH_P_IP >> 8) as u8 || byte(13) != ETH_P_IP as u8 || byte(ETH_HLEN) != 0x45 {
        return None;
    }
    let frag = u16::from_be_bytes([byte(ETH_HLEN + 6), byte(ETH_HLEN + 7)]);
    if frag & IPV4_FRAG_MASK != 0 {
        return Some(Reason::Fragment);
    }
    match byte(ETH_HLEN + 9) {
        IPPROTO_UDP => {}
        IPPROTO_TCP => return Some(metrics::tcp(ctx, dir, policy, metrics::At::Ipv4)),
        _ => return Some(Reason::NotUdp),
    }
    let ports = [
        byte(UDP_AT),
        byte(UDP_AT + 1),
        byte(UDP_AT + 2),
        byte(UDP_AT + 3),
    ];
    Some(udp(ctx, dir, ports, policy))
}

/// Only ARP for IPv4 over Ethernet passes.
#[inline(always)]
fn arp<F: Frame>(ctx: &F) -> Reason {
    let Ok(h) = load::<[u8; 8]>(ctx, ETH_HLEN) else {
        return Reason::Malformed;
    };
    let ipv4_over_ethernet = u16::from_be_bytes([h[0], h[1]]) == 1
        && u16::from_be_bytes([h[2], h[3]]) == ETH_P_IP
        && h[4] == 6
        && h[5] == 4;
    if ipv4_over_ethernet {
        Reason::ArpPassed
    } else {
        Reason::OtherEthertype
    }
}

#[inline(always)]
fn ipv4<F: Frame>(ctx: &F, dir: Direction, policy: &Policy) -> Reason {
    // Only the first 10 bytes are read (version to protocol): fewer loads
    // on the hot path. A header cut short after them is still caught by
    // the length check below, as header_len is at least 20.
    let Ok(h) = load::<[u8; 10]>(ctx, ETH_HLEN) else {
        return Reason::Malformed;
    };
    let header_len = usize::from(h[0] & 0x0f) * 4;
    if h[0] >> 4 != 4 || header_len < 20 || (ctx.len() as usize) < ETH_HLEN + header_len {
        return Reason::Malformed;
    }
    if u16::from_be_bytes([h[6], h[7]]) & IPV4_FRAG_MASK != 0 {
        return Reason::Fragment;
    }
    match h[9] {
        IPPROTO_UDP => {}
        IPPROTO_TCP if header_len == 20 => {
            return metrics::tcp(ctx, dir, policy, metrics::At::Ipv4)
        }
        IPPROTO_TCP => {
            let at = metrics::At::Ipv4Options(ETH_HLEN + header_len);
            return metrics::tcp(ctx, dir, policy, at);
        }
        _ => return Reason::NotUdp,
    }
    // Without options (every packet the transport sends) the UDP header
    // sits at a constant offset, readable straight from the linear data.
    // With options the offset varies: through the helper, because the
    // verifier refuses the compiled `offset + data` without CAP_PERFMON.
    let udp_header = if header_len == 20 {
        load::<[u8; 8]>(ctx, ETH_HLEN + 20)
    } else {
        ctx.load_slow::<[u8; 8]>(ETH_HLEN + header_len)
    };
    match udp_header {
        Ok(u) => udp(ctx, dir, [u[0], u[1], u[2], u[3]], policy),
        Err(_) => Reason::Malformed,
    }
}

/// Extension headers are not walked: the transport never sends them, so a
/// packet carrying one is dropped under its own reason.
#[inline(always)]
fn ipv6<F: Frame>(ctx: &F, dir: Direction, policy: &Policy) -> Reason {
    let Ok(h) = load::<[u8; 8]>(ctx, ETH_HLEN) else {
        return Reason::Malformed;
    };
    if h[0] >> 4 != 6 || (ctx.len() as usize) < ETH_HLEN + IPV6_HLEN {
        return Reason::Malformed;
    }
    match h[6] {
        IPPROTO_UDP => match load::<[u8; 8]>(ctx, ETH_HLEN + IPV6_HLEN) {
            Ok(u) => udp(ctx, dir, [u[0], u[1], u[2], u[3]], policy),
            Err(_) => Reason::Malformed,
        },
        IPPROTO_TCP => metrics::tcp(ctx, dir, policy, metrics::At::Ipv6),
        IPPROTO_ICMPV6 => neighbour_discovery(ctx),
        44 => Reason::Fragment,
        // Hop-by-hop, routing, destination options, AH, mobility, HIP, shim6.
        0 | 43 | 60 | 51 | 135 | 139 | 140 => Reason::Ipv6ExtHeader,
        _ => Reason::NotUdp,
    }
}

/// Router/neighbour solicitation and advertisement, redirect (133..=137).
#[inline(always)]
fn neighbour_discovery<F: Frame>(ctx: &F) -> Reason {
    match load::<u8>(ctx, ETH_HLEN + IPV6_HLEN) {
        Ok(133..=137) => Reason::NdPassed,
        Ok(_) => Reason::NotUdp,
        Err(_) => Reason::Malformed,
    }
}

/// Ingress (TC and XDP): UDP to the transport port. Egress: UDP from the
/// transport port sent by one of the daemon's sockets (so a raw socket or
/// a second SO_REUSEPORT socket on the same port does not pass). `h`: the
/// first four bytes of the UDP header, the ports.
#[inline(always)]
fn udp<F: Frame>(ctx: &F, dir: Direction, h: [u8; 4], policy: &Policy) -> Reason {
    let port = match dir {
        Direction::Ingress | Direction::Xdp => u16::from_be_bytes([h[2], h[3]]),
        Direction::Egress => u16::from_be_bytes([h[0], h[1]]),
    };
    if policy.udp_port == 0 || port != policy.udp_port {
        return Reason::WrongPort;
    }
    if dir != Direction::Egress {
        return Reason::Passed;
    }
    let cookie = ctx.socket_cookie();
    let Some(set) = FIPS_SOCKETS.get(0) else {
        return Reason::ForeignSocket;
    };
    if cookie != 0 && set.cookies.iter().any(|&c| c == cookie) {
        Reason::Passed
    } else {
        Reason::ForeignSocket
    }
}

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo<'_>) -> ! {
    // Nothing above can panic: indexes are constants into fixed arrays and
    // every fallible load is matched. A panic path that survived would
    // still be rejected by the verifier, so there is no loop to park in.
    // SAFETY: unreachable by construction, see above.
    unsafe { core::hint::unreachable_unchecked() }
}
