//! Caller attribution end to end: programs compiled by the test make socket
//! calls on lines marked `MARK:<name>`; the trace must name exactly that
//! file and line (and function) for each call.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);
const BUILD: Duration = Duration::from_secs(180);

fn source(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/programs/callers")
        .join(name)
}

/// The line of `MARK:<mark>` in a source file.
fn marked_line(file: &str, mark: &str) -> u64 {
    let text = std::fs::read_to_string(source(file)).unwrap();
    let tag = format!("MARK:{mark} ");
    let tag_end = format!("MARK:{mark}");
    text.lines()
        .position(|l| l.contains(&tag) || l.trim_end().ends_with(&tag_end))
        .map(|i| i as u64 + 1)
        .unwrap_or_else(|| panic!("no {tag_end} in {file}"))
}

fn build(cmd: &mut Command) {
    let c = std::mem::replace(cmd, Command::new("true"));
    let (code, out, err) = run_with_timeout(c, BUILD);
    assert_eq!(code, Some(0), "build failed:\n{out}\n{err}");
}

/// Builds `file` with `compiler -g <opt>` into a fresh directory named
/// `dir` and traces the program, which must succeed.
fn build_and_trace(dir: &str, compiler: &str, opt: &str, file: &str, exe: &str) -> Traced {
    let exe = scratch(dir).join(exe);
    build(
        Command::new(compiler)
            .args(["-g", opt, "-o"])
            .arg(&exe)
            .arg(source(file)),
    );
    let t = run_traced(&[], &[&exe], T);
    assert_eq!(t.code, Some(0), "{file}: {}", t.stderr);
    t
}

/// Builds `callers.c` with `-g` and `flags` into `dir/callers`.
fn build_callers(dir: &Path, flags: &[&str]) -> PathBuf {
    let exe = dir.join("callers");
    build(
        Command::new("gcc")
            .arg("-g")
            .args(flags)
            .arg("-o")
            .arg(&exe)
            .arg(source("callers.c")),
    );
    exe
}

/// The first caller frame of the only call of `func`.
fn caller(t: &Traced, func: &str) -> Value {
    let calls = t.calls(func);
    assert_eq!(calls.len(), 1, "{func}: {}", t.trace);
    calls[0]["callers"][0].clone()
}

/// The only call of `func` was made by `function`, on the line of
/// `MARK:<mark>` in `file`.
fn assert_marked(t: &Traced, func: &str, file: &str, mark: &str, function: &str) {
    assert_frame(&caller(t, func), file, marked_line(file, mark), function);
}

fn assert_frame(f: &Value, file: &str, line: u64, function: &str) {
    assert_eq!(
        f["file"].as_str().map(|p| p.rsplit('/').next().unwrap()),
        Some(file),
        "{f}"
    );
    assert_eq!(f["line"], line, "{f}");
    assert_eq!(f["function"], function, "{f}");
}

#[test]
fn c_programs_pie_and_not_optimised_or_not() {
    for flags in [
        &["-O0", "-fPIE", "-pie"][..],
        &["-O2", "-fPIE", "-pie"][..],
        &["-O0", "-fno-PIE", "-no-pie"][..],
        &["-O2", "-fno-PIE", "-no-pie"][..],
    ] {
        let exe = build_callers(&scratch("callers-c"), flags);
        let t = run_traced(&[], &[&exe], T);
        assert_eq!(t.code, Some(0), "{flags:?}: {}", t.stderr);
        assert_marked(&t, "socket", "callers.c", "socket", "open_socket");
        assert_marked(&t, "close", "callers.c", "close", "main");
        // The text line says the same.
        let t = run_traced_as("text", &["--caller-paths", "basename"], &[&exe], T);
        let line = t.trace.lines().find(|l| l.starts_with("socket(")).unwrap();
        let want = format!(
            " @ callers.c:{} (open_socket+0x",
            marked_line("callers.c", "socket")
        );
        assert!(line.contains(&want), "{flags:?}: {line}");
    }
}

#[test]
fn cpp_method_and_destructor_are_demangled() {
    let t = build_and_trace("callers-cpp", "g++", "-O2", "probe.cpp", "probe");
    assert_marked(&t, "socket", "probe.cpp", "run", "net::Probe::run");
    assert_marked(&t, "close", "probe.cpp", "dtor", "net::Probe::~Probe");
}

#[test]
fn rust_functions_are_demangled_with_their_module_path() {
    let t = build_and_trace(
        "callers-rust",
        "rustc",
        "-O",
        "rusty_callers.rs",
        "rusty_callers",
    );
    assert_marked(
        &t,
        "socket",
        "rusty_callers.rs",
        "socket",
        "rusty_callers::transport::Handle::open",
    );
    let close = caller(&t, "close");
    assert_eq!(
        close["line"],
        marked_line("rusty_callers.rs", "close"),
        "{close}"
    );
    let f = close["function"].as_str().unwrap();
    assert_starts_with(
        &f,
        "<rusty_callers::transport::Handle as core::ops::drop::Drop>::drop",
    );
}

/// Builds libnetlib.so, with frame pointers so that the walk can leave it.
fn build_netlib(dir: &Path) -> PathBuf {
    let lib = dir.join("libnetlib.so");
    build(
        Command::new("gcc")
            .args([
                "-g",
                "-O2",
                "-fno-omit-frame-pointer",
                "-shared",
                "-fPIC",
                "-o",
            ])
            .arg(&lib)
            .arg(source("netlib.c")),
    );
    lib
}

/// Builds libnetlib.so and a program linked against it.
fn build_library_pair(dir: &Path) -> PathBuf {
    build_netlib(dir);
    let exe = dir.join("uselib");
    build(
        Command::new("gcc")
            .args(["-g", "-O2", "-fno-omit-frame-pointer", "-o"])
            .arg(&exe)
            .arg(source("uselib.c"))
            .arg(format!("-L{}", dir.display()))
            .arg("-lnetlib")
            .arg(format!("-Wl,-rpath,{}", dir.display())),
    );
    exe
}

#[test]
fn calls_from_a_shared_library_and_skipping_it() {
    let dir = scratch("callers-lib");
    let exe = build_library_pair(&dir);
    let t = run_traced(&[], &[&exe], T);
    assert_eq!(t.code, Some(0), "{}", t.stderr);
    let f = caller(&t, "socket");
    assert_frame(
        &f,
        "netlib.c",
        marked_line("netlib.c", "lib_socket"),
        "netlib_open",
    );
    assert!(
        f["module"].as_str().unwrap().ends_with("/libnetlib.so"),
        "{f}"
    );

    // Looking through the library attributes the call to its user.
    let t = run_traced(&["--caller-skip", "libnetlib.so*"], &[&exe], T);
    assert_marked(&t, "socket", "uselib.c", "uselib", "main");

    // The same from a [[program]] section, which applies to this program only.
    let cfg = write_file(
        &dir,
        "rules.toml",
        "[[program]]\nmatch = \"uselib\"\ncaller_skip = [\"libnetlib.so\"]\ncaller_depth = 2\n",
    );
    let t = run_traced(&["--config", cfg.to_str().unwrap()], &[&exe], T);
    let frames = t.calls("socket")[0]["callers"].clone();
    assert_frame(
        &frames[0],
        "uselib.c",
        marked_line("uselib.c", "uselib"),
        "main",
    );
    assert_eq!(
        frames.as_array().unwrap().len(),
        2,
        "depth 2: main and libc's start-up: {frames}"
    );
}

#[test]
fn split_debug_info_is_found_by_build_id() {
    let dir = scratch("callers-split");
    let exe = build_callers(&dir, &["-O2", "-Wl,--build-id"]);
    // The build-id, from the note.
    let out = Command::new("readelf")
        .arg("-n")
        .arg(&exe)
        .output()
        .unwrap();
    let notes = String::from_utf8_lossy(&out.stdout);
    let id = notes
        .lines()
        .find_map(|l| l.trim().strip_prefix("Build ID: "))
        .expect("a build-id note")
        .trim()
        .to_string();
    let debug_dir = dir.join("debug");
    let target = debug_dir
        .join(".build-id")
        .join(&id[..2])
        .join(format!("{}.debug", &id[2..]));
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    build(
        Command::new("objcopy")
            .arg("--only-keep-debug")
            .arg(&exe)
            .arg(&target),
    );
    build(Command::new("strip").arg("--strip-debug").arg(&exe));
    let cfg = write_file(
        &dir,
        "debug.toml",
        format!("[callers]\ndebug_dirs = [{debug_dir:?}]\n"),
    );
    let t = run_traced(&["--config", cfg.to_str().unwrap()], &[&exe], T);
    assert_eq!(t.code, Some(0), "{}", t.stderr);
    assert_marked(&t, "socket", "callers.c", "socket", "open_socket");

    // Without the debug file: the symbol table still names the function.
    let t = run_traced(&[], &[&exe], T);
    let f = caller(&t, "socket");
    assert_eq!(f["function"], "open_socket", "{f}");
    assert!(f.get("line").is_none(), "{f}");
    assert!(
        f["text"].as_str().unwrap().starts_with("open_socket+0x"),
        "{f}"
    );
}

#[test]
fn per_program_rules_select_functions_and_disable_programs() {
    let dir = scratch("rules");
    let exe = build_callers(&dir, &["-O0"]);
    // The shell is left untraced; the C program traces close only.
    let cfg = write_file(
        &dir,
        "rules.toml",
        "[[program]]\nmatch = \"sh\"\nenabled = false\n\n[[program]]\nmatch = \"*/callers\"\ninclude = [\"close\"]\n",
    );
    let script = format!("exec 3<>/dev/null; {}; {}", exe.display(), exe.display());
    let t = run_traced(
        &["--config", cfg.to_str().unwrap()],
        &["/bin/sh", "-c", &script],
        T,
    );
    assert_eq!(t.code, Some(0), "{}", t.stderr);
    let procs: Vec<Value> = t
        .events()
        .into_iter()
        .filter(|e| e["type"] == "process")
        .collect();
    assert!(
        procs
            .iter()
            .all(|p| p["exe"].as_str().unwrap().ends_with("/callers")),
        "the shell is not traced: {procs:?}"
    );
    assert_eq!(procs.len(), 2);
    assert_eq!(t.calls("socket").len(), 0, "{}", t.trace);
    assert_eq!(t.calls("close").len(), 2, "{}", t.trace);
}

#[test]
fn a_program_section_can_send_its_lines_elsewhere() {
    let dir = scratch("rules-output");
    let exe = build_callers(&dir, &["-O0"]);
    let side = dir.join("side.txt");
    let cfg = write_file(
        &dir,
        "rules.toml",
        format!("[[program]]\nmatch = \"callers\"\noutput = {side:?}\nformat = \"text\"\n"),
    );
    let t = run_traced(
        &["--config", cfg.to_str().unwrap()],
        &["/bin/sh", "-c", &format!("{} && echo done", exe.display())],
        T,
    );
    assert_eq!(t.code, Some(0), "{}", t.stderr);
    let side_text = std::fs::read_to_string(&side).unwrap();
    assert!(
        side_text
            .lines()
            .any(|l| l.starts_with("socket(AF_INET, SOCK_DGRAM")),
        "{side_text}"
    );
    assert!(
        t.calls("socket").is_empty(),
        "the main trace keeps the shell only: {}",
        t.trace
    );
    assert!(t
        .events()
        .iter()
        .any(|e| e["type"] == "process" && e["exe"].as_str().unwrap().ends_with("sh")));
}

/// Builds `lifecycle` (see its source) and libnetlib.so for it to dlopen in
/// a fresh directory named after `mode`, and runs `lifecycle <mode> <lib>`,
/// which must succeed.
fn run_lifecycle(mode: &str) -> Traced {
    let dir = scratch(&format!("callers-{mode}"));
    let lib = build_netlib(&dir);
    let exe = dir.join("lifecycle");
    build(
        Command::new("gcc")
            .args(["-g", "-O1", "-o"])
            .arg(&exe)
            .arg(source("lifecycle.c")),
    );
    let t = run_traced(&[], &[exe.as_os_str(), mode.as_ref(), lib.as_os_str()], T);
    assert_eq!(t.code, Some(0), "{mode}: {}", t.stderr);
    t
}

#[test]
fn callers_after_a_re_exec_of_the_same_program() {
    let t = run_lifecycle("reexec");
    assert_marked(&t, "socket", "lifecycle.c", "after_exec", "after_exec");
}

#[test]
fn a_double_fork_daemon_has_its_real_parent_and_its_callers() {
    let t = run_lifecycle("daemon");
    let starts: Vec<Value> = t
        .events()
        .into_iter()
        .filter(|e| e["type"] == "process")
        .collect();
    assert_eq!(starts.len(), 3, "program, middle, grandchild: {}", t.trace);
    let (first, mid, grand) = (&starts[0], &starts[1], &starts[2]);
    assert_eq!(mid["ppid"], first["pid"], "{}", t.trace);
    assert_eq!(
        grand["ppid"], mid["pid"],
        "the grandchild was started by the middle process, not adopted by the launcher: {}",
        t.trace
    );
    let f = caller(&t, "socket");
    assert_frame(
        &f,
        "lifecycle.c",
        marked_line("lifecycle.c", "in_daemon"),
        "in_daemon",
    );
}

#[test]
fn the_first_call_from_a_dlopened_library_is_symbolised() {
    let t = run_lifecycle("dlopen");
    assert_marked(&t, "socket", "netlib.c", "lib_socket", "netlib_open");
}
