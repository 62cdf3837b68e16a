//! The one path that turns a call into a record in shared memory: take
//! this thread's ring (or a temporary one), reserve room, write the header,
//! the hook's arguments and blobs and the caller frames, commit. Also the
//! records the tracer writes on its own: process start and loaded modules.
//!
//! Everything here may run in a signal handler, in a `vfork` child (on the
//! parent's stack and thread-local storage), or in a forked child whose
//! other threads vanished while holding locks. So: no allocation, no locks,
//! no std I/O; atomics, thread-locals without destructors, and raw syscalls.

use crate::callers::{self, Module, MAX_FRAMES};
use crate::lifecycle::{cached_pid, in_vfork_child, shm, thread_exit_key};
use crate::{settings, sys};
use core::cell::Cell;
use core::sync::atomic::{AtomicU64, Ordering};
use sock_trace_event::record::{RecordWriter, FLAG_VFORK_CHILD};
use sock_trace_event::ring::max_record;
use sock_trace_event::{role, Func, Shm, Tag};

const NO_RING: u32 = u32::MAX;

thread_local! {
    /// This thread's ring in the shared area.
    static RING: Cell<u32> = const { Cell::new(NO_RING) };
    /// Cached kernel thread id (0: not yet known).
    static TID: Cell<u32> = const { Cell::new(0) };
    /// The ring tail (plus one) at which this thread last gave up waiting
    /// for room: while the tail stays there, records are dropped at once
    /// instead of waiting the full stall limit again for each one.
    static GAVE_UP_AT: Cell<u64> = const { Cell::new(0) };
    /// Set while this thread scans the loaded objects (under the loader's
    /// lock): a hook in a signal handler that interrupted the scan must not
    /// start another.
    static RESCANNING: Cell<bool> = const { Cell::new(false) };
    /// Set while this thread writes a record; a hook that finds it set runs
    /// in a signal handler that interrupted the write.
    static EMITTING: Cell<bool> = const { Cell::new(false) };
}

fn tid() -> u32 {
    TID.try_with(|t| {
        let v = t.get();
        if v != 0 {
            v
        } else {
            let v = sys::gettid();
            t.set(v);
            v
        }
    })
    .unwrap_or_else(|_| sys::gettid())
}

/// Gives this thread's ring back (thread exit, exec).
pub fn give_back_ring() {
    let ring = RING.try_with(|r| r.replace(NO_RING)).unwrap_or(NO_RING);
    if ring != NO_RING {
        if let Some(shm) = shm() {
            shm.release(ring);
        }
    }
}

/// In a forked child: the parent's thread keeps its ring and its state.
pub fn after_fork() {
    let _ = TID.try_with(|t| t.set(0));
    let _ = RING.try_with(|r| r.set(NO_RING));
    let _ = EMITTING.try_with(|e| e.set(false));
    let _ = RESCANNING.try_with(|r| r.set(false));
}

/// Until when (CLOCK_MONOTONIC ns) no new ring is tried after one could not
/// get memory: a thread without a ring then loses its events (counted)
/// instead of scanning the table on every call.
static NO_SPACE_UNTIL: AtomicU64 = AtomicU64::new(0);

/// Takes a ring whose pages are really there. The first free ring is taken,
/// not a spread one: a ring used before keeps its pages, so a program that
/// starts and ends many threads reuses memory instead of touching more.
/// The pages are populated before the first write (`MADV_POPULATE_WRITE`
/// returns an error where a write to an unbacked page of a full tmpfs
/// would raise SIGBUS in the program).
fn acquire_ring(shm: &Shm, pid: u32, tid: u32) -> Option<u32> {
    let h = shm.header();
    let until = NO_SPACE_UNTIL.load(Ordering::Relaxed);
    if until != 0 && sys::now() < until {
        h.lost_no_space.fetch_add(1, Ordering::Relaxed);
        return None;
    }
    let Some(r) = shm.acquire(pid, tid, 0) else {
        h.lost_no_ring.fetch_add(1, Ordering::Relaxed);
        return None;
    };
    let (data, len) = shm.ring_span(r);
    if !sys::populate(data, len) {
        // Nothing was written to the ring: hand it straight back.
        shm.free(r);
        h.lost_no_space.fetch_add(1, Ordering::Relaxed);
        NO_SPACE_UNTIL.store(sys::now() + 50_000_000, Ordering::Relaxed);
        return None;
    }
    Some(r)
}
/// How long a producer waits for room in a ring whose consumer makes no
/// progress at all before it drops the record (counted): a collector that
/// is alive but stuck (stopped, or its area corrupted by a misbehaving
/// process) must not hang the program forever.
const STALL_LIMIT_NS: u64 = 10_000_000_000;

/// Reserves room in `ring`, waiting for the collector while it is alive
/// and making progress.
fn reserve(shm: &Shm, ring: u32, len: usize) -> Option<*mut u8> {
    let h = shm.header();
    let mut spins = 0u32;
    let mut last_tail = 0u64;
    let mut since = 0u64;
    let gave_up = GAVE_UP_AT.try_with(|g| g.get()).unwrap_or(0);
    loop {
        // SAFETY: this thread owns `ring` (or borrowed it in a signal
        // handler with the owner interrupted, see emit).
        if let Some(p) = unsafe { shm.reserve(ring, len) } {
            return Some(p);
        }
        if h.consumer_gone.load(Ordering::Relaxed) != 0 {
            h.lost_full.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        if spins == 0 {
            let tail = shm.ctl(ring).tail.load(Ordering::Relaxed);
            if gave_up != 0 && gave_up == tail.wrapping_add(1) {
                // Still no progress since we last gave up: do not wait again.
                h.lost_full.fetch_add(1, Ordering::Relaxed);
                return None;
            }
            h.waits_full.fetch_add(1, Ordering::Relaxed);
        }
        spins += 1;
        if spins % 256 == 0 {
            let consumer = h.consumer_pid.load(Ordering::Relaxed);
            if consumer != 0 && !sys::alive(consumer) {
                h.consumer_gone.store(1, Ordering::Relaxed);
                continue;
            }
            let tail = shm.ctl(ring).tail.load(Ordering::Relaxed);
            let now = sys::now();
            if since == 0 || tail != last_tail {
                last_tail = tail;
                since = now;
            } else if now.saturating_sub(since) > STALL_LIMIT_NS {
                h.lost_full.fetch_add(1, Ordering::Relaxed);
                let _ = GAVE_UP_AT.try_with(|g| g.set(tail.wrapping_add(1)));
                return None;
            }
        }
        sys::pause_briefly(spins);
    }
}

/// Everything a hook hands over after the real call.
pub struct Call {
    pub func: Func,
    pub t_start: u64,
    pub ret: i64,
    pub errno: i32,
    pub flags: u16,
    /// Extra bytes the record needs beyond the usual (payload samples).
    pub extra: usize,
}

/// Writes one record. `fill` adds arguments and blobs. Never panics into
/// the caller, never blocks unless the collector is alive and behind.
pub fn emit(call: Call, fill: impl FnOnce(&mut RecordWriter<'_>)) {
    emit_at(call, None, fill)
}

/// [`emit`] with a value for `fill` (the hook skeleton's performed call):
/// the hook's own closure is then what runs inside, with no closure around
/// it that the optimiser would have to see through.
#[inline(always)]
pub fn emit_with<A>(call: Call, arg: A, fill: impl FnOnce(&mut RecordWriter<'_>, A)) {
    emit_full(call, None, arg, fill)
}

/// [`emit`] with the completion time given: records that must sort before
/// the call that caused them (module records found while recording it).
pub fn emit_at(call: Call, t_end: Option<u64>, fill: impl FnOnce(&mut RecordWriter<'_>)) {
    emit_full(call, t_end, (), |w, ()| fill(w))
}

fn emit_full<A>(
    call: Call,
    t_end: Option<u64>,
    arg: A,
    fill: impl FnOnce(&mut RecordWriter<'_>, A),
) {
    let Some(shm) = shm() else { return };
    let t_end = t_end.unwrap_or_else(sys::now);
    let depth = settings::caller_depth();
    let mut frames = [0u64; MAX_FRAMES];
    let nframes = if depth > 0 && call.func.family() != sock_trace_event::Family::Meta {
        callers::capture(&mut frames, depth)
    } else {
        0
    };
    // Code loaded since the last scan (dlopen): report it before the record
    // that needs it. Not where the loader's lock could be held by the code
    // we interrupted (a hook nested in a signal handler) or by a parent
    // thread (a vfork child).
    if nframes > 0 && !callers::known(frames[0]) {
        let busy = EMITTING.try_with(|e| e.get()).unwrap_or(true)
            || RESCANNING.try_with(|r| r.get()).unwrap_or(true);
        if !busy && !in_vfork_child() {
            let _ = RESCANNING.try_with(|r| r.set(true));
            // Stamped just before this call completed, so that the
            // collector knows the object when it symbolises the call.
            let t = t_end.saturating_sub(1);
            if callers::needs_rescan(frames[0]) {
                new_modules(Some(t).filter(|&t| t != 0));
            }
            let _ = RESCANNING.try_with(|r| r.set(false));
        }
    }
    let nested = EMITTING.try_with(|e| e.replace(true)).unwrap_or(true);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let pid = cached_pid();
        let tid = tid();
        // A hook inside a signal handler that interrupted a record write
        // (or one running during thread teardown) takes a ring of its own.
        let (ring, temporary) = if nested {
            match acquire_ring(shm, pid, tid) {
                Some(r) => (r, true),
                None => return,
            }
        } else {
            let cur = RING.try_with(|r| r.get()).unwrap_or(NO_RING);
            if cur != NO_RING {
                (cur, false)
            } else {
                let Some(r) = acquire_ring(shm, pid, tid) else {
                    return;
                };
                let stored = RING.try_with(|c| c.set(r)).is_ok();
                if let (true, Some(key)) = (stored, thread_exit_key()) {
                    // SAFETY: a valid key; the value only marks "has a ring".
                    unsafe { libc::pthread_setspecific(key, 1 as *const libc::c_void) };
                }
                (r, !stored)
            }
        };
        let want = (2048 + call.extra).min(max_record(shm.geometry().ring_bytes));
        if let Some(p) = reserve(shm, ring, want) {
            // SAFETY: reserve returned `want` writable bytes owned by us.
            let buf = unsafe { core::slice::from_raw_parts_mut(p, want) };
            let mut w = RecordWriter::new(buf, call.func);
            {
                let h = w.header();
                h.pid = pid;
                h.tid = tid;
                h.t_start = call.t_start;
                h.t_end = t_end;
                h.ret = call.ret;
                h.errno = call.errno;
                h.flags = call.flags;
            }
            fill(&mut w, arg);
            if nframes > 0 {
                let mut raw = [0u8; 8 * MAX_FRAMES];
                for (i, f) in frames[..nframes].iter().enumerate() {
                    raw[i * 8..i * 8 + 8].copy_from_slice(&f.to_le_bytes());
                }
                w.blob(Tag::Caller, 0, &raw[..nframes * 8]);
            }
            if crate::test_hooks::should_panic(call.func) {
                panic!("sock-trace self-test panic");
            }
            let len = w.finish();
            // SAFETY: len <= want, a multiple of 8.
            unsafe { shm.commit(ring, len) };
        }
        if temporary {
            shm.release(ring);
        }
    }));
    let _ = result;
    if !nested {
        let _ = EMITTING.try_with(|e| e.set(false));
    }
}

/// Marks a record as written by a vfork child when it is one; used by
/// the hooks that already paid for the check.
pub fn vfork_flag(is_vfork: bool) -> u16 {
    if is_vfork {
        FLAG_VFORK_CHILD
    } else {
        0
    }
}

/// `forked`: the child side of a fork (same image as the parent), else a
/// new image (exec, or the first process).
pub fn process_start(ppid: u32, forked: bool) {
    let call = Call {
        func: Func::ProcStart,
        t_start: sys::now(),
        ret: 0,
        errno: 0,
        flags: 0,
        extra: 2048,
    };
    emit(call, |w| {
        w.header().args[0] = ppid as u64;
        w.header().args[1] = forked as u64;
        let buf = w.reserve(1024);
        let n = sys::readlink_self_exe(buf);
        w.commit_reserved(Tag::Str, role::EXE, n);
        let buf = w.reserve(1024);
        let n = sys::read_cmdline(buf);
        w.commit_reserved(Tag::Str, role::ARGV, n);
    });
}

/// Writes a module record for every loaded object not reported yet, with
/// completion time `t_end` (now when `None`). Takes the loader's lock
/// (through [`callers::new_modules`]): never call it in a vfork child or
/// from a hook nested in a signal handler.
pub fn new_modules(t_end: Option<u64>) {
    callers::new_modules(&mut |m| module(m, t_end));
}

/// One module record: load address, PT_LOAD segments, build id and path.
fn module(m: &Module<'_>, t_end: Option<u64>) {
    let call = Call {
        func: Func::Module,
        t_start: t_end.unwrap_or_else(sys::now),
        ret: 0,
        errno: 0,
        flags: 0,
        extra: 4096,
    };
    emit_at(call, t_end, |w| {
        w.header().args[0] = m.base();
        let mut segs = [0i64; 4 * 8];
        let n = m.segments(&mut segs);
        w.ints(role::MODULE_SEGMENTS, &segs[..n]);
        if let Some(id) = m.build_id() {
            w.blob(Tag::Bytes, role::MODULE_BUILD_ID, id);
        }
        if m.name().is_empty() {
            let buf = w.reserve(1024);
            let got = sys::readlink_self_exe(buf);
            w.commit_reserved(Tag::Str, role::MODULE_PATH, got);
        } else {
            w.blob(Tag::Str, role::MODULE_PATH, m.name());
        }
    });
}
