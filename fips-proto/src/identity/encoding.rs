//! Hex and bech32 (NIP-19 npub/nsec) encodings of 32-byte keys.

use bech32::{Bech32, Hrp};
use zeroize::{Zeroize, Zeroizing};

use super::IdentityError;

pub(super) const NPUB: &str = "npub";
pub(super) const NSEC: &str = "nsec";

/// Decodes exactly 64 hex characters (either case).
pub(super) fn decode_hex_secret(s: &str) -> Result<Zeroizing<[u8; 32]>, IdentityError> {
    let chars = s.chars().count();
    if chars != 64 {
        return Err(IdentityError::SecretLength { got: chars });
    }
    if let Some(position) = s.chars().position(|c| !c.is_ascii_hexdigit()) {
        return Err(IdentityError::SecretHex { position });
    }
    // All 64 characters are ASCII hex digits now, so bytes and chars agree.
    let digits = s.as_bytes();
    let mut out = Zeroizing::new([0u8; 32]);
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = hex_value(digits[2 * i]) << 4 | hex_value(digits[2 * i + 1]);
    }
    Ok(out)
}

/// Value of a hex digit; the caller has checked that `c` is one.
fn hex_value(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => 0,
    }
}

/// Decodes a bech32 string with the given human-readable part to 32 bytes.
pub(super) fn decode_bech32_32(
    s: &str,
    expected: &'static str,
) -> Result<Zeroizing<[u8; 32]>, IdentityError> {
    let (hrp, mut data) =
        bech32::decode(s).map_err(|source| IdentityError::Bech32 { expected, source })?;
    let result = check_bech32(&hrp, &data, expected);
    // The payload may be a secret key: wipe the decoder's copy either way.
    data.zeroize();
    result
}

fn check_bech32(
    hrp: &Hrp,
    data: &[u8],
    expected: &'static str,
) -> Result<Zeroizing<[u8; 32]>, IdentityError> {
    if !hrp.as_str().eq_ignore_ascii_case(expected) {
        return Err(IdentityError::WrongPrefix {
            expected,
            got: hrp.to_lowercase(),
        });
    }
    let what = if expected == NSEC { "nsec" } else { "npub" };
    let bytes: [u8; 32] = data.try_into().map_err(|_| IdentityError::KeyLength {
        what,
        expected: 32,
        got: data.len(),
    })?;
    Ok(Zeroizing::new(bytes))
}

/// Encodes 32 bytes as bech32 (the classic checksum, as NIP-19 requires).
pub(super) fn encode_bech32(hrp: &'static str, data: &[u8]) -> String {
    let hrp = Hrp::parse_unchecked(hrp);
    bech32::encode::<Bech32>(hrp, data).expect("a 32-byte key is far below the bech32 length limit")
}
