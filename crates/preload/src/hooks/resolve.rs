//! Name and service resolution: getaddrinfo, getnameinfo, gethostby*,
//! getservby*, getprotoby*. glibc's own sockets inside these (DNS over
//! UDP/TCP, nscd) use internal symbols no preload can see; these hooks are
//! where DNS becomes visible.

use super::{begin, call, involved, perform};
use crate::actions::Target;
use crate::capture;
use crate::real;
use crate::state;
use crate::state::emit;
use crate::sys;
use core::ffi::{c_char, c_int, c_void};
use libc::{addrinfo, hostent, protoent, servent, size_t, sockaddr, socklen_t};
use sock_trace_event::{role, Func, RecordWriter, Tag};

const MAX_RESULTS: usize = 32;
const MAX_LIST: usize = 16;

#[no_mangle]
pub unsafe extern "C" fn getaddrinfo(
    node: *const c_char,
    service: *const c_char,
    hints: *const addrinfo,
    res: *mut *mut addrinfo,
) -> c_int {
    if !involved(Func::Getaddrinfo) {
        // SAFETY: forwarding.
        return unsafe { real::getaddrinfo(node, service, hints, res) };
    }
    let t0 = sys::now();
    // SAFETY: forwarding. An injected failure returns its EAI code and
    // leaves *res alone, as a real failure does.
    let (r, e, injected) = perform(
        Func::Getaddrinfo,
        || Target::fd(-1),
        |_| unsafe { real::getaddrinfo(node, service, hints, res) } as i64,
    );
    let r = r as c_int;
    if !state::enabled(Func::Getaddrinfo) {
        sys::set_errno(e);
        return r;
    }
    let mut c = call(Func::Getaddrinfo, t0, r as i64, e);
    c.extra = 4096;
    c.flags |= injected;
    emit(c, |w| {
        let list = if r == 0 && !res.is_null() {
            // SAFETY: written by libc on success.
            unsafe { *res }
        } else {
            core::ptr::null_mut()
        };
        w.header().args[..5].copy_from_slice(&[
            node as u64,
            service as u64,
            hints as u64,
            res as u64,
            list as u64,
        ]);
        // SAFETY: libc read these strings (it would have crashed otherwise);
        // still copied through the safe path on failure.
        unsafe {
            capture::cstr(w, role::NODE, node, r == 0);
            capture::cstr(w, role::SERVICE, service, r == 0);
        }
        if let Some(h) = capture::read_value(hints) {
            w.ints(
                role::HINTS,
                &[
                    h.ai_flags as i64,
                    h.ai_family as i64,
                    h.ai_socktype as i64,
                    h.ai_protocol as i64,
                ],
            );
        }
        let mut p = list;
        let mut n = 0;
        while !p.is_null() && n < MAX_RESULTS {
            // SAFETY: a list libc just built.
            let ai = unsafe { &*p };
            w.ints(
                role::AI,
                &[
                    ai.ai_flags as i64,
                    ai.ai_family as i64,
                    ai.ai_socktype as i64,
                    ai.ai_protocol as i64,
                ],
            );
            // SAFETY: as above.
            unsafe {
                capture::sockaddr(w, role::AI_ADDR, ai.ai_addr, ai.ai_addrlen as usize, true);
                capture::cstr(w, role::CANON, ai.ai_canonname, true);
            }
            p = ai.ai_next;
            n += 1;
        }
    });
    sys::set_errno(e);
    r
}

#[no_mangle]
pub unsafe extern "C" fn freeaddrinfo(res: *mut addrinfo) {
    let Some(t0) = begin(Func::Freeaddrinfo) else {
        // SAFETY: forwarding.
        return unsafe { real::freeaddrinfo(res) };
    };
    let e0 = sys::errno();
    // SAFETY: forwarding.
    unsafe { real::freeaddrinfo(res) };
    let e = sys::errno();
    emit(call(Func::Freeaddrinfo, t0, 0, e0), |w| {
        w.header().args[0] = res as u64
    });
    sys::set_errno(e);
}

#[no_mangle]
pub unsafe extern "C" fn getnameinfo(
    addr: *const sockaddr,
    alen: socklen_t,
    host: *mut c_char,
    hlen: socklen_t,
    serv: *mut c_char,
    slen: socklen_t,
    flags: c_int,
) -> c_int {
    let Some(t0) = begin(Func::Getnameinfo) else {
        // SAFETY: forwarding.
        return unsafe { real::getnameinfo(addr, alen, host, hlen, serv, slen, flags) };
    };
    // SAFETY: forwarding.
    let r = unsafe { real::getnameinfo(addr, alen, host, hlen, serv, slen, flags) };
    let e = sys::errno();
    emit(call(Func::Getnameinfo, t0, r as i64, e), |w| {
        w.header().args[..5].copy_from_slice(&[
            addr as u64,
            alen as u64,
            hlen as u64,
            slen as u64,
            flags as u64,
        ]);
        // SAFETY: read by libc on success; results written on success.
        unsafe {
            // libc reads the family's size, whatever `alen` says.
            capture::sockaddr_libc(w, role::ADDR, addr, alen as usize, r == 0);
            if r == 0 {
                if hlen > 0 {
                    capture::cstr(w, role::HOST_OUT, host, true);
                }
                if slen > 0 {
                    capture::cstr(w, role::SERV_OUT, serv, true);
                }
            }
        }
    });
    sys::set_errno(e);
    r
}

/// # Safety
/// `h` must be a hostent libc returned.
unsafe fn hostent_blobs(w: &mut RecordWriter<'_>, h: *const hostent) {
    if h.is_null() {
        return;
    }
    // SAFETY: per contract.
    let h = unsafe { &*h };
    // SAFETY: libc-built strings and lists, bounded walks.
    unsafe {
        capture::cstr(w, role::ENT_NAME, h.h_name, true);
        w.ints(role::ENT_INFO, &[h.h_addrtype as i64, h.h_length as i64]);
        let len = (h.h_length.max(0) as usize).min(16);
        let mut i = 0;
        while !h.h_addr_list.is_null() && i < MAX_LIST {
            let a = *h.h_addr_list.add(i);
            if a.is_null() {
                break;
            }
            capture::bytes(w, Tag::Bytes, role::ENT_ADDR, a as *const u8, len, true);
            i += 1;
        }
        let mut i = 0;
        while !h.h_aliases.is_null() && i < MAX_LIST {
            let a = *h.h_aliases.add(i);
            if a.is_null() {
                break;
            }
            capture::cstr(w, role::ENT_ALIAS, a, true);
            i += 1;
        }
    }
}

extern "C" {
    fn __h_errno_location() -> *mut c_int;
}

fn h_errno() -> i32 {
    // SAFETY: glibc's thread-local h_errno location.
    unsafe { *__h_errno_location() }
}

/// A gethostby* call under the action rules: an injected failure returns
/// NULL with the rule's error as h_errno, and leaves errno as it was.
fn resolve_performed(
    func: Func,
    forward: impl FnOnce() -> *mut hostent,
) -> (*mut hostent, i32, u16) {
    let errno_before = sys::errno();
    let (r, e, injected) = perform(func, || Target::fd(-1), |_| forward() as i64);
    if injected != 0 {
        // SAFETY: glibc's thread-local h_errno location.
        unsafe { *__h_errno_location() = e };
        return (core::ptr::null_mut(), errno_before, injected);
    }
    (r as *mut hostent, e, 0)
}

fn hostent_call(func: Func, t0: u64, h: *mut hostent, e: i32) -> crate::state::Call {
    let herr = if h.is_null() { h_errno() } else { 0 };
    let mut c = call(func, t0, h as i64, herr);
    c.extra = 2048;
    let _ = e;
    c
}

#[no_mangle]
pub unsafe extern "C" fn gethostbyname(name: *const c_char) -> *mut hostent {
    if !involved(Func::Gethostbyname) {
        // SAFETY: forwarding.
        return unsafe { real::gethostbyname(name) };
    }
    let t0 = sys::now();
    let (h, e, injected) = resolve_performed(Func::Gethostbyname, || {
        // SAFETY: forwarding the program's call.
        unsafe { real::gethostbyname(name) }
    });
    if !state::enabled(Func::Gethostbyname) {
        sys::set_errno(e);
        return h;
    }
    let mut c = hostent_call(Func::Gethostbyname, t0, h, e);
    c.flags |= injected;
    emit(c, |w| {
        w.header().args[0] = name as u64;
        // SAFETY: libc read name; h is libc's.
        unsafe {
            capture::cstr(w, role::NODE, name, !h.is_null());
            hostent_blobs(w, h);
        }
    });
    sys::set_errno(e);
    h
}

#[no_mangle]
pub unsafe extern "C" fn gethostbyname2(name: *const c_char, af: c_int) -> *mut hostent {
    if !involved(Func::Gethostbyname2) {
        // SAFETY: forwarding.
        return unsafe { real::gethostbyname2(name, af) };
    }
    let t0 = sys::now();
    let (h, e, injected) = resolve_performed(Func::Gethostbyname2, || {
        // SAFETY: forwarding the program's call.
        unsafe { real::gethostbyname2(name, af) }
    });
    if !state::enabled(Func::Gethostbyname2) {
        sys::set_errno(e);
        return h;
    }
    let mut c = hostent_call(Func::Gethostbyname2, t0, h, e);
    c.flags |= injected;
    emit(c, |w| {
        w.header().args[..2].copy_from_slice(&[name as u64, af as u64]);
        // SAFETY: as gethostbyname.
        unsafe {
            capture::cstr(w, role::NODE, name, !h.is_null());
            hostent_blobs(w, h);
        }
    });
    sys::set_errno(e);
    h
}

#[no_mangle]
pub unsafe extern "C" fn gethostbyaddr(
    addr: *const c_void,
    len: socklen_t,
    ty: c_int,
) -> *mut hostent {
    let Some(t0) = begin(Func::Gethostbyaddr) else {
        // SAFETY: forwarding.
        return unsafe { real::gethostbyaddr(addr, len, ty) };
    };
    // SAFETY: forwarding.
    let h = unsafe { real::gethostbyaddr(addr, len, ty) };
    let e = sys::errno();
    emit(hostent_call(Func::Gethostbyaddr, t0, h, e), |w| {
        w.header().args[..3].copy_from_slice(&[addr as u64, len as u64, ty as u64]);
        // SAFETY: safe copy of the input; h is libc's.
        unsafe {
            capture::bytes(
                w,
                Tag::Bytes,
                role::ADDR,
                addr as *const u8,
                (len as usize).min(16),
                false,
            );
            hostent_blobs(w, h);
        }
    });
    sys::set_errno(e);
    h
}

/// The reentrant forms return an error number and the hostent through
/// `*result`; h_errno goes through `h_errnop`.
fn hostent_r_done(
    func: Func,
    t0: u64,
    r: c_int,
    result: *mut *mut hostent,
    h_errnop: *mut c_int,
    fill: impl FnOnce(&mut RecordWriter<'_>),
) {
    let herr = capture::read_value(h_errnop as *const c_int).unwrap_or(0);
    let h = capture::read_value(result as *const *mut hostent).unwrap_or(core::ptr::null_mut());
    let mut c = call(func, t0, r as i64, herr);
    c.extra = 2048;
    emit(c, |w| {
        fill(w);
        if r == 0 {
            // SAFETY: the hostent libc filled in the caller's buffer.
            unsafe { hostent_blobs(w, h) };
        }
    });
}

#[no_mangle]
pub unsafe extern "C" fn gethostbyname_r(
    name: *const c_char,
    ret: *mut hostent,
    buf: *mut c_char,
    buflen: size_t,
    result: *mut *mut hostent,
    h_errnop: *mut c_int,
) -> c_int {
    let Some(t0) = begin(Func::GethostbynameR) else {
        // SAFETY: forwarding.
        return unsafe { real::gethostbyname_r(name, ret, buf, buflen, result, h_errnop) };
    };
    // SAFETY: forwarding.
    let r = unsafe { real::gethostbyname_r(name, ret, buf, buflen, result, h_errnop) };
    let e = sys::errno();
    hostent_r_done(Func::GethostbynameR, t0, r, result, h_errnop, |w| {
        w.header().args = [
            name as u64,
            ret as u64,
            buf as u64,
            buflen as u64,
            result as u64,
            h_errnop as u64,
        ];
        // SAFETY: safe copy.
        unsafe { capture::cstr(w, role::NODE, name, false) };
    });
    sys::set_errno(e);
    r
}

#[no_mangle]
pub unsafe extern "C" fn gethostbyname2_r(
    name: *const c_char,
    af: c_int,
    ret: *mut hostent,
    buf: *mut c_char,
    buflen: size_t,
    result: *mut *mut hostent,
    h_errnop: *mut c_int,
) -> c_int {
    let Some(t0) = begin(Func::Gethostbyname2R) else {
        // SAFETY: forwarding.
        return unsafe { real::gethostbyname2_r(name, af, ret, buf, buflen, result, h_errnop) };
    };
    // SAFETY: forwarding.
    let r = unsafe { real::gethostbyname2_r(name, af, ret, buf, buflen, result, h_errnop) };
    let e = sys::errno();
    hostent_r_done(Func::Gethostbyname2R, t0, r, result, h_errnop, |w| {
        w.header().args = [
            name as u64,
            af as u64,
            ret as u64,
            buf as u64,
            buflen as u64,
            result as u64,
        ];
        // SAFETY: safe copy.
        unsafe { capture::cstr(w, role::NODE, name, false) };
    });
    sys::set_errno(e);
    r
}

#[no_mangle]
pub unsafe extern "C" fn gethostbyaddr_r(
    addr: *const c_void,
    len: socklen_t,
    ty: c_int,
    ret: *mut hostent,
    buf: *mut c_char,
    buflen: size_t,
    result: *mut *mut hostent,
    h_errnop: *mut c_int,
) -> c_int {
    let Some(t0) = begin(Func::GethostbyaddrR) else {
        // SAFETY: forwarding.
        return unsafe { real::gethostbyaddr_r(addr, len, ty, ret, buf, buflen, result, h_errnop) };
    };
    // SAFETY: forwarding.
    let r = unsafe { real::gethostbyaddr_r(addr, len, ty, ret, buf, buflen, result, h_errnop) };
    let e = sys::errno();
    hostent_r_done(Func::GethostbyaddrR, t0, r, result, h_errnop, |w| {
        w.header().args = [
            addr as u64,
            len as u64,
            ty as u64,
            ret as u64,
            buf as u64,
            buflen as u64,
        ];
        // SAFETY: safe copy.
        unsafe {
            capture::bytes(
                w,
                Tag::Bytes,
                role::ADDR,
                addr as *const u8,
                (len as usize).min(16),
                false,
            )
        };
    });
    sys::set_errno(e);
    r
}

/// # Safety
/// `s` must be a servent libc returned (or NULL).
unsafe fn servent_blobs(w: &mut RecordWriter<'_>, s: *const servent) {
    if s.is_null() {
        return;
    }
    // SAFETY: per contract.
    let s = unsafe { &*s };
    // SAFETY: libc-built strings.
    unsafe {
        capture::cstr(w, role::ENT_NAME, s.s_name, true);
        w.ints(role::ENT_INFO, &[u16::from_be(s.s_port as u16) as i64]);
        capture::cstr(w, role::SERV_OUT, s.s_proto, true);
        aliases(w, s.s_aliases);
    }
}

/// # Safety
/// A NULL-terminated list of C strings libc returned, or NULL.
unsafe fn aliases(w: &mut RecordWriter<'_>, list: *mut *mut c_char) {
    let mut i = 0;
    while !list.is_null() && i < MAX_LIST {
        // SAFETY: per contract.
        let a = unsafe { *list.add(i) };
        if a.is_null() {
            break;
        }
        // SAFETY: libc string.
        unsafe { capture::cstr(w, role::ENT_ALIAS, a, true) };
        i += 1;
    }
}

#[no_mangle]
pub unsafe extern "C" fn getservbyname(name: *const c_char, proto: *const c_char) -> *mut servent {
    let Some(t0) = begin(Func::Getservbyname) else {
        // SAFETY: forwarding.
        return unsafe { real::getservbyname(name, proto) };
    };
    // SAFETY: forwarding.
    let s = unsafe { real::getservbyname(name, proto) };
    let e = sys::errno();
    emit(call(Func::Getservbyname, t0, s as i64, e), |w| {
        w.header().args[..2].copy_from_slice(&[name as u64, proto as u64]);
        // SAFETY: safe copies; s is libc's.
        unsafe {
            capture::cstr(w, role::NODE, name, false);
            capture::cstr(w, role::PROTO, proto, false);
            servent_blobs(w, s);
        }
    });
    sys::set_errno(e);
    s
}

#[no_mangle]
pub unsafe extern "C" fn getservbyport(port: c_int, proto: *const c_char) -> *mut servent {
    let Some(t0) = begin(Func::Getservbyport) else {
        // SAFETY: forwarding.
        return unsafe { real::getservbyport(port, proto) };
    };
    // SAFETY: forwarding.
    let s = unsafe { real::getservbyport(port, proto) };
    let e = sys::errno();
    emit(call(Func::Getservbyport, t0, s as i64, e), |w| {
        w.header().args[..2].copy_from_slice(&[port as u32 as u64, proto as u64]);
        // SAFETY: safe copy; s is libc's.
        unsafe {
            capture::cstr(w, role::PROTO, proto, false);
            servent_blobs(w, s);
        }
    });
    sys::set_errno(e);
    s
}

/// # Safety
/// `p` must be a protoent libc returned (or NULL).
unsafe fn protoent_blobs(w: &mut RecordWriter<'_>, p: *const protoent) {
    if p.is_null() {
        return;
    }
    // SAFETY: per contract.
    let p = unsafe { &*p };
    // SAFETY: libc-built strings.
    unsafe {
        capture::cstr(w, role::ENT_NAME, p.p_name, true);
        w.ints(role::ENT_INFO, &[p.p_proto as i64]);
        aliases(w, p.p_aliases);
    }
}

#[no_mangle]
pub unsafe extern "C" fn getprotobyname(name: *const c_char) -> *mut protoent {
    let Some(t0) = begin(Func::Getprotobyname) else {
        // SAFETY: forwarding.
        return unsafe { real::getprotobyname(name) };
    };
    // SAFETY: forwarding.
    let p = unsafe { real::getprotobyname(name) };
    let e = sys::errno();
    emit(call(Func::Getprotobyname, t0, p as i64, e), |w| {
        w.header().args[0] = name as u64;
        // SAFETY: safe copy; p is libc's.
        unsafe {
            capture::cstr(w, role::NODE, name, false);
            protoent_blobs(w, p);
        }
    });
    sys::set_errno(e);
    p
}

#[no_mangle]
pub unsafe extern "C" fn getprotobynumber(proto: c_int) -> *mut protoent {
    let Some(t0) = begin(Func::Getprotobynumber) else {
        // SAFETY: forwarding.
        return unsafe { real::getprotobynumber(proto) };
    };
    // SAFETY: forwarding.
    let p = unsafe { real::getprotobynumber(proto) };
    let e = sys::errno();
    emit(call(Func::Getprotobynumber, t0, p as i64, e), |w| {
        w.header().args[0] = proto as u64;
        // SAFETY: p is libc's.
        unsafe { protoent_blobs(w, p) };
    });
    sys::set_errno(e);
    p
}
