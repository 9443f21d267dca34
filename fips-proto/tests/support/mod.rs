//! Helpers shared by the integration tests of fips-proto.
#![allow(dead_code)] // each test binary uses a different subset

pub mod pcap;

use std::path::PathBuf;

/// A file under the workspace's `testdata/` directory.
pub fn testdata(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata")
        .join(rel)
}

/// The secret (hex) of test node `name` of testdata/identity.json.
pub fn test_secret(name: &str) -> String {
    let text = std::fs::read_to_string(testdata("identity.json")).expect("identity.json");
    let v: serde_json::Value = serde_json::from_str(&text).expect("identity.json is JSON");
    v["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|n| n["name"] == name)
        .and_then(|n| n["nsec_hex"].as_str())
        .unwrap_or_else(|| panic!("no node {name} in testdata/identity.json"))
        .to_owned()
}

/// Decodes a hex string of known length from a test vector.
pub fn hex_arr<const N: usize>(s: &str) -> [u8; N] {
    let v = hex::decode(s).unwrap_or_else(|e| panic!("bad hex in vector: {e}"));
    v.try_into()
        .unwrap_or_else(|v: Vec<u8>| panic!("expected {N} bytes in vector, got {}", v.len()))
}
