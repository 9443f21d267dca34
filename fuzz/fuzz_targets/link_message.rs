//! Decrypted link plaintext: whatever parses must re-encode to bytes that
//! parse back to the same value (reserved bytes and ignored trailers are
//! normalised, so byte equality is not required).
#![no_main]

use fips_proto::wire::link::LinkInner;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(inner) = LinkInner::parse(data) {
        let mut out = Vec::new();
        inner.emit(&mut out);
        assert_eq!(out.len(), inner.encoded_len());
        assert!(out.len() <= data.len(), "re-encoding grew the message");
        assert_eq!(LinkInner::parse(&out).as_ref(), Ok(&inner));
    }
});
