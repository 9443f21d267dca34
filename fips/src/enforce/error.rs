//! Errors of the enforcement loader. Each says what is missing and how to
//! fix it: capabilities, seccomp, bpffs, kernel version.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum EnforceError {
    #[error(
        "this fips binary was built without the eBPF classifier: run `cargo xtask build-ebpf`, then rebuild fips"
    )]
    NotBuilt,

    #[error("interface {iface:?} does not exist in this network namespace")]
    NoInterface { iface: String },

    #[error(
        "{what}: permission denied by bpf(). The process needs CAP_BPF and CAP_NET_ADMIN \
         (compose: cap_add: [NET_ADMIN, BPF], which needs Docker Engine 23 or later; \
         older engines reject CAP_BPF and their seccomp profile allows bpf() only with CAP_SYS_ADMIN). \
         A seccomp profile that blocks bpf() gives the same error (podman: use a profile allowing bpf)"
    )]
    Permission {
        what: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    #[error(
        "no BPF file system at {path} and mounting one failed: run `mount -t bpf bpf {path}` \
         on the host (or bind-mount it into the container: volumes: [/sys/fs/bpf:/sys/fs/bpf]); \
         the filter is pinned there so it outlives the daemon"
    )]
    NoBpffs {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "{what}: the kernel does not support TCX links (Linux 6.6 or later is needed for the eth0 filter)"
    )]
    KernelTooOld {
        what: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    #[error(
        "{what}: the kernel's verifier rejected the classifier (without CAP_PERFMON it applies \
         stricter rules; this build of fips-ebpf must load with CAP_BPF alone). Verifier log tail:\n{log_tail}"
    )]
    Verifier {
        what: &'static str,
        log_tail: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    #[error("{what}")]
    Bpf {
        what: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    #[error("{what} {path}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{what} (nf_tables over netlink; needs CAP_NET_ADMIN)")]
    Netfilter {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },

    #[error("no FIPS filter is pinned for {iface} (looked in {dir})")]
    NotAttached { iface: String, dir: PathBuf },
}

/// The first OS error number found along an error's `source()` chain.
pub(crate) fn errno_in_chain(err: &(dyn std::error::Error + 'static)) -> Option<i32> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if let Some(code) = io.raw_os_error() {
                return Some(code);
            }
        }
        cur = e.source();
    }
    None
}

/// The verifier's log, when a program load failed in the verifier (an
/// empty log means the syscall itself was refused, e.g. no CAP_BPF).
fn verifier_log_in_chain(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(aya::programs::ProgramError::LoadError { verifier_log, .. }) =
            e.downcast_ref::<aya::programs::ProgramError>()
        {
            let log = verifier_log.to_string();
            return (!log.trim().is_empty()).then_some(log);
        }
        cur = e.source();
    }
    None
}

/// The last lines of a verifier log: where it gave up and why.
fn tail(log: &str, lines: usize) -> String {
    let all: Vec<&str> = log.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Wraps an aya error, recognising a verifier rejection, and EPERM/EACCES
/// as a capability or seccomp problem.
pub(crate) fn bpf_err<E>(what: &'static str) -> impl FnOnce(E) -> EnforceError
where
    E: std::error::Error + Send + Sync + 'static,
{
    move |source| {
        if let Some(log) = verifier_log_in_chain(&source) {
            return EnforceError::Verifier {
                what,
                log_tail: tail(&log, 8),
                source: Box::new(source),
            };
        }
        classify_errno(what, source)
    }
}

fn classify_errno<E>(what: &'static str, source: E) -> EnforceError
where
    E: std::error::Error + Send + Sync + 'static,
{
    match errno_in_chain(&source) {
        Some(libc::EPERM) | Some(libc::EACCES) => EnforceError::Permission {
            what,
            source: Box::new(source),
        },
        _ => EnforceError::Bpf {
            what,
            source: Box::new(source),
        },
    }
}

/// Like [`bpf_err`], for TCX link creation where EINVAL means no TCX.
pub(crate) fn attach_err<E>(what: &'static str) -> impl FnOnce(E) -> EnforceError
where
    E: std::error::Error + Send + Sync + 'static,
{
    move |source| match errno_in_chain(&source) {
        Some(libc::EINVAL) => EnforceError::KernelTooOld {
            what,
            source: Box::new(source),
        },
        _ => bpf_err(what)(source),
    }
}

pub(crate) fn io_err(
    what: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(std::io::Error) -> EnforceError {
    let path = path.into();
    move |source| EnforceError::Io { what, path, source }
}
