//! `fipsctl health`: the sidecar's HEALTHCHECK. Healthy means the daemon
//! answers on its control socket, fips0 is up, the eBPF filter is attached
//! (when enforcement is on), the DNS server answers a real query for the
//! node's own name, and, when a peer is configured (`FIPS_PEER_NPUB`), the
//! link to it is connected. With the filter checked, no foreign packet
//! socket may be open in the namespace (the daemon's tripwire). Each failed
//! check is named in the error.

use std::net::{Ipv6Addr, SocketAddr, UdpSocket};
use std::path::Path;
use std::time::Duration;

use hickory_server::proto::op::{Message, ResponseCode};
use hickory_server::proto::rr::RData;
use serde_json::Value;

use super::{request, Command, Query, Response};

/// Why the node is not healthy.
#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    #[error("the daemon does not answer on {path}: {source}")]
    Unreachable {
        path: String,
        #[source]
        source: super::ClientError,
    },
    /// The daemon answered with an error (its text, from the socket).
    #[error("the daemon on {path} answered with an error: {message}")]
    Refused { path: String, message: String },
    #[error("fips0 is not up (tun_state {state})")]
    Tun { state: String },
    #[error("the eBPF filter is not attached: no program is attached to the interface")]
    FilterDetached,
    #[error("the eBPF filter's state is unknown: {source}")]
    FilterUnknown {
        #[source]
        source: Box<HealthError>,
    },
    #[error(
        "{count} packet socket(s) open in the sidecar's network namespace ({sockets}): a process \
         there has CAP_NET_RAW and can read and send frames beside the eBPF filter; drop the \
         capability from the app container (cap_drop: [NET_RAW])"
    )]
    PacketSocket { count: usize, sockets: String },
    #[error("DNS on {addr} does not answer {name}: {step}: {source}")]
    DnsIo {
        addr: SocketAddr,
        name: String,
        step: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("DNS on {addr} does not answer {name}: bad reply: {source}")]
    DnsReply {
        addr: SocketAddr,
        name: String,
        #[source]
        source: hickory_server::proto::serialize::binary::DecodeError,
    },
    /// The reply parsed, but is not the answer wanted.
    #[error("DNS on {addr} does not answer {name}: {problem}")]
    DnsAnswer {
        addr: SocketAddr,
        name: String,
        problem: String,
    },
    #[error("no link to a configured peer is up and answering (configured: {npubs})")]
    Peer { npubs: String },
}

/// What to check beyond the daemon itself.
pub struct HealthCheck<'a> {
    pub socket: &'a Path,
    pub dns: Option<SocketAddr>,
    /// Configured peers: healthy needs a link to at least one of them
    /// (with several, one dead peer is what the others are there for).
    pub peer_npubs: Vec<String>,
    pub require_filter: bool,
}

impl HealthCheck<'_> {
    /// Runs every check; the first failure is returned.
    pub fn run(&self) -> Result<String, HealthError> {
        let status = self.query(Query::Status)?;
        let state = status["tun_state"]
            .as_str()
            .unwrap_or("unknown")
            .to_string();
        if state != "up" {
            return Err(HealthError::Tun { state });
        }
        if self.require_filter {
            self.check_filter()?;
        }
        if let Some(addr) = self.dns {
            let npub = status["npub"].as_str().unwrap_or_default();
            let want: Option<Ipv6Addr> = status["ipv6_addr"].as_str().and_then(|s| s.parse().ok());
            check_dns(addr, &format!("{npub}.fips."), want)?;
        }
        if !self.peer_npubs.is_empty() {
            self.check_peers()?;
        }
        Ok(format!(
            "healthy: {} fips0 up{}{}{}",
            status["npub"].as_str().unwrap_or("?"),
            if self.require_filter {
                ", filter attached"
            } else {
                ""
            },
            if self.dns.is_some() {
                ", DNS answers"
            } else {
                ""
            },
            if !self.peer_npubs.is_empty() {
                ", peer link up"
            } else {
                ""
            },
        ))
    }

    fn query(&self, q: Query) -> Result<Value, HealthError> {
        let path = self.socket.display().to_string();
        match request(self.socket, &Command::Show(q)) {
            Ok(Response::Ok(v)) => Ok(v),
            Ok(Response::Error(message)) => Err(HealthError::Refused { path, message }),
            Err(source) => Err(HealthError::Unreachable { path, source }),
        }
    }

    fn check_filter(&self) -> Result<(), HealthError> {
        let fw = self
            .query(Query::Firewall)
            .map_err(|e| HealthError::FilterUnknown {
                source: Box::new(e),
            })?;
        let attached = fw["links"].as_array().is_some_and(|l| !l.is_empty())
            || fw["attached"].as_bool() == Some(true);
        if !attached {
            return Err(HealthError::FilterDetached);
        }
        check_packet_sockets(&fw)
    }

    fn check_peers(&self) -> Result<(), HealthError> {
        let peers = self.query(Query::Peers)?;
        let up = peers["peers"].as_array().is_some_and(|ps| {
            ps.iter().any(|p| {
                p["connectivity"] == "connected"
                    && p["silent"] != true
                    && self.peer_npubs.iter().any(|n| p["npub"] == n.as_str())
            })
        });
        if up {
            Ok(())
        } else {
            Err(HealthError::Peer {
                npubs: self.peer_npubs.join(", "),
            })
        }
    }
}

/// The daemon's tripwire (`packet_sockets` of `show firewall`) found none.
fn check_packet_sockets(fw: &Value) -> Result<(), HealthError> {
    let open: Vec<crate::enforce::tripwire::PacketSocket> = fw
        .get("packet_sockets")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default();
    if open.is_empty() {
        return Ok(());
    }
    let sockets = open
        .iter()
        .map(|s| s.describe())
        .collect::<Vec<_>>()
        .join("; ");
    Err(HealthError::PacketSocket {
        count: open.len(),
        sockets,
    })
}

/// Sends one AAAA query over UDP and checks the answer holds `want`.
fn check_dns(addr: SocketAddr, name: &str, want: Option<Ipv6Addr>) -> Result<(), HealthError> {
    let io = |step: &'static str| {
        move |source| HealthError::DnsIo {
            addr,
            name: name.to_string(),
            step,
            source,
        }
    };
    let fail = |problem: String| HealthError::DnsAnswer {
        addr,
        name: name.to_string(),
        problem,
    };
    let bind = if addr.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    };
    let sock = UdpSocket::bind(bind).map_err(io("socket"))?;
    sock.set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(io("socket"))?;
    sock.send_to(&aaaa_query(0x4845, name), addr)
        .map_err(io("send"))?;
    let mut buf = [0u8; 1500];
    let n = sock.recv(&mut buf).map_err(io("no reply"))?;
    let msg = Message::from_vec(&buf[..n]).map_err(|source| HealthError::DnsReply {
        addr,
        name: name.to_string(),
        source,
    })?;
    if msg.metadata.response_code != ResponseCode::NoError {
        return Err(fail(format!("rcode {}", msg.metadata.response_code)));
    }
    let got: Vec<Ipv6Addr> = msg
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::AAAA(a) => Some(a.0),
            _ => None,
        })
        .collect();
    match want {
        Some(w) if !got.contains(&w) => Err(fail(format!("answered {got:?}, expected {w}"))),
        _ if got.is_empty() => Err(fail("no AAAA in the answer".into())),
        _ => Ok(()),
    }
}

/// A minimal DNS query: header (id, RD), one question, type AAAA, class IN.
fn aaaa_query(id: u16, name: &str) -> Vec<u8> {
    let mut q = Vec::with_capacity(64 + name.len());
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.trim_end_matches('.').split('.') {
        q.push(label.len().min(63) as u8);
        q.extend_from_slice(&label.as_bytes()[..label.len().min(63)]);
    }
    q.extend_from_slice(&[0, 0, 28, 0, 1]);
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aaaa_query_is_a_well_formed_single_question() {
        let q = aaaa_query(7, "abc.fips.");
        let msg = Message::from_vec(&q).expect("parses");
        assert_eq!(msg.metadata.id, 7);
        assert_eq!(msg.queries.len(), 1);
        assert_eq!(msg.queries[0].name().to_ascii(), "abc.fips.");
        assert_eq!(u16::from(msg.queries[0].query_type()), 28);
    }

    #[test]
    fn a_foreign_packet_socket_fails_health_naming_it_and_the_fix() {
        let fw = serde_json::json!({ "attached": true, "packet_sockets": [{
            "inode": 4242, "type": "raw", "protocol": "0x0003", "interface": "eth0",
            "uid": 0, "pid": 17, "process": "python3"
        }]});
        let err = check_packet_sockets(&fw).expect_err("a packet socket is open");
        let text = err.to_string();
        for part in [
            "inode 4242",
            "0x0003",
            "eth0",
            "process 17 (python3)",
            "cap_drop: [NET_RAW]",
        ] {
            assert!(text.contains(part), "{text}");
        }
        let clean = serde_json::json!({ "attached": true, "packet_sockets": [] });
        check_packet_sockets(&clean).expect("none open");
        check_packet_sockets(&serde_json::json!({ "attached": true }))
            .expect("an older daemon without the tripwire");
    }

    #[test]
    fn a_daemon_that_is_not_running_is_reported_by_socket_path() {
        let check = HealthCheck {
            socket: Path::new("/nonexistent/fips-health.sock"),
            dns: None,
            peer_npubs: Vec::new(),
            require_filter: false,
        };
        let err = check.run().expect_err("no daemon");
        assert!(
            err.to_string().contains("/nonexistent/fips-health.sock"),
            "{err}"
        );
    }
}
