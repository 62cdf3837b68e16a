//! Hand-over from the preload library to the system-call backend, so that
//! one process tree mixes both: a traced shell that execs a Go, static or
//! musl program hands that process to the collector's tracer thread
//! instead of letting it leave the trace.
//!
//! The protocol, all in the trace area's header ([`Handover`]):
//!
//! 1. The tracer process the launcher starts (`--backend auto`) writes the
//!    seccomp program the system-call backend uses ([`Handover::set_filter`])
//!    and then marks the area as served ([`Handover::enable`]).
//! 2. A preloaded process about to exec such a program takes a free slot
//!    with its thread id ([`Handover::request`], state [`REQUESTED`]) and
//!    waits on the slot's state word (a shared futex) for at most
//!    [`WAIT_NS`].
//! 3. The collector notices the request within one poll and wakes the
//!    tracer, which claims the slot ([`BUSY`]), `PTRACE_SEIZE`s the
//!    thread and answers [`ATTACHED`] ([`ALREADY`] when it traced it
//!    already, [`REFUSED`] when ptrace was refused), then wakes the
//!    futex. A requester that gives up first turns [`REQUESTED`] into
//!    [`ABANDONED`], so the two never disagree.
//! 4. On [`ATTACHED`] the requester installs the filter from the header
//!    itself (it is the only process that can: a filter cannot be put into
//!    another process) and says so ([`FILTERED`]), then execs. The tracer
//!    sees the exec and writes the process's start record with
//!    `Backend::Syscall`.
//! 5. If the new program loads the preload library anyway (a dynamically
//!    linked Go program with `LD_PRELOAD` in its environment), the tracer
//!    marks the slot [`OWNED`] before the program runs, and the library's
//!    initialisation stays out ([`Handover::owned_by_tracer`]): one
//!    backend per process. A static program gets [`YIELDED`]: if the
//!    library starts in it after all (valgrind's tools are static programs
//!    that load their client with `LD_PRELOAD`), the library records it
//!    and the tracer stops recording it ([`TAKEN`]). Otherwise the slot is
//!    freed at the exec. Slots are freed when their process ends.
//!
//! Trust: as for the rest of the area (docs/ARCHITECTURE.md), a process
//! that can write the area can already write its records; the worst a
//! forged slot does is make the tracer try `PTRACE_SEIZE` on a thread,
//! which the kernel permits only where ptrace is permitted anyway.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Slot states.
pub const FREE: u32 = 0;
pub const REQUESTED: u32 = 1;
/// The tracer took the request and is seizing the thread.
pub const BUSY: u32 = 2;
pub const ATTACHED: u32 = 3;
/// The thread was traced by the tracer already (it runs under the filter).
pub const ALREADY: u32 = 4;
pub const REFUSED: u32 = 5;
/// The requester gave up waiting; the tracer leaves it alone.
pub const ABANDONED: u32 = 6;
/// The requester installed the filter and is about to exec.
pub const FILTERED: u32 = 7;
/// The process is traced by the tracer, and its preload library (if it
/// loads one) must stay inactive.
pub const OWNED: u32 = 8;
/// The tracer records the process (a static program) until the preload
/// library starts inside it after all (valgrind loads its client with
/// `LD_PRELOAD` honoured): the library then takes it ([`TAKEN`]).
pub const YIELDED: u32 = 9;
/// The library took the process over from the tracer.
pub const TAKEN: u32 = 10;

pub const SLOTS: usize = 64;
/// Longest seccomp program the header carries, in instructions.
pub const MAX_FILTER: usize = 256;
/// How long a requester waits for the tracer before it execs untraced.
pub const WAIT_NS: u64 = 2_000_000_000;

#[repr(C)]
pub struct Slot {
    /// Thread id of the requester (after an exec: the process id).
    pub tid: AtomicU32,
    pub state: AtomicU32,
}

#[repr(C)]
pub struct Handover {
    /// Non-zero while a tracer serves requests.
    enabled: AtomicU32,
    /// The serving tracer's process id (Yama's PR_SET_PTRACER needs it).
    tracer_pid: AtomicU32,
    /// Set by the launcher: stop serving once the traced processes end.
    stop: AtomicU32,
    filter_len: AtomicU32,
    /// `struct sock_filter` instructions as little-endian u64 words.
    filter: [AtomicU64; MAX_FILTER],
    pub slots: [Slot; SLOTS],
}

impl Handover {
    /// Stores the seccomp program (`(code, jt, jf, k)` instructions); call
    /// before [`Handover::enable`]. Returns false if it does not fit.
    pub fn set_filter(&self, program: &[(u16, u8, u8, u32)]) -> bool {
        if program.len() > MAX_FILTER {
            return false;
        }
        for (cell, &(code, jt, jf, k)) in self.filter.iter().zip(program) {
            let word = code as u64 | (jt as u64) << 16 | (jf as u64) << 24 | (k as u64) << 32;
            cell.store(word, Ordering::Relaxed);
        }
        self.filter_len
            .store(program.len() as u32, Ordering::Relaxed);
        true
    }

    /// The tracer `pid` serves requests from now on.
    pub fn enable(&self, pid: u32) {
        self.tracer_pid.store(pid, Ordering::Relaxed);
        self.enabled.store(1, Ordering::Release);
    }

    /// The tracer stopped serving (its last act).
    pub fn disable(&self) {
        self.enabled.store(0, Ordering::Release);
    }

    pub fn tracer_pid(&self) -> u32 {
        self.tracer_pid.load(Ordering::Relaxed)
    }

    /// Asks the tracer to stop serving.
    pub fn ask_stop(&self) {
        self.stop.store(1, Ordering::Release);
    }

    pub fn stop_asked(&self) -> bool {
        self.stop.load(Ordering::Acquire) != 0
    }

    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Acquire) != 0
    }

    /// Copies the seccomp program into `out` (as `struct sock_filter`
    /// bytes, 8 per instruction); returns the instruction count, 0 if there
    /// is none or it does not fit.
    pub fn filter_into(&self, out: &mut [u64]) -> usize {
        let n = self.filter_len.load(Ordering::Relaxed) as usize;
        if n == 0 || n > MAX_FILTER || n > out.len() {
            return 0;
        }
        for (o, cell) in out.iter_mut().zip(&self.filter[..n]) {
            *o = cell.load(Ordering::Relaxed);
        }
        n
    }

    /// Takes a free slot for thread `tid` in state [`REQUESTED`].
    pub fn request(&self, tid: u32) -> Option<&Slot> {
        if !self.enabled() || tid == 0 {
            return None;
        }
        let slot = self.slots.iter().find(|s| {
            s.tid
                .compare_exchange(0, tid, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        })?;
        slot.state.store(REQUESTED, Ordering::Release);
        Some(slot)
    }

    /// Whether a request waits for the tracer.
    pub fn pending(&self) -> bool {
        self.slots
            .iter()
            .any(|s| s.state.load(Ordering::Acquire) == REQUESTED)
    }

    /// The slot of `tid`, whatever its state.
    pub fn slot_of(&self, tid: u32) -> Option<&Slot> {
        (tid != 0).then(|| {
            self.slots
                .iter()
                .find(|s| s.tid.load(Ordering::Acquire) == tid)
        })?
    }

    /// Whether process `pid` belongs to the system-call tracer, so that its
    /// preload library must not record.
    pub fn owned_by_tracer(&self, pid: u32) -> bool {
        self.slot_of(pid)
            .is_some_and(|s| s.state.load(Ordering::Acquire) == OWNED)
    }

    /// The preload library starts in process `pid`: takes it over if the
    /// tracer yielded it ([`YIELDED`] → [`TAKEN`]).
    pub fn take_over(&self, pid: u32) {
        if let Some(s) = self.slot_of(pid) {
            s.advance(YIELDED, TAKEN);
        }
    }
}

impl Slot {
    /// Moves the state from `from` to `to`; false if it was not `from`.
    pub fn advance(&self, from: u32, to: u32) -> bool {
        self.state
            .compare_exchange(from, to, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    pub fn state(&self) -> u32 {
        self.state.load(Ordering::Acquire)
    }

    /// Gives the slot back.
    pub fn free(&self) {
        self.state.store(FREE, Ordering::Release);
        self.tid.store(0, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zeroed() -> Box<Handover> {
        // SAFETY: all-zero atomics are valid values.
        unsafe { Box::new(core::mem::zeroed()) }
    }

    #[test]
    fn requests_only_once_enabled_and_round_trips_the_filter() {
        let h = zeroed();
        assert!(h.request(7).is_none(), "not served yet");
        assert!(h.set_filter(&[(0x20, 0, 0, 4), (0x15, 1, 2, 0xc000_003e)]));
        h.enable(1);
        let mut out = [0u64; 4];
        assert_eq!(h.filter_into(&mut out), 2);
        assert_eq!(out[1], 0x15 | 1 << 16 | 2 << 24 | 0xc000_003e << 32);
        let s = h.request(7).unwrap();
        assert!(h.pending());
        assert!(s.advance(REQUESTED, BUSY));
        assert!(!s.advance(REQUESTED, ABANDONED), "the tracer won");
        assert!(s.advance(BUSY, ATTACHED));
        assert!(!h.pending());
        assert!(s.advance(ATTACHED, OWNED));
        assert!(h.owned_by_tracer(7));
        assert!(!h.owned_by_tracer(8));
        s.free();
        assert!(h.slot_of(7).is_none());
    }

    #[test]
    fn full_table_refuses() {
        let h = zeroed();
        h.enable(1);
        for t in 1..=SLOTS as u32 {
            assert!(h.request(t).is_some());
        }
        assert!(h.request(99).is_none());
        assert!(!h.set_filter(&[(0, 0, 0, 0); MAX_FILTER + 1]));
    }
}
