//! A TUN descriptor opened with `IFF_VNET_HDR` and TSO/checksum offloads:
//! every read and write carries a `virtio_net_hdr`.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use super::{OffloadError, VnetHdr, VNET_HDR_LEN};

/// `struct ifreq` as TUNSETIFF reads it: the name, then the flags in the
/// union (padded to the kernel's 40 bytes).
#[repr(C)]
struct IfReq {
    name: [u8; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

/// Offloads asked for: the kernel may hand us unchecksummed packets and
/// TCP super-packets (IPv4, IPv6, with ECN).
const OFFLOADS: libc::c_uint =
    libc::TUN_F_CSUM | libc::TUN_F_TSO4 | libc::TUN_F_TSO6 | libc::TUN_F_TSO_ECN;

/// A TUN device whose reads and writes carry a `virtio_net_hdr`.
#[derive(Debug)]
pub struct OffloadTun {
    fd: AsyncFd<OwnedFd>,
    name: String,
}

impl OffloadTun {
    /// Creates (or attaches to) TUN device `name` with offloads on, without
    /// a runtime (so it can run on a thread inside another namespace).
    pub fn open(name: &str) -> Result<(OwnedFd, String), OffloadError> {
        let sc = |call, source| OffloadError::Syscall {
            name: name.into(),
            call,
            source,
        };
        if name.is_empty() || name.len() >= libc::IFNAMSIZ || name.contains('\0') {
            return Err(sc(
                "check the name (1 to 15 characters)",
                io::ErrorKind::InvalidInput.into(),
            ));
        }
        let fd = open_tun_device().map_err(|e| sc("open(/dev/net/tun)", e))?;
        let mut req = IfReq {
            name: [0; libc::IFNAMSIZ],
            flags: (libc::IFF_TUN | libc::IFF_NO_PI | libc::IFF_VNET_HDR) as libc::c_short,
            _pad: [0; 22],
        };
        req.name[..name.len()].copy_from_slice(name.as_bytes());
        // SAFETY: fd is an open /dev/net/tun descriptor; req is a valid
        // ifreq that outlives the call.
        let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETIFF, &mut req as *mut IfReq) };
        check(rc).map_err(|e| sc("ioctl(TUNSETIFF)", e))?;
        let hdr_len = VNET_HDR_LEN as libc::c_int;
        // SAFETY: TUNSETVNETHDRSZ reads one c_int through the pointer.
        let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETVNETHDRSZ, &hdr_len) };
        check(rc).map_err(|e| sc("ioctl(TUNSETVNETHDRSZ)", e))?;
        // SAFETY: TUNSETOFFLOAD takes the flags as the argument value.
        let rc = unsafe {
            libc::ioctl(
                fd.as_raw_fd(),
                libc::TUNSETOFFLOAD,
                OFFLOADS as libc::c_ulong,
            )
        };
        check(rc).map_err(|e| sc("ioctl(TUNSETOFFLOAD)", e))?;
        let end = req
            .name
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(req.name.len());
        Ok((fd, String::from_utf8_lossy(&req.name[..end]).into_owned()))
    }

    /// Creates the device and registers it with the current tokio runtime.
    pub fn create(name: &str) -> Result<OffloadTun, OffloadError> {
        let (fd, actual) = Self::open(name)?;
        Self::from_fd(fd, actual)
    }

    /// Registers a descriptor from `open` with the current tokio runtime.
    pub fn from_fd(fd: OwnedFd, name: String) -> Result<OffloadTun, OffloadError> {
        // SAFETY: the OwnedFd moves into the AsyncFd, its only owner, so
        // the descriptor stays open and the same while registered.
        let fd =
            unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE | Interest::WRITABLE) }
                .map_err(|e| OffloadError::Syscall {
                    name: name.clone(),
                    call: "epoll registration",
                    source: e.into_parts().1,
                })?;
        Ok(OffloadTun { fd, name })
    }

    /// Asks the kernel for plain packets again (no TSO, checksums done):
    /// for measuring what the offloads bring. Frames keep their header.
    pub fn disable_offloads(&self) -> io::Result<()> {
        // SAFETY: TUNSETOFFLOAD takes the flags as the argument value.
        check(unsafe { libc::ioctl(self.as_raw_fd(), libc::TUNSETOFFLOAD, 0 as libc::c_ulong) })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Waits for and reads one frame (virtio header + packet, up to
    /// `MAX_READ` bytes) into `buf`.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.fd
            .async_io(Interest::READABLE, |fd| read(fd.as_raw_fd(), buf))
            .await
    }

    /// Reads one frame if one is queued.
    pub fn try_recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        read(self.fd.as_raw_fd(), buf)
    }

    /// Writes one frame (virtio header + packet), waiting if the queue is full.
    pub async fn send_frame(&self, frame: &[u8]) -> io::Result<usize> {
        self.fd
            .async_io(Interest::WRITABLE, |fd| write(fd.as_raw_fd(), &[frame]))
            .await
    }

    /// Writes one frame without waiting.
    pub fn try_send_frame(&self, frame: &[u8]) -> io::Result<usize> {
        write(self.fd.as_raw_fd(), &[frame])
    }

    /// Writes one IP packet as it is, with an empty virtio header in front
    /// (no copy: two iovecs).
    pub fn try_send_packet(&self, packet: &[u8]) -> io::Result<usize> {
        write(self.fd.as_raw_fd(), &[&VnetHdr::for_write(), packet])
    }
}

impl AsRawFd for OffloadTun {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl AsFd for OffloadTun {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.get_ref().as_fd()
    }
}

fn open_tun_device() -> io::Result<OwnedFd> {
    // SAFETY: the path is a NUL-terminated literal.
    let raw = unsafe {
        libc::open(
            c"/dev/net/tun".as_ptr(),
            libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    };
    check(raw)?;
    // SAFETY: raw is a freshly opened descriptor nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn read(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: buf is valid for writes of buf.len() bytes.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

fn write(fd: RawFd, parts: &[&[u8]]) -> io::Result<usize> {
    let iovs: [libc::iovec; 2] = std::array::from_fn(|i| match parts.get(i) {
        Some(p) => libc::iovec {
            iov_base: p.as_ptr() as *mut libc::c_void,
            iov_len: p.len(),
        },
        None => libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        },
    });
    // SAFETY: the iovecs point at caller slices live for the call; the
    // kernel only reads them.
    let n = unsafe { libc::writev(fd, iovs.as_ptr(), parts.len().min(2) as libc::c_int) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}
