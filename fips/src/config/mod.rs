//! Configuration: the YAML file (`fips -c FILE`) and the sidecar's
//! environment variables, turned into one validated [`Config`].
//!
//! The file layout is the reference's (FIPS v0.4.1), so one file runs either
//! implementation: keys of the reference that we do not implement are
//! accepted and reported as notices, keys nobody knows are an error. This
//! module only reads and validates; it opens no sockets. The one side effect
//! is the key file, written by [`IdentitySource::load_or_create`].

mod env;
mod env_peers;
mod error;
mod file;
mod idle;
mod keyfile;
mod limits;
mod schema;
mod value;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_limits;
#[cfg(test)]
mod tests_metrics;

use std::net::SocketAddr;
use std::path::PathBuf;

use fips_proto::identity::PeerIdentity;

pub use env::{
    EnvLookup, ProcessEnv, DEFAULT_ENV_KEY_FILE, ENV_CONTROL_SOCKET, ENV_KEY_FILE, ENV_NSEC,
};
pub use env_peers::npubs as fips_peers_npubs;
pub use error::ConfigError;
pub use idle::{DEFAULT_IDENTITY_IDLE, IDLE_CEILING_SECS};
pub use keyfile::{write_pub_file, KeyOrigin, SecretKey};
pub use limits::{Limits, LIMIT_CEILING};
pub use value::{parse_host_port as parse_peer_addr, Endpoint};

/// The default control socket, in env mode and when the file names none.
pub const DEFAULT_CONTROL_SOCKET: &str = "/run/fips/control.sock";
/// UDP transport socket buffers (the reference's default, 2 MiB each).
pub const DEFAULT_UDP_BUFFER: usize = 2 * 1024 * 1024;

/// Everything the daemon needs to start, validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the configuration came from (for messages).
    pub origin: ConfigOrigin,
    pub identity: IdentitySource,
    pub control_socket: PathBuf,
    pub tun: TunConfig,
    pub dns: DnsConfig,
    pub udp: UdpConfig,
    pub peers: Vec<PeerEntry>,
    pub enforce: EnforceConfig,
    /// The DNS server the daemon asks for peer host names
    /// (`node.peer_resolver`, `FIPS_PEER_RESOLVER`); `None`: the system's.
    pub peer_resolver: Option<SocketAddr>,
    /// Where the Prometheus metrics server listens (`metrics.bind_addr`,
    /// `FIPS_METRICS_ADDR`); `None`: no metrics server (the default).
    pub metrics: Option<SocketAddr>,
    /// `node.log_level`, used when `RUST_LOG` is unset.
    pub log_level: Option<String>,
    /// `log.format`, `FIPS_LOG_FORMAT`: text (default) or json lines.
    pub log_format: LogFormat,
    /// `node.limits.*`, `FIPS_MAX_*`: peers, links, handshakes in flight.
    pub limits: Limits,
    /// How long a stopping daemon keeps serving after telling its peers
    /// goodbye (`node.drain_timeout_secs`, `FIPS_DRAIN_TIMEOUT_SECS`).
    pub drain_timeout: std::time::Duration,
    /// How long an identity nothing uses stays in the node's identity
    /// cache and the DNS server's names (`node.identity_idle_secs`,
    /// `FIPS_IDENTITY_IDLE_SECS`); linked peers and sessions never age out.
    pub identity_idle: std::time::Duration,
    /// Keys and variables we accepted without acting on them; the daemon
    /// logs each once tracing is up.
    pub notices: Vec<String>,
}

/// The drain window's default, the reference's (2 s).
pub const DEFAULT_DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// How the daemon writes its log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log pipelines.
    Json,
}

impl LogFormat {
    /// What the key accepts, for messages.
    pub const EXPECTED: &'static str = "text or json";

    pub fn parse(s: &str) -> Option<LogFormat> {
        match s.trim() {
            "text" => Some(LogFormat::Text),
            "json" => Some(LogFormat::Json),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigOrigin {
    File(PathBuf),
    Environment,
}

/// Where the node's secret key comes from.
#[derive(Debug, Clone)]
pub enum IdentitySource {
    /// Given inline: `node.identity.nsec` or `FIPS_NSEC`.
    Inline {
        key: SecretKey,
        origin: &'static str,
    },
    /// Read from this file, or generated into it when it does not exist.
    KeyFile { path: PathBuf, origin: &'static str },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunConfig {
    pub enabled: bool,
    pub name: String,
    pub mtu: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsConfig {
    pub enabled: bool,
    pub bind: SocketAddr,
    /// Where names outside `.fips` are forwarded; `None` answers REFUSED.
    pub upstream: Option<SocketAddr>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpConfig {
    pub bind: SocketAddr,
    /// Transport MTU: the largest UDP payload we send to a peer.
    pub mtu: u16,
    pub recv_buf: usize,
    pub send_buf: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PeerEntry {
    pub identity: PeerIdentity,
    pub alias: Option<String>,
    /// Addresses given as IP literals.
    pub addrs: Vec<SocketAddr>,
    /// Addresses given by host name: the daemon resolves them itself, at
    /// start and again while it runs (see `daemon::resolve`), so a peer
    /// that is not up yet or comes back at a new address is still found.
    pub names: Vec<PeerHost>,
    pub auto_connect: bool,
    /// The key or variable this peer came from, e.g. `peers[1].npub`.
    pub origin: String,
}

/// A peer address given as `host:port` with a host name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerHost {
    pub host: String,
    pub port: u16,
    /// The key or variable it came from, e.g. `FIPS_PEER_ADDR`.
    pub key: String,
}

impl std::fmt::Display for PeerHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnforceConfig {
    pub enabled: bool,
    pub interface: String,
}

impl Config {
    /// Reads and validates a YAML configuration file.
    pub fn from_file(path: &std::path::Path) -> Result<Config, ConfigError> {
        file::load(path)
    }

    /// Builds the configuration from environment variables (sidecar mode).
    pub fn from_env(lookup: &dyn EnvLookup) -> Result<Config, ConfigError> {
        env::load(lookup)
    }
}

impl Default for TunConfig {
    fn default() -> Self {
        TunConfig {
            enabled: false,
            name: "fips0".into(),
            mtu: 1280,
        }
    }
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            enabled: true,
            bind: SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, 5354)),
            upstream: None,
        }
    }
}

impl Default for UdpConfig {
    fn default() -> Self {
        UdpConfig {
            bind: SocketAddr::from(([0, 0, 0, 0], 2121)),
            mtu: 1280,
            recv_buf: DEFAULT_UDP_BUFFER,
            send_buf: DEFAULT_UDP_BUFFER,
        }
    }
}

impl Default for EnforceConfig {
    fn default() -> Self {
        EnforceConfig {
            enabled: false,
            interface: "eth0".into(),
        }
    }
}
