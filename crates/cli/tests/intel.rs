//! Address intelligence through the command line and in trace lines, with
//! the project's own libloc fixture (`../shared/testdata/libloc/tiny.db`):
//! AS64500 "EXAMPLE-AS", DE, 192.0.2.0/24 (drop flag), 2001:db8::/32.
//! No packet leaves the machine: connects to the fixture's documentation
//! addresses are refused by an injected failure before they are made.

mod common;

use common::*;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

fn tiny_config(dir: &std::path::Path) -> PathBuf {
    let tiny =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/libloc/tiny.db");
    assert!(tiny.exists(), "{} is missing", tiny.display());
    libloc_config(dir, "tiny.toml", &tiny)
}

/// A configuration in `dir/name` that reads the libloc database `db` only.
fn libloc_config(dir: &std::path::Path, name: &str, db: &std::path::Path) -> PathBuf {
    write_file(
        dir,
        name,
        format!("[databases]\nlibloc = [{db:?}]\ndiscover = false\nembedded = false\n"),
    )
}

fn sock_trace_cmd(args: &[&str]) -> (Option<i32>, String, String) {
    let mut c = Command::new(sock_trace());
    c.args(args);
    run_with_timeout(c, T)
}

#[test]
fn lookup_prints_what_the_database_says_and_which_one_said_it() {
    let dir = scratch("lookup");
    let cfg = tiny_config(&dir);
    let (code, out, err) = sock_trace_cmd(&[
        "lookup",
        "--config",
        cfg.to_str().unwrap(),
        "--json",
        "192.0.2.77",
        "2001:db8::1",
        "127.0.0.1",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    let a = &lines[0];
    assert_eq!(a["ip"], "192.0.2.77");
    assert_eq!(a["country"]["code"], "DE");
    assert_eq!(a["as"]["number"], 64500);
    assert_eq!(a["as"]["name"], "EXAMPLE-AS");
    assert_eq!(a["flags"]["drop"], true);
    assert!(a["as"]["source"].as_str().unwrap().ends_with("tiny.db"));
    assert_eq!(lines[1]["as"]["number"], 64500);
    assert_eq!(lines[2]["class"], "loopback");
    assert!(lines[2].get("country").is_none());
    // Text, from standard input.
    let mut c = Command::new(sock_trace());
    c.args(["lookup", "--config", cfg.to_str().unwrap()])
        .stdin(std::process::Stdio::piped());
    let mut child = c.stdout(std::process::Stdio::piped()).spawn().unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"192.0.2.1\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_starts_with(&text, "192.0.2.1: DE AS64500 EXAMPLE-AS");
    // A bad address is an error that names it.
    let (code, _, err) =
        sock_trace_cmd(&["lookup", "--config", cfg.to_str().unwrap(), "not-an-ip"]);
    assert_ne!(code, Some(0));
    assert_contains(&err, "not-an-ip");
}

#[test]
fn db_lists_sources_and_reports_a_corrupt_file_by_name() {
    let (dir, bad) = scratch_file("db", "broken.db", b"LOCDBXX\x01 this is not a database");
    let cfg = libloc_config(&dir, "bad.toml", &bad);
    let (code, out, err) = sock_trace_cmd(&["db", "--config", cfg.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("broken.db"),
        "the corrupt file is named: {out}{err}"
    );
    let good = tiny_config(&dir);
    let (code, out, err) = sock_trace_cmd(&["db", "--config", good.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("libloc") && out.contains("tiny.db"), "{out}");
}

#[test]
fn trace_lines_carry_the_annotation_of_public_addresses() {
    let dir = scratch("annotate");
    let cfg = tiny_config(&dir);
    let script = r#"
import socket
for addr in (("192.0.2.10", 80), ("127.0.0.1", 9)):
    s = socket.socket()
    try:
        s.connect(addr)
    except OSError:
        pass
    s.close()
"#;
    let py = python3();
    // Refuse the documentation address before any packet is sent.
    let args = [
        "--config",
        cfg.to_str().unwrap(),
        "--inject",
        "connect=ECONNREFUSED:peer=192.0.2.0/24",
        "--caller-depth",
        "0",
    ];
    // The text form, with more flags.
    let text = |extra: &[&str]| {
        run_traced_as(
            "text",
            &[&args[..], extra].concat(),
            &[py.as_os_str(), "-c".as_ref(), script.as_ref()],
            T,
        )
    };
    let t = text(&[]);
    assert_eq!(t.code, Some(0), "{}", t.stderr);
    let lines: Vec<&str> = t
        .trace
        .lines()
        .filter(|l| l.starts_with("connect("))
        .collect();
    assert_eq!(lines.len(), 2, "{}", t.trace);
    assert!(
        lines[0].contains("192.0.2.10:80 [DE AS64500 EXAMPLE-AS DROP]"),
        "{}",
        lines[0]
    );
    assert!(lines[0].contains("(injected)"));
    assert!(
        lines[1].contains("127.0.0.1:9, 16)"),
        "loopback gets no note: {}",
        lines[1]
    );
    // JSON: every field, for every address.
    let t = run_traced(&args, &[py.as_os_str(), "-c".as_ref(), script.as_ref()], T);
    let connects = t.calls("connect");
    let a = &connects[0]["addresses"]["192.0.2.10"];
    assert_eq!(a["as"]["number"], 64500);
    assert_eq!(a["country"]["name"], "Germany");
    assert_eq!(connects[1]["addresses"]["127.0.0.1"]["class"], "loopback");
    // The detailed form under the call.
    let t = text(&["--detail"]);
    assert_contains(&t.trace, "    192.0.2.10:\n");
    // Turned off, nothing is added.
    let t = text(&["--no-annotate"]);
    assert_lacks(&t.trace, "EXAMPLE-AS");
}
