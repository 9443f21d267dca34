//! The UDP transport socket, batched for Linux: `recvmmsg` with UDP GRO on
//! the way in, `sendmmsg` with UDP GSO on the way out, large socket
//! buffers, and the socket cookie the eBPF filter keys on.
//!
//! It moves datagrams between the kernel and `RecvBatch`/`SendBatch`
//! buffers and knows nothing of the protocol. `UdpSocket` is the
//! non-blocking socket (usable from any thread); `AsyncUdpSocket` wraps it
//! for tokio. The raw calls and all `unsafe` code are in `sys`.

mod batch;
mod sys;
#[cfg(test)]
mod tests;

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

pub use batch::{RecvBatch, SendBatch, MAX_GRO_BYTES, MAX_GSO_SEGMENTS};

/// Socket buffer size asked for in each direction: room for a few
/// milliseconds of a gigabit burst while the daemon is busy elsewhere.
pub const SOCKET_BUFFER_BYTES: i32 = 2 * 1024 * 1024;

/// Why the transport socket could not be set up. Per-datagram I/O errors
/// are plain `io::Error`s from the batch calls.
#[derive(Debug, thiserror::Error)]
pub enum UdpError {
    #[error(
        "cannot bind the UDP transport to {addr}: {source} (is another daemon using the port?)"
    )]
    Bind {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("UDP transport on {addr}: {call} failed: {source}")]
    Syscall {
        addr: SocketAddr,
        call: &'static str,
        #[source]
        source: io::Error,
    },
}

/// Which kernel offloads the socket got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Offloads {
    /// The kernel coalesces received datagrams (UDP_GRO).
    pub gro: bool,
    /// We send runs of datagrams as one message (UDP_SEGMENT).
    pub gso: bool,
}

/// A non-blocking UDP socket with batched I/O.
#[derive(Debug)]
pub struct UdpSocket {
    inner: std::net::UdpSocket,
    local: SocketAddr,
    v6: bool,
    offloads: std::sync::Mutex<Offloads>,
}

impl UdpSocket {
    /// Binds `addr`, non-blocking, with 2 MiB buffers and GRO/GSO when the
    /// kernel has them.
    pub fn bind(addr: SocketAddr) -> Result<UdpSocket, UdpError> {
        Self::bind_with_buffers(
            addr,
            SOCKET_BUFFER_BYTES as usize,
            SOCKET_BUFFER_BYTES as usize,
        )
    }

    /// Like `bind`, with the receive and send buffer sizes given (bytes;
    /// the kernel doubles them for its bookkeeping).
    pub fn bind_with_buffers(
        addr: SocketAddr,
        recv_buf: usize,
        send_buf: usize,
    ) -> Result<UdpSocket, UdpError> {
        let inner =
            std::net::UdpSocket::bind(addr).map_err(|source| UdpError::Bind { addr, source })?;
        let sc = |call, source| UdpError::Syscall { addr, call, source };
        inner
            .set_nonblocking(true)
            .map_err(|e| sc("fcntl(O_NONBLOCK)", e))?;
        let local = inner.local_addr().map_err(|e| sc("getsockname", e))?;
        let fd = inner.as_raw_fd();
        set_buffer(fd, libc::SO_RCVBUFFORCE, libc::SO_RCVBUF, recv_buf)
            .map_err(|e| sc("setsockopt(SO_RCVBUF)", e))?;
        set_buffer(fd, libc::SO_SNDBUFFORCE, libc::SO_SNDBUF, send_buf)
            .map_err(|e| sc("setsockopt(SO_SNDBUF)", e))?;
        let offloads = Offloads {
            gro: sys::setsockopt_int(fd, libc::SOL_UDP, libc::UDP_GRO, 1).is_ok(),
            gso: sys::getsockopt_int(fd, libc::SOL_UDP, libc::UDP_SEGMENT).is_ok(),
        };
        Ok(UdpSocket {
            inner,
            local,
            v6: local.is_ipv6(),
            offloads: std::sync::Mutex::new(offloads),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The standard socket underneath (for code that inspects it, such as
    /// attaching a filter to it); do not read or write through it.
    pub fn as_std(&self) -> &std::net::UdpSocket {
        &self.inner
    }

    /// The offloads in use (GSO turns itself off if the kernel refuses it).
    pub fn offloads(&self) -> Offloads {
        *self.offloads.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Turns GSO off (for measurements, or on paths that refuse it).
    pub fn disable_gso(&self) {
        self.offloads.lock().unwrap_or_else(|p| p.into_inner()).gso = false;
    }

    /// Turns GRO off; received messages are then single datagrams, so
    /// `RecvBatch` slots need only hold the largest datagram.
    pub fn disable_gro(&self) -> io::Result<()> {
        sys::setsockopt_int(self.as_raw_fd(), libc::SOL_UDP, libc::UDP_GRO, 0)?;
        self.offloads.lock().unwrap_or_else(|p| p.into_inner()).gro = false;
        Ok(())
    }

    /// The kernel's socket cookie (`SO_COOKIE`): the eBPF filter lets this
    /// socket's traffic through by it.
    pub fn socket_cookie(&self) -> io::Result<u64> {
        sys::socket_cookie(self.as_raw_fd())
    }

    /// Receives what is queued (one `recvmmsg`) into `batch`, replacing its
    /// contents; returns the number of datagrams. `WouldBlock` when none.
    pub fn try_recv_batch(&self, batch: &mut RecvBatch) -> io::Result<usize> {
        let fd = self.as_raw_fd();
        let got = {
            let (mut slots, meta) = batch.slots();
            sys::recvmmsg(fd, &mut slots, meta)?
        };
        batch.split(got);
        Ok(batch.len())
    }

    /// Sends the batch's unsent datagrams, as many per syscall as GSO and
    /// `sendmmsg` allow. Returns when all are sent, or with `WouldBlock` when
    /// the socket buffer is full (the rest stay queued). Any other error
    /// is for the first unsent message, which is dropped so one bad
    /// destination cannot stall the rest; call again to continue.
    pub fn try_send_batch(&self, batch: &mut SendBatch) -> io::Result<()> {
        while !batch.is_empty() {
            let gso = self.offloads().gso;
            let (result, groups) = self.send_once(batch, gso);
            batch.syscalls += 1;
            match result {
                Ok(n) => {
                    batch.messages += n as u64;
                    batch.advance(groups[..n].iter().map(|g| g.count).sum());
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Err(e),
                // EIO: the route's device cannot checksum GSO messages.
                Err(e) if gso && groups[0].count > 1 && e.raw_os_error() == Some(libc::EIO) => {
                    self.disable_gso();
                }
                Err(e) => {
                    batch.advance(groups[0].count);
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// One `sendmmsg` of the batch's next groups; returns how many groups
    /// the kernel took, and the groups.
    fn send_once(&self, batch: &SendBatch, gso: bool) -> (io::Result<usize>, Vec<batch::Group>) {
        let groups = batch.groups(gso, sys::MAX_MMSG);
        let datagrams: Vec<&[u8]> = batch.unsent().map(|(_, d)| d).collect();
        let mut at = 0;
        let msgs: Vec<sys::SendMsg<'_>> = groups
            .iter()
            .map(|g| {
                let iovs = &datagrams[at..at + g.count];
                at += g.count;
                sys::SendMsg {
                    dest: g.dest,
                    iovs,
                    segment: (g.count > 1).then_some(g.segment as u16),
                }
            })
            .collect();
        (sys::sendmmsg(self.as_raw_fd(), self.v6, &msgs), groups)
    }

    /// Sends one datagram with one syscall.
    pub fn try_send_to(&self, data: &[u8], dest: SocketAddr) -> io::Result<usize> {
        sys::sendto(self.as_raw_fd(), self.v6, dest, data)
    }

    /// Receives one datagram with one syscall. With GRO on, this may be
    /// several datagrams coalesced; use `try_recv_batch` or `disable_gro`.
    pub fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        sys::recvfrom(self.as_raw_fd(), buf)
    }
}

fn set_buffer(fd: RawFd, force: i32, plain: i32, bytes: usize) -> io::Result<()> {
    let bytes = i32::try_from(bytes).unwrap_or(i32::MAX);
    // FORCE ignores net.core.{r,w}mem_max but needs CAP_NET_ADMIN; without
    // it the kernel caps the plain option at the sysctl, which is fine.
    sys::setsockopt_int(fd, libc::SOL_SOCKET, force, bytes)
        .or_else(|_| sys::setsockopt_int(fd, libc::SOL_SOCKET, plain, bytes))
}

impl AsRawFd for UdpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}

impl AsFd for UdpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_fd()
    }
}

/// `UdpSocket` registered with the tokio reactor.
#[derive(Debug)]
pub struct AsyncUdpSocket {
    fd: AsyncFd<UdpSocket>,
}

impl AsyncUdpSocket {
    /// Registers `socket`; must be called within a tokio runtime.
    pub fn new(socket: UdpSocket) -> io::Result<AsyncUdpSocket> {
        // SAFETY: the socket moves into the AsyncFd, its only owner from
        // here on, and as_raw_fd() always returns the same open descriptor.
        let fd = unsafe {
            AsyncFd::register_with_interest(socket, Interest::READABLE | Interest::WRITABLE)
        }?;
        Ok(AsyncUdpSocket { fd })
    }

    pub fn get_ref(&self) -> &UdpSocket {
        self.fd.get_ref()
    }

    /// Waits until the socket may have datagrams; `try_recv_batch` then
    /// reads them (and re-arms the wait when there were none).
    pub async fn readable(&self) -> io::Result<()> {
        self.fd.readable().await.map(drop)
    }

    /// Waits until the socket may take more datagrams.
    pub async fn writable(&self) -> io::Result<()> {
        self.fd.writable().await.map(drop)
    }

    /// `UdpSocket::try_recv_batch` that keeps tokio's readiness right:
    /// `WouldBlock` clears it, so the next `readable` waits.
    pub fn try_recv_batch(&self, batch: &mut RecvBatch) -> io::Result<usize> {
        self.fd
            .try_io(Interest::READABLE, |s| s.try_recv_batch(batch))
    }

    /// `UdpSocket::try_send_batch` that keeps tokio's readiness right.
    pub fn try_send_batch(&self, batch: &mut SendBatch) -> io::Result<()> {
        self.fd
            .try_io(Interest::WRITABLE, |s| s.try_send_batch(batch))
    }

    /// Waits until datagrams are queued, then receives a batch of them.
    pub async fn recv_batch(&self, batch: &mut RecvBatch) -> io::Result<usize> {
        loop {
            let mut guard = self.fd.readable().await?;
            match guard.try_io(|s| s.get_ref().try_recv_batch(batch)) {
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }

    /// Sends the whole batch, waiting while the socket buffer is full.
    /// Errors other than a full buffer are returned after the failing
    /// message was dropped; the batch keeps the rest.
    pub async fn send_batch(&self, batch: &mut SendBatch) -> io::Result<()> {
        while !batch.is_empty() {
            let mut guard = self.fd.writable().await?;
            match guard.try_io(|s| s.get_ref().try_send_batch(batch)) {
                Ok(result) => result?,
                Err(_would_block) => continue,
            }
        }
        Ok(())
    }

    /// Sends one datagram, waiting while the socket buffer is full.
    pub async fn send_to(&self, data: &[u8], dest: SocketAddr) -> io::Result<usize> {
        self.fd
            .async_io(Interest::WRITABLE, |s| s.try_send_to(data, dest))
            .await
    }
}
