//! The exported hooks, one file per family, all built on one skeleton.
//!
//! 1. [`hook!`] writes the exported symbol under its own name
//!    (`grep -rn "fn connect\b"` finds it). The export only decides: when
//!    the call is neither traced nor acted on (and needs no bookkeeping),
//!    it tail-calls the real function. Everything else lives in the
//!    out-of-line body `<name>_traced` (`#[inline(never)]`), so the
//!    excluded path has no prologue: about 14 instructions on top of the
//!    call (bench/callgrind.py), where an inlined body cost 71. A body
//!    never re-checks the gate it sits behind.
//! 2. The body is [`Traced`]: `Traced::start` takes the start time; the
//!    body performs the real call (under the action rules: [`acted`]; or
//!    alone: [`plain`]), which saves errno at once, and updates the socket
//!    bookkeeping; `finish` checks the emit gate once, emits the record
//!    (inside `catch_unwind`: a tracer bug never reaches the program),
//!    restores errno and returns the real result.
//!
//! Forwarding: every call of a real function goes through [`forward!`],
//! which holds the one safety argument for all of them (below).

/// Calls the real function behind a hook: `forward!(connect(fd, addr, len))`.
///
/// The one safety argument for every forwarded call: the program called
/// the hook with these arguments under the C function's contract, and the
/// real function (the next definition of the same symbol, declared with the
/// same prototype in [`crate::real`]) gets them unchanged, or a prefix of
/// the same buffers (a short write, a paced read), which the contract
/// covers as well.
macro_rules! forward {
    ($name:ident($($a:expr),* $(,)?)) => {
        // SAFETY: forwarding under the program's own contract (see forward!).
        unsafe { crate::real::$name($($a),*) }
    };
}

/// Exports hooks, each under its literal name:
///
/// ```ignore
/// hook! {
///     pub unsafe extern "C" fn connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
///         involved(Func::Connect) => addr_in_traced(Func::Connect, fd, addr, len)
///     }
/// }
/// ```
///
/// When the gate before `=>` is false the real function is tail-called
/// with the same arguments; otherwise the out-of-line body after `=>` runs.
macro_rules! hook {
    ($(
        $(#[$m:meta])*
        pub unsafe extern "C" fn $name:ident($($a:ident: $t:ty),* $(,)?) -> $ret:ty {
            $gate:expr => $body:expr
        }
    )*) => {$(
        $(#[$m])*
        #[no_mangle]
        pub unsafe extern "C" fn $name($($a: $t),*) -> $ret {
            if !$gate {
                return forward!($name($($a),*));
            }
            // SAFETY: the body forwards the program's call (see forward!).
            unsafe { $body }
        }
    )*};
}

/// Sets the record's first argument words, each widened `as u64` (signed
/// values sign-extended, as the decoder reads them back):
/// `args!(w, fd, buf, len, flags)`.
macro_rules! args {
    ($w:expr, $($a:expr),+ $(,)?) => {
        $crate::hooks::args($w, &[$($a as u64),+])
    };
}

mod io;
mod misc;
mod poll;
mod raw;
mod resolve;
mod socket;

use crate::actions::{self, Target};
use crate::emit::{emit_with, Call};
use crate::settings;
use crate::sys;
use sock_trace_event::{Func, RecordWriter};

/// Whether a call on a descriptor hooked only because it is marked as a
/// socket (read, write, readv, writev, sendfile) should be recorded: it is
/// still marked (a bent call re-verified it), and, when its payload is
/// captured, an fstat confirms it still is a socket, so that a file that
/// reused the number of a socket closed behind our back is never recorded
/// as socket data.
#[inline(always)]
fn still_socket(fd: i32) -> bool {
    crate::fds::is_socket(fd) && (settings::max_data() == 0 || crate::fds::verify_socket(fd))
}

pub fn warm_up() {
    crate::real::warm_up();
}

/// A hooked function's result type, widened into a record's `ret`.
pub(crate) trait Ret: Copy {
    fn wide(self) -> i64;
    /// Back from what [`perform`] returns (the real result or an injected one).
    fn narrow(v: i64) -> Self;
}

macro_rules! int_ret {
    ($($t:ty),*) => {$(
        impl Ret for $t {
            #[inline(always)]
            fn wide(self) -> i64 {
                self as i64
            }
            #[inline(always)]
            fn narrow(v: i64) -> Self {
                v as $t
            }
        }
    )*};
}
int_ret!(i32, u16, u32, isize, i64);

macro_rules! ptr_ret {
    ($($p:ident),*) => {$(
        impl<T> Ret for *$p T {
            #[inline(always)]
            fn wide(self) -> i64 {
                self as i64
            }
            #[inline(always)]
            fn narrow(v: i64) -> Self {
                v as *$p T
            }
        }
    )*};
}
ptr_ret!(mut, const);

impl Ret for () {
    #[inline(always)]
    fn wide(self) -> i64 {
        0
    }
    #[inline(always)]
    fn narrow(_: i64) -> Self {}
}

/// A performed call: what the program gets back, and what the record says.
pub(crate) struct Done<R> {
    pub ret: R,
    /// The errno the program sees after the hook.
    pub errno: i32,
    /// The error the record shows (errno, or h_errno for gethostby*).
    pub shown_errno: i32,
    /// Record flags (injected, delayed, vfork child, fortified).
    pub flags: u16,
    /// Bytes the record needs beyond the usual (payload samples).
    pub extra: usize,
}

impl<R> Done<R> {
    #[inline(always)]
    pub fn new(ret: R, errno: i32) -> Self {
        Done {
            ret,
            errno,
            shown_errno: errno,
            flags: 0,
            extra: 0,
        }
    }

    #[inline(always)]
    pub fn flag(mut self, flags: u16) -> Self {
        self.flags |= flags;
        self
    }

    #[inline(always)]
    pub fn extra(mut self, extra: usize) -> Self {
        self.extra = extra;
        self
    }
}

/// The real call alone: its result and the errno it left behind.
#[inline(always)]
fn plain<R>(ret: R) -> Done<R> {
    Done::new(ret, sys::errno())
}

/// The real call under the action rules (delay, fault, short write,
/// bandwidth limit): see [`perform`].
#[inline(always)]
fn acted<R: Ret>(
    func: Func,
    target: impl FnOnce() -> Target,
    forward: impl FnOnce(Option<usize>) -> R,
) -> Done<R> {
    let (r, e, injected) = perform(func, target, |l| forward(l).wide());
    Done::new(R::narrow(r), e).flag(injected)
}

/// [`acted`] for calls whose result is not a byte count (sendmmsg and
/// recvmmsg return messages): `moved` turns the result into the bytes a
/// bandwidth limit charges to the socket.
#[inline(always)]
fn acted_counting<R: Ret>(
    func: Func,
    target: impl FnOnce() -> Target,
    forward: impl FnOnce(Option<usize>) -> R,
    moved: impl FnOnce(i64) -> i64,
) -> Done<R> {
    let (r, e, injected) = perform_counting(func, target, |l| forward(l).wide(), moved);
    Done::new(R::narrow(r), e).flag(injected)
}

/// The hook skeleton: time, perform, gate, emit, restore errno.
///
/// ```ignore
/// let call = Traced::start(Func::Listen);         // the start time
/// let done = plain(forward!(listen(fd, backlog))); // the real call, errno saved
/// call.finish(done, |w, _| args!(w, fd, backlog))
/// ```
///
/// Between `start` and `finish` the body performs the real call (with
/// [`plain`] or [`acted`]) and any socket bookkeeping that must happen
/// whether or not the call is traced. `finish` writes the record when the
/// function is traced (the one emit gate; `fill` adds the arguments and
/// blobs), restores the errno the call left, whatever emitting did to it,
/// and returns the real result. The perform step is written in the body,
/// not passed as a closure: as a closure the optimiser kept it out of line
/// (35 instructions more per traced call, bench/callgrind.py).
#[must_use]
pub(crate) struct Traced {
    func: Func,
    t_start: u64,
}

impl Traced {
    /// Takes the start time. Always: asking whether the function is traced
    /// first would keep that answer alive across the real call, which costs
    /// more register moves (bench/callgrind.py) than the vDSO clock read
    /// costs the rare hook that runs untraced.
    #[inline(always)]
    fn start(func: Func) -> Traced {
        Traced {
            func,
            t_start: sys::now(),
        }
    }

    #[inline(always)]
    fn finish<R: Ret>(
        self,
        done: Done<R>,
        fill: impl FnOnce(&mut RecordWriter<'_>, &Done<R>),
    ) -> R {
        self.finish_if(done, |_| true, fill)
    }

    /// [`finish`](Self::finish) with one more condition on writing the
    /// record, asked only when the function is traced (a descriptor still
    /// a socket, a pollfd array that names one).
    #[inline(always)]
    fn finish_if<R: Ret>(
        self,
        done: Done<R>,
        keep: impl FnOnce(&Done<R>) -> bool,
        fill: impl FnOnce(&mut RecordWriter<'_>, &Done<R>),
    ) -> R {
        if settings::enabled(self.func) && keep(&done) {
            let call = Call {
                func: self.func,
                t_start: self.t_start,
                ret: done.ret.wide(),
                errno: done.shown_errno,
                flags: done.flags,
                extra: done.extra,
            };
            emit_with(call, &done, fill);
        }
        sys::set_errno(done.errno);
        done.ret
    }
}

/// Whether a hook has anything to do beyond forwarding: trace the call, or
/// apply an action rule to it.
#[inline(always)]
fn involved(func: Func) -> bool {
    settings::enabled(func) || actions::wanted(func)
}

/// Whether `func` is traced (the gate of hooks that take no action rules).
#[inline(always)]
fn enabled(func: Func) -> bool {
    settings::enabled(func)
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

/// Sets the record's first `a.len()` argument words.
#[inline(always)]
fn args(w: &mut RecordWriter<'_>, a: &[u64]) {
    w.header().args[..a.len()].copy_from_slice(a);
}
