//! Raw system calls for the tracer's own needs. They bypass the PLT, so
//! the tracer never re-enters its own hooks (our `read` hook would see our
//! own reads otherwise) and never touches std's locks.

use core::ffi::{c_char, c_long};

/// [`raw6`] with any number of integer or pointer arguments.
macro_rules! raw {
    ($nr:expr $(, $a:expr)* $(,)?) => {{
        #[allow(unused_mut)]
        let mut args = [0 as core::ffi::c_long; 6];
        let mut _i = 0;
        $( args[_i] = $a as core::ffi::c_long; _i += 1; )*
        $crate::sys::raw6($nr as core::ffi::c_long, args)
    }};
}
pub(crate) use raw;

#[inline]
pub fn getpid() -> u32 {
    // SAFETY: no arguments, cannot fail.
    unsafe { raw!(libc::SYS_getpid) as u32 }
}

#[inline]
pub fn getppid() -> u32 {
    // SAFETY: no arguments, cannot fail.
    unsafe { raw!(libc::SYS_getppid) as u32 }
}

#[inline]
pub fn gettid() -> u32 {
    // SAFETY: no arguments, cannot fail.
    unsafe { raw!(libc::SYS_gettid) as u32 }
}

/// CLOCK_MONOTONIC in nanoseconds (vDSO, no syscall).
#[inline]
pub fn now() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Whether a process exists (kill with signal 0).
pub fn alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks for existence.
    let r = unsafe { raw!(libc::SYS_kill, pid as c_long, 0 as c_long) };
    r == 0 || r == -(libc::EPERM as c_long)
}

#[inline]
pub fn errno() -> i32 {
    // SAFETY: errno location is always valid for the calling thread.
    unsafe { *libc::__errno_location() }
}

#[inline]
pub fn set_errno(e: i32) {
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = e };
}

/// Backs off while the ring is full: yield first, then short sleeps.
pub fn pause_briefly(spins: u32) {
    if spins < 64 {
        // SAFETY: no arguments.
        unsafe { raw!(libc::SYS_sched_yield) };
    } else {
        let ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 50_000,
        };
        // SAFETY: valid timespec; a NULL remainder is allowed.
        unsafe {
            raw!(
                libc::SYS_nanosleep,
                &ts as *const libc::timespec,
                core::ptr::null_mut::<libc::timespec>(),
            )
        };
    }
}

/// Writes a diagnostic to stderr with one raw write.
pub fn warn(msg: &[u8]) {
    // SAFETY: valid buffer.
    unsafe { raw!(libc::SYS_write, 2 as c_long, msg.as_ptr(), msg.len()) };
}

/// Looks a variable up in the initial environment without allocating.
pub fn getenv(name: &str) -> Option<&'static [u8]> {
    extern "C" {
        static mut environ: *const *const c_char;
    }
    // SAFETY: environ is a NULL-terminated array of NUL-terminated strings
    // maintained by libc; we only read it, during initialisation.
    unsafe {
        let mut p = environ;
        if p.is_null() {
            return None;
        }
        while !(*p).is_null() {
            let s = *p as *const u8;
            let len = libc::strlen(*p);
            let entry = core::slice::from_raw_parts(s, len);
            if entry.len() > name.len()
                && entry.starts_with(name.as_bytes())
                && entry[name.len()] == b'='
            {
                return Some(&entry[name.len() + 1..]);
            }
            p = p.add(1);
        }
    }
    None
}

/// openat(AT_FDCWD, path, flags | O_CLOEXEC) as a raw system call (no
/// hook sees it): the descriptor, or a negative value.
///
/// # Safety
/// `path` must be a NUL-terminated string.
pub unsafe fn open(path: *const c_char, flags: core::ffi::c_int) -> c_long {
    // SAFETY: per contract.
    unsafe {
        raw!(
            libc::SYS_openat,
            libc::AT_FDCWD as c_long,
            path,
            (flags | libc::O_CLOEXEC) as c_long
        )
    }
}

/// Maps a shared-memory file read-write; returns its base and length.
pub fn map_shared(path: &[u8]) -> Option<(*mut u8, usize)> {
    let mut cpath = [0u8; 512];
    if path.is_empty() || path.len() >= cpath.len() {
        return None;
    }
    cpath[..path.len()].copy_from_slice(path);
    // SAFETY: NUL-terminated path buffer; raw syscalls with valid pointers.
    unsafe {
        let fd = open(cpath.as_ptr().cast(), libc::O_RDWR);
        if fd < 0 {
            return None;
        }
        let mut st: libc::stat = core::mem::zeroed();
        let ok = raw!(libc::SYS_fstat, fd, &mut st as *mut libc::stat) == 0;
        let len = st.st_size as usize;
        let p = if ok && len > 0 {
            raw!(
                libc::SYS_mmap,
                0 as c_long,
                len,
                (libc::PROT_READ | libc::PROT_WRITE) as c_long,
                libc::MAP_SHARED as c_long,
                fd,
                0 as c_long,
            )
        } else {
            -1
        };
        raw!(libc::SYS_close, fd);
        if (-4095..0).contains(&p) {
            return None;
        }
        Some((p as *mut u8, len))
    }
}

/// Copies from our own address space without faulting on a bad pointer
/// (process_vm_readv on ourselves). Returns the bytes copied.
pub fn safe_copy(dst: &mut [u8], src: *const u8) -> usize {
    if src.is_null() || dst.is_empty() {
        return 0;
    }
    let (local, remote) = (dst.as_mut_ptr(), src as *mut u8);
    vm_self(libc::SYS_process_vm_readv, local, remote, dst.len())
}

/// process_vm_readv or process_vm_writev (`nr`) on ourselves: `len` bytes
/// between our buffer `local` and `remote`, which the kernel checks (a bad
/// pointer is an error, not a fault). Returns the bytes moved.
#[inline]
fn vm_self(nr: c_long, local: *mut u8, remote: *mut u8, len: usize) -> usize {
    let local = libc::iovec {
        iov_base: local as *mut libc::c_void,
        iov_len: len,
    };
    let remote = libc::iovec {
        iov_base: remote as *mut libc::c_void,
        iov_len: len,
    };
    let (l, r) = (&local as *const libc::iovec, &remote as *const libc::iovec);
    // SAFETY: the kernel validates `remote`; `local` is the caller's buffer.
    let moved = unsafe { raw!(nr, getpid(), l, 1, r, 1, 0) };
    moved.max(0) as usize
}

pub fn readlink_self_exe(buf: &mut [u8]) -> usize {
    // SAFETY: valid path literal and buffer.
    let r = unsafe {
        raw!(
            libc::SYS_readlinkat,
            libc::AT_FDCWD as c_long,
            c"/proc/self/exe".as_ptr(),
            buf.as_mut_ptr(),
            buf.len(),
        )
    };
    if r < 0 {
        0
    } else {
        r as usize
    }
}

/// Reads /proc/self/cmdline (NUL-separated arguments) into `buf`.
pub fn read_cmdline(buf: &mut [u8]) -> usize {
    read_file(c"/proc/self/cmdline", buf)
}

fn read_file(path: &core::ffi::CStr, buf: &mut [u8]) -> usize {
    // SAFETY: raw syscalls with valid pointers.
    unsafe {
        let fd = open(path.as_ptr(), libc::O_RDONLY);
        if fd < 0 {
            return 0;
        }
        let mut total = 0usize;
        while total < buf.len() {
            let r = raw!(
                libc::SYS_read,
                fd,
                buf.as_mut_ptr().add(total),
                buf.len() - total,
            );
            if r <= 0 {
                break;
            }
            total += r as usize;
        }
        raw!(libc::SYS_close, fd);
        // Drop the trailing NUL of the last argument.
        if total > 0 && buf[total - 1] == 0 {
            total -= 1;
        }
        total
    }
}

/// A system call made with the `syscall` instruction itself, never through
/// libc's `syscall()` (which the library interposes, see
/// `hooks::syscall`): the tracer's own getpeername, close or nanosleep must
/// not be routed through the hooks. Returns the kernel's value: a negative
/// errno on failure (errno is not touched).
///
/// # Safety
/// As the system call `nr` with these arguments.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub unsafe fn raw6(nr: c_long, a: [c_long; 6]) -> c_long {
    let ret: c_long;
    // SAFETY: the Linux x86_64 system call convention; rcx and r11 are
    // clobbered by the instruction, memory effects are the caller's contract.
    unsafe {
        core::arch::asm!(
            "syscall",
            inlateout("rax") nr => ret,
            in("rdi") a[0],
            in("rsi") a[1],
            in("rdx") a[2],
            in("r10") a[3],
            in("r8") a[4],
            in("r9") a[5],
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

/// Other architectures: libc's `syscall()`, converted to the kernel's
/// convention.
#[cfg(not(target_arch = "x86_64"))]
pub unsafe fn raw6(nr: c_long, a: [c_long; 6]) -> c_long {
    // SAFETY: caller's contract.
    let r = unsafe { libc::syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]) };
    if r == -1 {
        -(errno() as c_long)
    } else {
        r
    }
}

/// Whether `fd` is open and a socket (a raw fstat).
pub fn is_socket_fd(fd: i32) -> bool {
    if fd < 0 {
        return false;
    }
    // SAFETY: zeroed plain data for the kernel to fill.
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    // SAFETY: valid out-pointer.
    let r = unsafe { raw!(libc::SYS_fstat, fd, &mut st as *mut libc::stat) };
    r == 0 && st.st_mode & libc::S_IFMT == libc::S_IFSOCK
}

/// Writes into our own address space without faulting on a bad pointer
/// (process_vm_writev on ourselves). Returns the bytes written.
pub fn safe_write(dst: *mut u8, src: &[u8]) -> usize {
    if dst.is_null() || src.is_empty() {
        return 0;
    }
    vm_self(
        libc::SYS_process_vm_writev,
        src.as_ptr() as *mut u8,
        dst,
        src.len(),
    )
}

/// Allocates the pages of `len` bytes of a shared mapping before they are
/// written. False when the memory is not there (ENOMEM, ENOSPC, EFAULT);
/// true also on kernels older than 5.14 that do not know the advice (then
/// the pages are allocated on first write, as before).
pub fn populate(addr: *mut u8, len: usize) -> bool {
    const MADV_POPULATE_WRITE: c_long = 23;
    // SAFETY: advice on a range of our own mapping; no memory is changed.
    let r = unsafe { raw!(libc::SYS_madvise, addr, len, MADV_POPULATE_WRITE) };
    r == 0 || r == -(libc::EINVAL as c_long) || r == -(libc::ENOSYS as c_long)
}

/// fork(2) as the bare system call: no atfork handlers run, nothing of
/// libc's is touched (the standalone collector's launch). AArch64 has no
/// fork system call, only clone.
pub fn fork_raw() -> i32 {
    // SAFETY: the caller runs only raw system calls in the child.
    #[cfg(target_arch = "x86_64")]
    let r = unsafe { raw!(libc::SYS_fork) };
    // SAFETY: as above.
    #[cfg(not(target_arch = "x86_64"))]
    let r = unsafe { raw!(libc::SYS_clone, libc::SIGCHLD, 0, 0, 0, 0) };
    r as i32
}
