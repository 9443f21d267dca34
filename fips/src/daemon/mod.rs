//! The daemon runtime: drives the protocol core with UDP, TUN, control, DNS and enforcement.
