//! Loads the embedded classifier object, fills its policy maps and reads
//! its counters. Attaching and pinning are `pin.rs`'s business.

use super::error::{bpf_err, EnforceError};
use super::msg1_gate::{self, KnownPeers, KnownSync, Msg1GateEntry, Msg1Rate};
use super::snapshot::CounterRow;
use super::{sys, Policy};
use aya::maps::{Array, Map, MapData, PerCpuArray, PerCpuValues};
use aya::programs::{SchedClassifier, Xdp};
use aya::{Ebpf, EbpfLoader};
use fips_common::{
    counter_slot, Counter, Direction, Reason, GLOBAL_LOG_VERDICTS, LOG_TARGET_VERDICTS,
    MAP_COUNTERS, MAP_MSG1_GATE, MAP_MSG1_KNOWN, MAP_MSG1_SOURCES, MAP_POLICY, MAP_SOCKETS,
    POLICY_ALLOW_IPV6, PROG_EGRESS, PROG_INGRESS, PROG_XDP,
};
use std::net::IpAddr;
use std::os::fd::AsFd as _;

/// The object `cargo xtask build-ebpf` wrote; empty when it was missing at
/// build time (see `fips/build.rs`), which [`Classifier::load`] reports.
// Aligned: the ELF parser reads the headers in place.
static OBJECT: &[u8] = aya::include_bytes_aligned!(env!("FIPS_EBPF_OBJECT"));

/// The process's `log` logger, by value for aya-log.
fn aya_log_logger() -> &'static dyn log::Log {
    log::logger()
}

/// The classifier loaded into the kernel with its policy, not attached.
pub struct Classifier {
    ebpf: Ebpf,
    msg1_rate: Msg1Rate,
    known: KnownPeers,
}

pub(crate) const fn program_name(dir: Direction) -> &'static str {
    match dir {
        Direction::Ingress => PROG_INGRESS,
        Direction::Egress => PROG_EGRESS,
        Direction::Xdp => PROG_XDP,
    }
}

impl Classifier {
    /// Loads the three programs (through the verifier) with `policy` in
    /// place. Every verdict is logged (aya-log, target
    /// `fips::enforce::ebpf`) when this process's tracing shows that target
    /// at debug, e.g. `RUST_LOG=fips::enforce=debug`; otherwise the logging
    /// is left out of the loaded program.
    pub fn load(policy: &Policy) -> Result<Classifier, EnforceError> {
        let verdicts = tracing::enabled!(target: LOG_TARGET_VERDICTS, tracing::Level::DEBUG);
        let mut classifier = Classifier::load_with(policy, verdicts)?;
        if verdicts {
            classifier.forward_verdict_logs();
        }
        Ok(classifier)
    }

    /// Like [`Classifier::load`] with the verdict logs on or off as asked,
    /// and not forwarded anywhere (see [`Classifier::forward_verdict_logs`]).
    pub fn load_with(policy: &Policy, log_verdicts: bool) -> Result<Classifier, EnforceError> {
        if OBJECT.is_empty() {
            return Err(EnforceError::NotBuilt);
        }
        let ebpf = EbpfLoader::new()
            .set_global(GLOBAL_LOG_VERDICTS, &u8::from(log_verdicts), true)
            .load(OBJECT)
            .map_err(bpf_err("loading the eBPF object (creating its maps)"))?;
        let mut classifier = Classifier {
            ebpf,
            msg1_rate: Msg1Rate::DEFAULT,
            known: KnownPeers::default(),
        };
        classifier.write_policy(policy)?;
        classifier.set_msg1_rate(Msg1Rate::DEFAULT)?;
        for dir in Direction::ALL {
            classifier
                .program_mut(dir)?
                .load()
                .map_err(bpf_err("loading the classifier program"))?;
        }
        classifier
            .xdp_mut()?
            .load()
            .map_err(bpf_err("loading the XDP program"))?;
        Ok(classifier)
    }

    /// Sends the verdict logs to the `log` crate (which tracing-subscriber
    /// bridges into the daemon's log), read by one task per CPU on the
    /// current tokio runtime.
    pub fn forward_verdict_logs(&mut self) {
        self.forward_verdict_logs_to(aya_log_logger());
    }

    /// Like [`Classifier::forward_verdict_logs`] into `logger` (tests).
    pub fn forward_verdict_logs_to<L: log::Log + 'static>(&mut self, logger: L) {
        if tokio::runtime::Handle::try_current().is_err() {
            tracing::warn!("eBPF verdict logs are on but cannot be read outside a tokio runtime");
            return;
        }
        match aya_log::EbpfLogger::init_with_logger(&mut self.ebpf, logger) {
            Ok(_) => {
                tracing::debug!("eBPF verdict logs on (every packet on the filtered interface)")
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the eBPF verdict logs"),
        }
    }

    /// Bytes of the TC program of `dir` after the verifier's rewrite
    /// (dead code removed): shows what the verdict logs add when on.
    pub fn translated_size(&mut self, dir: Direction) -> Result<u32, EnforceError> {
        let info = self
            .program_mut(dir)?
            .info()
            .map_err(bpf_err("reading the program's info"))?;
        Ok(info.size_translated().unwrap_or(0))
    }

    pub(crate) fn xdp_mut(&mut self) -> Result<&mut Xdp, EnforceError> {
        let program = self.ebpf.program_mut(PROG_XDP).ok_or(EnforceError::Bpf {
            what: "the eBPF object lacks a program",
            source: PROG_XDP.into(),
        })?;
        program
            .try_into()
            .map_err(bpf_err("the eBPF program is not an XDP program"))
    }

    pub(crate) fn program_mut(
        &mut self,
        dir: Direction,
    ) -> Result<&mut SchedClassifier, EnforceError> {
        let name = program_name(dir);
        let program = self.ebpf.program_mut(name).ok_or(EnforceError::Bpf {
            what: "the eBPF object lacks a program",
            source: name.into(),
        })?;
        program
            .try_into()
            .map_err(bpf_err("the eBPF program is not a TC classifier"))
    }

    pub(crate) fn map(&self, name: &'static str) -> Result<&Map, EnforceError> {
        self.ebpf.map(name).ok_or(EnforceError::Bpf {
            what: "the eBPF object lacks a map",
            source: name.into(),
        })
    }

    pub(crate) fn take_map(&mut self, name: &'static str) -> Result<Map, EnforceError> {
        self.ebpf.take_map(name).ok_or(EnforceError::Bpf {
            what: "the eBPF map is missing or already taken",
            source: name.into(),
        })
    }

    /// Sets XDP's per-source rate for handshake initiations (see
    /// `msg1_gate.rs`); loading sets [`Msg1Rate::DEFAULT`].
    pub fn set_msg1_rate(&mut self, rate: Msg1Rate) -> Result<(), EnforceError> {
        msg1_gate::write_rate(self.map_mut(MAP_MSG1_GATE)?, rate)?;
        self.msg1_rate = rate;
        Ok(())
    }

    /// Makes the known peers' addresses, exempt from XDP's msg1 gate,
    /// exactly `ips` (up to `fips_common::MSG1_KNOWN_CAP`).
    pub fn set_known_peers(
        &mut self,
        ips: impl IntoIterator<Item = IpAddr>,
    ) -> Result<KnownSync, EnforceError> {
        let map = self.ebpf.map_mut(MAP_MSG1_KNOWN).ok_or(EnforceError::Bpf {
            what: "the eBPF object lacks a map",
            source: MAP_MSG1_KNOWN.into(),
        })?;
        self.known.sync(map, ips)
    }

    /// XDP's msg1 gate as `fipsctl show firewall` shows it.
    pub fn msg1_gate(&self) -> Result<Msg1GateEntry, EnforceError> {
        Msg1GateEntry::read(self.msg1_rate, self.map(MAP_MSG1_SOURCES)?, &self.known)
    }

    pub(crate) fn map_mut(&mut self, name: &'static str) -> Result<&mut Map, EnforceError> {
        self.ebpf.map_mut(name).ok_or(EnforceError::Bpf {
            what: "the eBPF object lacks a map",
            source: name.into(),
        })
    }

    fn write_policy(&mut self, policy: &Policy) -> Result<(), EnforceError> {
        let raw = fips_common::Policy {
            udp_port: policy.udp_port,
            metrics_port: 0,
            flags: if policy.allow_ipv6 {
                POLICY_ALLOW_IPV6
            } else {
                0
            },
        };
        let mut array: Array<_, fips_common::Policy> =
            Array::try_from(self.map_mut(MAP_POLICY)?)
                .map_err(bpf_err("opening the policy map"))?;
        array
            .set(0, raw, 0)
            .map_err(bpf_err("writing the policy map"))?;
        let mut set = fips_common::SocketSet::default();
        if policy.socket_cookies.len() > set.cookies.len() {
            return Err(EnforceError::Bpf {
                what: "writing the socket map",
                source: format!(
                    "{} transport sockets, at most {} fit",
                    policy.socket_cookies.len(),
                    set.cookies.len()
                )
                .into(),
            });
        }
        for (slot, cookie) in set.cookies.iter_mut().zip(&policy.socket_cookies) {
            *slot = *cookie;
        }
        let mut sockets: Array<_, fips_common::SocketSet> =
            Array::try_from(self.map_mut(MAP_SOCKETS)?)
                .map_err(bpf_err("opening the socket map"))?;
        sockets
            .set(0, set, 0)
            .map_err(bpf_err("writing the socket map"))?;
        Ok(())
    }

    /// Adds earlier totals (from the filter this one replaces) to CPU 0's
    /// slots, so counts survive a daemon restart.
    pub(crate) fn add_counters(&mut self, earlier: &[CounterRow]) -> Result<(), EnforceError> {
        let cpus = aya::util::nr_cpus().map_err(|(_, e)| EnforceError::Bpf {
            what: "counting possible CPUs",
            source: Box::new(e),
        })?;
        let mut array: PerCpuArray<_, Counter> = PerCpuArray::try_from(self.map_mut(MAP_COUNTERS)?)
            .map_err(bpf_err("opening the counter map"))?;
        for row in earlier {
            let mut values = vec![Counter::default(); cpus];
            values[0] = Counter {
                packets: row.packets,
                bytes: row.bytes,
            };
            let values = PerCpuValues::try_from(values).map_err(bpf_err("building counters"))?;
            array
                .set(counter_slot(row.dir, row.reason), values, 0)
                .map_err(bpf_err("writing the counter map"))?;
        }
        Ok(())
    }

    pub fn counters(&self) -> Result<Vec<CounterRow>, EnforceError> {
        read_counters(self.map(MAP_COUNTERS)?)
    }

    /// Runs the program of `dir` once on `frame` with `BPF_PROG_TEST_RUN`
    /// and returns its verdict (`fips_common::VERDICT_*` for the TC hooks,
    /// `XDP_*` for `Direction::Xdp`).
    pub fn test_run(&mut self, dir: Direction, frame: &[u8]) -> Result<i32, EnforceError> {
        self.test_run_repeat(dir, frame, 1)
            .map(|(verdict, _)| verdict)
    }

    /// Runs the program `repeat` times in the kernel (for benchmarks):
    /// the verdict and the kernel's mean nanoseconds per run.
    pub fn test_run_repeat(
        &mut self,
        dir: Direction,
        frame: &[u8],
        repeat: u32,
    ) -> Result<(i32, u32), EnforceError> {
        let name = program_name(dir);
        let program = self.ebpf.program(name).ok_or(EnforceError::Bpf {
            what: "the eBPF object lacks a program",
            source: name.into(),
        })?;
        let fd = program
            .fd()
            .map_err(bpf_err("the classifier is not loaded"))?;
        sys::test_run_repeat(fd.as_fd(), frame, repeat).map_err(bpf_err("BPF_PROG_TEST_RUN"))
    }
}

/// Sums every (direction, reason) slot over the CPUs.
pub(crate) fn read_counters(map: &Map) -> Result<Vec<CounterRow>, EnforceError> {
    let array: PerCpuArray<&MapData, Counter> =
        PerCpuArray::try_from(map).map_err(bpf_err("opening the counter map"))?;
    let mut rows = Vec::new();
    for dir in Direction::COUNTED {
        for reason in Reason::ALL {
            let values = array
                .get(&counter_slot(dir, reason), 0)
                .map_err(bpf_err("reading the counter map"))?;
            let (packets, bytes) = values
                .iter()
                .fold((0, 0), |(p, b), c| (p + c.packets, b + c.bytes));
            rows.push(CounterRow {
                dir,
                reason,
                packets,
                bytes,
            });
        }
    }
    Ok(rows)
}
