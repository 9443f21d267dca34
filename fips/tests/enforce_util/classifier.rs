//! The classifier the verdict tests run crafted frames through with
//! BPF_PROG_TEST_RUN, loaded with a test policy and attached nowhere.

// Shared by several test binaries, each using a part.
#![allow(dead_code)]

use fips::enforce::{Classifier, Policy};

/// The classifier with a policy for the transport on UDP `port` (one
/// socket cookie), IPv6 passed for it if `allow_ipv6`.
pub fn load(port: u16, allow_ipv6: bool) -> Classifier {
    let policy = Policy {
        udp_port: port,
        socket_cookies: vec![0xdead_beef],
        allow_ipv6,
    };
    Classifier::load(&policy).unwrap_or_else(|e| panic!("loading the classifier: {e} ({e:?})"))
}
