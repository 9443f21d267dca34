//! Control-socket requests: raw lines and structured commands (every
//! `show_*`, `connect` and `disconnect` with valid, mistyped and foreign
//! npubs, IP addresses, mesh addresses and host names, other transports,
//! parameters of the wrong JSON type, unknown commands) parsed and answered
//! by a node with one live link, as the daemon's node task does. Every reply
//! is one JSON line that fipsctl parses and renders; a command that parses
//! re-encodes to a line that parses back to it. Raw lines are also read as
//! replies, as fipsctl reads what the daemon sent.
#![no_main]

#[path = "common/linked.rs"]
mod linked;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use arbitrary::{Arbitrary, Unstructured};
use fips::control::{render, Command, Query, Response};
use fips::daemon::answer_control_line;
use fips_proto::identity::Identity;
use fips_proto::node::Node;
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Map, Value};

#[derive(Arbitrary, Debug)]
enum Request {
    Raw(Vec<u8>),
    Show(u8),
    Connect {
        npub: Npub,
        address: Address,
        transport: Transport,
    },
    Disconnect(Npub),
    FirewallRemove,
    /// A known command name with parameters of any JSON shape.
    Odd {
        command: u8,
        params: Option<Vec<(u8, Json)>>,
        trailer: Option<String>,
    },
}

#[derive(Arbitrary, Debug)]
enum Npub {
    Peer,
    Other,
    Own,
    Typo { at: u8, ch: char },
    Text(String),
}

#[derive(Arbitrary, Debug)]
enum Address {
    V4([u8; 4], u16),
    V6([u16; 8], u16),
    Mesh(u16),
    NoPort([u8; 4]),
    Name(String),
    Text(String),
}

#[derive(Arbitrary, Debug)]
enum Transport {
    Udp,
    Text(String),
}

#[derive(Arbitrary, Debug)]
enum Json {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<String>),
}

const COMMANDS: [&str; 6] = [
    "show_status",
    "connect",
    "disconnect",
    "firewall_remove",
    "show_peers",
    "nope",
];
const PARAMS: [&str; 4] = ["npub", "address", "transport", "extra"];

// An input that starts with `{` is raw request lines (the seeds are the
// reference's requests and replies); anything else is read as structured
// requests.
fuzz_target!(|data: &[u8]| {
    let requests: Vec<Request> = if data.first() == Some(&b'{') {
        data.split(|b| *b == b'\n')
            .take(16)
            .map(|l| Request::Raw(l.to_vec()))
            .collect()
    } else {
        match Vec::<Request>::arbitrary_take_rest(Unstructured::new(data)) {
            Ok(r) if r.len() <= 16 => r,
            _ => return,
        }
    };
    let start = Instant::now();
    let (mut node, npubs) = linked_node(start);
    let mut now = start;
    let mut buf = Vec::new();
    for req in &requests {
        now += Duration::from_millis(250);
        let line = line_of(req, &npubs);
        if let Request::Raw(raw) = req {
            read_as_reply(raw);
        }
        let reply = answer_control_line(&mut node, now, &line);
        check_reply(&reply);
        if let Ok(cmd) = Command::parse_line(&line) {
            let again = cmd.to_line();
            assert_eq!(
                Command::parse_line(again.as_bytes()).as_ref(),
                Ok(&cmd),
                "{again}"
            );
        }
        node.handle_timeout(now);
        while node.poll_transmit(&mut buf).is_some() {}
    }
});

/// The npubs a request may name: the peer's, a stranger's, the node's own.
struct Npubs {
    peer: String,
    other: String,
    own: String,
}

/// Node A with an established link to B (`common::linked`).
fn linked_node(now: Instant) -> (Node, Npubs) {
    let l = linked::linked(now);
    assert_eq!(l.a.peer_addrs().len(), 1, "the link is up");
    let npub = |secret| {
        Identity::from_secret_bytes(secret)
            .expect("valid key")
            .public()
            .npub()
    };
    let npubs = Npubs {
        peer: npub(linked::B_SECRET),
        other: npub([0xc1; 32]),
        own: npub(linked::A_SECRET),
    };
    (l.a, npubs)
}

fn line_of(req: &Request, npubs: &Npubs) -> Vec<u8> {
    let command = |name: &str, params: Option<Map<String, Value>>| {
        let mut v = json!({ "command": name });
        if let Some(p) = params {
            v["params"] = Value::Object(p);
        }
        v.to_string().into_bytes()
    };
    match req {
        Request::Raw(raw) => raw
            .split(|b| *b == b'\n')
            .next()
            .unwrap_or_default()
            .to_vec(),
        Request::Show(i) => command(
            Query::ALL[usize::from(*i) % Query::ALL.len()].command_name(),
            None,
        ),
        Request::Connect {
            npub,
            address,
            transport,
        } => {
            let params = Map::from_iter([
                ("npub".to_owned(), Value::from(npub_text(npub, npubs))),
                ("address".to_owned(), Value::from(address_text(address))),
                (
                    "transport".to_owned(),
                    Value::from(match transport {
                        Transport::Udp => "udp".to_owned(),
                        Transport::Text(t) => t.clone(),
                    }),
                ),
            ]);
            command("connect", Some(params))
        }
        Request::Disconnect(npub) => command(
            "disconnect",
            Some(Map::from_iter([(
                "npub".to_owned(),
                Value::from(npub_text(npub, npubs)),
            )])),
        ),
        Request::FirewallRemove => command("firewall_remove", None),
        Request::Odd {
            command: c,
            params,
            trailer,
        } => {
            let params = params.as_ref().map(|ps| {
                ps.iter()
                    .take(6)
                    .map(|(k, v)| {
                        (
                            PARAMS[usize::from(*k) % PARAMS.len()].to_owned(),
                            json_of(v),
                        )
                    })
                    .collect()
            });
            let mut line = command(COMMANDS[usize::from(*c) % COMMANDS.len()], params);
            if let Some(t) = trailer {
                line.extend_from_slice(t.replace('\n', " ").as_bytes());
            }
            line
        }
    }
}

fn npub_text(n: &Npub, npubs: &Npubs) -> String {
    match n {
        Npub::Peer => npubs.peer.clone(),
        Npub::Other => npubs.other.clone(),
        Npub::Own => npubs.own.clone(),
        Npub::Typo { at, ch } => {
            let mut chars: Vec<char> = npubs.peer.chars().collect();
            let at = usize::from(*at) % chars.len();
            chars[at] = *ch;
            chars.into_iter().collect()
        }
        Npub::Text(t) => t.clone(),
    }
}

fn address_text(a: &Address) -> String {
    match a {
        Address::V4(ip, port) => SocketAddr::from((*ip, *port)).to_string(),
        Address::V6(seg, port) => {
            SocketAddr::from((std::net::Ipv6Addr::from(*seg), *port)).to_string()
        }
        Address::Mesh(port) => format!("[fd00::1]:{port}"),
        Address::NoPort(ip) => std::net::Ipv4Addr::from(*ip).to_string(),
        Address::Name(host) => format!("{host}:2121"),
        Address::Text(t) => t.clone(),
    }
}

fn json_of(j: &Json) -> Value {
    match j {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::from(*b),
        Json::Int(i) => Value::from(*i),
        Json::Float(f) => Value::from(*f),
        Json::Str(s) => Value::from(s.as_str()),
        Json::List(l) => Value::from(l.clone()),
    }
}

/// One JSON line that fipsctl parses and can render, whatever the query.
fn check_reply(reply: &str) {
    assert!(
        reply.ends_with('\n'),
        "reply without its newline: {reply:?}"
    );
    assert_eq!(
        reply.matches('\n').count(),
        1,
        "reply of several lines: {reply:?}"
    );
    let parsed = Response::parse_line(reply.as_bytes()).expect("fipsctl parses the daemon's reply");
    if let Response::Ok(data) = parsed {
        for q in Query::ALL {
            let _ = render(q, &data);
        }
    }
}

/// fipsctl reading whatever came back on the socket.
fn read_as_reply(raw: &[u8]) {
    if let Ok(Response::Ok(data)) = Response::parse_line(raw) {
        for q in Query::ALL {
            let _ = render(q, &data);
        }
    }
}
