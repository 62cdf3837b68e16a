//! `sock-trace __handover`: the system-call tracer that takes processes
//! over from the preload library at their exec (`--backend auto`), started
//! by the launcher; see `sock_trace_syscall::serve`.

use anyhow::{bail, Context, Result};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct HandoverArgs {
    /// Read end of the launcher's doorbell pipe.
    #[arg(long)]
    bell_fd: i32,
    /// The preload library, as `LD_PRELOAD` names it.
    #[arg(long)]
    library: PathBuf,
}

pub fn run(args: HandoverArgs) -> Result<i32> {
    // The launcher waits for this first process only: the tracer goes on
    // in a child, which the launcher does not count among the program's.
    // SAFETY: single-threaded here; the parent only exits.
    match unsafe { libc::fork() } {
        -1 => bail!("fork: {}", std::io::Error::last_os_error()),
        0 => {}
        _ => unsafe { libc::_exit(0) },
    }
    let path = std::env::var_os(sock_trace_event::ENV_SHM)
        .context("no trace area named (SOCK_TRACE_SHM)")?;
    let area = sock_trace_collect::Area::open(std::path::Path::new(&path))
        .with_context(|| format!("the trace area {}", path.to_string_lossy()))?;
    // SAFETY: `area` lives until this function returns, after serving.
    let shm = unsafe { *area.shm_unchecked() };
    sock_trace_syscall::serve(shm, args.library.as_os_str().as_bytes(), args.bell_fd)?;
    Ok(0)
}
