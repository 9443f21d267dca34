//! Nodes on one IPv4 segment: each node (a test identity) in a namespace
//! of its own with an `eth0`, bridged in a hub namespace, so any node can
//! reach any other over IPv4 while FIPS links only the configured pairs.
//! Node `n` of `testdata/identity.json` has 10.77.0.(10 + n)/24.
//!
//! [`Lan`] hands daemons to the test; [`Net`](crate::Net) owns them and
//! gives every node its own DNS server and resolv.conf.

use std::time::Duration;

use crate::daemon::Daemon;
use crate::keys::{key, keys, Key};
use crate::netns::{run, NetNs};
use crate::topology::Topology;
use crate::wait::wait_until;

/// The segment's addresses: 10.77.0.0/24.
pub const SUBNET: &str = "10.77.0";

/// The bridged segment and its node namespaces. Field order is drop order.
pub struct Lan {
    pub nodes: Vec<(Key, NetNs)>,
    pub hub: NetNs,
    pub dir: tempfile::TempDir,
    /// The UDP port of every node's transport.
    pub port: u16,
    /// Whether configs turn each node's DNS server on (127.0.0.1:53).
    pub dns: bool,
    /// `transports.udp.mtu` for every node (the default, 1280, if None).
    pub udp_mtu: Option<u16>,
}

impl Lan {
    /// Namespaces for `names` on port 4000, DNS off.
    pub fn new(tag: &str, names: &[&str]) -> Lan {
        Lan::build(tag, names, |ns| ns)
    }

    /// Like `new`, passing each node namespace through `prepare` before
    /// its `eth0` is made.
    pub fn build(tag: &str, names: &[&str], prepare: impl Fn(NetNs) -> NetNs) -> Lan {
        let hub = NetNs::new(&format!("{tag}h"));
        hub.ip(&["link", "add", "ftbr", "type", "bridge"]);
        hub.ip(&["link", "set", "ftbr", "up"]);
        let mut lan = Lan {
            nodes: Vec::new(),
            hub,
            dir: tempfile::tempdir().expect("tempdir"),
            port: 4000,
            dns: false,
            udp_mtu: None,
        };
        for n in names {
            let ns = prepare(NetNs::new(&format!("{tag}{n}")));
            let hub_end = format!("ftv-{n}");
            lan.hub.ip(&[
                "link", "add", &hub_end, "type", "veth", "peer", "name", "eth0", "netns", &ns.name,
            ]);
            lan.hub
                .ip(&["link", "set", &hub_end, "master", "ftbr", "up"]);
            ns.ip(&[
                "addr",
                "add",
                &format!("{}/24", Lan::ip_of(n)),
                "dev",
                "eth0",
            ]);
            ns.ip(&["link", "set", "eth0", "up"]);
            run(ns
                .command("sysctl")
                .args(["-qw", "net.ipv6.conf.all.disable_ipv6=0"]));
            lan.nodes.push((key(n), ns));
        }
        lan
    }

    /// `name`'s IPv4 address on the segment.
    pub fn ip_of(name: &str) -> String {
        let index = keys()
            .iter()
            .position(|k| k.name == name)
            .unwrap_or_else(|| panic!("no node {name:?} in testdata/identity.json"));
        Lan::host(10 + index)
    }

    /// Address `.host` of the segment, for hosts that are not nodes.
    pub fn host(host: usize) -> String {
        format!("{SUBNET}.{host}")
    }

    pub fn ns(&self, name: &str) -> &NetNs {
        &self
            .nodes
            .iter()
            .find(|(k, _)| k.name == name)
            .unwrap_or_else(|| panic!("node {name} is not on this segment"))
            .1
    }

    /// The YAML for `name`, dialling `dials`.
    pub fn config(&self, name: &str, dials: &[&str]) -> String {
        let k = key(name);
        let mut y = format!(
            "node:\n  identity:\n    nsec: \"{}\"\n  control:\n    socket_path: \"{}\"\n\
             tun:\n  enabled: true\n  name: fips0\n  mtu: 1280\n{}\
             transports:\n  udp:\n    bind_addr: \"0.0.0.0:{}\"\n",
            k.nsec,
            self.dir.path().join(format!("{name}.sock")).display(),
            if self.dns {
                "dns:\n  enabled: true\n  bind_addr: 127.0.0.1\n  port: 53\n"
            } else {
                "dns:\n  enabled: false\n"
            },
            self.port
        );
        if let Some(mtu) = self.udp_mtu {
            y += &format!("    mtu: {mtu}\n");
        }
        y += if dials.is_empty() {
            "peers: []\n"
        } else {
            "peers:\n"
        };
        for p in dials {
            y += &format!(
                "  - npub: \"{}\"\n    alias: node-{p}\n    addresses:\n      - transport: udp\n        \
                 addr: \"{}:{}\"\n    connect_policy: auto_connect\n",
                key(p).npub,
                Lan::ip_of(p),
                self.port
            );
        }
        y
    }

    /// Starts `name`'s daemon, dialling `dials`.
    pub fn start(&self, name: &str, dials: &[&str]) -> Daemon {
        let yaml = self.config(name, dials);
        Daemon::with_config(self.ns(name), self.dir.path(), key(name), &yaml)
    }

    /// Like `start`, with the DNS server on 127.0.0.1:53 of the namespace.
    pub fn start_with_dns(&self, name: &str, dials: &[&str]) -> Daemon {
        let yaml = self.config(name, dials).replace(
            "dns:\n  enabled: false\n",
            "dns:\n  enabled: true\n  bind_addr: 127.0.0.1\n  port: 53\n",
        );
        Daemon::with_config(self.ns(name), self.dir.path(), key(name), &yaml)
    }

    /// Starts every node of `topology` (the first of each link dials).
    pub fn start_topology(&self, topology: &Topology) -> Vec<Daemon> {
        topology
            .nodes()
            .iter()
            .map(|n| self.start(n, &topology.dials(n)))
            .collect()
    }

    /// `dig +short AAAA <npub of to>.fips @127.0.0.1` inside `from`: the
    /// answer of `from`'s own DNS server (which teaches its node `to`'s key).
    pub fn dig_fips(&self, from: &str, to: &str) -> String {
        let dig = self
            .ns(from)
            .command("dig")
            .args(["+short", "AAAA", &key(to).fips_name(), "@127.0.0.1"])
            .output()
            .expect("dig");
        String::from_utf8_lossy(&dig.stdout).trim().to_string()
    }
}

/// Whether `a` and `b` list each other as peers.
pub fn linked(a: &Daemon, b: &Daemon) -> bool {
    a.has_peer(b.key) && b.has_peer(a.key)
}

/// The root every daemon reports, once they all agree on `want` within
/// `timeout`; otherwise what each reports.
pub fn wait_root<'a>(
    daemons: impl Iterator<Item = &'a Daemon> + Clone,
    want: &str,
    timeout: Duration,
) -> Result<(), Vec<(&'static str, Option<String>)>> {
    let agreed = wait_until(timeout, || {
        daemons.clone().all(|d| d.root().as_deref() == Some(want))
    });
    if agreed {
        return Ok(());
    }
    Err(daemons.map(|d| (d.key.name, d.root())).collect())
}
