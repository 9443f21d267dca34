//! `cargo xtask build-ebpf`: builds the `fips-ebpf` classifier with nightly
//! for bpfel-unknown-none and copies the object to [`OBJECT_PATH`], where
//! `fips/build.rs` finds it and embeds it in the `fips` binary.

use crate::install::{self, sh};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Relative to the workspace root; `fips/build.rs` reads the same path.
pub const OBJECT_PATH: &str = "target/bpf/fips-ebpf.o";

#[derive(clap::Args, Default)]
pub struct BuildEbpfArgs {
    /// Skip installing rust-src and bpf-linker (fail instead if missing).
    #[arg(long)]
    no_install: bool,
}

pub fn build(args: BuildEbpfArgs) -> Result<()> {
    if !args.no_install {
        install::nightly_rust_src()?;
        install::bpf_linker()?;
    }
    let root = workspace_root()?;
    let crate_dir = root.join("fips-ebpf");
    println!("xtask: building the eBPF classifier (nightly, bpfel-unknown-none)");
    sh(Command::new("cargo")
        .current_dir(&crate_dir)
        // The outer `cargo xtask` sets these for the host toolchain; the
        // nested nightly build must pick its own.
        .env_remove("RUSTC")
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("CARGO_TARGET_DIR")
        .args([
            "+nightly",
            "build",
            "--release",
            "--target",
            "bpfel-unknown-none",
            "-Z",
            "build-std=core",
        ]))?;
    let built = crate_dir.join("target/bpfel-unknown-none/release/fips-ebpf");
    let dest = root.join(OBJECT_PATH);
    copy_object(&built, &dest)?;
    println!("xtask: wrote {}", dest.display());
    Ok(())
}

fn copy_object(from: &Path, to: &Path) -> Result<()> {
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let new = std::fs::read(from).with_context(|| format!("reading {}", from.display()))?;
    // Unchanged bytes keep the old file (and its mtime), so the fips build
    // that embeds it is not redone for nothing.
    if std::fs::read(to).is_ok_and(|old| old == new) {
        return Ok(());
    }
    std::fs::write(to, new).with_context(|| format!("writing {}", to.display()))?;
    Ok(())
}

fn workspace_root() -> Result<PathBuf> {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .map(Path::to_path_buf)
        .context("xtask has no parent directory")
}
