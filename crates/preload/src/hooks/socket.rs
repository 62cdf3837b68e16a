//! socket, socketpair, connect, bind, listen, accept, accept4, shutdown,
//! getsockname, getpeername, close, dup, dup2, dup3, setsockopt,
//! getsockopt, fcntl, ioctl.

use super::{begin, call, involved, perform};
use crate::actions::Target;
use crate::capture;
use crate::fds;
use crate::real;
use crate::state::{self, emit};
use crate::sys;
use core::ffi::{c_int, c_void};
use libc::{sockaddr, socklen_t};
use sock_trace_event::{role, Func, Tag};

/// Records `fd` as a socket unless we run in a vfork child, whose fd table
/// is its own while our bitmap is the parent's memory.
fn note_socket(fd: c_int) -> bool {
    let vfork = state::in_vfork_child();
    if !vfork {
        fds::set_socket(fd, true);
    }
    vfork
}

#[no_mangle]
pub unsafe extern "C" fn socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int {
    state::ensure_init();
    let t0 = begin(Func::Socket);
    let target = || Target {
        domain,
        ..Target::fd(-1)
    };
    // SAFETY: forwarding the program's call.
    let (r, e, injected) =
        perform(
            Func::Socket,
            target,
            |_| unsafe { real::socket(domain, ty, protocol) } as i64,
        );
    let r = r as c_int;
    let vfork = r >= 0 && note_socket(r);
    if let Some(t0) = t0 {
        let mut c = call(Func::Socket, t0, r as i64, e);
        c.flags |= state::vfork_flag(vfork) | injected;
        emit(c, |w| {
            w.header().args[..3].copy_from_slice(&[domain as u64, ty as u64, protocol as u64])
        });
    }
    sys::set_errno(e);
    r
}

#[no_mangle]
pub unsafe extern "C" fn socketpair(
    domain: c_int,
    ty: c_int,
    protocol: c_int,
    sv: *mut c_int,
) -> c_int {
    let t0 = sys::now();
    // SAFETY: forwarding.
    let r = unsafe { real::socketpair(domain, ty, protocol, sv) };
    let e = sys::errno();
    if r == 0 && !sv.is_null() {
        // SAFETY: the kernel wrote two fds.
        let (a, b) = unsafe { (*sv, *sv.add(1)) };
        if !state::in_vfork_child() {
            fds::set_socket(a, true);
            fds::set_socket(b, true);
        }
        if state::enabled(Func::Socketpair) {
            emit(call(Func::Socketpair, t0, r as i64, e), |w| {
                w.header().args[..4].copy_from_slice(&[
                    domain as u64,
                    ty as u64,
                    protocol as u64,
                    sv as u64,
                ]);
                w.ints(role::FDS_OUT, &[a as i64, b as i64]);
            });
        }
    } else if state::enabled(Func::Socketpair) {
        emit(call(Func::Socketpair, t0, r as i64, e), |w| {
            w.header().args[..4].copy_from_slice(&[
                domain as u64,
                ty as u64,
                protocol as u64,
                sv as u64,
            ]);
        });
    }
    sys::set_errno(e);
    r
}

macro_rules! addr_in_hook {
    ($name:ident, $func:expr) => {
        #[no_mangle]
        pub unsafe extern "C" fn $name(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
            // The traced body, a function of its own so that the
            // untraced path below needs no prologue.
            #[inline(never)]
            fn hooked(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
                let t0 = sys::now();
                let target = || Target {
                    addr,
                    addrlen: len,
                    ..Target::fd(fd)
                };
                let (r, e, injected) = perform($func, target, |_| {
                    // SAFETY: forwarding.
                    unsafe { real::$name(fd, addr, len) as i64 }
                });
                let r = r as c_int;
                if !state::enabled($func) {
                    sys::set_errno(e);
                    return r;
                }
                let mut c = call($func, t0, r as i64, e);
                c.flags |= injected;
                emit(c, |w| {
                    w.header().args[..3].copy_from_slice(&[fd as u64, addr as u64, len as u64]);
                    // SAFETY: on success the kernel read addr[..len].
                    unsafe { capture::sockaddr(w, role::ADDR, addr, len as usize, r == 0) };
                    if $func == Func::Connect && (r == 0 || e == libc::EINPROGRESS) {
                        capture::socket_ends(w, fd, false);
                    }
                });
                sys::set_errno(e);
                r
            }
            if !involved($func) {
                // SAFETY: forwarding.
                return unsafe { real::$name(fd, addr, len) };
            }
            hooked(fd, addr, len)
        }
    };
}

addr_in_hook!(connect, Func::Connect);
addr_in_hook!(bind, Func::Bind);

#[no_mangle]
pub unsafe extern "C" fn listen(fd: c_int, backlog: c_int) -> c_int {
    if !state::enabled(Func::Listen) {
        // SAFETY: forwarding.
        return unsafe { real::listen(fd, backlog) };
    }
    // SAFETY: forwarded contract.
    unsafe { listen_hooked(fd, backlog) }
}

#[inline(never)]
unsafe fn listen_hooked(fd: c_int, backlog: c_int) -> c_int {
    let Some(t0) = begin(Func::Listen) else {
        // SAFETY: forwarding.
        return unsafe { real::listen(fd, backlog) };
    };
    // SAFETY: forwarding.
    let r = unsafe { real::listen(fd, backlog) };
    let e = sys::errno();
    emit(call(Func::Listen, t0, r as i64, e), |w| {
        w.header().args[..2].copy_from_slice(&[fd as u64, backlog as u64]);
    });
    sys::set_errno(e);
    r
}

#[allow(clippy::too_many_arguments)]
fn accepted(
    func: Func,
    t0: u64,
    r: c_int,
    e: i32,
    injected: u16,
    fd: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
    flags: Option<c_int>,
) {
    let vfork = r >= 0 && note_socket(r);
    if !state::enabled(func) {
        return;
    }
    let mut c = call(func, t0, r as i64, e);
    c.flags |= state::vfork_flag(vfork) | injected;
    emit(c, |w| {
        w.header().args[..3].copy_from_slice(&[fd as u64, addr as u64, len as u64]);
        if let Some(f) = flags {
            w.header().args[3] = f as u64;
        }
        if r >= 0 {
            // SAFETY: the kernel wrote addr and *len on success.
            unsafe { capture::sockaddr_out(w, role::ADDR_OUT, addr, len) };
            capture::socket_ends(w, r, addr.is_null());
        }
    });
}

#[no_mangle]
pub unsafe extern "C" fn accept(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
    let t0 = sys::now();
    // SAFETY: forwarding.
    let (r, e, injected) = perform(
        Func::Accept,
        || Target::fd(fd),
        |_| unsafe { real::accept(fd, addr, len) } as i64,
    );
    let r = r as c_int;
    accepted(Func::Accept, t0, r, e, injected, fd, addr, len, None);
    sys::set_errno(e);
    r
}

#[no_mangle]
pub unsafe extern "C" fn accept4(
    fd: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
    flags: c_int,
) -> c_int {
    let t0 = sys::now();
    // SAFETY: forwarding.
    let (r, e, injected) = perform(
        Func::Accept4,
        || Target::fd(fd),
        |_| unsafe { real::accept4(fd, addr, len, flags) } as i64,
    );
    let r = r as c_int;
    accepted(
        Func::Accept4,
        t0,
        r,
        e,
        injected,
        fd,
        addr,
        len,
        Some(flags),
    );
    sys::set_errno(e);
    r
}

#[no_mangle]
pub unsafe extern "C" fn shutdown(fd: c_int, how: c_int) -> c_int {
    if !state::enabled(Func::Shutdown) {
        // SAFETY: forwarding.
        return unsafe { real::shutdown(fd, how) };
    }
    // SAFETY: forwarded contract.
    unsafe { shutdown_hooked(fd, how) }
}

#[inline(never)]
unsafe fn shutdown_hooked(fd: c_int, how: c_int) -> c_int {
    let Some(t0) = begin(Func::Shutdown) else {
        // SAFETY: forwarding.
        return unsafe { real::shutdown(fd, how) };
    };
    // SAFETY: forwarding.
    let r = unsafe { real::shutdown(fd, how) };
    let e = sys::errno();
    emit(call(Func::Shutdown, t0, r as i64, e), |w| {
        w.header().args[..2].copy_from_slice(&[fd as u64, how as u64]);
    });
    sys::set_errno(e);
    r
}

macro_rules! name_out_hook {
    ($name:ident, $func:expr) => {
        #[no_mangle]
        pub unsafe extern "C" fn $name(
            fd: c_int,
            addr: *mut sockaddr,
            len: *mut socklen_t,
        ) -> c_int {
            // The traced body, a function of its own so that the
            // untraced path below needs no prologue.
            #[inline(never)]
            fn hooked(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
                let t0 = sys::now();
                // SAFETY: forwarding.
                let r = unsafe { real::$name(fd, addr, len) };
                let e = sys::errno();
                emit(call($func, t0, r as i64, e), |w| {
                    w.header().args[..3].copy_from_slice(&[fd as u64, addr as u64, len as u64]);
                    if r == 0 {
                        // SAFETY: written by the kernel on success.
                        unsafe { capture::sockaddr_out(w, role::ADDR_OUT, addr, len) };
                    }
                });
                sys::set_errno(e);
                r
            }
            if !state::enabled($func) {
                // SAFETY: forwarding.
                return unsafe { real::$name(fd, addr, len) };
            }
            hooked(fd, addr, len)
        }
    };
}

name_out_hook!(getsockname, Func::Getsockname);
name_out_hook!(getpeername, Func::Getpeername);

#[no_mangle]
pub unsafe extern "C" fn close(fd: c_int) -> c_int {
    if !fds::is_socket(fd) {
        // SAFETY: forwarding.
        return unsafe { real::close(fd) };
    }
    // SAFETY: forwarded contract.
    unsafe { close_hooked(fd) }
}

#[inline(never)]
unsafe fn close_hooked(fd: c_int) -> c_int {
    if !fds::is_socket(fd) {
        // SAFETY: forwarding.
        return unsafe { real::close(fd) };
    }
    // SAFETY: forwarding.
    closing_socket(fd, || unsafe { real::close(fd) })
}

/// Closes socket `fd` through `close` (close, or fclose of its stream) and
/// records it as the close it is. The descriptor is forgotten *before* it
/// is closed: once closed, another thread's socket() may get the same
/// number and set the bit again, which clearing afterwards would wipe.
/// (Linux releases the descriptor even when close reports EINTR or EIO.)
/// A vfork child has its own descriptors but shares our memory.
fn closing_socket(fd: c_int, close: impl FnOnce() -> c_int) -> c_int {
    let t0 = sys::now();
    let vfork = state::in_vfork_child();
    if !vfork {
        fds::forget(fd);
    }
    let r = close();
    let e = sys::errno();
    if state::enabled(Func::Close) {
        let mut c = call(Func::Close, t0, r as i64, e);
        c.flags |= state::vfork_flag(vfork);
        emit(c, |w| w.header().args[0] = fd as u64);
    }
    sys::set_errno(e);
    r
}

/// `close_range` flags (linux/close_range.h).
const CLOSE_RANGE_UNSHARE: c_int = 1 << 1;
const CLOSE_RANGE_CLOEXEC: c_int = 1 << 2;

/// close_range and closefrom: forget every descriptor of the range *before*
/// closing (as close does, so that a socket another thread opens meanwhile
/// keeps its mark), and trace the call when a socket was among them.
/// `flags` is None for closefrom (which returns nothing).
fn close_many(func: Func, first: u32, last: u32, flags: Option<c_int>) -> c_int {
    let f = flags.unwrap_or(0);
    // CLOSE_RANGE_CLOEXEC only marks them; invalid arguments close nothing.
    let closes = f & CLOSE_RANGE_CLOEXEC == 0
        && f & !(CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC) == 0
        && first <= last;
    let had_socket = fds::any_in_range(first, last);
    if !had_socket && !state::enabled(func) {
        return forward_close_many(first, last, flags);
    }
    let t0 = sys::now();
    let vfork = state::in_vfork_child();
    if closes && !vfork {
        fds::forget_range(first, last);
    }
    let r = forward_close_many(first, last, flags);
    let e = sys::errno();
    if had_socket && state::enabled(func) {
        let mut c = call(func, t0, r as i64, e);
        c.flags |= state::vfork_flag(vfork);
        emit(c, |w| {
            w.header().args[..3].copy_from_slice(&[first as u64, last as u64, f as u64])
        });
    }
    sys::set_errno(e);
    r
}

fn forward_close_many(first: u32, last: u32, flags: Option<c_int>) -> c_int {
    // SAFETY: forwarding.
    unsafe {
        match flags {
            Some(f) => real::close_range(first, last, f),
            None => {
                real::closefrom(first as c_int);
                0
            }
        }
    }
}

#[no_mangle]
pub unsafe extern "C" fn close_range(
    first: core::ffi::c_uint,
    last: core::ffi::c_uint,
    flags: c_int,
) -> c_int {
    close_many(Func::CloseRange, first, last, Some(flags))
}

#[no_mangle]
pub unsafe extern "C" fn closefrom(low: c_int) {
    if low < 0 {
        // SAFETY: forwarding (glibc reports the bad argument itself).
        return unsafe { real::closefrom(low) };
    }
    close_many(Func::Closefrom, low as u32, u32::MAX, None);
}

/// Set once a socket was wrapped in a stdio stream: only then does fclose
/// need a look at its descriptor (glibc's fclose closes it with an
/// internal call no hook sees).
static STDIO_SOCKETS: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

#[no_mangle]
pub unsafe extern "C" fn fdopen(fd: c_int, mode: *const core::ffi::c_char) -> *mut libc::FILE {
    // SAFETY: forwarding.
    let fp = unsafe { real::fdopen(fd, mode) };
    if !fp.is_null() && fds::is_socket(fd) {
        STDIO_SOCKETS.store(true, core::sync::atomic::Ordering::Relaxed);
    }
    fp
}

#[no_mangle]
pub unsafe extern "C" fn fclose(fp: *mut libc::FILE) -> c_int {
    if !STDIO_SOCKETS.load(core::sync::atomic::Ordering::Relaxed) || fp.is_null() {
        // SAFETY: forwarding.
        return unsafe { real::fclose(fp) };
    }
    // SAFETY: forwarded contract.
    unsafe { fclose_hooked(fp) }
}

#[inline(never)]
unsafe fn fclose_hooked(fp: *mut libc::FILE) -> c_int {
    let e0 = sys::errno();
    // SAFETY: fclose's contract: fp is an open stream.
    let fd = unsafe { libc::fileno(fp) };
    sys::set_errno(e0);
    if !fds::is_socket(fd) {
        // SAFETY: forwarding.
        return unsafe { real::fclose(fp) };
    }
    // fclose closes the descriptor whatever it reports, like close; it is
    // shown as that close (the stream's buffered bytes went out through
    // stdio's internal write, which no hook sees).
    // SAFETY: forwarding.
    closing_socket(fd, || unsafe { real::fclose(fp) })
}

/// dup-family bookkeeping: the new descriptor is a socket exactly when the
/// old one is.
fn duplicated(
    func: Func,
    t0: u64,
    r: c_int,
    e: i32,
    old: c_int,
    new: Option<c_int>,
    flags: Option<c_int>,
) {
    let was_socket = fds::is_socket(old);
    let target_was_socket = new.is_some_and(fds::is_socket);
    if !was_socket && !target_was_socket {
        return;
    }
    let vfork = state::in_vfork_child();
    if r >= 0 && !vfork {
        fds::forget(r);
        fds::set_socket(r, was_socket);
    }
    if state::enabled(func) {
        let mut c = call(func, t0, r as i64, e);
        c.flags |= state::vfork_flag(vfork);
        emit(c, |w| {
            let h = w.header();
            h.args[0] = old as u64;
            if let Some(n) = new {
                h.args[1] = n as u64;
            }
            if let Some(f) = flags {
                h.args[2] = f as u64;
            }
        });
    }
}

#[no_mangle]
pub unsafe extern "C" fn dup(fd: c_int) -> c_int {
    let t0 = sys::now();
    // SAFETY: forwarding.
    let r = unsafe { real::dup(fd) };
    let e = sys::errno();
    duplicated(Func::Dup, t0, r, e, fd, None, None);
    sys::set_errno(e);
    r
}

#[no_mangle]
pub unsafe extern "C" fn dup2(old: c_int, new: c_int) -> c_int {
    let t0 = sys::now();
    // SAFETY: forwarding.
    let r = unsafe { real::dup2(old, new) };
    let e = sys::errno();
    duplicated(Func::Dup2, t0, r, e, old, Some(new), None);
    sys::set_errno(e);
    r
}

#[no_mangle]
pub unsafe extern "C" fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int {
    let t0 = sys::now();
    // SAFETY: forwarding.
    let r = unsafe { real::dup3(old, new, flags) };
    let e = sys::errno();
    duplicated(Func::Dup3, t0, r, e, old, Some(new), Some(flags));
    sys::set_errno(e);
    r
}

#[no_mangle]
pub unsafe extern "C" fn setsockopt(
    fd: c_int,
    level: c_int,
    name: c_int,
    val: *const c_void,
    len: socklen_t,
) -> c_int {
    if !involved(Func::Setsockopt) {
        // SAFETY: forwarding.
        return unsafe { real::setsockopt(fd, level, name, val, len) };
    }
    // SAFETY: forwarded contract.
    unsafe { setsockopt_hooked(fd, level, name, val, len) }
}

#[inline(never)]
unsafe fn setsockopt_hooked(
    fd: c_int,
    level: c_int,
    name: c_int,
    val: *const c_void,
    len: socklen_t,
) -> c_int {
    let Some(t0) = begin(Func::Setsockopt) else {
        // SAFETY: forwarding.
        return unsafe { real::setsockopt(fd, level, name, val, len) };
    };
    // SAFETY: forwarding.
    let r = unsafe { real::setsockopt(fd, level, name, val, len) };
    let e = sys::errno();
    emit(call(Func::Setsockopt, t0, r as i64, e), |w| {
        w.header().args[..5].copy_from_slice(&[
            fd as u64,
            level as u64,
            name as u64,
            val as u64,
            len as u64,
        ]);
        // The kernel reads the option's own size, which may be less than
        // `len` (an int passed with optlen 16): on success only the first
        // byte is sure, the rest is copied through the fault-safe path.
        // SAFETY: on success the kernel read at least val[..1].
        unsafe {
            capture::bytes_used(
                w,
                Tag::Bytes,
                role::OPTVAL,
                val as *const u8,
                (len as usize).min(capture::MAX_OPT),
                if r == 0 {
                    opt_size_read(level, name, len)
                } else {
                    0
                },
            )
        };
    });
    sys::set_errno(e);
    r
}

/// Bytes of a setsockopt value the kernel surely read on success: an `int`
/// for the options that take one (they check `optlen >= 4` and read 4),
/// otherwise one byte (`IP_TOS` and friends accept a single byte).
fn opt_size_read(level: c_int, name: c_int, len: socklen_t) -> usize {
    let _ = (level, name);
    if len >= 4 {
        4
    } else {
        (len as usize).min(1)
    }
}

#[no_mangle]
pub unsafe extern "C" fn getsockopt(
    fd: c_int,
    level: c_int,
    name: c_int,
    val: *mut c_void,
    len: *mut socklen_t,
) -> c_int {
    if !involved(Func::Getsockopt) {
        // SAFETY: forwarding.
        return unsafe { real::getsockopt(fd, level, name, val, len) };
    }
    // SAFETY: forwarded contract.
    unsafe { getsockopt_hooked(fd, level, name, val, len) }
}

#[inline(never)]
unsafe fn getsockopt_hooked(
    fd: c_int,
    level: c_int,
    name: c_int,
    val: *mut c_void,
    len: *mut socklen_t,
) -> c_int {
    let Some(t0) = begin(Func::Getsockopt) else {
        // SAFETY: forwarding.
        return unsafe { real::getsockopt(fd, level, name, val, len) };
    };
    // SAFETY: forwarding.
    let r = unsafe { real::getsockopt(fd, level, name, val, len) };
    let e = sys::errno();
    emit(call(Func::Getsockopt, t0, r as i64, e), |w| {
        let out_len = if r == 0 && !len.is_null() {
            // SAFETY: written by the kernel on success.
            unsafe { *len }
        } else {
            0
        };
        w.header().args = [
            fd as u64,
            level as u64,
            name as u64,
            val as u64,
            len as u64,
            out_len as u64,
        ];
        if r == 0 {
            // The kernel wrote `out_len` bytes for the options that report
            // what they wrote; an `int` is sure, anything longer (tcp_info)
            // goes through the fault-safe path, in case an option reports
            // more than it wrote.
            let n = (out_len as usize).min(capture::MAX_OPT);
            // SAFETY: the kernel wrote at least min(out_len, 4) bytes.
            unsafe {
                capture::bytes_used(w, Tag::Bytes, role::OPTVAL, val as *const u8, n, n.min(4))
            };
        }
    });
    sys::set_errno(e);
    r
}

fn fcntl_common(is64: bool, fd: c_int, cmd: c_int, arg: usize) -> c_int {
    let forward = || {
        // SAFETY: forwarding; fcntl is variadic in C but its third argument
        // travels in the same register whatever its type.
        unsafe {
            if is64 {
                real::fcntl64(fd, cmd, arg)
            } else {
                real::fcntl(fd, cmd, arg)
            }
        }
    };
    if !fds::is_socket(fd) {
        return forward();
    }
    let t0 = sys::now();
    let r = forward();
    let e = sys::errno();
    let dup = matches!(cmd, libc::F_DUPFD | libc::F_DUPFD_CLOEXEC);
    let vfork = dup && r >= 0 && note_socket(r);
    if state::enabled(Func::Fcntl) {
        let mut c = call(Func::Fcntl, t0, r as i64, e);
        c.flags |= state::vfork_flag(vfork);
        emit(c, |w| {
            w.header().args[..3].copy_from_slice(&[fd as u64, cmd as u64, arg as u64])
        });
    }
    sys::set_errno(e);
    r
}

#[no_mangle]
pub unsafe extern "C" fn fcntl(fd: c_int, cmd: c_int, arg: usize) -> c_int {
    if !fds::is_socket(fd) {
        // SAFETY: forwarding.
        return unsafe { real::fcntl(fd, cmd, arg) };
    }
    // SAFETY: forwarded contract.
    unsafe { fcntl_hooked(fd, cmd, arg) }
}

#[inline(never)]
unsafe fn fcntl_hooked(fd: c_int, cmd: c_int, arg: usize) -> c_int {
    fcntl_common(false, fd, cmd, arg)
}

#[no_mangle]
pub unsafe extern "C" fn fcntl64(fd: c_int, cmd: c_int, arg: usize) -> c_int {
    if !fds::is_socket(fd) {
        // SAFETY: forwarding.
        return unsafe { real::fcntl64(fd, cmd, arg) };
    }
    // SAFETY: forwarded contract.
    unsafe { fcntl64_hooked(fd, cmd, arg) }
}

#[inline(never)]
unsafe fn fcntl64_hooked(fd: c_int, cmd: c_int, arg: usize) -> c_int {
    fcntl_common(true, fd, cmd, arg)
}

#[no_mangle]
pub unsafe extern "C" fn ioctl(fd: c_int, req: usize, arg: usize) -> c_int {
    if !(fds::is_socket(fd) && state::enabled(Func::Ioctl)) {
        // SAFETY: forwarding.
        return unsafe { real::ioctl(fd, req, arg) };
    }
    // SAFETY: forwarded contract.
    unsafe { ioctl_hooked(fd, req, arg) }
}

#[inline(never)]
unsafe fn ioctl_hooked(fd: c_int, req: usize, arg: usize) -> c_int {
    if !fds::is_socket(fd) || !state::enabled(Func::Ioctl) {
        // SAFETY: forwarding (variadic in C, see fcntl).
        return unsafe { real::ioctl(fd, req, arg) };
    }
    let t0 = sys::now();
    // SAFETY: forwarding.
    let r = unsafe { real::ioctl(fd, req, arg) };
    let e = sys::errno();
    emit(call(Func::Ioctl, t0, r as i64, e), |w| {
        w.header().args[..3].copy_from_slice(&[fd as u64, req as u64, arg as u64]);
        let int_arg = matches!(
            req as u64,
            0x541B /* FIONREAD, SIOCINQ */ | 0x5421 /* FIONBIO */ | 0x5452 /* FIOASYNC */
                | 0x8905 /* SIOCATMARK */ | 0x5411 /* TIOCOUTQ, SIOCOUTQ */
        );
        if r == 0 && int_arg && arg != 0 {
            // SAFETY: the kernel read or wrote an int there.
            let v = unsafe { *(arg as *const c_int) };
            w.ints(role::ARG_VAL, &[v as i64]);
        }
    });
    sys::set_errno(e);
    r
}
