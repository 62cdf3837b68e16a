//! libc's `syscall()`: programs and libraries (libuv: `sendmmsg`, `close`)
//! reach the kernel through it, bypassing the named wrappers. The socket
//! and descriptor numbers are routed through the same hook bodies as the
//! named functions, so they are traced, bent and kept in the socket table;
//! every other number (futex above all) goes straight on to libc's
//! `syscall` with a few compares and a tail call.
//!
//! `syscall` is variadic in C; on x86_64 variadic integer arguments travel
//! exactly like fixed ones (six registers, then the stack), so six `long`
//! arguments are taken, whatever the caller passed: unused ones hold
//! whatever their registers or stack slot held, and are passed on as they
//! came, as libc's own `syscall` does.

use super::{io, socket};
use crate::real;
use core::ffi::{c_int, c_long, c_uint};

/// System call numbers below 64 that are routed (x86_64): read, write,
/// close, readv, writev, dup, dup2, socket .. getsockopt.
const LOW: u64 = (1 << libc::SYS_read)
    | (1 << libc::SYS_write)
    | (1 << libc::SYS_close)
    | (1 << libc::SYS_readv)
    | (1 << libc::SYS_writev)
    | (1 << libc::SYS_dup)
    | (1 << libc::SYS_dup2)
    | (1 << libc::SYS_socket)
    | (1 << libc::SYS_connect)
    | (1 << libc::SYS_accept)
    | (1 << libc::SYS_sendto)
    | (1 << libc::SYS_recvfrom)
    | (1 << libc::SYS_sendmsg)
    | (1 << libc::SYS_recvmsg)
    | (1 << libc::SYS_shutdown)
    | (1 << libc::SYS_bind)
    | (1 << libc::SYS_listen)
    | (1 << libc::SYS_getsockname)
    | (1 << libc::SYS_getpeername)
    | (1 << libc::SYS_socketpair)
    | (1 << libc::SYS_setsockopt)
    | (1 << libc::SYS_getsockopt);

/// Whether a system call number is one the hooks handle.
#[inline(always)]
fn routed(nr: c_long) -> bool {
    if (nr as u64) < 64 {
        LOW >> nr & 1 != 0
    } else {
        matches!(
            nr,
            libc::SYS_accept4
                | libc::SYS_dup3
                | libc::SYS_recvmmsg
                | libc::SYS_sendmmsg
                | libc::SYS_close_range
        )
    }
}

#[no_mangle]
pub unsafe extern "C" fn syscall(
    nr: c_long,
    a1: c_long,
    a2: c_long,
    a3: c_long,
    a4: c_long,
    a5: c_long,
    a6: c_long,
) -> c_long {
    if !routed(nr) {
        // Unchanged, as a tail call: clone and vfork return through libc's
        // frame as without us.
        return forward!(syscall(nr, a1, a2, a3, a4, a5, a6));
    }
    // SAFETY: the body forwards the program's call (see forward!).
    unsafe { routed_call(nr, [a1, a2, a3, a4, a5, a6]) }
}

/// A system call argument word converted to a hook's parameter type.
trait Word {
    fn from_word(w: c_long) -> Self;
}

macro_rules! word_as {
    ($($t:ty),*) => {$(
        impl Word for $t {
            #[inline(always)]
            fn from_word(w: c_long) -> Self {
                w as $t
            }
        }
    )*};
}
word_as!(c_int, c_uint, usize);

impl<T> Word for *mut T {
    #[inline(always)]
    fn from_word(w: c_long) -> Self {
        w as usize as *mut T
    }
}

impl<T> Word for *const T {
    #[inline(always)]
    fn from_word(w: c_long) -> Self {
        w as usize as *const T
    }
}

/// One routed system call, through the hook of the libc function that
/// makes it. Each hook returns -1 and sets errno on failure, which is what
/// `syscall()` does.
#[inline(never)]
unsafe fn routed_call(nr: c_long, a: [c_long; 6]) -> c_long {
    // One argument word, as the type the hook takes it in (the conversion
    // C made when the program passed it to `syscall()`).
    macro_rules! w {
        ($i:literal) => {
            Word::from_word(a[$i])
        };
    }
    let fd = a[0] as c_int;
    // SAFETY: the program's system call, made through the libc wrapper of
    // the same system call with the same arguments.
    unsafe {
        match nr {
            libc::SYS_read => io::read(fd, w!(1), w!(2)) as c_long,
            libc::SYS_write => io::write(fd, w!(1), w!(2)) as c_long,
            libc::SYS_readv => io::readv(fd, w!(1), w!(2)) as c_long,
            libc::SYS_writev => io::writev(fd, w!(1), w!(2)) as c_long,
            libc::SYS_close => socket::close(fd) as c_long,
            libc::SYS_close_range => socket::close_range(w!(0), w!(1), w!(2)) as c_long,
            libc::SYS_dup => socket::dup(fd) as c_long,
            libc::SYS_dup2 => socket::dup2(fd, w!(1)) as c_long,
            libc::SYS_dup3 => socket::dup3(fd, w!(1), w!(2)) as c_long,
            libc::SYS_socket => socket::socket(fd, w!(1), w!(2)) as c_long,
            libc::SYS_socketpair => socket::socketpair(fd, w!(1), w!(2), w!(3)) as c_long,
            libc::SYS_connect => socket::connect(fd, w!(1), w!(2)) as c_long,
            libc::SYS_bind => socket::bind(fd, w!(1), w!(2)) as c_long,
            libc::SYS_listen => socket::listen(fd, w!(1)) as c_long,
            libc::SYS_accept => socket::accept(fd, w!(1), w!(2)) as c_long,
            libc::SYS_accept4 => socket::accept4(fd, w!(1), w!(2), w!(3)) as c_long,
            libc::SYS_shutdown => socket::shutdown(fd, w!(1)) as c_long,
            libc::SYS_getsockname => socket::getsockname(fd, w!(1), w!(2)) as c_long,
            libc::SYS_getpeername => socket::getpeername(fd, w!(1), w!(2)) as c_long,
            libc::SYS_setsockopt => socket::setsockopt(fd, w!(1), w!(2), w!(3), w!(4)) as c_long,
            libc::SYS_getsockopt => socket::getsockopt(fd, w!(1), w!(2), w!(3), w!(4)) as c_long,
            libc::SYS_sendto => io::sendto(fd, w!(1), w!(2), w!(3), w!(4), w!(5)) as c_long,
            libc::SYS_recvfrom => io::recvfrom(fd, w!(1), w!(2), w!(3), w!(4), w!(5)) as c_long,
            libc::SYS_sendmsg => io::sendmsg(fd, w!(1), w!(2)) as c_long,
            libc::SYS_recvmsg => io::recvmsg(fd, w!(1), w!(2)) as c_long,
            libc::SYS_sendmmsg => io::sendmmsg(fd, w!(1), w!(2), w!(3)) as c_long,
            libc::SYS_recvmmsg => io::recvmmsg(fd, w!(1), w!(2), w!(3), w!(4)) as c_long,
            _ => real::syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]),
        }
    }
}
