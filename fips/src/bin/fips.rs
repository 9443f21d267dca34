//! fips: the FIPS mesh daemon. `fips -c FILE` reads the YAML file; without
//! `-c` the FIPS_* environment variables configure it (sidecar mode).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use fips::config::{Config, ProcessEnv};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(name = "fips", version, about = "FIPS mesh node")]
struct Args {
    /// YAML configuration file; without it, FIPS_* environment variables.
    #[arg(short, long, value_name = "FILE")]
    config: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let loaded = match &args.config {
        Some(path) => Config::from_file(path),
        None => Config::from_env(&ProcessEnv),
    };
    let config = match loaded {
        Ok(c) => c,
        Err(e) => {
            eprintln!("fips: {e}");
            return ExitCode::FAILURE;
        }
    };
    init_tracing(config.log_level.as_deref());
    for notice in &config.notices {
        tracing::info!("config: {notice}");
    }
    match fips::daemon::run_blocking(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("fips: {e}");
            ExitCode::FAILURE
        }
    }
}

/// RUST_LOG wins; else `node.log_level`; else info.
fn init_tracing(level: Option<&str>) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level.unwrap_or("info")))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    use std::io::IsTerminal;
    let ansi = std::io::stderr().is_terminal();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .init();
}
