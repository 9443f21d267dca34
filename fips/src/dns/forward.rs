//! Forwarding of non-`.fips` names to the one configured upstream (e.g.
//! Docker's 127.0.0.11:53). The query goes out as the client sent it, over
//! the client's transport, and every attempt is bounded by a timeout.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use hickory_server::net::xfer::Protocol;
use hickory_server::proto::op::Message;
use hickory_server::proto::serialize::binary::DecodeError;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::timeout;

/// Largest UDP answer accepted from the upstream (EDNS sizes seen in practice).
const MAX_UDP_ANSWER: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error("upstream {upstream} did not answer within {timeout:?}")]
    Timeout {
        upstream: SocketAddr,
        timeout: Duration,
    },
    #[error("talking to upstream {upstream}")]
    Io {
        upstream: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("upstream {upstream} sent an answer that does not parse")]
    Malformed {
        upstream: SocketAddr,
        #[source]
        source: DecodeError,
    },
}

#[derive(Clone, Copy, Debug)]
pub struct Upstream {
    pub addr: SocketAddr,
    pub timeout: Duration,
}

impl Upstream {
    /// Sends the raw query and returns the upstream's answer, whose id
    /// matches the query's.
    pub async fn query(&self, raw: &[u8], protocol: Protocol) -> Result<Message, ForwardError> {
        let exchange = async {
            match protocol {
                Protocol::Udp => self.udp(raw).await,
                _ => self.tcp(raw).await,
            }
        };
        let bytes = timeout(self.timeout, exchange)
            .await
            .map_err(|_| ForwardError::Timeout {
                upstream: self.addr,
                timeout: self.timeout,
            })?
            .map_err(|source| ForwardError::Io {
                upstream: self.addr,
                source,
            })?;
        Message::from_vec(&bytes).map_err(|source| ForwardError::Malformed {
            upstream: self.addr,
            source,
        })
    }

    async fn udp(&self, raw: &[u8]) -> io::Result<Vec<u8>> {
        let local: SocketAddr = match self.addr {
            SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
            SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let socket = UdpSocket::bind(local).await?;
        // Connected: the kernel drops datagrams from anyone but the upstream.
        socket.connect(self.addr).await?;
        socket.send(raw).await?;
        let mut buf = vec![0u8; MAX_UDP_ANSWER];
        loop {
            let n = socket.recv(&mut buf).await?;
            // A stray datagram with another id is ignored, not trusted.
            if n >= 2 && raw.len() >= 2 && buf[..2] == raw[..2] {
                buf.truncate(n);
                return Ok(buf);
            }
        }
    }

    async fn tcp(&self, raw: &[u8]) -> io::Result<Vec<u8>> {
        let len = u16::try_from(raw.len())
            .map_err(|_| io::Error::other("query longer than 65535 bytes"))?;
        let mut stream = TcpStream::connect(self.addr).await?;
        let mut framed = Vec::with_capacity(raw.len() + 2);
        framed.extend_from_slice(&len.to_be_bytes());
        framed.extend_from_slice(raw);
        stream.write_all(&framed).await?;
        let mut len = [0u8; 2];
        stream.read_exact(&mut len).await?;
        let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
        stream.read_exact(&mut buf).await?;
        Ok(buf)
    }
}
