//! The libc calls the socket helpers of `packet.rs` and `sockets.rs` share:
//! checked results, interface indices, link-layer addresses and `sendto`.

// Shared by several test binaries, each using a part.
#![allow(dead_code)]

use std::os::fd::RawFd;

/// `ret`, or a panic naming `what` and the OS error.
pub fn check(ret: libc::c_int, what: &str) -> libc::c_int {
    assert!(ret >= 0, "{what}: {}", std::io::Error::last_os_error());
    ret
}

/// The index of the interface `name` in the calling thread's namespace.
pub fn ifindex(name: &str) -> i32 {
    let c = std::ffi::CString::new(name).expect("interface name");
    // SAFETY: NUL-terminated name.
    let index = unsafe { libc::if_nametoindex(c.as_ptr()) };
    assert!(index != 0, "no interface {name}");
    index as i32
}

/// A link-layer address on interface `ifindex` for `protocol` (network
/// byte order; 0 for a sender).
pub fn link_addr(ifindex: i32, protocol: u16) -> libc::sockaddr_ll {
    // SAFETY: an all-zero sockaddr_ll is a valid value.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = protocol;
    addr.sll_ifindex = ifindex;
    addr.sll_halen = 6;
    addr
}

/// `sendto(fd, bytes, 0, addr)`: the bytes sent, or the OS error.
pub fn sendto<A>(fd: RawFd, bytes: &[u8], addr: &A) -> std::io::Result<usize> {
    // SAFETY: `bytes` and `addr` outlive the call and their lengths are
    // theirs; `A` is a sockaddr_* type.
    let sent = unsafe {
        libc::sendto(
            fd,
            bytes.as_ptr() as *const libc::c_void,
            bytes.len(),
            0,
            addr as *const A as *const libc::sockaddr,
            std::mem::size_of::<A>() as u32,
        )
    };
    usize::try_from(sent).map_err(|_| std::io::Error::last_os_error())
}
