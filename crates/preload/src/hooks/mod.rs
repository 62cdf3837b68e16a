//! The exported hooks, one file per family. Every hook has the same shape:
//!
//! 1. If the function is not traced (and needs no bookkeeping), call the
//!    real function and return: one relaxed load on top of the call.
//! 2. Take the start time, call the real function, save errno at once.
//! 3. Update socket bookkeeping, then [`state::emit`] the record (inside
//!    `catch_unwind`; a tracer bug never reaches the program).
//! 4. Restore errno and return the real result.

mod io;
mod misc;
mod poll;
mod resolve;
mod socket;

use crate::{state, sys};
use sock_trace_event::Func;

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
