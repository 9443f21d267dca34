//! The control protocol: one JSON line in, one JSON line out, as the
//! reference speaks it.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::stats::StatsRequest;

/// Requests longer than this are refused with "request too large".
pub const MAX_REQUEST: usize = 4096;
/// Read, reply and write each get this long.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Where the daemon listens unless configured otherwise.
pub const DEFAULT_SOCKET: &str = "/run/fips/control.sock";

/// A control command with its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// A read-only `show_*` query.
    Show(Query),
    /// Dial a peer: `{"npub", "address", "transport"}`.
    Connect {
        npub: String,
        address: String,
        transport: String,
    },
    /// Drop a peer link.
    Disconnect { npub: String },
    /// Detach the eBPF enforcement filter.
    FirewallRemove,
    /// A stats-history query (`show_stats_*`).
    Stats(StatsRequest),
}

/// The `show_*` queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Query {
    Status,
    Peers,
    Links,
    Tree,
    Sessions,
    Routing,
    Bloom,
    Mmp,
    Cache,
    Connections,
    Transports,
    IdentityCache,
    Firewall,
    ListeningSockets,
}

impl Query {
    pub const ALL: [Query; 14] = [
        Query::Status,
        Query::Peers,
        Query::Links,
        Query::Tree,
        Query::Sessions,
        Query::Routing,
        Query::Bloom,
        Query::Mmp,
        Query::Cache,
        Query::Connections,
        Query::Transports,
        Query::IdentityCache,
        Query::Firewall,
        Query::ListeningSockets,
    ];

    /// The wire name, e.g. `show_status`.
    pub fn command_name(self) -> &'static str {
        match self {
            Query::Status => "show_status",
            Query::Peers => "show_peers",
            Query::Links => "show_links",
            Query::Tree => "show_tree",
            Query::Sessions => "show_sessions",
            Query::Routing => "show_routing",
            Query::Bloom => "show_bloom",
            Query::Mmp => "show_mmp",
            Query::Cache => "show_cache",
            Query::Connections => "show_connections",
            Query::Transports => "show_transports",
            Query::IdentityCache => "show_identity_cache",
            Query::Firewall => "show_firewall",
            Query::ListeningSockets => "show_listening_sockets",
        }
    }

    /// The fipsctl word, e.g. `identity-cache`.
    pub fn cli_name(self) -> &'static str {
        let name = self.command_name().trim_start_matches("show_");
        match self {
            Query::IdentityCache => "identity-cache",
            Query::ListeningSockets => "listening-sockets",
            _ => name,
        }
    }

    pub fn from_command_name(name: &str) -> Option<Query> {
        Query::ALL.into_iter().find(|q| q.command_name() == name)
    }

    pub fn from_cli_name(name: &str) -> Option<Query> {
        Query::ALL.into_iter().find(|q| q.cli_name() == name)
    }
}

/// The request as it travels.
#[derive(Debug, Serialize, Deserialize)]
struct WireRequest {
    command: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    params: Option<Map<String, Value>>,
}

impl Command {
    pub fn name(&self) -> &'static str {
        match self {
            Command::Show(q) => q.command_name(),
            Command::Connect { .. } => "connect",
            Command::Disconnect { .. } => "disconnect",
            Command::FirewallRemove => "firewall_remove",
            Command::Stats(r) => r.name(),
        }
    }

    /// The request line, without the trailing newline.
    pub fn to_line(&self) -> String {
        let params = match self {
            Command::Connect {
                npub,
                address,
                transport,
            } => Some(Map::from_iter([
                ("npub".to_string(), Value::from(npub.as_str())),
                ("address".to_string(), Value::from(address.as_str())),
                ("transport".to_string(), Value::from(transport.as_str())),
            ])),
            Command::Disconnect { npub } => Some(Map::from_iter([(
                "npub".to_string(),
                Value::from(npub.as_str()),
            )])),
            Command::Stats(r) => r.params(),
            Command::Show(_) | Command::FirewallRemove => None,
        };
        let req = WireRequest {
            command: self.name().to_string(),
            params,
        };
        serde_json::to_string(&req).unwrap_or_default()
    }

    /// Parses one request line; the error is the reply's message, worded
    /// as the reference words it.
    pub fn parse_line(line: &[u8]) -> Result<Command, String> {
        let text = std::str::from_utf8(line).map_err(|e| format!("invalid request: {e}"))?;
        if text.trim().is_empty() {
            return Err("empty request".into());
        }
        let req: WireRequest =
            serde_json::from_str(text).map_err(|e| format!("invalid request: {e}"))?;
        if let Some(q) = Query::from_command_name(&req.command) {
            return Ok(Command::Show(q));
        }
        let name = req.command.as_str();
        if let Some(stats) = StatsRequest::parse(name, req.params.as_ref()) {
            return stats.map(Command::Stats);
        }
        let param = |field: &str| -> Result<String, String> {
            let params = req
                .params
                .as_ref()
                .ok_or_else(|| format!("missing params for {name}"))?;
            params
                .get(field)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| format!("missing '{field}' parameter"))
        };
        match name {
            "connect" => Ok(Command::Connect {
                npub: param("npub")?,
                address: param("address")?,
                transport: param("transport")?,
            }),
            "disconnect" => Ok(Command::Disconnect {
                npub: param("npub")?,
            }),
            "firewall_remove" => Ok(Command::FirewallRemove),
            other => Err(format!("unknown command: {other}")),
        }
    }
}

/// A reply: `{"status":"ok","data":{...}}` or
/// `{"status":"error","message":"..."}`.
#[derive(Debug, Clone, PartialEq)]
pub enum Response {
    Ok(Value),
    Error(String),
}

#[derive(Serialize, Deserialize)]
struct WireResponse {
    status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    data: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    message: Option<String>,
}

impl Response {
    pub fn error(message: impl Into<String>) -> Response {
        Response::Error(message.into())
    }

    /// Serializes a snapshot as the `data` of an ok reply.
    pub fn ok_from<T: Serialize>(data: &T) -> Response {
        match serde_json::to_value(data) {
            Ok(v) => Response::Ok(v),
            Err(e) => Response::Error(format!("internal error: {e}")),
        }
    }

    /// The reply line, with the trailing newline.
    pub fn to_line(&self) -> String {
        let wire = match self {
            Response::Ok(data) => WireResponse {
                status: "ok".into(),
                data: Some(data.clone()),
                message: None,
            },
            Response::Error(m) => WireResponse {
                status: "error".into(),
                data: None,
                message: Some(m.clone()),
            },
        };
        let mut line = serde_json::to_string(&wire)
            .unwrap_or_else(|_| r#"{"status":"error","message":"internal error"}"#.into());
        line.push('\n');
        line
    }

    pub fn parse_line(line: &[u8]) -> Result<Response, serde_json::Error> {
        let wire: WireResponse = serde_json::from_slice(line)?;
        Ok(match (wire.status.as_str(), wire.data) {
            ("ok", data) => Response::Ok(data.unwrap_or(Value::Null)),
            (_, _) => Response::Error(
                wire.message
                    .unwrap_or_else(|| format!("status {}", wire.status)),
            ),
        })
    }
}
