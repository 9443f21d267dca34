//! Installs what the project needs on a fresh Debian 12 machine, saying what
//! it installs. Everything is skipped when already present.

use anyhow::{bail, Context, Result};
use std::process::Command;

/// Debian packages: (package, a file it provides that tells us it is there).
pub const APT_PACKAGES: &[(&str, &str)] = &[
    ("iproute2", "/usr/sbin/ip"),
    ("iputils-ping", "/usr/bin/ping"),
    ("dnsutils", "/usr/bin/dig"),
    ("iptables", "/usr/sbin/iptables"),
    ("bpftool", "/usr/sbin/bpftool"),
    ("util-linux", "/usr/bin/setpriv"),
    ("libcap2-bin", "/usr/sbin/capsh"),
    ("iperf3", "/usr/bin/iperf3"),
    ("curl", "/usr/bin/curl"),
    ("python3", "/usr/bin/python3"),
    ("procps", "/usr/bin/pgrep"),
    ("bc", "/usr/bin/bc"),
    ("jq", "/usr/bin/jq"),
    // objcopy: splits the debug info off the sidecar image's binaries.
    ("binutils", "/usr/bin/objcopy"),
];

pub fn all() -> Result<()> {
    apt(APT_PACKAGES)?;
    nightly_rust_src()?;
    bpf_linker()
}

pub fn apt(pkgs: &[(&str, &str)]) -> Result<()> {
    let missing: Vec<&str> = pkgs
        .iter()
        .filter(|(_, probe)| !std::path::Path::new(probe).exists())
        .map(|(p, _)| *p)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    println!("xtask: installing Debian packages: {}", missing.join(" "));
    sh(Command::new("apt-get").args(["update", "-qq"]))?;
    sh(Command::new("apt-get")
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive"))
}

pub fn nightly_rust_src() -> Result<()> {
    let out = Command::new("rustup")
        .args(["component", "list", "--installed", "--toolchain", "nightly"])
        .output()
        .context("running rustup (is rustup installed?)")?;
    let listed = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        println!("xtask: installing the nightly toolchain");
        sh(Command::new("rustup").args([
            "toolchain",
            "install",
            "nightly",
            "--profile",
            "minimal",
        ]))?;
    }
    if !listed.contains("rust-src") {
        println!(
            "xtask: installing rust-src for nightly (needed by -Z build-std for the eBPF program)"
        );
        sh(Command::new("rustup").args([
            "component",
            "add",
            "rust-src",
            "--toolchain",
            "nightly",
        ]))?;
    }
    Ok(())
}

pub fn bpf_linker() -> Result<()> {
    let ok = Command::new("bpf-linker")
        .arg("--version")
        .output()
        .map(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains("0.10.2"))
        .unwrap_or(false);
    if ok {
        return Ok(());
    }
    println!(
        "xtask: installing bpf-linker 0.10.2 (links the eBPF program with the nightly's LLVM)"
    );
    sh(Command::new("cargo").args(["install", "bpf-linker@0.10.2", "--locked"]))
}

pub fn sh(cmd: &mut Command) -> Result<()> {
    let status = cmd.status().with_context(|| format!("starting {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}
