//! Shared by the DNS targets: the server as the sidecar runs it (a hosts
//! file, one peer alias, no upstream) and the checks every reply must pass.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::LazyLock;

use fips::dns::{NameBook, PeerIdentity, Responder};
use hickory_proto::op::{Message, MessageType};

/// The capture identities A, B, C, D (testdata/captures, README).
pub const KNOWN: [&str; 4] = [
    "npub1sjlh2c3x9w7kjsqg2ay080n2lff2uvt325vpan33ke34rn8l5jcqawh57m",
    "npub1tdwa4vjrjl33pcjdpf2t4p027nl86xrx24g4d3avg4vwvayr3g8qhd84le",
    "npub1cld9yay0u24davpu6c35l4vldrhzvaq66pcqtg9a0j2cnjrn9rtsxx2pe6",
    "npub1n9lpnv0592cc2ps6nm0ca3qls642vx7yjsv35rkxqzj2vgds52sqgpverl",
];
/// Names the hosts file gives A and C; B is the alias `bee`.
pub const HOSTS: [&str; 2] = ["laptop", "printer"];
pub const ALIAS: &str = "bee";

pub fn known(i: usize) -> PeerIdentity {
    PeerIdentity::from_npub(KNOWN[i % KNOWN.len()]).expect("capture npub")
}

static HOSTS_FILE: LazyLock<PathBuf> = LazyLock::new(|| {
    let path = std::env::temp_dir().join(format!("fips-fuzz-hosts-{}", std::process::id()));
    let text = format!(
        "# fuzz\n{} {}\n{} {}\n",
        HOSTS[0], KNOWN[0], HOSTS[1], KNOWN[2]
    );
    std::fs::write(&path, text).expect("write the fuzz hosts file");
    path
});

/// A fresh server per input, so a crash replays from its input alone.
pub fn responder() -> Responder {
    Responder::new(NameBook::new(
        HOSTS_FILE.clone(),
        &[(ALIAS.to_owned(), known(1))],
    ))
}

pub static SRC: LazyLock<SocketAddr> = LazyLock::new(|| "127.0.0.1:40000".parse().expect("lit"));

/// Every reply decodes, answers the request's id, is a response, and fits
/// the size a UDP client can take (512 bytes, or its EDNS size).
pub fn check_reply(request: &[u8], udp: bool, reply: &[u8]) -> Message {
    let msg = Message::from_vec(reply)
        .unwrap_or_else(|e| panic!("the server's reply does not decode: {e}"));
    assert_eq!(
        msg.metadata.id,
        u16::from_be_bytes([request[0], request[1]])
    );
    assert_eq!(msg.metadata.message_type, MessageType::Response);
    if udp {
        let asked = Message::from_vec(request)
            .ok()
            .and_then(|m| m.edns)
            .map_or(512, |e| usize::from(e.max_payload()).max(512));
        assert!(
            reply.len() <= asked,
            "UDP reply of {} bytes, client takes {asked}",
            reply.len()
        );
    }
    assert!(reply.len() <= usize::from(u16::MAX));
    msg
}
