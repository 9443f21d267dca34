//! Known-answer tests against kat.json (made by the Python model that
//! interoperated with live reference daemons) and round trips.

use serde_json::Value;

use super::*;
use crate::identity::{Identity, PeerIdentity};

const KAT_JSON: &str = include_str!("../../../testdata/kat.json");

fn kat() -> Value {
    serde_json::from_str(KAT_JSON).expect("kat.json is valid JSON")
}

fn field(v: &Value, key: &str) -> Vec<u8> {
    let text = v[key]
        .as_str()
        .unwrap_or_else(|| panic!("kat field {key} missing"));
    hex::decode(text).expect("kat field is hex")
}

fn arr<const N: usize>(b: &[u8]) -> [u8; N] {
    b.try_into().expect("vector has the expected length")
}

fn identity(name: &str) -> Identity {
    let v = kat();
    let hex = v["identities"][name]["nsec_hex"]
        .as_str()
        .expect("kat identity");
    Identity::from_secret_str(hex).expect("kat secret parses")
}

/// The peer as an initiator knows it: from the npub, parity unknown.
fn from_npub(id: &Identity) -> PeerIdentity {
    PeerIdentity::from_npub(&id.public().npub()).expect("npub")
}

/// Two keys are the same if they seal a probe identically.
fn assert_send_key_is(key: &SendKey, expected: &[u8]) {
    let mut a = b"probe".to_vec();
    let mut b = a.clone();
    key.seal(7, b"ad", &mut a);
    SendKey::from_bytes(&arr(expected)).seal(7, b"ad", &mut b);
    assert_eq!(a, b, "send key differs from the vector");
}

fn assert_recv_key_is(key: &RecvKey, expected: &[u8]) {
    let mut frame = b"probe".to_vec();
    SendKey::from_bytes(&arr(expected)).seal(9, b"ad", &mut frame);
    let plain = key
        .open(9, b"ad", &mut frame)
        .expect("recv key matches the vector");
    assert_eq!(plain, b"probe");
}

/// The initiator sends with the vectors' k1 and receives with k2; the
/// responder the other way round.
fn assert_kat_keys(vectors: &Value, init: &Transport, resp: &Transport) {
    let (k1, k2) = (
        field(vectors, "k1_initiator_to_responder"),
        field(vectors, "k2_responder_to_initiator"),
    );
    assert_send_key_is(&init.send, &k1);
    assert_recv_key_is(&init.recv, &k2);
    assert_send_key_is(&resp.send, &k2);
    assert_recv_key_is(&resp.recv, &k1);
}

#[test]
fn ik_msg1_msg2_and_keys_match_the_kat_byte_for_byte() {
    let v = kat();
    let ik = &v["fmp_ik"];
    let (a, b) = (identity("A"), identity("B"));
    let msg1_wire = field(ik, "msg1_wire");
    let msg2_wire = field(ik, "msg2_wire");
    let eph_i = arr(&field(ik, "initiator_ephemeral_secret"));
    let eph_r = arr(&field(ik, "responder_ephemeral_secret"));
    let epoch_i = arr(&field(ik, "initiator_epoch"));
    let epoch_r = arr(&field(ik, "responder_epoch"));

    let (init, msg1) = ik_initiate(&a, &from_npub(&b), eph_i, epoch_i).expect("msg1");
    assert_eq!(
        msg1[..],
        msg1_wire[8..],
        "msg1 is the FMP payload after prefix and sender_idx"
    );

    let resp = ik_respond(&b, &msg1).expect("B reads msg1");
    assert_eq!(resp.remote(), a.public());
    assert_eq!(resp.remote().compressed(), a.public().compressed());
    assert_eq!(resp.remote_epoch(), epoch_i);
    let (resp_keys, msg2) = resp.write_msg2(eph_r, epoch_r).expect("msg2");
    assert_eq!(
        msg2[..],
        msg2_wire[12..],
        "msg2 is the FMP payload after both indices"
    );

    let (init_keys, got_epoch) = init.read_msg2(&msg2).expect("A reads msg2");
    assert_eq!(got_epoch, epoch_r);
    assert_kat_keys(ik, &init_keys, &resp_keys);
}

#[test]
fn ik_first_heartbeat_frame_matches_the_kat_and_decrypts() {
    let v = kat();
    let ik = &v["fmp_ik"];
    let frame = field(ik, "first_frame_initiator_heartbeat_ctr0_ts100");
    let (header, sealed) = frame.split_at(16);
    let counter = u64::from_le_bytes(arr(&header[8..16]));
    assert_eq!(counter, 0);

    let mut inner = 100u32.to_le_bytes().to_vec();
    inner.push(0x51);
    let k1 = arr(&field(ik, "k1_initiator_to_responder"));
    let mut ours = inner.clone();
    SendKey::from_bytes(&k1).seal(counter, header, &mut ours);
    assert_eq!(ours, sealed);

    let mut buf = sealed.to_vec();
    let plain = RecvKey::from_bytes(&k1)
        .open(counter, header, &mut buf)
        .expect("decrypts");
    assert_eq!(plain, &inner[..]);
    // The header is authenticated: a changed flag byte must fail.
    let mut bad_header = header.to_vec();
    bad_header[1] ^= 0x04;
    let mut buf = sealed.to_vec();
    let err = RecvKey::from_bytes(&k1)
        .open(counter, &bad_header, &mut buf)
        .expect_err("AD");
    assert!(matches!(err, NoiseError::DecryptFailed { .. }));
}

#[test]
fn ik_msg1_is_the_same_whether_the_responder_parity_is_known_or_not() {
    let v = kat();
    let ik = &v["fmp_ik"];
    let (a, b) = (identity("A"), identity("B"));
    let eph = arr(&field(ik, "initiator_ephemeral_secret"));
    let epoch = arr(&field(ik, "initiator_epoch"));
    let (_, from_npub_msg) = ik_initiate(&a, &from_npub(&b), eph, epoch).expect("msg1");
    let (_, odd_msg) = ik_initiate(&a, b.public(), eph, epoch).expect("msg1");
    assert_eq!(from_npub_msg, odd_msg);
}

#[test]
fn xk_setup_ack_msg3_and_keys_match_the_kat_byte_for_byte() {
    let v = kat();
    let xk = &v["fsp_xk"];
    let (a, c) = (identity("A"), identity("C"));
    let setup = field(xk, "session_setup_fsp_payload");
    let ack = field(xk, "session_ack_fsp_payload");
    let m3 = field(xk, "session_msg3_fsp_payload");
    let epoch_i = arr(&field(xk, "initiator_epoch"));
    let epoch_r = arr(&field(xk, "responder_epoch"));

    let eph_i = arr(&field(xk, "initiator_ephemeral_secret"));
    let (init, msg1) = xk_initiate(&a, &from_npub(&c), eph_i).expect("msg1");
    assert_eq!(
        msg1[..],
        setup[setup.len() - XK_MSG1_LEN..],
        "Setup ends with XK msg1"
    );

    let eph_r = arr(&field(xk, "responder_ephemeral_secret"));
    let (resp, msg2) = xk_respond(&c, &msg1, eph_r, epoch_r).expect("msg2");
    assert_eq!(
        msg2[..],
        ack[ack.len() - XK_MSG2_LEN..],
        "Ack ends with XK msg2"
    );

    let (init_keys, msg3, got_epoch_r) = init.read_msg2(&msg2, epoch_i).expect("msg3");
    assert_eq!(got_epoch_r, epoch_r);
    assert_eq!(
        msg3[..],
        m3[m3.len() - XK_MSG3_LEN..],
        "Msg3 ends with XK msg3"
    );

    let (resp_keys, initiator, got_epoch_i) = resp.read_msg3(&msg3).expect("C reads msg3");
    assert_eq!(&initiator, a.public());
    assert_eq!(got_epoch_i, epoch_i);
    assert_kat_keys(xk, &init_keys, &resp_keys);
}

#[test]
fn xk_first_data_frame_from_the_kat_decrypts_with_k1() {
    let v = kat();
    let xk = &v["fsp_xk"];
    let frame = field(xk, "fsp_data_ctr0_ts5");
    let (header, sealed) = frame.split_at(12);
    let k1 = arr(&field(xk, "k1_initiator_to_responder"));
    let mut buf = sealed.to_vec();
    let plain = RecvKey::from_bytes(&k1)
        .open(0, header, &mut buf)
        .expect("decrypts");
    assert_eq!(plain[..4], 5u32.to_le_bytes());
    assert_eq!(plain[4], 0x10, "Data");
    assert_eq!(plain[10..], field(xk, "ipv6_shim_payload")[..]);
}

/// Sends one frame each way and checks it arrives.
fn exchange(initiator: &Transport, responder: &Transport) {
    let mut frame = b"ping".to_vec();
    initiator.send.seal(3, b"hdr", &mut frame);
    assert_eq!(
        responder.recv.open(3, b"hdr", &mut frame).expect("i->r"),
        b"ping"
    );
    let mut frame = b"pong".to_vec();
    responder.send.seal(0, b"", &mut frame);
    assert_eq!(
        initiator.recv.open(0, b"", &mut frame).expect("r->i"),
        b"pong"
    );
}

#[test]
fn ik_round_trip_with_an_odd_parity_responder_known_only_by_npub() {
    let (a, b) = (identity("A"), identity("B"));
    assert_eq!(b.public().compressed()[0], 0x03, "B has odd parity");
    let (init, msg1) = ik_initiate(&a, &from_npub(&b), [5; 32], [1; 8]).expect("msg1");
    let resp = ik_respond(&b, &msg1).expect("msg1 read");
    let (rk, msg2) = resp.write_msg2([6; 32], [2; 8]).expect("msg2");
    let (ik, epoch) = init.read_msg2(&msg2).expect("msg2 read");
    assert_eq!(epoch, [2; 8]);
    exchange(&ik, &rk);
}

#[test]
fn ik_round_trip_with_an_odd_parity_initiator() {
    let (d, b) = (identity("D"), identity("B"));
    let (init, msg1) = ik_initiate(&d, &from_npub(&b), [5; 32], [1; 8]).expect("msg1");
    let resp = ik_respond(&b, &msg1).expect("msg1 read");
    assert_eq!(
        resp.remote().compressed()[0],
        0x03,
        "real parity travels in msg1"
    );
    let (rk, msg2) = resp.write_msg2([6; 32], [2; 8]).expect("msg2");
    let (ik, _) = init.read_msg2(&msg2).expect("msg2 read");
    exchange(&ik, &rk);
}

#[test]
fn xk_round_trip_with_an_odd_parity_responder_known_only_by_npub() {
    let (d, b) = (identity("D"), identity("B"));
    let (init, msg1) = xk_initiate(&d, &from_npub(&b), [7; 32]).expect("msg1");
    let (resp, msg2) = xk_respond(&b, &msg1, [8; 32], [3; 8]).expect("msg2");
    let (ik, msg3, epoch_r) = init.read_msg2(&msg2, [4; 8]).expect("msg3");
    assert_eq!(epoch_r, [3; 8]);
    let (rk, who, epoch_i) = resp.read_msg3(&msg3).expect("msg3 read");
    assert_eq!(&who, d.public());
    assert_eq!(epoch_i, [4; 8]);
    exchange(&ik, &rk);
}

#[test]
fn ik_msg1_for_another_responder_fails_to_decrypt() {
    let (a, b, c) = (identity("A"), identity("B"), identity("C"));
    let (_, msg1) = ik_initiate(&a, b.public(), [5; 32], [1; 8]).expect("msg1");
    let err = ik_respond(&c, &msg1).expect_err("C is not the responder");
    assert!(
        matches!(
            err,
            NoiseError::DecryptFailed {
                what: "msg1 static key"
            }
        ),
        "{err}"
    );
}

#[test]
fn tampered_handshake_messages_are_rejected() {
    let (a, b) = (identity("A"), identity("B"));
    let (init, mut msg1) = ik_initiate(&a, b.public(), [5; 32], [1; 8]).expect("msg1");
    msg1[100] ^= 1;
    let err = ik_respond(&b, &msg1).expect_err("epoch tag broken");
    assert!(
        matches!(err, NoiseError::DecryptFailed { what: "msg1 epoch" }),
        "{err}"
    );
    msg1[100] ^= 1;
    let (_, mut msg2) = ik_respond(&b, &msg1)
        .expect("ok")
        .write_msg2([6; 32], [2; 8])
        .expect("msg2");
    msg2[40] ^= 1;
    assert!(matches!(
        init.read_msg2(&msg2),
        Err(NoiseError::DecryptFailed { .. })
    ));
}

#[test]
fn ephemeral_key_not_on_the_curve_is_rejected() {
    let b = identity("B");
    let mut msg1 = [0u8; IK_MSG1_LEN];
    msg1[0] = 0x02;
    msg1[32] = 5; // x = 5 has no point on secp256k1
    let err = ik_respond(&b, &msg1).expect_err("bad point");
    assert!(matches!(err, NoiseError::InvalidPoint { .. }), "{err}");
    let err = xk_respond(&b, &[0u8; XK_MSG1_LEN], [1; 32], [0; 8]).expect_err("bad point");
    assert!(matches!(err, NoiseError::InvalidPoint { .. }), "{err}");
}

#[test]
fn zero_ephemeral_secret_is_rejected() {
    let (a, b) = (identity("A"), identity("B"));
    let err = ik_initiate(&a, b.public(), [0; 32], [1; 8]).expect_err("zero scalar");
    assert!(matches!(err, NoiseError::InvalidSecret));
}

#[test]
fn transport_frame_with_wrong_counter_fails_to_open() {
    let key = [9u8; 32];
    let mut frame = b"data".to_vec();
    SendKey::from_bytes(&key).seal(1, b"h", &mut frame);
    assert_eq!(frame.len(), 4 + TAG_LEN);
    let err = RecvKey::from_bytes(&key)
        .open(2, b"h", &mut frame)
        .expect_err("nonce");
    assert_eq!(
        err.to_string(),
        "could not decrypt the transport frame: authentication failed"
    );
}

#[test]
fn debug_of_handshake_states_and_keys_shows_no_key_material() {
    let (a, b) = (identity("A"), identity("B"));
    let (init, msg1) = ik_initiate(&a, b.public(), [0x5a; 32], [1; 8]).expect("msg1");
    let resp = ik_respond(&b, &msg1).expect("msg1 read");
    let shown = format!("{init:?} {resp:?}");
    assert!(shown.contains("npub1"));
    assert!(!shown.contains("5a5a") && !shown.contains("90, 90"));
    let (keys, _) = resp.write_msg2([6; 32], [2; 8]).expect("msg2");
    assert_eq!(
        format!("{keys:?}"),
        "Transport { send: SendKey(..), recv: RecvKey(..) }"
    );
}

#[test]
fn random_handshake_messages_are_rejected_without_panicking() {
    use rand_chacha::rand_core::{RngCore, SeedableRng};
    let mut rng = rand_chacha::ChaCha20Rng::from_seed([3; 32]);
    let (a, b) = (identity("A"), identity("B"));
    for round in 0..200u8 {
        let mut msg1 = [0u8; IK_MSG1_LEN];
        rng.fill_bytes(&mut msg1);
        msg1[0] = 0x02 | (round & 1); // a plausible point half of the time
        assert!(ik_respond(&b, &msg1).is_err());

        let (init, _) = ik_initiate(&a, b.public(), [5; 32], [1; 8]).expect("msg1");
        let mut msg2 = [0u8; IK_MSG2_LEN];
        rng.fill_bytes(&mut msg2);
        msg2[0] = 0x02 | (round & 1);
        assert!(init.read_msg2(&msg2).is_err());

        let (_, x1) = xk_initiate(&a, b.public(), [7; 32]).expect("xk msg1");
        let (resp, _) = xk_respond(&b, &x1, [8; 32], [0; 8]).expect("xk msg2");
        let mut msg3 = [0u8; XK_MSG3_LEN];
        rng.fill_bytes(&mut msg3);
        assert!(resp.read_msg3(&msg3).is_err());
    }
}

#[test]
fn detached_seal_gives_the_same_bytes_as_appending_seal() {
    let key = SendKey::from_bytes(&[0x42; 32]);
    let mut appended = vec![0xA5; 1244];
    key.seal(77, b"header", &mut appended);
    let mut detached = vec![0xA5; 1244];
    let tag = key.seal_in_place_detached(77, b"header", &mut detached);
    detached.extend_from_slice(&tag);
    assert_eq!(detached, appended);
    let plain = RecvKey::from_bytes(&[0x42; 32])
        .open(77, b"header", &mut detached)
        .expect("a detached seal opens");
    assert_eq!(plain, &[0xA5; 1244][..]);
}
