//! The key tree of the YAML file: what we implement, what the reference
//! knows and we accept without acting on it, and (by elimination) what
//! nobody knows.

use serde_json::Value;

use super::error::ConfigError;

/// One node of the key tree.
pub(crate) enum Schema {
    /// A value we read (its type is checked when it is read).
    Leaf,
    /// A reference key (or subtree) this daemon does not implement.
    Reference,
    /// A mapping with these keys.
    Map(&'static [(&'static str, Schema)]),
    /// A sequence whose items follow this schema.
    Seq(&'static Schema),
}

use Schema::{Leaf, Map, Reference, Seq};

const IDENTITY: Schema = Map(&[("nsec", Leaf), ("persistent", Leaf)]);
const CONTROL: Schema = Map(&[("enabled", Leaf), ("socket_path", Leaf)]);

const LIMITS: Schema = Map(&[
    ("max_peers", Leaf),
    ("max_links", Leaf),
    ("max_connections", Leaf),
    ("max_pending_inbound", Reference),
]);

const NODE: Schema = Map(&[
    ("identity", IDENTITY),
    ("control", CONTROL),
    ("log_level", Leaf),
    ("peer_resolver", Leaf),
    ("drain_timeout_secs", Leaf),
    ("identity_idle_secs", Leaf),
    ("leaf_only", Reference),
    ("tick_interval_secs", Reference),
    ("base_rtt_ms", Reference),
    ("heartbeat_interval_secs", Reference),
    ("link_dead_timeout_secs", Reference),
    ("limits", LIMITS),
    ("rate_limit", Reference),
    ("retry", Reference),
    ("cache", Reference),
    ("discovery", Reference),
    ("tree", Reference),
    ("bloom", Reference),
    ("session", Reference),
    ("buffers", Reference),
    ("mmp", Reference),
    ("session_mmp", Reference),
    ("ecn", Reference),
    ("rekey", Reference),
]);

const TUN: Schema = Map(&[("enabled", Leaf), ("name", Leaf), ("mtu", Leaf)]);

const DNS: Schema = Map(&[
    ("enabled", Leaf),
    ("bind_addr", Leaf),
    ("port", Leaf),
    ("upstream", Leaf),
    ("ttl", Reference),
]);

const UDP: Schema = Map(&[
    ("bind_addr", Leaf),
    ("mtu", Leaf),
    ("recv_buf_size", Leaf),
    ("send_buf_size", Leaf),
    ("advertise_on_nostr", Reference),
    ("public", Reference),
    ("external_addr", Reference),
    ("outbound_only", Reference),
    ("accept_connections", Reference),
]);

const TRANSPORTS: Schema = Map(&[
    ("udp", UDP),
    ("ethernet", Reference),
    ("tcp", Reference),
    ("tor", Reference),
    ("nym", Reference),
    ("ble", Reference),
]);

const PEER_ADDRESS: Schema = Map(&[
    ("transport", Leaf),
    ("addr", Leaf),
    ("priority", Reference),
    ("seen_at_ms", Reference),
]);

const PEER: Schema = Map(&[
    ("npub", Leaf),
    ("alias", Leaf),
    ("addresses", Seq(&PEER_ADDRESS)),
    ("connect_policy", Leaf),
    ("auto_reconnect", Reference),
    ("via_nostr", Reference),
]);

const ENFORCE: Schema = Map(&[("enabled", Leaf), ("interface", Leaf)]);

const METRICS: Schema = Map(&[("bind_addr", Leaf)]);

pub(crate) static ROOT: Schema = Map(&[
    ("node", NODE),
    ("tun", TUN),
    ("dns", DNS),
    ("transports", TRANSPORTS),
    ("peers", Seq(&PEER)),
    ("enforce", ENFORCE),
    ("metrics", METRICS),
    ("log", Map(&[("format", Leaf)])),
    ("gateway", Reference),
]);

/// What a walk over the document found besides well-placed leaves.
#[derive(Default)]
pub(crate) struct Findings {
    pub unknown: Vec<String>,
    pub reference_only: Vec<String>,
}

/// Walks `value` against `schema`, collecting unknown and reference-only
/// keys. A container of the wrong type is an error right away.
pub(crate) fn walk(
    schema: &Schema,
    value: &Value,
    path: &str,
    found: &mut Findings,
) -> Result<(), ConfigError> {
    match (schema, value) {
        (Leaf | Reference, _) | (_, Value::Null) => Ok(()),
        (Map(entries), Value::Object(map)) => {
            // serde_json keeps keys as strings: a YAML key `1` arrives as "1".
            for (name, v) in map {
                let child = join(path, name);
                match entries.iter().find(|(n, _)| n == name) {
                    None => found.unknown.push(child),
                    Some((_, Reference)) => found.reference_only.push(child),
                    Some((_, s)) => walk(s, v, &child, found)?,
                }
            }
            Ok(())
        }
        (Seq(item), Value::Array(items)) => {
            for (i, v) in items.iter().enumerate() {
                walk(item, v, &format!("{path}[{i}]"), found)?;
            }
            Ok(())
        }
        (Map(_), other) => Err(wrong_type(path, "a mapping of keys", other)),
        (Seq(_), other) => Err(wrong_type(path, "a list", other)),
    }
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

pub(crate) fn wrong_type(path: &str, expected: &'static str, got: &Value) -> ConfigError {
    ConfigError::Invalid {
        key: if path.is_empty() {
            "the document".into()
        } else {
            path.into()
        },
        expected,
        got: super::value::describe_value(got),
    }
}
