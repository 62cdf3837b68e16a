//! What this process records: the settings it was given at start.
//!
//! [`crate::lifecycle`] resolves them once, from the trace area's capture
//! options and per-program rules, before the library becomes active; every
//! hook then reads them with relaxed loads (no locks, nothing that could
//! block in a signal handler or a vfork child). Before initialisation, and
//! in a process that is not traced, every function reads as disabled.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use sock_trace_event::ring::CaptureOptions;
use sock_trace_event::Func;

use crate::callers::MAX_FRAMES;

static ENABLED: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];
static MAX_DATA: AtomicU32 = AtomicU32::new(0);
static CAPTURE_FLAGS: AtomicU32 = AtomicU32::new(0);
/// Caller frames to record per call (0: none).
static CALLER_DEPTH: AtomicU32 = AtomicU32::new(0);

/// Stores the options this program gets (the payload sample is capped at
/// 60 KiB, the caller depth at [`MAX_FRAMES`]).
pub fn store(opts: &CaptureOptions) {
    ENABLED[0].store(opts.enabled.0[0], Ordering::Relaxed);
    ENABLED[1].store(opts.enabled.0[1], Ordering::Relaxed);
    MAX_DATA.store(opts.max_data.min(60 * 1024), Ordering::Relaxed);
    CAPTURE_FLAGS.store(opts.flags, Ordering::Relaxed);
    CALLER_DEPTH.store(opts.caller_depth.min(MAX_FRAMES as u32), Ordering::Relaxed);
}

/// Whether calls of `func` are recorded.
#[inline(always)]
pub fn enabled(func: Func) -> bool {
    let id = func as usize;
    ENABLED[id / 64].load(Ordering::Relaxed) & (1 << (id % 64)) != 0
}

/// Payload bytes to copy per call (0: none).
#[inline(always)]
pub fn max_data() -> usize {
    MAX_DATA.load(Ordering::Relaxed) as usize
}

/// The `CAPTURE_*` bits.
pub fn capture_flags() -> u32 {
    CAPTURE_FLAGS.load(Ordering::Relaxed)
}

/// Caller frames to record per call (0: none).
#[inline(always)]
pub fn caller_depth() -> usize {
    CALLER_DEPTH.load(Ordering::Relaxed) as usize
}
