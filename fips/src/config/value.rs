//! Typed reads of YAML leaves and of address strings, with errors that name
//! the key.

use std::net::{IpAddr, SocketAddr};

use fips_proto::identity::PeerIdentity;
use serde_json::Value;

use super::error::{describe, ConfigError};
use super::PeerHost;

/// A located YAML value: the dotted key path and the value (if present).
#[derive(Clone, Copy)]
pub(crate) struct At<'a> {
    pub path: &'a str,
    pub value: Option<&'a Value>,
}

impl<'a> At<'a> {
    fn invalid(&self, expected: &'static str) -> ConfigError {
        ConfigError::Invalid {
            key: self.path.to_string(),
            expected,
            got: self
                .value
                .map(describe_value)
                .unwrap_or_else(|| "nothing".into()),
        }
    }

    fn present(&self) -> Option<&'a Value> {
        self.value.filter(|v| !v.is_null())
    }

    pub fn str(&self) -> Result<Option<&'a str>, ConfigError> {
        match self.present() {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(self.invalid("a string")),
        }
    }

    pub fn bool(&self) -> Result<Option<bool>, ConfigError> {
        match self.present() {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(self.invalid("true or false")),
        }
    }

    pub fn u16(&self, expected: &'static str) -> Result<Option<u16>, ConfigError> {
        self.uint(expected)?
            .map(|n| u16::try_from(n).map_err(|_| self.invalid(expected)))
            .transpose()
    }

    pub fn uint(&self, expected: &'static str) -> Result<Option<u64>, ConfigError> {
        match self.present() {
            None => Ok(None),
            Some(Value::Number(n)) => n.as_u64().map(Some).ok_or_else(|| self.invalid(expected)),
            Some(_) => Err(self.invalid(expected)),
        }
    }
}

/// Short description of a YAML value for messages.
pub(crate) fn describe_value(v: &Value) -> String {
    match v {
        Value::Null => "nothing (null)".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => describe(s),
        Value::Array(s) => format!("a list of {} items", s.len()),
        Value::Object(_) => "a mapping".into(),
    }
}

/// A peer address: an IP literal, or a host name the daemon resolves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Ip(SocketAddr),
    Name(PeerHost),
}

/// Parses `host:port` (IPv6 in brackets). A host name is checked, not
/// resolved: resolution is the daemon's, at run time.
pub fn parse_host_port(key: &str, text: &str) -> Result<Endpoint, ConfigError> {
    const EXPECTED: &str = "host:port (an IP address or host name, IPv6 in brackets)";
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(Endpoint::Ip(addr));
    }
    let invalid = || ConfigError::Invalid {
        key: key.into(),
        expected: EXPECTED,
        got: describe(text),
    };
    let (host, port) = text.rsplit_once(':').ok_or_else(invalid)?;
    let port = port.parse::<u16>().map_err(|_| invalid())?;
    if !is_host_name(host) {
        return Err(invalid());
    }
    Ok(Endpoint::Name(PeerHost {
        host: host.to_ascii_lowercase(),
        port,
        key: key.into(),
    }))
}

/// RFC 1123 host names: dot-separated labels of letters, digits and inner
/// hyphens (underscores too, as container names have them), at most 63
/// characters each and 253 in all.
fn is_host_name(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// Parses an IP socket address without name resolution (bind addresses).
pub(crate) fn parse_bind(key: &str, text: &str) -> Result<SocketAddr, ConfigError> {
    text.parse().map_err(|_| ConfigError::Invalid {
        key: key.into(),
        expected: "IP:port, e.g. 0.0.0.0:2121 or [::]:2121",
        got: describe(text),
    })
}

/// Parses a bare IP address, accepting IPv6 in brackets too.
pub(crate) fn parse_ip(key: &str, text: &str) -> Result<IpAddr, ConfigError> {
    let bare = text.trim_start_matches('[').trim_end_matches(']');
    bare.parse().map_err(|_| ConfigError::Invalid {
        key: key.into(),
        expected: "an IP address, e.g. ::1 or 127.0.0.1",
        got: describe(text),
    })
}

/// Parses a DNS upstream: `IP:port`, or a bare IP meaning port 53.
pub(crate) fn parse_upstream(key: &str, text: &str) -> Result<SocketAddr, ConfigError> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let ip = parse_ip(key, text).map_err(|_| ConfigError::Invalid {
        key: key.into(),
        expected: "IP or IP:port of a DNS server, e.g. 127.0.0.11 or [::1]:53",
        got: describe(text),
    })?;
    Ok(SocketAddr::new(ip, 53))
}

/// Checks a TUN MTU: IPv6 needs at least 1280.
pub(crate) fn check_tun_mtu(key: &str, mtu: u16) -> Result<u16, ConfigError> {
    if mtu < 1280 {
        return Err(ConfigError::Invalid {
            key: key.into(),
            expected: "an MTU from 1280 (the IPv6 minimum) to 65535",
            got: mtu.to_string(),
        });
    }
    Ok(mtu)
}

/// Checks an interface name as the kernel would (1 to 15 bytes, no '/' or
/// whitespace).
pub(crate) fn check_ifname(key: &str, name: &str) -> Result<String, ConfigError> {
    let ok = !name.is_empty()
        && name.len() < libc::IFNAMSIZ
        && !name.contains('/')
        && !name.chars().any(char::is_whitespace);
    if !ok {
        return Err(ConfigError::Invalid {
            key: key.into(),
            expected: "an interface name of 1 to 15 characters without '/' or spaces",
            got: describe(name),
        });
    }
    Ok(name.to_string())
}

/// Parses a peer's npub.
pub(crate) fn parse_npub(key: &str, text: &str) -> Result<PeerIdentity, ConfigError> {
    PeerIdentity::from_npub(text.trim()).map_err(|source| ConfigError::Key {
        key: key.into(),
        source,
    })
}

/// `text` or `json`.
pub(crate) fn parse_log_format(key: &str, text: &str) -> Result<super::LogFormat, ConfigError> {
    super::LogFormat::parse(text).ok_or_else(|| ConfigError::Invalid {
        key: key.into(),
        expected: super::LogFormat::EXPECTED,
        got: describe(text),
    })
}
