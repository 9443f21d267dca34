use super::*;
use crate::wire::vectors::{capture_frames, kat};

fn reencode(inner: &LinkInner<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    inner.emit(&mut out);
    assert_eq!(out.len(), inner.encoded_len());
    out
}

#[test]
fn every_captured_link_plaintext_parses_and_reencodes_byte_for_byte() {
    let mut seen = std::collections::BTreeSet::new();
    for (run, ty, _wire, pt) in capture_frames() {
        let inner = LinkInner::parse(&pt).unwrap_or_else(|e| panic!("{run} {ty}: {e}"));
        assert_eq!(format!("0x{:02x}", inner.msg.msg_type()), ty, "{run}");
        assert_eq!(reencode(&inner), pt, "{run} {ty}");
        seen.insert(ty);
    }
    // Every type a reference node sent in the captures.
    for ty in [
        "0x00", "0x01", "0x02", "0x10", "0x20", "0x30", "0x31", "0x51",
    ] {
        assert!(seen.contains(ty), "no capture sample for {ty}");
    }
}

#[test]
fn captured_session_datagram_carries_ttl_mtu_and_addresses() {
    let (_, _, _, pt) = capture_frames()
        .into_iter()
        .find(|(run, ty, ..)| run == "probe-result" && ty == "0x00")
        .unwrap();
    let inner = LinkInner::parse(&pt).unwrap();
    let LinkMessage::SessionDatagram(dg) = inner.msg else {
        panic!("not a datagram")
    };
    assert_eq!(dg.ttl, 63); // one hop already taken
    assert_eq!(dg.path_mtu, 1280);
    assert_eq!(dg.src.to_hex(), "aca221406950440c41d550280ed15a7f");
    assert_eq!(dg.dst.to_hex(), "b68411a1916d48efc6b8bd63bb1cd7df");
    assert_eq!(dg.payload.len(), pt.len() - 4 - 36);
}

#[test]
fn kat_session_datagram_round_trips() {
    let msg = kat("fsp_xk", "session_datagram_link_msg");
    let dg = SessionDatagram::parse(&msg).unwrap();
    assert_eq!(dg.ttl, DEFAULT_TTL);
    assert_eq!(dg.path_mtu, DEFAULT_PATH_MTU);
    assert_eq!(dg.payload, &kat("fsp_xk", "fsp_data_ctr0_ts5")[..]);
    let mut out = Vec::new();
    dg.emit(&mut out);
    assert_eq!(out, msg);
    assert_eq!(SessionDatagram::peek_dst(&msg), Some(dg.dst));
    assert_eq!(SessionDatagram::peek_src(&msg), Some(dg.src));
}

#[test]
fn forwarding_fields_are_rewritten_in_place() {
    let mut msg = kat("fsp_xk", "session_datagram_link_msg");
    SessionDatagram::set_forwarding_fields(&mut msg, 63, 1280).unwrap();
    let dg = SessionDatagram::parse(&msg).unwrap();
    assert_eq!((dg.ttl, dg.path_mtu), (63, 1280));
    assert!(SessionDatagram::set_forwarding_fields(&mut [0u8; 35], 1, 1).is_err());
}

#[test]
fn rejects_a_session_datagram_shorter_than_its_header() {
    let msg = kat("fsp_xk", "session_datagram_link_msg");
    assert_eq!(
        LinkMessage::parse(&msg[..35]),
        Err(WireError::Truncated {
            what: "SessionDatagram",
            need: 36,
            got: 35
        })
    );
}

#[test]
fn heartbeat_is_one_byte_and_disconnect_two() {
    let hb = LinkInner {
        timestamp_ms: 100,
        msg: LinkMessage::Heartbeat,
    };
    assert_eq!(reencode(&hb), [100, 0, 0, 0, 0x51]);
    let dc = LinkInner {
        timestamp_ms: 1,
        msg: LinkMessage::Disconnect {
            reason: reason::SHUTDOWN,
        },
    };
    let bytes = reencode(&dc);
    assert_eq!(bytes, [1, 0, 0, 0, 0x50, 0x00]);
    assert_eq!(LinkInner::parse(&bytes), Ok(dc));
}

#[test]
fn keeps_an_unknown_disconnect_reason_as_sent() {
    assert_eq!(
        LinkMessage::parse(&[0x50, 0x42]),
        Ok(LinkMessage::Disconnect { reason: 0x42 })
    );
    assert!(matches!(
        LinkMessage::parse(&[0x50]),
        Err(WireError::Truncated {
            need: 2,
            got: 1,
            ..
        })
    ));
}

#[test]
fn rejects_an_unknown_link_message_type() {
    assert_eq!(
        LinkInner::parse(&[0, 0, 0, 0, 0x40]),
        Err(WireError::UnknownType {
            what: "link message",
            msg_type: 0x40
        })
    );
}

#[test]
fn rejects_a_plaintext_without_a_message_type() {
    assert!(matches!(
        LinkInner::parse(&[1, 2, 3, 4]),
        Err(WireError::Truncated {
            need: 5,
            got: 4,
            ..
        })
    ));
}

#[test]
fn datagram_view_reads_the_kat_datagram_and_edits_it_in_place() {
    let mut msg = kat("fsp_xk", "session_datagram_link_msg");
    let dg = SessionDatagram::parse(&msg).unwrap();
    let (src, dst, payload) = (dg.src, dg.dst, dg.payload.to_vec());
    let mut v = DatagramView::new_checked(&mut msg[..]).unwrap();
    assert_eq!((v.ttl(), v.path_mtu()), (DEFAULT_TTL, DEFAULT_PATH_MTU));
    assert_eq!((v.src(), v.dst()), (src, dst));
    assert_eq!(v.payload(), &payload[..]);
    v.set_ttl(7);
    v.set_path_mtu(1200);
    let dg = SessionDatagram::parse(&msg).unwrap();
    assert_eq!((dg.ttl, dg.path_mtu, dg.payload), (7, 1200, &payload[..]));
}

#[test]
fn datagram_view_rejects_a_short_header_and_another_message_type() {
    assert!(DatagramView::new_checked(&[0u8; 35][..]).is_err());
    let mut msg = kat("fsp_xk", "session_datagram_link_msg");
    msg[0] = HEARTBEAT;
    assert!(matches!(
        DatagramView::new_checked(&msg[..]),
        Err(WireError::UnknownType {
            msg_type: HEARTBEAT,
            ..
        })
    ));
}
