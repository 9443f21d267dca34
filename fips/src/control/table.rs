//! Human-readable tables of `show_*` replies, for fipsctl. They read the
//! reference's field names, so they work against either daemon.

use serde_json::Value;

use super::proto::Query;

/// One column: header and the dotted path of the field in each row.
type Column = (&'static str, &'static str);

const PEER_COLUMNS: &[Column] = &[
    ("NAME", "display_name"),
    ("IPV6", "ipv6_addr"),
    ("TRANSPORT ADDR", "transport_addr"),
    ("DIR", "direction"),
    ("STATE", "@peer_state"),
    ("ROLE", "@role"),
    ("DEPTH", "tree_depth"),
    ("SRTT MS", "mmp.srtt_ms"),
    ("LOSS", "mmp.loss_rate"),
    ("PKTS OUT", "stats.packets_sent"),
    ("PKTS IN", "stats.packets_recv"),
];

const LINK_COLUMNS: &[Column] = &[
    ("LINK", "link_id"),
    ("REMOTE ADDR", "remote_addr"),
    ("DIR", "direction"),
    ("STATE", "state"),
    ("PKTS OUT", "stats.packets_sent"),
    ("PKTS IN", "stats.packets_recv"),
    ("BYTES OUT", "stats.bytes_sent"),
    ("BYTES IN", "stats.bytes_recv"),
];

const TREE_PEER_COLUMNS: &[Column] = &[
    ("PEER", "display_name"),
    ("NODE ADDR", "node_addr"),
    ("DEPTH", "depth"),
    ("DISTANCE", "distance_to_us"),
    ("ROOT", "root"),
];

const SESSION_COLUMNS: &[Column] = &[
    ("NAME", "display_name"),
    ("REMOTE", "remote_addr"),
    ("STATE", "state"),
    ("INITIATOR", "is_initiator"),
    ("SRTT MS", "mmp.srtt_ms"),
    ("LOSS", "mmp.loss_rate"),
    ("PATH MTU", "mmp.path_mtu"),
    ("PKTS OUT", "stats.packets_sent"),
    ("PKTS IN", "stats.packets_recv"),
];

const STATUS_FIELDS: &[Column] = &[
    ("npub", "npub"),
    ("node addr", "node_addr"),
    ("ipv6 addr", "ipv6_addr"),
    ("version", "version"),
    ("state", "state"),
    ("root", "root"),
    ("is root", "is_root"),
    ("peers", "peer_count"),
    ("links", "link_count"),
    ("sessions", "session_count"),
    ("pending handshakes", "connection_count"),
    ("mesh size (est.)", "estimated_mesh_size"),
    ("tun", "tun_name"),
    ("tun state", "tun_state"),
    ("ipv6 mtu", "effective_ipv6_mtu"),
    ("uptime s", "uptime_secs"),
    ("pid", "pid"),
    ("control socket", "control_socket"),
    ("forwarded pkts", "forwarding.forwarded_packets"),
    ("delivered pkts", "forwarding.delivered_packets"),
    ("originated pkts", "forwarding.originated_packets"),
    ("no-route drops", "forwarding.drop_no_route_packets"),
    (
        "msg1 admitted (unknown src)",
        "msg1_admission.admitted_unknown",
    ),
    ("msg1 refused", "msg1_admission.refused"),
];

const TREE_FIELDS: &[Column] = &[
    ("root", "root"),
    ("root npub", "root_npub"),
    ("is root", "is_root"),
    ("depth", "depth"),
    ("parent", "parent_display_name"),
    ("parent addr", "parent"),
    ("my coords", "my_coords"),
    ("declaration seq", "declaration_sequence"),
];

const BLOOM_FIELDS: &[Column] = &[
    ("own node addr", "own_node_addr"),
    ("sequence", "sequence"),
    ("leaf only", "is_leaf_only"),
    ("leaf dependents", "leaf_dependent_count"),
    ("uptree fill", "uptree_fill_ratio"),
    ("uptree entries (est.)", "uptree_estimated_count"),
];

const PEER_FILTER_COLUMNS: &[Column] = &[
    ("PEER", "display_name"),
    ("NODE ADDR", "peer"),
    ("FILTER", "has_filter"),
    ("SEQ", "filter_sequence"),
    ("SET BITS", "set_bits"),
    ("FILL", "fill_ratio"),
    ("ENTRIES (EST.)", "estimated_count"),
];

const LINK_MMP_COLUMNS: &[Column] = &[
    ("PEER", "display_name"),
    ("NODE ADDR", "peer"),
    ("MODE", "mode"),
    ("SRTT MS", "link_layer.srtt_ms"),
    ("LOSS", "link_layer.loss_rate"),
    ("ETX", "link_layer.etx"),
    ("LQI", "link_layer.lqi"),
    ("GOODPUT B/S", "link_layer.goodput_bps"),
    ("DELIV FWD", "link_layer.delivery_ratio_forward"),
    ("DELIV REV", "link_layer.delivery_ratio_reverse"),
    ("CE", "link_layer.ecn_ce_count"),
    ("RR IN", "counters.reports_received"),
    ("RR OUT", "counters.reports_sent"),
];

const SESSION_MMP_COLUMNS: &[Column] = &[
    ("REMOTE", "display_name"),
    ("NODE ADDR", "remote"),
    ("MODE", "mode"),
    ("SRTT MS", "session_layer.srtt_ms"),
    ("LOSS", "session_layer.loss_rate"),
    ("ETX", "session_layer.etx"),
    ("SQI", "session_layer.sqi"),
    ("PATH MTU", "session_layer.path_mtu"),
];

const CONNECTION_COLUMNS: &[Column] = &[
    ("LINK", "link_id"),
    ("EXPECTED PEER", "expected_peer"),
    ("REMOTE ADDR", "remote_addr"),
    ("DIR", "direction"),
    ("STATE", "handshake_state"),
    ("RESENDS", "resend_count"),
    ("IDLE MS", "idle_ms"),
];

const IDENTITY_COLUMNS: &[Column] = &[
    ("NAME", "display_name"),
    ("NPUB", "npub"),
    ("IPV6", "ipv6_addr"),
    ("AGE MS", "age_ms"),
];

/// Renders a `show_*` reply's data as text.
pub fn render(query: Query, data: &Value) -> String {
    match query {
        Query::Status => fields(data, STATUS_FIELDS) + &bounds(data),
        Query::Peers => table(rows(data, "peers"), PEER_COLUMNS),
        Query::Links => table(rows(data, "links"), LINK_COLUMNS),
        Query::Sessions => table(rows(data, "sessions"), SESSION_COLUMNS),
        Query::Tree => format!(
            "{}\n{}",
            fields(data, TREE_FIELDS),
            table(rows(data, "peers"), TREE_PEER_COLUMNS)
        ),
        Query::Routing => counters(data),
        Query::Bloom => format!(
            "{}\npeer filters:\n{}\n{}",
            fields(data, BLOOM_FIELDS),
            table(rows(data, "peer_filters"), PEER_FILTER_COLUMNS),
            counters(&subset(data, &["stats"]))
        ),
        Query::Mmp => format!(
            "links:\n{}\nsessions:\n{}",
            table(rows(data, "peers"), LINK_MMP_COLUMNS),
            table(rows(data, "sessions"), SESSION_MMP_COLUMNS)
        ),
        Query::Connections => table(rows(data, "connections"), CONNECTION_COLUMNS),
        Query::IdentityCache => format!(
            "{} of at most {} entries\n{}",
            lookup(data, "count"),
            lookup(data, "max_entries"),
            table(rows(data, "entries"), IDENTITY_COLUMNS)
        ),
        // The enforcement module owns the firewall table's layout.
        Query::Firewall => {
            match serde_json::from_value::<crate::enforce::FirewallSnapshot>(data.clone()) {
                Ok(snap) => snap.render_table(),
                Err(_) => generic(data),
            }
        }
        // The transport table, then the msg1 admission counters.
        Query::Transports => format!(
            "{}{}",
            generic(&subset(data, &["transports"])),
            counters(&subset(data, &["msg1_admission"]))
        ),
        _ => generic(data),
    }
}

/// The named keys of an object, as an object.
fn subset(data: &Value, keys: &[&str]) -> Value {
    let picked = keys
        .iter()
        .filter_map(|k| data.get(*k).map(|v| (k.to_string(), v.clone())))
        .collect();
    Value::Object(picked)
}

fn rows<'a>(data: &'a Value, key: &str) -> &'a [Value] {
    data.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// Looks up a dotted path; `@role` is derived from is_parent/is_child,
/// `@peer_state` is `connectivity`, or `silent` while our frames go
/// unanswered (our field; the reference's replies do not have it).
fn lookup(row: &Value, path: &str) -> String {
    if path == "@peer_state" {
        if row.get("silent").and_then(Value::as_bool) == Some(true) {
            return "silent".into();
        }
        return lookup(row, "connectivity");
    }
    if path == "@role" {
        let flag = |k| row.get(k).and_then(Value::as_bool).unwrap_or(false);
        return match (flag("is_parent"), flag("is_child")) {
            (true, _) => "parent".into(),
            (_, true) => "child".into(),
            _ => "-".into(),
        };
    }
    path.split('.')
        .try_fold(row, |v, k| v.get(k))
        .map(scalar)
        .unwrap_or_else(|| "-".into())
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => if *b { "yes" } else { "no" }.into(),
        Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap_or(0.0);
            if f.fract() == 0.0 {
                format!("{f:.0}")
            } else {
                format!("{f:.3}")
            }
        }
        Value::Number(n) => n.to_string(),
        Value::Array(items) => items.iter().map(scalar).collect::<Vec<_>>().join(" "),
        Value::Object(_) => "{...}".into(),
    }
}

/// Vertical "label  value" lines for the fields present.
fn fields(data: &Value, spec: &[Column]) -> String {
    let present: Vec<(&str, String)> = spec
        .iter()
        .filter(|(_, path)| path.split('.').try_fold(data, |v, k| v.get(k)).is_some())
        .map(|(label, path)| (*label, lookup(data, path)))
        .collect();
    let width = present.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
    present
        .iter()
        .map(|(l, v)| format!("{l:<width$}  {v}\n"))
        .collect()
}

/// The `bounds` object of `show status` (our daemon only): one row per
/// bounded store.
fn bounds(data: &Value) -> String {
    let Some(stores) = data.get("bounds").and_then(Value::as_object) else {
        return String::new();
    };
    let rows: Vec<Value> = stores
        .iter()
        .map(|(name, v)| {
            let mut row = v.clone();
            row["store"] = Value::from(name.as_str());
            row
        })
        .collect();
    "bounds:\n".to_owned() + &table(&rows, BOUND_COLUMNS)
}

const BOUND_COLUMNS: &[Column] = &[
    ("STORE", "store"),
    ("LEN", "len"),
    ("CAP", "cap"),
    ("EVICTED", "evicted"),
    ("REFUSED", "refused"),
    ("RATE-LIMITED", "rate_limited"),
];

/// Aligned columns, one row per item; "(none)" for an empty list.
fn table(items: &[Value], columns: &[Column]) -> String {
    if items.is_empty() {
        return "(none)\n".into();
    }
    let cells: Vec<Vec<String>> = items
        .iter()
        .map(|r| columns.iter().map(|(_, p)| lookup(r, p)).collect())
        .collect();
    let headers: Vec<String> = columns.iter().map(|(h, _)| h.to_string()).collect();
    align(&headers, &cells)
}

fn align(headers: &[String], cells: &[Vec<String>]) -> String {
    let widths: Vec<usize> = (0..headers.len())
        .map(|i| {
            cells
                .iter()
                .map(|r| r[i].chars().count())
                .chain([headers[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |row: &[String]| {
        let padded: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    std::iter::once(line(headers))
        .chain(cells.iter().map(|r| line(r)))
        .collect()
}

/// Scalars first, then each counter group with its non-zero counters.
fn counters(data: &Value) -> String {
    let Some(obj) = data.as_object() else {
        return scalar(data) + "\n";
    };
    let mut out = String::new();
    for (k, v) in obj.iter().filter(|(_, v)| !v.is_object()) {
        out += &format!("{k}: {}\n", scalar(v));
    }
    for (group, v) in obj
        .iter()
        .filter_map(|(k, v)| v.as_object().map(|o| (k, o)))
    {
        let nonzero: Vec<String> = v
            .iter()
            .filter(|(_, c)| c.as_f64().is_none_or(|n| n != 0.0))
            .map(|(k, c)| format!("  {k}: {}", scalar(c)))
            .collect();
        out += &format!(
            "{group}:{}\n",
            if nonzero.is_empty() {
                " (all zero)"
            } else {
                ""
            }
        );
        for l in nonzero {
            out += &l;
            out.push('\n');
        }
    }
    out
}

/// Any other reply: top-level scalars, then each list as a table of its
/// items' scalar fields, then nested objects as counters.
fn generic(data: &Value) -> String {
    let Some(obj) = data.as_object() else {
        return scalar(data) + "\n";
    };
    let mut out = String::new();
    for (k, v) in obj.iter().filter(|(_, v)| !v.is_object() && !v.is_array()) {
        out += &format!("{k}: {}\n", scalar(v));
    }
    for (k, v) in obj.iter() {
        if let Some(items) = v.as_array() {
            out += &format!("{k}:\n");
            let headers: Vec<String> = items
                .first()
                .and_then(Value::as_object)
                .map(|o| {
                    o.iter()
                        .filter(|(_, v)| !v.is_object())
                        .map(|(k, _)| k.clone())
                        .collect()
                })
                .unwrap_or_default();
            if headers.is_empty() {
                out += &format!("  {}\n", scalar(v));
                continue;
            }
            let cells: Vec<Vec<String>> = items
                .iter()
                .map(|r| headers.iter().map(|h| lookup(r, h)).collect())
                .collect();
            out += &align(
                &headers.iter().map(|h| h.to_uppercase()).collect::<Vec<_>>(),
                &cells,
            );
        }
    }
    let nested: serde_json::Map<String, Value> = obj
        .iter()
        .filter(|(_, v)| v.is_object())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !nested.is_empty() {
        out += &counters(&Value::Object(nested));
    }
    out
}
