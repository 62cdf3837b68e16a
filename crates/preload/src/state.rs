//! Process-wide tracer state and the one path that turns a call into a
//! record in shared memory.
//!
//! Everything here may run in a signal handler, in a `vfork` child (on the
//! parent's stack and thread-local storage), or in a forked child whose
//! other threads vanished while holding locks. So: no allocation, no locks,
//! no std I/O; atomics, thread-locals without destructors, and raw syscalls.

use crate::sys;
use core::cell::Cell;
use core::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};
use sock_trace_event::record::{RecordWriter, FLAG_VFORK_CHILD};
use sock_trace_event::ring::{max_record, options_for, CAPTURE_DISABLED, CAPTURE_NO_FOLLOW};
use sock_trace_event::{Func, Shm};

const UNINIT: u8 = 0;
const INITIALIZING: u8 = 1;
const ACTIVE: u8 = 2;
const DISABLED: u8 = 3;

static STATE: AtomicU8 = AtomicU8::new(UNINIT);
static ENABLED: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];
static PID: AtomicU32 = AtomicU32::new(0);
static MAX_DATA: AtomicU32 = AtomicU32::new(0);
static CAPTURE_FLAGS: AtomicU32 = AtomicU32::new(0);
/// Caller frames to record per call (0: none).
static CALLER_DEPTH: AtomicU32 = AtomicU32::new(0);

/// The mapped area, written once during initialisation before `STATE`
/// becomes ACTIVE (release) and read only after observing ACTIVE (acquire).
struct ShmCell(core::cell::UnsafeCell<Option<Shm>>);
// SAFETY: written once before publication through STATE, read-only after.
unsafe impl Sync for ShmCell {}
static SHM: ShmCell = ShmCell(core::cell::UnsafeCell::new(None));

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

/// Thread-exit key whose destructor gives the ring back.
static KEY: AtomicU32 = AtomicU32::new(u32::MAX);

#[inline(always)]
pub fn enabled(func: Func) -> bool {
    let id = func as usize;
    ENABLED[id / 64].load(Ordering::Relaxed) & (1 << (id % 64)) != 0
}

#[inline(always)]
pub fn max_data() -> usize {
    MAX_DATA.load(Ordering::Relaxed) as usize
}

fn shm() -> Option<&'static Shm> {
    if STATE.load(Ordering::Acquire) != ACTIVE {
        return None;
    }
    // SAFETY: ACTIVE is only stored after SHM was written.
    unsafe { (*SHM.0.get()).as_ref() }
}

/// Whether this process is being traced.
pub fn active() -> bool {
    shm().is_some()
}

pub fn cached_pid() -> u32 {
    PID.load(Ordering::Relaxed)
}

/// True in a child created by `vfork` (or by a raw clone that skipped the
/// atfork handlers): the cached pid belongs to the parent. Costs a syscall;
/// only paths that mutate shared state ask.
pub fn in_vfork_child() -> bool {
    sys::getpid() != cached_pid()
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

/// Called from the library constructor, and lazily from the first hook in
/// case another library's constructor calls us before ours ran.
pub fn ensure_init() {
    if STATE.load(Ordering::Acquire) != UNINIT {
        return;
    }
    if STATE
        .compare_exchange(UNINIT, INITIALIZING, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return;
    }
    let next = init();
    STATE.store(next, Ordering::Release);
    if next == ACTIVE {
        crate::hooks::warm_up();
        emit_process_start(sys::getppid(), false);
        if CALLER_DEPTH.load(Ordering::Relaxed) > 0 {
            crate::callers::init_own_range();
            crate::callers::report_new_modules(None);
        }
    }
}

fn init() -> u8 {
    // A panic inside a hook is caught (see emit); std's default hook would
    // first print it on the program's stderr, taking std's stderr lock. This
    // library's std is its own copy: a Rust program keeps its own hook.
    std::panic::set_hook(Box::new(|_| {}));
    // Secure-execution mode (setuid, file capabilities): ignore the
    // environment entirely.
    // SAFETY: getauxval has no preconditions.
    if unsafe { libc::getauxval(libc::AT_SECURE) } != 0 {
        return DISABLED;
    }
    PID.store(sys::getpid(), Ordering::Relaxed);
    let standalone_path;
    let path: &[u8] = match sys::getenv(sock_trace_event::ENV_SHM) {
        Some(p) => p,
        None => {
            // Preloaded without the launcher: start a collector ourselves.
            let Some(p) = crate::standalone::start_collector() else {
                return DISABLED;
            };
            standalone_path = p;
            let n = standalone_path.iter().position(|&b| b == 0).unwrap_or(0);
            // SAFETY: NUL-terminated strings; we are in the constructor,
            // before main, where setenv is as safe as it ever is.
            unsafe {
                libc::setenv(
                    c"SOCK_TRACE_SHM".as_ptr(),
                    standalone_path.as_ptr() as *const core::ffi::c_char,
                    1,
                )
            };
            &standalone_path[..n]
        }
    };
    let Some((base, len)) = sys::map_shared(path) else {
        sys::warn(b"sock-trace: cannot map the trace area named by SOCK_TRACE_SHM; not tracing this process\n");
        return DISABLED;
    };
    // SAFETY: the mapping is ours for the life of the process.
    let shm = match unsafe { Shm::attach(base, len) } {
        Ok(s) => s,
        Err(_) => {
            sys::warn(b"sock-trace: the trace area has another version or is corrupt; not tracing this process\n");
            return DISABLED;
        }
    };
    let h = shm.header();
    let pid = cached_pid();
    let root = match h
        .root_pid
        .compare_exchange(0, pid, Ordering::AcqRel, Ordering::Acquire)
    {
        Ok(_) => pid,
        Err(r) => r,
    };
    if h.capture.get().flags & CAPTURE_NO_FOLLOW != 0 && root != pid {
        return DISABLED;
    }
    // Per-program rules: what this executable gets.
    let mut exe = [0u8; 1024];
    let exe_len = sys::readlink_self_exe(&mut exe);
    let mut cmdline = [0u8; 1024];
    let cmd_len = sys::read_cmdline(&mut cmdline);
    let argv0 = cmdline[..cmd_len].split(|&b| b == 0).next().unwrap_or(&[]);
    let opts = options_for(
        h.capture.get(),
        shm.rules().as_slice(),
        &exe[..exe_len],
        argv0,
    );
    if opts.flags & CAPTURE_DISABLED != 0 {
        return DISABLED;
    }
    h.processes.fetch_add(1, Ordering::Relaxed);
    ENABLED[0].store(opts.enabled.0[0], Ordering::Relaxed);
    ENABLED[1].store(opts.enabled.0[1], Ordering::Relaxed);
    MAX_DATA.store(opts.max_data.min(60 * 1024), Ordering::Relaxed);
    CAPTURE_FLAGS.store(opts.flags, Ordering::Relaxed);
    CALLER_DEPTH.store(
        opts.caller_depth.min(crate::callers::MAX_FRAMES as u32),
        Ordering::Relaxed,
    );
    // SAFETY: not yet published (STATE is INITIALIZING).
    unsafe { *SHM.0.get() = Some(shm) };
    // SAFETY: written just above, never changed again: lives as long as the
    // process.
    if let Some(shm) = unsafe { (*SHM.0.get()).as_ref() } {
        crate::actions::init(shm, &exe[..exe_len], argv0);
    }
    crate::fds::scan_inherited();
    crate::leave::init();
    let mut key: libc::pthread_key_t = 0;
    // SAFETY: plain FFI; the destructor is a valid extern "C" fn.
    if unsafe { libc::pthread_key_create(&mut key, Some(on_thread_exit)) } == 0 {
        KEY.store(key, Ordering::Relaxed);
    }
    // SAFETY: the handlers are valid extern "C" fns that only touch atomics.
    unsafe { libc::pthread_atfork(None, None, Some(on_fork_child)) };
    ACTIVE
}

extern "C" fn on_thread_exit(_: *mut libc::c_void) {
    let ring = RING.try_with(|r| r.replace(NO_RING)).unwrap_or(NO_RING);
    if ring != NO_RING {
        if let Some(shm) = shm() {
            shm.release(ring);
        }
    }
}

extern "C" fn on_fork_child() {
    // The parent's thread keeps writing its own ring; this child must take
    // its own. Only atomics and TLS cells here: the parent may have had
    // threads holding any lock at fork time.
    // The cached pid is still the parent's: the real parent, even when it
    // exits before we get here (a double-forking daemon), where getppid
    // would already name whoever adopted us.
    let parent = PID.swap(sys::getpid(), Ordering::Relaxed);
    crate::actions::after_fork();
    let _ = TID.try_with(|t| t.set(0));
    let _ = RING.try_with(|r| r.set(NO_RING));
    let _ = EMITTING.try_with(|e| e.set(false));
    let _ = RESCANNING.try_with(|r| r.set(false));
    if CAPTURE_FLAGS.load(Ordering::Relaxed) & CAPTURE_NO_FOLLOW != 0 {
        STATE.store(DISABLED, Ordering::Release);
        return;
    }
    if let Some(shm) = shm() {
        shm.header().processes.fetch_add(1, Ordering::Relaxed);
    }
    emit_process_start(parent, true);
}

/// Gives this thread's ring back before an exec replaces the image. Not in
/// a vfork child: there the ring belongs to the suspended parent.
pub fn before_exec() {
    if shm().is_none() || in_vfork_child() {
        return;
    }
    let ring = RING.try_with(|r| r.replace(NO_RING)).unwrap_or(NO_RING);
    if ring != NO_RING {
        if let Some(shm) = shm() {
            shm.release(ring);
        }
    }
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

/// [`emit`] with the completion time given: records that must sort before
/// the call that caused them (module records found while recording it).
pub fn emit_at(call: Call, t_end: Option<u64>, fill: impl FnOnce(&mut RecordWriter<'_>)) {
    let Some(shm) = shm() else { return };
    let t_end = t_end.unwrap_or_else(sys::now);
    let depth = CALLER_DEPTH.load(Ordering::Relaxed) as usize;
    let mut frames = [0u64; crate::callers::MAX_FRAMES];
    let nframes = if depth > 0 && call.func.family() != sock_trace_event::Family::Meta {
        crate::callers::capture(&mut frames, depth)
    } else {
        0
    };
    // Code loaded since the last scan (dlopen): report it before the record
    // that needs it. Not where the loader's lock could be held by the code
    // we interrupted (a hook nested in a signal handler) or by a parent
    // thread (a vfork child).
    if nframes > 0 && !crate::callers::known(frames[0]) {
        let busy = EMITTING.try_with(|e| e.get()).unwrap_or(true)
            || RESCANNING.try_with(|r| r.get()).unwrap_or(true);
        if !busy && !in_vfork_child() {
            let _ = RESCANNING.try_with(|r| r.set(true));
            // Stamped just before this call completed, so that the
            // collector knows the object when it symbolises the call.
            crate::callers::rescan_if_unknown(frames[0], t_end.saturating_sub(1));
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
                let key = KEY.load(Ordering::Relaxed);
                if stored && key != u32::MAX {
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
            fill(&mut w);
            if nframes > 0 {
                let mut raw = [0u8; 8 * crate::callers::MAX_FRAMES];
                for (i, f) in frames[..nframes].iter().enumerate() {
                    raw[i * 8..i * 8 + 8].copy_from_slice(&f.to_le_bytes());
                }
                w.blob(sock_trace_event::Tag::Caller, 0, &raw[..nframes * 8]);
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
fn emit_process_start(ppid: u32, forked: bool) {
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
        w.commit_reserved(sock_trace_event::Tag::Str, sock_trace_event::role::EXE, n);
        let buf = w.reserve(1024);
        let n = sys::read_cmdline(buf);
        w.commit_reserved(sock_trace_event::Tag::Str, sock_trace_event::role::ARGV, n);
    });
}

pub fn capture_flags() -> u32 {
    CAPTURE_FLAGS.load(Ordering::Relaxed)
}
