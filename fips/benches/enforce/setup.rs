//! The filters compared: none, our classifier, the older design's
//! port-only iptables rules, and the empty program (bpf_stats' floor).

use aya::programs::{tc::TcAttachType, SchedClassifier};
use fips::enforce::{self, Direction, Enforcer, Policy, Reason};

use fips_testkit::netns::run_cmd;
use fips_testkit::SidecarPair;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Setup {
    None,
    /// TC classifier, XDP in front of ingress, netfilter egress backstop.
    Ebpf,
    /// The same without the netfilter egress backstop: its cost is the
    /// ratio of `Ebpf` over this.
    EbpfNoBackstop,
    Iptables,
    /// `fips_noop` alone on eth0 ingress and egress: the bpf_stats floor.
    Noop,
}

/// The empty program is in the throughput rounds too: what attaching any
/// TC classifier on both hooks costs, the floor under ours.
pub const THROUGHPUT: [Setup; 5] = [
    Setup::None,
    Setup::Ebpf,
    Setup::EbpfNoBackstop,
    Setup::Iptables,
    Setup::Noop,
];
pub const PER_PACKET: [Setup; 2] = [Setup::Ebpf, Setup::Noop];

impl Setup {
    pub fn name(self) -> &'static str {
        match self {
            Setup::None => "no filter",
            Setup::Ebpf => "eBPF (fips)",
            Setup::EbpfNoBackstop => "eBPF, no netfilter backstop",
            Setup::Iptables => "iptables, port only",
            Setup::Noop => "empty program",
        }
    }
}

/// bpf_stats of one attached program since it was attached.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProgStats {
    pub run_ns: u64,
    pub runs: u64,
    /// Bytes our classifier passed on the hook (0 for other programs):
    /// with GSO one run may carry many datagrams.
    pub bytes: u64,
}

impl ProgStats {
    pub fn ns_per_run(self) -> f64 {
        self.run_ns as f64 / self.runs.max(1) as f64
    }

    pub fn bytes_per_run(self) -> f64 {
        self.bytes as f64 / self.runs.max(1) as f64
    }
}

/// What a setup attached to eth0, kept alive for the measurement.
pub enum Attached {
    Nothing,
    Iptables,
    Fips(Enforcer),
    /// One object per hook, so each program's bpf_stats are its own.
    Noop {
        _objects: [aya::Ebpf; 2],
        ids: [u32; 2],
    },
}

pub fn apply(topo: &SidecarPair, setup: Setup, policy: &Policy) -> Attached {
    match setup {
        Setup::None => Attached::Nothing,
        Setup::Noop => topo.sidecar.enter(|| {
            let (a, ingress) = attach_noop(TcAttachType::Ingress);
            let (b, egress) = attach_noop(TcAttachType::Egress);
            Attached::Noop {
                _objects: [a, b],
                ids: [ingress, egress],
            }
        }),
        Setup::Ebpf => {
            let enforcer = topo
                .sidecar
                .enter(|| Enforcer::attach("eth0", policy))
                .expect("attach the classifier");
            assert!(enforcer.backstop(), "no netfilter egress backstop");
            Attached::Fips(enforcer)
        }
        Setup::EbpfNoBackstop => topo.sidecar.enter(|| {
            let enforcer = Enforcer::attach("eth0", policy).expect("attach the classifier");
            let removed = enforce::remove_backstop("eth0").expect("remove the backstop");
            assert!(removed, "no backstop to remove");
            Attached::Fips(enforcer)
        }),
        Setup::Iptables => {
            let port = policy.udp_port.to_string();
            for rule in [
                [
                    "INPUT", "-i", "eth0", "-p", "udp", "--dport", &port, "-j", "ACCEPT",
                ]
                .as_slice(),
                &["INPUT", "-i", "eth0", "-j", "DROP"],
                &[
                    "OUTPUT", "-o", "eth0", "-p", "udp", "--sport", &port, "-j", "ACCEPT",
                ],
                &["OUTPUT", "-o", "eth0", "-j", "DROP"],
            ] {
                let mut args = vec!["netns", "exec", &topo.sidecar.name, "iptables", "-A"];
                args.extend_from_slice(rule);
                run_cmd("ip", &args);
            }
            Attached::Iptables
        }
    }
}

/// The classifier's object with only `fips_noop` loaded into the kernel.
pub fn load_noop() -> aya::Ebpf {
    static OBJECT: &[u8] = aya::include_bytes_aligned!(env!("FIPS_EBPF_OBJECT"));
    let mut bpf = aya::Ebpf::load(OBJECT).expect("load object");
    noop_mut(&mut bpf).load().expect("load fips_noop");
    bpf
}

pub fn noop_mut(bpf: &mut aya::Ebpf) -> &mut SchedClassifier {
    bpf.program_mut("fips_noop")
        .expect("fips_noop in the object")
        .try_into()
        .expect("a classifier")
}

/// The no-op program on one hook of eth0.
fn attach_noop(hook: TcAttachType) -> (aya::Ebpf, u32) {
    let mut bpf = load_noop();
    let prog = noop_mut(&mut bpf);
    prog.attach("eth0", hook).expect("attach fips_noop");
    let id = prog.info().expect("program info").id();
    (bpf, id)
}

impl Attached {
    /// (ingress, egress) bpf_stats of the attached programs, if any.
    pub fn stats(&self) -> Option<[ProgStats; 2]> {
        match self {
            Attached::Fips(enforcer) => {
                let snap = enforcer.snapshot().expect("snapshot");
                Some([Direction::Ingress, Direction::Egress].map(|dir| {
                    let link = snap
                        .links
                        .iter()
                        .find(|l| l.direction == dir.name())
                        .expect("a link per hook");
                    let bytes = snap
                        .counters
                        .iter()
                        .filter(|c| c.direction == dir.name() && c.reason == Reason::Passed.name())
                        .map(|c| c.bytes)
                        .sum();
                    ProgStats {
                        bytes,
                        ..prog_stats(link.program_id)
                    }
                }))
            }
            Attached::Noop { ids, .. } => Some(ids.map(prog_stats)),
            Attached::Nothing | Attached::Iptables => None,
        }
    }

    /// Packets our classifier dropped for a reason the transport's own
    /// traffic must never hit (it would mean a wrong port or cookie).
    pub fn transport_drops(&self) -> u64 {
        let Attached::Fips(enforcer) = self else {
            return 0;
        };
        let snap = enforcer.snapshot().expect("snapshot");
        Direction::COUNTED
            .iter()
            .flat_map(|&d| [Reason::WrongPort, Reason::ForeignSocket].map(|r| snap.packets(d, r)))
            .sum()
    }

    pub fn undo(self, topo: &SidecarPair) {
        match self {
            // Dropping the objects detaches the empty programs.
            Attached::Nothing | Attached::Noop { .. } => {}
            Attached::Fips(enforcer) => {
                // The pinned links outlive the Enforcer: remove them.
                drop(enforcer);
                topo.sidecar
                    .enter(|| enforce::remove("eth0"))
                    .expect("remove");
            }
            Attached::Iptables => {
                for chain in ["INPUT", "OUTPUT"] {
                    run_cmd(
                        "ip",
                        &["netns", "exec", &topo.sidecar.name, "iptables", "-F", chain],
                    );
                }
            }
        }
    }
}

/// run_time_ns and run_cnt of a program (bpftool).
fn prog_stats(program_id: u32) -> ProgStats {
    let out = run_cmd("bpftool", &["prog", "show", "id", &program_id.to_string()]);
    let text = String::from_utf8_lossy(&out.stdout);
    let words: Vec<&str> = text.split_whitespace().collect();
    let field = |name: &str| -> u64 {
        words
            .windows(2)
            .find(|w| w[0] == name)
            .and_then(|w| w[1].parse().ok())
            .unwrap_or(0)
    };
    ProgStats {
        run_ns: field("run_time_ns"),
        runs: field("run_cnt"),
        bytes: 0,
    }
}
