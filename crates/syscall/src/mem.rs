//! Reading a stopped tracee's memory and registers, and its /proc files.

use std::sync::atomic::{AtomicBool, Ordering};

/// Set once `process_vm_readv` proved unusable (ENOSYS, EPERM under some
/// security modules): every read then goes word by word through
/// `PTRACE_PEEKDATA`.
static PEEK_ONLY: AtomicBool = AtomicBool::new(false);

/// Copies tracee memory at `addr` into `dst`; returns the bytes read,
/// stopping at the first unreadable page (0 for a bad pointer).
pub fn read(pid: u32, addr: u64, dst: &mut [u8]) -> usize {
    if addr == 0 || dst.is_empty() {
        return 0;
    }
    if !PEEK_ONLY.load(Ordering::Relaxed) {
        let local = libc::iovec {
            iov_base: dst.as_mut_ptr() as *mut libc::c_void,
            iov_len: dst.len(),
        };
        let remote = libc::iovec {
            iov_base: addr as *mut libc::c_void,
            iov_len: dst.len(),
        };
        // SAFETY: `local` covers `dst`; the remote side is checked by the kernel.
        let n = unsafe { libc::process_vm_readv(pid as i32, &local, 1, &remote, 1, 0) };
        if n >= 0 {
            return n as usize;
        }
        let e = std::io::Error::last_os_error().raw_os_error();
        match e {
            Some(libc::ENOSYS) | Some(libc::EPERM) => {
                PEEK_ONLY.store(true, Ordering::Relaxed);
            }
            Some(libc::EFAULT) => {
                // A read crossing into an unmapped page fails whole: read
                // what lies before the boundary.
                let to_page = (4096 - (addr % 4096)) as usize;
                if to_page < dst.len() {
                    let first = read(pid, addr, &mut dst[..to_page]);
                    if first == to_page {
                        return first + read(pid, addr + to_page as u64, &mut dst[to_page..]);
                    }
                    return first;
                }
                return 0;
            }
            _ => return 0,
        }
    }
    peek(pid, addr, dst)
}

/// `PTRACE_PEEKDATA`, one word at a time.
fn peek(pid: u32, addr: u64, dst: &mut [u8]) -> usize {
    let mut got = 0;
    while got < dst.len() {
        let at = addr + got as u64;
        let aligned = at & !7;
        let skip = (at - aligned) as usize;
        // SAFETY: PEEKDATA on a stopped tracee; errno distinguishes -1 data.
        let word = unsafe {
            *libc::__errno_location() = 0;
            libc::ptrace(libc::PTRACE_PEEKDATA, pid as i32, aligned as usize, 0usize)
        };
        // SAFETY: reading our own errno.
        if word == -1 && unsafe { *libc::__errno_location() } != 0 {
            break;
        }
        let bytes = (word as u64).to_le_bytes();
        let take = (8 - skip).min(dst.len() - got);
        dst[got..got + take].copy_from_slice(&bytes[skip..skip + take]);
        got += take;
    }
    got
}

/// A plain value from tracee memory.
pub fn read_value<T: Copy + Default>(pid: u32, addr: u64) -> Option<T> {
    let mut v = T::default();
    let size = core::mem::size_of::<T>();
    // SAFETY: the slice covers exactly v's bytes; T is plain data by use.
    let dst = unsafe { core::slice::from_raw_parts_mut(&mut v as *mut T as *mut u8, size) };
    (read(pid, addr, dst) == size).then_some(v)
}

/// The tracee's registers at a stop.
pub fn regs(tid: u32) -> Option<libc::user_regs_struct> {
    // SAFETY: user_regs_struct is plain data; all-zero is a valid value.
    let mut r: libc::user_regs_struct = unsafe { core::mem::zeroed() };
    // SAFETY: valid out-pointer for GETREGS on a stopped tracee.
    let rc = unsafe {
        libc::ptrace(
            libc::PTRACE_GETREGS,
            tid as i32,
            0usize,
            &mut r as *mut libc::user_regs_struct,
        )
    };
    (rc == 0).then_some(r)
}

/// Sets the tracee's registers at a stop (false when refused).
pub fn set_regs(tid: u32, r: &libc::user_regs_struct) -> bool {
    // SAFETY: valid in-pointer for SETREGS on a stopped tracee.
    let rc = unsafe {
        libc::ptrace(
            libc::PTRACE_SETREGS,
            tid as i32,
            0usize,
            r as *const libc::user_regs_struct,
        )
    };
    rc == 0
}

/// `/proc/PID/exe`, at most `max` bytes.
pub fn exe(pid: u32) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    std::fs::read_link(format!("/proc/{pid}/exe"))
        .map(|p| p.as_os_str().as_bytes().to_vec())
        .unwrap_or_default()
}

/// `/proc/PID/cmdline` (NUL-separated), cut to `max` bytes and without
/// its final NUL.
pub fn cmdline(pid: u32, max: usize) -> Vec<u8> {
    let mut v = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    if v.last() == Some(&0) {
        v.pop();
    }
    v.truncate(max);
    v
}

/// The thread group (process) of a thread, from /proc.
pub fn tgid(tid: u32) -> Option<u32> {
    let s = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    field(&s, "Tgid:")
}

/// The parent process, from /proc.
pub fn ppid(pid: u32) -> Option<u32> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    field(&s, "PPid:")
}

fn field(status: &str, name: &str) -> Option<u32> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.trim().parse().ok())
}

/// The descriptors of `pid` that are sockets now.
pub fn socket_fds(pid: u32) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    let mut v = Vec::new();
    for e in dir.flatten() {
        let Some(fd) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        if let Ok(target) = std::fs::read_link(e.path()) {
            if target.to_string_lossy().starts_with("socket:") {
                v.push(fd);
            }
        }
    }
    v
}

/// Which system-call stop a `SIGTRAP | 0x80` stop is (attached tracing,
/// where entries and exits look alike).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyscallStop {
    Entry,
    Exit,
}

/// `PTRACE_GET_SYSCALL_INFO` (Linux 5.3+): the kind of the current stop.
pub fn syscall_stop_kind(tid: u32) -> Option<SyscallStop> {
    const PTRACE_GET_SYSCALL_INFO: libc::c_uint = 0x420e;
    let mut info = [0u8; 88];
    // SAFETY: the kernel writes at most `info.len()` bytes.
    let n = unsafe {
        libc::ptrace(
            PTRACE_GET_SYSCALL_INFO,
            tid as i32,
            info.len(),
            info.as_mut_ptr(),
        )
    };
    match (n > 0).then_some(info[0])? {
        1 => Some(SyscallStop::Entry),
        2 => Some(SyscallStop::Exit),
        _ => None,
    }
}

/// The descriptors of `pid` that are epoll instances.
pub fn epoll_fds(pid: u32) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    dir.flatten()
        .filter(|e| {
            std::fs::read_link(e.path())
                .is_ok_and(|t| t.to_string_lossy() == "anon_inode:[eventpoll]")
        })
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
        .collect()
}
