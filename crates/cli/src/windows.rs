//! `sock-trace.exe run` on Windows: creates the trace area (an unnamed
//! file mapping), starts the program with the mapping's handle inherited
//! and `SOCK_TRACE_SHM` naming it, and collects until the program exits.
//! The program must load `sock_trace.dll` (linked with `-lsock_trace`);
//! injecting it into unmodified programs is issue 12's.

use crate::setup::{start_session, Settings};
use anyhow::{Context, Result};
use sock_trace_collect::{collect_until, Collector, Watch};
use std::ffi::OsString;
use std::process::{Child, Command};
use std::time::Duration;

/// Watches the started program: the trace is over when it has exited.
struct ChildWatch {
    child: Child,
}

impl Watch for ChildWatch {
    /// The program's exit code.
    type Done = i32;
    const CHECK_EVERY: Duration = Duration::from_millis(20);
    const QUICK_IDLE_PASSES: u32 = 19;

    fn check(&mut self, _: &mut Collector<'_>) -> Option<i32> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(status.code().unwrap_or(1)),
            Ok(None) => None,
            Err(_) => Some(1),
        }
    }
}

/// `sock-trace.exe run [OPTIONS] -- PROGRAM ARGS`: the program's exit
/// code is returned (and becomes sock-trace.exe's).
pub fn run(settings: Settings, argv: &[OsString]) -> Result<i32> {
    let mut collector = start_session(&settings)?;
    let (program, args) = argv.split_first().context("no program to run")?;
    // std starts processes with handle inheritance on: the mapping's
    // handle (created inheritable) reaches the program, and nothing else
    // of ours is inheritable.
    let child = match Command::new(program)
        .args(args)
        .env(sock_trace_event::ENV_SHM, collector.area().inherit_value())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!(
                "sock-trace: cannot start {}: {e}",
                program.to_string_lossy()
            );
            return Ok(if e.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            });
        }
    };
    // Nothing else this process starts inherits it (the program keeps
    // its own copy for its children).
    collector.area().unlink();
    let mut watch = ChildWatch { child };
    let code = collect_until(&mut collector, &mut watch);
    collector.finish();
    let h = collector.area().header();
    if h.processes.load(std::sync::atomic::Ordering::Relaxed) == 0 {
        eprintln!(
            "sock-trace: warning: the program did not load sock_trace.dll, so nothing was traced \
             (link it with -lsock_trace instead of -lws2_32)"
        );
    }
    collector.notice(None, &format!("exited with {code}"));
    collector.print_summary();
    Ok(code)
}
