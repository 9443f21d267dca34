//! A sidecar and a peer namespace joined by a bridge in a third one: the
//! topology of the enforcement tests and benchmarks. Deleted on drop, even
//! when a test fails.
//!
//! ```text
//! <p>-sc-<tag>: eth0 ──veth── <p>-br-<tag>: <p>b<tag> ──veth── <p>-pe-<tag>: eth0
//!   10.<net>.0.1                                                 10.<net>.0.2
//! ```

use std::net::Ipv4Addr;

use crate::netns::NetNs;

/// The sidecar, its peer and the bridge between them.
pub struct SidecarPair {
    pub sidecar: NetNs,
    pub peer: NetNs,
    pub bridge: NetNs,
    pub sidecar_ip: Ipv4Addr,
    pub peer_ip: Ipv4Addr,
}

impl SidecarPair {
    /// `tag`: at most 10 characters, unique per test; `net`: the second
    /// octet of the test's 10.x.0.0/24.
    pub fn new(tag: &str, net: u8) -> SidecarPair {
        SidecarPair::with_prefix("fe", tag, net)
    }

    /// Like `new`, with names made from `prefix` (two characters) instead
    /// of `fe`. Namespace names carry the process id, so two runs at once
    /// do not meet.
    pub fn with_prefix(prefix: &str, tag: &str, net: u8) -> SidecarPair {
        assert!(
            prefix.len() == 2 && tag.len() <= 10,
            "interface names must fit 15 bytes"
        );
        let pid = std::process::id();
        let ns = |role: &str| {
            let ns = NetNs::named(&format!("{prefix}-{role}-{tag}-{pid}"));
            // No duplicate address detection: link-local IPv6 is usable at
            // once, so an IPv6 ping is blocked by the filter, not by DAD.
            ns.sysctl(&["net.ipv6.conf.default.accept_dad=0"]);
            ns
        };
        let t = SidecarPair {
            sidecar: ns("sc"),
            peer: ns("pe"),
            bridge: ns("br"),
            sidecar_ip: Ipv4Addr::new(10, net, 0, 1),
            peer_ip: Ipv4Addr::new(10, net, 0, 2),
        };
        let br = format!("{prefix}b{tag}");
        t.bridge.ip(&["link", "add", &br, "type", "bridge"]);
        t.bridge.ip(&["link", "set", &br, "up"]);
        for (ns, ip, end) in [(&t.sidecar, t.sidecar_ip, "s"), (&t.peer, t.peer_ip, "p")] {
            let port = format!("{prefix}v{tag}{end}");
            t.bridge.ip(&[
                "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", &ns.name,
            ]);
            t.bridge.ip(&["link", "set", &port, "master", &br, "up"]);
            ns.ip(&["addr", "add", &format!("{ip}/24"), "dev", "eth0"]);
            ns.ip(&["link", "set", "eth0", "up"]);
        }
        t
    }
}

/// Detaches the filter from the sidecar's `eth0` on drop, even when a test
/// fails: its pins live on the host's bpffs, outside the namespace, and
/// would outlive it. No filter attached is fine.
#[cfg(feature = "daemon")]
pub struct RemoveFilterOnDrop<'a>(pub &'a SidecarPair);

#[cfg(feature = "daemon")]
impl Drop for RemoveFilterOnDrop<'_> {
    fn drop(&mut self) {
        use fips::enforce::{self, EnforceError};
        match self.0.sidecar.enter(|| enforce::remove("eth0")) {
            Ok(()) | Err(EnforceError::NotAttached { .. }) => {}
            Err(e) => eprintln!("removing the test filter: {e}"),
        }
    }
}

#[cfg(feature = "daemon")]
impl SidecarPair {
    /// The sidecar's daemon: test identity a, transport on `port`, the
    /// filter on (`FIPS_ENFORCE=on`), dialling the peer (identity b), with
    /// `extra` environment; under `nsenter --net`, so its pins outlive it.
    pub fn sidecar_daemon(&self, port: u16, extra: &[(&str, String)]) -> crate::Daemon {
        let mut envs = vec![
            ("FIPS_UDP_BIND", format!("{}:{port}", self.sidecar_ip)),
            ("FIPS_PEER_NPUB", crate::key("b").npub.into()),
            ("FIPS_PEER_ADDR", format!("{}:{port}", self.peer_ip)),
            ("FIPS_ENFORCE", "on".into()),
        ];
        envs.extend(extra.iter().cloned());
        crate::Daemon::sidecar(
            &self.sidecar.name,
            crate::key("a"),
            crate::Launch::Nsenter,
            &envs,
        )
    }

    /// The peer's daemon: test identity b, transport on `port`, no filter.
    pub fn peer_daemon(&self, port: u16) -> crate::Daemon {
        crate::Daemon::sidecar(
            &self.peer.name,
            crate::key("b"),
            crate::Launch::Nsenter,
            &[
                ("FIPS_UDP_BIND", format!("{}:{port}", self.peer_ip)),
                ("FIPS_ENFORCE", "off".into()),
            ],
        )
    }
}
