//! The test identities of `testdata/identity.json`: nodes a..e of the
//! static mesh ([`A`]..[`E`]) and the sidecar's development key
//! ([`SIDECAR_DEFAULT`]), as constants the build script writes from the
//! file. Test keys only.

use std::net::Ipv6Addr;
use std::sync::LazyLock;

use serde_json::Value;

/// The vectors file, as the tests and scripts read it.
pub const IDENTITY_JSON: &str = include_str!("../../testdata/identity.json");

/// One node's identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Key {
    pub name: &'static str,
    /// The secret as 64 hex characters.
    pub nsec: &'static str,
    pub npub: &'static str,
    /// The node address as 32 hex characters.
    pub node_addr: &'static str,
    /// `fd` + the first 15 bytes of SHA-256 of the x-only public key.
    pub ipv6: Ipv6Addr,
}

impl Key {
    /// `<npub>.fips`, the name the node's DNS answers for it.
    pub fn fips_name(&self) -> String {
        format!("{}.fips", self.npub)
    }
}

/// The parsed vectors file (the topologies read it at run time).
pub fn vectors() -> &'static Value {
    static VECTORS: LazyLock<Value> = LazyLock::new(|| {
        serde_json::from_str(IDENTITY_JSON).expect("testdata/identity.json is valid JSON")
    });
    &VECTORS
}

include!(concat!(env!("OUT_DIR"), "/keys.rs"));

/// Every identity of the vectors file, in its order (a..e first).
pub fn keys() -> &'static [Key] {
    &ALL
}

/// The identity named `name`; panics on an unknown name.
pub fn key(name: &str) -> Key {
    *keys()
        .iter()
        .find(|k| k.name == name)
        .unwrap_or_else(|| panic!("no node {name:?} in testdata/identity.json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_constants_are_the_files_nodes() {
        let nodes = vectors()["nodes"].as_array().expect("nodes");
        assert_eq!(nodes.len(), ALL.len());
        for (n, k) in nodes.iter().zip(ALL) {
            assert_eq!(n["npub"], k.npub);
            assert_eq!(n["nsec_hex"], k.nsec);
            assert_eq!(
                n["ipv6"].as_str().map(|s| s.parse().ok()),
                Some(Some(k.ipv6))
            );
        }
    }

    #[test]
    fn the_five_mesh_nodes_come_first_in_name_order() {
        let names: Vec<_> = keys().iter().take(5).map(|k| k.name).collect();
        assert_eq!(names, ["a", "b", "c", "d", "e"]);
    }

    #[test]
    fn a_node_address_starts_the_ipv6_address_after_fd() {
        for k in keys() {
            let octets = k.ipv6.octets();
            assert_eq!(octets[0], 0xfd, "{}", k.name);
            let hex: String = octets[1..4].iter().map(|b| format!("{b:02x}")).collect();
            assert!(k.node_addr.starts_with(&hex), "{}", k.name);
        }
    }
}
