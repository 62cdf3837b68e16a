//! `sock-trace collect`: the collector the preload library starts when a
//! program is run with `LD_PRELOAD` but without the launcher. It creates
//! the trace area, tells the library where it is through an inherited
//! pipe, and collects until every process that joined the trace is gone.

use crate::setup::Settings;
use crate::TraceFlags;
use anyhow::Result;
use clap::Args;
use sock_trace_collect::{collect_until, Collector, Watch};
use std::collections::HashSet;
use std::io::Write;
use std::os::fd::FromRawFd;
use std::sync::atomic::Ordering;
use std::time::Duration;

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
    let mut collector = crate::setup::start_session(&settings)?;
    writeln!(ready, "{}", collector.area().path().display())?;
    drop(ready);

    collect_until(
        &mut collector,
        &mut Joined {
            known: HashSet::from([args.root_pid]),
            last_processes: u32::MAX,
        },
    );
    collector.area().unlink();
    collector.finish();
    collector.print_summary();
    Ok(0)
}

/// The standalone collector's watch: the trace is over when every process
/// that joined it is gone.
struct Joined {
    known: HashSet<u32>,
    /// Processes that had attached at the previous check.
    last_processes: u32,
}

impl Watch for Joined {
    type Done = ();
    const CHECK_EVERY: Duration = Duration::from_millis(20);
    const QUICK_IDLE_PASSES: u32 = 0;

    fn check(&mut self, collector: &mut Collector<'_>) -> Option<()> {
        self.known.extend(collector.stats().pids.iter().copied());
        let processes = collector.area().header().processes.load(Ordering::Relaxed);
        self.known.retain(|&p| alive(p));
        // Done when every process that joined is gone and nobody joined
        // since the last look (a child may be between fork and its first
        // record).
        if self.known.is_empty() && processes == self.last_processes {
            return Some(());
        }
        self.last_processes = processes;
        None
    }
}
