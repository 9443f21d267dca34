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
            let (names, _closed) = mpsc::unbounded_channel();
            let mut ctx = Context {
                control_socket: PathBuf::from(crate::control::DEFAULT_SOCKET),
                tun_name: None,
                firewall: Firewall::disabled(),
                started: now,
                names,
            };
            respond(node, &mut ctx, now, command)
        }
    };
    response.to_line()
}
