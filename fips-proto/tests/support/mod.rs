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

/// Decodes a hex string of known length from a test vector.
pub fn hex_arr<const N: usize>(s: &str) -> [u8; N] {
    let v = hex::decode(s).unwrap_or_else(|e| panic!("bad hex in vector: {e}"));
    v.try_into()
        .unwrap_or_else(|v: Vec<u8>| panic!("expected {N} bytes in vector, got {}", v.len()))
}
