//! Control socket: the JSON-lines request and response types shared by the
//! daemon and fipsctl, the daemon's listener, the blocking client, and the
//! tables fipsctl prints. The protocol is the reference's: one JSON line
//! in, one out, then the connection closes.
//!
//! This module owns no node state: the server passes each command to the
//! node task over a channel and writes back whatever reply comes.

mod client;
mod health;
pub mod history;
pub(crate) mod listening;
mod proto;
pub(crate) mod reply;
mod server;
mod stats;
mod table;

#[cfg(test)]
mod golden_tests;
#[cfg(test)]
mod tests;

pub use client::{request, ClientError};
pub use health::{HealthCheck, HealthError};
pub use listening::listening_sockets;
pub use proto::{Command, Query, Response, DEFAULT_SOCKET, IO_TIMEOUT, MAX_REQUEST};
pub use server::{ControlError, ControlRequest, ControlServer};
pub use stats::{Span, StatsRequest};
pub use table::render;
