//! The few raw syscalls aya 0.13 does not wrap: `BPF_PROG_TEST_RUN`,
//! `BPF_LINK_DETACH`, `SO_COOKIE`, and the bpffs checks.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

const BPF_PROG_TEST_RUN: libc::c_long = 10;
const BPF_LINK_DETACH: libc::c_long = 34;
const BPF_OBJ_GET: libc::c_long = 7;
const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;
/// `statfs(2)` magic of a BPF file system.
const BPF_FS_MAGIC: i64 = 0xcafe_4a11;

/// `union bpf_attr` as used by `BPF_PROG_TEST_RUN` (the `test` member).
#[repr(C)]
#[derive(Default)]
struct TestRunAttr {
    prog_fd: u32,
    retval: u32,
    data_size_in: u32,
    data_size_out: u32,
    data_in: u64,
    data_out: u64,
    repeat: u32,
    duration: u32,
    ctx_size_in: u32,
    ctx_size_out: u32,
    ctx_in: u64,
    ctx_out: u64,
    flags: u32,
    cpu: u32,
    batch_size: u32,
    _pad: u32,
}

fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a live, correctly sized bpf_attr prefix for `cmd`;
    // the kernel zero-extends the rest.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T as *mut libc::c_void,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Runs a loaded program `repeat` times on `frame` (an Ethernet frame)
/// with `BPF_PROG_TEST_RUN`; returns the program's return value and the
/// kernel's mean duration of one run in nanoseconds.
pub fn test_run_repeat(prog: BorrowedFd<'_>, frame: &[u8], repeat: u32) -> io::Result<(i32, u32)> {
    let mut out = vec![0u8; frame.len() + 256];
    let mut attr = TestRunAttr {
        prog_fd: prog.as_raw_fd() as u32,
        data_size_in: frame.len() as u32,
        data_size_out: out.len() as u32,
        data_in: frame.as_ptr() as u64,
        data_out: out.as_mut_ptr() as u64,
        repeat,
        ..TestRunAttr::default()
    };
    bpf(BPF_PROG_TEST_RUN, &mut attr)?;
    Ok((attr.retval as i32, attr.duration))
}

/// Forcibly detaches a link, whoever else holds it open or pinned.
pub fn link_detach(link: BorrowedFd<'_>) -> io::Result<()> {
    let mut attr: [u32; 2] = [link.as_raw_fd() as u32, 0];
    bpf(BPF_LINK_DETACH, &mut attr).map(drop)
}

/// Opens a pinned bpffs object (link, map or program).
pub fn obj_get(path: &Path) -> io::Result<OwnedFd> {
    let c = cstring(path)?;
    // pathname (u64), bpf_fd (u32), file_flags (u32)
    let mut attr: [u64; 2] = [c.as_ptr() as u64, 0];
    let fd = bpf(BPF_OBJ_GET, &mut attr)?;
    // SAFETY: the kernel returned a new descriptor that we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// What `BPF_OBJ_GET_INFO_BY_FD` tells about a TCX link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkInfo {
    pub link_id: u32,
    pub program_id: u32,
    /// The interface it filters; 0 once its device is gone.
    pub ifindex: u32,
}

pub fn tcx_link_info(link: BorrowedFd<'_>) -> io::Result<LinkInfo> {
    // struct bpf_link_info: type, id, prog_id, then (8-aligned) the union
    // whose tcx member starts with ifindex. 64 bytes cover it.
    let mut info = [0u32; 16];
    #[repr(C)]
    struct InfoAttr {
        bpf_fd: u32,
        info_len: u32,
        info: u64,
    }
    let mut attr = InfoAttr {
        bpf_fd: link.as_raw_fd() as u32,
        info_len: std::mem::size_of_val(&info) as u32,
        info: info.as_mut_ptr() as u64,
    };
    bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr)?;
    Ok(LinkInfo {
        link_id: info[1],
        program_id: info[2],
        ifindex: info[4],
    })
}

/// The socket's cookie (`SO_COOKIE`), what `bpf_get_socket_cookie` returns
/// for its packets in the classifier.
pub fn socket_cookie(socket: impl AsFd) -> io::Result<u64> {
    let mut cookie: u64 = 0;
    let mut len = std::mem::size_of::<u64>() as libc::socklen_t;
    // SAFETY: the out pointers are valid for `len` bytes.
    let ret = unsafe {
        libc::getsockopt(
            socket.as_fd().as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_COOKIE,
            &mut cookie as *mut u64 as *mut libc::c_void,
            &mut len,
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(cookie)
}

/// Whether `path` is on a BPF file system.
pub fn is_bpffs(path: &Path) -> io::Result<bool> {
    let c = cstring(path)?;
    // SAFETY: statfs is plain data; zeroed is a valid initial value.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is NUL-terminated and `st` is writable.
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st.f_type as i64 == BPF_FS_MAGIC)
}

/// `mount -t bpf bpf <path>`: needs CAP_SYS_ADMIN, so only works when the
/// container or host allows it; otherwise the caller explains what to do.
pub fn mount_bpffs(path: &Path) -> io::Result<()> {
    let target = cstring(path)?;
    let fstype = c"bpf";
    // SAFETY: all pointers are NUL-terminated strings that outlive the call.
    let ret = unsafe {
        libc::mount(
            fstype.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn cstring(path: &Path) -> io::Result<CString> {
    use std::os::unix::ffi::OsStrExt as _;
    CString::new(path.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
}
