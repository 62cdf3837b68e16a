//! The exported hooks, one file per family. Every hook has the same shape:
//!
//! 1. The exported symbol only decides: if the function is neither traced
//!    nor acted on (and needs no bookkeeping), it tail-calls the real
//!    function. Everything else lives in a separate `#[inline(never)]`
//!    body, so this path has no prologue: about 14 instructions on top of
//!    the call (bench/callgrind.py), where an inlined body cost 71.
//! 2. Take the start time, call the real function, save errno at once.
//! 3. Update socket bookkeeping, then [`state::emit`] the record (inside
//!    `catch_unwind`; a tracer bug never reaches the program).
//! 4. Restore errno and return the real result.

mod io;
mod misc;
mod poll;
mod raw;
mod resolve;
mod socket;

use crate::actions::{self, Target};
use crate::{state, sys};
use sock_trace_event::Func;

/// Whether a call on a descriptor hooked only because it is marked as a
/// socket (read, write, readv, writev, sendfile) should be recorded: it is
/// still marked (a bent call re-verified it), and, when its payload is
/// captured, an fstat confirms it still is a socket, so that a file that
/// reused the number of a socket closed behind our back is never recorded
/// as socket data.
#[inline(always)]
fn still_socket(fd: i32) -> bool {
    crate::fds::is_socket(fd) && (state::max_data() == 0 || crate::fds::verify_socket(fd))
}

pub fn warm_up() {
    crate::real::warm_up();
}

/// The start time if `func` is traced.
#[inline(always)]
fn begin(func: Func) -> Option<u64> {
    if state::enabled(func) {
        Some(sys::now())
    } else {
        None
    }
}

/// Builds a [`state::Call`] from a result and the saved errno.
#[inline(always)]
fn call(func: Func, t_start: u64, ret: i64, errno: i32) -> state::Call {
    state::Call {
        func,
        t_start,
        ret,
        errno,
        flags: 0,
        extra: 0,
    }
}

/// Whether a hook has anything to do beyond forwarding: trace the call, or
/// apply an action rule to it.
#[inline(always)]
fn involved(func: Func) -> bool {
    state::enabled(func) || actions::wanted(func)
}

/// The real call, under the action rules: returns its result, the errno
/// to leave behind and the record flags (injected). `forward` gets the
/// length to cut the call to (a short write, or a bandwidth limit's slice),
/// if any.
#[inline(always)]
fn perform(
    func: Func,
    target: impl FnOnce() -> Target,
    forward: impl FnOnce(Option<usize>) -> i64,
) -> (i64, i32, u16) {
    perform_counting(func, target, forward, |r| r)
}

/// [`perform`] for calls whose result is not a byte count (sendmmsg and
/// recvmmsg return messages): `moved` turns the result into the bytes a
/// bandwidth limit charges to the socket.
#[inline(always)]
fn perform_counting(
    func: Func,
    target: impl FnOnce() -> Target,
    forward: impl FnOnce(Option<usize>) -> i64,
    moved: impl FnOnce(i64) -> i64,
) -> (i64, i32, u16) {
    if !actions::wanted(func) {
        let r = forward(None);
        return (r, sys::errno(), 0);
    }
    perform_acted(func, &target(), forward, moved)
}

#[inline(never)]
fn perform_acted(
    func: Func,
    t: &Target,
    forward: impl FnOnce(Option<usize>) -> i64,
    moved: impl FnOnce(i64) -> i64,
) -> (i64, i32, u16) {
    // read, write, readv, writev and sendfile are hooked for descriptors
    // our table marks as sockets; a mark can be stale (the socket was
    // closed by code no hook sees and the number reused for a file): never
    // bend a call on something that is not a socket any more.
    if matches!(
        func,
        Func::Read | Func::Write | Func::Readv | Func::Writev | Func::Sendfile
    ) && !crate::fds::verify_socket(t.fd)
    {
        let r = forward(None);
        return (r, sys::errno(), 0);
    }
    let v = actions::before(func, t);
    let (r, e) = match v.fail {
        // errno 0 in a rule means "leave errno alone" (EAI codes).
        Some((ret, err)) => (ret, if err != 0 { err } else { sys::errno() }),
        None => {
            let r = forward(v.limit_len());
            (r, sys::errno())
        }
    };
    // Only a bandwidth limit needs the byte count.
    let bytes = if v.fail.is_some() || r <= 0 || !v.paces() {
        0
    } else {
        moved(r)
    };
    actions::after(func, t.fd, &v, bytes);
    (r, e, v.flags())
}
