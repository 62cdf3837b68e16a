//! Helpers for the integration tests: compile test programs, run them
//! under `sock-trace` with a timeout, and read the JSON-lines trace.

#![allow(dead_code)]

use serde_json::Value;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

mod skip;
#[allow(unused_imports)]
pub use skip::*;
mod tshark;
#[allow(unused_imports)]
pub use tshark::*;

/// Whether the tests run as root (setuid files and chown need it).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A name no other call in any test process uses: `<name>-<pid>-<n>`.
/// Tests run as threads of one process under `cargo test`, so the pid alone
/// is not enough.
pub fn unique(name: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("{name}-{}-{n}", std::process::id())
}

pub fn sock_trace() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_sock-trace"))
}

pub fn tmp_dir() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sock-trace-tests");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A fresh directory, unique per call.
pub fn scratch(name: &str) -> PathBuf {
    let d = tmp_dir().join(unique(name));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A fresh directory (see [`scratch`]) holding one file `name` with `text`:
/// `(dir, file)`.
pub fn scratch_file(dir: &str, name: &str, text: impl AsRef<[u8]>) -> (PathBuf, PathBuf) {
    let dir = scratch(dir);
    let file = write_file(&dir, name, text);
    (dir, file)
}

/// Asserts that `text` (a trace, a program's output or stderr) contains
/// `part`, showing all of `text` when it does not.
#[track_caller]
pub fn assert_contains(text: &str, part: impl AsRef<str>) {
    let part = part.as_ref();
    assert!(text.contains(part), "{part:?} is missing from:\n{text}");
}

/// Asserts that `text` starts with `head`, showing `text` when it does not.
#[track_caller]
pub fn assert_starts_with(text: &str, head: impl AsRef<str>) {
    let head = head.as_ref();
    assert!(text.starts_with(head), "{head:?} does not start:\n{text}");
}

/// Asserts that `text` does not contain `part`, showing `text` when it does.
#[track_caller]
pub fn assert_lacks(text: &str, part: impl AsRef<str>) {
    let part = part.as_ref();
    assert!(!text.contains(part), "{part:?} should not be in:\n{text}");
}

/// Writes `text` to `dir/name` (a configuration, a script, a source file)
/// and returns its path.
pub fn write_file(dir: &Path, name: &str, text: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    path
}

/// Compiles `tests/programs/<name>.c` with gcc and `flags`; cached per flags.
pub fn compile_c(name: &str, flags: &[&str]) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/programs")
        .join(format!("{name}.c"));
    let tag: String = flags
        .join("")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    let out = tmp_dir().join(format!("{name}-{tag}"));
    // Written under a name unique per call, then renamed into place
    // (atomic): concurrent compiles of one program never see half a file.
    let lock = tmp_dir().join(format!(".{}", unique(&format!("{name}-{tag}"))));
    let status = Command::new("gcc")
        .args(flags)
        .args(["-pthread", "-o"])
        .arg(&lock)
        .arg(&src)
        .status()
        .expect("gcc is needed for the integration tests");
    assert!(status.success(), "compiling {}", src.display());
    std::fs::rename(&lock, &out).unwrap();
    out
}

pub struct Traced {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub trace: String,
}

impl Traced {
    /// The bytes the calls of `funcs` moved in all: the sum of their
    /// non-negative results.
    pub fn moved(&self, funcs: &[&str]) -> u64 {
        funcs
            .iter()
            .flat_map(|f| self.calls(f))
            .filter_map(|e| e["result"]["value"].as_u64())
            .sum()
    }

    /// Every JSON line of the trace.
    pub fn events(&self) -> Vec<Value> {
        self.trace
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
            .collect()
    }

    /// The call events of one function.
    pub fn calls(&self, func: &str) -> Vec<Value> {
        self.events()
            .into_iter()
            .filter(|e| e["type"] == "call" && e["func"] == func)
            .collect()
    }
}

/// Runs `sock-trace run <extra> -o FILE --format jsonl -- cmd...` and waits
/// at most `timeout` (then kills the whole process group and panics).
pub fn run_traced<S: AsRef<OsStr>>(extra: &[&str], cmd: &[S], timeout: Duration) -> Traced {
    run_traced_as("jsonl", extra, cmd, timeout)
}

/// As [`run_traced`], in the given output format.
pub fn run_traced_as<S: AsRef<OsStr>>(
    format: &str,
    extra: &[&str],
    cmd: &[S],
    timeout: Duration,
) -> Traced {
    let dir = scratch("trace");
    let trace_path = dir.join("trace.out");
    let mut c = Command::new(sock_trace());
    c.arg("run")
        .args(extra)
        .arg("-o")
        .arg(&trace_path)
        .args(["--format", format, "--"]);
    for a in cmd {
        c.arg(a);
    }
    c.env_remove("SOCK_TRACE_CONFIG").current_dir(&dir);
    let out = run_with_timeout(c, timeout);
    let trace = std::fs::read_to_string(&trace_path).unwrap_or_default();
    Traced {
        code: out.0,
        stdout: out.1,
        stderr: out.2,
        trace,
    }
}

/// Runs `prog args...` without the tracer (at most a minute); returns its
/// exit code and stdout.
pub fn untraced(prog: &Path, args: &[&str]) -> (Option<i32>, String) {
    let mut c = Command::new(prog);
    c.args(args);
    let (code, out, _) = run_with_timeout(c, Duration::from_secs(60));
    (code, out)
}

/// Runs a command with a deadline; the child gets its own process group so
/// that everything it started dies with it on timeout.
pub fn run_with_timeout(mut c: Command, timeout: Duration) -> (Option<i32>, String, String) {
    use std::os::unix::process::CommandExt;
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = c.spawn().expect("spawning");
    let pid = child.id() as i32;
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        use std::io::Read;
        child.stdout.take().unwrap().read_to_string(&mut s).ok();
        let mut e = String::new();
        child.stderr.take().unwrap().read_to_string(&mut e).ok();
        let st = child.wait().unwrap();
        (st.code(), s, e)
    });
    let deadline = Instant::now() + timeout;
    while !out.is_finished() {
        if Instant::now() > deadline {
            // SAFETY: killing the process group we created.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
            // Not joined: a detached grandchild may still hold the pipes.
            panic!("timed out after {timeout:?} (process group {pid} killed)");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    out.join().unwrap()
}

/// Runs `tshark -r pcap args...` (at most two minutes) and returns what it
/// prints; it must succeed.
pub fn tshark_read(pcap: &Path, args: &[&str]) -> String {
    let mut c = Command::new("tshark");
    c.arg("-r").arg(pcap).args(args);
    let (code, out, err) = run_with_timeout(c, Duration::from_secs(120));
    assert_eq!(code, Some(0), "tshark {args:?}: {err}");
    out
}

/// The interpreter behind `python3`, by absolute path (pyenv shims fork
/// helper processes of their own).
pub fn python3() -> PathBuf {
    let out = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .expect("python3 is needed for the integration tests");
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

/// A local HTTP server (`python3 -m http.server` on 127.0.0.1) serving a
/// fresh directory (see [`scratch`]) that holds one file; stopped when
/// dropped, also when a test fails.
pub struct HttpServer {
    child: std::process::Child,
    pub port: u16,
    pub dir: PathBuf,
}

impl HttpServer {
    /// Serves `body` as `file` from a fresh directory `name`.
    pub fn start(name: &str, file: &str, body: impl AsRef<[u8]>) -> HttpServer {
        use std::io::BufRead;
        let (dir, _) = scratch_file(name, file, body);
        let mut child = Command::new(python3())
            .args(["-m", "http.server", "--bind", "127.0.0.1", "0"])
            .current_dir(&dir)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // http.server prints "Serving HTTP on 127.0.0.1 port N".
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .split("port ")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .and_then(|p| p.parse().ok())
            .expect(&line);
        HttpServer { child, port, dir }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
