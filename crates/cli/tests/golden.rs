//! Golden output: the text trace of a test program that makes every common
//! call once, compared line by line with `tests/golden/*.txt`. Only what
//! truly varies between runs is normalised: pids, ephemeral ports, pointer
//! values, durations and the program's path. Descriptors are deterministic
//! in these programs and are compared as they are.
//!
//! To accept a deliberate change: `SOCK_TRACE_BLESS=1 cargo nextest run
//! --release --test golden`, then review the diff.

mod common;

use common::*;
use std::path::Path;
use std::time::Duration;

fn normalise(trace: &str, program: &Path) -> String {
    let mut out = String::new();
    for line in trace.lines() {
        let line = line.replace(&program.display().to_string(), "PROGRAM");
        out.push_str(&normalise_line(&line));
        out.push('\n');
    }
    out
}

fn normalise_line(line: &str) -> String {
    let b = line.as_bytes();
    let mut out = String::with_capacity(line.len());
    let mut i = 0;
    while i < b.len() {
        // Durations: " <0.000123>".
        if b[i] == b' ' && b.get(i + 1) == Some(&b'<') {
            if let Some(end) = line[i..].find('>') {
                let inner = &line[i + 2..i + end];
                if !inner.is_empty() && inner.chars().all(|c| c.is_ascii_digit() || c == '.') {
                    i += end + 1;
                    continue;
                }
            }
        }
        // Pointers: 0x followed by hex digits.
        if b[i] == b'0' && b.get(i + 1) == Some(&b'x') {
            let mut j = i + 2;
            while j < b.len() && b[j].is_ascii_hexdigit() {
                j += 1;
            }
            if j - i > 6 {
                out.push_str("0xPTR");
                i = j;
                continue;
            }
        }
        // Ephemeral ports after an address ("1:45031", "]:45031").
        if b[i] == b':' && i > 0 && (b[i - 1].is_ascii_digit() || b[i - 1] == b']') {
            let mut j = i + 1;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            if let Ok(port) = line[i + 1..j].parse::<u32>() {
                if j - i > 1 && port >= 1024 {
                    out.push_str(":PORT");
                    i = j;
                    continue;
                }
            }
        }
        // Process ids: "process 123 started by 122".
        for word in ["process ", "started by "] {
            if line[i..].starts_with(word) {
                let mut j = i + word.len();
                while j < b.len() && b[j].is_ascii_digit() {
                    j += 1;
                }
                if j > i + word.len() {
                    out.push_str(word);
                    out.push_str("PID");
                    i = j;
                }
            }
        }
        if i < b.len() {
            let c = line[i..].chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

fn check(name: &str, flags: &[&str]) {
    let prog = compile_c("basic", flags);
    // Callers are tested on their own (tests/callers.rs): here they would
    // tie the golden file to one compiler's code layout.
    let t = run_traced_as(
        "text",
        &["--color", "never", "--caller-depth", "0"],
        &[&prog],
        Duration::from_secs(60),
    );
    assert_eq!(t.code, Some(0), "stderr: {}", t.stderr);
    let got = normalise(&t.trace, &prog);
    let golden = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("SOCK_TRACE_BLESS").is_some() {
        std::fs::write(&golden, &got).unwrap();
        return;
    }
    let want =
        std::fs::read_to_string(&golden).unwrap_or_else(|e| panic!("{}: {e}", golden.display()));
    if got != want {
        let mut diff = String::new();
        for (i, (g, w)) in got.lines().zip(want.lines()).enumerate() {
            if g != w {
                diff.push_str(&format!("line {}:\n  want: {w}\n  got:  {g}\n", i + 1));
            }
        }
        panic!(
            "{name}: the trace differs from the golden file ({} lines wanted, {} got)\n{diff}\nwhole trace:\n{got}",
            want.lines().count(),
            got.lines().count()
        );
    }
}

#[test]
fn basic_program_text_trace_matches_the_golden_file() {
    check("basic.txt", &["-O2"]);
}

#[test]
fn fortified_build_prints_the_same_calls() {
    // __recv_chk and __read_chk print as recv and read: same golden file.
    check("basic.txt", &["-O2", "-D_FORTIFY_SOURCE=2"]);
}

#[test]
fn normalisation_keeps_what_matters() {
    let p = Path::new("/x/prog");
    assert_eq!(
        normalise("+++ process 12 started by 11: \"/x/prog\" +++\nconnect(4, 127.0.0.1:45031, 16) = 0 <0.000090>\nconnect(3, [::1]:9, 28) = 0\nfreeaddrinfo(0x5619fc7fb630) = void\n", p),
        "+++ process PID started by PID: \"PROGRAM\" +++\nconnect(4, 127.0.0.1:PORT, 16) = 0\nconnect(3, [::1]:9, 28) = 0\nfreeaddrinfo(0xPTR) = void\n"
    );
}
