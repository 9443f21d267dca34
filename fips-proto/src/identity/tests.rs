use std::net::Ipv6Addr;

use rand_chacha::rand_core::SeedableRng;
use serde_json::Value;

use super::*;

const IDENTITY_JSON: &str = include_str!("../../../testdata/identity.json");
const KAT_JSON: &str = include_str!("../../../testdata/kat.json");

fn json(text: &str) -> Value {
    serde_json::from_str(text).expect("vector file is valid JSON")
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("vector field {key} missing"))
}

fn hex32(s: &str) -> [u8; 32] {
    hex::decode(s).expect("hex").try_into().expect("32 bytes")
}

fn hex64(s: &str) -> [u8; 64] {
    hex::decode(s).expect("hex").try_into().expect("64 bytes")
}

/// Checks one vector whatever the file's field names for the same facts.
fn check_vector(v: &Value, xonly_key: &str, compressed_key: &str, addr_key: &str) {
    let from_hex = Identity::from_secret_str(s(v, "nsec_hex")).expect("hex secret parses");
    let from_nsec = Identity::from_secret_str(s(v, "nsec")).expect("nsec parses");
    assert_eq!(from_hex.secret_bytes(), from_nsec.secret_bytes());
    assert_eq!(from_hex.nsec(), s(v, "nsec"));

    let public = from_hex.public();
    assert_eq!(hex::encode(public.xonly()), s(v, xonly_key));
    assert_eq!(hex::encode(public.compressed()), s(v, compressed_key));
    assert_eq!(public.npub(), s(v, "npub"));
    assert_eq!(from_hex.node_addr().to_hex(), s(v, addr_key));
    let ipv6: Ipv6Addr = s(v, "ipv6").parse().expect("ipv6 parses");
    assert_eq!(public.ipv6(), ipv6);

    let from_npub = PeerIdentity::from_npub(s(v, "npub")).expect("npub parses");
    assert_eq!(&from_npub, public);
    assert!(!from_npub.parity_known());
    let compressed: [u8; 33] = hex::decode(s(v, compressed_key))
        .expect("hex")
        .try_into()
        .expect("33");
    let from_compressed = PeerIdentity::from_compressed(&compressed).expect("compressed parses");
    assert_eq!(from_compressed.compressed(), compressed);
    assert_eq!(from_compressed, from_npub);
}

#[test]
fn every_identity_json_vector_derives_npub_addr_and_ipv6() {
    let v = json(IDENTITY_JSON);
    let nodes = v["nodes"].as_array().expect("nodes array");
    assert_eq!(nodes.len(), 6);
    for node in nodes {
        check_vector(
            node,
            "pubkey_xonly_hex",
            "pubkey_compressed_hex",
            "node_addr_hex",
        );
    }
}

#[test]
fn every_kat_identity_derives_npub_addr_and_ipv6() {
    let v = json(KAT_JSON);
    let ids = v["identities"].as_object().expect("identities object");
    assert_eq!(ids.len(), 4);
    for node in ids.values() {
        check_vector(node, "xonly", "pub33", "node_addr");
    }
}

fn kat_identity(name: &str) -> Identity {
    let v = json(KAT_JSON);
    Identity::from_secret_str(s(&v["identities"][name], "nsec_hex")).expect("kat secret")
}

#[test]
fn tree_announce_signature_from_kat_verifies_and_reproduces_with_zero_aux() {
    let v = json(KAT_JSON);
    let ta = &v["tree_announce_B_child_of_A"];
    let signed = hex::decode(s(ta, "signed_bytes(node||parent||seq_le||ts_le)")).expect("hex");
    let sig = hex64(s(ta, "signature_bip340_aux0"));
    let b = kat_identity("B");
    assert!(b.public().verify(&signed, &sig));
    assert_eq!(b.sign(&signed, [0; 32]), sig);
    // The wrong key or one flipped bit must fail.
    assert!(!kat_identity("A").public().verify(&signed, &sig));
    let mut bad = sig;
    bad[10] ^= 1;
    assert!(!b.public().verify(&signed, &bad));
}

#[test]
fn lookup_response_proof_from_kat_verifies_and_reproduces_with_zero_aux() {
    let v = json(KAT_JSON);
    let lr = &v["lookup_response_proof_C"];
    let proof_bytes = hex::decode(s(lr, "proof_bytes")).expect("hex");
    let proof = hex64(s(lr, "proof_bip340_aux0"));
    let c = kat_identity("C");
    assert!(c.public().verify(&proof_bytes, &proof));
    assert_eq!(c.sign(&proof_bytes, [0; 32]), proof);
    assert!(!c.public().verify(&proof_bytes[1..], &proof));
}

#[test]
fn signatures_with_random_aux_differ_but_all_verify() {
    let a = kat_identity("A");
    let s1 = a.sign(b"hello", [1; 32]);
    let s2 = a.sign(b"hello", [2; 32]);
    assert_ne!(s1, s2);
    assert!(a.public().verify(b"hello", &s1));
    assert!(a.public().verify(b"hello", &s2));
    // A key learned from the npub (parity unknown) verifies the same.
    let peer = PeerIdentity::from_npub(&a.public().npub()).expect("npub");
    assert!(peer.verify(b"hello", &s1));
}

#[test]
fn debug_of_identity_prints_the_npub_and_never_the_secret() {
    let b = kat_identity("B");
    let shown = format!("{b:?} {:?}", b.clone());
    assert!(shown.contains("npub1tdwa4vjrjl33pcjdpf2t4p027nl86xrx24g4d3avg4vwvayr3g8qhd84le"));
    assert!(!shown.contains("b102030405"));
    assert!(!shown.contains(&b.nsec()));
}

#[test]
fn secret_string_of_wrong_length_says_expected_and_given() {
    let err = Identity::from_secret_str(&"a".repeat(63)).expect_err("63 chars is invalid");
    assert_eq!(
        err.to_string(),
        "expected 64 hex characters or nsec1..., got 63 characters"
    );
}

#[test]
fn secret_string_with_non_hex_character_names_its_position() {
    assert_not_hex_at(5, "g");
}

/// Asserts that 64 hex characters with `ch` put in at `position` are
/// refused, naming that position.
fn assert_not_hex_at(position: usize, ch: &str) {
    let mut text = "11".repeat(32);
    text.replace_range(position..=position, ch);
    let err = Identity::from_secret_str(&text).expect_err(&format!("{ch} is not hex"));
    assert!(
        matches!(err, IdentityError::SecretHex { position: p } if p == position),
        "{err}"
    );
}

#[test]
fn secret_string_with_a_multibyte_character_is_judged_by_characters() {
    assert_not_hex_at(3, "é");
    let upper = "AB".repeat(32);
    assert_eq!(
        Identity::from_secret_str(&upper)
            .expect("upper case")
            .secret_bytes(),
        &[0xab; 32]
    );
}

#[test]
fn secret_string_with_surrounding_whitespace_is_accepted() {
    let text = format!("  {}\n", "11".repeat(32));
    let id = Identity::from_secret_str(&text).expect("trimmed");
    assert_eq!(id.secret_bytes(), &[0x11; 32]);
}

#[test]
fn zero_and_order_sized_secrets_are_rejected() {
    assert!(matches!(
        Identity::from_secret_bytes([0; 32]),
        Err(IdentityError::SecretOutOfRange)
    ));
    let n = hex32("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141");
    assert!(matches!(
        Identity::from_secret_bytes(n),
        Err(IdentityError::SecretOutOfRange)
    ));
}

#[test]
fn npub_given_where_nsec_expected_is_rejected_without_echoing_it() {
    let npub = kat_identity("A").public().npub();
    let err = Identity::from_secret_str(&npub).expect_err("npub is not a secret");
    // Not nsec1-prefixed, so it is judged as hex by length.
    assert!(
        matches!(err, IdentityError::SecretLength { got: 63 }),
        "{err}"
    );
    let nsec = kat_identity("A").nsec();
    let err = PeerIdentity::from_npub(&nsec).expect_err("nsec is not an npub");
    assert_eq!(
        err.to_string(),
        "expected a bech32 string starting with npub1, got prefix nsec1"
    );
    assert!(!err.to_string().contains(&nsec[5..]));
}

#[test]
fn npub_with_bad_checksum_is_rejected() {
    let mut npub = kat_identity("A").public().npub();
    let last = npub.pop().expect("nonempty");
    npub.push(if last == 'q' { 'p' } else { 'q' });
    let err = PeerIdentity::from_npub(&npub).expect_err("checksum");
    assert!(
        matches!(
            err,
            IdentityError::Bech32 {
                expected: "npub",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn compressed_key_with_bad_prefix_or_off_curve_is_rejected() {
    let mut k = kat_identity("A").public().compressed();
    k[0] = 0x04;
    let err = PeerIdentity::from_compressed(&k).expect_err("prefix");
    assert_eq!(
        err.to_string(),
        "expected a compressed public key starting with 0x02 or 0x03, got 0x04"
    );
    // x = 5 is not on secp256k1 (5^3 + 7 = 132 is not a square mod p).
    let mut x = [0u8; 32];
    x[31] = 5;
    assert!(matches!(
        PeerIdentity::from_xonly(x),
        Err(IdentityError::NotOnCurve { .. })
    ));
}

#[test]
fn generated_identities_are_valid_and_seed_deterministic() {
    let mut rng = rand_chacha::ChaCha20Rng::from_seed([7; 32]);
    let a = Identity::generate(&mut rng);
    let b = Identity::generate(&mut rng);
    assert_ne!(a.public(), b.public());
    let mut rng = rand_chacha::ChaCha20Rng::from_seed([7; 32]);
    assert_eq!(Identity::generate(&mut rng).public(), a.public());
    let back = Identity::from_secret_str(&a.nsec()).expect("nsec round trip");
    assert_eq!(back.public(), a.public());
}
