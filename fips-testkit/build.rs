//! Writes the test identities of `testdata/identity.json` as Rust
//! constants (`keys.rs` in OUT_DIR), so tests name them in `const`s and
//! format strings while the file stays their one source.

use std::fmt::Write as _;
use std::net::Ipv6Addr;

fn main() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/identity.json");
    println!("cargo::rerun-if-changed={path}");
    let text = std::fs::read_to_string(path).expect("read testdata/identity.json");
    let v: serde_json::Value = serde_json::from_str(&text).expect("identity.json is JSON");
    let nodes = v["nodes"].as_array().expect("identity.json: nodes");
    let mut out = String::new();
    let mut all = Vec::new();
    for n in nodes {
        let field = |f: &str| n[f].as_str().unwrap_or_else(|| panic!("node without {f}"));
        let name = field("name");
        let ident = name.to_uppercase().replace('-', "_");
        let ip: Ipv6Addr = field("ipv6").parse().expect("ipv6");
        let seg = ip.segments().map(|s| format!("{s:#06x}")).join(", ");
        writeln!(
            out,
            "/// Test node `{name}` of testdata/identity.json.\n\
             pub const {ident}: Key = Key {{ name: {name:?}, nsec: {:?}, npub: {:?}, \
             node_addr: {:?}, ipv6: Ipv6Addr::new({seg}) }};",
            field("nsec_hex"),
            field("npub"),
            field("node_addr_hex"),
        )
        .expect("write");
        all.push(ident);
    }
    writeln!(
        out,
        "/// Every identity, in the file's order.\npub const ALL: [Key; {}] = [{}];",
        all.len(),
        all.join(", ")
    )
    .expect("write");
    let dest = std::path::Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("keys.rs");
    std::fs::write(dest, out).expect("write keys.rs");
}
