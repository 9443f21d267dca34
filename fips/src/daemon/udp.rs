//! The UDP transport socket: bound with large buffers, read and written in
//! batches by the node loop.

use std::io;
use std::os::fd::AsRawFd;

use crate::config::UdpConfig;

use super::DaemonError;

/// Binds the transport socket (non-blocking, buffers as configured). The
/// std socket is returned so enforcement can read its cookie before tokio
/// takes it.
pub fn bind(cfg: &UdpConfig) -> Result<std::net::UdpSocket, DaemonError> {
    let socket = std::net::UdpSocket::bind(cfg.bind).map_err(|source| DaemonError::Bind {
        addr: cfg.bind,
        source,
    })?;
    socket
        .set_nonblocking(true)
        .map_err(|source| DaemonError::Bind {
            addr: cfg.bind,
            source,
        })?;
    set_buffer(&socket, libc::SO_RCVBUFFORCE, libc::SO_RCVBUF, cfg.recv_buf);
    set_buffer(&socket, libc::SO_SNDBUFFORCE, libc::SO_SNDBUF, cfg.send_buf);
    if !super::batch::enable_gro(socket.as_raw_fd()) {
        tracing::debug!("UDP GRO not available; datagrams are received one by one");
    }
    Ok(socket)
}

/// Asks for `size` bytes: the FORCE option (root) beats net.core.*mem_max;
/// without the privilege the plain option gets what the sysctl allows.
fn set_buffer(socket: &std::net::UdpSocket, force: libc::c_int, plain: libc::c_int, size: usize) {
    let value = libc::c_int::try_from(size).unwrap_or(libc::c_int::MAX);
    for opt in [force, plain] {
        if setsockopt_int(socket, opt, value).is_ok() {
            return;
        }
    }
    tracing::warn!(
        size,
        "could not set the UDP socket buffer size; using the kernel default"
    );
}

fn setsockopt_int(
    socket: &std::net::UdpSocket,
    opt: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: the fd is open for the socket's lifetime; value is a c_int
    // whose size we pass.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            opt,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
