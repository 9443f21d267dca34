//! Shared by the DNS integration tests: the server on its own thread (and,
//! when asked, inside a network namespace), a namespace with a resolv.conf, a
//! tiny upstream server, and runners for `dig` and `getent`.
#![allow(dead_code)] // each test binary uses part of it

use std::fs;

use std::net::{Ipv4Addr, SocketAddr};

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;

use fips::dns::{DnsConfig, DnsServer, PeerIdentity};
pub use fips_testkit::keys;
use fips_testkit::netns::enter_thread;
pub use fips_testkit::NetNs;
use hickory_server::proto::op::{Message, ResponseCode};
use hickory_server::proto::rr::rdata::A;
use hickory_server::proto::rr::{RData, Record};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, oneshot};

/// Test vectors (testdata/identity.json, nodes a, b, c).
pub const NPUB_A: &str = keys::A.npub;
pub const NPUB_B: &str = keys::B.npub;
pub const NPUB_C: &str = keys::C.npub;

/// The text form of a node's address, as dig and getent print it.
pub fn ipv6_of(k: keys::Key) -> String {
    k.ipv6.to_string()
}
/// What the tiny upstream answers for every A query.
pub const UPSTREAM_A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 77);

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// A name unique to this process and call, with our prefix.
pub fn unique(tag: &str) -> String {
    format!(
        "fdns-{tag}-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

pub fn id(npub: &str) -> PeerIdentity {
    PeerIdentity::from_npub(npub).expect("test vector npub")
}

/// A hosts file in a fresh temporary directory, removed on drop.
pub struct TempHosts {
    pub path: PathBuf,
}

impl TempHosts {
    pub fn new(text: &str) -> TempHosts {
        let dir = std::env::temp_dir().join(unique("hosts"));
        fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("hosts");
        fs::write(&path, text).expect("write hosts");
        TempHosts { path }
    }

    /// Replaces the file the way editors do (new inode), so the change is
    /// seen even within one mtime tick.
    pub fn rewrite(&self, text: &str) {
        let tmp = self.path.with_extension("new");
        fs::write(&tmp, text).expect("write hosts");
        fs::rename(&tmp, &self.path).expect("rename hosts");
    }
}

impl Drop for TempHosts {
    fn drop(&mut self) {
        if let Some(dir) = self.path.parent() {
            let _ = fs::remove_dir_all(dir);
        }
    }
}

/// A network namespace whose resolv.conf points at 127.0.0.1, with a
/// veth pair holding an IPv6 and an IPv4 address: getaddrinfo
/// (AI_ADDRCONFIG) asks for a family only when a non-loopback address of
/// it exists, as fips0's does in the sidecar.
pub fn resolver_ns(tag: &str) -> NetNs {
    let ns = NetNs::new(&format!("dns-{tag}"))
        .with_resolv_conf("nameserver 127.0.0.1\noptions timeout:2 attempts:1\n");
    ns.ip(&[
        "link", "add", "fdns0", "type", "veth", "peer", "name", "fdns1",
    ]);
    ns.ip(&["addr", "add", "fd00::1/128", "dev", "fdns0", "nodad"]);
    ns.ip(&["addr", "add", "192.0.2.1/32", "dev", "fdns0"]);
    ns.ip(&["link", "set", "fdns0", "up"]);
    ns.ip(&["link", "set", "fdns1", "up"]);
    ns
}

/// Something running on its own thread and current-thread runtime, stopped
/// and joined on drop.
pub struct Background {
    stop: Option<oneshot::Sender<()>>,
    join: Option<JoinHandle<()>>,
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(join) = self.join.take() {
            let _ = join.join();
        }
    }
}

pub struct ServerThread {
    pub addr: SocketAddr,
    pub identities: mpsc::Receiver<PeerIdentity>,
    _bg: Background,
}

impl Background {
    /// Runs `body` on a new thread (in `netns` if given) with its own
    /// current-thread runtime; returns the first value `body` sends on its
    /// ready channel (`what` names the thread if it dies first). `body`
    /// should return once its stop receiver fires.
    fn spawn<T, F>(
        netns: Option<&str>,
        what: &str,
        body: impl FnOnce(std_mpsc::Sender<T>, oneshot::Receiver<()>) -> F + Send + 'static,
    ) -> (T, Background)
    where
        T: Send + 'static,
        F: std::future::Future<Output = ()>,
    {
        let (ready_tx, ready_rx) = std_mpsc::channel();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let netns = netns.map(str::to_owned);
        let join = std::thread::spawn(move || {
            if let Some(ns) = &netns {
                enter_thread(ns);
            }
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(body(ready_tx, stop_rx));
        });
        let ready = ready_rx.recv().expect(what);
        let bg = Background {
            stop: Some(stop_tx),
            join: Some(join),
        };
        (ready, bg)
    }
}

/// Starts the DNS server (in `netns` if given) and returns once it is bound.
pub fn start_server(cfg: DnsConfig, netns: Option<&str>) -> ServerThread {
    let (ready, _bg) = Background::spawn(netns, "server thread", |ready_tx, stop_rx| async move {
        let (tx, rx) = mpsc::channel(64);
        let server = match DnsServer::bind(cfg, tx).await {
            Ok(server) => server,
            Err(e) => {
                let _ = ready_tx.send(Err(e.to_string()));
                return;
            }
        };
        let _ = ready_tx.send(Ok((server.local_addr(), rx)));
        let _ = server.run(async { drop(stop_rx.await) }).await;
    });
    let (addr, identities) = ready.expect("DnsServer::bind");
    ServerThread {
        addr,
        identities,
        _bg,
    }
}

/// How the tiny upstream behaves.
#[derive(Clone, Copy)]
pub enum Upstream {
    /// Answers every question with an A record `UPSTREAM_A` (UDP and TCP).
    Answers,
    /// Reads queries and never answers.
    Silent,
}

/// A tiny upstream DNS server on `addr` (UDP and TCP), in `netns` if given.
pub fn start_upstream(
    addr: SocketAddr,
    mode: Upstream,
    netns: Option<&str>,
) -> (SocketAddr, Background) {
    Background::spawn(
        netns,
        "upstream thread",
        move |ready_tx, stop_rx| async move {
            let udp = UdpSocket::bind(addr).await.expect("upstream udp");
            let local = udp.local_addr().expect("local addr");
            let tcp = TcpListener::bind(local).await.expect("upstream tcp");
            let _ = ready_tx.send(local);
            tokio::select! {
                () = upstream_udp(udp, mode) => {}
                () = upstream_tcp(tcp, mode) => {}
                _ = stop_rx => {}
            }
        },
    )
}

fn upstream_answer(query: &[u8]) -> Option<Vec<u8>> {
    let query = Message::from_vec(query).ok()?;
    let mut reply = Message::response(query.metadata.id, query.metadata.op_code);
    reply.metadata.recursion_desired = query.metadata.recursion_desired;
    reply.metadata.recursion_available = true;
    reply.metadata.response_code = ResponseCode::NoError;
    for q in &query.queries {
        reply.add_query(q.clone());
        reply.add_answer(Record::from_rdata(
            q.name().clone(),
            60,
            RData::A(A(UPSTREAM_A)),
        ));
    }
    reply.to_vec().ok()
}

async fn upstream_udp(udp: UdpSocket, mode: Upstream) {
    let mut buf = [0u8; 4096];
    while let Ok((n, from)) = udp.recv_from(&mut buf).await {
        if let (Upstream::Answers, Some(reply)) = (mode, upstream_answer(&buf[..n])) {
            let _ = udp.send_to(&reply, from).await;
        }
    }
}

async fn upstream_tcp(tcp: TcpListener, mode: Upstream) {
    while let Ok((mut stream, _)) = tcp.accept().await {
        tokio::spawn(async move {
            let mut len = [0u8; 2];
            while stream.read_exact(&mut len).await.is_ok() {
                let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
                if stream.read_exact(&mut buf).await.is_err() {
                    return;
                }
                let Upstream::Answers = mode else { continue };
                let Some(reply) = upstream_answer(&buf) else {
                    return;
                };
                let Ok(n) = u16::try_from(reply.len()) else {
                    return;
                };
                let mut framed = n.to_be_bytes().to_vec();
                framed.extend_from_slice(&reply);
                if stream.write_all(&framed).await.is_err() {
                    return;
                }
            }
        });
    }
}

/// `dig` against `server` with short timeouts; returns its full output.
pub fn dig(server: SocketAddr, args: &[&str]) -> String {
    let out = Command::new("dig")
        .arg(format!("@{}", server.ip()))
        .args(["-p", &server.port().to_string(), "+time=3", "+tries=1"])
        .args(args)
        .output()
        .expect("dig (apt-get install dnsutils)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The `status:` of a dig answer (NOERROR, NXDOMAIN, ...).
pub fn status(dig_output: &str) -> String {
    dig_output
        .split("status: ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .unwrap_or("NO ANSWER")
        .to_owned()
}

/// The header flags of a dig answer, e.g. "qr aa rd".
pub fn flags(dig_output: &str) -> String {
    dig_output
        .split(";; flags: ")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .unwrap_or("")
        .to_owned()
}

/// The records of the ANSWER section as (name, ttl, type, data).
pub fn answers(dig_output: &str) -> Vec<(String, u32, String, String)> {
    section(dig_output, ";; ANSWER SECTION:")
}

pub fn authority(dig_output: &str) -> Vec<(String, u32, String, String)> {
    section(dig_output, ";; AUTHORITY SECTION:")
}

fn section(dig_output: &str, header: &str) -> Vec<(String, u32, String, String)> {
    let Some(rest) = dig_output.split(header).nth(1) else {
        return Vec::new();
    };
    rest.lines()
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let ttl = f.get(1)?.parse().ok()?;
            Some((
                f[0].to_owned(),
                ttl,
                f.get(3)?.to_string(),
                f[4..].join(" "),
            ))
        })
        .collect()
}
