//! socket, socketpair, connect, bind, listen, accept, accept4, shutdown,
//! getsockname, getpeername, close, close_range, closefrom, fdopen, fclose,
//! dup, dup2, dup3, setsockopt, getsockopt, fcntl, fcntl64, ioctl.

use super::{acted, enabled, involved, plain, Traced};
use crate::actions::Target;
use crate::capture;
use crate::emit;
use crate::fds;
use crate::lifecycle;
use crate::settings;
use core::ffi::{c_int, c_uint, c_void};
use libc::{sockaddr, socklen_t};
use sock_trace_event::{role, Func, Tag};

/// Records `fd` as a socket unless we run in a vfork child, whose fd table
/// is its own while our bitmap is the parent's memory.
fn note_socket(fd: c_int) -> bool {
    let vfork = lifecycle::in_vfork_child();
    if !vfork {
        fds::set_socket(fd, true);
    }
    vfork
}

hook! {
    pub unsafe extern "C" fn socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int {
        true => socket_traced(domain, ty, protocol)
    }

    pub unsafe extern "C" fn socketpair(domain: c_int, ty: c_int, protocol: c_int, sv: *mut c_int) -> c_int {
        true => socketpair_traced(domain, ty, protocol, sv)
    }

    pub unsafe extern "C" fn connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
        involved(Func::Connect) => addr_in_traced(Func::Connect, fd, addr, len)
    }

    pub unsafe extern "C" fn bind(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
        involved(Func::Bind) => addr_in_traced(Func::Bind, fd, addr, len)
    }

    pub unsafe extern "C" fn listen(fd: c_int, backlog: c_int) -> c_int {
        enabled(Func::Listen) => fd_int_traced(Func::Listen, fd, backlog)
    }

    pub unsafe extern "C" fn accept(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
        true => accept_traced(Func::Accept, fd, addr, len, None)
    }

    pub unsafe extern "C" fn accept4(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t, flags: c_int) -> c_int {
        true => accept_traced(Func::Accept4, fd, addr, len, Some(flags))
    }

    pub unsafe extern "C" fn shutdown(fd: c_int, how: c_int) -> c_int {
        enabled(Func::Shutdown) => fd_int_traced(Func::Shutdown, fd, how)
    }

    pub unsafe extern "C" fn getsockname(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
        enabled(Func::Getsockname) => name_out_traced(Func::Getsockname, fd, addr, len)
    }

    pub unsafe extern "C" fn getpeername(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
        enabled(Func::Getpeername) => name_out_traced(Func::Getpeername, fd, addr, len)
    }

    pub unsafe extern "C" fn close(fd: c_int) -> c_int {
        fds::is_socket(fd) => close_traced(fd)
    }

    pub unsafe extern "C" fn close_range(first: c_uint, last: c_uint, flags: c_int) -> c_int {
        true => close_many_traced(Func::CloseRange, first, last, Some(flags))
    }

    /// glibc reports a negative `low` itself.
    pub unsafe extern "C" fn closefrom(low: c_int) -> () {
        low >= 0 => {
            close_many_traced(Func::Closefrom, low as u32, u32::MAX, None);
        }
    }

    pub unsafe extern "C" fn fclose(fp: *mut libc::FILE) -> c_int {
        STDIO_SOCKETS.load(core::sync::atomic::Ordering::Relaxed) && !fp.is_null() => fclose_traced(fp)
    }

    pub unsafe extern "C" fn dup(fd: c_int) -> c_int {
        true => dup_traced(Func::Dup, fd, None, None)
    }

    pub unsafe extern "C" fn dup2(old: c_int, new: c_int) -> c_int {
        true => dup_traced(Func::Dup2, old, Some(new), None)
    }

    pub unsafe extern "C" fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int {
        true => dup_traced(Func::Dup3, old, Some(new), Some(flags))
    }

    pub unsafe extern "C" fn setsockopt(fd: c_int, level: c_int, name: c_int, val: *const c_void, len: socklen_t) -> c_int {
        enabled(Func::Setsockopt) => setsockopt_traced(fd, level, name, val, len)
    }

    pub unsafe extern "C" fn getsockopt(fd: c_int, level: c_int, name: c_int, val: *mut c_void, len: *mut socklen_t) -> c_int {
        enabled(Func::Getsockopt) => getsockopt_traced(fd, level, name, val, len)
    }

    /// fcntl is variadic in C but its third argument travels in the same
    /// register whatever its type.
    pub unsafe extern "C" fn fcntl(fd: c_int, cmd: c_int, arg: usize) -> c_int {
        fds::is_socket(fd) => fcntl_traced(false, fd, cmd, arg)
    }

    pub unsafe extern "C" fn fcntl64(fd: c_int, cmd: c_int, arg: usize) -> c_int {
        fds::is_socket(fd) => fcntl_traced(true, fd, cmd, arg)
    }

    /// Variadic in C, like fcntl.
    pub unsafe extern "C" fn ioctl(fd: c_int, req: usize, arg: usize) -> c_int {
        fds::is_socket(fd) && enabled(Func::Ioctl) => ioctl_traced(fd, req, arg)
    }
}

#[inline(never)]
unsafe fn socket_traced(domain: c_int, ty: c_int, protocol: c_int) -> c_int {
    lifecycle::ensure_init();
    let target = || Target {
        domain,
        ..Target::fd(-1)
    };
    let call = Traced::start(Func::Socket);
    let done = {
        let d = acted(Func::Socket, target, |_| {
            forward!(socket(domain, ty, protocol))
        });
        let vfork = d.ret >= 0 && note_socket(d.ret);
        d.flag(emit::vfork_flag(vfork))
    };
    call.finish(done, |w, _| args!(w, domain, ty, protocol))
}

#[inline(never)]
unsafe fn socketpair_traced(domain: c_int, ty: c_int, protocol: c_int, sv: *mut c_int) -> c_int {
    // SAFETY: on success the kernel wrote two fds to sv.
    let pair = || unsafe { (*sv, *sv.add(1)) };
    let call = Traced::start(Func::Socketpair);
    let done = {
        let d = plain(forward!(socketpair(domain, ty, protocol, sv)));
        if d.ret == 0 && !sv.is_null() && !lifecycle::in_vfork_child() {
            let (a, b) = pair();
            fds::set_socket(a, true);
            fds::set_socket(b, true);
        }
        d
    };
    call.finish(done, |w, d| {
        args!(w, domain, ty, protocol, sv);
        if d.ret == 0 && !sv.is_null() {
            let (a, b) = pair();
            w.ints(role::FDS_OUT, &[a as i64, b as i64]);
        }
    })
}

/// connect and bind.
#[inline(never)]
unsafe fn addr_in_traced(func: Func, fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    let target = || Target {
        addr,
        addrlen: len,
        ..Target::fd(fd)
    };
    let call = Traced::start(func);
    let done = {
        acted(func, target, |_| {
            if func == Func::Connect {
                forward!(connect(fd, addr, len))
            } else {
                forward!(bind(fd, addr, len))
            }
        })
    };
    call.finish(done, |w, d| {
        let (r, e) = (d.ret, d.errno);
        args!(w, fd, addr, len);
        // SAFETY: on success the kernel read addr[..len].
        unsafe { capture::sockaddr(w, role::ADDR, addr, len as usize, r == 0) };
        if func == Func::Connect && (r == 0 || e == libc::EINPROGRESS) {
            capture::socket_ends(w, fd, false);
        }
    })
}

/// listen and shutdown: a descriptor and one int (backlog, how).
#[inline(never)]
unsafe fn fd_int_traced(func: Func, fd: c_int, arg: c_int) -> c_int {
    let call = Traced::start(func);
    let done = {
        plain(if func == Func::Listen {
            forward!(listen(fd, arg))
        } else {
            forward!(shutdown(fd, arg))
        })
    };
    call.finish(done, |w, _| args!(w, fd, arg))
}

/// accept and accept4 (`flags`).
#[inline(never)]
unsafe fn accept_traced(
    func: Func,
    fd: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
    flags: Option<c_int>,
) -> c_int {
    let call = Traced::start(func);
    let done = {
        let d = acted(
            func,
            || Target::fd(fd),
            |_| match flags {
                None => forward!(accept(fd, addr, len)),
                Some(f) => forward!(accept4(fd, addr, len, f)),
            },
        );
        let vfork = d.ret >= 0 && note_socket(d.ret);
        d.flag(emit::vfork_flag(vfork))
    };
    call.finish(done, |w, d| {
        args!(w, fd, addr, len);
        if let Some(f) = flags {
            w.header().args[3] = f as u64;
        }
        if d.ret >= 0 {
            // SAFETY: the kernel wrote addr and *len on success.
            unsafe { capture::sockaddr_out(w, role::ADDR_OUT, addr, len) };
            capture::socket_ends(w, d.ret, addr.is_null());
        }
    })
}

/// getsockname and getpeername.
#[inline(never)]
unsafe fn name_out_traced(
    func: Func,
    fd: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
) -> c_int {
    let call = Traced::start(func);
    let done = {
        plain(if func == Func::Getsockname {
            forward!(getsockname(fd, addr, len))
        } else {
            forward!(getpeername(fd, addr, len))
        })
    };
    call.finish(done, |w, d| {
        args!(w, fd, addr, len);
        if d.ret == 0 {
            // SAFETY: written by the kernel on success.
            unsafe { capture::sockaddr_out(w, role::ADDR_OUT, addr, len) };
        }
    })
}

#[inline(never)]
unsafe fn close_traced(fd: c_int) -> c_int {
    closing_socket(fd, || forward!(close(fd)))
}

/// Closes socket `fd` through `close` (close, or fclose of its stream) and
/// records it as the close it is. The descriptor is forgotten *before* it
/// is closed: once closed, another thread's socket() may get the same
/// number and set the bit again, which clearing afterwards would wipe.
/// (Linux releases the descriptor even when close reports EINTR or EIO.)
/// A vfork child has its own descriptors but shares our memory.
fn closing_socket(fd: c_int, close: impl FnOnce() -> c_int) -> c_int {
    let call = Traced::start(Func::Close);
    let done = {
        let vfork = lifecycle::in_vfork_child();
        if !vfork {
            fds::forget(fd);
        }
        plain(close()).flag(emit::vfork_flag(vfork))
    };
    call.finish(done, |w, _| w.header().args[0] = fd as u64)
}

/// `close_range` flags (linux/close_range.h).
const CLOSE_RANGE_UNSHARE: c_int = 1 << 1;
const CLOSE_RANGE_CLOEXEC: c_int = 1 << 2;

/// close_range and closefrom: forget every descriptor of the range *before*
/// closing (as close does, so that a socket another thread opens meanwhile
/// keeps its mark), and trace the call when a socket was among them.
/// `flags` is None for closefrom (which returns nothing).
unsafe fn close_many_traced(func: Func, first: u32, last: u32, flags: Option<c_int>) -> c_int {
    let f = flags.unwrap_or(0);
    // CLOSE_RANGE_CLOEXEC only marks them; invalid arguments close nothing.
    let closes = f & CLOSE_RANGE_CLOEXEC == 0
        && f & !(CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC) == 0
        && first <= last;
    let had_socket = fds::any_in_range(first, last);
    let forward = || match flags {
        Some(f) => forward!(close_range(first, last, f)),
        None => {
            forward!(closefrom(first as c_int));
            0
        }
    };
    if !had_socket && !settings::enabled(func) {
        return forward();
    }
    let call = Traced::start(func);
    let done = {
        let vfork = lifecycle::in_vfork_child();
        if closes && !vfork {
            fds::forget_range(first, last);
        }
        plain(forward()).flag(emit::vfork_flag(vfork))
    };
    call.finish_if(done, |_| had_socket, |w, _| args!(w, first, last, f))
}

/// Set once a socket was wrapped in a stdio stream: only then does fclose
/// need a look at its descriptor (glibc's fclose closes it with an
/// internal call no hook sees).
static STDIO_SOCKETS: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

#[no_mangle]
pub unsafe extern "C" fn fdopen(fd: c_int, mode: *const core::ffi::c_char) -> *mut libc::FILE {
    let fp = forward!(fdopen(fd, mode));
    if !fp.is_null() && fds::is_socket(fd) {
        STDIO_SOCKETS.store(true, core::sync::atomic::Ordering::Relaxed);
    }
    fp
}

#[inline(never)]
unsafe fn fclose_traced(fp: *mut libc::FILE) -> c_int {
    let e0 = crate::sys::errno();
    // SAFETY: fclose's contract: fp is an open stream.
    let fd = unsafe { libc::fileno(fp) };
    crate::sys::set_errno(e0);
    if !fds::is_socket(fd) {
        return forward!(fclose(fp));
    }
    // fclose closes the descriptor whatever it reports, like close; it is
    // shown as that close (the stream's buffered bytes went out through
    // stdio's internal write, which no hook sees).
    closing_socket(fd, || forward!(fclose(fp)))
}

/// dup, dup2 and dup3: the new descriptor is a socket exactly when the old
/// one is; recorded when either was one.
#[inline(never)]
unsafe fn dup_traced(func: Func, old: c_int, new: Option<c_int>, flags: Option<c_int>) -> c_int {
    let call = Traced::start(func);
    let mut done = plain(match (new, flags) {
        (None, _) => forward!(dup(old)),
        (Some(n), None) => forward!(dup2(old, n)),
        (Some(n), Some(f)) => forward!(dup3(old, n, f)),
    });
    let was_socket = fds::is_socket(old);
    let sockets = was_socket || new.is_some_and(fds::is_socket);
    if sockets {
        let vfork = lifecycle::in_vfork_child();
        if done.ret >= 0 && !vfork {
            fds::forget(done.ret);
            fds::set_socket(done.ret, was_socket);
        }
        done = done.flag(emit::vfork_flag(vfork));
    }
    call.finish_if(
        done,
        |_| sockets,
        |w, _| {
            let h = w.header();
            h.args[0] = old as u64;
            if let Some(n) = new {
                h.args[1] = n as u64;
            }
            if let Some(f) = flags {
                h.args[2] = f as u64;
            }
        },
    )
}

#[inline(never)]
unsafe fn setsockopt_traced(
    fd: c_int,
    level: c_int,
    name: c_int,
    val: *const c_void,
    len: socklen_t,
) -> c_int {
    let call = Traced::start(Func::Setsockopt);
    let done = plain(forward!(setsockopt(fd, level, name, val, len)));
    call.finish(done, |w, d| {
        args!(w, fd, level, name, val, len);
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
                if d.ret == 0 {
                    opt_size_read(level, name, len)
                } else {
                    0
                },
            )
        };
    })
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

#[inline(never)]
unsafe fn getsockopt_traced(
    fd: c_int,
    level: c_int,
    name: c_int,
    val: *mut c_void,
    len: *mut socklen_t,
) -> c_int {
    let call = Traced::start(Func::Getsockopt);
    let done = plain(forward!(getsockopt(fd, level, name, val, len)));
    call.finish(done, |w, d| {
        let r = d.ret;
        let out_len = if r == 0 && !len.is_null() {
            // SAFETY: written by the kernel on success.
            unsafe { *len }
        } else {
            0
        };
        args!(w, fd, level, name, val, len, out_len);
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
    })
}

/// fcntl and fcntl64 on a socket: F_DUPFD makes another socket.
#[inline(never)]
unsafe fn fcntl_traced(is64: bool, fd: c_int, cmd: c_int, arg: usize) -> c_int {
    let call = Traced::start(Func::Fcntl);
    let done = {
        let d = plain(if is64 {
            forward!(fcntl64(fd, cmd, arg))
        } else {
            forward!(fcntl(fd, cmd, arg))
        });
        let dup = matches!(cmd, libc::F_DUPFD | libc::F_DUPFD_CLOEXEC);
        let vfork = dup && d.ret >= 0 && note_socket(d.ret);
        d.flag(emit::vfork_flag(vfork))
    };
    call.finish(done, |w, _| args!(w, fd, cmd, arg))
}

#[inline(never)]
unsafe fn ioctl_traced(fd: c_int, req: usize, arg: usize) -> c_int {
    let call = Traced::start(Func::Ioctl);
    let done = plain(forward!(ioctl(fd, req, arg)));
    call.finish(done, |w, d| {
        args!(w, fd, req, arg);
        let int_arg = matches!(
            req as u64,
            0x541B /* FIONREAD, SIOCINQ */ | 0x5421 /* FIONBIO */ | 0x5452 /* FIOASYNC */
                    | 0x8905 /* SIOCATMARK */ | 0x5411 /* TIOCOUTQ, SIOCOUTQ */
        );
        if d.ret == 0 && int_arg && arg != 0 {
            // SAFETY: the kernel read or wrote an int there.
            let v = unsafe { *(arg as *const c_int) };
            w.ints(role::ARG_VAL, &[v as i64]);
        }
    })
}
