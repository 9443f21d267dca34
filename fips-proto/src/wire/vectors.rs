//! Test vectors: our known-answer file and plaintexts decrypted from
//! captures of a reference v0.4.1 node (copied into `testdata/` so the tests
//! need nothing outside the repo).

use serde_json::Value;

const KAT: &str = include_str!("testdata/kat.json");
const CAPTURES: &str = include_str!("testdata/captures.json");

pub(crate) fn hex(s: &str) -> Vec<u8> {
    hex::decode(s).expect("test vector is valid hex")
}

/// A hex field of kat.json by section and key.
pub(crate) fn kat(section: &str, key: &str) -> Vec<u8> {
    let v: Value = serde_json::from_str(KAT).expect("kat.json parses");
    let s = v[section][key]
        .as_str()
        .unwrap_or_else(|| panic!("kat.json has no {section}.{key}"));
    hex(s)
}

/// Every capture run's sample set (one per probe-result file).
pub(crate) fn capture_runs() -> Vec<(String, Value)> {
    let v: Value = serde_json::from_str(CAPTURES).expect("captures.json parses");
    let obj = v.as_object().expect("captures.json is an object");
    obj.iter()
        .filter(|(k, _)| !k.starts_with('_'))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// All (run, msg_type, wire, plaintext) first-frame samples.
pub(crate) fn capture_frames() -> Vec<(String, String, Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    for (run, v) in capture_runs() {
        let frames = v["frames"].as_object().expect("frames object");
        for (ty, f) in frames {
            let wire = hex(f["wire"].as_str().expect("wire hex"));
            let pt = hex(f["plaintext"].as_str().expect("plaintext hex"));
            out.push((run.clone(), ty.clone(), wire, pt));
        }
    }
    assert!(out.len() >= 30, "expected samples from every capture run");
    out
}
