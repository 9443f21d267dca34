//! The daemon's control path for one request line, without sockets: parse
//! the line, answer it from the node as the node task does, and return the
//! reply line. For the fuzz target (fuzz/fuzz_targets/control_request.rs)
//! and tests. Enforcement is off and there is no TUN; a host name given to
//! `connect` meets a resolver that is not running (its channel is closed),
//! so nothing here resolves, binds or spawns.
//!
//! What it leaves out is the listener's: reading up to the newline within
//! `MAX_REQUEST` bytes and the timeouts (tested over a real socket in
//! `control/tests.rs`).

use std::path::PathBuf;
use std::time::Instant;

use fips_proto::node::Node;
use tokio::sync::mpsc;

use crate::control::{Command, Response};

use super::commands::{respond, Context};
use super::hooks::Firewall;

/// The reply line (with its newline) the daemon sends for `line`, which is
/// the request up to, not including, its newline.
pub fn answer_control_line(node: &mut Node, now: Instant, line: &[u8]) -> String {
    let response = match Command::parse_line(line) {
        Err(message) => Response::Error(message),
        Ok(command) => {
            let (names, resolver) = mpsc::unbounded_channel();
            drop(resolver);
            let mut ctx = Context {
                control_socket: PathBuf::from(crate::control::DEFAULT_SOCKET),
                tun_name: None,
                firewall: Firewall::disabled(),
                names,
                udp_local: None,
                history: Default::default(),
            };
            respond(node, &mut ctx, now, command)
        }
    };
    response.to_line()
}

#[cfg(test)]
mod tests {
    use fips_proto::identity::Identity;
    use fips_proto::node::{NodeConfig, Timers};

    use super::*;

    fn node(now: Instant) -> Node {
        let identity = Identity::from_secret_bytes([0xa1; 32]).expect("valid key");
        let cfg = NodeConfig {
            identity,
            peers: Vec::new(),
            link_mtu: 1280,
            tun_mtu: 1203,
            timers: Timers::default(),
        };
        Node::new(cfg, [1; 32], now, 1_795_600_000_000)
    }

    #[test]
    fn control_lines_are_answered_from_the_node_without_a_socket() {
        let now = Instant::now();
        let mut n = node(now);
        let status = answer_control_line(&mut n, now, br#"{"command":"show_status"}"#);
        assert!(status.starts_with(r#"{"status":"ok""#), "{status}");
        assert!(status.ends_with('\n'));
        let bad = answer_control_line(&mut n, now, b"{\"command\":\"firewall_remove\"}");
        assert!(bad.contains("enforcement is not enabled"), "{bad}");
        let named = Command::Connect {
            npub: Identity::from_secret_bytes([0xb1; 32])
                .expect("valid key")
                .public()
                .npub(),
            address: "peer.example:2121".into(),
            transport: "udp".into(),
        };
        let reply = answer_control_line(&mut n, now, named.to_line().as_bytes());
        assert!(reply.contains("resolver is not running"), "{reply}");
    }
}
