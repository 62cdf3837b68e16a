//! The launcher's side of "the program behaves as untraced": signals from
//! any sender arrive once, a killed launcher leaves nothing behind, the
//! program's exit status (or the shell's 126/127) is ours, `--no-follow`
//! waits for the program only, and programs the preload library cannot
//! reach are named.

mod common;

use common::*;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(60);

/// Starts `sock-trace run -o TRACE -- sigcount READY MS` in a new process
/// group (as a CI runner or `timeout` would), and waits until the program
/// is ready to count signals.
fn start_counter(dir: &Path, ms: u32) -> Child {
    let prog = compile_c("sigcount", &["-O1"]);
    let ready = dir.join("ready");
    let child = Command::new(sock_trace())
        .arg("run")
        .arg("-o")
        .arg(dir.join("trace.txt"))
        .arg("--")
        .arg(&prog)
        .arg(&ready)
        .arg(ms.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + T;
    while !ready.exists() {
        assert!(Instant::now() < deadline, "the program never got ready");
        std::thread::sleep(Duration::from_millis(10));
    }
    child
}

/// Waits for the launcher with a deadline; returns its exit code and the
/// program's output.
fn finish(mut child: Child) -> (Option<i32>, String) {
    let deadline = Instant::now() + T;
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            let mut out = String::new();
            if let Some(mut o) = child.stdout.take() {
                o.read_to_string(&mut out).unwrap();
            }
            return (st.code(), out);
        }
        if Instant::now() > deadline {
            // SAFETY: killing the group this test created.
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
            panic!("timed out");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_signal_sent_to_the_whole_group_arrives_once() {
    let d = scratch("group-signal");
    let child = start_counter(&d, 1500);
    let group = child.id() as i32;
    // SAFETY: signalling the group this test created.
    unsafe { libc::kill(-group, libc::SIGUSR1) };
    std::thread::sleep(Duration::from_millis(200));
    // SAFETY: as above.
    unsafe { libc::kill(-group, libc::SIGINT) };
    let (code, out) = finish(child);
    assert_eq!(code, Some(0));
    assert_eq!(
        out.trim(),
        "USR1=1 USR2=0 INT=1 TERM=0",
        "each signal exactly once"
    );
}

#[test]
fn signals_sent_to_the_launcher_reach_the_program_and_do_not_kill_the_tracer() {
    let d = scratch("launcher-signal");
    let child = start_counter(&d, 1500);
    let pid = child.id() as i32;
    for sig in [libc::SIGUSR1, libc::SIGUSR2, libc::SIGTERM] {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(pid, sig) };
        std::thread::sleep(Duration::from_millis(100));
    }
    let (code, out) = finish(child);
    assert_eq!(
        code,
        Some(0),
        "the launcher lived to report the exit status"
    );
    assert_eq!(out.trim(), "USR1=1 USR2=1 INT=0 TERM=1");
    let trace = std::fs::read_to_string(d.join("trace.txt")).unwrap();
    assert!(trace.contains("socket(AF_INET"), "{trace}");
    assert!(
        trace.contains("+++ exited with 0 +++"),
        "the trace is complete: {trace}"
    );
}

#[test]
fn a_killed_launcher_leaves_no_shared_memory_behind() {
    let d = scratch("killed-launcher");
    let child = start_counter(&d, 300);
    let pid = child.id();
    // SAFETY: killing our own child.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    let _ = finish(child);
    let leftovers: Vec<_> = std::fs::read_dir("/dev/shm")
        .map(|r| {
            r.flatten()
                .filter(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .starts_with(&format!("sock-trace-{pid}-"))
                })
                .collect()
        })
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn no_follow_waits_for_the_program_not_for_its_background_children() {
    let start = Instant::now();
    // Output to files: the background sleep holds inherited pipes open.
    let d = scratch("no-follow");
    let child = Command::new(sock_trace())
        .args([
            "run",
            "--no-follow",
            "-o",
            "/dev/null",
            "--",
            "sh",
            "-c",
            "sleep 4 & exit 3",
        ])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(d.join("out")).unwrap())
        .stderr(std::fs::File::create(d.join("err")).unwrap())
        .process_group(0)
        .spawn()
        .unwrap();
    let (code, _) = finish(child);
    assert_eq!(code, Some(3));
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "took {:?}: waited for the untraced sleep",
        start.elapsed()
    );
}

#[test]
fn commands_that_cannot_run_exit_126_or_127_like_a_shell() {
    let d = scratch("not-runnable");
    let plain = write_file(&d, "plain.txt", "not a program");
    let run = |cmd: &Path| {
        let mut c = Command::new(sock_trace());
        c.args(["run", "-o", "/dev/null", "--"]).arg(cmd);
        run_with_timeout(c, T)
    };
    let (code, _, err) = run(Path::new("no-such-command-anywhere"));
    assert_eq!(code, Some(127), "{err}");
    assert_contains(&err, "no-such-command-anywhere: command not found");
    let (code, _, err) = run(&plain);
    assert_eq!(code, Some(126), "{err}");
    assert_contains(&err, "Permission denied");
    let (code, _, err) = run(&d);
    assert_eq!(code, Some(126), "{err}");
    assert_contains(&err, "is a directory");
}

#[test]
fn a_dynamically_linked_go_program_is_named_as_such() {
    // A real ELF carrying what the Go linker writes: the .go.buildinfo
    // section, whose first bytes are this magic.
    let d = scratch("go-binary");
    let prog = compile_c("basic", &["-O1"]);
    let blob = d.join("buildinfo");
    let mut info = b"\xff Go buildinf:".to_vec();
    info.resize(32, 0);
    std::fs::write(&blob, info).unwrap();
    let go = d.join("goprog");
    let st = Command::new("objcopy")
        .arg(format!("--add-section=.go.buildinfo={}", blob.display()))
        .arg(&prog)
        .arg(&go)
        .status()
        .unwrap();
    assert!(st.success());
    let mut c = Command::new(sock_trace());
    c.args(["run", "-o", "/dev/null", "--"]).arg(&go);
    let (code, _, err) = run_with_timeout(c, T);
    assert_eq!(code, Some(0));
    assert_contains(&err, "is a Go program: Go makes its own system calls");
    // The same program without the section gets no such word.
    let mut c = Command::new(sock_trace());
    c.args(["run", "-o", "/dev/null", "--"]).arg(&prog);
    let (_, _, err) = run_with_timeout(c, T);
    assert_lacks(&err, "Go program");
}

#[test]
fn processes_that_leave_the_trace_are_named_and_their_stderr_is_untouched() {
    // SAFETY: getuid cannot fail.
    assert_eq!(unsafe { libc::getuid() }, 0, "setpriv --reuid needs root");
    let script = "env -i /usr/bin/true; \
                  setpriv --reuid=65534 --regid=65534 --clear-groups /bin/sh -c 'echo dropped >&2'";
    let t = run_traced_as("text", &[], &["sh", "-c", script], T);
    assert_eq!(t.code, Some(0), "{}", t.stderr);
    assert!(
        !t.stderr.contains("ld.so"),
        "the loader must not complain on the program's stderr: {}",
        t.stderr
    );
    assert!(t.stderr.contains("dropped"), "{}", t.stderr);
    assert_contains(&t.trace, "leaves the trace at the exec of \"/usr/bin/true\": its environment no longer preloads the tracer");
    assert_contains(
        &t.trace,
        "leaves the trace at the exec of \"/bin/sh\": its user cannot read the tracer library",
    );
}
