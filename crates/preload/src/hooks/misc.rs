//! Byte-order and address-text helpers (off unless included), and the exec
//! family, hooked only to hand this thread's ring back before the image is
//! replaced.

use super::{begin, call};
use crate::capture;
use crate::real;
use crate::state::{self, emit};
use crate::sys;
use core::ffi::{c_char, c_int, c_void};
use libc::socklen_t;
use sock_trace_event::{role, Func, Tag};

macro_rules! order_hook {
    ($name:ident, $func:expr, $t:ty) => {
        #[no_mangle]
        pub unsafe extern "C" fn $name(v: $t) -> $t {
            // The traced body, a function of its own so that the
            // untraced path below needs no prologue.
            #[inline(never)]
            fn hooked(v: $t) -> $t {
                let t0 = sys::now();
                let r = <$t>::swap_bytes(v);
                emit(call($func, t0, r as i64, sys::errno()), |w| {
                    w.header().args[0] = v as u64
                });
                r
            }
            if !state::enabled($func) {
                return <$t>::swap_bytes(v);
            }
            hooked(v)
        }
    };
}

order_hook!(htons, Func::Htons, u16);
order_hook!(ntohs, Func::Ntohs, u16);
order_hook!(htonl, Func::Htonl, u32);
order_hook!(ntohl, Func::Ntohl, u32);

#[no_mangle]
pub unsafe extern "C" fn inet_addr(cp: *const c_char) -> u32 {
    if !state::enabled(Func::InetAddr) {
        // SAFETY: forwarding.
        return unsafe { real::inet_addr(cp) };
    }
    // SAFETY: forwarded contract.
    unsafe { inet_addr_hooked(cp) }
}

#[inline(never)]
unsafe fn inet_addr_hooked(cp: *const c_char) -> u32 {
    let Some(t0) = begin(Func::InetAddr) else {
        // SAFETY: forwarding.
        return unsafe { real::inet_addr(cp) };
    };
    // SAFETY: forwarding.
    let r = unsafe { real::inet_addr(cp) };
    let e = sys::errno();
    emit(call(Func::InetAddr, t0, r as i64, e), |w| {
        w.header().args[0] = cp as u64;
        // inet_addr stops at the first blank ("1.2.3.4 junk" is accepted):
        // the string is copied through the fault-safe path.
        // SAFETY: not trusted.
        unsafe { capture::cstr(w, role::TEXT, cp, false) };
    });
    sys::set_errno(e);
    r
}

#[no_mangle]
pub unsafe extern "C" fn inet_aton(cp: *const c_char, inp: *mut libc::in_addr) -> c_int {
    if !state::enabled(Func::InetAton) {
        // SAFETY: forwarding.
        return unsafe { real::inet_aton(cp, inp) };
    }
    // SAFETY: forwarded contract.
    unsafe { inet_aton_hooked(cp, inp) }
}

#[inline(never)]
unsafe fn inet_aton_hooked(cp: *const c_char, inp: *mut libc::in_addr) -> c_int {
    let Some(t0) = begin(Func::InetAton) else {
        // SAFETY: forwarding.
        return unsafe { real::inet_aton(cp, inp) };
    };
    // SAFETY: forwarding.
    let r = unsafe { real::inet_aton(cp, inp) };
    let e = sys::errno();
    emit(call(Func::InetAton, t0, r as i64, e), |w| {
        w.header().args[..2].copy_from_slice(&[cp as u64, inp as u64]);
        // SAFETY: cp copied through the fault-safe path (inet_aton stops
        // at the first blank); inp written on success.
        unsafe {
            capture::cstr(w, role::TEXT, cp, false);
            if r != 0 {
                capture::bytes(w, Tag::Bytes, role::ADDR_OUT, inp as *const u8, 4, true);
            }
        }
    });
    sys::set_errno(e);
    r
}

#[no_mangle]
pub unsafe extern "C" fn inet_ntoa(inp: libc::in_addr) -> *mut c_char {
    if !state::enabled(Func::InetNtoa) {
        // SAFETY: forwarding.
        return unsafe { real::inet_ntoa(inp) };
    }
    // SAFETY: forwarded contract.
    unsafe { inet_ntoa_hooked(inp) }
}

#[inline(never)]
unsafe fn inet_ntoa_hooked(inp: libc::in_addr) -> *mut c_char {
    let Some(t0) = begin(Func::InetNtoa) else {
        // SAFETY: forwarding.
        return unsafe { real::inet_ntoa(inp) };
    };
    // SAFETY: forwarding.
    let r = unsafe { real::inet_ntoa(inp) };
    let e = sys::errno();
    emit(call(Func::InetNtoa, t0, r as i64, e), |w| {
        w.header().args[0] = inp.s_addr as u64;
        // SAFETY: libc's static buffer.
        unsafe { capture::cstr(w, role::TEXT, r, true) };
    });
    sys::set_errno(e);
    r
}

#[no_mangle]
pub unsafe extern "C" fn inet_pton(af: c_int, src: *const c_char, dst: *mut c_void) -> c_int {
    if !state::enabled(Func::InetPton) {
        // SAFETY: forwarding.
        return unsafe { real::inet_pton(af, src, dst) };
    }
    // SAFETY: forwarded contract.
    unsafe { inet_pton_hooked(af, src, dst) }
}

#[inline(never)]
unsafe fn inet_pton_hooked(af: c_int, src: *const c_char, dst: *mut c_void) -> c_int {
    let Some(t0) = begin(Func::InetPton) else {
        // SAFETY: forwarding.
        return unsafe { real::inet_pton(af, src, dst) };
    };
    // SAFETY: forwarding.
    let r = unsafe { real::inet_pton(af, src, dst) };
    let e = sys::errno();
    emit(call(Func::InetPton, t0, r as i64, e), |w| {
        w.header().args[..3].copy_from_slice(&[af as u64, src as u64, dst as u64]);
        // SAFETY: libc read src; wrote dst when r == 1.
        unsafe {
            // A rejected string was read only up to its first bad character.
            capture::cstr(w, role::TEXT, src, r == 1);
            if r == 1 {
                let n = if af == libc::AF_INET6 { 16 } else { 4 };
                capture::bytes(w, Tag::Bytes, role::ADDR_OUT, dst as *const u8, n, true);
            }
        }
    });
    sys::set_errno(e);
    r
}

#[no_mangle]
pub unsafe extern "C" fn inet_ntop(
    af: c_int,
    src: *const c_void,
    dst: *mut c_char,
    size: socklen_t,
) -> *const c_char {
    if !state::enabled(Func::InetNtop) {
        // SAFETY: forwarding.
        return unsafe { real::inet_ntop(af, src, dst, size) };
    }
    // SAFETY: forwarded contract.
    unsafe { inet_ntop_hooked(af, src, dst, size) }
}

#[inline(never)]
unsafe fn inet_ntop_hooked(
    af: c_int,
    src: *const c_void,
    dst: *mut c_char,
    size: socklen_t,
) -> *const c_char {
    let Some(t0) = begin(Func::InetNtop) else {
        // SAFETY: forwarding.
        return unsafe { real::inet_ntop(af, src, dst, size) };
    };
    // SAFETY: forwarding.
    let r = unsafe { real::inet_ntop(af, src, dst, size) };
    let e = sys::errno();
    emit(call(Func::InetNtop, t0, r as i64, e), |w| {
        w.header().args[..4].copy_from_slice(&[af as u64, src as u64, dst as u64, size as u64]);
        let n = if af == libc::AF_INET6 { 16 } else { 4 };
        // SAFETY: libc read src on success; wrote dst.
        unsafe {
            capture::bytes(w, Tag::Bytes, role::ADDR, src as *const u8, n, !r.is_null());
            if !r.is_null() {
                capture::cstr(w, role::TEXT, r, true);
            }
        }
    });
    sys::set_errno(e);
    r
}

#[no_mangle]
pub unsafe extern "C" fn execve(
    path: *const c_char,
    argv: *const *const c_char,
    envp: *const *const c_char,
) -> c_int {
    let mut buf = crate::leave::EnvBuf::new();
    // SAFETY: the caller's arguments, as execve requires them.
    let envp = unsafe { crate::leave::check(path, envp, &mut buf) };
    state::before_exec();
    // SAFETY: forwarding.
    unsafe { real::execve(path, argv, envp) }
}

#[no_mangle]
pub unsafe extern "C" fn execv(path: *const c_char, argv: *const *const c_char) -> c_int {
    let mut buf = crate::leave::EnvBuf::new();
    // SAFETY: the caller's arguments; NULL means environ.
    let envp = unsafe { crate::leave::check(path, core::ptr::null(), &mut buf) };
    state::before_exec();
    // SAFETY: forwarding (with a rewritten environment when one was made).
    unsafe {
        if envp.is_null() {
            real::execv(path, argv)
        } else {
            real::execve(path, argv, envp)
        }
    }
}

#[no_mangle]
pub unsafe extern "C" fn execvp(file: *const c_char, argv: *const *const c_char) -> c_int {
    let mut buf = crate::leave::EnvBuf::new();
    // SAFETY: the caller's arguments; NULL means environ.
    let envp = unsafe { crate::leave::check(file, core::ptr::null(), &mut buf) };
    state::before_exec();
    // SAFETY: forwarding (with a rewritten environment when one was made).
    unsafe {
        if envp.is_null() {
            real::execvp(file, argv)
        } else {
            real::execvpe(file, argv, envp)
        }
    }
}

#[no_mangle]
pub unsafe extern "C" fn execvpe(
    file: *const c_char,
    argv: *const *const c_char,
    envp: *const *const c_char,
) -> c_int {
    let mut buf = crate::leave::EnvBuf::new();
    // SAFETY: the caller's arguments.
    let envp = unsafe { crate::leave::check(file, envp, &mut buf) };
    state::before_exec();
    // SAFETY: forwarding.
    unsafe { real::execvpe(file, argv, envp) }
}

#[no_mangle]
pub unsafe extern "C" fn fexecve(
    fd: c_int,
    argv: *const *const c_char,
    envp: *const *const c_char,
) -> c_int {
    let mut buf = crate::leave::EnvBuf::new();
    // SAFETY: the caller's arguments; the program has no path to show.
    let envp = unsafe { crate::leave::check(core::ptr::null(), envp, &mut buf) };
    state::before_exec();
    // SAFETY: forwarding.
    unsafe { real::fexecve(fd, argv, envp) }
}
