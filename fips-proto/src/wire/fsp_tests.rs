use super::*;
use crate::addr::NodeAddr;
use crate::wire::fsp_inner::{FspInner, SessionMessage, PORT_IPV6_SHIM};
use crate::wire::link::{LinkInner, LinkMessage};
use crate::wire::vectors::{capture_frames, capture_runs, hex, kat};

fn reencode(p: &FspPacket<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    p.emit(&mut out);
    assert_eq!(out.len(), p.encoded_len());
    out
}

fn node(hex_addr: &str) -> NodeAddr {
    NodeAddr::from_slice(&hex(hex_addr)).unwrap()
}

const A: &str = "69e08d65cc3a6b9c2c2ac4bd405e4b0e";
const B: &str = "8e302c287eb48d6268122fda760b7727";
const C: &str = "aca221406950440c41d550280ed15a7f";

#[test]
fn kat_session_setup_parses_and_reencodes_byte_for_byte() {
    let wire = kat("fsp_xk", "session_setup_fsp_payload");
    let FspPacket::Setup(s) = classify(&wire).unwrap() else {
        panic!("not a SessionSetup")
    };
    assert_eq!(s.flags, 0);
    assert_eq!(s.src_coords.0, vec![node(A)]);
    assert_eq!(s.dst_coords.0, vec![node(C), node(B), node(A)]);
    assert_eq!(s.noise[0] & 0xfe, 0x02, "XK msg1 is a compressed point");
    let mut out = Vec::new();
    s.emit(&mut out);
    assert_eq!(out, wire);
    assert_eq!(s.encoded_len(), wire.len());
}

#[test]
fn kat_session_ack_echoes_the_initiator_coords() {
    let wire = kat("fsp_xk", "session_ack_fsp_payload");
    let p = classify(&wire).unwrap();
    let FspPacket::Ack(a) = &p else {
        panic!("not a SessionAck")
    };
    assert_eq!(a.src_coords.0, vec![node(C), node(B), node(A)]);
    assert_eq!(a.dst_coords.0, vec![node(A)]);
    assert_eq!(reencode(&p), wire);
}

#[test]
fn kat_session_msg3_is_80_bytes() {
    let wire = kat("fsp_xk", "session_msg3_fsp_payload");
    let p = classify(&wire).unwrap();
    assert!(matches!(p, FspPacket::Msg3(SessionMsg3 { flags: 0, .. })));
    assert_eq!(wire.len(), SessionMsg3::LEN);
    assert_eq!(reencode(&p), wire);
}

#[test]
fn kat_data_frame_decrypts_to_a_shim_packet_on_port_256() {
    use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305};
    let wire = kat("fsp_xk", "fsp_data_ctr0_ts5");
    let p = classify(&wire).unwrap();
    assert_eq!(reencode(&p), wire);
    let FspPacket::Encrypted { header, ciphertext } = p else {
        panic!("not encrypted")
    };
    assert_eq!(header.counter, 0);
    assert!(header.coords.is_none());
    assert_eq!(header.ad(), wire[..12]);
    assert_eq!(usize::from(header.payload_len) + TAG_LEN, ciphertext.len());

    let key = kat("fsp_xk", "k1_initiator_to_responder");
    let key = LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &key).unwrap());
    let mut nonce = [0u8; 12];
    nonce[4..].copy_from_slice(&header.counter.to_le_bytes());
    let mut buf = ciphertext.to_vec();
    let pt = key
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(header.ad()),
            &mut buf,
        )
        .unwrap();
    let inner = FspInner::parse(pt).unwrap();
    assert_eq!(inner.timestamp_ms, 5);
    let SessionMessage::Data(d) = inner.message().unwrap() else {
        panic!("not Data")
    };
    assert_eq!((d.src_port, d.dst_port), (PORT_IPV6_SHIM, PORT_IPV6_SHIM));
    assert_eq!(d.payload, &kat("fsp_xk", "ipv6_shim_payload")[..]);
}

#[test]
fn captured_session_payloads_reencode_byte_for_byte() {
    let mut checked = 0;
    for (run, ty, _wire, pt) in capture_frames() {
        if ty != "0x00" {
            continue;
        }
        let LinkMessage::SessionDatagram(dg) = LinkInner::parse(&pt).unwrap().msg else {
            panic!("{run}: not a datagram")
        };
        let p = classify(dg.payload).unwrap_or_else(|e| panic!("{run}: {e}"));
        assert_eq!(reencode(&p), dg.payload, "{run}");
        checked += 1;
    }
    for (run, v) in capture_runs() {
        if let Some(ack) = v["fsp_session_ack_payload"].as_str() {
            let wire = hex(ack);
            let p = classify(&wire).unwrap_or_else(|e| panic!("{run}: {e}"));
            assert!(matches!(p, FspPacket::Ack(_)), "{run}");
            assert_eq!(reencode(&p), wire, "{run}");
            checked += 1;
        }
    }
    assert!(checked >= 6);
}

/// An encrypted header with K and CP: our coordinates only.
fn cp_header() -> FspEncryptedHeader {
    FspEncryptedHeader {
        flags: FLAG_K,
        payload_len: 6,
        counter: 7,
        coords: Some((Coords(vec![node(A)]), Coords::default())),
    }
}

#[test]
fn cp_header_carries_clear_coords_outside_the_ad() {
    let h = cp_header();
    let mut out = Vec::new();
    h.emit(&mut out);
    assert_eq!(out.len(), h.encoded_len());
    assert_eq!(out.len(), 12 + 18 + 2);
    assert_eq!(&out[..4], &[0x00, FLAG_CP | FLAG_K, 6, 0]);
    assert_eq!(h.ad(), out[..12]);
    assert_eq!(&out[12..14], &[1, 0]);
    out.extend_from_slice(&[0xcc; 6 + TAG_LEN]);
    let FspPacket::Encrypted { header, ciphertext } = classify(&out).unwrap() else {
        panic!("not encrypted")
    };
    assert_eq!(header.flags, FLAG_CP | FLAG_K);
    assert_eq!(header.coords, h.coords);
    assert!(header.key_epoch());
    assert_eq!(ciphertext, &[0xcc; 6 + TAG_LEN]);
}

/// CP with two empty coordinate lists, then 15 bytes: one short of a tag.
fn cp_without_room_for_a_tag() -> Vec<u8> {
    let mut out = vec![0x00, FLAG_CP, 6, 0];
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&[0; 15]);
    out
}

#[test]
fn rejects_an_encrypted_message_whose_coords_leave_no_room_for_a_tag() {
    let out = cp_without_room_for_a_tag();
    assert!(matches!(
        classify(&out),
        Err(WireError::Truncated {
            need: 32,
            got: 31,
            ..
        })
    ));
}

#[test]
fn rejects_an_encrypted_message_shorter_than_header_and_tag() {
    assert!(matches!(
        classify(&[0u8; 27]),
        Err(WireError::Truncated {
            need: 28,
            got: 27,
            ..
        })
    ));
}

#[test]
fn rejects_a_setup_whose_handshake_is_not_33_bytes() {
    let mut wire = kat("fsp_xk", "session_setup_fsp_payload");
    let hs_len_at = wire.len() - 33 - 2;
    wire[hs_len_at] = 32;
    assert_eq!(
        classify(&wire[..wire.len() - 1]),
        Err(WireError::BadLength {
            what: "SessionSetup",
            expected: 33,
            got: 32
        })
    );
}

#[test]
fn rejects_a_setup_with_empty_source_coords() {
    let mut s = SessionSetup::parse(&kat("fsp_xk", "session_setup_fsp_payload")).unwrap();
    s.src_coords = Coords::default();
    let mut out = Vec::new();
    s.emit(&mut out);
    assert!(matches!(
        classify(&out),
        Err(WireError::Invalid {
            what: "SessionSetup",
            ..
        })
    ));
}

#[test]
fn rejects_phase_four() {
    assert_eq!(
        classify(&[0x04, 0, 0, 0]),
        Err(WireError::UnknownPhase {
            what: "FSP packet",
            phase: 4
        })
    );
}

#[test]
fn classifies_u_flag_packets_as_errors() {
    let e = FspError::CoordsRequired {
        dest: node(C),
        reporter: node(B),
    };
    let mut out = Vec::new();
    e.emit(&mut out);
    assert_eq!(classify(&out), Ok(FspPacket::Error(e)));
}

#[test]
fn encrypted_packet_view_reads_the_kat_data_frame_as_the_value_does() {
    let wire = kat("fsp_xk", "fsp_data_ctr0_ts5");
    let FspPacket::Encrypted { header, ciphertext } = classify(&wire).unwrap() else {
        panic!("not encrypted")
    };
    let v = EncryptedPacket::new_checked(&wire[..]).unwrap();
    assert_eq!(v.counter(), header.counter);
    assert_eq!(v.ad(), header.ad());
    assert_eq!(v.key_epoch(), header.key_epoch());
    assert!(v.coords().is_none());
    assert_eq!(&wire[v.ciphertext_range()], ciphertext);
}

#[test]
fn encrypted_packet_view_finds_cp_coords_and_matches_encrypted_ad() {
    let h = cp_header();
    let mut out = Vec::new();
    h.emit(&mut out);
    out.extend_from_slice(&[0xcc; 6 + TAG_LEN]);
    let v = EncryptedPacket::new_checked(&out[..]).unwrap();
    assert_eq!(v.coords().unwrap().unwrap(), h.coords.clone().unwrap());
    assert_eq!(v.ciphertext_range(), h.encoded_len()..out.len());
    assert_eq!(encrypted_ad(FLAG_CP | FLAG_K, 6, 7), h.ad());
    assert_eq!(v.ad(), h.ad());
}

#[test]
fn encrypted_packet_view_rejects_what_classify_rejects() {
    let no_tag = cp_without_room_for_a_tag();
    assert!(EncryptedPacket::new_checked(&no_tag[..]).is_err());
    assert!(EncryptedPacket::new_checked(&[0u8; 27][..]).is_err());
    let mut plaintext_error = vec![0x00, FLAG_U, 0, 0];
    plaintext_error.extend_from_slice(&[0; 40]);
    assert!(EncryptedPacket::new_checked(&plaintext_error[..]).is_err());
}
