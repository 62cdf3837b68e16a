//! The traced ws2_32 functions. Each one: take the time, call the real
//! function, save the last error at once, write one record (the layout of
//! docs/RECORDS.md, the same function ids as the Linux hooks where the
//! call is the same concept), restore the last error, return the real
//! result. Exported under the ws2_32 names through `exports.def`
//! (`connect = st_connect`), never as `#[no_mangle] fn connect`, which
//! would also capture the Rust standard library's own calls.
//!
//! `SOCKET` is 64 bits wide here and travels whole in `args`;
//! `INVALID_SOCKET` and `SOCKET_ERROR` read as -1 in `ret`.

use crate::area::{emit, wanted, Call};
use crate::forward::*;
use crate::sys::{self, safe_read, safe_read_val};
use actions::{Target, Verdict};
use core::cell::Cell;
use core::ffi::c_void;
use sock_trace_event::record::RecordWriter;
use sock_trace_event::{role, Func, Tag};

type Socket = usize;
const INVALID_SOCKET: Socket = !0;
/// Longest address blob (docs/RECORDS.md).
const MAX_ADDR: usize = 128;

/// The real function `i` as type `F` (a function pointer type).
macro_rules! real {
    ($i:expr, $t:ty) => {{
        let p = real($i);
        if p == 0 {
            sys::set_last_error(10045); // WSAEOPNOTSUPP
            None
        } else {
            // SAFETY: `p` is the address GetProcAddress gave for this name,
            // whose prototype is `$t`.
            Some(unsafe { core::mem::transmute::<usize, $t>(p) })
        }
    }};
}

/// Calls the real function and records it: `$call` runs between the two
/// timestamps; `$fill` gets the writer, the result and the saved error.
macro_rules! traced {
    ($func:expr, $extra:expr, $call:expr, |$w:ident, $r:ident, $max:ident| $fill:block, $ret:expr) => {{
        let Some($max) = wanted($func) else {
            return $call;
        };
        let t_start = sys::now();
        let $r = $call;
        let err = sys::last_error();
        emit(
            Call {
                func: $func,
                t_start,
                ret: $ret,
                err,
                extra: $extra,
            },
            |$w: &mut RecordWriter<'_>| {
                let _ = (&$w, $max);
                $fill
            },
        );
        sys::set_last_error(err);
        $r
    }};
}

/// An address the program passed: at most `len` (and 128) bytes.
fn addr_in(w: &mut RecordWriter<'_>, r: u8, p: *const u8, len: i32) {
    if p.is_null() || len <= 0 {
        return;
    }
    let buf = w.reserve(MAX_ADDR.min(len as usize));
    let n = safe_read(p, buf);
    w.commit_reserved(Tag::SockAddr, r, n);
}

/// An address the call returned, `*lenp` bytes long (cut to 128).
fn addr_out(w: &mut RecordWriter<'_>, r: u8, p: *const u8, lenp: *const i32) {
    if p.is_null() || lenp.is_null() {
        return;
    }
    let len = safe_read_val(lenp).unwrap_or(0);
    addr_in(w, r, p, len);
}

/// Payload moved by a successful call: the first min(n, max) bytes.
fn data(w: &mut RecordWriter<'_>, r: u8, p: *const u8, n: i32, max: u32) {
    if p.is_null() || n <= 0 || max == 0 {
        return;
    }
    let buf = w.reserve((n as usize).min(max as usize));
    let got = safe_read(p, buf);
    w.commit_reserved(Tag::Bytes, r, got);
}

fn args(w: &mut RecordWriter<'_>, a: &[u64]) {
    w.header().args[..a.len()].copy_from_slice(a);
}

#[no_mangle]
pub unsafe extern "system" fn st_WSAStartup(version: u16, data: *mut c_void) -> i32 {
    let Some(f) = real!(
        I_WSAStartup,
        unsafe extern "system" fn(u16, *mut c_void) -> i32
    ) else {
        return 10045;
    };
    // WSAStartup returns its error; the record keeps it in both places.
    traced!(
        Func::WsaStartup,
        0,
        unsafe { f(version, data) },
        |w, r, max| {
            args(w, &[version as u64, data as u64]);
            w.header().errno = r;
        },
        r as i64
    )
}

#[no_mangle]
pub unsafe extern "system" fn st_WSACleanup() -> i32 {
    let Some(f) = real!(I_WSACleanup, unsafe extern "system" fn() -> i32) else {
        return -1;
    };
    traced!(
        Func::WsaCleanup,
        0,
        unsafe { f() },
        |w, r, max| {},
        r as i64
    )
}

#[no_mangle]
pub unsafe extern "system" fn st_socket(af: i32, ty: i32, protocol: i32) -> Socket {
    let Some(f) = real!(I_socket, unsafe extern "system" fn(i32, i32, i32) -> Socket) else {
        return INVALID_SOCKET;
    };
    let v = Cell::new(Verdict::default());
    let target = || Target {
        family: af,
        ..Target::socket(0)
    };
    let call = || unsafe { f(af, ty, protocol) };
    traced!(
        Func::Socket,
        0,
        actions::perform(&v, Func::Socket, target, |r| r as Socket, call),
        |w, r, max| {
            w.header().flags |= v.get().flags();
            args(
                w,
                &[af as i64 as u64, ty as i64 as u64, protocol as i64 as u64],
            );
        },
        r as i64
    )
}

#[no_mangle]
pub unsafe extern "system" fn st_closesocket(s: Socket) -> i32 {
    let Some(f) = real!(I_closesocket, unsafe extern "system" fn(Socket) -> i32) else {
        return -1;
    };
    traced!(
        Func::Closesocket,
        0,
        unsafe { f(s) },
        |w, r, max| {
            args(w, &[s as u64]);
        },
        r as i64
    )
}

type AddrFn = unsafe extern "system" fn(Socket, *const u8, i32) -> i32;

/// connect and bind: a socket and an address passed in.
unsafe fn addr_call(func: Func, i: usize, s: Socket, name: *const u8, len: i32) -> i32 {
    let Some(f) = real!(i, AddrFn) else {
        return -1;
    };
    let v = Cell::new(Verdict::default());
    traced!(
        func,
        0,
        actions::perform(
            &v,
            func,
            || Target {
                addr: name,
                addrlen: len,
                ..Target::socket(s)
            },
            |r| r as i32,
            || unsafe { f(s, name, len) }
        ),
        |w, r, max| {
            w.header().flags |= v.get().flags();
            args(w, &[s as u64, name as u64, len as i64 as u64]);
            addr_in(w, role::ADDR, name, len);
        },
        r as i64
    )
}

#[no_mangle]
pub unsafe extern "system" fn st_connect(s: Socket, name: *const u8, len: i32) -> i32 {
    unsafe { addr_call(Func::Connect, I_connect, s, name, len) }
}

#[no_mangle]
pub unsafe extern "system" fn st_bind(s: Socket, name: *const u8, len: i32) -> i32 {
    unsafe { addr_call(Func::Bind, I_bind, s, name, len) }
}

/// listen and shutdown: a socket and an integer.
unsafe fn int_call(func: Func, i: usize, s: Socket, v: i32) -> i32 {
    let Some(f) = real!(i, unsafe extern "system" fn(Socket, i32) -> i32) else {
        return -1;
    };
    traced!(
        func,
        0,
        unsafe { f(s, v) },
        |w, r, max| {
            args(w, &[s as u64, v as i64 as u64]);
        },
        r as i64
    )
}

#[no_mangle]
pub unsafe extern "system" fn st_listen(s: Socket, backlog: i32) -> i32 {
    unsafe { int_call(Func::Listen, I_listen, s, backlog) }
}

#[no_mangle]
pub unsafe extern "system" fn st_accept(s: Socket, addr: *mut u8, len: *mut i32) -> Socket {
    let Some(f) = real!(
        I_accept,
        unsafe extern "system" fn(Socket, *mut u8, *mut i32) -> Socket
    ) else {
        return INVALID_SOCKET;
    };
    let v = Cell::new(Verdict::default());
    let call = || unsafe { f(s, addr, len) };
    let target = || Target::socket(s);
    traced!(
        Func::Accept,
        0,
        actions::perform(&v, Func::Accept, target, |r| r as Socket, call),
        |w, r, max| {
            w.header().flags |= v.get().flags();
            args(w, &[s as u64, addr as u64, len as u64]);
            if r != INVALID_SOCKET {
                addr_out(w, role::ADDR_OUT, addr, len);
            }
        },
        r as i64
    )
}

type NameFn = unsafe extern "system" fn(Socket, *mut u8, *mut i32) -> i32;

/// getsockname and getpeername: an address returned.
unsafe fn name_call(func: Func, i: usize, s: Socket, addr: *mut u8, len: *mut i32) -> i32 {
    let Some(f) = real!(i, NameFn) else {
        return -1;
    };
    traced!(
        func,
        0,
        unsafe { f(s, addr, len) },
        |w, r, max| {
            args(w, &[s as u64, addr as u64, len as u64]);
            if r == 0 {
                addr_out(w, role::ADDR_OUT, addr, len);
            }
        },
        r as i64
    )
}

#[no_mangle]
pub unsafe extern "system" fn st_getsockname(s: Socket, addr: *mut u8, len: *mut i32) -> i32 {
    unsafe { name_call(Func::Getsockname, I_getsockname, s, addr, len) }
}

#[no_mangle]
pub unsafe extern "system" fn st_getpeername(s: Socket, addr: *mut u8, len: *mut i32) -> i32 {
    unsafe { name_call(Func::Getpeername, I_getpeername, s, addr, len) }
}

type IoFn = unsafe extern "system" fn(Socket, *mut u8, i32, i32) -> i32;

/// send and recv: the payload that moved, in direction `dir`.
unsafe fn io_call(
    func: Func,
    i: usize,
    dir: u8,
    s: Socket,
    buf: *mut u8,
    len: i32,
    flags: i32,
) -> i32 {
    let Some(f) = real!(i, IoFn) else {
        return -1;
    };
    let extra = len.max(0) as usize;
    let v = Cell::new(Verdict::default());
    traced!(
        func,
        extra,
        actions::perform(
            &v,
            func,
            || Target::socket(s),
            |r| r as i32,
            || unsafe { f(s, buf, len, flags) }
        ),
        |w, r, max| {
            w.header().flags |= v.get().flags();
            args(
                w,
                &[s as u64, buf as u64, len as i64 as u64, flags as i64 as u64],
            );
            data(w, dir, buf, r, max);
        },
        r as i64
    )
}

#[no_mangle]
pub unsafe extern "system" fn st_send(s: Socket, buf: *const u8, len: i32, flags: i32) -> i32 {
    unsafe {
        io_call(
            Func::Send,
            I_send,
            role::DATA_OUT,
            s,
            buf as *mut u8,
            len,
            flags,
        )
    }
}

#[no_mangle]
pub unsafe extern "system" fn st_recv(s: Socket, buf: *mut u8, len: i32, flags: i32) -> i32 {
    unsafe { io_call(Func::Recv, I_recv, role::DATA_IN, s, buf, len, flags) }
}

/// sendto and recvfrom: a payload and an address, passed (`int tolen`)
/// or returned (`int *fromlen`). That sixth argument travels in a 64-bit
/// stack slot either way in the Win64 convention, so one function type
/// serves both.
#[allow(clippy::too_many_arguments)]
unsafe fn dgram_call(
    func: Func,
    i: usize,
    s: Socket,
    buf: *mut u8,
    len: i32,
    flags: i32,
    addr: *mut u8,
    addrlen: usize,
) -> i32 {
    type F = unsafe extern "system" fn(Socket, *mut u8, i32, i32, *mut u8, usize) -> i32;
    let Some(f) = real!(i, F) else {
        return -1;
    };
    let sends = func == Func::Sendto;
    let target = || Target {
        addr: if sends { addr } else { core::ptr::null() },
        addrlen: if sends { addrlen as i32 } else { 0 },
        ..Target::socket(s)
    };
    let v = Cell::new(Verdict::default());
    let call = || unsafe { f(s, buf, len, flags, addr, addrlen) };
    traced!(
        func,
        len.max(0) as usize,
        actions::perform(&v, func, target, |r| r as i32, call),
        |w, r, max| {
            w.header().flags |= v.get().flags();
            let a = [s as u64, buf as u64, len as i64 as u64, flags as i64 as u64];
            let last = if sends {
                addrlen as i32 as i64 as u64
            } else {
                addrlen as u64
            };
            args(w, &[a[0], a[1], a[2], a[3], addr as u64, last]);
            if sends {
                addr_in(w, role::ADDR, addr, addrlen as i32);
            } else if r >= 0 {
                addr_out(w, role::ADDR_OUT, addr, addrlen as *const i32);
            }
            let dir = if sends { role::DATA_OUT } else { role::DATA_IN };
            data(w, dir, buf, r, max);
        },
        r as i64
    )
}

#[no_mangle]
pub unsafe extern "system" fn st_sendto(
    s: Socket,
    buf: *const u8,
    len: i32,
    flags: i32,
    to: *const u8,
    tolen: i32,
) -> i32 {
    let (buf, to) = (buf as *mut u8, to as *mut u8);
    unsafe {
        dgram_call(
            Func::Sendto,
            I_sendto,
            s,
            buf,
            len,
            flags,
            to,
            tolen as usize,
        )
    }
}

#[no_mangle]
pub unsafe extern "system" fn st_recvfrom(
    s: Socket,
    buf: *mut u8,
    len: i32,
    flags: i32,
    from: *mut u8,
    fromlen: *mut i32,
) -> i32 {
    let i = I_recvfrom;
    unsafe {
        dgram_call(
            Func::Recvfrom,
            i,
            s,
            buf,
            len,
            flags,
            from,
            fromlen as usize,
        )
    }
}

#[no_mangle]
pub unsafe extern "system" fn st_shutdown(s: Socket, how: i32) -> i32 {
    unsafe { int_call(Func::Shutdown, I_shutdown, s, how) }
}

/// Winsock's `fd_set`: a count and up to 64 handles.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct FdSet {
    count: u32,
    array: [Socket; 64],
}

impl Default for FdSet {
    fn default() -> Self {
        FdSet {
            count: 0,
            array: [0; 64],
        }
    }
}

/// An `fd_set` as the bitmap the records carry (docs/RECORDS.md, the
/// Windows note): bit `s` for handle `s`. Handles of 1024 and more do not
/// fit: the blob is then left out (the decoder shows "unreadable").
fn fdset_blob(w: &mut RecordWriter<'_>, r: u8, set: &Option<FdSet>) {
    let Some(set) = set else { return };
    let mut bits = [0u8; 128];
    let mut top = 0usize;
    for &s in &set.array[..(set.count as usize).min(64)] {
        if s >= 1024 {
            return;
        }
        bits[s / 8] |= 1 << (s % 8);
        top = top.max(s / 8 + 1);
    }
    w.blob(Tag::FdSet, r, &bits[..top]);
}

#[no_mangle]
pub unsafe extern "system" fn st_select(
    nfds: i32,
    rd: *mut FdSet,
    wr: *mut FdSet,
    ex: *mut FdSet,
    timeout: *const [i32; 2],
) -> i32 {
    type F =
        unsafe extern "system" fn(i32, *mut FdSet, *mut FdSet, *mut FdSet, *const [i32; 2]) -> i32;
    let Some(f) = real!(I_select, F) else {
        return -1;
    };
    if wanted(Func::Select).is_none() {
        return unsafe { f(nfds, rd, wr, ex, timeout) };
    }
    // The sets as passed (*pre*) and the timeout, read fault-safe.
    let before = [rd, wr, ex].map(|p| {
        (!p.is_null())
            .then(|| safe_read_val(p as *const FdSet))
            .flatten()
    });
    let tv = (!timeout.is_null())
        .then(|| safe_read_val(timeout))
        .flatten();
    traced!(
        Func::Select,
        3 * 128,
        unsafe { f(nfds, rd, wr, ex, timeout) },
        |w, r, max| {
            args(
                w,
                &[
                    nfds as i64 as u64,
                    rd as u64,
                    wr as u64,
                    ex as u64,
                    timeout as u64,
                ],
            );
            if let Some([sec, usec]) = tv {
                w.ints(role::TIMEOUT, &[sec as i64, usec as i64 * 1000]);
            }
            for (set, ro) in
                before
                    .iter()
                    .zip([role::FDS_READ_IN, role::FDS_WRITE_IN, role::FDS_EXCEPT_IN])
            {
                fdset_blob(w, ro, set);
            }
            if r > 0 {
                for (p, ro) in [
                    (rd, role::FDS_READ),
                    (wr, role::FDS_WRITE),
                    (ex, role::FDS_EXCEPT),
                ] {
                    if !p.is_null() {
                        fdset_blob(w, ro, &safe_read_val(p as *const FdSet));
                    }
                }
            }
        },
        r as i64
    )
}

/// An option value, `len` bytes (at most 512).
fn optval(w: &mut RecordWriter<'_>, val: *const u8, len: i32) {
    if !val.is_null() && len > 0 {
        let buf = w.reserve((len as usize).min(512));
        let n = safe_read(val, buf);
        w.commit_reserved(Tag::Bytes, role::OPTVAL, n);
    }
}

#[no_mangle]
#[rustfmt::skip]
pub unsafe extern "system" fn st_setsockopt(s: Socket, level: i32, name: i32, val: *const u8, len: i32) -> i32 {
    type F = unsafe extern "system" fn(Socket, i32, i32, *const u8, i32) -> i32;
    let Some(f) = real!(I_setsockopt, F) else { return -1 };
    traced!(Func::Setsockopt, 512, unsafe { f(s, level, name, val, len) }, |w, r, max| {
        let (level, name) = (level as i64 as u64, name as i64 as u64);
        args(w, &[s as u64, level, name, val as u64, len as i64 as u64]);
        optval(w, val, len);
    }, r as i64)
}

#[no_mangle]
#[rustfmt::skip]
pub unsafe extern "system" fn st_getsockopt(s: Socket, level: i32, name: i32, val: *mut u8, len: *mut i32) -> i32 {
    type F = unsafe extern "system" fn(Socket, i32, i32, *mut u8, *mut i32) -> i32;
    let Some(f) = real!(I_getsockopt, F) else {
        return -1;
    };
    traced!(
        Func::Getsockopt,
        512,
        unsafe { f(s, level, name, val, len) },
        |w, r, max| {
            let after = if len.is_null() {
                0
            } else {
                safe_read_val(len).unwrap_or(0)
            };
            let (level, name) = (level as i64 as u64, name as i64 as u64);
            let after_len = after as i64 as u64;
            args(
                w,
                &[s as u64, level, name, val as u64, len as u64, after_len],
            );
            if r == 0 {
                optval(w, val, after);
            }
        },
        r as i64
    )
}

#[no_mangle]
pub unsafe extern "system" fn st_ioctlsocket(s: Socket, cmd: i32, argp: *mut u32) -> i32 {
    let Some(f) = real!(
        I_ioctlsocket,
        unsafe extern "system" fn(Socket, i32, *mut u32) -> i32
    ) else {
        return -1;
    };
    traced!(
        Func::Ioctlsocket,
        0,
        unsafe { f(s, cmd, argp) },
        |w, r, max| {
            args(w, &[s as u64, cmd as u32 as u64, argp as u64]);
            if r == 0 && !argp.is_null() {
                if let Some(v) = safe_read_val(argp as *const u32) {
                    w.ints(role::ARG_VAL, &[v as i64]);
                }
            }
        },
        r as i64
    )
}

/// Windows' `ADDRINFOA` (the canonical name comes before the address,
/// unlike glibc's).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct AddrInfo {
    flags: i32,
    family: i32,
    socktype: i32,
    protocol: i32,
    addrlen: usize,
    canonname: *const u8,
    addr: *const u8,
    next: *const AddrInfo,
}

impl Default for AddrInfo {
    fn default() -> Self {
        AddrInfo {
            flags: 0,
            family: 0,
            socktype: 0,
            protocol: 0,
            addrlen: 0,
            canonname: core::ptr::null(),
            addr: core::ptr::null(),
            next: core::ptr::null(),
        }
    }
}

/// A C string argument, at most 1024 bytes.
fn cstr(w: &mut RecordWriter<'_>, r: u8, p: *const u8) {
    if p.is_null() {
        return;
    }
    let buf = w.reserve(1024);
    let got = safe_read(p, buf);
    let n = buf[..got].iter().position(|&b| b == 0).unwrap_or(got);
    w.commit_reserved(Tag::Str, r, n);
}

#[no_mangle]
pub unsafe extern "system" fn st_getaddrinfo(
    node: *const u8,
    service: *const u8,
    hints: *const AddrInfo,
    res: *mut *const AddrInfo,
) -> i32 {
    type F = unsafe extern "system" fn(
        *const u8,
        *const u8,
        *const AddrInfo,
        *mut *const AddrInfo,
    ) -> i32;
    let Some(f) = real!(I_getaddrinfo, F) else {
        return 10045;
    };
    let v = Cell::new(Verdict::default());
    traced!(
        Func::Getaddrinfo,
        8192,
        actions::perform(
            &v,
            Func::Getaddrinfo,
            || Target::socket(0),
            |r| r as i32,
            || unsafe { f(node, service, hints, res) }
        ),
        |w, r, max| {
            w.header().flags |= v.get().flags();
            let first = if r == 0 && !res.is_null() {
                safe_read_val(res).unwrap_or(core::ptr::null())
            } else {
                core::ptr::null()
            };
            args(
                w,
                &[
                    node as u64,
                    service as u64,
                    hints as u64,
                    res as u64,
                    first as u64,
                ],
            );
            // Winsock returns the error itself (a WSA code) and sets it as the
            // last error too.
            w.header().errno = r;
            cstr(w, role::NODE, node);
            cstr(w, role::SERVICE, service);
            if !hints.is_null() {
                if let Some(h) = safe_read_val(hints) {
                    w.ints(
                        role::HINTS,
                        &[
                            h.flags as i64,
                            h.family as i64,
                            h.socktype as i64,
                            h.protocol as i64,
                        ],
                    );
                }
            }
            let mut p = first;
            let mut k = 0;
            while !p.is_null() && k < 32 {
                let Some(ai) = safe_read_val(p) else { break };
                w.ints(
                    role::AI,
                    &[
                        ai.flags as i64,
                        ai.family as i64,
                        ai.socktype as i64,
                        ai.protocol as i64,
                    ],
                );
                addr_in(w, role::AI_ADDR, ai.addr, ai.addrlen.min(MAX_ADDR) as i32);
                cstr(w, role::CANON, ai.canonname);
                p = ai.next;
                k += 1;
            }
        },
        r as i64
    )
}

#[no_mangle]
pub unsafe extern "system" fn st_freeaddrinfo(ai: *const AddrInfo) {
    let Some(f) = real!(I_freeaddrinfo, unsafe extern "system" fn(*const AddrInfo)) else {
        return;
    };
    traced!(
        Func::Freeaddrinfo,
        0,
        unsafe { f(ai) },
        |w, r, max| {
            args(w, &[ai as u64]);
        },
        0
    )
}

/// The data ws2_32 programs link against (MinGW's libws2_32.a carries it
/// statically; here it is exported).
#[no_mangle]
pub static st_in4addr_any: [u8; 4] = [0; 4];
#[no_mangle]
pub static st_in4addr_loopback: [u8; 4] = [127, 0, 0, 1];
#[no_mangle]
pub static st_in4addr_broadcast: [u8; 4] = [255; 4];
#[no_mangle]
pub static st_in6addr_any: [u8; 16] = [0; 16];
#[no_mangle]
pub static st_in6addr_loopback: [u8; 16] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];

// The WSA calls (and their overlapped bookkeeping), after the macros above
// so that they see them; the action rules the hooks apply.
pub(crate) mod actions;
mod overlapped;
mod wsa;
