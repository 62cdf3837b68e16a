//! `sock-trace run` with the system-call backend: a statically linked
//! program, which the preload library cannot enter, traced end to end
//! through the same collector, decoder and printers.

mod common;
use common::*;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

/// basic.c checks every result and errno it gets (ECONNREFUSED, EFAULT,
/// EBADF ...) and prints ALL OK only when all are what they would be
/// untraced.
#[test]
fn a_static_program_is_traced_at_the_system_call_boundary_and_behaves_as_untraced() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/programs/basic.c");
    let exe = scratch("static-basic").join("basic-static");
    let built = std::process::Command::new("gcc")
        .args(["-static", "-O1", "-pthread", "-o"])
        .arg(&exe)
        .arg(&src)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !built {
        skip(
            "no static libc to link against",
            "apt-get install libc6-dev",
        );
        return;
    }
    let t = run_traced(&[], &[&exe], T);
    assert_eq!(t.code, Some(0), "{}", t.stderr);
    assert!(t.stdout.contains("ALL OK"), "{}", t.stdout);
    assert!(
        t.stderr
            .contains("traced at the system-call boundary (--backend syscall)"),
        "{}",
        t.stderr
    );
    let events: Vec<serde_json::Value> = t
        .trace
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let of = |name: &str| -> Vec<&serde_json::Value> {
        events.iter().filter(|e| e["func"] == name).collect()
    };
    assert!(!of("socket").is_empty(), "{}", t.trace);
    let refused = of("connect")
        .into_iter()
        .find(|e| e["result"]["error"]["name"] == "ECONNREFUSED")
        .unwrap_or_else(|| panic!("a refused connect in\n{}", t.trace));
    assert_eq!(refused["args"]["addr"]["ip"], "127.0.0.1", "{refused}");
    assert_eq!(of("socketpair").len(), 1, "{}", t.trace);
    // The process record comes from the system-call backend too.
    let process = events
        .iter()
        .find(|e| e["type"] == "process")
        .unwrap_or_else(|| panic!("a process record in\n{}", t.trace));
    assert!(
        process["exe"]
            .as_str()
            .is_some_and(|e| e.ends_with("basic-static")),
        "{process}"
    );
}

#[test]
fn the_preload_backend_can_still_be_asked_for_and_says_what_it_cannot_see() {
    let exe = compile_c("basic", &["-O1"]);
    // A dynamically linked program: auto keeps the preload library.
    let t = run_traced(&[], &[&exe], T);
    assert_eq!(t.code, Some(0), "{}", t.stderr);
    assert!(!t.stderr.contains("system-call boundary"), "{}", t.stderr);
    // And the system-call backend can be forced on it.
    let t = run_traced(&["--backend", "syscall"], &[&exe], T);
    assert_eq!(t.code, Some(0), "{}", t.stderr);
    assert!(t.stdout.contains("ALL OK"), "{}", t.stdout);
    assert!(t.trace.contains("\"func\":\"connect\""), "{}", t.trace);
}
