//! select, pselect, poll, ppoll (and their fortified forms), and the epoll
//! calls that involve sockets.

use super::{acted, involved, plain, Traced};
use crate::actions::Target;
use crate::capture;
use crate::fds;
use crate::lifecycle;
use crate::sys;
use core::ffi::c_int;
use core::ptr::null;
use libc::{epoll_event, fd_set, nfds_t, pollfd, sigset_t, size_t, timespec, timeval};
use sock_trace_event::record::{RecordWriter, FLAG_FORTIFIED};
use sock_trace_event::{role, Func, Tag};

hook! {
    pub unsafe extern "C" fn select(n: c_int, r: *mut fd_set, wr: *mut fd_set, ex: *mut fd_set, tmo: *mut timeval) -> c_int {
        involved(Func::Select) => select_traced(n, r, wr, ex, tmo)
    }

    pub unsafe extern "C" fn pselect(n: c_int, r: *mut fd_set, wr: *mut fd_set, ex: *mut fd_set, tmo: *const timespec, mask: *const sigset_t) -> c_int {
        involved(Func::Pselect) => pselect_traced(n, r, wr, ex, tmo, mask)
    }

    pub unsafe extern "C" fn poll(fds_ptr: *mut pollfd, n: nfds_t, tmo: c_int) -> c_int {
        involved(Func::Poll) => poll_traced(Func::Poll, fds_ptr, n, tmo, null(), null(), None)
    }

    pub unsafe extern "C" fn __poll_chk(fds_ptr: *mut pollfd, n: nfds_t, tmo: c_int, fdslen: size_t) -> c_int {
        involved(Func::Poll) => poll_traced(Func::Poll, fds_ptr, n, tmo, null(), null(), Some(fdslen))
    }

    pub unsafe extern "C" fn ppoll(fds_ptr: *mut pollfd, n: nfds_t, tmo: *const timespec, mask: *const sigset_t) -> c_int {
        involved(Func::Ppoll) => poll_traced(Func::Ppoll, fds_ptr, n, 0, tmo, mask, None)
    }

    pub unsafe extern "C" fn __ppoll_chk(fds_ptr: *mut pollfd, n: nfds_t, tmo: *const timespec, mask: *const sigset_t, fdslen: size_t) -> c_int {
        involved(Func::Ppoll) => poll_traced(Func::Ppoll, fds_ptr, n, 0, tmo, mask, Some(fdslen))
    }

    pub unsafe extern "C" fn epoll_create(size: c_int) -> c_int {
        true => epoll_create_traced(Func::EpollCreate, size)
    }

    pub unsafe extern "C" fn epoll_create1(flags: c_int) -> c_int {
        true => epoll_create_traced(Func::EpollCreate1, flags)
    }

    pub unsafe extern "C" fn epoll_ctl(epfd: c_int, op: c_int, fd: c_int, ev: *mut epoll_event) -> c_int {
        fds::is_socket(fd) => epoll_ctl_traced(epfd, op, fd, ev)
    }

    pub unsafe extern "C" fn epoll_wait(epfd: c_int, ev: *mut epoll_event, max: c_int, tmo: c_int) -> c_int {
        fds::is_socket_epoll(epfd) && involved(Func::EpollWait) => epoll_wait_traced(Func::EpollWait, epfd, ev, max, tmo, null())
    }

    pub unsafe extern "C" fn epoll_pwait(epfd: c_int, ev: *mut epoll_event, max: c_int, tmo: c_int, mask: *const sigset_t) -> c_int {
        fds::is_socket_epoll(epfd) && involved(Func::EpollPwait) => epoll_wait_traced(Func::EpollPwait, epfd, ev, max, tmo, mask)
    }
}

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

#[inline(never)]
unsafe fn select_traced(
    n: c_int,
    r: *mut fd_set,
    wr: *mut fd_set,
    ex: *mut fd_set,
    tmo: *mut timeval,
) -> c_int {
    // Linux rewrites the timeout with the time left: keep the request.
    let asked = capture::read_value(tmo);
    let asked_sets = AskedSets::capture(n, [r, wr, ex]);
    let call = Traced::start(Func::Select);
    let done = acted(
        Func::Select,
        || Target::fd(-1),
        |_| forward!(select(n, r, wr, ex, tmo)),
    );
    call.finish(done, |w, d| {
        args!(w, n, r, wr, ex, tmo);
        asked_sets.record(w);
        if let Some(tv) = asked {
            w.ints(role::TIMEOUT, &[tv.tv_sec, tv.tv_usec * 1000]);
        }
        if d.ret > 0 {
            // SAFETY: written on success.
            unsafe { ready_sets(w, n, [r, wr, ex]) };
        }
    })
}

#[inline(never)]
unsafe fn pselect_traced(
    n: c_int,
    r: *mut fd_set,
    wr: *mut fd_set,
    ex: *mut fd_set,
    tmo: *const timespec,
    mask: *const sigset_t,
) -> c_int {
    let asked_sets = AskedSets::capture(n, [r, wr, ex]);
    let call = Traced::start(Func::Pselect);
    let done = acted(
        Func::Pselect,
        || Target::fd(-1),
        |_| forward!(pselect(n, r, wr, ex, tmo, mask)),
    );
    call.finish(done, |w, d| {
        args!(w, n, r, wr, ex, tmo, mask);
        asked_sets.record(w);
        if let Some(ts) = capture::read_value(tmo) {
            w.ints(role::TIMEOUT, &[ts.tv_sec, ts.tv_nsec]);
        }
        if d.ret > 0 {
            // SAFETY: written on success.
            unsafe { ready_sets(w, n, [r, wr, ex]) };
        }
    })
}

/// The three ready sets of a successful select or pselect.
///
/// # Safety
/// Non-null sets were written by a successful call.
unsafe fn ready_sets(w: &mut RecordWriter<'_>, n: c_int, [r, wr, ex]: [*mut fd_set; 3]) {
    // SAFETY: per contract.
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

/// poll and ppoll, and their fortified forms (`chk`: the array's length).
#[allow(clippy::too_many_arguments)]
#[inline(never)]
unsafe fn poll_traced(
    func: Func,
    fds_ptr: *mut pollfd,
    n: nfds_t,
    tmo_ms: c_int,
    tmo: *const timespec,
    mask: *const sigset_t,
    chk: Option<size_t>,
) -> c_int {
    let forward = |_| match (func, chk) {
        (Func::Poll, None) => forward!(poll(fds_ptr, n, tmo_ms)),
        (Func::Poll, Some(l)) => forward!(__poll_chk(fds_ptr, n, tmo_ms, l)),
        (_, None) => forward!(ppoll(fds_ptr, n, tmo, mask)),
        (_, Some(l)) => forward!(__ppoll_chk(fds_ptr, n, tmo, mask, l)),
    };
    let call = Traced::start(func);
    let fortified = if chk.is_some() { FLAG_FORTIFIED } else { 0 };
    let done = acted(func, || Target::fd(-1), forward).flag(fortified);
    call.finish_if(
        done,
        // SAFETY: when the call did not fail the kernel accessed all entries.
        |d| d.ret < 0 || fds_ptr.is_null() || unsafe { any_socket(fds_ptr, n) },
        |w, d| {
            args!(w, fds_ptr, n, tmo_ms as i64, mask);
            if func == Func::Ppoll {
                w.header().args[2] = tmo as u64;
                if let Some(ts) = capture::read_value(tmo) {
                    w.ints(role::TIMEOUT, &[ts.tv_sec, ts.tv_nsec]);
                }
            }
            let count = (n as usize).min(MAX_POLLFDS);
            let bytes = count * core::mem::size_of::<pollfd>();
            // SAFETY: accessed by the kernel unless it failed (then safe copy).
            unsafe { capture::bytes(w, Tag::PollFds, 0, fds_ptr as *const u8, bytes, d.ret >= 0) };
        },
    )
}

/// epoll_create and epoll_create1: a new epoll descriptor is not a socket
/// (the number may have been one, closed behind our back).
#[inline(never)]
unsafe fn epoll_create_traced(func: Func, arg: c_int) -> c_int {
    let call = Traced::start(func);
    let done = {
        let d = plain(if func == Func::EpollCreate {
            forward!(epoll_create(arg))
        } else {
            forward!(epoll_create1(arg))
        });
        if d.ret >= 0 && !lifecycle::in_vfork_child() {
            fds::forget(d.ret);
        }
        d
    };
    call.finish(done, |w, _| w.header().args[0] = arg as u64)
}

#[inline(never)]
unsafe fn epoll_ctl_traced(epfd: c_int, op: c_int, fd: c_int, ev: *mut epoll_event) -> c_int {
    let call = Traced::start(Func::EpollCtl);
    let done = {
        let d = plain(forward!(epoll_ctl(epfd, op, fd, ev)));
        if d.ret == 0 && op == libc::EPOLL_CTL_ADD && !lifecycle::in_vfork_child() {
            fds::set_socket_epoll(epfd, true);
        }
        d
    };
    call.finish(done, |w, d| {
        args!(w, epfd, op, fd, ev);
        if d.ret == 0 && op != libc::EPOLL_CTL_DEL {
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
    })
}

/// epoll_wait and epoll_pwait.
#[inline(never)]
unsafe fn epoll_wait_traced(
    func: Func,
    epfd: c_int,
    ev: *mut epoll_event,
    max: c_int,
    tmo: c_int,
    mask: *const sigset_t,
) -> c_int {
    let forward = |_| {
        if func == Func::EpollWait {
            forward!(epoll_wait(epfd, ev, max, tmo))
        } else {
            forward!(epoll_pwait(epfd, ev, max, tmo, mask))
        }
    };
    let call = Traced::start(func);
    let done = acted(func, || Target::fd(-1), forward);
    call.finish(done, |w, d| {
        let r = d.ret;
        args!(w, epfd, ev, max, tmo as i64, mask);
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
    })
}
