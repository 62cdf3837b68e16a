//! `sock-trace attach PID`: trace a running process (all its threads, and
//! its children from then on) with the system-call backend until it exits
//! or until Ctrl-C / SIGTERM, then detach and leave it running unchanged.

use crate::setup::{self, Settings};
use anyhow::Result;
use sock_trace_syscall::attach::Ended;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set by SIGINT, SIGTERM, SIGHUP: detach.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn ask_stop(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

/// Attaches to `pid`; returns sock-trace's exit code: 0 after a detach,
/// the process's own code (128+N for a signal) when it exited while
/// traced, 1 when ptrace is not allowed (one line says why).
pub fn attach(settings: Settings, pid: u32) -> Result<i32> {
    if let Err(refused) = sock_trace_syscall::attach::check(pid) {
        eprintln!("sock-trace: cannot attach: {refused}");
        return Ok(1);
    }
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: an async-signal-safe handler (one atomic store).
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = ask_stop as *const () as usize;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
    let mut collector = setup::start_session(&settings)?;
    let ended = collector
        .with_producer(|shm, poll| sock_trace_syscall::attach::attach(pid, shm, &STOP, poll));
    collector.finish();
    match ended {
        Err(refused) => {
            eprintln!("sock-trace: cannot attach: {refused}");
            Ok(1)
        }
        Ok(Ended::Detached) => {
            collector.notice(Some(pid), "detached; the process runs on");
            collector.print_summary();
            Ok(0)
        }
        Ok(Ended::Exited(status)) => {
            collector.notice(None, &crate::launch::describe_status(status));
            collector.print_summary();
            Ok(crate::launch::exit_code(status))
        }
    }
}
