//! Handing this process to the collector's system-call tracer just before
//! it execs a program the library cannot see into (statically linked, Go,
//! musl), so that the process stays in the trace under the other backend.
//! The protocol is `sock_trace_event::handover`'s.
//!
//! Runs in exec hooks, possibly in a vfork child: stack buffers, atomics in
//! the trace area and raw system calls only. errno is the caller's to keep.

use crate::{lifecycle, sys};
use core::ffi::c_long;
use sock_trace_event::handover::{
    Slot, ABANDONED, ALREADY, ATTACHED, BUSY, FILTERED, MAX_FILTER, REQUESTED, WAIT_NS,
};

/// Asks the tracer to take this thread over and installs its filter.
/// True when the program about to be exec'd will be traced by it.
pub fn hand_over() -> bool {
    let Some(shm) = lifecycle::shm() else {
        return false;
    };
    let h = &shm.header().handover;
    let tid = sys::gettid();
    if !h.enabled() {
        return false;
    }
    // Yama's ptrace_scope 1 lets only ancestors trace; the tracer is not one.
    // SAFETY: plain prctl (EINVAL without Yama: nothing to allow).
    unsafe {
        sys::raw!(
            libc::SYS_prctl,
            libc::PR_SET_PTRACER as c_long,
            h.tracer_pid() as c_long
        )
    };
    let Some(slot) = h.request(tid) else {
        return false;
    };
    match wait_for_answer(slot) {
        ATTACHED => {}
        ALREADY => {
            // Under the filter since an earlier hand-over or a traced
            // parent: nothing to install.
            slot.free();
            return true;
        }
        _ => {
            slot.free();
            return false;
        }
    }
    let mut program = [0u64; MAX_FILTER];
    let n = h.filter_into(&mut program);
    if n > 0 && install_filter(&program[..n]) {
        slot.advance(ATTACHED, FILTERED);
        true
    } else {
        // The tracer sees the exec without FILTERED and lets the process go.
        false
    }
}

/// After a failed exec: the slot is no longer needed (the tracer keeps the
/// thread, which goes on under the filter with this library recording).
pub fn exec_failed() {
    let Some(shm) = lifecycle::shm() else {
        return;
    };
    if let Some(slot) = shm.header().handover.slot_of(sys::gettid()) {
        if slot.state() == FILTERED {
            slot.free();
        }
    }
}

/// Waits for the tracer's answer; gives up after `WAIT_NS` unless the
/// tracer already took the request.
fn wait_for_answer(slot: &Slot) -> u32 {
    let deadline = sys::now().saturating_add(WAIT_NS);
    loop {
        let state = slot.state();
        if state != REQUESTED && state != BUSY {
            return state;
        }
        if state == REQUESTED && sys::now() >= deadline && slot.advance(REQUESTED, ABANDONED) {
            return ABANDONED;
        }
        let timeout = libc::timespec {
            tv_sec: 0,
            tv_nsec: 20_000_000,
        };
        // A shared (not private) futex: the tracer wakes it from its own
        // process. Spurious returns and EINTR just loop.
        // SAFETY: the word lies in the mapped area; the timeout is ours.
        unsafe {
            sys::raw!(
                libc::SYS_futex,
                &slot.state as *const _ as *const u32,
                libc::FUTEX_WAIT,
                state,
                &timeout as *const libc::timespec,
            )
        };
    }
}

/// `seccomp(SECCOMP_SET_MODE_FILTER)` with `program`; with no_new_privs
/// first when the process lacks CAP_SYS_ADMIN (as the system-call backend
/// does for the programs it starts).
fn install_filter(program: &[u64]) -> bool {
    #[repr(C)]
    struct Fprog {
        len: u16,
        filter: *const u64,
    }
    let prog = Fprog {
        len: program.len() as u16,
        filter: program.as_ptr(),
    };
    let set = || {
        // SAFETY: a valid sock_fprog whose instructions are `program`'s
        // 8-byte `struct sock_filter` words.
        unsafe {
            sys::raw!(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER as c_long,
                0 as c_long,
                &prog as *const Fprog,
            )
        }
    };
    if set() == 0 {
        return true;
    }
    // SAFETY: plain prctl.
    unsafe {
        sys::raw!(
            libc::SYS_prctl,
            libc::PR_SET_NO_NEW_PRIVS as c_long,
            1 as c_long
        )
    };
    set() == 0
}
