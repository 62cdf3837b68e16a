//! "Skip, or fail in CI": the one way a test gives up because something it
//! needs (a tool, a Debian package, root) is missing on this machine.
//!
//! Shared by every crate's `tests/common` through `#[path]`.

#![allow(dead_code)]

/// Whether missing tools and data must fail the tests instead of skipping
/// them: `SOCK_TRACE_REQUIRE_DATA` set to anything but empty or `0` (CI
/// sets it to 1; `.ci/run` installs everything the tests need).
pub fn strict() -> bool {
    std::env::var_os("SOCK_TRACE_REQUIRE_DATA").is_some_and(|v| !v.is_empty() && v != "0")
}

/// The test cannot run here because of `why` (`fix` says how to get it).
/// Under `SOCK_TRACE_REQUIRE_DATA` this panics, so the test fails; otherwise
/// it says `SKIPPED` on the real stderr (the harness captures `eprintln!`)
/// and the caller returns.
#[track_caller]
pub fn skip(why: &str, fix: &str) {
    if strict() {
        panic!("{why}, and SOCK_TRACE_REQUIRE_DATA is set: {fix}");
    }
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!("SKIPPED: {why} ({fix})\n").as_bytes(),
    );
}

/// Whether `tool` is an executable file on PATH.
pub fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
}
