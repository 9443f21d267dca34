//! IPv6 shim: whatever decompresses must compress back to the same shim
//! payload, except that the version nibble is forced to 6.
#![no_main]

use std::net::Ipv6Addr;

use fips_proto::wire::shim::{compress, decompress, decompressed_len};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let src = Ipv6Addr::new(
        0xfd69, 0xe08d, 0x65cc, 0x3a6b, 0x9c2c, 0x2ac4, 0xbd40, 0x5e4b,
    );
    let dst = Ipv6Addr::new(
        0xfdac, 0xa221, 0x4069, 0x5044, 0x0c41, 0xd550, 0x280e, 0xd15a,
    );
    let mut ip = Vec::new();
    if decompress(data, src, dst, &mut ip).is_err() {
        assert!(ip.is_empty(), "a failed decompress wrote output");
        return;
    }
    assert_eq!(ip.len(), decompressed_len(data.len()));
    let mut shim = Vec::new();
    compress(&ip, &mut shim).expect("a rebuilt packet compresses");
    let mut expected = data.to_vec();
    expected[1] = 0x60 | (expected[1] & 0x0f);
    assert_eq!(shim, expected);
});
