//! Sidecar mode: without `-c`, environment variables configure the node.

use std::path::PathBuf;

use super::error::{describe, ConfigError};
use super::value::{self, Endpoint};
use super::{
    Config, ConfigOrigin, DnsConfig, EnforceConfig, IdentitySource, PeerEntry, SecretKey,
    TunConfig, UdpConfig, DEFAULT_CONTROL_SOCKET, DEFAULT_DRAIN_TIMEOUT,
};

/// Secret key, inline (hex or nsec1...).
pub const ENV_NSEC: &str = "FIPS_NSEC";
/// A file holding the key; generated there when missing.
pub const ENV_KEY_FILE: &str = "FIPS_NSEC_FILE";
/// Overrides the control socket path (tests run several daemons per host).
pub const ENV_CONTROL_SOCKET: &str = "FIPS_CONTROL_SOCKET";
/// Where env mode keeps a generated key.
pub const DEFAULT_ENV_KEY_FILE: &str = "/var/lib/fips/fips.key";

/// Variables of the sidecar's compose file that are not ours to read.
const COMPOSE_ONLY: &[&str] = &["FIPS_NETWORK", "FIPS_SUBNET", "FIPS_IPV4"];
const KNOWN: &[&str] = &[
    ENV_NSEC,
    ENV_KEY_FILE,
    ENV_CONTROL_SOCKET,
    "FIPS_PEER_NPUB",
    "FIPS_PEER_ADDR",
    "FIPS_PEER_ALIAS",
    "FIPS_PEERS",
    "FIPS_UDP_BIND",
    "FIPS_TUN_MTU",
    "FIPS_UDP_MTU",
    "FIPS_DNS_UPSTREAM",
    "FIPS_PEER_RESOLVER",
    "FIPS_ENFORCE",
    "FIPS_ENFORCE_IFACE",
    "FIPS_METRICS_ADDR",
    "FIPS_LOG_FORMAT",
    "FIPS_DRAIN_TIMEOUT_SECS",
    "FIPS_MAX_PEERS",
    "FIPS_MAX_LINKS",
    "FIPS_MAX_CONNECTIONS",
    super::idle::ENV_VAR,
];

/// Reads environment variables; a trait so tests need not mutate the
/// process environment.
pub trait EnvLookup {
    fn var(&self, name: &str) -> Option<String>;
    /// Names of all variables starting with `FIPS_` (to flag typos).
    fn fips_names(&self) -> Vec<String>;
}

/// The real process environment.
pub struct ProcessEnv;

impl EnvLookup for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
    fn fips_names(&self) -> Vec<String> {
        std::env::vars_os()
            .filter_map(|(k, _)| k.into_string().ok())
            .filter(|k| k.starts_with("FIPS_"))
            .collect()
    }
}

impl<const N: usize> EnvLookup for [(&str, &str); N] {
    fn var(&self, name: &str) -> Option<String> {
        self.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    }
    fn fips_names(&self) -> Vec<String> {
        self.iter()
            .map(|(k, _)| k.to_string())
            .filter(|k| k.starts_with("FIPS_"))
            .collect()
    }
}

pub(crate) fn load(env: &dyn EnvLookup) -> Result<Config, ConfigError> {
    // An empty variable counts as unset: compose files pass `${X:-}`.
    let get = |name: &str| env.var(name).filter(|v| !v.trim().is_empty());
    let mut notices = Vec::new();
    for name in env.fips_names() {
        if COMPOSE_ONLY.contains(&name.as_str()) {
            continue;
        }
        if !KNOWN.contains(&name.as_str()) {
            notices.push(format!(
                "{name}: unknown FIPS_ variable, ignored (known: {})",
                KNOWN.join(", ")
            ));
        }
    }
    let udp_bind = match get("FIPS_UDP_BIND") {
        Some(s) => value::parse_bind("FIPS_UDP_BIND", s.trim())?,
        None => std::net::SocketAddr::from(([0, 0, 0, 0], 4000)),
    };
    let tun_mtu = match get("FIPS_TUN_MTU") {
        Some(s) => value::check_tun_mtu("FIPS_TUN_MTU", parse_mtu("FIPS_TUN_MTU", &s)?)?,
        None => 1280,
    };
    // The reference's 1280 by default; 1472 on a 1500-byte Docker bridge
    // lets full 1280-byte IPv6 packets cross the mesh.
    let udp_mtu = match get("FIPS_UDP_MTU") {
        Some(s) => value::check_tun_mtu("FIPS_UDP_MTU", parse_mtu("FIPS_UDP_MTU", &s)?)?,
        None => UdpConfig::default().mtu,
    };
    let upstream = get("FIPS_DNS_UPSTREAM")
        .map(|s| value::parse_upstream("FIPS_DNS_UPSTREAM", s.trim()))
        .transpose()?;
    let enforce = EnforceConfig {
        enabled: get("FIPS_ENFORCE")
            .map(|s| parse_flag("FIPS_ENFORCE", &s))
            .transpose()?
            .unwrap_or(true),
        interface: match get("FIPS_ENFORCE_IFACE") {
            Some(s) => value::check_ifname("FIPS_ENFORCE_IFACE", s.trim())?,
            None => "eth0".into(),
        },
    };
    Ok(Config {
        origin: ConfigOrigin::Environment,
        identity: identity(get(ENV_NSEC), get(ENV_KEY_FILE))?,
        control_socket: PathBuf::from(
            get(ENV_CONTROL_SOCKET).unwrap_or_else(|| DEFAULT_CONTROL_SOCKET.into()),
        ),
        tun: TunConfig {
            enabled: true,
            name: "fips0".into(),
            mtu: tun_mtu,
        },
        // The sidecar's resolv.conf names 127.0.0.1 (docker/entrypoint.sh).
        dns: DnsConfig {
            enabled: true,
            bind: std::net::SocketAddr::from(([127, 0, 0, 1], 53)),
            upstream,
        },
        udp: UdpConfig {
            bind: udp_bind,
            mtu: udp_mtu,
            ..UdpConfig::default()
        },
        peers: peers(&get)?,
        enforce,
        peer_resolver: get("FIPS_PEER_RESOLVER")
            .map(|s| value::parse_upstream("FIPS_PEER_RESOLVER", s.trim()))
            .transpose()?,
        metrics: get("FIPS_METRICS_ADDR")
            .map(|s| value::parse_bind("FIPS_METRICS_ADDR", s.trim()))
            .transpose()?,
        log_level: None,
        log_format: get("FIPS_LOG_FORMAT")
            .map(|s| value::parse_log_format("FIPS_LOG_FORMAT", &s))
            .transpose()?
            .unwrap_or_default(),
        limits: super::limits::from_env(&get)?,
        drain_timeout: get("FIPS_DRAIN_TIMEOUT_SECS")
            .map(|s| parse_secs("FIPS_DRAIN_TIMEOUT_SECS", &s))
            .transpose()?
            .unwrap_or(DEFAULT_DRAIN_TIMEOUT),
        identity_idle: super::idle::from_env(&get)?,
        notices,
    })
}

fn identity(nsec: Option<String>, file: Option<String>) -> Result<IdentitySource, ConfigError> {
    match (nsec, file) {
        (Some(_), Some(_)) => Err(ConfigError::Conflict {
            first: ENV_NSEC,
            second: ENV_KEY_FILE,
        }),
        (Some(text), None) => {
            let key = SecretKey::new(text.trim().to_string());
            key.identity(ENV_NSEC)?;
            Ok(IdentitySource::Inline {
                key,
                origin: ENV_NSEC,
            })
        }
        (None, Some(path)) => Ok(IdentitySource::KeyFile {
            path: path.into(),
            origin: ENV_KEY_FILE,
        }),
        (None, None) => Ok(IdentitySource::KeyFile {
            path: DEFAULT_ENV_KEY_FILE.into(),
            origin: DEFAULT_ENV_KEY_FILE,
        }),
    }
}

/// FIPS_PEER_NPUB/ADDR/ALIAS (one peer, the seed's way) and FIPS_PEERS
/// (any number), each peer once.
fn peers(get: &dyn Fn(&str) -> Option<String>) -> Result<Vec<PeerEntry>, ConfigError> {
    let mut all = peer(
        get("FIPS_PEER_NPUB"),
        get("FIPS_PEER_ADDR"),
        get("FIPS_PEER_ALIAS"),
    )?;
    if let Some(list) = get("FIPS_PEERS") {
        all.extend(super::env_peers::parse(&list)?);
    }
    super::env_peers::check_unique(&all)?;
    Ok(all)
}

fn peer(
    npub: Option<String>,
    addr: Option<String>,
    alias: Option<String>,
) -> Result<Vec<PeerEntry>, ConfigError> {
    let (npub, addr) = match (npub, addr) {
        (None, None) => return Ok(Vec::new()),
        (Some(_), None) => {
            return Err(ConfigError::Incomplete {
                key: "FIPS_PEER_NPUB",
                needs: "FIPS_PEER_ADDR",
            })
        }
        (None, Some(_)) => {
            return Err(ConfigError::Incomplete {
                key: "FIPS_PEER_ADDR",
                needs: "FIPS_PEER_NPUB",
            })
        }
        (Some(n), Some(a)) => (n.trim().to_string(), a),
    };
    let identity = value::parse_npub("FIPS_PEER_NPUB", &npub)?;
    let (addrs, names) = match value::parse_host_port("FIPS_PEER_ADDR", addr.trim())? {
        Endpoint::Ip(addr) => (vec![addr], Vec::new()),
        Endpoint::Name(host) => (Vec::new(), vec![host]),
    };
    Ok(vec![PeerEntry {
        identity,
        alias: Some(
            alias
                .map(|a| a.trim().to_string())
                .unwrap_or_else(|| "peer".into()),
        ),
        addrs,
        names,
        auto_connect: true,
        origin: "FIPS_PEER_NPUB".into(),
    }])
}

fn parse_mtu(name: &str, s: &str) -> Result<u16, ConfigError> {
    s.trim().parse().map_err(|_| ConfigError::Invalid {
        key: name.into(),
        expected: "an MTU from 1280 to 65535",
        got: describe(s),
    })
}

fn parse_flag(name: &str, s: &str) -> Result<bool, ConfigError> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(ConfigError::Invalid {
            key: name.into(),
            expected: "1, true, yes, on, 0, false, no or off",
            got: describe(s),
        }),
    }
}

fn parse_secs(name: &'static str, s: &str) -> Result<std::time::Duration, ConfigError> {
    s.trim()
        .parse()
        .map(std::time::Duration::from_secs)
        .map_err(|_| ConfigError::Invalid {
            key: name.into(),
            expected: "a number of seconds",
            got: describe(s),
        })
}
