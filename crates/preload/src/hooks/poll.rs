//! select, pselect, poll, ppoll (and their fortified forms), and the epoll
//! calls that involve sockets.

use super::{call, involved, perform};
use crate::actions::Target;
use crate::capture;
use crate::fds;
use crate::real;
use crate::state::{self, emit};
use crate::sys;
use core::ffi::c_int;
use libc::{epoll_event, fd_set, nfds_t, pollfd, sigset_t, size_t, timespec, timeval};
use sock_trace_event::record::{RecordWriter, FLAG_FORTIFIED};
use sock_trace_event::{role, Func, Tag};

const MAX_POLLFDS: usize = 64;
const MAX_EVENTS: usize = 64;

/// The fd sets as the program passed them, copied before the call
/// overwrites them (fault-safe: a bad pointer makes select fail, not us).
struct AskedSets {
    bytes: usize,
    sets: [[u8; SET_BYTES]; 3],
    present: [bool; 3],
}

const SET_BYTES: usize = core::mem::size_of::<fd_set>();

impl AskedSets {
    fn capture(nfds: c_int, sets: [*mut fd_set; 3]) -> AskedSets {
        let bytes = ((nfds.max(0) as usize).div_ceil(8)).min(SET_BYTES);
        let mut asked = AskedSets {
            bytes,
            sets: [[0; SET_BYTES]; 3],
            present: [false; 3],
        };
        for (i, set) in sets.into_iter().enumerate() {
            if !set.is_null() && bytes > 0 {
                asked.present[i] =
                    sys::safe_copy(&mut asked.sets[i][..bytes], set as *const u8) == bytes;
            }
        }
        asked
    }

    fn record(&self, w: &mut RecordWriter<'_>) {
        for (i, r) in [role::FDS_READ_IN, role::FDS_WRITE_IN, role::FDS_EXCEPT_IN]
            .into_iter()
            .enumerate()
        {
            if self.present[i] {
                w.blob(Tag::FdSet, r, &self.sets[i][..self.bytes]);
            }
        }
    }
}

/// Copies the ready sets select left behind, cut to nfds bits.
///
/// # Safety
/// Non-null sets were written by a successful call.
unsafe fn fd_sets(w: &mut RecordWriter<'_>, nfds: c_int, sets: [(*mut fd_set, u8); 3]) {
    let bytes = ((nfds.max(0) as usize).div_ceil(8)).min(core::mem::size_of::<fd_set>());
    for (set, r) in sets {
        if !set.is_null() {
            // SAFETY: the kernel wrote this set.
            unsafe { capture::bytes(w, Tag::FdSet, r, set as *const u8, bytes, true) };
        }
    }
}

#[no_mangle]
pub unsafe extern "C" fn select(
    n: c_int,
    r: *mut fd_set,
    wr: *mut fd_set,
    ex: *mut fd_set,
    tmo: *mut timeval,
) -> c_int {
    if !involved(Func::Select) {
        // SAFETY: forwarding.
        return unsafe { real::select(n, r, wr, ex, tmo) };
    }
    // SAFETY: forwarded contract.
    unsafe { select_hooked(n, r, wr, ex, tmo) }
}

#[inline(never)]
unsafe fn select_hooked(
    n: c_int,
    r: *mut fd_set,
    wr: *mut fd_set,
    ex: *mut fd_set,
    tmo: *mut timeval,
) -> c_int {
    if !involved(Func::Select) {
        // SAFETY: forwarding.
        return unsafe { real::select(n, r, wr, ex, tmo) };
    }
    // Linux rewrites the timeout with the time left: keep the request.
    let asked = capture::read_value(tmo);
    let asked_sets = AskedSets::capture(n, [r, wr, ex]);
    let t0 = sys::now();
    // SAFETY: forwarding.
    let (ret, e, injected) = perform(
        Func::Select,
        || Target::fd(-1),
        |_| unsafe { real::select(n, r, wr, ex, tmo) } as i64,
    );
    let ret = ret as c_int;
    if !state::enabled(Func::Select) {
        sys::set_errno(e);
        return ret;
    }
    let mut c = call(Func::Select, t0, ret as i64, e);
    c.flags |= injected;
    emit(c, |w| {
        w.header().args[..5]
            .copy_from_slice(&[n as u64, r as u64, wr as u64, ex as u64, tmo as u64]);
        asked_sets.record(w);
        if let Some(tv) = asked {
            w.ints(role::TIMEOUT, &[tv.tv_sec, tv.tv_usec * 1000]);
        }
        if ret > 0 {
            // SAFETY: written on success.
            unsafe {
                fd_sets(
                    w,
                    n,
                    [
                        (r, role::FDS_READ),
                        (wr, role::FDS_WRITE),
                        (ex, role::FDS_EXCEPT),
                    ],
                )
            };
        }
    });
    sys::set_errno(e);
    ret
}

#[no_mangle]
pub unsafe extern "C" fn pselect(
    n: c_int,
    r: *mut fd_set,
    wr: *mut fd_set,
    ex: *mut fd_set,
    tmo: *const timespec,
    mask: *const sigset_t,
) -> c_int {
    if !involved(Func::Pselect) {
        // SAFETY: forwarding.
        return unsafe { real::pselect(n, r, wr, ex, tmo, mask) };
    }
    // SAFETY: forwarded contract.
    unsafe { pselect_hooked(n, r, wr, ex, tmo, mask) }
}

#[inline(never)]
unsafe fn pselect_hooked(
    n: c_int,
    r: *mut fd_set,
    wr: *mut fd_set,
    ex: *mut fd_set,
    tmo: *const timespec,
    mask: *const sigset_t,
) -> c_int {
    if !involved(Func::Pselect) {
        // SAFETY: forwarding.
        return unsafe { real::pselect(n, r, wr, ex, tmo, mask) };
    }
    let asked_sets = AskedSets::capture(n, [r, wr, ex]);
    let t0 = sys::now();
    // SAFETY: forwarding.
    let (ret, e, injected) = perform(
        Func::Pselect,
        || Target::fd(-1),
        |_| unsafe { real::pselect(n, r, wr, ex, tmo, mask) } as i64,
    );
    let ret = ret as c_int;
    if !state::enabled(Func::Pselect) {
        sys::set_errno(e);
        return ret;
    }
    let mut c = call(Func::Pselect, t0, ret as i64, e);
    c.flags |= injected;
    emit(c, |w| {
        w.header().args = [
            n as u64,
            r as u64,
            wr as u64,
            ex as u64,
            tmo as u64,
            mask as u64,
        ];
        asked_sets.record(w);
        if let Some(ts) = capture::read_value(tmo) {
            w.ints(role::TIMEOUT, &[ts.tv_sec, ts.tv_nsec]);
        }
        if ret > 0 {
            // SAFETY: written on success.
            unsafe {
                fd_sets(
                    w,
                    n,
                    [
                        (r, role::FDS_READ),
                        (wr, role::FDS_WRITE),
                        (ex, role::FDS_EXCEPT),
                    ],
                )
            };
        }
    });
    sys::set_errno(e);
    ret
}

/// Whether a pollfd array names at least one socket (poll on pipes and
/// terminals alone is not network activity).
///
/// # Safety
/// `fds` must be valid for `n` entries.
unsafe fn any_socket(fds_ptr: *const pollfd, n: nfds_t) -> bool {
    (0..n as usize).any(|i| {
        // SAFETY: i < n.
        fds::is_socket(unsafe { (*fds_ptr.add(i)).fd })
    })
}

#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn poll_common(
    func: Func,
    fds_ptr: *mut pollfd,
    n: nfds_t,
    tmo_ms: c_int,
    tmo: *const timespec,
    mask: *const sigset_t,
    chk: Option<size_t>,
) -> c_int {
    let forward = || {
        // SAFETY: forwarding.
        unsafe {
            match (func, chk) {
                (Func::Poll, None) => real::poll(fds_ptr, n, tmo_ms),
                (Func::Poll, Some(l)) => real::__poll_chk(fds_ptr, n, tmo_ms, l),
                (_, None) => real::ppoll(fds_ptr, n, tmo, mask),
                (_, Some(l)) => real::__ppoll_chk(fds_ptr, n, tmo, mask, l),
            }
        }
    };
    let t0 = sys::now();
    let (r, e, injected) = perform(func, || Target::fd(-1), |_| forward() as i64);
    let r = r as c_int;
    // SAFETY: when the call did not fail the kernel accessed all entries.
    let relevant =
        state::enabled(func) && (r < 0 || fds_ptr.is_null() || unsafe { any_socket(fds_ptr, n) });
    if relevant {
        let mut c = call(func, t0, r as i64, e);
        c.flags |= injected;
        if chk.is_some() {
            c.flags |= FLAG_FORTIFIED;
        }
        emit(c, |w| {
            w.header().args[..4].copy_from_slice(&[
                fds_ptr as u64,
                n as u64,
                tmo_ms as i64 as u64,
                mask as u64,
            ]);
            if func == Func::Ppoll {
                w.header().args[2] = tmo as u64;
                if let Some(ts) = capture::read_value(tmo) {
                    w.ints(role::TIMEOUT, &[ts.tv_sec, ts.tv_nsec]);
                }
            }
            let count = (n as usize).min(MAX_POLLFDS);
            let bytes = count * core::mem::size_of::<pollfd>();
            // SAFETY: accessed by the kernel unless it failed (then safe copy).
            unsafe { capture::bytes(w, Tag::PollFds, 0, fds_ptr as *const u8, bytes, r >= 0) };
        });
    }
    sys::set_errno(e);
    r
}

#[no_mangle]
pub unsafe extern "C" fn poll(fds_ptr: *mut pollfd, n: nfds_t, tmo: c_int) -> c_int {
    if !involved(Func::Poll) {
        // SAFETY: forwarding.
        return unsafe { real::poll(fds_ptr, n, tmo) };
    }
    poll_common(
        Func::Poll,
        fds_ptr,
        n,
        tmo,
        core::ptr::null(),
        core::ptr::null(),
        None,
    )
}

#[no_mangle]
pub unsafe extern "C" fn __poll_chk(
    fds_ptr: *mut pollfd,
    n: nfds_t,
    tmo: c_int,
    fdslen: size_t,
) -> c_int {
    if !involved(Func::Poll) {
        // SAFETY: forwarding.
        return unsafe { real::__poll_chk(fds_ptr, n, tmo, fdslen) };
    }
    poll_common(
        Func::Poll,
        fds_ptr,
        n,
        tmo,
        core::ptr::null(),
        core::ptr::null(),
        Some(fdslen),
    )
}

#[no_mangle]
pub unsafe extern "C" fn ppoll(
    fds_ptr: *mut pollfd,
    n: nfds_t,
    tmo: *const timespec,
    mask: *const sigset_t,
) -> c_int {
    if !involved(Func::Ppoll) {
        // SAFETY: forwarding.
        return unsafe { real::ppoll(fds_ptr, n, tmo, mask) };
    }
    poll_common(Func::Ppoll, fds_ptr, n, 0, tmo, mask, None)
}

#[no_mangle]
pub unsafe extern "C" fn __ppoll_chk(
    fds_ptr: *mut pollfd,
    n: nfds_t,
    tmo: *const timespec,
    mask: *const sigset_t,
    fdslen: size_t,
) -> c_int {
    if !involved(Func::Ppoll) {
        // SAFETY: forwarding.
        return unsafe { real::__ppoll_chk(fds_ptr, n, tmo, mask, fdslen) };
    }
    poll_common(Func::Ppoll, fds_ptr, n, 0, tmo, mask, Some(fdslen))
}

fn epoll_created(func: Func, t0: u64, r: c_int, e: i32, arg: c_int) {
    if r >= 0 && !state::in_vfork_child() {
        fds::forget(r);
    }
    if state::enabled(func) {
        emit(call(func, t0, r as i64, e), |w| {
            w.header().args[0] = arg as u64
        });
    }
}

#[no_mangle]
pub unsafe extern "C" fn epoll_create(size: c_int) -> c_int {
    let t0 = sys::now();
    // SAFETY: forwarding.
    let r = unsafe { real::epoll_create(size) };
    let e = sys::errno();
    epoll_created(Func::EpollCreate, t0, r, e, size);
    sys::set_errno(e);
    r
}

#[no_mangle]
pub unsafe extern "C" fn epoll_create1(flags: c_int) -> c_int {
    let t0 = sys::now();
    // SAFETY: forwarding.
    let r = unsafe { real::epoll_create1(flags) };
    let e = sys::errno();
    epoll_created(Func::EpollCreate1, t0, r, e, flags);
    sys::set_errno(e);
    r
}

#[no_mangle]
pub unsafe extern "C" fn epoll_ctl(
    epfd: c_int,
    op: c_int,
    fd: c_int,
    ev: *mut epoll_event,
) -> c_int {
    if !fds::is_socket(fd) {
        // SAFETY: forwarding.
        return unsafe { real::epoll_ctl(epfd, op, fd, ev) };
    }
    let t0 = sys::now();
    // SAFETY: forwarding.
    let r = unsafe { real::epoll_ctl(epfd, op, fd, ev) };
    let e = sys::errno();
    if r == 0 && op == libc::EPOLL_CTL_ADD && !state::in_vfork_child() {
        fds::set_socket_epoll(epfd, true);
    }
    if state::enabled(Func::EpollCtl) {
        emit(call(Func::EpollCtl, t0, r as i64, e), |w| {
            w.header().args[..4].copy_from_slice(&[epfd as u64, op as u64, fd as u64, ev as u64]);
            if r == 0 && op != libc::EPOLL_CTL_DEL {
                // SAFETY: read by the kernel on success.
                unsafe {
                    capture::bytes(
                        w,
                        Tag::EpollEvents,
                        role::EPOLL_EVENT,
                        ev as *const u8,
                        core::mem::size_of::<epoll_event>(),
                        true,
                    )
                };
            }
        });
    }
    sys::set_errno(e);
    r
}

#[inline(never)]
fn epoll_wait_common(
    func: Func,
    epfd: c_int,
    ev: *mut epoll_event,
    max: c_int,
    tmo: c_int,
    mask: *const sigset_t,
) -> c_int {
    let forward = || {
        // SAFETY: forwarding.
        unsafe {
            if func == Func::EpollWait {
                real::epoll_wait(epfd, ev, max, tmo)
            } else {
                real::epoll_pwait(epfd, ev, max, tmo, mask)
            }
        }
    };
    let t0 = sys::now();
    let (r, e, injected) = perform(func, || Target::fd(-1), |_| forward() as i64);
    let r = r as c_int;
    if !state::enabled(func) {
        sys::set_errno(e);
        return r;
    }
    let mut c = call(func, t0, r as i64, e);
    c.flags |= injected;
    emit(c, |w| {
        w.header().args[..5].copy_from_slice(&[
            epfd as u64,
            ev as u64,
            max as u64,
            tmo as i64 as u64,
            mask as u64,
        ]);
        if r > 0 {
            let count = (r as usize).min(MAX_EVENTS);
            // SAFETY: the kernel wrote r entries.
            unsafe {
                capture::bytes(
                    w,
                    Tag::EpollEvents,
                    0,
                    ev as *const u8,
                    count * core::mem::size_of::<epoll_event>(),
                    true,
                )
            };
        }
    });
    sys::set_errno(e);
    r
}

#[no_mangle]
pub unsafe extern "C" fn epoll_wait(
    epfd: c_int,
    ev: *mut epoll_event,
    max: c_int,
    tmo: c_int,
) -> c_int {
    if !fds::is_socket_epoll(epfd) || !involved(Func::EpollWait) {
        // SAFETY: forwarding.
        return unsafe { real::epoll_wait(epfd, ev, max, tmo) };
    }
    epoll_wait_common(Func::EpollWait, epfd, ev, max, tmo, core::ptr::null())
}

#[no_mangle]
pub unsafe extern "C" fn epoll_pwait(
    epfd: c_int,
    ev: *mut epoll_event,
    max: c_int,
    tmo: c_int,
    mask: *const sigset_t,
) -> c_int {
    if !fds::is_socket_epoll(epfd) || !involved(Func::EpollPwait) {
        // SAFETY: forwarding.
        return unsafe { real::epoll_pwait(epfd, ev, max, tmo, mask) };
    }
    epoll_wait_common(Func::EpollPwait, epfd, ev, max, tmo, mask)
}
