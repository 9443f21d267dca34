//! `fips -c FILE`: the reference's YAML layout.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::error::ConfigError;
use super::schema::{walk, Findings, ROOT};
use super::value::{self, At, Endpoint};
use super::{
    Config, ConfigOrigin, DnsConfig, EnforceConfig, IdentitySource, LogFormat, PeerEntry,
    SecretKey, TunConfig, UdpConfig, DEFAULT_CONTROL_SOCKET, DEFAULT_DRAIN_TIMEOUT,
};

/// The key file the daemon keeps next to the configuration file.
pub(crate) const KEY_FILE_NAME: &str = "fips.key";

pub(crate) fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.into(),
        source,
    })?;
    parse(path, &text)
}

pub(crate) fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
    let doc = read_yaml(path, text)?;
    let mut found = Findings::default();
    walk(&ROOT, &doc, "", &mut found)?;
    if !found.unknown.is_empty() {
        return Err(ConfigError::UnknownKeys {
            path: path.into(),
            keys: found.unknown,
        });
    }
    let mut notices: Vec<String> = found
        .reference_only
        .iter()
        .map(|k| format!("{k}: a FIPS v0.4.1 setting this daemon does not implement; ignored"))
        .collect();
    let get = |p: &'static str| At {
        path: p,
        value: lookup(&doc, p),
    };

    let identity = identity(
        path,
        get("node.identity.nsec"),
        &mut notices,
        get("node.identity.persistent"),
    )?;
    let control_socket = get("node.control.socket_path")
        .str()?
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONTROL_SOCKET));
    if get("node.control.enabled").bool()? == Some(false) {
        notices
            .push("node.control.enabled: false is ignored; the control socket is always on".into());
    }
    let peers = match lookup(&doc, "peers") {
        Some(Value::Array(items)) => peers(items, &mut notices)?,
        _ => Vec::new(),
    };
    Ok(Config {
        origin: ConfigOrigin::File(path.into()),
        identity,
        control_socket,
        tun: tun(&get)?,
        dns: dns(&get)?,
        udp: udp(&get)?,
        peers,
        enforce: enforce(&get)?,
        peer_resolver: get("node.peer_resolver")
            .str()?
            .map(|s| value::parse_upstream("node.peer_resolver", s))
            .transpose()?,
        metrics: get("metrics.bind_addr")
            .str()?
            .map(|s| value::parse_bind("metrics.bind_addr", s))
            .transpose()?,
        log_level: get("node.log_level").str()?.map(str::to_string),
        log_format: match get("log.format").str()? {
            Some(s) => value::parse_log_format("log.format", s)?,
            None => LogFormat::default(),
        },
        limits: super::limits::from_file(&get)?,
        drain_timeout: get("node.drain_timeout_secs")
            .uint("a number of seconds")?
            .map_or(DEFAULT_DRAIN_TIMEOUT, std::time::Duration::from_secs),
        identity_idle: super::idle::from_file(&get)?,
        notices,
    })
}

/// Reads the document into a tree for `walk`.
fn read_yaml(path: &Path, text: &str) -> Result<Value, ConfigError> {
    // No snippet in the message: the offending line may hold the secret key.
    // Duplicate keys stay an error (the default), as they were with serde_yaml.
    let options = serde_saphyr::options! { with_snippet: false };
    serde_saphyr::from_str_with_options(text, options).map_err(|source| match source {
        serde_saphyr::Error::DuplicateMappingKey { key, location } => ConfigError::DuplicateKey {
            path: path.into(),
            key: key.unwrap_or_else(|| "?".into()),
            line: location.line(),
        },
        source => ConfigError::Yaml {
            path: path.into(),
            source: Box::new(source),
        },
    })
}

/// Follows a dotted path through mappings.
fn lookup<'a>(doc: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(doc, |v, k| v.get(k))
}

fn identity(
    config_path: &Path,
    nsec: At<'_>,
    notices: &mut Vec<String>,
    persistent: At<'_>,
) -> Result<IdentitySource, ConfigError> {
    if persistent.bool()? == Some(false) {
        notices.push(
            "node.identity.persistent: false is ignored; a generated key is kept in the key file"
                .into(),
        );
    }
    if let Some(text) = nsec.str()? {
        let key = SecretKey::new(text.to_string());
        key.identity(nsec.path)?;
        return Ok(IdentitySource::Inline {
            key,
            origin: "node.identity.nsec",
        });
    }
    let dir = config_path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    Ok(IdentitySource::KeyFile {
        path: dir.join(KEY_FILE_NAME),
        origin: "the key file next to the config",
    })
}

fn tun<'a>(get: &dyn Fn(&'static str) -> At<'a>) -> Result<TunConfig, ConfigError> {
    let d = TunConfig::default();
    let name = match get("tun.name").str()? {
        Some(n) => value::check_ifname("tun.name", n)?,
        None => d.name,
    };
    let mtu = match get("tun.mtu").u16("an MTU from 1280 to 65535")? {
        Some(m) => value::check_tun_mtu("tun.mtu", m)?,
        None => d.mtu,
    };
    Ok(TunConfig {
        enabled: get("tun.enabled").bool()?.unwrap_or(d.enabled),
        name,
        mtu,
    })
}

fn dns<'a>(get: &dyn Fn(&'static str) -> At<'a>) -> Result<DnsConfig, ConfigError> {
    let d = DnsConfig::default();
    let ip = match get("dns.bind_addr").str()? {
        Some(s) => value::parse_ip("dns.bind_addr", s)?,
        None => d.bind.ip(),
    };
    let port = get("dns.port")
        .u16("a port number from 0 to 65535")?
        .unwrap_or(d.bind.port());
    let upstream = get("dns.upstream")
        .str()?
        .map(|s| value::parse_upstream("dns.upstream", s))
        .transpose()?;
    Ok(DnsConfig {
        enabled: get("dns.enabled").bool()?.unwrap_or(d.enabled),
        bind: std::net::SocketAddr::new(ip, port),
        upstream,
    })
}

fn udp<'a>(get: &dyn Fn(&'static str) -> At<'a>) -> Result<UdpConfig, ConfigError> {
    let d = UdpConfig::default();
    let bind = match get("transports.udp.bind_addr").str()? {
        Some(s) => value::parse_bind("transports.udp.bind_addr", s)?,
        None => d.bind,
    };
    let mtu = get("transports.udp.mtu")
        .u16("an MTU from 1280 to 65535")?
        .unwrap_or(d.mtu);
    let mtu = value::check_tun_mtu("transports.udp.mtu", mtu)?;
    let buf = |key| -> Result<Option<usize>, ConfigError> {
        Ok(get(key)
            .uint("a size in bytes")?
            .map(|n| n.min(usize::MAX as u64) as usize))
    };
    Ok(UdpConfig {
        bind,
        mtu,
        recv_buf: buf("transports.udp.recv_buf_size")?.unwrap_or(d.recv_buf),
        send_buf: buf("transports.udp.send_buf_size")?.unwrap_or(d.send_buf),
    })
}

fn enforce<'a>(get: &dyn Fn(&'static str) -> At<'a>) -> Result<EnforceConfig, ConfigError> {
    let d = EnforceConfig::default();
    let interface = match get("enforce.interface").str()? {
        Some(n) => value::check_ifname("enforce.interface", n)?,
        None => d.interface,
    };
    Ok(EnforceConfig {
        enabled: get("enforce.enabled").bool()?.unwrap_or(d.enabled),
        interface,
    })
}

fn peers(items: &[Value], notices: &mut Vec<String>) -> Result<Vec<PeerEntry>, ConfigError> {
    items
        .iter()
        .enumerate()
        .map(|(i, item)| peer(i, item, notices))
        .collect()
}

fn peer(i: usize, item: &Value, notices: &mut Vec<String>) -> Result<PeerEntry, ConfigError> {
    let key = |field: &str| format!("peers[{i}].{field}");
    let (npub_key, alias_key, policy_key) = (key("npub"), key("alias"), key("connect_policy"));
    let at = |path: &'_ str| -> Option<&Value> { item.get(path) };
    let npub = At {
        path: &npub_key,
        value: at("npub"),
    }
    .str()?
    .ok_or_else(|| ConfigError::Invalid {
        key: npub_key.clone(),
        expected: "the peer's npub1... public key",
        got: "nothing".into(),
    })?;
    let alias = At {
        path: &alias_key,
        value: at("alias"),
    }
    .str()?
    .map(str::to_string);
    let policy = At {
        path: &policy_key,
        value: at("connect_policy"),
    }
    .str()?;
    let auto_connect = match policy {
        None | Some("auto_connect") => true,
        Some("on_demand" | "manual") => false,
        Some(other) => {
            return Err(ConfigError::Invalid {
                key: policy_key.clone(),
                expected: "auto_connect, on_demand or manual",
                got: super::error::describe(other),
            })
        }
    };
    let (mut addrs, mut names) = (Vec::new(), Vec::new());
    if let Some(Value::Array(list)) = at("addresses") {
        for (j, a) in list.iter().enumerate() {
            match peer_address(i, j, a, notices)? {
                Some(Endpoint::Ip(addr)) => addrs.push(addr),
                Some(Endpoint::Name(host)) => names.push(host),
                None => {}
            }
        }
    }
    Ok(PeerEntry {
        identity: value::parse_npub(&npub_key, npub)?,
        alias,
        addrs,
        names,
        auto_connect,
        origin: npub_key,
    })
}

fn peer_address(
    i: usize,
    j: usize,
    a: &Value,
    notices: &mut Vec<String>,
) -> Result<Option<Endpoint>, ConfigError> {
    let base = format!("peers[{i}].addresses[{j}]");
    let (tkey, akey) = (format!("{base}.transport"), format!("{base}.addr"));
    let transport = At {
        path: &tkey,
        value: a.get("transport"),
    }
    .str()?
    .unwrap_or("udp");
    let addr = At {
        path: &akey,
        value: a.get("addr"),
    }
    .str()?
    .ok_or_else(|| ConfigError::Invalid {
        key: akey.clone(),
        expected: "host:port",
        got: "nothing".into(),
    })?;
    match transport {
        "udp" => value::parse_host_port(&akey, addr).map(Some),
        "tcp" | "ethernet" | "tor" | "nym" | "ble" => {
            notices.push(format!(
                "{tkey}: transport {transport} is not implemented; address ignored"
            ));
            Ok(None)
        }
        other => Err(ConfigError::Invalid {
            key: tkey.clone(),
            expected: "udp (or a reference transport: tcp, ethernet, tor, nym, ble)",
            got: super::error::describe(other),
        }),
    }
}
