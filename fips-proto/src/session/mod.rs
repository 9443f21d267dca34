//! End-to-end FSP sessions: XK handshake state, encryption, rekey, warmup.
