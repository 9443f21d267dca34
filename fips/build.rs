//! Finds the eBPF classifier that `cargo xtask build-ebpf` wrote and hands
//! its path to `include_bytes!` in `src/enforce/loader.rs`.
//!
//! A missing object does not fail the build, so `cargo build` works on a
//! fresh clone and on machines without nightly or bpf-linker: an empty
//! object is embedded and `Enforcer::attach` then fails with "run `cargo
//! xtask build-ebpf`". Set FIPS_REQUIRE_EBPF=1 (release, CI) to make a
//! missing object a build error instead.

use std::path::PathBuf;

/// Same path as `xtask/src/ebpf.rs` `OBJECT_PATH`, from the workspace root.
const OBJECT_PATH: &str = "../target/bpf/fips-ebpf.o";

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let object = manifest.join(OBJECT_PATH);
    println!("cargo:rerun-if-changed={}", object.display());
    println!("cargo:rerun-if-env-changed=FIPS_REQUIRE_EBPF");
    if object.exists() {
        println!("cargo:rustc-env=FIPS_EBPF_OBJECT={}", object.display());
        return;
    }
    if std::env::var_os("FIPS_REQUIRE_EBPF").is_some_and(|v| v == "1") {
        eprintln!(
            "error: the eBPF classifier {} is missing: run `cargo xtask build-ebpf` first",
            object.display()
        );
        std::process::exit(1);
    }
    println!(
        "cargo:warning=eBPF classifier not built ({} missing): enforcement will fail at runtime; run `cargo xtask build-ebpf`",
        object.display()
    );
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default()).join("empty.o");
    if let Err(e) = std::fs::write(&out, b"") {
        eprintln!("error: writing {}: {e}", out.display());
        std::process::exit(1);
    }
    println!("cargo:rustc-env=FIPS_EBPF_OBJECT={}", out.display());
}
