//! Record now, print later: `sock-trace record -o FILE -- CMD` stores the
//! raw records; `sock-trace print FILE` decodes them with the output
//! options of `run`, and says what is missing from a recording cut short.

mod common;
#[path = "common/rng.rs"]
mod rng;

use common::*;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const T: Duration = Duration::from_secs(120);

fn record(dir: &Path, extra: &[&str], prog: &Path, args: &[&str]) -> (Option<i32>, String) {
    let mut c = Command::new(sock_trace());
    c.arg("record")
        .args(extra)
        .arg("-o")
        .arg(dir.join("trace.st"))
        .arg("--")
        .arg(prog)
        .args(args)
        .env_remove("SOCK_TRACE_CONFIG")
        .current_dir(dir);
    let (code, _, err) = run_with_timeout(c, T);
    (code, err)
}

/// `sock-trace print FILE args...`: exit code, trace, stderr.
fn print(dir: &Path, file: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = dir.join(format!("{}.out", unique("printed")));
    let mut c = Command::new(sock_trace());
    c.arg("print")
        .arg(file)
        .args(args)
        .arg("-o")
        .arg(&out)
        .env_remove("SOCK_TRACE_CONFIG")
        .current_dir(dir);
    let (code, _, err) = run_with_timeout(c, T);
    let trace = std::fs::read_to_string(&out).unwrap_or_default();
    (code, trace, err)
}

/// A trace line without what differs between two runs of the program:
/// pids, durations and descriptor numbers.
fn normalised(line: &str) -> String {
    let mut s = line.to_string();
    if let Some(i) = s.find(" <") {
        if let Some(j) = s[i..].find('>') {
            s.replace_range(i..i + j + 1, "");
        }
    }
    if s.starts_with("[pid ") {
        if let Some(j) = s.find("] ") {
            s.replace_range(..j + 2, "");
        }
    }
    if s.starts_with("+++ process ") {
        return "+++ process".into();
    }
    // Descriptor numbers depend on how the threads interleaved: numbers
    // before the caller are masked, the caller's file:line is kept.
    let (call, caller) = s.split_at(s.find(" @ ").unwrap_or(s.len()));
    let mut masked = String::new();
    let mut in_number = false;
    for c in call.chars() {
        if c.is_ascii_digit() {
            if !in_number {
                masked.push('#');
            }
            in_number = true;
        } else {
            masked.push(c);
            in_number = false;
        }
    }
    masked + caller
}

fn sorted_lines(trace: &str) -> Vec<String> {
    let mut v: Vec<String> = trace.lines().map(normalised).collect();
    v.sort();
    v
}

#[test]
fn a_recording_prints_as_the_live_trace_would() {
    let prog = compile_c("threads", &["-O2", "-g"]);
    let dir = scratch("record");
    let (code, err) = record(&dir, &[], &prog, &["4", "20"]);
    assert_eq!(code, Some(0), "record: {err}");
    assert!(
        err.contains("+++ exited with 0 +++"),
        "notices go to stderr: {err}"
    );
    let recording = dir.join("trace.st");
    let (code, printed, err) = print(&dir, &recording, &[]);
    assert_eq!(code, Some(0), "print: {err}");
    let live = run_traced_as(
        "text",
        &[],
        &[prog.as_os_str(), "4".as_ref(), "20".as_ref()],
        T,
    );
    assert_eq!(live.code, Some(0), "{}", live.stderr);
    // The live trace ends with the exit notice, which `record` printed.
    let live_lines: Vec<String> = sorted_lines(&live.trace)
        .into_iter()
        .filter(|l| l != "+++ exited with # +++")
        .collect();
    assert_eq!(sorted_lines(&printed), live_lines);
    assert_eq!(printed.matches("send(").count(), 40, "{printed}");
    assert!(
        printed.contains("threads.c:18 (worker+0x"),
        "callers symbolised: {printed}"
    );

    // JSON lines and the summary work on a recording too.
    let (code, json, err) = print(&dir, &recording, &["--format", "jsonl"]);
    assert_eq!(code, Some(0), "{err}");
    let events: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    assert_eq!(events.iter().filter(|e| e["func"] == "recv").count(), 40);
    let (code, summary, err) = print(&dir, &recording, &["--summary", "-e", "send"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(!summary.contains("recv("), "the filter applies: {summary}");
    assert!(summary.contains("total"), "{summary}");
}

#[test]
fn a_recording_cut_short_prints_what_it_holds_and_says_so() {
    let prog = compile_c("threads", &["-O2"]);
    let dir = scratch("record-cut");
    let (code, err) = record(&dir, &[], &prog, &["2", "200"]);
    assert_eq!(code, Some(0), "record: {err}");
    let whole = std::fs::read(dir.join("trace.st")).unwrap();
    let (_, full, _) = print(&dir, &dir.join("trace.st"), &[]);
    let full_lines = full.lines().count();
    let mut rng = rng::Rng(0x5eed);
    // Cut at the end mark, inside it, and at random places: whatever is
    // whole is printed, the end says what is missing, and it never panics.
    let mut cuts = vec![whole.len() - 16, whole.len() - 3, 70];
    for _ in 0..6 {
        cuts.push(64 + rng.below(whole.len() as u64 - 80) as usize);
    }
    for cut in cuts {
        let part = dir.join(format!("cut-{cut}.st"));
        std::fs::write(&part, &whole[..cut]).unwrap();
        let (code, trace, err) = print(&dir, &part, &[]);
        assert_eq!(code, Some(1), "cut at {cut}: {err}");
        assert!(
            err.contains("ends without its end mark") || err.contains("is damaged at byte"),
            "cut at {cut}: {err}"
        );
        let last = trace.lines().last().unwrap_or("");
        assert!(last.starts_with("+++"), "the trace says so too: {last}");
        assert!(trace.lines().count() <= full_lines + 1);
    }
    // A flipped byte in the middle: still no panic.
    let mut bad = whole.clone();
    let mid = bad.len() / 2;
    bad[mid..mid + 8].copy_from_slice(&[0xff; 8]);
    let part = dir.join("flipped.st");
    std::fs::write(&part, &bad).unwrap();
    let (code, _, err) = print(&dir, &part, &[]);
    assert!(matches!(code, Some(0) | Some(1)), "{code:?}: {err}");
}

#[test]
fn record_and_print_refuse_clearly() {
    let dir = scratch("record-refuse");
    let mut c = Command::new(sock_trace());
    c.args(["record", "--", "true"]).current_dir(&dir);
    let (code, _, err) = run_with_timeout(c, T);
    assert_eq!(code, Some(2));
    assert!(err.contains("needs `-o FILE`"), "{err}");
    let not = write_file(&dir, "not.st", "hello, this is text\n".repeat(8));
    let (code, _, err) = print(&dir, &not, &[]);
    assert_eq!(code, Some(2));
    assert!(err.contains("not a sock-trace recording"), "{err}");
    let (code, _, err) = print(&dir, &dir.join("missing.st"), &[]);
    assert_eq!(code, Some(2));
    assert!(err.contains("opening the recording"), "{err}");
}
