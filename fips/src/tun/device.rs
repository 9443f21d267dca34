//! The TUN file descriptor: create, read, write.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use super::TunError;

const TUN_PATH: &str = "/dev/net/tun";

/// `struct ifreq` as TUNSETIFF reads it: the name, then the flags in the
/// union (padded to the kernel's 40 bytes).
#[repr(C)]
struct IfReqFlags {
    name: [u8; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

/// An open TUN device. Reads and writes whole IPv6 packets.
#[derive(Debug)]
pub struct Tun {
    fd: AsyncFd<OwnedFd>,
    name: String,
    /// Reads and writes carry a virtio-net header (TSO offload is on).
    vnet_hdr: bool,
}

impl Tun {
    /// Creates (or attaches to) the TUN device `name`. Must be called from
    /// within a tokio runtime.
    pub fn create(name: &str) -> Result<Tun, TunError> {
        Tun::open(name, false)
    }

    /// Like [`Tun::create`], with TCP segmentation offload: the kernel may
    /// hand over 64 KiB TCP super-packets, each read starts with a
    /// virtio-net header (see [`super::offload::split`]) and each write
    /// must too ([`Tun::send`] adds it).
    pub fn create_with_offload(name: &str) -> Result<Tun, TunError> {
        let tun = Tun::open(name, true)?;
        let features = libc::TUN_F_CSUM | libc::TUN_F_TSO6 | libc::TUN_F_TSO_ECN;
        // SAFETY: TUNSETOFFLOAD takes the feature bits by value.
        let rc = unsafe {
            libc::ioctl(
                tun.fd.as_raw_fd(),
                libc::TUNSETOFFLOAD,
                features as libc::c_ulong,
            )
        };
        if rc < 0 {
            return Err(syscall(
                name,
                "ioctl(TUNSETOFFLOAD)",
                io::Error::last_os_error(),
            ));
        }
        Ok(tun)
    }

    /// Whether reads carry a virtio-net header to pass to `offload::split`.
    pub fn has_vnet_hdr(&self) -> bool {
        self.vnet_hdr
    }

    fn open(name: &str, vnet_hdr: bool) -> Result<Tun, TunError> {
        if name.is_empty() || name.len() >= libc::IFNAMSIZ || name.as_bytes().contains(&0) {
            return Err(TunError::BadName { name: name.into() });
        }
        let fd = open_device()?;
        let mut req = IfReqFlags {
            name: [0; libc::IFNAMSIZ],
            flags: 0,
            _pad: [0; 22],
        };
        req.name[..name.len()].copy_from_slice(name.as_bytes());
        let vnet = if vnet_hdr { libc::IFF_VNET_HDR } else { 0 };
        req.flags = (libc::IFF_TUN | libc::IFF_NO_PI | vnet) as libc::c_short;
        // SAFETY: fd is an open /dev/net/tun descriptor and req is a
        // properly sized, initialised ifreq that outlives the call.
        let rc =
            unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETIFF, &mut req as *mut IfReqFlags) };
        if rc < 0 {
            return Err(syscall(
                name,
                "ioctl(TUNSETIFF)",
                io::Error::last_os_error(),
            ));
        }
        let len = req
            .name
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(req.name.len());
        let actual = String::from_utf8_lossy(&req.name[..len]).into_owned();
        // SAFETY: the OwnedFd moves into the AsyncFd, which is its only
        // owner from here on, so the descriptor stays open and the same.
        let fd =
            unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE | Interest::WRITABLE) }
                .map_err(|e| syscall(name, "epoll registration", e.into_parts().1))?;
        Ok(Tun {
            fd,
            name: actual,
            vnet_hdr,
        })
    }

    /// The interface name the kernel gave the device.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Waits for and reads one packet into `buf`.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let mut guard = self.fd.readable().await?;
            match guard.try_io(|fd| read_fd(fd.as_raw_fd(), buf)) {
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }

    /// Reads one packet if one is queued, without waiting.
    pub fn try_recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        read_fd(self.fd.as_raw_fd(), buf)
    }

    /// Writes a frame that already starts with a virtio-net header (from
    /// [`super::coalesce::Coalescer`]); only for devices with offload.
    pub async fn send_frame(&self, frame: &[u8]) -> io::Result<usize> {
        debug_assert!(self.vnet_hdr);
        loop {
            let mut guard = self.fd.writable().await?;
            match guard.try_io(|fd| write_fd(fd.as_raw_fd(), frame)) {
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }

    /// Writes one packet, waiting if the device queue is full.
    pub async fn send(&self, packet: &[u8]) -> io::Result<usize> {
        loop {
            let mut guard = self.fd.writable().await?;
            let vnet = self.vnet_hdr;
            match guard.try_io(|fd| write_packet(fd.as_raw_fd(), packet, vnet)) {
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }
}

fn open_device() -> Result<OwnedFd, TunError> {
    let path = std::ffi::CString::new(TUN_PATH).map_err(|e| TunError::OpenDevice {
        path: TUN_PATH.into(),
        source: io::Error::new(io::ErrorKind::InvalidInput, e),
    })?;
    // SAFETY: path is a valid NUL-terminated string.
    let raw = unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    };
    if raw < 0 {
        return Err(TunError::OpenDevice {
            path: TUN_PATH.into(),
            source: io::Error::last_os_error(),
        });
    }
    // SAFETY: raw is a freshly opened descriptor nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

fn read_fd(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: buf is valid for writes of buf.len() bytes.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

fn write_fd(fd: RawFd, packet: &[u8]) -> io::Result<usize> {
    // SAFETY: packet is valid for reads of packet.len() bytes.
    let n = unsafe { libc::write(fd, packet.as_ptr().cast(), packet.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Writes one packet, behind a "no offload, checksums valid" header when
/// the device has virtio-net headers.
fn write_packet(fd: RawFd, packet: &[u8], vnet_hdr: bool) -> io::Result<usize> {
    if !vnet_hdr {
        return write_fd(fd, packet);
    }
    let hdr = super::offload::VnetHdr::for_write();
    let iov = [
        libc::iovec {
            iov_base: hdr.as_ptr().cast_mut().cast(),
            iov_len: hdr.len(),
        },
        libc::iovec {
            iov_base: packet.as_ptr().cast_mut().cast(),
            iov_len: packet.len(),
        },
    ];
    // SAFETY: both iovecs point at live buffers of the stated lengths; the
    // kernel only reads them.
    let n = unsafe { libc::writev(fd, iov.as_ptr(), 2) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok((n as usize).saturating_sub(hdr.len()))
    }
}

fn syscall(name: &str, call: &'static str, source: io::Error) -> TunError {
    TunError::Syscall {
        name: name.into(),
        call,
        source,
    }
}
