//! Noise IK (links) and XK (sessions) over secp256k1, transport keys, replay window.
