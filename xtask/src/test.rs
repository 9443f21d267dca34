//! `cargo xtask test`: everything CI runs, in the order a new machine needs.

use crate::install::{self, sh};
use anyhow::Result;
use std::process::Command;

#[derive(clap::Args)]
pub struct TestArgs {
    /// Skip `cargo fmt --check`, clippy and the fuzz-target build check (quicker local iterations).
    #[arg(long)]
    no_lint: bool,
    /// Skip the Docker sidecar harness (testing/sidecar/scripts/test-sidecar.sh).
    #[arg(long)]
    no_docker: bool,
    /// Skip the run of the main job (`cargo xtask mesh` up and down).
    #[arg(long)]
    no_mesh: bool,
    /// Skip the short loss and churn soaks (testing/soak/, about 2 minutes).
    #[arg(long)]
    no_soak: bool,
    /// Extra arguments passed to `cargo test` (e.g. a test name filter).
    #[arg(trailing_var_arg = true)]
    cargo_args: Vec<String>,
}

fn run_tests(args: &TestArgs) -> Result<()> {
    let mut cmd = Command::new("cargo");
    cmd.env("FIPS_REQUIRE_EBPF", "1")
        .args(["test", "--workspace", "--all-targets"]);
    if !args.cargo_args.is_empty() {
        cmd.args(&args.cargo_args);
    }
    sh(&mut cmd)
}

pub fn run(args: TestArgs) -> Result<()> {
    require_root()?;
    install::all()?;
    crate::ebpf::build(crate::ebpf::BuildEbpfArgs::default())?;
    if !args.no_lint {
        println!("xtask: cargo fmt --check");
        sh(Command::new("cargo").args(["fmt", "--all", "--check"]))?;
        println!("xtask: cargo clippy -D warnings");
        sh(Command::new("cargo").env("FIPS_REQUIRE_EBPF", "1").args([
            "clippy",
            "--workspace",
            "--all-targets",
            // The core's examples (core_bench, meshsim) build only with
            // these; lint them too so they cannot rot.
            "--features",
            "fips-proto/bench,fips-proto/sim",
            "--",
            "-D",
            "warnings",
        ]))?;
        // The fuzz targets live outside the workspace (cargo-fuzz wants
        // nightly): check that they still build against today's APIs.
        println!("xtask: cargo +nightly check of the fuzz targets (fuzz/)");
        sh(Command::new("cargo").args([
            "+nightly",
            "check",
            "--manifest-path",
            "fuzz/Cargo.toml",
            "--bins",
        ]))?;
    }
    run_tests(&args)?;
    if !args.no_mesh {
        main_job()?;
    }
    if !args.no_soak {
        crate::soak::run()?;
    }
    if !args.no_docker {
        println!("xtask: the Docker sidecar harness (testing/sidecar/scripts/test-sidecar.sh)");
        sh(Command::new("bash").arg("testing/sidecar/scripts/test-sidecar.sh"))?;
    }
    Ok(())
}

/// The main job as `cargo xtask mesh` runs it, in namespaces of its own
/// (prefix fd-ci), so a mesh the user has up is left alone: `up` fails
/// unless every link comes up, names resolve across the mesh, the sidecar
/// namespace is isolated and its filter holds through kill -9; `down` runs
/// whatever `up` said.
fn main_job() -> Result<()> {
    println!("xtask: the main job (cargo xtask mesh up, then down; namespaces fd-ci-*)");
    sh(Command::new("cargo").args(["build", "--release", "-p", "fips"]))?;
    let mesh = crate::mesh::Mesh {
        prefix: "fd-ci".into(),
        rundir: "/tmp/fips-mesh-ci".into(),
        ..crate::mesh::Mesh::from_env()?
    };
    let up = mesh.up();
    let down = mesh.down();
    up.and(down)
}

fn require_root() -> Result<()> {
    let out = Command::new("id").arg("-u").output()?;
    if String::from_utf8_lossy(&out.stdout).trim() != "0" {
        anyhow::bail!(
            "the tests create network namespaces, TUN devices and eBPF programs: run as root (sudo -E cargo xtask test)"
        );
    }
    Ok(())
}
