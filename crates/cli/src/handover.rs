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
    let shm = map_for_life(&PathBuf::from(path))?;
    sock_trace_syscall::serve(shm, args.library.as_os_str().as_bytes(), args.bell_fd)?;
    Ok(0)
}

/// Maps the trace area named `path` for the rest of this process's life.
fn map_for_life(path: &std::path::Path) -> Result<sock_trace_event::Shm> {
    use std::os::fd::AsRawFd;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .with_context(|| format!("{}", path.display()))?;
    let len = file.metadata()?.len() as usize;
    // SAFETY: a shared mapping of the whole file; never unmapped, so every
    // copy of the handle stays valid.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            file.as_raw_fd(),
            0,
        )
    };
    if base == libc::MAP_FAILED {
        bail!(
            "mmap {}: {}",
            path.display(),
            std::io::Error::last_os_error()
        );
    }
    // SAFETY: the mapping is `len` bytes and lives as long as the process.
    unsafe { sock_trace_event::Shm::attach(base as *mut u8, len) }
        .map_err(|e| anyhow::anyhow!("{}: {e:?}", path.display()))
}
