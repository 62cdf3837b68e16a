//! Byte-order and address-text helpers (off unless included), and the exec
//! family, hooked only to hand this thread's ring back before the image is
//! replaced.

use super::{enabled, plain, Ret, Traced};
use crate::capture;
use crate::lifecycle;
use core::ffi::{c_char, c_int, c_void};
use libc::socklen_t;
use sock_trace_event::{role, Func, Tag};

/// The byte-order exports, each under its literal name. They compute
/// their result themselves (no real call): `v` swapped, recorded by
/// [`order_traced`] when the function is traced.
macro_rules! byte_order {
    ($(pub unsafe extern "C" fn $name:ident(v: $t:ty) -> $r:ty { $func:expr })*) => {$(
        #[no_mangle]
        pub unsafe extern "C" fn $name(v: $t) -> $r {
            if !enabled($func) {
                return v.swap_bytes();
            }
            order_traced($func, v as u64, v.swap_bytes())
        }
    )*};
}

byte_order! {
    pub unsafe extern "C" fn htons(v: u16) -> u16 { Func::Htons }
    pub unsafe extern "C" fn ntohs(v: u16) -> u16 { Func::Ntohs }
    pub unsafe extern "C" fn htonl(v: u32) -> u32 { Func::Htonl }
    pub unsafe extern "C" fn ntohl(v: u32) -> u32 { Func::Ntohl }
}

/// htons, ntohs, htonl, ntohl: `v` swapped is `r`.
#[inline(never)]
fn order_traced<T: Ret>(func: Func, v: u64, r: T) -> T {
    let call = Traced::start(func);
    let done = plain(r);
    call.finish(done, |w, _| w.header().args[0] = v)
}

hook! {
    pub unsafe extern "C" fn inet_addr(cp: *const c_char) -> u32 {
        enabled(Func::InetAddr) => inet_addr_traced(cp)
    }

    pub unsafe extern "C" fn inet_aton(cp: *const c_char, inp: *mut libc::in_addr) -> c_int {
        enabled(Func::InetAton) => inet_aton_traced(cp, inp)
    }

    pub unsafe extern "C" fn inet_ntoa(inp: libc::in_addr) -> *mut c_char {
        enabled(Func::InetNtoa) => inet_ntoa_traced(inp)
    }

    pub unsafe extern "C" fn inet_pton(af: c_int, src: *const c_char, dst: *mut c_void) -> c_int {
        enabled(Func::InetPton) => inet_pton_traced(af, src, dst)
    }

    pub unsafe extern "C" fn inet_ntop(af: c_int, src: *const c_void, dst: *mut c_char, size: socklen_t) -> *const c_char {
        enabled(Func::InetNtop) => inet_ntop_traced(af, src, dst, size)
    }
}

#[inline(never)]
unsafe fn inet_addr_traced(cp: *const c_char) -> u32 {
    let call = Traced::start(Func::InetAddr);
    let done = plain(forward!(inet_addr(cp)));
    call.finish(done, |w, _| {
        w.header().args[0] = cp as u64;
        // inet_addr stops at the first blank ("1.2.3.4 junk" is accepted):
        // the string is copied through the fault-safe path.
        // SAFETY: not trusted.
        unsafe { capture::cstr(w, role::TEXT, cp, false) };
    })
}

#[inline(never)]
unsafe fn inet_aton_traced(cp: *const c_char, inp: *mut libc::in_addr) -> c_int {
    let call = Traced::start(Func::InetAton);
    let done = plain(forward!(inet_aton(cp, inp)));
    call.finish(done, |w, d| {
        args!(w, cp, inp);
        // SAFETY: cp copied through the fault-safe path (inet_aton stops
        // at the first blank); inp written on success.
        unsafe {
            capture::cstr(w, role::TEXT, cp, false);
            if d.ret != 0 {
                capture::bytes(w, Tag::Bytes, role::ADDR_OUT, inp as *const u8, 4, true);
            }
        }
    })
}

#[inline(never)]
unsafe fn inet_ntoa_traced(inp: libc::in_addr) -> *mut c_char {
    let call = Traced::start(Func::InetNtoa);
    let done = plain(forward!(inet_ntoa(inp)));
    call.finish(done, |w, d| {
        w.header().args[0] = inp.s_addr as u64;
        // SAFETY: libc's static buffer.
        unsafe { capture::cstr(w, role::TEXT, d.ret, true) };
    })
}

#[inline(never)]
unsafe fn inet_pton_traced(af: c_int, src: *const c_char, dst: *mut c_void) -> c_int {
    let call = Traced::start(Func::InetPton);
    let done = plain(forward!(inet_pton(af, src, dst)));
    call.finish(done, |w, d| {
        let r = d.ret;
        args!(w, af, src, dst);
        // SAFETY: libc read src; wrote dst when r == 1.
        unsafe {
            // A rejected string was read only up to its first bad character.
            capture::cstr(w, role::TEXT, src, r == 1);
            if r == 1 {
                let n = if af == libc::AF_INET6 { 16 } else { 4 };
                capture::bytes(w, Tag::Bytes, role::ADDR_OUT, dst as *const u8, n, true);
            }
        }
    })
}

#[inline(never)]
unsafe fn inet_ntop_traced(
    af: c_int,
    src: *const c_void,
    dst: *mut c_char,
    size: socklen_t,
) -> *const c_char {
    let call = Traced::start(Func::InetNtop);
    let done = plain(forward!(inet_ntop(af, src, dst, size)));
    call.finish(done, |w, d| {
        let r = d.ret;
        args!(w, af, src, dst, size);
        let n = if af == libc::AF_INET6 { 16 } else { 4 };
        // SAFETY: libc read src on success; wrote dst.
        unsafe {
            capture::bytes(w, Tag::Bytes, role::ADDR, src as *const u8, n, !r.is_null());
            if !r.is_null() {
                capture::cstr(w, role::TEXT, r, true);
            }
        }
    })
}

/// The exec family: checks whether the new program keeps the tracer (and
/// records it when it leaves the trace; see `leave`), gives this thread's
/// ring back, then `exec`s with the environment to use (a rewritten one,
/// or `envp` as given; NULL when the program passed none and nothing was
/// rewritten, which means `environ`).
///
/// # Safety
/// `path` (or NULL) and `envp` (or NULL) as the exec function requires them.
unsafe fn leaving(
    path: *const c_char,
    envp: *const *const c_char,
    exec: impl FnOnce(*const *const c_char) -> c_int,
) -> c_int {
    let mut buf = crate::leave::EnvBuf::new();
    // SAFETY: the caller's arguments, per this function's contract.
    let envp = unsafe { crate::leave::check(path, envp, &mut buf) };
    lifecycle::before_exec();
    let r = exec(envp);
    // Still here: the exec failed.
    let saved = crate::sys::errno();
    crate::handover::exec_failed();
    crate::sys::set_errno(saved);
    r
}

#[no_mangle]
pub unsafe extern "C" fn execve(
    path: *const c_char,
    argv: *const *const c_char,
    envp: *const *const c_char,
) -> c_int {
    let exec = |envp| forward!(execve(path, argv, envp));
    // SAFETY: the caller's arguments, as execve requires them.
    unsafe { leaving(path, envp, exec) }
}

/// [`leaving`] for the exec functions that take no environment (execv,
/// execvp): `plain` keeps `environ`; a rewritten environment goes through
/// the function's `e` variant (`with_env`).
///
/// # Safety
/// As [`leaving`], for `path`.
unsafe fn leaving_environ(
    path: *const c_char,
    plain: impl FnOnce() -> c_int,
    with_env: impl FnOnce(*const *const c_char) -> c_int,
) -> c_int {
    let exec = |envp: *const *const c_char| {
        if envp.is_null() {
            plain()
        } else {
            with_env(envp)
        }
    };
    // SAFETY: per contract; NULL means environ.
    unsafe { leaving(path, core::ptr::null(), exec) }
}

#[no_mangle]
pub unsafe extern "C" fn execv(path: *const c_char, argv: *const *const c_char) -> c_int {
    let plain = || forward!(execv(path, argv));
    let with_env = |envp| forward!(execve(path, argv, envp));
    // SAFETY: the caller's arguments.
    unsafe { leaving_environ(path, plain, with_env) }
}

#[no_mangle]
pub unsafe extern "C" fn execvp(file: *const c_char, argv: *const *const c_char) -> c_int {
    let plain = || forward!(execvp(file, argv));
    let with_env = |envp| forward!(execvpe(file, argv, envp));
    // SAFETY: the caller's arguments.
    unsafe { leaving_environ(file, plain, with_env) }
}

#[no_mangle]
pub unsafe extern "C" fn execvpe(
    file: *const c_char,
    argv: *const *const c_char,
    envp: *const *const c_char,
) -> c_int {
    let exec = |envp| forward!(execvpe(file, argv, envp));
    // SAFETY: the caller's arguments.
    unsafe { leaving(file, envp, exec) }
}

/// The program has no path to show.
#[no_mangle]
pub unsafe extern "C" fn fexecve(
    fd: c_int,
    argv: *const *const c_char,
    envp: *const *const c_char,
) -> c_int {
    let exec = |envp| forward!(fexecve(fd, argv, envp));
    // SAFETY: the caller's arguments.
    unsafe { leaving(core::ptr::null(), envp, exec) }
}
