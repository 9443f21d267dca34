//! Decrypts real traffic captured from reference v0.4.1 daemons
//! (testdata/captures: pcaps of reference links and the probes' results):
//! the proof that our Noise and AEAD interoperate, not just agree with a model.

mod support;

use std::collections::BTreeMap;
use std::net::SocketAddrV4;

use fips_proto::identity::{Identity, PeerIdentity};
use fips_proto::noise::{
    ik_initiate, ik_respond, xk_initiate, RecvKey, ReplayWindow, SendKey, IK_MSG1_LEN, IK_MSG2_LEN,
    XK_MSG1_LEN, XK_MSG2_LEN,
};
use serde_json::Value;
use support::pcap::{read_udp, split_fmp_frames};
use support::{hex_arr, testdata};

const FMP_HEADER_LEN: usize = 16;
const FSP_HEADER_LEN: usize = 12;
const MSG_SESSION_DATAGRAM: u8 = 0x00;
/// SessionDatagram body before the FSP payload: ttl, path_mtu, src, dst.
const SESSION_DATAGRAM_HEADER_LEN: usize = 1 + 2 + 16 + 16;
const FSP_FLAG_CP: u8 = 0x01;
const FSP_FLAG_U: u8 = 0x04;

fn identity(name: &str) -> Identity {
    let text = std::fs::read_to_string(testdata("kat.json")).expect("kat.json");
    let kat: Value = serde_json::from_str(&text).expect("kat.json parses");
    let hex = kat["identities"][name]["nsec_hex"]
        .as_str()
        .expect("identity in kat");
    Identity::from_secret_str(hex).expect("kat secret")
}

fn npub_of(id: &Identity) -> PeerIdentity {
    PeerIdentity::from_npub(&id.public().npub()).expect("npub")
}

/// Asserts that `send` seals as the recorded key `name` does.
fn assert_sends_with(send: &SendKey, recorded: [u8; 32], name: &str) {
    let mut ours = b"x".to_vec();
    let mut theirs = ours.clone();
    send.seal(1, b"", &mut ours);
    SendKey::from_bytes(&recorded).seal(1, b"", &mut theirs);
    assert_eq!(ours, theirs, "send key equals the recorded {name}");
}

/// Every FMP frame of a capture with its direction, GSO batches split.
fn frames(file: &str) -> Vec<(SocketAddrV4, SocketAddrV4, Vec<u8>)> {
    let mut out = Vec::new();
    for d in read_udp(&testdata(file)).expect("capture reads") {
        for f in split_fmp_frames(&d.payload).expect("frames split cleanly") {
            out.push((d.src, d.dst, f.to_vec()));
        }
    }
    out
}

struct ProbeKeys {
    json: Value,
}

impl ProbeKeys {
    fn load() -> Self {
        let text = std::fs::read_to_string(testdata("captures/probe-result.json")).expect("json");
        let v: Value = serde_json::from_str(&text).expect("probe-result.json parses");
        ProbeKeys {
            json: v["keys_and_samples"].clone(),
        }
    }

    fn get(&self, layer: &str, key: &str) -> &str {
        self.json[layer][key]
            .as_str()
            .unwrap_or_else(|| panic!("{layer}.{key} missing"))
    }

    fn hex<const N: usize>(&self, layer: &str, key: &str) -> [u8; N] {
        hex_arr(self.get(layer, key))
    }

    fn bytes(&self, layer: &str, key: &str) -> Vec<u8> {
        hex::decode(self.get(layer, key)).expect("hex")
    }
}

/// Opens one direction's frames with its key and replay window.
struct Direction {
    key: RecvKey,
    window: ReplayWindow,
}

impl Direction {
    fn new(key: [u8; 32]) -> Self {
        Direction {
            key: RecvKey::from_bytes(&key),
            window: ReplayWindow::new(),
        }
    }

    /// Returns the plaintext of a phase-0 FMP frame, or None if it fails.
    fn open_fmp(&mut self, frame: &[u8]) -> Option<Vec<u8>> {
        let (header, sealed) = frame.split_at(FMP_HEADER_LEN);
        let counter = u64::from_le_bytes(header[8..16].try_into().ok()?);
        if !self.window.check(counter) {
            return None;
        }
        let mut buf = sealed.to_vec();
        let plain = self.key.open(counter, header, &mut buf).ok()?.to_vec();
        self.window.update(counter);
        Some(plain)
    }

    /// Decrypts an established FSP message (the SessionDatagram payload).
    fn open_fsp(&mut self, fsp: &[u8]) -> Option<Vec<u8>> {
        let header = fsp.get(..FSP_HEADER_LEN)?;
        let counter = u64::from_le_bytes(header[4..12].try_into().ok()?);
        let mut off = FSP_HEADER_LEN;
        if header[1] & FSP_FLAG_CP != 0 {
            // Cleartext src and dst coords: u16 count then 16 bytes each.
            for _ in 0..2 {
                let n = u16::from_le_bytes(fsp.get(off..off + 2)?.try_into().ok()?);
                off += 2 + 16 * usize::from(n);
            }
        }
        let mut buf = fsp.get(off..)?.to_vec();
        if !self.window.check(counter) {
            return None;
        }
        let plain = self.key.open(counter, header, &mut buf).ok()?.to_vec();
        self.window.update(counter);
        Some(plain)
    }
}

#[derive(Default, Debug)]
struct Tally {
    link_ok: BTreeMap<(&'static str, u8), usize>,
    link_failed: usize,
    fsp_ok: BTreeMap<&'static str, usize>,
    fsp_failed: usize,
    fsp_handshake: usize,
}

#[test]
fn every_frame_of_the_probe_capture_decrypts_with_the_recorded_keys() {
    let keys = ProbeKeys::load();
    let msg1 = keys.bytes("fmp", "msg1_wire");
    let all = frames("captures/probe-D-B-decryptable.pcap");
    let d_addr = all
        .iter()
        .find(|f| f.2 == msg1)
        .expect("the probe's msg1 is in the capture")
        .0;

    let mut d_to_b = Direction::new(keys.hex("fmp", "k_send_D_to_B"));
    let mut b_to_d = Direction::new(keys.hex("fmp", "k_recv_B_to_D"));
    let mut d_to_c = Direction::new(keys.hex("fsp", "k_send_D_to_C"));
    let mut c_to_d = Direction::new(keys.hex("fsp", "k_recv_C_to_D"));
    let mut tally = Tally::default();
    for (src, _, frame) in all.iter().filter(|f| f.2[0] & 0x0f == 0) {
        let from_d = *src == d_addr;
        let (link, fsp, name) = if from_d {
            (&mut d_to_b, &mut d_to_c, ("D->B", "D->C"))
        } else {
            (&mut b_to_d, &mut c_to_d, ("B->D", "C->D"))
        };
        let Some(plain) = link.open_fmp(frame) else {
            tally.link_failed += 1;
            continue;
        };
        let msg_type = plain[4];
        *tally.link_ok.entry((name.0, msg_type)).or_default() += 1;
        if msg_type != MSG_SESSION_DATAGRAM {
            continue;
        }
        let fsp_msg = &plain[5 + SESSION_DATAGRAM_HEADER_LEN..];
        if fsp_msg[0] & 0x0f != 0 || fsp_msg[1] & FSP_FLAG_U != 0 {
            tally.fsp_handshake += 1;
        } else if fsp.open_fsp(fsp_msg).is_some() {
            *tally.fsp_ok.entry(name.1).or_default() += 1;
        } else {
            tally.fsp_failed += 1;
        }
    }

    assert_eq!(tally.link_failed, 0, "{tally:?}");
    assert_eq!(tally.fsp_failed, 0, "{tally:?}");
    let per_dir = |dir: &str| {
        tally
            .link_ok
            .iter()
            .filter(|e| e.0 .0 == dir)
            .map(|e| e.1)
            .sum::<usize>()
    };
    assert_eq!(per_dir("B->D"), 615, "{tally:?}");
    assert_eq!(per_dir("D->B"), 322, "{tally:?}");
    assert_eq!(tally.link_ok[&("B->D", 0x51)], 19, "heartbeats from B");
    assert_eq!(tally.link_ok[&("B->D", 0x10)], 4, "tree announces from B");
    assert_eq!(tally.fsp_ok["C->D"], 333, "{tally:?}");
    assert_eq!(tally.fsp_ok["D->C"], 95, "{tally:?}");
    assert_eq!(
        tally.fsp_handshake, 4,
        "setup, ack, msg3 and C's rekey setup"
    );
}

#[test]
fn our_ik_initiator_reproduces_the_probe_msg1_and_completes_with_the_reference_msg2() {
    let keys = ProbeKeys::load();
    let (d, b) = (identity("D"), identity("B"));
    let msg1_wire = keys.bytes("fmp", "msg1_wire");
    let msg2_wire = keys.bytes("fmp", "msg2_wire");
    let eph = keys.hex("fmp", "D_ephemeral_secret");
    let (init, msg1) =
        ik_initiate(&d, &npub_of(&b), eph, keys.hex("fmp", "D_epoch")).expect("msg1");
    assert_eq!(msg1[..], msg1_wire[8..]);

    // msg2 was written by reference B v0.4.1.
    let msg2: [u8; IK_MSG2_LEN] = msg2_wire[12..].try_into().expect("57 bytes");
    let (transport, b_epoch) = init.read_msg2(&msg2).expect("reference msg2 authenticates");
    assert_eq!(b_epoch, keys.hex::<8>("fmp", "B_epoch"));

    // B's first heartbeat to D opens with our derived receive key.
    let hb = &keys.json["first_frames_from_B_by_type"]["0x51"];
    let mut wire = hex::decode(hb["wire"].as_str().expect("wire")).expect("hex");
    let (header, sealed) = wire.split_at_mut(FMP_HEADER_LEN);
    let counter = u64::from_le_bytes(header[8..16].try_into().expect("8"));
    let plain = transport
        .recv
        .open(counter, header, sealed)
        .expect("B's heartbeat decrypts");
    assert_eq!(
        hex::encode(plain),
        hb["plaintext"].as_str().expect("plaintext")
    );

    assert_sends_with(
        &transport.send,
        keys.hex("fmp", "k_send_D_to_B"),
        "k_send_D_to_B",
    );
}

#[test]
fn our_xk_initiator_reproduces_the_probe_session_setup_and_msg3() {
    let keys = ProbeKeys::load();
    let (d, c) = (identity("D"), identity("C"));
    let eph = keys.hex("fsp", "D_ephemeral_secret");
    let (init, msg1) = xk_initiate(&d, &npub_of(&c), eph).expect("msg1");

    // The SessionSetup D sent (inside a D->B link frame) ends with msg1.
    let mut d_to_b = Direction::new(keys.hex("fmp", "k_send_D_to_B"));
    let d_addr = "10.200.0.1:2122".parse::<SocketAddrV4>().expect("addr");
    let setup_found = frames("captures/probe-D-B-decryptable.pcap")
        .iter()
        .filter(|f| f.0 == d_addr && f.2[0] & 0x0f == 0)
        .filter_map(|f| d_to_b.open_fmp(&f.2))
        .filter(|p| p[4] == MSG_SESSION_DATAGRAM)
        .map(|p| p[5 + SESSION_DATAGRAM_HEADER_LEN..].to_vec())
        .any(|fsp| fsp[0] & 0x0f == 1 && fsp[fsp.len() - XK_MSG1_LEN..] == msg1);
    assert!(setup_found, "our msg1 equals the captured SessionSetup's");

    // The SessionAck was written by reference C v0.4.1.
    let ack = keys.bytes("fsp", "session_ack_payload");
    let msg2: [u8; XK_MSG2_LEN] = ack[ack.len() - XK_MSG2_LEN..].try_into().expect("57");
    let (transport, msg3, c_epoch) = init
        .read_msg2(&msg2, keys.hex("fmp", "D_epoch"))
        .expect("reference msg2 authenticates");
    assert_eq!(c_epoch, keys.hex::<8>("fsp", "C_epoch"));
    assert_eq!(msg3[..], keys.bytes("fsp", "msg3")[..]);

    assert_sends_with(
        &transport.send,
        keys.hex("fsp", "k_send_D_to_C"),
        "k_send_D_to_C",
    );
}

#[test]
fn every_msg1_of_the_reference_ab_link_decrypts_with_the_responder_key() {
    let (a, b) = (identity("A"), identity("B"));
    let a_addr: SocketAddrV4 = "10.200.0.1:2121".parse().expect("addr");
    let all = frames("captures/ref-v041-AB-link.pcap");
    let mut by_initiator = BTreeMap::new();
    for (src, dst, frame) in all.iter().filter(|f| f.2[0] & 0x0f == 1) {
        assert_eq!(frame.len(), 8 + IK_MSG1_LEN);
        let (responder, initiator) = if *dst == a_addr { (&a, &b) } else { (&b, &a) };
        assert_eq!(*src != a_addr, *dst == a_addr);
        let noise: [u8; IK_MSG1_LEN] = frame[8..].try_into().expect("106");
        let r = ik_respond(responder, &noise).expect("every msg1 decrypts");
        assert_eq!(r.remote(), initiator.public());
        assert_eq!(r.remote().compressed(), initiator.public().compressed());
        let name = if initiator.public() == a.public() {
            "A"
        } else {
            "B"
        };
        by_initiator
            .entry(name)
            .or_insert_with(Vec::new)
            .push(hex::encode(r.remote_epoch()));
    }
    assert_eq!(by_initiator["A"], vec!["67c5cfd6295c002b"; 2]);
    assert_eq!(by_initiator["B"], vec!["424c5c5eaa94d61e"; 6]);
}

#[test]
fn rekey_msg1s_from_reference_b_to_the_probe_decrypt_with_the_probe_key() {
    let keys = ProbeKeys::load();
    let (d, b) = (identity("D"), identity("B"));
    let msg1_wire = keys.bytes("fmp", "msg1_wire");
    let rekeys: Vec<_> = frames("captures/probe-D-B-decryptable.pcap")
        .into_iter()
        .filter(|f| f.2[0] & 0x0f == 1 && f.2 != msg1_wire)
        .collect();
    assert_eq!(rekeys.len(), 16);
    for (_, _, frame) in &rekeys {
        let noise: [u8; IK_MSG1_LEN] = frame[8..].try_into().expect("106");
        let r = ik_respond(&d, &noise).expect("B's rekey msg1 decrypts with D's key");
        assert_eq!(r.remote(), b.public());
        assert_eq!(r.remote_epoch(), keys.hex::<8>("fmp", "B_epoch"));
    }
}

#[test]
fn gso_batches_in_the_probe_capture_split_into_whole_frames() {
    let datagrams = read_udp(&testdata("captures/probe-D-B-decryptable.pcap")).expect("reads");
    let batches = datagrams
        .iter()
        .map(|d| split_fmp_frames(&d.payload).expect("splits").len())
        .filter(|&n| n > 1)
        .count();
    assert_eq!(
        batches, 12,
        "the README's python model found 12 GSO super-packets"
    );
}

#[test]
fn splitting_rejects_a_frame_longer_than_its_datagram() {
    let mut d = vec![0u8; 40];
    d[2] = 100; // phase 0 claiming 100 bytes of payload
    assert!(split_fmp_frames(&d).is_err());
    let ok = [0x01u8, 0, 110, 0]
        .iter()
        .copied()
        .chain([0; 110])
        .collect::<Vec<_>>();
    assert_eq!(split_fmp_frames(&ok).expect("one msg1").len(), 1);
}
