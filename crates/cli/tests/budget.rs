//! Instruction budgets of the hot path: what a hooked call costs inside the
//! traced program, counted by callgrind (independent of machine load), must
//! stay within `bench/budgets.toml` (+ its tolerance, 10 %).
//!
//! The measurement is `bench/callgrind.py` (one implementation for humans
//! and for this test), run on the `sock-trace` binary under test with 2,000
//! rounds. Skipped (prints SKIPPED, passes) when valgrind, python3 or gcc is
//! missing, unless `SOCK_TRACE_REQUIRE_DATA` is set (CI), then it fails.

#[path = "common/skip.rs"]
mod skip;
#[path = "common/wait.rs"]
mod wait;

use skip::{on_path, skip};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(150);

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `tolerance` and the `[added]` table of bench/budgets.toml (a flat file:
/// `key = number` lines, `#` comments).
fn budgets(text: &str) -> (f64, Vec<(String, f64)>) {
    let mut tolerance = 0.10;
    let mut added = Vec::new();
    let mut section = String::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap().trim();
        if line.is_empty() {
            continue;
        }
        if let Some(s) = line.strip_prefix('[') {
            section = s.trim_end_matches(']').trim().to_string();
            continue;
        }
        let (k, v) = line.split_once('=').expect("key = value");
        let v: f64 = v.trim().parse().expect("a number");
        match (section.as_str(), k.trim()) {
            ("", "tolerance") => tolerance = v,
            ("added", k) => added.push((k.to_string(), v)),
            _ => {}
        }
    }
    (tolerance, added)
}

#[test]
fn hooked_calls_stay_within_their_instruction_budgets() {
    let missing: Vec<&str> = ["valgrind", "python3", "gcc"]
        .into_iter()
        .filter(|t| !on_path(t))
        .collect();
    if !missing.is_empty() {
        skip(
            &format!("{missing:?} not installed"),
            "apt-get install valgrind python3 gcc",
        );
        return;
    }
    let root = root();
    let mut child = Command::new("python3")
        .arg(root.join("bench/callgrind.py"))
        .args([
            "--json",
            "--rounds",
            "2000",
            "--exe",
            env!("CARGO_BIN_EXE_sock-trace"),
        ])
        .env_remove("SOCK_TRACE_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 bench/callgrind.py");
    let status = wait::wait_or_kill(&mut child, TIMEOUT, "bench/callgrind.py");
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(status.success(), "bench/callgrind.py failed: {status}");
    let r: serde_json::Value = serde_json::from_str(out.trim()).expect("JSON from callgrind.py");

    let text =
        std::fs::read_to_string(root.join("bench/budgets.toml")).expect("bench/budgets.toml");
    let (tolerance, added) = budgets(&text);
    assert!(!added.is_empty(), "no budgets in bench/budgets.toml");
    let mut report = String::new();
    let mut over = Vec::new();
    for (key, budget) in &added {
        let got = r[format!("added_{key}")]
            .as_f64()
            .unwrap_or_else(|| panic!("callgrind.py reported no added_{key}: {out}"));
        let limit = budget * (1.0 + tolerance);
        let ok = got <= limit;
        report += &format!(
            "  {key:9} {got:7.1} instructions added per call; budget {budget} (fail above {limit:.0}){}\n",
            if ok { "" } else { "  OVER" }
        );
        if !ok {
            over.push(key.clone());
        }
    }
    println!("per-call instructions ({} rounds):\n{report}", r["rounds"]);
    assert!(
        over.is_empty(),
        "over budget: {over:?}\n{report}(bench/budgets.toml; see docs/PERFORMANCE.md for where the instructions go)"
    );
}

#[test]
fn the_budgets_file_parses_and_meets_the_issue_targets() {
    let text = std::fs::read_to_string(root().join("bench/budgets.toml")).unwrap();
    let (tolerance, added) = budgets(&text);
    assert!(tolerance > 0.0 && tolerance <= 0.25);
    let get = |k: &str| added.iter().find(|(n, _)| n == k).map(|(_, v)| *v);
    // Budgets may never be raised past the targets of the "Measure it" issue.
    assert!(
        get("excluded").is_some_and(|v| v > 0.0 && v <= 150.0),
        "{added:?}"
    );
    assert!(
        get("traced").is_some_and(|v| v > 0.0 && v <= 600.0),
        "{added:?}"
    );
    assert!(get("callers").is_some_and(|v| v > 0.0), "{added:?}");
}
