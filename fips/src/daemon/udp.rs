//! The UDP transport socket: [`crate::udp::UdpSocket`] (recvmmsg/sendmmsg
//! with GRO and GSO) bound with the configured buffer sizes.

use tracing::debug;

use crate::config::UdpConfig;
use crate::udp::UdpSocket;

use super::DaemonError;

/// Binds the transport socket. It is returned before tokio takes it so
/// enforcement can read its cookie.
pub fn bind(cfg: &UdpConfig) -> Result<UdpSocket, DaemonError> {
    let socket = UdpSocket::bind_with_buffers(cfg.bind, cfg.recv_buf, cfg.send_buf)?;
    let offloads = socket.offloads();
    if !offloads.gro || !offloads.gso {
        debug!(
            ?offloads,
            "UDP offloads missing; datagrams go one by one where they are"
        );
    }
    Ok(socket)
}
