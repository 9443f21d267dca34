//! The XDP program in front of eth0's ingress: attached natively (the
//! driver runs it, DRV mode) where the driver supports it, which veth does,
//! else in generic (SKB) mode. Either way it runs before the kernel hands
//! a received frame to packet sockets, so a frame it drops is never read
//! by an AF_PACKET socket in the namespace.
//!
//! Pinned like the TC links, under a name that records the mode
//! (`xdp-native` or `xdp-generic`, since the kernel's link info does not
//! say): the link outlives the daemon, a restart swaps the program inside
//! it with `BPF_LINK_UPDATE` (no window), and `remove` detaches it.

use super::error::{bpf_err, io_err, EnforceError};
use super::loader::Classifier;
use super::sys;
use aya::programs::links::{FdLink, PinnedLink};
use aya::programs::xdp::XdpLink;
use aya::programs::XdpFlags;
use serde::{Deserialize, Serialize};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

/// How the XDP program runs on the interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum XdpMode {
    /// In the driver (`XDP_FLAGS_DRV_MODE`), before any skb exists.
    Native,
    /// In the core receive path (`XDP_FLAGS_SKB_MODE`), still before the
    /// packet taps; slower, works on every device.
    Generic,
}

impl XdpMode {
    pub const fn name(self) -> &'static str {
        match self {
            XdpMode::Native => "native",
            XdpMode::Generic => "generic",
        }
    }

    const ALL: [XdpMode; 2] = [XdpMode::Native, XdpMode::Generic];

    fn pin_name(self) -> &'static str {
        match self {
            XdpMode::Native => "xdp-native",
            XdpMode::Generic => "xdp-generic",
        }
    }

    fn flags(self) -> XdpFlags {
        match self {
            XdpMode::Native => XdpFlags::DRV_MODE,
            XdpMode::Generic => XdpFlags::SKB_MODE,
        }
    }
}

/// The pinned XDP link of `dir`, if any: its mode and path.
pub(crate) fn pinned(dir: &Path) -> Option<(XdpMode, PathBuf)> {
    XdpMode::ALL
        .iter()
        .map(|m| (*m, dir.join(m.pin_name())))
        .find(|(_, path)| path.exists())
}

/// The pinned XDP link's mode and kernel info, when it can be read.
pub(crate) fn pinned_info(dir: &Path) -> Option<(XdpMode, sys::LinkInfo)> {
    let (mode, path) = pinned(dir)?;
    let link = sys::obj_get(&path).ok()?;
    Some((mode, sys::tcx_link_info(link.as_fd()).ok()?))
}

/// Swaps the program into the pinned link, or attaches (native first) and
/// pins a new one. A pinned link that no longer filters `ifindex` (device
/// gone, recycled namespace inode) is removed first.
pub(crate) fn attach_or_replace(
    classifier: &mut Classifier,
    ifindex: u32,
    dir: &Path,
) -> Result<XdpMode, EnforceError> {
    if let Some((mode, path)) = pinned(dir) {
        match pinned_info(dir) {
            Some((_, info)) if info.ifindex == ifindex => {
                replace_in_link(classifier, &path)?;
                return Ok(mode);
            }
            _ => std::fs::remove_file(&path).map_err(io_err("removing a stale XDP pin", &path))?,
        }
    }
    attach_and_pin(classifier, ifindex, dir)
}

fn replace_in_link(classifier: &mut Classifier, path: &Path) -> Result<(), EnforceError> {
    let pinned = PinnedLink::from_pin(path).map_err(bpf_err("opening the pinned XDP link"))?;
    let link = XdpLink::try_from(FdLink::from(pinned))
        .map_err(bpf_err("the pinned link is not an XDP link"))?;
    let program = classifier.xdp_mut()?;
    let id = program
        .attach_to_link(link)
        .map_err(bpf_err("replacing the program in the pinned XDP link"))?;
    // The pin keeps the link; dropping our handle only closes an fd.
    let handle = program
        .take_link(id)
        .map_err(bpf_err("taking the replaced XDP link"))?;
    drop(FdLink::try_from(handle).map_err(bpf_err("the XDP link is not an fd link"))?);
    Ok(())
}

/// Native mode first; generic when the driver refuses it (no native XDP
/// support, or an MTU too large for it).
fn attach_and_pin(
    classifier: &mut Classifier,
    ifindex: u32,
    dir: &Path,
) -> Result<XdpMode, EnforceError> {
    let program = classifier.xdp_mut()?;
    let (mode, id) = match program.attach_to_if_index(ifindex, XdpMode::Native.flags()) {
        Ok(id) => (XdpMode::Native, id),
        Err(native) => {
            tracing::info!(error = %native, "native XDP refused; attaching in generic mode");
            let id = program
                .attach_to_if_index(ifindex, XdpMode::Generic.flags())
                .map_err(bpf_err("attaching the XDP program"))?;
            (XdpMode::Generic, id)
        }
    };
    let link = program
        .take_link(id)
        .map_err(bpf_err("taking the new XDP link"))?;
    let link = FdLink::try_from(link).map_err(bpf_err("the new XDP link is not an fd link"))?;
    link.pin(dir.join(mode.pin_name()))
        .map_err(bpf_err("pinning the XDP link"))?;
    Ok(mode)
}

/// Detaches the pinned XDP link (even if a running daemon still holds
/// it) and removes its pin. Nothing pinned is no error.
pub(crate) fn detach(dir: &Path) -> Result<(), EnforceError> {
    let Some((_, path)) = pinned(dir) else {
        return Ok(());
    };
    let link = sys::obj_get(&path).map_err(bpf_err("opening the pinned XDP link"))?;
    sys::link_detach(link.as_fd()).map_err(bpf_err("BPF_LINK_DETACH"))?;
    std::fs::remove_file(&path).map_err(io_err("removing the XDP link pin", &path))
}
