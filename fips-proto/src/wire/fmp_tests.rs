use super::*;
use crate::wire::vectors::{capture_frames, capture_runs, hex, kat};

#[test]
fn parses_the_prefix_of_a_spin_bit_frame() {
    let p = Prefix::parse(&[0x00, 0x04, 0x20, 0x00]).unwrap();
    assert_eq!(
        p,
        Prefix {
            phase: 0,
            flags: FLAG_SP,
            payload_len: 32
        }
    );
    assert_eq!(p.to_bytes(), [0x00, 0x04, 0x20, 0x00]);
}

#[test]
fn rejects_a_prefix_with_a_nonzero_version() {
    assert_eq!(
        Prefix::parse(&[0x10, 0, 0, 0]),
        Err(WireError::UnsupportedVersion {
            what: "prefix",
            version: 1
        })
    );
}

#[test]
fn rejects_a_three_byte_prefix() {
    assert!(matches!(
        Prefix::parse(&[0, 0, 0]),
        Err(WireError::Truncated {
            need: 4,
            got: 3,
            ..
        })
    ));
}

#[test]
fn msg1_matches_the_kat_wire_bytes_both_ways() {
    let wire = kat("fmp_ik", "msg1_wire");
    let m = Msg1::parse(&wire).unwrap();
    assert_eq!(m.sender_idx.to_le_bytes(), [0x78, 0x56, 0x34, 0x12]);
    assert_eq!(m.sender_idx, 0x1234_5678);
    let mut out = Vec::new();
    m.emit(&mut out);
    assert_eq!(out, wire);
    assert_eq!(m.encoded_len(), 114);
}

#[test]
fn msg2_matches_the_kat_wire_bytes_both_ways() {
    let wire = kat("fmp_ik", "msg2_wire");
    let m = Msg2::parse(&wire).unwrap();
    assert_eq!(m.sender_idx, 0xdead_beef);
    assert_eq!(m.receiver_idx, 0x1234_5678);
    let mut out = Vec::new();
    m.emit(&mut out);
    assert_eq!(out, wire);
    assert_eq!(&out[..4], &[0x02, 0x00, 65, 0x00]);
}

#[test]
fn captured_handshakes_reencode_byte_for_byte() {
    for (run, v) in capture_runs() {
        for key in ["fmp_msg1_wire", "fmp_msg2_wire"] {
            let wire = hex(v[key].as_str().unwrap());
            let pkt = classify(&wire).unwrap_or_else(|e| panic!("{run} {key}: {e}"));
            let mut out = Vec::new();
            pkt.emit(&mut out);
            assert_eq!(out, wire, "{run} {key}");
        }
    }
}

#[test]
fn rejects_msg1_one_byte_short_or_long() {
    let wire = kat("fmp_ik", "msg1_wire");
    assert!(matches!(
        Msg1::parse(&wire[..113]),
        Err(WireError::BadLength {
            expected: 114,
            got: 113,
            ..
        })
    ));
    let mut long = wire.clone();
    long.push(0);
    assert!(matches!(
        classify(&long),
        Err(WireError::BadLength {
            expected: 114,
            got: 115,
            ..
        })
    ));
}

#[test]
fn rejects_handshakes_with_flags_set() {
    let mut wire = kat("fmp_ik", "msg2_wire");
    wire[1] = FLAG_K;
    assert_eq!(
        classify(&wire),
        Err(WireError::NonZeroFlags {
            what: "IK msg2",
            flags: 1
        })
    );
}

#[test]
fn established_header_of_the_kat_heartbeat_is_its_first_16_bytes() {
    let wire = kat("fmp_ik", "first_frame_initiator_heartbeat_ctr0_ts100");
    let FmpPacket::Established { header, ciphertext } = classify(&wire).unwrap() else {
        panic!("not an established frame");
    };
    assert_eq!(
        header,
        EstablishedHeader {
            flags: 0,
            payload_len: 5,
            receiver_idx: 0xdead_beef,
            counter: 0
        }
    );
    assert_eq!(header.to_bytes(), wire[..16]);
    assert_eq!(ciphertext.len(), 5 + TAG_LEN);
}

#[test]
fn captured_established_frames_reencode_and_carry_plaintext_length() {
    for (run, ty, wire, pt) in capture_frames() {
        let pkt = classify(&wire).unwrap_or_else(|e| panic!("{run} {ty}: {e}"));
        let FmpPacket::Established { header, ciphertext } = &pkt else {
            panic!("{run} {ty}: not established");
        };
        assert_eq!(usize::from(header.payload_len), pt.len(), "{run} {ty}");
        assert_eq!(ciphertext.len(), pt.len() + TAG_LEN, "{run} {ty}");
        let mut out = Vec::new();
        pkt.emit(&mut out);
        assert_eq!(out, wire, "{run} {ty}");
        assert_eq!(pkt.encoded_len(), wire.len());
    }
}

#[test]
fn rejects_an_established_frame_too_short_for_a_tag() {
    let buf = [0u8; 31];
    assert!(matches!(
        classify(&buf),
        Err(WireError::Truncated {
            need: 32,
            got: 31,
            ..
        })
    ));
}

#[test]
fn rejects_an_unknown_phase() {
    assert_eq!(
        classify(&[0x03, 0, 0, 0]),
        Err(WireError::UnknownPhase {
            what: "FMP packet",
            phase: 3
        })
    );
}

#[test]
fn builds_an_established_header_from_fields() {
    let h = EstablishedHeader {
        flags: FLAG_K | FLAG_SP,
        payload_len: 0x0102,
        receiver_idx: 0x0a0b_0c0d,
        counter: 0x1122_3344_5566_7788,
    };
    let b = h.to_bytes();
    assert_eq!(
        b,
        [
            0x00, 0x05, 0x02, 0x01, 0x0d, 0x0c, 0x0b, 0x0a, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33,
            0x22, 0x11
        ]
    );
    assert!(h.key_epoch());
    let mut frame = b.to_vec();
    frame.extend_from_slice(&[0; TAG_LEN]);
    assert_eq!(EstablishedHeader::parse(&frame), Ok(h));
}

#[test]
fn frame_len_splits_back_to_back_frames() {
    let hb = kat("fmp_ik", "first_frame_initiator_heartbeat_ctr0_ts100");
    let msg1 = kat("fmp_ik", "msg1_wire");
    let mut joined = hb.clone();
    joined.extend_from_slice(&msg1);
    let first = Prefix::parse(&joined).unwrap().frame_len().unwrap();
    assert_eq!(first, hb.len());
    let second = Prefix::parse(&joined[first..]).unwrap().frame_len();
    assert_eq!(second, Some(114));
    assert_eq!(Prefix::parse(&[0x05, 0, 0, 0]).unwrap().frame_len(), None);
}

#[test]
fn rejects_msg1_whose_payload_len_disagrees_with_its_size() {
    let mut wire = kat("fmp_ik", "msg1_wire");
    wire[3] = 0xcf;
    assert_eq!(
        classify(&wire),
        Err(WireError::BadLength {
            what: "IK msg1",
            expected: 110,
            got: 0xcf6e
        })
    );
}
