//! `sock-trace collect`: the collector the preload library starts when a
//! program is run with `LD_PRELOAD` but without the launcher. It creates
//! the trace area, tells the library where it is through an inherited
//! pipe, and collects until every process that joined the trace is gone.

use crate::setup::Settings;
use crate::TraceFlags;
use anyhow::Result;
use clap::Args;
use std::collections::HashSet;
use std::io::Write;
use std::os::fd::FromRawFd;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

#[derive(Args)]
pub struct CollectArgs {
    /// Descriptor to write the trace area's path to.
    #[arg(long)]
    ready_fd: i32,
    /// The process that started us.
    #[arg(long)]
    root_pid: u32,
}

/// Whether `pid` is still running. A zombie counts as gone: its parent
/// (not us: the collector is detached) may not reap it until it has read
/// the output we hold open, and waiting for that would deadlock.
fn alive(pid: u32) -> bool {
    match std::fs::read(format!("/proc/{pid}/stat")) {
        // The state follows the last ')' (the command name may contain one).
        Ok(stat) => match stat.iter().rposition(|&b| b == b')') {
            Some(i) => !matches!(stat.get(i + 2), Some(b'Z' | b'X')),
            None => true,
        },
        Err(_) => false,
    }
}

pub fn collect(args: CollectArgs) -> Result<i32> {
    // SAFETY: the library passed us this descriptor for our exclusive use.
    let mut ready = unsafe { std::fs::File::from_raw_fd(args.ready_fd) };
    let settings = Settings::load(&TraceFlags::default(), true)?;
    let (area, mut collector) = crate::setup::start_session(&settings)?;
    writeln!(ready, "{}", area.path().display())?;
    drop(ready);

    let mut known: HashSet<u32> = HashSet::from([args.root_pid]);
    let mut last_processes = u32::MAX;
    let mut last_check = Instant::now();
    loop {
        let n = collector.poll();
        if last_check.elapsed() >= Duration::from_millis(20) {
            last_check = Instant::now();
            collector.reclaim();
            known.extend(collector.stats().pids.iter().copied());
            let processes = area.shm().header().processes.load(Ordering::Relaxed);
            known.retain(|&p| alive(p));
            // Done when every process that joined is gone and nobody joined
            // since the last look (a child may be between fork and its
            // first record).
            if known.is_empty() && processes == last_processes {
                break;
            }
            last_processes = processes;
        }
        if n == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    area.unlink();
    collector.finish();
    collector.print_summary();
    Ok(0)
}
