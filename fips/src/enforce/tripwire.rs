//! The packet-socket tripwire. A packet socket (`AF_PACKET`) in the
//! sidecar's network namespace means some process there holds CAP_NET_RAW:
//! it sees frames on eth0 beside the filter and can send frames that no TC
//! hook sees. The filter cannot stop that; the operator can, by dropping
//! the capability. So the daemon looks once a second and says so.
//!
//! Source: `/proc/net/packet`, not `NETLINK_SOCK_DIAG` with `packet_diag`.
//! Both list the namespace's packet sockets with their inodes; the proc file
//! exists wherever AF_PACKET does, while `packet_diag` is a module of its
//! own on distribution kernels (Debian: `CONFIG_PACKET_DIAG=m`) that a
//! container cannot load, and its extra detail (rings, fanout, filters) is
//! not needed to name the fix. One read of a short file a second is cheap.
//!
//! Owns parsing that file, telling our own sockets (by inode, from
//! `/proc/self/fd`) from foreign ones, and finding a socket's process. It
//! must not act on the sockets: it reports, health decides.

use std::collections::{BTreeMap, HashSet};
use std::io;

use serde::{Deserialize, Serialize};

/// Where the kernel lists the calling thread's namespace's packet sockets.
pub const PROC_PACKET: &str = "/proc/thread-self/net/packet";

/// A packet socket that is not the daemon's own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PacketSocket {
    pub inode: u64,
    /// `raw` (whole frames) or `dgram` (without the link header).
    #[serde(rename = "type")]
    pub kind: String,
    /// The ethertype it receives, as `0x0003`; `0x0000` receives nothing
    /// but can still send.
    pub protocol: String,
    /// The interface it is bound to; `any` when unbound (all interfaces).
    pub interface: String,
    /// The owner's uid as seen from this namespace.
    pub uid: u32,
    /// The process holding it, when visible from here (another PID
    /// namespace, e.g. another container, hides it).
    pub pid: Option<u32>,
    pub process: Option<String>,
}

impl PacketSocket {
    /// One line for logs and `fipsctl health`.
    pub fn describe(&self) -> String {
        let owner = match (self.pid, &self.process) {
            (Some(pid), Some(name)) => format!("process {pid} ({name})"),
            (Some(pid), None) => format!("process {pid}"),
            _ => "process not visible from the daemon's PID namespace".to_owned(),
        };
        format!(
            "inode {}, {} socket, protocol {} ({}), interface {}, uid {}, {owner}",
            self.inode,
            self.kind,
            self.protocol,
            protocol_name(&self.protocol),
            self.interface,
            self.uid
        )
    }
}

/// What `fipsctl show firewall` carries about the tripwire.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TripwireReport {
    /// Foreign packet sockets open at the last look.
    pub open: Vec<PacketSocket>,
    /// Foreign packet sockets seen since the daemon started.
    pub seen: u64,
}

/// One line of `/proc/net/packet`, before we know whose it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub inode: u64,
    pub sock_type: u32,
    pub protocol: u16,
    pub ifindex: u32,
    pub uid: u32,
}

/// Parses `/proc/net/packet` (`sk RefCnt Type Proto Iface R Rmem User
/// Inode`, Proto in hex). A line that does not parse is skipped: the file
/// is the kernel's, and a future column must not blind the tripwire to the
/// lines it can read.
pub fn parse(text: &str) -> Vec<Entry> {
    text.lines().skip(1).filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<Entry> {
    let f: Vec<&str> = line.split_whitespace().collect();
    if f.len() < 9 {
        return None;
    }
    Some(Entry {
        sock_type: f[2].parse().ok()?,
        protocol: u16::from_str_radix(f[3], 16).ok()?,
        ifindex: f[4].parse().ok()?,
        uid: f[7].parse().ok()?,
        inode: f[8].parse().ok()?,
    })
}

/// The foreign packet sockets across looks: new ones are reported once,
/// closed ones once, and each counts once in `seen`.
#[derive(Debug, Default)]
pub struct Tripwire {
    open: BTreeMap<u64, PacketSocket>,
    seen: u64,
}

/// What changed at one look.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changes {
    pub appeared: Vec<PacketSocket>,
    pub gone: Vec<PacketSocket>,
}

impl Tripwire {
    /// Takes one look: `entries` from the proc file, `own` the daemon's
    /// socket inodes, `describe` turning a new foreign entry into a report
    /// (interface name, owner).
    pub fn update(
        &mut self,
        entries: &[Entry],
        own: &HashSet<u64>,
        mut describe: impl FnMut(&Entry) -> PacketSocket,
    ) -> Changes {
        let foreign: BTreeMap<u64, &Entry> = entries
            .iter()
            .filter(|e| !own.contains(&e.inode))
            .map(|e| (e.inode, e))
            .collect();
        let gone_inodes: Vec<u64> = self
            .open
            .keys()
            .filter(|i| !foreign.contains_key(i))
            .copied()
            .collect();
        let mut changes = Changes::default();
        for inode in gone_inodes {
            if let Some(s) = self.open.remove(&inode) {
                changes.gone.push(s);
            }
        }
        for (inode, entry) in foreign {
            if !self.open.contains_key(&inode) {
                let socket = describe(entry);
                self.seen += 1;
                changes.appeared.push(socket.clone());
                self.open.insert(inode, socket);
            }
        }
        changes
    }

    pub fn report(&self) -> TripwireReport {
        TripwireReport {
            open: self.open.values().cloned().collect(),
            seen: self.seen,
        }
    }
}

/// Fills in what the proc line lacks: the interface's name and the owner.
pub fn describe(entry: &Entry) -> PacketSocket {
    let (pid, process) = match find_owner(entry.inode) {
        Some((pid, name)) => (Some(pid), name),
        None => (None, None),
    };
    PacketSocket {
        inode: entry.inode,
        kind: match entry.sock_type {
            libc_consts::SOCK_RAW => "raw".to_owned(),
            libc_consts::SOCK_DGRAM => "dgram".to_owned(),
            other => format!("type {other}"),
        },
        protocol: format!("0x{:04x}", entry.protocol),
        interface: interface_name(entry.ifindex),
        uid: entry.uid,
        pid,
        process,
    }
}

mod libc_consts {
    pub const SOCK_RAW: u32 = libc::SOCK_RAW as u32;
    pub const SOCK_DGRAM: u32 = libc::SOCK_DGRAM as u32;
}

fn protocol_name(hex: &str) -> &'static str {
    match hex {
        "0x0000" => "none: sends only",
        "0x0003" => "all frames",
        "0x0800" => "IPv4",
        "0x0806" => "ARP",
        "0x86dd" => "IPv6",
        _ => "other",
    }
}

fn interface_name(ifindex: u32) -> String {
    if ifindex == 0 {
        return "any".to_owned();
    }
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: `buf` has the IF_NAMESIZE bytes if_indextoname writes at most.
    let ret = unsafe { libc::if_indextoname(ifindex, buf.as_mut_ptr()) };
    if ret.is_null() {
        return format!("ifindex {ifindex}");
    }
    // SAFETY: on success the kernel wrote a NUL-terminated name into `buf`.
    let name = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) };
    name.to_string_lossy().into_owned()
}

/// The socket inodes among `/proc/<pid>/fd` (`self` for the daemon's own).
pub fn socket_inodes(pid: &str) -> io::Result<HashSet<u64>> {
    let mut inodes = HashSet::new();
    for fd in std::fs::read_dir(format!("/proc/{pid}/fd"))? {
        let Ok(fd) = fd else { continue };
        // Fds close while we look: a vanished one is simply not ours.
        if let Some(inode) = std::fs::read_link(fd.path())
            .ok()
            .and_then(|t| socket_inode(&t.to_string_lossy()))
        {
            inodes.insert(inode);
        }
    }
    Ok(inodes)
}

/// `socket:[12345]` -> 12345.
fn socket_inode(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// The first process (pid, name) holding socket `inode`, among those this
/// PID namespace shows and whose fds we may read.
fn find_owner(inode: u64) -> Option<(u32, Option<String>)> {
    let procs = std::fs::read_dir("/proc").ok()?;
    procs
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .find(|pid| socket_inodes(&pid.to_string()).is_ok_and(|s| s.contains(&inode)))
        .map(|pid| {
            let name = std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .ok()
                .map(|n| n.trim_end().to_owned());
            (pid, name)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
sk               RefCnt Type Proto  Iface R Rmem   User   Inode
0000000000000000 3      3    0003   2     1 0      0      123456
0000000000000000 3      2    0800   0     1 0      1000   123457
garbage line
0000000000000000 3      3    0000   0     0 0      0      99
";

    fn plain(e: &Entry) -> PacketSocket {
        PacketSocket {
            inode: e.inode,
            kind: "raw".into(),
            protocol: format!("0x{:04x}", e.protocol),
            interface: "any".into(),
            uid: e.uid,
            pid: None,
            process: None,
        }
    }

    #[test]
    fn parses_each_socket_line_and_skips_the_header_and_lines_it_cannot_read() {
        let entries = parse(SAMPLE);
        assert_eq!(entries.len(), 3);
        assert_eq!(
            entries[0],
            Entry {
                inode: 123456,
                sock_type: 3,
                protocol: 3,
                ifindex: 2,
                uid: 0
            }
        );
        assert_eq!(entries[1].protocol, 0x0800);
        assert_eq!(entries[1].uid, 1000);
        assert_eq!(entries[2].inode, 99);
    }

    #[test]
    fn an_empty_namespace_has_no_packet_sockets() {
        assert!(parse("sk RefCnt Type Proto Iface R Rmem User Inode\n").is_empty());
    }

    #[test]
    fn own_sockets_are_ignored_and_a_foreign_one_is_reported_once_until_it_closes() {
        let entries = parse(SAMPLE);
        let own: HashSet<u64> = [99].into();
        let mut wire = Tripwire::default();
        let first = wire.update(&entries, &own, plain);
        assert_eq!(
            first.appeared.iter().map(|s| s.inode).collect::<Vec<_>>(),
            [123456, 123457]
        );
        let again = wire.update(&entries, &own, plain);
        assert_eq!(again, Changes::default(), "nothing new on a second look");
        assert_eq!(wire.report().seen, 2);

        let closed = wire.update(&entries[1..], &own, plain);
        assert_eq!(
            closed.gone.iter().map(|s| s.inode).collect::<Vec<_>>(),
            [123456]
        );
        let report = wire.report();
        assert_eq!(report.open.len(), 1);
        assert_eq!(report.seen, 2, "closing does not uncount");

        wire.update(&entries, &own, plain);
        assert_eq!(
            wire.report().seen,
            3,
            "a socket that opens again counts again"
        );
    }

    #[test]
    fn a_socket_link_names_its_inode() {
        assert_eq!(socket_inode("socket:[4242]"), Some(4242));
        assert_eq!(socket_inode("pipe:[4242]"), None);
        assert_eq!(socket_inode("/dev/null"), None);
    }

    #[test]
    fn the_description_names_inode_protocol_interface_and_owner() {
        let mut s = plain(&parse(SAMPLE)[0]);
        s.pid = Some(77);
        s.process = Some("python3".into());
        let text = s.describe();
        for part in [
            "inode 123456",
            "0x0003 (all frames)",
            "process 77 (python3)",
        ] {
            assert!(text.contains(part), "{text}");
        }
        s.pid = None;
        assert!(s.describe().contains("not visible"), "{}", s.describe());
    }

    #[test]
    fn the_daemons_own_fds_include_a_socket_it_opened() {
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        use std::os::fd::AsRawFd;
        let link = std::fs::read_link(format!("/proc/self/fd/{}", sock.as_raw_fd())).expect("fd");
        let inode = socket_inode(&link.to_string_lossy()).expect("a socket link");
        assert!(socket_inodes("self").expect("own fds").contains(&inode));
    }
}
