//! `sock-trace attach PID`: tracing a process that is already running.
//!
//! No seccomp filter can be installed into another process, so every
//! system call of the attached threads stops twice (`PTRACE_SYSCALL`, as
//! plain `strace -p` does), not only the traced ones: the program runs
//! noticeably slower while attached (docs/PERFORMANCE.md).
//!
//! The tracer thread `PTRACE_SEIZE`s every thread of `/proc/PID/task`,
//! scanning again until a pass finds no new one (threads may be created
//! meanwhile; those created after a seize of their creator are followed by
//! `TRACECLONE` anyway), then interrupts each to start its system-call
//! stops. Children forked from then on are followed. When asked to stop
//! (the launcher's Ctrl-C or SIGTERM) it detaches every thread, passing on
//! a signal that was about to be delivered, and the process runs on
//! unchanged: a system call the interrupt stopped restarts. No
//! `EXITKILL`: the tracer's end never kills the program.

use crate::sink::Sink;
use crate::tracer::Tracer;
use sock_trace_event::Shm;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

/// Why a process cannot be attached to, in one line naming the setting or
/// capability that would allow it.
#[derive(Debug)]
pub struct Refused(pub String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// `CAP_SYS_PTRACE` (linux/capability.h).
const CAP_SYS_PTRACE: u32 = 19;

fn status_field(pid: &str, name: &str) -> Option<String> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix(name))
        .map(|v| v.trim().to_string())
}

/// Whether this process has `CAP_SYS_PTRACE` in its effective set.
fn has_cap_sys_ptrace() -> bool {
    status_field("self", "CapEff:")
        .and_then(|v| u64::from_str_radix(&v, 16).ok())
        .is_some_and(|caps| caps & (1 << CAP_SYS_PTRACE) != 0)
}

/// The reasons ptrace would refuse, checked before trying: no such
/// process, another tracer, another user, Yama's ptrace_scope.
pub fn check(pid: u32) -> Result<(), Refused> {
    let p = pid.to_string();
    if pid == std::process::id() {
        return Err(Refused("cannot attach to sock-trace itself".into()));
    }
    let Some(tracer) = status_field(&p, "TracerPid:") else {
        return Err(Refused(format!("no process {pid}")));
    };
    if tracer != "0" {
        return Err(Refused(format!(
            "process {pid} is already traced by process {tracer} (TracerPid in /proc/{pid}/status): \
             only one tracer at a time; detach that one first"
        )));
    }
    let cap = has_cap_sys_ptrace();
    // SAFETY: geteuid cannot fail.
    let euid = unsafe { libc::geteuid() };
    let uids = status_field(&p, "Uid:").unwrap_or_default();
    let other_user = uids
        .split_whitespace()
        .filter_map(|u| u.parse::<u32>().ok())
        .any(|u| u != euid);
    if other_user && !cap {
        return Err(Refused(format!(
            "process {pid} runs as another user (Uid: {uids}): attaching needs the same user, \
             or CAP_SYS_PTRACE (run as root)"
        )));
    }
    let scope = std::fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .unwrap_or(0);
    match scope {
        1 if !cap => Err(Refused(format!(
            "kernel.yama.ptrace_scope is 1: only a parent may trace process {pid}; run as root \
             (CAP_SYS_PTRACE), or allow it with `sysctl kernel.yama.ptrace_scope=0`"
        ))),
        2 if !cap => Err(Refused(
            "kernel.yama.ptrace_scope is 2: only CAP_SYS_PTRACE may attach; run as root".into(),
        )),
        3 => Err(Refused(
            "kernel.yama.ptrace_scope is 3: attaching is disabled until reboot".into(),
        )),
        _ => Ok(()),
    }
}

/// Seizes every thread of `pid`, re-reading /proc/PID/task until a pass
/// finds none new; each seized thread is interrupted so that its system
/// calls start stopping.
fn seize_all(pid: u32) -> Result<Vec<u32>, Refused> {
    let opts = libc::PTRACE_O_TRACESYSGOOD
        | libc::PTRACE_O_TRACEFORK
        | libc::PTRACE_O_TRACEVFORK
        | libc::PTRACE_O_TRACECLONE
        | libc::PTRACE_O_TRACEEXEC;
    let mut seized: HashSet<u32> = HashSet::new();
    for _pass in 0..100 {
        let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            break;
        };
        let tids: Vec<u32> = dir
            .flatten()
            .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
            .collect();
        let mut new = false;
        for tid in tids {
            if seized.contains(&tid) {
                continue;
            }
            new = true;
            // SAFETY: plain ptrace requests.
            let r = unsafe { libc::ptrace(libc::PTRACE_SEIZE, tid as i32, 0usize, opts as usize) };
            if r != 0 {
                let e = std::io::Error::last_os_error();
                if tid == pid || seized.is_empty() {
                    return Err(Refused(format!(
                        "ptrace refused to attach to process {pid}: {e} (needs the same user or \
                         CAP_SYS_PTRACE, no other tracer, and kernel.yama.ptrace_scope 0)"
                    )));
                }
                // A thread that exited meanwhile.
                continue;
            }
            // SAFETY: plain ptrace request on our new tracee.
            unsafe { libc::ptrace(libc::PTRACE_INTERRUPT, tid as i32, 0usize, 0usize) };
            seized.insert(tid);
        }
        if !new {
            break;
        }
    }
    Ok(seized.into_iter().collect())
}

/// How an attached trace ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// Detached on request; the process runs on.
    Detached,
    /// The process exited (its wait status).
    Exited(i32),
}

/// The tracer thread's id, for the wake-up signal.
static TRACER_TID: AtomicI32 = AtomicI32::new(0);
/// Set by [`attach`]'s caller loop when `stop` is seen.
static DETACH: AtomicBool = AtomicBool::new(false);

/// The signal that wakes the tracer thread from `waitpid` to detach.
fn wake_signal() -> i32 {
    libc::SIGRTMIN() + 2
}

extern "C" fn wake(_: libc::c_int) {}

/// Traces the running process `pid` into the trace area `shm` until it
/// exits or `stop` becomes true (then every thread is detached and the
/// process runs on unchanged). `poll` is called on the calling thread
/// about every millisecond (the launcher drains the rings there). One
/// attach per process at a time.
pub fn attach(
    pid: u32,
    shm: &Shm,
    stop: &AtomicBool,
    mut poll: impl FnMut(),
) -> Result<Ended, Refused> {
    check(pid)?;
    DETACH.store(false, Ordering::Relaxed);
    // SAFETY: a no-op handler without SA_RESTART: the tracer's waitpid
    // returns EINTR and the loop looks at DETACH.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = wake as *const () as usize;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(wake_signal(), &sa, std::ptr::null_mut());
    }
    let shm = *shm;
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        let tracer = std::thread::Builder::new()
            .name("sock-trace-attach".into())
            .spawn_scoped(s, || {
                // SAFETY: gettid cannot fail.
                TRACER_TID.store(unsafe { libc::gettid() }, Ordering::Relaxed);
                let r = seize_all(pid).map(|threads| {
                    let t = Tracer::attached(Sink::new(shm), pid, &threads, &DETACH);
                    t.run()
                });
                done.store(true, Ordering::Release);
                r
            })
            .map_err(|e| Refused(format!("cannot start the tracer thread: {e}")))?;
        let mut last_wake = std::time::Instant::now();
        while !done.load(Ordering::Acquire) {
            poll();
            if stop.load(Ordering::Relaxed) {
                DETACH.store(true, Ordering::Relaxed);
                // Again now and then: the signal may land just before the
                // tracer enters waitpid.
                if last_wake.elapsed() > std::time::Duration::from_millis(20) {
                    let tid = TRACER_TID.load(Ordering::Relaxed);
                    if tid > 0 {
                        // SAFETY: a signal to our own tracer thread.
                        unsafe {
                            libc::syscall(
                                libc::SYS_tgkill,
                                std::process::id() as libc::c_long,
                                tid as libc::c_long,
                                wake_signal() as libc::c_long,
                            )
                        };
                    }
                    last_wake = std::time::Instant::now();
                }
            }
            std::thread::sleep(std::time::Duration::from_micros(500));
        }
        poll();
        match tracer.join() {
            Ok(Ok(status)) => Ok(match status {
                Some(st) if !DETACH.load(Ordering::Relaxed) => Ended::Exited(st),
                _ => Ended::Detached,
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Refused("the tracer thread panicked".into())),
        }
    })
}
