//! fips: the FIPS mesh daemon. `fips -c FILE` reads the YAML file; without
//! `-c` the FIPS_* environment variables configure it (sidecar mode).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use fips::config::{Config, LogFormat, ProcessEnv};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "fips",
    version,
    about = "FIPS mesh node: UDP links, TUN fips0, .fips DNS, control socket, eBPF filter on eth0",
    after_help = "\
Without -c, these environment variables configure the node (sidecar mode):
  FIPS_NSEC / FIPS_NSEC_FILE  secret key, hex or nsec1 (else a key file is made and kept)
  FIPS_PEER_NPUB, FIPS_PEER_ADDR (host:port), FIPS_PEER_ALIAS [peer]
  FIPS_PEERS  more peers: [alias=]npub1...@host:port, separated by commas
  FIPS_PEER_RESOLVER [system resolver]  DNS server for peer host names; the
    daemon resolves them at start and every 30 s, and a peer is dialled once
    its name resolves (node.peer_resolver in a config file)
  FIPS_UDP_BIND [0.0.0.0:4000]  FIPS_UDP_MTU [1280]  FIPS_TUN_MTU [1280]
  FIPS_DNS_UPSTREAM [none: other names are REFUSED]
  FIPS_ENFORCE [1]  FIPS_ENFORCE_IFACE [eth0]  RUST_LOG [info]
  FIPS_METRICS_ADDR [off]  Prometheus GET /metrics on IP:port, e.g. 0.0.0.0:9464
    (metrics.bind_addr in a config file); the filter opens it for the daemon only
  FIPS_LOG_FORMAT [text]  text, or json: one JSON object per line (log.format)
  FIPS_DRAIN_TIMEOUT_SECS [2]  on SIGTERM the daemon sends Disconnect to every
    peer, keeps serving this long, then exits 0 (node.drain_timeout_secs)
  FIPS_MAX_PEERS [128]  FIPS_MAX_LINKS [256]  FIPS_MAX_CONNECTIONS [256]
    authenticated peers; links (peers plus our handshakes in flight); our
    handshakes in flight; each 1 to 16384 (node.limits.max_* in a config file)
  FIPS_IDENTITY_IDLE_SECS [600]  a key nothing used this long (a DNS answer no
    packet followed) is forgotten; linked peers' and sessions' never; 1 to
    86400 (node.identity_idle_secs)
The control socket is then /run/fips/control.sock (fipsctl's default)."
)]
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
            eprintln!("fips: {}", fips::daemon::describe(&e));
            return ExitCode::FAILURE;
        }
    };
    init_tracing(config.log_level.as_deref(), config.log_format);
    for notice in &config.notices {
        tracing::info!("config: {notice}");
    }
    match fips::daemon::run_blocking(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let e = fips::daemon::describe(&e);
            tracing::error!("{e}");
            eprintln!("fips: {e}");
            ExitCode::FAILURE
        }
    }
}

/// RUST_LOG wins; else `node.log_level`; else info. hickory logs every DNS
/// request at INFO, so its target is held at warn unless RUST_LOG names it.
/// `json` writes one object per line (event fields at the top level).
fn init_tracing(level: Option<&str>, format: LogFormat) {
    use std::io::IsTerminal;
    let env = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty());
    let base = env
        .clone()
        .unwrap_or_else(|| level.unwrap_or("info").to_string());
    let directives = if base.contains("hickory") {
        base
    } else {
        format!("{base},hickory_server=warn")
    };
    let filter = EnvFilter::try_new(&directives).unwrap_or_else(|e| {
        eprintln!("fips: ignoring log filter {directives:?}: {e}");
        EnvFilter::new("info,hickory_server=warn")
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .init(),
    }
}
