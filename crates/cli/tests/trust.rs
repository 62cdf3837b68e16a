//! The tracer must open no door and must not hurt the program whatever
//! state the machine is in: where the preload library is written, what a
//! full /dev/shm does, what a misbehaving traced process can do to the
//! trace of others.

mod common;

use common::*;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::Command;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

fn uid() -> u32 {
    // SAFETY: getuid cannot fail.
    unsafe { libc::getuid() }
}

/// `sock-trace preload-path` with only the given environment.
fn preload_path(env: &[(&str, &std::path::Path)]) -> (Option<i32>, String, String) {
    let mut c = Command::new(sock_trace());
    c.arg("preload-path").env_clear();
    for (k, v) in env {
        c.env(k, v);
    }
    run_with_timeout(c, T)
}

/// A fresh directory `name` and an empty `cache` directory in it.
fn cache_in(name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let d = scratch(name);
    let cache = d.join("cache");
    std::fs::create_dir(&cache).unwrap();
    (d, cache)
}

fn set_mode(path: &std::path::Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn without_home_the_library_goes_to_the_passwd_home_not_to_tmp() {
    let (code, out, err) = preload_path(&[]);
    assert_eq!(code, Some(0), "{err}");
    let lib = std::path::PathBuf::from(out.trim());
    assert!(
        !lib.starts_with(std::env::temp_dir()),
        "a shared temporary directory is predictable: {}",
        lib.display()
    );
    let dir = lib.parent().unwrap();
    let meta = std::fs::symlink_metadata(dir).unwrap();
    assert_eq!(meta.uid(), uid());
    assert_eq!(meta.mode() & 0o077, 0, "{} is private", dir.display());
}

#[test]
fn a_cache_directory_of_another_user_is_refused_and_memory_used() {
    if uid() != 0 {
        panic!("this test needs root to create a directory owned by another user");
    }
    let d = scratch("foreign-home");
    let home = d.join("home");
    std::fs::create_dir(&home).unwrap();
    std::os::unix::fs::chown(&home, Some(65534), Some(65534)).unwrap();
    // preload-path has no fallback: it must refuse, naming the reason.
    let (code, _, err) = preload_path(&[("HOME", &home)]);
    assert_ne!(code, Some(0));
    assert_contains(&err, "belongs to uid 65534");
    // run falls back to a sealed memfd, says so, and still traces.
    let prog = compile_c("basic", &["-O1"]);
    let trace = d.join("trace.jsonl");
    let mut c = Command::new(sock_trace());
    c.env_clear()
        .env("HOME", &home)
        .args(["run", "--format", "jsonl", "-o"])
        .arg(&trace)
        .arg("--")
        .arg(&prog)
        .current_dir(&d);
    let (code, _, err) = run_with_timeout(c, T);
    assert_eq!(code, Some(0), "{err}");
    assert_contains(&err, "loading the preload library from memory");
    let t = std::fs::read_to_string(&trace).unwrap();
    assert!(
        t.contains("\"func\":\"connect\""),
        "traced from memory: {t}"
    );
    assert_eq!(
        std::fs::read_dir(&home).unwrap().count(),
        0,
        "nothing written into the other user's directory"
    );
}

#[test]
fn a_group_writable_cache_directory_is_refused() {
    let (_, cache) = cache_in("open-cache");
    set_mode(&cache, 0o777);
    let (code, _, err) = preload_path(&[("XDG_CACHE_HOME", &cache)]);
    assert_ne!(code, Some(0));
    assert_contains(&err, "writable by other users");
    assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 0);
}

#[test]
fn a_replaced_library_is_detected_and_rewritten_before_use() {
    let (d, cache) = cache_in("swapped-lib");
    set_mode(&d, 0o700);
    let (code, out, err) = preload_path(&[("XDG_CACHE_HOME", &cache)]);
    assert_eq!(code, Some(0), "{err}");
    let lib = std::path::PathBuf::from(out.trim());
    let good = std::fs::read(&lib).unwrap();
    // Same size, other content: a length check alone would accept it.
    let mut bad = good.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0xff;
    std::fs::write(&lib, &bad).unwrap();
    let (code, out2, err) = preload_path(&[("XDG_CACHE_HOME", &cache)]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out2, out);
    assert_eq!(
        std::fs::read(&lib).unwrap(),
        good,
        "the library was restored"
    );
    // A symlink planted in its place is not followed, but replaced.
    let target = write_file(&d, "elsewhere", b"not a library");
    std::fs::remove_file(&lib).unwrap();
    std::os::unix::fs::symlink(&target, &lib).unwrap();
    let (code, _, err) = preload_path(&[("XDG_CACHE_HOME", &cache)]);
    assert_eq!(code, Some(0), "{err}");
    assert!(!std::fs::symlink_metadata(&lib)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(
        std::fs::read(&target).unwrap(),
        b"not a library",
        "link target untouched"
    );
}

/// Runs `script` in a new mount namespace whose /dev/shm is a tmpfs of
/// `size`, as Docker's 64 MiB default or smaller.
fn in_small_shm(size: &str, script: &str, env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let mut c = Command::new("unshare");
    c.args(["-m", "--propagation", "private", "sh", "-c"])
        .arg(format!(
            "mount -t tmpfs -o size={size} tmpfs /dev/shm || exit 99; {script}"
        ));
    for (k, v) in env {
        c.env(k, v);
    }
    let r = run_with_timeout(c, Duration::from_secs(120));
    assert_ne!(
        r.0,
        Some(99),
        "cannot mount a tmpfs in a mount namespace (needs root): {}",
        r.2
    );
    r
}

/// A shell line that traces `threads 64 2000` (64 threads, 2,000 calls
/// each) with `flags` into `<fresh dir>/<trace_name>`, and that path.
fn threads_script(dir: &str, trace_name: &str, flags: &str) -> (std::path::PathBuf, String) {
    let prog = compile_c("threads", &["-O2"]);
    let trace = scratch(dir).join(trace_name);
    let script = format!(
        "exec {} run {flags}-o {} -- {} 64 2000",
        sock_trace().display(),
        trace.display(),
        prog.display()
    );
    (trace, script)
}

#[test]
fn a_small_dev_shm_does_not_kill_a_threaded_program() {
    let (trace, script) = threads_script("small-shm", "trace.jsonl", "--format jsonl ");
    let (code, _, err) = in_small_shm("8m", &script, &[]);
    assert_eq!(
        code,
        Some(0),
        "the program must finish as it does untraced: {err}"
    );
    let t = std::fs::read_to_string(&trace).unwrap();
    let sends = t
        .lines()
        .filter(|l| l.contains("\"func\":\"send\""))
        .count();
    assert_eq!(sends, 64 * 1000, "every call is in the trace");
    assert!(!t.contains("not recorded"), "nothing lost");
}

#[test]
fn a_full_area_file_loses_events_with_a_word_but_never_the_program() {
    let (trace, script) = threads_script("full-shm", "trace.txt", "");
    // The file fallback in a 4 MiB tmpfs: far less than 64 rings need.
    let (code, _, err) = in_small_shm("4m", &script, &[("SOCK_TRACE_AREA_DIR", "/dev/shm")]);
    assert_eq!(code, Some(0), "no SIGBUS: {err}");
    let t = std::fs::read_to_string(&trace).unwrap();
    assert!(
        t.contains("because memory for a ring could not be allocated"),
        "the trace says what was lost: {}",
        t.lines().rev().take(3).collect::<Vec<_>>().join("\n")
    );
    assert!(t.contains("send("), "threads that got a ring are traced");
}

#[test]
fn a_program_that_corrupts_its_ring_does_not_hang() {
    let prog = compile_c("corrupt", &["-O1"]);
    let t = run_traced_as("text", &[], &[&prog], Duration::from_secs(60));
    assert_eq!(t.code, Some(0), "{}", t.stderr);
    assert_eq!(t.stdout.trim(), "done 20000");
    assert!(
        t.trace.contains(
            "rings were found corrupt (a traced process wrote into the trace area) and restarted"
        ),
        "{}",
        t.trace.lines().rev().take(3).collect::<Vec<_>>().join("\n")
    );
}
