//! Standalone mode: `LD_PRELOAD=libsock_trace.so CMD` without the launcher.
//!
//! The first process starts a collector itself: the `sock-trace` binary
//! found next to this library (the launcher links it there when it writes
//! the library out) or on `PATH`, run as `sock-trace collect`, detached
//! (double fork, new session) so the program never sees it as a child and
//! the terminal's Ctrl-C does not kill it before the trace is drained. The
//! collector creates the trace area, loads the configuration exactly as
//! the launcher would, and writes the area's path back through a pipe; we
//! then export it so that every process started later joins the same trace.
//!
//! This runs once, in the library constructor, before `main`: the usual
//! rules for hooks (no allocation) do not apply here, but the tracer's own
//! I/O still uses raw syscalls so that it never passes through our hooks.

use crate::sys;
use core::ffi::{c_char, c_int};

const MAX_PATH: usize = 4096;

/// Starts a collector and returns the trace area's path, NUL-terminated.
pub fn start_collector() -> Option<[u8; 512]> {
    let mut exe = [0u8; MAX_PATH];
    if !find_collector(&mut exe) {
        sys::warn(b"sock-trace: preloaded without the launcher, and no `sock-trace` binary was found next to the library or on PATH; not tracing\n");
        return None;
    }
    let mut fds = [0 as c_int; 2];
    // SAFETY: valid out-array.
    if unsafe { sys::raw!(libc::SYS_pipe2, fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return None;
    }
    let (rd, wr) = (fds[0], fds[1]);
    let root = sys::getpid();

    // Everything the grandchild needs is prepared before fork.
    let mut ready_arg = [0u8; 16];
    fmt_u32(&mut ready_arg, 200);
    let mut root_arg = [0u8; 16];
    fmt_u32(&mut root_arg, root);
    let argv: [*const c_char; 8] = [
        exe.as_ptr() as *const c_char,
        c"collect".as_ptr(),
        c"--ready-fd".as_ptr(),
        ready_arg.as_ptr() as *const c_char,
        c"--root-pid".as_ptr(),
        root_arg.as_ptr() as *const c_char,
        core::ptr::null(),
        core::ptr::null(),
    ];
    let mut envp: [*const c_char; 512] = [core::ptr::null(); 512];
    collector_env(&mut envp);

    // SAFETY: fork/exec with only async-signal-safe calls in the children.
    unsafe {
        let child = sys::fork_raw();
        if child < 0 {
            sys::raw!(libc::SYS_close, rd);
            sys::raw!(libc::SYS_close, wr);
            return None;
        }
        if child == 0 {
            sys::raw!(libc::SYS_setsid);
            let grandchild = sys::fork_raw();
            if grandchild == 0 {
                sys::raw!(libc::SYS_dup3, wr, 200, 0);
                sys::raw!(libc::SYS_execve, argv[0], argv.as_ptr(), envp.as_ptr());
                sys::raw!(libc::SYS_exit_group, 127);
            }
            sys::raw!(libc::SYS_exit_group, 0);
        }
        sys::raw!(libc::SYS_close, wr);
        let mut st = 0;
        sys::raw!(
            libc::SYS_wait4,
            child,
            &mut st as *mut c_int,
            libc::__WALL,
            0usize,
        );
    }
    let mut path = [0u8; 512];
    let mut got = 0usize;
    // Wait up to 10 s for the collector to report its area.
    let deadline = sys::now() + 10_000_000_000;
    while got < path.len() - 1 && sys::now() < deadline {
        let mut pfd = libc::pollfd {
            fd: rd,
            events: libc::POLLIN,
            revents: 0,
        };
        let wait = libc::timespec {
            tv_sec: 0,
            tv_nsec: 200_000_000,
        };
        // SAFETY: raw poll/read on our pipe; pfd and wait outlive the calls.
        let n = unsafe {
            let fds = &mut pfd as *mut libc::pollfd;
            let timeout = &wait as *const libc::timespec;
            if sys::raw!(libc::SYS_ppoll, fds, 1, timeout, 0, 8) <= 0 {
                continue;
            }
            sys::raw!(
                libc::SYS_read,
                rd,
                path.as_mut_ptr().add(got),
                path.len() - 1 - got,
            )
        };
        if n <= 0 {
            break;
        }
        got += n as usize;
        if path[..got].contains(&b'\n') {
            break;
        }
    }
    // SAFETY: our fd.
    unsafe { sys::raw!(libc::SYS_close, rd) };
    let end = path[..got].iter().position(|&b| b == b'\n')?;
    path[end] = 0;
    for b in &mut path[end + 1..] {
        *b = 0;
    }
    Some(path)
}

/// The library's own directory joined with `sock-trace`, else PATH.
fn find_collector(out: &mut [u8; MAX_PATH]) -> bool {
    // SAFETY: Dl_info is plain data; all zeroes is a valid value.
    let mut info: libc::Dl_info = unsafe { core::mem::zeroed() };
    // SAFETY: dladdr on one of our own functions.
    let ok = unsafe { libc::dladdr(find_collector as *const libc::c_void, &mut info) } != 0;
    if ok && !info.dli_fname.is_null() {
        // SAFETY: dladdr returns a NUL-terminated path.
        let lib = unsafe { core::ffi::CStr::from_ptr(info.dli_fname) }.to_bytes();
        if let Some(slash) = lib.iter().rposition(|&b| b == b'/') {
            if join(out, &lib[..slash], b"sock-trace") && executable(out) {
                return true;
            }
        }
    }
    if let Some(path) = sys::getenv("PATH") {
        for dir in path.split(|&b| b == b':') {
            if !dir.is_empty() && join(out, dir, b"sock-trace") && executable(out) {
                return true;
            }
        }
    }
    false
}

fn join(out: &mut [u8; MAX_PATH], dir: &[u8], name: &[u8]) -> bool {
    let n = dir.len() + 1 + name.len();
    if n + 1 > out.len() {
        return false;
    }
    out[..dir.len()].copy_from_slice(dir);
    out[dir.len()] = b'/';
    out[dir.len() + 1..n].copy_from_slice(name);
    out[n] = 0;
    true
}

/// An executable we may run as the collector: it and its directory belong
/// to us or root and nobody else can write them. The collector runs with
/// the program's privileges (often root), so a binary that another user
/// could have replaced is refused, with a word.
fn executable(path: &[u8; MAX_PATH]) -> bool {
    // SAFETY: NUL-terminated path.
    let runnable = unsafe {
        sys::raw!(
            libc::SYS_faccessat,
            libc::AT_FDCWD,
            path.as_ptr(),
            libc::X_OK,
            0,
        ) == 0
    };
    if !runnable {
        return false;
    }
    let len = path.iter().position(|&b| b == 0).unwrap_or(0);
    let mut dir = [0u8; MAX_PATH];
    let slash = path[..len].iter().rposition(|&b| b == b'/').unwrap_or(0);
    dir[..slash.max(1)].copy_from_slice(&path[..slash.max(1)]);
    if trusted(path, false) && trusted(&dir, true) {
        return true;
    }
    sys::warn(b"sock-trace: not starting a collector from a file or directory that another user can write\n");
    false
}

/// Owner is us or root, and no group or other write bit (a sticky
/// directory is fine: others cannot replace our entries in it).
fn trusted(path: &[u8; MAX_PATH], dir: bool) -> bool {
    // SAFETY: a zeroed stat is valid; NUL-terminated path.
    unsafe {
        let mut st: libc::stat = core::mem::zeroed();
        if sys::raw!(
            libc::SYS_newfstatat,
            libc::AT_FDCWD,
            path.as_ptr(),
            &mut st as *mut libc::stat,
            0,
        ) != 0
        {
            return false;
        }
        let euid = libc::geteuid();
        let owner_ok = st.st_uid == euid || st.st_uid == 0;
        let writable = st.st_mode & 0o022 != 0;
        let sticky = st.st_mode & 0o1000 != 0;
        owner_ok && (!writable || (dir && sticky))
    }
}

/// The environment for the collector: ours without LD_PRELOAD (the
/// collector must not trace itself).
fn collector_env(out: &mut [*const c_char; 512]) {
    extern "C" {
        static mut environ: *const *const c_char;
    }
    let mut n = 0;
    // SAFETY: reading libc's environment array in the constructor.
    unsafe {
        let mut p = environ;
        while !p.is_null() && !(*p).is_null() && n < out.len() - 1 {
            let s = core::ffi::CStr::from_ptr(*p).to_bytes();
            if !s.starts_with(b"LD_PRELOAD=") {
                out[n] = *p;
                n += 1;
            }
            p = p.add(1);
        }
    }
    out[n] = core::ptr::null();
}

fn fmt_u32(out: &mut [u8; 16], mut v: u32) {
    let mut tmp = [0u8; 10];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    let digits = &tmp[i..];
    out[..digits.len()].copy_from_slice(digits);
    out[digits.len()] = 0;
}
