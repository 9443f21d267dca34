//! Just enough nfnetlink (nf_tables over NETLINK_NETFILTER) for the egress
//! backstop: build a batch of table/chain/rule messages, send it, read the
//! acknowledgements, and dump a chain's rules.
//!
//! Hand-written on top of `netlink-sys` (the socket) because no maintained,
//! permissively licensed crate speaks nf_tables: rustables is GPL-3.0 and
//! its chains know only the inet hooks (no netdev `egress`, no device);
//! nftnl binds the C libnftnl; the `nftables` crate drives the `nft`
//! binary, which the sidecar image does not ship. The message layout is
//! the kernel's uapi (`linux/netfilter/nf_tables.h`, `nfnetlink.h`).

pub use netlink_sys::Socket;
use netlink_sys::{protocols::NETLINK_NETFILTER, SocketAddr};
use std::io;

pub const NFPROTO_NETDEV: u8 = 5;
const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
const NFNL_MSG_BATCH_END: u16 = 0x11;
pub const NFT_MSG_NEWTABLE: u8 = 0;
pub const NFT_MSG_DELTABLE: u8 = 2;
pub const NFT_MSG_NEWCHAIN: u8 = 3;
pub const NFT_MSG_NEWRULE: u8 = 6;
pub const NFT_MSG_GETRULE: u8 = 7;
pub const NFT_MSG_DELRULE: u8 = 8;

const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_DUMP: u16 = 0x300;
pub const NLM_F_CREATE: u16 = 0x400;
pub const NLM_F_APPEND: u16 = 0x800;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLA_F_NESTED: u16 = 0x8000;
const NLA_TYPE_MASK: u16 = 0x3fff;

/// Attributes of one message (or of one nested attribute) being built.
#[derive(Default)]
pub struct Attrs(Vec<u8>);

impl Attrs {
    pub fn new() -> Attrs {
        Attrs::default()
    }

    pub fn bytes(mut self, kind: u16, value: &[u8]) -> Attrs {
        let len = 4 + value.len();
        self.0.extend_from_slice(&(len as u16).to_ne_bytes());
        self.0.extend_from_slice(&kind.to_ne_bytes());
        self.0.extend_from_slice(value);
        self.0.resize(self.0.len().next_multiple_of(4), 0);
        self
    }

    /// A NUL-terminated string.
    pub fn str(self, kind: u16, value: &str) -> Attrs {
        let mut v = value.as_bytes().to_vec();
        v.push(0);
        self.bytes(kind, &v)
    }

    /// nf_tables integers are big-endian.
    pub fn be32(self, kind: u16, value: u32) -> Attrs {
        self.bytes(kind, &value.to_be_bytes())
    }

    pub fn nested(self, kind: u16, inner: Attrs) -> Attrs {
        self.bytes(kind | NLA_F_NESTED, &inner.0)
    }

    /// The encoded attributes (what a dump returns after the header).
    #[cfg(test)]
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

/// A batch of nf_tables changes the kernel applies all or nothing.
pub struct Batch {
    buf: Vec<u8>,
    seq: u32,
    acks: u32,
}

impl Batch {
    pub fn new() -> Batch {
        let mut b = Batch {
            buf: Vec::new(),
            seq: 0,
            acks: 0,
        };
        b.push_raw(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, 0, &[]);
        b
    }

    /// Adds one nf_tables message for `family`, acknowledged.
    pub fn add(&mut self, msg: u8, flags: u16, family: u8, attrs: Attrs) {
        let kind = (NFNL_SUBSYS_NFTABLES << 8) | u16::from(msg);
        self.push_raw(kind, NLM_F_REQUEST | NLM_F_ACK | flags, family, &attrs.0);
        self.acks += 1;
    }

    fn push_raw(&mut self, kind: u16, flags: u16, family: u8, attrs: &[u8]) {
        self.seq += 1;
        push_message(&mut self.buf, kind, flags, self.seq, family, attrs);
    }

    /// Sends the batch and waits for every acknowledgement; the first
    /// error the kernel reports is returned.
    pub fn commit(mut self, socket: &Socket) -> io::Result<()> {
        self.push_raw(NFNL_MSG_BATCH_END, NLM_F_REQUEST, 0, &[]);
        socket.send(&self.buf, 0)?;
        let mut acked = 0;
        while acked < self.acks {
            let (buf, _) = socket.recv_from_full()?;
            for (kind, payload) in messages(&buf) {
                if kind == NLMSG_ERROR {
                    error_code(payload)?;
                    acked += 1;
                }
            }
        }
        Ok(())
    }
}

/// Writes nlmsghdr + nfgenmsg + attributes. The batch markers carry the
/// subsystem in `res_id`; other messages leave it zero.
fn push_message(buf: &mut Vec<u8>, kind: u16, flags: u16, seq: u32, family: u8, attrs: &[u8]) {
    let len = 16 + 4 + attrs.len();
    buf.extend_from_slice(&(len as u32).to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(&flags.to_ne_bytes());
    buf.extend_from_slice(&seq.to_ne_bytes());
    buf.extend_from_slice(&0u32.to_ne_bytes());
    let res_id = if kind >> 8 == 0 {
        NFNL_SUBSYS_NFTABLES
    } else {
        0
    };
    buf.extend_from_slice(&[family, 0]);
    buf.extend_from_slice(&res_id.to_be_bytes());
    buf.extend_from_slice(attrs);
}

/// A netfilter netlink socket in the calling thread's network namespace;
/// it keeps talking to that namespace from any thread.
pub fn open() -> io::Result<Socket> {
    let mut socket = Socket::new(NETLINK_NETFILTER)?;
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;
    Ok(socket)
}

/// `NLMSG_ERROR` payload: 0 is an ack, a negative errno a failure.
fn error_code(payload: &[u8]) -> io::Result<()> {
    let code = payload
        .get(..4)
        .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "short netlink error"))?;
    match code {
        0 => Ok(()),
        c => Err(io::Error::from_raw_os_error(-c)),
    }
}

/// The (type, payload) of each netlink message in `buf`.
fn messages(buf: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    let mut rest = buf;
    while rest.len() >= 16 {
        let len = u32::from_ne_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        if len < 16 || len > rest.len() {
            break;
        }
        out.push((u16::from_ne_bytes([rest[4], rest[5]]), &rest[16..len]));
        rest = &rest[len.next_multiple_of(4).min(rest.len())..];
    }
    out
}

/// The (type, payload) of each attribute in `buf`, flags masked off.
pub fn attrs(buf: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    let mut rest = buf;
    while rest.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([rest[0], rest[1]]));
        if len < 4 || len > rest.len() {
            break;
        }
        out.push((
            u16::from_ne_bytes([rest[2], rest[3]]) & NLA_TYPE_MASK,
            &rest[4..len],
        ));
        rest = &rest[len.next_multiple_of(4).min(rest.len())..];
    }
    out
}

/// Dumps the rules of one chain: each rule's attributes (after the
/// nfgenmsg header). A missing table or chain dumps no rules.
pub fn dump_rules(
    socket: &Socket,
    family: u8,
    table: &str,
    chain: &str,
) -> io::Result<Vec<Vec<u8>>> {
    let attrs = Attrs::new().str(1, table).str(2, chain);
    let mut buf = Vec::new();
    let kind = (NFNL_SUBSYS_NFTABLES << 8) | u16::from(NFT_MSG_GETRULE);
    push_message(
        &mut buf,
        kind,
        NLM_F_REQUEST | NLM_F_DUMP,
        1,
        family,
        &attrs.0,
    );
    socket.send(&buf, 0)?;
    let mut rules = Vec::new();
    loop {
        let (buf, _) = socket.recv_from_full()?;
        for (kind, payload) in messages(&buf) {
            match kind {
                NLMSG_DONE => return Ok(rules),
                NLMSG_ERROR => match error_code(payload) {
                    Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(Vec::new()),
                    Err(e) => return Err(e),
                    Ok(()) => {}
                },
                _ => rules.push(payload.get(4..).unwrap_or_default().to_vec()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_padded_and_read_back() {
        let built = Attrs::new()
            .str(1, "fips")
            .be32(2, 7)
            .nested(3, Attrs::new().bytes(1, &[1, 2, 3]));
        let read = attrs(&built.0);
        assert_eq!(read.len(), 3);
        assert_eq!(read[0], (1, &b"fips\0"[..]));
        assert_eq!(read[1], (2, &[0, 0, 0, 7][..]));
        assert_eq!(read[2].0, 3, "the nested flag is masked off");
        assert_eq!(attrs(read[2].1), vec![(1, &[1u8, 2, 3][..])]);
        assert_eq!(built.0.len() % 4, 0);
    }

    #[test]
    fn a_truncated_attribute_or_message_ends_parsing_without_panic() {
        assert!(attrs(&[8, 0, 1, 0, 1]).is_empty());
        assert!(messages(&[200, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]).is_empty());
    }
}
