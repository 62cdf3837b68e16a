//! Waiting for a child process with a deadline, for the tests of every
//! crate that run tools (compilers, tshark, benchmarks).
//!
//! Shared by every crate's `tests/common` through `#[path]`.

#![allow(dead_code)]

use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

/// Waits for `child` at most `timeout`; past it, kills the child and
/// panics, naming `what`.
#[track_caller]
pub fn wait_or_kill(child: &mut Child, timeout: Duration, what: &str) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} timed out after {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
