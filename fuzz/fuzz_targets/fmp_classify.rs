//! FMP datagram classification: whatever parses must re-encode to exactly
//! the bytes received (handshakes have a fixed size and zero flags; an
//! established frame is its header plus opaque ciphertext).
#![no_main]

use fips_proto::wire::fmp::classify;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(pkt) = classify(data) {
        let mut out = Vec::new();
        pkt.emit(&mut out);
        assert_eq!(out.len(), pkt.encoded_len());
        assert_eq!(out, data);
    }
});
