//! A Wine lab for the Windows tests: one WINEPREFIX under a temporary
//! directory (a prefix is ~700 MB and takes seconds to create) with
//! `target/windows/`'s artifacts and MinGW-built test programs in it,
//! its wineserver stopped and the directory removed on drop. Every child
//! has a timeout. Without the artifacts, Wine or MinGW the test says
//! SKIPPED, and fails under SOCK_TRACE_REQUIRE_DATA (CI).
//!
//! Also the trace normaliser the Windows tests compare with.

#![allow(dead_code)]

#[path = "../../../cli/tests/common/skip.rs"]
pub mod skip;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const WINE: &str = "/usr/lib/wine/wine64";
pub const GCC: &str = "x86_64-w64-mingw32-gcc";

pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
}

/// Runs `cmd` with a timeout; kills it (and says so) when it expires.
pub fn run(cmd: &mut Command, limit: Duration) -> Output {
    let shown = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{shown}: {e}"));
    let (out, err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let read = |mut r: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = r.read_to_end(&mut v);
            v
        })
    };
    let (out, err) = (read(Box::new(out)), read(Box::new(err)));
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{shown} took longer than {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// The Wine prefix, the artifacts and the test programs.
pub struct Lab {
    pub dir: PathBuf,
}

/// A MinGW program to build into the lab: its exe name, its source under
/// tests/programs/, and the library it links (`-lws2_32`, `-lsock_trace`,
/// or none).
#[derive(Clone, Copy)]
pub struct Program {
    pub exe: &'static str,
    pub source: &'static str,
    pub lib: Option<&'static str>,
}

/// tests/programs/wsprobe.c linked with ws2_32 (bare.exe) and with
/// sock_trace.dll (traced.exe, the drop-in).
pub const WSPROBE: [Program; 2] = [
    Program {
        exe: "bare.exe",
        source: "wsprobe.c",
        lib: Some("-lws2_32"),
    },
    Program {
        exe: "traced.exe",
        source: "wsprobe.c",
        lib: Some("-lsock_trace"),
    },
];

impl Lab {
    /// The artifacts and the programs in a fresh prefix; `None` (after
    /// saying SKIPPED) when something is missing.
    pub fn new(name: &str, programs: &[Program]) -> Option<Lab> {
        let art = target_dir().join("windows");
        let needed = [
            "sock-trace.exe",
            "sock_trace.dll",
            "libsock_trace.dll.a",
            "bcryptprimitives.dll",
        ];
        if let Some(m) = needed.iter().find(|n| !art.join(n).is_file()) {
            skip::skip(
                &format!("{} is missing", art.join(m).display()),
                "run `cargo xtask windows`",
            );
            return None;
        }
        if !Path::new(WINE).exists() || !skip::on_path(GCC) {
            skip::skip(
                "Wine or MinGW is missing",
                "apt-get install --no-install-recommends gcc-mingw-w64-x86-64 wine64 (or cargo xtask windows)",
            );
            return None;
        }
        let dir = std::env::temp_dir().join(format!("sock-trace-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let lab = Lab { dir };
        for n in needed {
            std::fs::copy(art.join(n), lab.dir.join(n)).unwrap();
        }
        for p in programs {
            let src = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/programs")
                .join(p.source);
            let mut cmd = Command::new(GCC);
            cmd.args(["-O1", "-g", "-o"])
                .arg(lab.dir.join(p.exe))
                .arg(&src)
                .arg("-L")
                .arg(&lab.dir);
            if let Some(lib) = p.lib {
                cmd.arg(lib);
            }
            let out = run(&mut cmd, Duration::from_secs(120));
            assert!(
                out.status.success(),
                "building {}: {}",
                p.exe,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let boot = run(
            &mut lab.wine(&["wineboot", "--init"]),
            Duration::from_secs(180),
        );
        assert!(boot.status.success(), "wineboot: {boot:?}");
        Some(lab)
    }

    pub fn wine(&self, args: &[&str]) -> Command {
        let mut c = Command::new(WINE);
        c.args(args)
            .current_dir(&self.dir)
            .env("WINEPREFIX", self.dir.join("prefix"))
            .env("WINEDEBUG", "-all")
            .env("WINEDLLOVERRIDES", "mscoree,mshtml=")
            .env_remove("DISPLAY");
        c
    }

    pub fn exe(&self, args: &[&str]) -> Output {
        run(&mut self.wine(args), Duration::from_secs(60))
    }

    /// `sock-trace.exe run --format jsonl -o trace.jsonl -- ARGV`: the run
    /// and the JSON lines.
    pub fn jsonl(&self, argv: &[&str]) -> (Output, String) {
        let fixed = [
            "sock-trace.exe",
            "run",
            "--format",
            "jsonl",
            "-o",
            "trace.jsonl",
            "--",
        ];
        let out = self.exe(&[&fixed[..], argv].concat());
        let text = std::fs::read_to_string(self.dir.join("trace.jsonl")).unwrap_or_default();
        (out, text)
    }
}

impl Drop for Lab {
    /// Stops this prefix's wineserver (`wineserver -k`, bounded) and
    /// removes the prefix. Never panics: it may run while a test fails.
    fn drop(&mut self) {
        let server = ["/usr/lib/wine/wineserver64", "/usr/lib/wine/wineserver"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .unwrap_or("wineserver");
        if let Ok(mut c) = Command::new(server)
            .arg("-k")
            .env("WINEPREFIX", self.dir.join("prefix"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            let start = Instant::now();
            while c.try_wait().ok().flatten().is_none() {
                if start.elapsed() > Duration::from_secs(30) {
                    let _ = c.kill();
                    let _ = c.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Replaces what varies between runs in a trace of `exe`: socket handles
/// (numbered in order of appearance, s1, s2, ...), ports, process ids,
/// durations and the path.
pub fn normalise(trace: &str, exe: &str) -> String {
    let mut handles: Vec<String> = Vec::new();
    let mut out = String::new();
    let quoted = format!("\"{exe}\"");
    for line in trace.lines() {
        let mut line = line.to_string();
        if line.starts_with("+++ process ") {
            line = format!("+++ process PID started by PID: \"PATH\\{exe}\" ")
                + &line[line.find(&quoted).unwrap_or(0)..];
        }
        hide_freeaddrinfo(&mut line);
        // Durations.
        if let (Some(a), true) = (line.rfind(" <"), line.ends_with('>')) {
            line.truncate(a);
        }
        note_new_handle(&line, &["socket(", "accept("], &mut handles);
        out.push_str(&replace_tokens(&line, &handles));
        out.push('\n');
    }
    out
}

/// `freeaddrinfo(0x...)`: the list's address becomes `PTR`.
pub fn hide_freeaddrinfo(line: &mut String) {
    if line.starts_with("freeaddrinfo(0x") {
        if let Some(close) = line.find(')') {
            *line = format!("freeaddrinfo(PTR{}", &line[close..]);
        }
    }
}

/// Remembers the handle a call that starts with one of `creates` returned
/// (in order of appearance: it is shown as `sN`).
pub fn note_new_handle(line: &str, creates: &[&str], handles: &mut Vec<String>) {
    if !creates.iter().any(|c| line.starts_with(c)) {
        return;
    }
    if let Some(eq) = line.find(") = ") {
        let h: String = line[eq + 4..]
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        if !h.is_empty() && !handles.contains(&h) {
            handles.push(h);
        }
    }
}

/// Handle numbers as whole words become `sN`; ephemeral ports `PORT`.
/// Hex dump lines (`    0000  68 65 ...`) carry bytes, not handles: they
/// stay as they are.
pub fn replace_tokens(line: &str, handles: &[String]) -> String {
    let body = line.trim_start();
    let dump = line.starts_with("    ")
        && body.len() > 6
        && body.as_bytes()[..4].iter().all(u8::is_ascii_hexdigit)
        && body[4..].starts_with("  ");
    if dump {
        return line.to_string();
    }
    let b = line.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit()
            && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'.'))
        {
            let mut j = i;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            let word = &line[i..j];
            let after_ok = j == b.len() || !(b[j].is_ascii_alphanumeric() || b[j] == b'.');
            // A port: after `]:` or `digit:`, and ephemeral (fixed ones,
            // :0 and :80, stay).
            let port = i > 1
                && b[i - 1] == b':'
                && (b[i - 2] == b']' || b[i - 2].is_ascii_digit())
                && word.parse::<u32>().is_ok_and(|p| p >= 1024);
            if port && after_ok {
                out.push_str("PORT");
            } else if let (true, Some(k)) = (after_ok, handles.iter().position(|h| h == word)) {
                out.push_str(&format!("s{}", k + 1));
            } else {
                out.push_str(word);
            }
            i = j;
        } else {
            let c = line[i..].chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// Parses every line of a JSON-lines trace (one that does not parse fails
/// the test) and checks that the first is the process record. Returns the
/// lines and the names of the calls, in order.
pub fn json_calls(text: &str) -> (Vec<serde_json::Value>, Vec<String>) {
    let mut values = Vec::new();
    let mut funcs = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("JSON line {} does not parse ({e}): {line}", i + 1));
        if i == 0 {
            assert_eq!(v["type"], "process", "{line}");
        }
        if v["type"] == "call" {
            funcs.push(v["func"].as_str().unwrap().to_string());
        }
        values.push(v);
    }
    (values, funcs)
}

/// The names of the calls of a text golden, in order.
pub fn golden_calls(golden: &str) -> Vec<String> {
    golden
        .lines()
        .filter(|l| !l.starts_with("+++"))
        .map(|l| l[..l.find('(').unwrap()].to_string())
        .collect()
}
