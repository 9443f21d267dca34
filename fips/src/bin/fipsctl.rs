//! fipsctl: query and steer a running fips daemon over its control socket.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use fips::control::{self, Command, Query, Response};

#[derive(Parser)]
#[command(name = "fipsctl", version, about = "Control a running FIPS daemon")]
struct Args {
    /// Control socket of the daemon.
    #[arg(short, long, global = true, default_value = control::DEFAULT_SOCKET)]
    socket: PathBuf,
    /// Print the reply's JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Show node state: a table, or the reply's JSON with --json.
    ///
    /// Works against the reference daemon (v0.4.1) too: the replies use its
    /// field names.
    Show {
        /// status, peers, links, tree, sessions, routing, bloom (peers'
        /// filters), mmp (per-link RTT, loss, goodput), cache, connections
        /// (pending handshakes), transports, identity-cache (keys we can
        /// route to), firewall, listening-sockets (TCP/UDP listeners the
        /// mesh reaches through fips0).
        what: String,
    },
    /// Print a new identity (nsec, npub, address); contacts no daemon.
    Keygen,
    /// Manage the eBPF enforcement filter.
    Firewall {
        #[command(subcommand)]
        action: FirewallCmd,
    },
    /// Dial a peer: fipsctl connect NPUB HOST:PORT [udp]. An IP address is
    /// dialled at once; a host name is resolved by the daemon (its
    /// peer_resolver) in the background, then dialled, and kept fresh.
    Connect {
        npub: String,
        address: String,
        #[arg(default_value = "udp")]
        transport: String,
    },
    /// Drop the link to a peer.
    Disconnect { npub: String },
    /// Exit 0 only if the daemon answers, fips0 is up, the eBPF filter is
    /// attached and no packet socket but the daemon's is open in the
    /// namespace, DNS answers the node's own name and, when peers are
    /// configured (FIPS_PEER_NPUB, FIPS_PEERS), a link to one of them is up
    /// and answering (the sidecar's HEALTHCHECK).
    Health {
        /// DNS server to query ("off" to skip).
        #[arg(long, default_value = "127.0.0.1:53")]
        dns: String,
        /// Do not require the eBPF filter nor check for packet sockets
        /// (FIPS_ENFORCE=0 also skips both).
        #[arg(long)]
        no_filter: bool,
    },
}

#[derive(Subcommand)]
enum FirewallCmd {
    /// Detach the filter from the interface: the TC and XDP programs and the
    /// netfilter egress backstop (traffic is no longer restricted).
    Remove,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => die_of_sigpipe(),
        Err(e) => {
            eprintln!("fipsctl: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<()> {
    let command = match args.command {
        Cmd::Keygen => return keygen(args.json),
        Cmd::Health { dns, no_filter } => return health(&args.socket, &dns, no_filter),
        Cmd::Show { what } => Command::Show(Query::from_cli_name(&what).with_context(|| {
            let known: Vec<&str> = Query::ALL.iter().map(|q| q.cli_name()).collect();
            format!(
                "unknown: show {what} (expected one of: {})",
                known.join(", ")
            )
        })?),
        Cmd::Firewall {
            action: FirewallCmd::Remove,
        } => Command::FirewallRemove,
        Cmd::Connect {
            npub,
            address,
            transport,
        } => Command::Connect {
            npub,
            address,
            transport,
        },
        Cmd::Disconnect { npub } => Command::Disconnect { npub },
    };
    let data = match control::request(&args.socket, &command)? {
        Response::Ok(data) => data,
        Response::Error(message) => bail!("{}: {message}", command.name()),
    };
    match (&command, args.json) {
        (Command::Show(q), false) => out(&control::render(*q, &data)),
        (_, false) if data.is_null() => out("ok\n"),
        _ => out(&(serde_json::to_string_pretty(&data)? + "\n")),
    }
}

fn health(socket: &std::path::Path, dns: &str, no_filter: bool) -> Result<()> {
    let dns = match dns {
        "off" => None,
        s => Some(
            s.parse()
                .with_context(|| format!("--dns: expected IP:PORT or off, got {s:?}"))?,
        ),
    };
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let check = control::HealthCheck {
        socket,
        dns,
        peer_npubs: env("FIPS_PEER_NPUB")
            .map(|n| n.trim().to_string())
            .into_iter()
            .chain(env("FIPS_PEERS").map_or_else(Vec::new, |l| fips::config::fips_peers_npubs(&l)))
            .collect(),
        require_filter: !no_filter && env("FIPS_ENFORCE").as_deref() != Some("0"),
    };
    out(&(check.run()? + "\n"))
}

/// `keygen --json`, keys in the order fipsctl always printed them.
#[derive(serde::Serialize)]
struct Keygen<'a> {
    ipv6_addr: String,
    npub: String,
    nsec: &'a str,
}

fn keygen(json: bool) -> Result<()> {
    let id = fips_proto::identity::Identity::generate(&mut rand::rngs::OsRng);
    let (nsec, npub, addr) = (id.nsec(), id.public().npub(), id.public().ipv6());
    if json {
        let key = Keygen {
            ipv6_addr: addr.to_string(),
            npub,
            nsec: &nsec,
        };
        out(&(serde_json::to_string_pretty(&key)? + "\n"))
    } else {
        out(&format!("nsec    {nsec}\nnpub    {npub}\naddress {addr}\n"))
    }
}

/// Writes to stdout without `print!`, which panics when the reader has
/// gone (`fipsctl show ... | head`): a closed pipe comes back as an error.
fn out(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.downcast_ref::<std::io::Error>()
        .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}

/// Ends the process the way `ls | head` ends `ls`: killed by SIGPIPE,
/// quietly, so shells and `pipefail` see the usual status (141). Rust
/// ignores SIGPIPE at start-up (the control socket needs that), so the
/// default action is restored only here, after the reader has gone.
fn die_of_sigpipe() -> ExitCode {
    // SAFETY: signal(2) and raise(3) with constant arguments; nothing else
    // runs in this single-threaded process while they do.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::raise(libc::SIGPIPE);
    }
    // Not reached: SIGPIPE's default action ends the process.
    ExitCode::from(141)
}
