//! Name and service resolution: getaddrinfo, getnameinfo, gethostby*,
//! getservby*, getprotoby*. glibc's own sockets inside these (DNS over
//! UDP/TCP, nscd) use internal symbols no preload can see; these hooks are
//! where DNS becomes visible.

use super::{acted, enabled, involved, plain, Done, Traced};
use crate::actions::Target;
use crate::capture;
use crate::sys;
use core::ffi::{c_char, c_int, c_void};
use libc::{addrinfo, hostent, protoent, servent, size_t, sockaddr, socklen_t};
use sock_trace_event::{role, Func, RecordWriter, Tag};

const MAX_RESULTS: usize = 32;
const MAX_LIST: usize = 16;

hook! {
    pub unsafe extern "C" fn getaddrinfo(node: *const c_char, service: *const c_char, hints: *const addrinfo, res: *mut *mut addrinfo) -> c_int {
        involved(Func::Getaddrinfo) => getaddrinfo_traced(node, service, hints, res)
    }

    pub unsafe extern "C" fn freeaddrinfo(res: *mut addrinfo) -> () {
        enabled(Func::Freeaddrinfo) => freeaddrinfo_traced(res)
    }

    pub unsafe extern "C" fn getnameinfo(addr: *const sockaddr, alen: socklen_t, host: *mut c_char, hlen: socklen_t, serv: *mut c_char, slen: socklen_t, flags: c_int) -> c_int {
        enabled(Func::Getnameinfo) => getnameinfo_traced(addr, alen, host, hlen, serv, slen, flags)
    }

    pub unsafe extern "C" fn gethostbyname(name: *const c_char) -> *mut hostent {
        involved(Func::Gethostbyname) => gethostbyname_traced(name, None)
    }

    pub unsafe extern "C" fn gethostbyname2(name: *const c_char, af: c_int) -> *mut hostent {
        involved(Func::Gethostbyname2) => gethostbyname_traced(name, Some(af))
    }

    pub unsafe extern "C" fn gethostbyaddr(addr: *const c_void, len: socklen_t, ty: c_int) -> *mut hostent {
        enabled(Func::Gethostbyaddr) => gethostbyaddr_traced(addr, len, ty)
    }

    pub unsafe extern "C" fn gethostbyname_r(name: *const c_char, ret: *mut hostent, buf: *mut c_char, buflen: size_t, result: *mut *mut hostent, h_errnop: *mut c_int) -> c_int {
        enabled(Func::GethostbynameR) => gethostbyname_r_traced(name, None, ret, buf, buflen, result, h_errnop)
    }

    pub unsafe extern "C" fn gethostbyname2_r(name: *const c_char, af: c_int, ret: *mut hostent, buf: *mut c_char, buflen: size_t, result: *mut *mut hostent, h_errnop: *mut c_int) -> c_int {
        enabled(Func::Gethostbyname2R) => gethostbyname_r_traced(name, Some(af), ret, buf, buflen, result, h_errnop)
    }

    pub unsafe extern "C" fn gethostbyaddr_r(addr: *const c_void, len: socklen_t, ty: c_int, ret: *mut hostent, buf: *mut c_char, buflen: size_t, result: *mut *mut hostent, h_errnop: *mut c_int) -> c_int {
        enabled(Func::GethostbyaddrR) => gethostbyaddr_r_traced(addr, len, ty, ret, buf, buflen, result, h_errnop)
    }

    pub unsafe extern "C" fn getservbyname(name: *const c_char, proto: *const c_char) -> *mut servent {
        enabled(Func::Getservbyname) => getservbyname_traced(name, proto)
    }

    pub unsafe extern "C" fn getservbyport(port: c_int, proto: *const c_char) -> *mut servent {
        enabled(Func::Getservbyport) => getservbyport_traced(port, proto)
    }

    pub unsafe extern "C" fn getprotobyname(name: *const c_char) -> *mut protoent {
        enabled(Func::Getprotobyname) => getprotobyname_traced(name)
    }

    pub unsafe extern "C" fn getprotobynumber(proto: c_int) -> *mut protoent {
        enabled(Func::Getprotobynumber) => getprotobynumber_traced(proto)
    }
}

#[inline(never)]
unsafe fn getaddrinfo_traced(
    node: *const c_char,
    service: *const c_char,
    hints: *const addrinfo,
    res: *mut *mut addrinfo,
) -> c_int {
    let call = Traced::start(Func::Getaddrinfo);
    // An injected failure returns its EAI code and leaves *res alone,
    // as a real failure does.
    let done = acted(
        Func::Getaddrinfo,
        || Target::fd(-1),
        |_| forward!(getaddrinfo(node, service, hints, res)),
    )
    .extra(4096);
    call.finish(done, |w, d| {
        let r = d.ret;
        let list = if r == 0 && !res.is_null() {
            // SAFETY: written by libc on success.
            unsafe { *res }
        } else {
            core::ptr::null_mut()
        };
        args!(w, node, service, hints, res, list);
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
    })
}

/// The record shows the errno the program had before the call (freeaddrinfo
/// reports nothing); the program keeps the one it has after.
#[inline(never)]
unsafe fn freeaddrinfo_traced(res: *mut addrinfo) {
    let call = Traced::start(Func::Freeaddrinfo);
    let done = {
        let before = sys::errno();
        forward!(freeaddrinfo(res));
        let mut d = plain(());
        d.shown_errno = before;
        d
    };
    call.finish(done, |w, _| w.header().args[0] = res as u64)
}

#[inline(never)]
unsafe fn getnameinfo_traced(
    addr: *const sockaddr,
    alen: socklen_t,
    host: *mut c_char,
    hlen: socklen_t,
    serv: *mut c_char,
    slen: socklen_t,
    flags: c_int,
) -> c_int {
    let call = Traced::start(Func::Getnameinfo);
    let done = plain(forward!(getnameinfo(
        addr, alen, host, hlen, serv, slen, flags
    )));
    call.finish(done, |w, d| {
        let r = d.ret;
        args!(w, addr, alen, hlen, slen, flags);
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
    })
}

/// # Safety
/// `h` must be a hostent libc returned (or NULL).
unsafe fn hostent_blobs(w: &mut RecordWriter<'_>, h: *const hostent) {
    // SAFETY: per contract.
    let Some(h) = (unsafe { h.as_ref() }) else {
        return;
    };
    let len = (h.h_length.max(0) as usize).min(16);
    let info = [h.h_addrtype as i64, h.h_length as i64];
    // SAFETY: libc-built strings and lists, bounded walks.
    unsafe {
        ent_blobs(w, h.h_name, &info, h.h_aliases, |w| {
            each_listed(h.h_addr_list, |a| {
                capture::bytes(w, Tag::Bytes, role::ENT_ADDR, a as *const u8, len, true)
            })
        })
    }
}

/// What a hostent, servent or protoent holds, in record order: its name,
/// its numbers (`info`), what `more` adds (addresses, protocol), its
/// aliases.
///
/// # Safety
/// `name` and `alias_list` as libc returned them in one of those.
unsafe fn ent_blobs(
    w: &mut RecordWriter<'_>,
    name: *const c_char,
    info: &[i64],
    alias_list: *mut *mut c_char,
    more: impl FnOnce(&mut RecordWriter<'_>),
) {
    // SAFETY: per contract.
    unsafe {
        capture::cstr(w, role::ENT_NAME, name, true);
        w.ints(role::ENT_INFO, info);
        more(w);
        aliases(w, alias_list);
    }
}

extern "C" {
    fn __h_errno_location() -> *mut c_int;
}

fn h_errno() -> i32 {
    // SAFETY: glibc's thread-local h_errno location.
    unsafe { *__h_errno_location() }
}

/// A gethostby* result as recorded: h_errno as the error when it failed,
/// room for the entry.
fn hostent_done(mut d: Done<*mut hostent>) -> Done<*mut hostent> {
    d.shown_errno = if d.ret.is_null() { h_errno() } else { 0 };
    d.extra(2048)
}

/// gethostbyname and gethostbyname2 (`af`), under the action rules: an
/// injected failure returns NULL with the rule's error as h_errno, and
/// leaves errno as it was.
#[inline(never)]
unsafe fn gethostbyname_traced(name: *const c_char, af: Option<c_int>) -> *mut hostent {
    let func = match af {
        None => Func::Gethostbyname,
        Some(_) => Func::Gethostbyname2,
    };
    let call = Traced::start(func);
    let errno_before = sys::errno();
    let d = acted(
        func,
        || Target::fd(-1),
        |_| match af {
            None => forward!(gethostbyname(name)),
            Some(af) => forward!(gethostbyname2(name, af)),
        },
    );
    let done = if d.flags != 0 {
        // SAFETY: glibc's thread-local h_errno location.
        unsafe { *__h_errno_location() = d.errno };
        let mut failed = Done::new(core::ptr::null_mut(), errno_before);
        failed.flags = d.flags;
        hostent_done(failed)
    } else {
        hostent_done(Done::new(d.ret, d.errno))
    };
    call.finish(done, |w, d| {
        w.header().args[0] = name as u64;
        if let Some(af) = af {
            w.header().args[1] = af as u64;
        }
        // SAFETY: libc read name; the hostent is libc's.
        unsafe {
            capture::cstr(w, role::NODE, name, !d.ret.is_null());
            hostent_blobs(w, d.ret);
        }
    })
}

/// The address gethostbyaddr(_r) was asked about: at most 16 bytes,
/// copied through the fault-safe path.
fn queried_addr(w: &mut RecordWriter<'_>, addr: *const c_void, len: socklen_t) {
    let (p, n) = (addr as *const u8, (len as usize).min(16));
    // SAFETY: untrusted: the fault-safe copy.
    unsafe { capture::bytes(w, Tag::Bytes, role::ADDR, p, n, false) }
}

#[inline(never)]
unsafe fn gethostbyaddr_traced(addr: *const c_void, len: socklen_t, ty: c_int) -> *mut hostent {
    let call = Traced::start(Func::Gethostbyaddr);
    let done = hostent_done(plain(forward!(gethostbyaddr(addr, len, ty))));
    call.finish(done, |w, d| {
        args!(w, addr, len, ty);
        queried_addr(w, addr, len);
        // SAFETY: the hostent is libc's.
        unsafe { hostent_blobs(w, d.ret) };
    })
}

/// The reentrant forms return an error number and the hostent through
/// `*result`; h_errno goes through `h_errnop`.
fn hostent_r_done(d: Done<c_int>, h_errnop: *mut c_int) -> Done<c_int> {
    let mut d = d.extra(2048);
    d.shown_errno = capture::read_value(h_errnop as *const c_int).unwrap_or(0);
    d
}

/// The hostent a reentrant form filled in the caller's buffer.
fn hostent_r_blobs(w: &mut RecordWriter<'_>, r: c_int, result: *mut *mut hostent) {
    let h = capture::read_value(result as *const *mut hostent).unwrap_or(core::ptr::null_mut());
    if r == 0 {
        // SAFETY: the hostent libc filled in the caller's buffer.
        unsafe { hostent_blobs(w, h) };
    }
}

/// gethostbyname_r and gethostbyname2_r (`af`).
#[inline(never)]
unsafe fn gethostbyname_r_traced(
    name: *const c_char,
    af: Option<c_int>,
    ret: *mut hostent,
    buf: *mut c_char,
    buflen: size_t,
    result: *mut *mut hostent,
    h_errnop: *mut c_int,
) -> c_int {
    let func = match af {
        None => Func::GethostbynameR,
        Some(_) => Func::Gethostbyname2R,
    };
    let call = Traced::start(func);
    let done = {
        let r = match af {
            None => forward!(gethostbyname_r(name, ret, buf, buflen, result, h_errnop)),
            Some(af) => {
                forward!(gethostbyname2_r(
                    name, af, ret, buf, buflen, result, h_errnop
                ))
            }
        };
        hostent_r_done(plain(r), h_errnop)
    };
    call.finish(done, |w, d| {
        w.header().args = match af {
            None => [
                name as u64,
                ret as u64,
                buf as u64,
                buflen as u64,
                result as u64,
                h_errnop as u64,
            ],
            Some(af) => [
                name as u64,
                af as u64,
                ret as u64,
                buf as u64,
                buflen as u64,
                result as u64,
            ],
        };
        // SAFETY: safe copy.
        unsafe { capture::cstr(w, role::NODE, name, false) };
        hostent_r_blobs(w, d.ret, result);
    })
}

#[allow(clippy::too_many_arguments)]
#[inline(never)]
unsafe fn gethostbyaddr_r_traced(
    addr: *const c_void,
    len: socklen_t,
    ty: c_int,
    ret: *mut hostent,
    buf: *mut c_char,
    buflen: size_t,
    result: *mut *mut hostent,
    h_errnop: *mut c_int,
) -> c_int {
    let call = Traced::start(Func::GethostbyaddrR);
    let done = {
        let r = forward!(gethostbyaddr_r(
            addr, len, ty, ret, buf, buflen, result, h_errnop
        ));
        hostent_r_done(plain(r), h_errnop)
    };
    call.finish(done, |w, d| {
        args!(w, addr, len, ty, ret, buf, buflen);
        queried_addr(w, addr, len);
        hostent_r_blobs(w, d.ret, result);
    })
}

/// # Safety
/// `s` must be a servent libc returned (or NULL).
unsafe fn servent_blobs(w: &mut RecordWriter<'_>, s: *const servent) {
    // SAFETY: per contract.
    let Some(s) = (unsafe { s.as_ref() }) else {
        return;
    };
    let port = [u16::from_be(s.s_port as u16) as i64];
    // SAFETY: libc-built strings.
    unsafe {
        ent_blobs(w, s.s_name, &port, s.s_aliases, |w| {
            capture::cstr(w, role::SERV_OUT, s.s_proto, true)
        })
    }
}

/// # Safety
/// A NULL-terminated list of C strings libc returned, or NULL.
unsafe fn aliases(w: &mut RecordWriter<'_>, list: *mut *mut c_char) {
    // SAFETY: per contract; each entry is a libc string.
    unsafe { each_listed(list, |a| capture::cstr(w, role::ENT_ALIAS, a, true)) }
}

/// Calls `f` on each entry of a NULL-terminated pointer list (a hostent's
/// addresses or aliases), at most [`MAX_LIST`] of them.
///
/// # Safety
/// `list` is NULL or a NULL-terminated list libc built.
unsafe fn each_listed(list: *mut *mut c_char, mut f: impl FnMut(*mut c_char)) {
    if list.is_null() {
        return;
    }
    for i in 0..MAX_LIST {
        // SAFETY: per contract: entries up to the NULL are readable.
        let a = unsafe { *list.add(i) };
        if a.is_null() {
            break;
        }
        f(a);
    }
}

#[inline(never)]
unsafe fn getservbyname_traced(name: *const c_char, proto: *const c_char) -> *mut servent {
    let call = Traced::start(Func::Getservbyname);
    let done = plain(forward!(getservbyname(name, proto)));
    call.finish(done, |w, d| {
        args!(w, name, proto);
        // SAFETY: safe copies; the servent is libc's.
        unsafe {
            capture::cstr(w, role::NODE, name, false);
            capture::cstr(w, role::PROTO, proto, false);
            servent_blobs(w, d.ret);
        }
    })
}

#[inline(never)]
unsafe fn getservbyport_traced(port: c_int, proto: *const c_char) -> *mut servent {
    let call = Traced::start(Func::Getservbyport);
    let done = plain(forward!(getservbyport(port, proto)));
    call.finish(done, |w, d| {
        args!(w, port as u32, proto);
        // SAFETY: safe copy; the servent is libc's.
        unsafe {
            capture::cstr(w, role::PROTO, proto, false);
            servent_blobs(w, d.ret);
        }
    })
}

/// # Safety
/// `p` must be a protoent libc returned (or NULL).
unsafe fn protoent_blobs(w: &mut RecordWriter<'_>, p: *const protoent) {
    // SAFETY: per contract.
    let Some(p) = (unsafe { p.as_ref() }) else {
        return;
    };
    // SAFETY: libc-built strings.
    unsafe { ent_blobs(w, p.p_name, &[p.p_proto as i64], p.p_aliases, |_| {}) }
}

#[inline(never)]
unsafe fn getprotobyname_traced(name: *const c_char) -> *mut protoent {
    let call = Traced::start(Func::Getprotobyname);
    let done = plain(forward!(getprotobyname(name)));
    call.finish(done, |w, d| {
        w.header().args[0] = name as u64;
        // SAFETY: safe copy; the protoent is libc's.
        unsafe {
            capture::cstr(w, role::NODE, name, false);
            protoent_blobs(w, d.ret);
        }
    })
}

#[inline(never)]
unsafe fn getprotobynumber_traced(proto: c_int) -> *mut protoent {
    let call = Traced::start(Func::Getprotobynumber);
    let done = plain(forward!(getprotobynumber(proto)));
    call.finish(done, |w, d| {
        w.header().args[0] = proto as u64;
        // SAFETY: the protoent is libc's.
        unsafe { protoent_blobs(w, d.ret) };
    })
}
