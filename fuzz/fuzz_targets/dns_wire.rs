//! The DNS server's request path from raw wire bytes: hickory's decoding,
//! then our checks (opcode, one question, class, EDNS version), `answer()`
//! and the encoding of the reply with its size limit. The first byte picks
//! UDP or TCP. Nothing may panic; every reply must decode and fit.
#![no_main]

#[path = "../common/dns.rs"]
mod common;

use hickory_proto::op::ResponseCode;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&how, raw)) = data.split_first() else {
        return;
    };
    let udp = how & 1 == 0;
    let mut server = common::responder();
    let Some(reply) = server.respond(raw, *common::SRC, !udp) else {
        return;
    };
    let msg = common::check_reply(raw, udp, &reply);
    // Only an answer that names an identity tells the node about one.
    let told = server.told();
    assert!(told.len() <= 1);
    if !told.is_empty() {
        assert_eq!(msg.metadata.response_code, ResponseCode::NoError);
        assert!(msg.metadata.authoritative);
    }
});
