//! The process's life as the tracer sees it: initialisation (map the trace
//! area, resolve this program's settings, announce the process), fork
//! (the child takes rings of its own and announces itself), exec (rings are
//! given back first) and thread exit (the thread's ring is given back).
//!
//! Everything here may run in a signal handler, in a `vfork` child (on the
//! parent's stack and thread-local storage), or in a forked child whose
//! other threads vanished while holding locks. So: no allocation, no locks,
//! no std I/O; atomics, thread-locals without destructors, and raw syscalls.

use crate::{emit, settings, sys};
use core::sync::atomic::{AtomicU32, AtomicU8, Ordering};
use sock_trace_event::ring::{options_for, CAPTURE_DISABLED, CAPTURE_NO_FOLLOW};
use sock_trace_event::Shm;

const UNINIT: u8 = 0;
const INITIALIZING: u8 = 1;
const ACTIVE: u8 = 2;
const DISABLED: u8 = 3;

static STATE: AtomicU8 = AtomicU8::new(UNINIT);
static PID: AtomicU32 = AtomicU32::new(0);

/// The mapped area, written once during initialisation before `STATE`
/// becomes ACTIVE (release) and read only after observing ACTIVE (acquire).
struct ShmCell(core::cell::UnsafeCell<Option<Shm>>);
// SAFETY: written once before publication through STATE, read-only after.
unsafe impl Sync for ShmCell {}
static SHM: ShmCell = ShmCell(core::cell::UnsafeCell::new(None));

/// Thread-exit key whose destructor gives the ring back.
static KEY: AtomicU32 = AtomicU32::new(u32::MAX);

/// The trace area, once this process is being traced.
pub fn shm() -> Option<&'static Shm> {
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

/// The pthread key whose value marks "this thread has a ring" (so that
/// its destructor runs at thread exit), if one could be created.
pub fn thread_exit_key() -> Option<libc::pthread_key_t> {
    let key = KEY.load(Ordering::Relaxed);
    (key != u32::MAX).then_some(key)
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
        emit::process_start(sys::getppid(), false);
        if settings::caller_depth() > 0 {
            crate::callers::init_own_range();
            emit::new_modules(None);
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
    if h.handover.owned_by_tracer(pid) {
        // Handed to the system-call backend at exec (a dynamically linked
        // Go program): it records this process, not us.
        return DISABLED;
    }
    h.handover.take_over(pid);
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
    settings::store(&opts);
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
    emit::give_back_ring();
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
    emit::after_fork();
    if settings::capture_flags() & CAPTURE_NO_FOLLOW != 0 {
        STATE.store(DISABLED, Ordering::Release);
        return;
    }
    if let Some(shm) = shm() {
        shm.header().processes.fetch_add(1, Ordering::Relaxed);
    }
    emit::process_start(parent, true);
}

/// Gives this thread's ring back before an exec replaces the image. Not in
/// a vfork child: there the ring belongs to the suspended parent.
pub fn before_exec() {
    if shm().is_none() || in_vfork_child() {
        return;
    }
    emit::give_back_ring();
}
