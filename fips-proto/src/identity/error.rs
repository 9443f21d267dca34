//! Errors from parsing keys. Messages name what was expected and what was
//! given, but never echo the input: it may be a secret.

/// Why a key string or key bytes were rejected.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("expected 64 hex characters or nsec1..., got {got} characters")]
    SecretLength { got: usize },

    #[error(
        "expected 64 hex characters or nsec1..., got a non-hex character at position {position}"
    )]
    SecretHex { position: usize },

    #[error("expected a bech32 {expected}1... string, got one that does not decode")]
    Bech32 {
        expected: &'static str,
        source: bech32::DecodeError,
    },

    #[error("expected a bech32 string starting with {expected}1, got prefix {got}1")]
    WrongPrefix { expected: &'static str, got: String },

    #[error("expected {expected} bytes in the {what} key, got {got} bytes")]
    KeyLength {
        what: &'static str,
        expected: usize,
        got: usize,
    },

    #[error(
        "secret key is out of range: expected a nonzero number below the secp256k1 group order"
    )]
    SecretOutOfRange,

    #[error("expected {what} on the secp256k1 curve, got a point that is not on it")]
    NotOnCurve { what: &'static str },

    #[error("expected a compressed public key starting with 0x02 or 0x03, got 0x{got:02x}")]
    CompressedPrefix { got: u8 },
}
