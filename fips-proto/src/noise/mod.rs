//! Noise IK (links) and XK (sessions) over secp256k1, transport keys, replay window.
//!
//! Both handshakes follow the reference v0.4.1 byte for byte, including its
//! deviations from standard Noise: handshake AEAD uses
//! empty associated data, DH is SHA-256 of the shared point's x coordinate,
//! and the responder's static key enters the pre-message hash as even parity.
//! Handshakes are typestate: each state is consumed by the next step, and
//! transport keys exist only once a handshake is complete. Ephemeral secrets
//! and epochs come in as arguments; this module draws no randomness.

/// `Debug` for a handshake state that shows only the remote's public key:
/// the state holds secrets, which must never reach a log.
macro_rules! debug_remote_only {
    ($($state:ident),*) => {$(
        impl core::fmt::Debug for $state {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.debug_struct(stringify!($state))
                    .field("remote", &self.remote)
                    .finish_non_exhaustive()
            }
        }
    )*};
}

mod ik;
mod replay;
mod symmetric;
#[cfg(test)]
mod tests;
mod transport;
mod xk;

pub use ik::{ik_initiate, ik_respond, IkInitiator, IkResponder};
pub use replay::ReplayWindow;
pub use transport::{RecvKey, SendKey, Transport};
pub use xk::{xk_initiate, xk_respond, XkInitiator, XkResponder};

use crate::identity::IdentityError;

pub const IK_PROTOCOL_NAME: &[u8] = b"Noise_IK_secp256k1_ChaChaPoly_SHA256";
pub const XK_PROTOCOL_NAME: &[u8] = b"Noise_XK_secp256k1_ChaChaPoly_SHA256";

pub const IK_MSG1_LEN: usize = 106;
pub const IK_MSG2_LEN: usize = 57;
pub const XK_MSG1_LEN: usize = 33;
pub const XK_MSG2_LEN: usize = 57;
pub const XK_MSG3_LEN: usize = 73;
/// The Poly1305 tag appended to every sealed message (FMP frames, FSP
/// messages, Noise payloads): the one definition.
pub const TAG_LEN: usize = 16;

/// A random 8-byte value per process start, carried in the handshakes so a
/// peer can tell a restart from a rekey.
pub type Epoch = [u8; 8];

/// Why a handshake step or a transport frame failed.
#[derive(Debug, thiserror::Error)]
pub enum NoiseError {
    /// The peer's message did not authenticate: wrong keys, or tampered.
    #[error("could not decrypt the {what}: authentication failed")]
    DecryptFailed { what: &'static str },

    /// The peer sent bytes that are not a compressed secp256k1 point.
    #[error("the {what} is not a valid compressed secp256k1 point")]
    InvalidPoint { what: &'static str },

    /// The peer's static key decrypted but is not a valid key.
    #[error("the peer's static key is invalid")]
    InvalidStaticKey { source: IdentityError },

    /// A local secret (ephemeral or static) is zero or not below the group order.
    #[error(
        "a local secret is out of range: expected a nonzero number below the secp256k1 group order"
    )]
    InvalidSecret,
}
