//! The raw Linux calls behind the UDP transport: socket options,
//! `recvmmsg`/`sendmmsg` with their control messages, and socket address
//! conversion. Every `unsafe` block of the module lives here and says why
//! it is sound; the callers above see only safe functions.

use std::io;
use std::mem;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;

/// `SO_COOKIE` (include/uapi/asm-generic/socket.h); the same value on every
/// architecture we build for, and not exported by every libc version.
const SO_COOKIE: libc::c_int = 57;

/// Room for one `UDP_GRO` or `UDP_SEGMENT` control message (an int or a
/// u16, padded), kept as u64 words so the buffer is `cmsghdr`-aligned.
pub(super) const CMSG_WORDS: usize = 4;
pub(super) type CmsgBuf = [u64; CMSG_WORDS];

pub(super) fn setsockopt_int(fd: RawFd, level: i32, name: i32, value: i32) -> io::Result<()> {
    // SAFETY: value is a live c_int and the length passed is its size.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const i32).cast(),
            mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    cvt(rc).map(drop)
}

pub(super) fn getsockopt_int(fd: RawFd, level: i32, name: i32) -> io::Result<i32> {
    let mut value: i32 = 0;
    let mut len = mem::size_of::<i32>() as libc::socklen_t;
    // SAFETY: value and len are live and len holds value's size.
    let rc =
        unsafe { libc::getsockopt(fd, level, name, (&mut value as *mut i32).cast(), &mut len) };
    cvt(rc).map(|_| value)
}

/// The kernel's 64-bit identity of the socket (what the eBPF filter keys on).
pub(super) fn socket_cookie(fd: RawFd) -> io::Result<u64> {
    let mut cookie: u64 = 0;
    let mut len = mem::size_of::<u64>() as libc::socklen_t;
    // SAFETY: cookie and len are live and len holds cookie's size.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            SO_COOKIE,
            (&mut cookie as *mut u64).cast(),
            &mut len,
        )
    };
    cvt(rc).map(|_| cookie)
}

fn cvt(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// Writes `addr` as a sockaddr for a socket of family `v6_socket`
/// (an IPv4 destination on an IPv6 socket becomes v4-mapped).
pub(super) fn to_sockaddr(
    addr: SocketAddr,
    v6_socket: bool,
    out: &mut libc::sockaddr_storage,
) -> libc::socklen_t {
    let addr = match addr {
        SocketAddr::V4(a) if v6_socket => {
            SocketAddr::V6(SocketAddrV6::new(a.ip().to_ipv6_mapped(), a.port(), 0, 0))
        }
        other => other,
    };
    match addr {
        SocketAddr::V4(a) => {
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
            let sin =
                unsafe { &mut *(out as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr = libc::in_addr {
                s_addr: u32::from_ne_bytes(a.ip().octets()),
            };
            sin.sin_zero = [0; 8];
            mem::size_of::<libc::sockaddr_in>() as libc::socklen_t
        }
        SocketAddr::V6(a) => {
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
            let sin6 =
                unsafe { &mut *(out as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_flowinfo = a.flowinfo().to_be();
            sin6.sin6_addr = libc::in6_addr {
                s6_addr: a.ip().octets(),
            };
            sin6.sin6_scope_id = a.scope_id();
            mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t
        }
    }
}

/// Reads a sockaddr the kernel wrote; v4-mapped IPv6 comes back as IPv4 so
/// a peer has one address whatever the socket family.
pub(super) fn from_sockaddr(storage: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match storage.ss_family as libc::c_int {
        libc::AF_INET => {
            // SAFETY: the kernel wrote a sockaddr_in (family says so).
            let sin =
                unsafe { &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
            Some(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the kernel wrote a sockaddr_in6 (family says so).
            let sin6 = unsafe {
                &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
            };
            let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            let port = u16::from_be(sin6.sin6_port);
            Some(match ip.to_ipv4_mapped() {
                Some(v4) => SocketAddr::V4(SocketAddrV4::new(v4, port)),
                None => SocketAddr::V6(SocketAddrV6::new(
                    ip,
                    port,
                    u32::from_be(sin6.sin6_flowinfo),
                    sin6.sin6_scope_id,
                )),
            })
        }
        _ => None,
    }
}

/// One message for `recvmmsg`: where its data, source name and control
/// buffer go.
pub(super) struct RecvSlot<'a> {
    pub data: &'a mut [u8],
    pub name: &'a mut libc::sockaddr_storage,
    pub cmsg: &'a mut CmsgBuf,
}

/// What the kernel reported for one received message.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct RecvMeta {
    pub len: usize,
    /// The `UDP_GRO` segment size when the kernel coalesced datagrams.
    pub gro_size: Option<usize>,
    pub truncated: bool,
}

/// Largest number of messages one `recvmmsg`/`sendmmsg` call takes here;
/// the headers live on the stack.
pub(super) const MAX_MMSG: usize = 64;

/// `recvmmsg` without blocking into up to `MAX_MMSG` slots; fills `meta`
/// for the messages received and returns their count.
pub(super) fn recvmmsg(
    fd: RawFd,
    slots: &mut [RecvSlot<'_>],
    meta: &mut [RecvMeta],
) -> io::Result<usize> {
    let n = slots.len().min(MAX_MMSG).min(meta.len());
    // SAFETY: all-zero is a valid value for these plain C structs (null
    // pointers, zero lengths).
    let mut iovs: [libc::iovec; MAX_MMSG] = unsafe { mem::zeroed() };
    // SAFETY: as above.
    let mut hdrs: [libc::mmsghdr; MAX_MMSG] = unsafe { mem::zeroed() };
    for i in 0..n {
        let slot = &mut slots[i];
        iovs[i] = libc::iovec {
            iov_base: slot.data.as_mut_ptr().cast(),
            iov_len: slot.data.len(),
        };
        let h = &mut hdrs[i].msg_hdr;
        h.msg_name = (slot.name as *mut libc::sockaddr_storage).cast();
        h.msg_namelen = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        h.msg_iov = &mut iovs[i];
        h.msg_iovlen = 1;
        h.msg_control = slot.cmsg.as_mut_ptr().cast();
        h.msg_controllen = mem::size_of::<CmsgBuf>() as _;
    }
    // SAFETY: every header points at buffers borrowed mutably from `slots`
    // and at `iovs`, all of which outlive the call; lengths match them.
    let rc = unsafe {
        libc::recvmmsg(
            fd,
            hdrs.as_mut_ptr(),
            n as libc::c_uint,
            libc::MSG_DONTWAIT,
            std::ptr::null_mut(),
        )
    };
    let got = cvt(rc)? as usize;
    for i in 0..got {
        let h = &hdrs[i];
        meta[i] = RecvMeta {
            len: h.msg_len as usize,
            gro_size: gro_size(&h.msg_hdr),
            truncated: h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0,
        };
    }
    Ok(got)
}

/// The `UDP_GRO` control message of a received header, if any.
fn gro_size(h: &libc::msghdr) -> Option<usize> {
    // SAFETY: h was filled by recvmmsg: msg_control/msg_controllen describe
    // a buffer we own and the kernel's cmsgs inside it; the CMSG_* macros
    // stay within msg_controllen.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(h);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_UDP && (*c).cmsg_type == libc::UDP_GRO {
                let v = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::c_int>());
                return usize::try_from(v).ok().filter(|&s| s > 0);
            }
            c = libc::CMSG_NXTHDR(h, c);
        }
    }
    None
}

/// One message for `sendmmsg`: a destination, the datagrams' bytes as one
/// iovec each, and the GSO segment size when there is more than one.
pub(super) struct SendMsg<'a> {
    pub dest: SocketAddr,
    pub iovs: &'a [&'a [u8]],
    pub segment: Option<u16>,
}

/// `sendmmsg` without blocking; returns how many messages the kernel took
/// (a prefix of `msgs`).
pub(super) fn sendmmsg(fd: RawFd, v6_socket: bool, msgs: &[SendMsg<'_>]) -> io::Result<usize> {
    let n = msgs.len().min(MAX_MMSG);
    let total_iovs: usize = msgs[..n].iter().map(|m| m.iovs.len()).sum();
    let mut iovs: Vec<libc::iovec> = Vec::with_capacity(total_iovs);
    // SAFETY: all-zero is valid for these plain C structs.
    let mut names: [libc::sockaddr_storage; MAX_MMSG] = unsafe { mem::zeroed() };
    let mut cmsgs: [CmsgBuf; MAX_MMSG] = [[0; CMSG_WORDS]; MAX_MMSG];
    // SAFETY: as above.
    let mut hdrs: [libc::mmsghdr; MAX_MMSG] = unsafe { mem::zeroed() };
    for m in &msgs[..n] {
        iovs.extend(m.iovs.iter().map(|b| libc::iovec {
            iov_base: b.as_ptr() as *mut libc::c_void,
            iov_len: b.len(),
        }));
    }
    let mut at = 0;
    for (i, m) in msgs[..n].iter().enumerate() {
        let namelen = to_sockaddr(m.dest, v6_socket, &mut names[i]);
        let h = &mut hdrs[i].msg_hdr;
        h.msg_name = (&mut names[i] as *mut libc::sockaddr_storage).cast();
        h.msg_namelen = namelen;
        // The iovecs Vec is never resized after this point, so the pointer
        // stays valid.
        h.msg_iov = iovs[at..].as_mut_ptr();
        h.msg_iovlen = m.iovs.len() as _;
        at += m.iovs.len();
        if let Some(seg) = m.segment {
            set_segment_cmsg(h, &mut cmsgs[i], seg);
        }
    }
    // SAFETY: headers point at names, cmsgs and iovs (locals that outlive
    // the call) and the iovecs at caller slices borrowed for the call; the
    // kernel only reads the data.
    let rc =
        unsafe { libc::sendmmsg(fd, hdrs.as_mut_ptr(), n as libc::c_uint, libc::MSG_DONTWAIT) };
    cvt(rc).map(|n| n as usize)
}

/// Adds a `UDP_SEGMENT` control message to `h`, stored in `buf`.
fn set_segment_cmsg(h: &mut libc::msghdr, buf: &mut CmsgBuf, seg: u16) {
    // SAFETY: buf is CMSG_SPACE(2) or more bytes and cmsghdr-aligned (u64
    // words); CMSG_FIRSTHDR is non-null because msg_controllen covers one
    // header, and CMSG_DATA points inside buf.
    unsafe {
        let space = libc::CMSG_SPACE(mem::size_of::<u16>() as u32) as usize;
        debug_assert!(space <= mem::size_of::<CmsgBuf>());
        h.msg_control = buf.as_mut_ptr().cast();
        h.msg_controllen = space as _;
        let c = libc::CMSG_FIRSTHDR(h);
        (*c).cmsg_level = libc::SOL_UDP;
        (*c).cmsg_type = libc::UDP_SEGMENT;
        (*c).cmsg_len = libc::CMSG_LEN(mem::size_of::<u16>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<u16>(), seg);
    }
}

/// One datagram with `sendto` (the unbatched path, for comparison and for
/// callers that send rarely).
pub(super) fn sendto(
    fd: RawFd,
    v6_socket: bool,
    dest: SocketAddr,
    data: &[u8],
) -> io::Result<usize> {
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut name: libc::sockaddr_storage = unsafe { mem::zeroed() };
    let len = to_sockaddr(dest, v6_socket, &mut name);
    // SAFETY: data and name are live for the call and their lengths are right.
    let rc = unsafe {
        libc::sendto(
            fd,
            data.as_ptr().cast(),
            data.len(),
            libc::MSG_DONTWAIT,
            (&name as *const libc::sockaddr_storage).cast(),
            len,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc as usize)
    }
}

/// One datagram with `recvfrom` (the unbatched path).
pub(super) fn recvfrom(fd: RawFd, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut name: libc::sockaddr_storage = unsafe { mem::zeroed() };
    let mut len = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: buf and name are live and writable for their stated lengths.
    let rc = unsafe {
        libc::recvfrom(
            fd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            libc::MSG_DONTWAIT,
            (&mut name as *mut libc::sockaddr_storage).cast(),
            &mut len,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    let from = from_sockaddr(&name)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unknown address family"))?;
    Ok((rc as usize, from))
}
