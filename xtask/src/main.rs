//! Developer tasks: `cargo xtask <task>`. Each task says what it installs.

mod ebpf;
mod install;
mod mesh;
mod soak;
mod test;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "FIPS sidecar developer tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Install what the tests need (apt packages, nightly rust-src, bpf-linker).
    Install,
    /// Run every test: installs what is missing, builds the eBPF program,
    /// checks fmt and clippy, runs the workspace tests as root.
    Test(test::TestArgs),
    /// The main job: a local 5-node FIPS mesh in network namespaces (no Docker).
    Mesh(mesh::MeshArgs),
    /// Build the eBPF classifier (installs nightly rust-src and bpf-linker
    /// if missing) and write it where the `fips` build embeds it.
    BuildEbpf(ebpf::BuildEbpfArgs),
}

/// Errors are printed as one chain of causes, without a backtrace: the last
/// lines of a failed run are the failing step's own summary and this line.
fn main() -> std::process::ExitCode {
    let result = match Cli::parse().task {
        Task::Install => install::all(),
        Task::Test(args) => test::run(args),
        Task::Mesh(args) => mesh::run(args),
        Task::BuildEbpf(args) => ebpf::build(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
