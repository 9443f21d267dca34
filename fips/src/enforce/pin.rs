//! Where the filter lives on bpffs and how it is attached, replaced and
//! removed. The pins, not the daemon, keep the filter alive: a crashed
//! daemon leaves it blocking, and only `remove` takes it away.
//!
//! Layout: `/sys/fs/bpf/fips/<netns inode>/<iface>/{ingress,egress}` (the
//! TCX links) and one pin per map (`FIPS_POLICY`, ...). The netns inode
//! keeps sidecars that share the host's bpffs apart.

use super::error::{attach_err, bpf_err, io_err, EnforceError};
use super::loader::Classifier;
use super::sys;
use aya::programs::links::{FdLink, LinkOrder, PinnedLink};
use aya::programs::tc::{SchedClassifierLink, TcAttachOptions};
use aya::programs::{SchedClassifier, TcAttachType};
use fips_common::{Direction, MAP_COUNTERS, MAP_EVENT_BUDGET, MAP_POLICY, MAP_SOCKETS};
use serde::{Deserialize, Serialize};
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

pub const BPFFS: &str = "/sys/fs/bpf";
/// The maps pinned for inspection (`fipsctl show firewall` while the
/// daemon is down) and for carrying counters over a restart.
pub(crate) const MAPS: [&str; 4] = [MAP_POLICY, MAP_SOCKETS, MAP_COUNTERS, MAP_EVENT_BUDGET];

pub(crate) fn link_name(dir: Direction) -> &'static str {
    dir.name()
}

/// The pin directory of `iface` in the calling thread's network namespace.
pub fn pin_dir(iface: &str) -> Result<PathBuf, EnforceError> {
    // thread-self, not self: a thread that entered another namespace with
    // setns(2) must find that namespace's filter.
    let ns = "/proc/thread-self/ns/net";
    let ino = std::fs::metadata(ns)
        .map_err(io_err("reading the network namespace of", ns))?
        .ino();
    Ok(Path::new(BPFFS)
        .join("fips")
        .join(ino.to_string())
        .join(iface))
}

/// Whether the filter's pins outlive the daemon, which decides whether the
/// filter fails closed when the daemon dies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PinLifetime {
    /// bpffs was there before the daemon (the host's, a container's bpffs
    /// volume), or the daemon mounted it in a mount namespace its PID 1
    /// keeps: a killed daemon leaves the filter dropping.
    #[serde(rename = "fail-closed")]
    FailClosed,
    /// The daemon mounted bpffs in a mount namespace of its own (`ip netns
    /// exec` gives its process a private /sys): the mount, the pins and
    /// with them the filter go when the daemon exits.
    #[serde(rename = "until exit")]
    UntilExit,
}

impl PinLifetime {
    /// What `fipsctl show firewall` says after `pinned:`.
    pub fn name(self) -> &'static str {
        match self {
            PinLifetime::FailClosed => "fail-closed",
            PinLifetime::UntilExit => "until exit",
        }
    }
}

/// Makes sure bpffs is mounted and `dir` exists on it; says whether the
/// pins made there will outlive this process.
pub(crate) fn prepare_dir(dir: &Path) -> Result<PinLifetime, EnforceError> {
    let root = Path::new(BPFFS);
    let mounted = sys::is_bpffs(root).map_err(|source| EnforceError::NoBpffs {
        path: root.into(),
        source,
    })?;
    let lifetime = if mounted {
        PinLifetime::FailClosed
    } else {
        sys::mount_bpffs(root).map_err(|source| EnforceError::NoBpffs {
            path: root.into(),
            source,
        })?;
        own_mount_lifetime()
    };
    std::fs::create_dir_all(dir).map_err(io_err("creating the pin directory", dir))?;
    Ok(lifetime)
}

/// After mounting bpffs ourselves: the mount lives as long as its mount
/// namespace. That outlives us when PID 1 (the host's init, a container's
/// entrypoint that restarts us) shares it; a namespace only we hold (`ip
/// netns exec`) dies with us. Unknown counts as dying: fail-closed is
/// claimed only where it is shown to hold.
fn own_mount_lifetime() -> PinLifetime {
    let ino = |path: &str| std::fs::metadata(path).map(|m| m.ino()).ok();
    let shared_with_init = std::process::id() != 1
        && matches!(
            (ino("/proc/self/ns/mnt"), ino("/proc/1/ns/mnt")),
            (Some(ours), Some(init)) if ours == init
        );
    if shared_with_init {
        PinLifetime::FailClosed
    } else {
        PinLifetime::UntilExit
    }
}

/// Attaches each program first in its TCX chain, or, when a link is
/// already pinned (a previous daemon), swaps the program inside that link
/// with one `BPF_LINK_UPDATE`: the old filter drops until the instant the
/// new one takes over, so nothing passes in between.
pub(crate) fn attach_or_replace(
    classifier: &mut Classifier,
    iface: &str,
    dir: &Path,
) -> Result<(), EnforceError> {
    for direction in Direction::ALL {
        let path = dir.join(link_name(direction));
        let program = classifier.program_mut(direction)?;
        if path.exists() {
            replace_in_link(program, &path)?;
        } else {
            attach_and_pin(program, iface, direction, &path)?;
        }
    }
    Ok(())
}

fn replace_in_link(program: &mut SchedClassifier, path: &Path) -> Result<(), EnforceError> {
    let pinned = PinnedLink::from_pin(path).map_err(bpf_err("opening the pinned link"))?;
    let link = SchedClassifierLink::try_from(FdLink::from(pinned))
        .map_err(bpf_err("the pinned link is not a TCX link"))?;
    let id = program
        .attach_to_link(link)
        .map_err(bpf_err("replacing the program in the pinned link"))?;
    // The pin keeps the link; our handle must not outlive this call in
    // the program's link table (dropping it only closes an fd).
    let handle = program
        .take_link(id)
        .map_err(bpf_err("taking the replaced link"))?;
    drop(handle);
    Ok(())
}

/// First in the TCX chain, so a program attached later cannot pass a
/// packet before ours has seen it.
fn attach_and_pin(
    program: &mut SchedClassifier,
    iface: &str,
    direction: Direction,
    path: &Path,
) -> Result<(), EnforceError> {
    let attach_type = match direction {
        Direction::Egress => TcAttachType::Egress,
        // Only the TC directions reach here; XDP is attached by `xdp.rs`.
        Direction::Ingress | Direction::Xdp => TcAttachType::Ingress,
    };
    let id = program
        .attach_with_options(
            iface,
            attach_type,
            TcAttachOptions::TcxOrder(LinkOrder::first()),
        )
        .map_err(attach_err("attaching the classifier with TCX"))?;
    let link = program
        .take_link(id)
        .map_err(bpf_err("taking the new link"))?;
    let link = FdLink::try_from(link).map_err(bpf_err("the new link is not a TCX link"))?;
    link.pin(path).map_err(bpf_err("pinning the link"))?;
    Ok(())
}

/// Empties `dir` if a link pinned there no longer filters `ifindex`: its
/// device was deleted (the link is then detached, ifindex 0), or a
/// recycled network namespace inode led us to a dead namespace's
/// leftovers. Replacing the program in such a link would leave eth0
/// unfiltered, and its counters belong to another interface.
pub(crate) fn clear_stale(dir: &Path, ifindex: u32) -> Result<(), EnforceError> {
    let mut stale = false;
    for direction in Direction::ALL {
        let path = dir.join(link_name(direction));
        if !path.exists() {
            continue;
        }
        let link = sys::obj_get(&path).map_err(bpf_err("opening the pinned link"))?;
        let info = sys::tcx_link_info(link.as_fd()).map_err(bpf_err("reading the pinned link"))?;
        stale |= info.ifindex != ifindex;
    }
    if stale {
        std::fs::remove_dir_all(dir).map_err(io_err("removing stale pins", dir))?;
        std::fs::create_dir_all(dir).map_err(io_err("creating the pin directory", dir))?;
    }
    Ok(())
}

/// Pins the classifier's maps, replacing earlier pins with a rename so a
/// reader always finds a complete set.
pub(crate) fn pin_maps(classifier: &Classifier, dir: &Path) -> Result<(), EnforceError> {
    for name in MAPS {
        // bpffs refuses names with dots (EPERM): they are reserved.
        let tmp = dir.join(format!("new_{name}"));
        if tmp.exists() {
            std::fs::remove_file(&tmp).map_err(io_err("removing a stale pin", &tmp))?;
        }
        classifier
            .map(name)?
            .pin(&tmp)
            .map_err(bpf_err("pinning a map"))?;
        let path = dir.join(name);
        std::fs::rename(&tmp, &path).map_err(io_err("renaming a map pin to", &path))?;
    }
    Ok(())
}

/// Detaches both links (even if a running daemon still holds them) and
/// removes the pin directory.
pub(crate) fn remove(iface: &str, dir: &Path) -> Result<(), EnforceError> {
    if !dir.exists() {
        return Err(EnforceError::NotAttached {
            iface: iface.to_owned(),
            dir: dir.into(),
        });
    }
    for direction in Direction::ALL {
        let path = dir.join(link_name(direction));
        if !path.exists() {
            continue;
        }
        let link = sys::obj_get(&path).map_err(bpf_err("opening the pinned link"))?;
        sys::link_detach(link.as_fd()).map_err(bpf_err("BPF_LINK_DETACH"))?;
    }
    // Once its links are detached, another daemon's `collect_dead` may take
    // the directory first: gone is the state wanted, so NotFound is no error.
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(io_err("removing the pin directory", dir)(e));
        }
        _ => {}
    }
    remove_if_empty(dir.parent())
}

/// After a failed attach: removes `dir` if no link got pinned there, so
/// failures leave no empty directories behind. A pinned link stays: it
/// blocks, which is the safe side.
pub(crate) fn discard_if_unused(dir: &Path) {
    if !pinned_links(dir).is_empty() {
        return;
    }
    if let Err(e) = std::fs::remove_dir_all(dir).map_err(io_err("removing", dir)) {
        tracing::warn!("after a failed attach: {e}");
        return;
    }
    if let Err(e) = remove_if_empty(dir.parent()) {
        tracing::warn!("after a failed attach: {e}");
    }
}

/// The links pinned in `dir` that can be read, in direction order.
pub(crate) fn pinned_links(dir: &Path) -> Vec<(Direction, sys::LinkInfo)> {
    Direction::ALL
        .iter()
        .filter_map(|d| {
            let link = sys::obj_get(&dir.join(link_name(*d))).ok()?;
            Some((*d, sys::tcx_link_info(link.as_fd()).ok()?))
        })
        .collect()
}

/// Removes the pins of filters whose interface is gone (a deleted
/// namespace takes its veth, and the TCX links end detached, but their
/// pins and maps stay on the host's bpffs until someone removes them).
/// Directories without links are left alone: another daemon may be
/// between creating its directory and pinning.
pub(crate) fn collect_dead() -> Result<usize, EnforceError> {
    let root = Path::new(BPFFS).join("fips");
    let mut removed = 0;
    for ns in read_dir(&root)? {
        for dir in read_dir(&ns)? {
            let links = pinned_links(&dir);
            if !links.is_empty() && links.iter().all(|(_, info)| info.ifindex == 0) {
                match std::fs::remove_dir_all(&dir) {
                    // Another daemon collected it first.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io_err("removing dead pins", &dir)(e)),
                    Ok(()) => removed += 1,
                }
            }
        }
        if removed > 0 {
            remove_if_empty(Some(&ns))?;
        }
    }
    Ok(removed)
}

fn read_dir(dir: &Path) -> Result<Vec<PathBuf>, EnforceError> {
    match std::fs::read_dir(dir) {
        Ok(entries) => Ok(entries.filter_map(|e| e.ok().map(|e| e.path())).collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(io_err("listing", dir)(e)),
    }
}

/// Removes the namespace's directory once its last filter is gone. Another
/// process's `collect_dead` may remove the same empty directory first:
/// gone is the state wanted, so NotFound is no error.
fn remove_if_empty(dir: Option<&Path>) -> Result<(), EnforceError> {
    let Some(dir) = dir else { return Ok(()) };
    match std::fs::remove_dir(dir) {
        Err(e)
            if !matches!(
                e.kind(),
                std::io::ErrorKind::DirectoryNotEmpty | std::io::ErrorKind::NotFound
            ) =>
        {
            Err(io_err("removing the pin directory", dir)(e))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::remove_if_empty;

    #[test]
    fn a_namespace_directory_is_removed_when_empty_kept_when_not_and_may_be_gone_already() {
        let root = tempfile::tempdir().expect("tempdir");
        let (empty, full) = (root.path().join("empty"), root.path().join("full"));
        std::fs::create_dir_all(full.join("eth0")).expect("mkdir");
        std::fs::create_dir(&empty).expect("mkdir");
        remove_if_empty(Some(&empty)).expect("empty directory removed");
        assert!(!empty.exists());
        // Removed meanwhile by another process's collect_dead.
        remove_if_empty(Some(&empty)).expect("a missing directory is no error");
        remove_if_empty(Some(&full)).expect("a directory in use is kept");
        assert!(full.join("eth0").exists());
    }
}
