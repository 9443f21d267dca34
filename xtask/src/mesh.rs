//! `cargo xtask mesh`: the main job, a local FIPS mesh plus a sidecar in
//! network namespaces, driven by testing/netns/mesh.sh.

use crate::install::{self, sh};
use anyhow::Result;
use std::process::Command;

#[derive(clap::Args)]
pub struct MeshArgs {
    /// What to do: up (default), status, down.
    #[arg(default_value = "up")]
    action: String,
}

pub fn run(args: MeshArgs) -> Result<()> {
    if args.action == "up" {
        install::all()?;
        crate::ebpf::build(crate::ebpf::BuildEbpfArgs::default())?;
        println!("xtask: building fips and fipsctl (release)");
        sh(Command::new("cargo").args(["build", "--release", "-p", "fips"]))?;
    }
    sh(Command::new("bash").args(["testing/netns/mesh.sh", &args.action]))
}
