//! Two real `fips` daemons linked over UDP across the sidecar's eth0, and
//! the sidecar daemon's transport socket, borrowed from the running
//! process with pidfd_getfd(2) so the bench can attach the classifier
//! with the daemon's own socket cookie (the daemon runs with enforcement
//! off, so one pair of daemons serves every setup).

use std::net::{Ipv6Addr, SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use fips_testkit::{key, wait_until, Daemon, Key, SidecarPair};

pub struct Pair {
    pub sidecar: Daemon,
    pub peer: Daemon,
    _dir: tempfile::TempDir,
}

impl Pair {
    /// Starts both daemons on `port` and waits until they are linked.
    pub fn start(topo: &SidecarPair, port: u16) -> Pair {
        for ns in [&topo.sidecar, &topo.peer] {
            // Paused streams resume at full window.
            ns.sysctl(&["net.ipv4.tcp_slow_start_after_idle=0"]);
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let (a, b) = (key("a"), key("b"));
        let sidecar_bind = format!("{}:{port}", topo.sidecar_ip);
        let peer_bind = format!("{}:{port}", topo.peer_ip);
        let peer = Daemon::with_env_in(
            &topo.peer.name,
            dir.path(),
            b,
            &[
                ("FIPS_NSEC", b.nsec),
                ("FIPS_UDP_BIND", &peer_bind),
                ("FIPS_ENFORCE", "off"),
            ],
        );
        let sidecar = Daemon::with_env_in(
            &topo.sidecar.name,
            dir.path(),
            a,
            &[
                ("FIPS_NSEC", a.nsec),
                ("FIPS_UDP_BIND", &sidecar_bind),
                ("FIPS_PEER_NPUB", b.npub),
                ("FIPS_PEER_ADDR", &peer_bind),
                ("FIPS_ENFORCE", "off"),
            ],
        );
        let pair = Pair {
            sidecar,
            peer,
            _dir: dir,
        };
        let linked = wait_until(Duration::from_secs(20), || {
            pair.sidecar.has_peer(b) && pair.peer.has_peer(a)
        });
        assert!(linked, "daemons did not link:\n{}", pair.logs());
        pair
    }

    pub fn logs(&self) -> String {
        format!(
            "--- sidecar\n{}\n--- peer\n{}",
            self.sidecar.log(),
            self.peer.log()
        )
    }

    /// The sidecar daemon's UDP sockets bound to `local` (its transport).
    pub fn transport_sockets(&self, local: SocketAddr) -> Vec<UdpSocket> {
        let pid = self.sidecar.pid().expect("sidecar daemon running");
        let sockets = sockets_of(pid, local);
        assert!(
            !sockets.is_empty(),
            "no UDP socket on {local} in process {pid}:\n{}",
            self.logs()
        );
        sockets
    }
}

/// The `fd...` address of a node: fd + the first 15 bytes of its node_addr.
pub fn fips_addr(k: Key) -> Ipv6Addr {
    let mut b = [0u8; 16];
    b[0] = 0xfd;
    for (i, slot) in b[1..].iter_mut().enumerate() {
        *slot = u8::from_str_radix(&k.node_addr[2 * i..2 * i + 2], 16).expect("hex node_addr");
    }
    Ipv6Addr::from(b)
}

/// Duplicates every UDP socket of process `pid` bound to `local`.
fn sockets_of(pid: u32, local: SocketAddr) -> Vec<UdpSocket> {
    // SAFETY: pidfd_open(2) with a pid and no flags; the result is checked.
    let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    assert!(raw >= 0, "pidfd_open: {}", std::io::Error::last_os_error());
    // SAFETY: a fresh descriptor we own.
    let pidfd = unsafe { OwnedFd::from_raw_fd(raw as RawFd) };
    let dir = format!("/proc/{pid}/fd");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{dir}: {e}")) {
        let Ok(entry) = entry else { continue };
        let is_socket = std::fs::read_link(entry.path())
            .is_ok_and(|t| t.to_string_lossy().starts_with("socket:"));
        let Some(target) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        if !is_socket {
            continue;
        }
        // SAFETY: pidfd_getfd(2) on our pidfd; the result is checked.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), target, 0) };
        if fd < 0 {
            continue; // closed since the listing
        }
        // SAFETY: pidfd_getfd returned a new descriptor, now ours.
        let socket = UdpSocket::from(unsafe { OwnedFd::from_raw_fd(fd as RawFd) });
        if is_datagram(&socket) && socket.local_addr().ok() == Some(local) {
            out.push(socket);
        }
    }
    out
}

fn is_datagram(socket: &UdpSocket) -> bool {
    let mut kind: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: the out pointers are valid for `len` bytes.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_TYPE,
            &mut kind as *mut libc::c_int as *mut libc::c_void,
            &mut len,
        )
    };
    rc == 0 && kind == libc::SOCK_DGRAM
}
