//! FSP session payloads: whatever classifies must re-encode to bytes that
//! classify to the same value. The ciphertext of an encrypted message is
//! also fed to the inner-plaintext decoders, standing in for a decryption.
#![no_main]

use fips_proto::wire::fsp::{classify, FspPacket};
use fips_proto::wire::fsp_inner::FspInner;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(pkt) = classify(data) else { return };
    let mut out = Vec::new();
    pkt.emit(&mut out);
    assert_eq!(out.len(), pkt.encoded_len());
    assert_eq!(classify(&out).as_ref(), Ok(&pkt));
    if let FspPacket::Encrypted { ciphertext, .. } = pkt {
        if let Ok(inner) = FspInner::parse(ciphertext) {
            let mut pt = Vec::new();
            inner.emit(&mut pt);
            assert_eq!(pt, ciphertext);
            if let Ok(msg) = inner.message() {
                let mut again = Vec::new();
                msg.emit_plaintext(inner.timestamp_ms, inner.inner_flags, &mut again);
                assert_eq!(again.len(), msg.plaintext_len());
                assert_eq!(FspInner::parse(&again).map(|i| i.message()), Ok(Ok(msg)));
            }
        }
    }
});
