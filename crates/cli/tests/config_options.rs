//! Configuration discovery and command-line options (issue 9, items 2,
//! 14, 15, 16 and 18): which file is used and said so, a current-directory
//! file of another user is not loaded, explicit paths, unknown keys,
//! errors at their key, named functions against the default exclusions,
//! IPv6 peers, nonsense refused before the program starts, the eintr
//! preset, and messages that do not echo huge values.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

/// `sock-trace ARGS` in `dir`, with no configuration from the environment
/// (an empty XDG_CONFIG_HOME, no SOCK_TRACE_CONFIG).
fn sock_trace_in(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let xdg = dir.join(".xdg-empty");
    std::fs::create_dir_all(&xdg).unwrap();
    let mut c = Command::new(sock_trace());
    c.args(args)
        .current_dir(dir)
        .env_remove("SOCK_TRACE_CONFIG")
        .env("XDG_CONFIG_HOME", &xdg)
        .env("NO_COLOR", "1");
    run_with_timeout(c, T)
}

/// What `sock-trace config --config cfg` says when it refuses the file
/// (exit status 2).
fn refused_config(dir: &Path, cfg: &Path) -> String {
    let (code, _, err) = sock_trace_in(dir, &["config", "--config", cfg.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{err}");
    err
}

fn chown(path: &Path, uid: u32) -> bool {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: valid C string; -1 keeps the group.
    unsafe { libc::chown(c.as_ptr(), uid, u32::MAX) == 0 }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn connect6() -> PathBuf {
    compile_c("connect6", &["-O2"])
}

#[test]
fn the_configuration_file_is_named_on_the_first_line_and_quiet_hides_it() {
    let (dir, cfg) = scratch_file(
        "cfg-named",
        "sock-trace.toml",
        "[trace]\nshow_duration = false\n",
    );
    set_mode(&cfg, 0o644);
    let (code, _, err) = sock_trace_in(&dir, &["run", "--", "/bin/true"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        err.lines().next(),
        Some(format!("sock-trace: configuration from {}", cfg.display()).as_str()),
        "{err}"
    );
    let (code, _, err) = sock_trace_in(&dir, &["run", "-q", "--", "/bin/true"]);
    assert_eq!(code, Some(0), "{err}");
    assert_lacks(&err, "configuration from");
    assert_contains(&err, "+++ exited with 0 +++");
    let (_, _, err) = sock_trace_in(&dir, &["run", "--quiet", "--", "/bin/true"]);
    assert_lacks(&err, "configuration from");
    // No file, no line.
    std::fs::remove_file(&cfg).unwrap();
    let (code, _, err) = sock_trace_in(&dir, &["run", "--", "/bin/true"]);
    assert_eq!(code, Some(0), "{err}");
    assert_lacks(&err, "configuration");
}

/// A checkout of someone else's must not redirect the trace over a file or
/// bend calls: its ./sock-trace.toml is passed over, with the reason.
#[test]
fn a_current_directory_file_that_is_not_the_users_is_not_loaded() {
    let dir = scratch("cfg-foreign");
    let prog = connect6();
    let stolen = dir.join("stolen.txt");
    let cfg = write_file(
        &dir,
        "sock-trace.toml",
        format!("[trace]\noutput = {stolen:?}\n\n[[fault]]\npreset = \"refuse\"\n"),
    );
    let prog_s = prog.to_str().unwrap();

    // Writable by the group: not used, whoever owns it.
    set_mode(&cfg, 0o664);
    let (code, out, err) = sock_trace_in(&dir, &["run", "--", prog_s]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        out, "v6 ok\nv4 ok\n",
        "the fault of the file must not apply"
    );
    assert!(!stolen.exists());
    assert_contains(
        &err,
        format!(
            "sock-trace: warning: {} not used: it is writable by its group (mode 0664)",
            cfg.display()
        ),
    );
    assert_lacks(&err, "configuration from");
    set_mode(&cfg, 0o644);

    if !chown(&cfg, 65534) {
        skip(
            "cannot give the file to uid 65534, so the owner check is not exercised",
            "run the tests as root",
        );
        return;
    }
    let (code, out, err) = sock_trace_in(&dir, &["run", "--", prog_s]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        out, "v6 ok\nv4 ok\n",
        "the fault of the file must not apply"
    );
    assert!(
        !stolen.exists(),
        "the trace went where the foreign file said"
    );
    assert!(
        err.contains("not used: it is owned by uid 65534, not by you (uid "),
        "{err}"
    );
    assert_contains(&err, "+++ exited with 0 +++");
    // The same file, owned by the user, is used (and named).
    // SAFETY: no arguments.
    assert!(chown(&cfg, unsafe { libc::geteuid() }));
    let (code, out, err) = sock_trace_in(&dir, &["run", "--", prog_s]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, "v6 ECONNREFUSED\nv4 ECONNREFUSED\n");
    assert_starts_with(&err, "sock-trace: configuration from ");
    assert!(std::fs::read_to_string(&stolen)
        .unwrap()
        .contains("connect("));
}

#[test]
fn explicit_config_paths_missing_directory_and_dev_null() {
    let dir = scratch("cfg-explicit");
    let marker = dir.join("marker");
    let touch = format!("touch {}", marker.display());
    let missing = dir.join("no-such.toml");
    for (path, want) in [
        (
            missing.to_str().unwrap(),
            format!(
                "{}: no such configuration file (named by --config)",
                missing.display()
            ),
        ),
        (
            dir.to_str().unwrap(),
            format!(
                "{}: is a directory, not a configuration file",
                dir.display()
            ),
        ),
    ] {
        let (code, _, err) = sock_trace_in(
            &dir,
            &["run", "--config", path, "--", "/bin/sh", "-c", &touch],
        );
        assert_eq!(code, Some(2), "{err}");
        assert_contains(&err, want);
        assert!(
            !marker.exists(),
            "the program ran although the configuration was wrong"
        );
    }
    let (code, _, err) = sock_trace_in(
        &dir,
        &[
            "run",
            "--config",
            "/dev/null",
            "--",
            "/bin/sh",
            "-c",
            &touch,
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(marker.exists());
    assert_starts_with(&err, "sock-trace: configuration from /dev/null\n");
}

#[test]
fn unknown_keys_are_named_and_every_other_key_is_kept() {
    let dir = scratch("cfg-unknown");
    let trace = dir.join("trace.jsonl");
    let cfg = write_file(
        &dir,
        "u.toml",
        format!("[trace]\nformat = \"jsonl\"\nbogus = 1\noutput = {trace:?}\n\n[[fault]]\npreset = \"refuse\"\nnht = 2\n"),
    );
    let prog = connect6();
    let (code, out, err) = sock_trace_in(
        &dir,
        &[
            "run",
            "--config",
            cfg.to_str().unwrap(),
            "--",
            prog.to_str().unwrap(),
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    let name = cfg.display();
    assert_contains(&err, format!("{name}:3:1: unknown key `bogus`"));
    assert_contains(&err, format!("{name}:8:1: unknown key `nht`"));
    assert_lacks(&err, "using the default configuration");
    // The fault, the format and the output of the same file apply.
    assert_eq!(out, "v6 ECONNREFUSED\nv4 ECONNREFUSED\n");
    let t = Traced {
        code,
        stdout: out,
        stderr: err,
        trace: std::fs::read_to_string(&trace).unwrap(),
    };
    assert_eq!(t.calls("connect").len(), 2);
}

#[test]
fn a_fault_error_points_at_its_key() {
    let (dir, cfg) = scratch_file("cfg-faultkey", "f.toml", "[[fault]]\npreset = \"refuse\"\n\n[[fault]]\nfunctions = [\"connect\"]\nerror = \"ECONNREFUSED\"\n  nth = 0\n");
    let err = refused_config(&dir, &cfg);
    assert_contains(&err, format!("{}:7:3: [[fault]]: nth = 0", cfg.display()));
    std::fs::write(
        &cfg,
        "[[delay]]\nfunctions = [\"send\"]\nms = 5\nport = \"http\"\n",
    )
    .unwrap();
    let err = refused_config(&dir, &cfg);
    assert_contains(&err, format!("{}:4:8: ", cfg.display()));
}

#[test]
fn named_functions_are_traced_despite_the_default_exclusions() {
    let prog = compile_c("helpers", &["-O0"]);
    let t = run_traced(&["-e", "hton*,inet_*"], &[&prog], T);
    assert_eq!(t.code, Some(0), "{}", t.stderr);
    assert_eq!(t.stdout, "80 2130706433 2001:db8::1\n");
    assert_eq!(t.calls("htons").len(), 1, "{}", t.trace);
    assert_eq!(t.calls("htonl").len(), 1, "{}", t.trace);
    assert_eq!(t.calls("inet_pton").len(), 1, "{}", t.trace);
    assert_eq!(t.calls("inet_ntop").len(), 1, "{}", t.trace);
    assert!(t.calls("ntohs").is_empty(), "not named, still excluded");
    // Without naming them they stay off.
    let t = run_traced(&[], &[&prog], T);
    assert_eq!(t.code, Some(0), "{}", t.stderr);
    assert!(t.calls("htons").is_empty() && t.calls("inet_pton").is_empty());
}

#[test]
fn an_ipv6_peer_rule_refuses_a_connect_to_loopback() {
    let prog = connect6();
    for peer in [
        "::1",
        "[::1]",
        "::1/128",
        "[::1]/128",
        "::/0",
        "::1%lo",
        "[::1%1]",
    ] {
        let spec = format!("connect=ECONNREFUSED:peer={peer}");
        let t = run_traced(&["--inject", &spec], &[&prog], T);
        assert_eq!(t.code, Some(0), "{spec}: {}", t.stderr);
        assert_eq!(t.stdout, "v6 ECONNREFUSED\nv4 ok\n", "{spec}");
        let c = t.calls("connect");
        assert_eq!(c.len(), 2, "{spec}: {}", t.trace);
        assert_eq!(c[0]["notes"], serde_json::json!(["injected"]), "{spec}");
        assert_ne!(
            c[1]["notes"],
            serde_json::json!(["injected"]),
            "{spec}: {}",
            c[1]
        );
    }
    // A network the address is not in does not match.
    for peer in ["2001:db8::/32", "[2001:db8::]/32"] {
        let spec = format!("connect=ECONNREFUSED:peer={peer}:nth=1");
        let t = run_traced(&["--inject", &spec], &[&prog], T);
        assert_eq!(t.stdout, "v6 ok\nv4 ok\n", "{spec}: {}", t.stderr);
    }
}

#[test]
fn nonsense_is_refused_before_the_program_starts() {
    let dir = scratch("opt-nonsense");
    let marker = dir.join("marker");
    let touch = format!("touch {}", marker.display());
    for (args, want) in [
        (vec!["--inject", "connect=0"], "`0` is not an errno"),
        (vec!["--inject", "connect=-1"], "`-1` is not an errno"),
        (vec!["--inject", "connect=99999"], "`99999` is not an errno"),
        (vec!["--inject", "connect=EINTR:nth=0"], "nth = 0"),
        (vec!["--inject", "connect=EINTR:every=0"], "every = 0"),
        (
            vec!["--inject", "connect=EINTR:peer=10.0.0.0/99"],
            "`10.0.0.0/99`: prefix length 99 is more than 32",
        ),
        (vec!["--caller-skip", "["], "bad object pattern `[`"),
        (vec!["-e", "conn[ect"], "bad function pattern `conn[ect`"),
        (vec!["--delay", "send*=-5"], "delay -5 ms is out of range"),
        (vec!["--limit", "recv=0"], "must be a positive number"),
    ] {
        let mut a = vec!["run"];
        a.extend(&args);
        a.extend(["--", "/bin/sh", "-c", &touch]);
        let (code, _, err) = sock_trace_in(&dir, &a);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(!marker.exists(), "{args:?}: the program ran");
    }
}

/// Python retries a send or recv that failed with EINTR at once (PEP 475):
/// a preset that failed every call would spin it forever.
#[test]
fn a_bare_eintr_preset_lets_a_retrying_program_finish() {
    let py = python3();
    let script = "import socket\na, b = socket.socketpair()\nfor i in range(300):\n    a.send(b'x')\n    assert b.recv(1) == b'x'\nprint('done')\n";
    let t = run_traced(
        &["--inject", "eintr"],
        &[py.as_os_str(), "-c".as_ref(), script.as_ref()],
        T,
    );
    assert_eq!(t.code, Some(0), "{}", t.stderr);
    assert_eq!(t.stdout, "done\n");
    let calls: Vec<_> = t
        .events()
        .into_iter()
        .filter(|e| e["type"] == "call" && (e["func"] == "send" || e["func"] == "recv"))
        .collect();
    let injected = calls
        .iter()
        .filter(|e| e["notes"] == serde_json::json!(["injected"]))
        .count();
    // 600 calls that succeed plus the retries: about one in ten injected.
    assert!(calls.len() >= 600, "{}", calls.len());
    assert!(
        injected > 10 && injected < calls.len() / 4,
        "{injected} of {}",
        calls.len()
    );
}

#[test]
fn lookup_takes_zone_ids_and_brackets() {
    let dir = scratch("lookup-zone");
    let (code, out, err) = sock_trace_in(
        &dir,
        &[
            "lookup",
            "--config",
            "/dev/null",
            "fe80::1%lo",
            "[::1]",
            "[fe80::2%2]",
            "192.0.2.1",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    let firsts: Vec<&str> = out
        .lines()
        .filter(|l| !l.starts_with(' '))
        .map(|l| l.split(": ").next().unwrap())
        .collect();
    assert_eq!(
        firsts,
        ["fe80::1%lo", "::1", "fe80::2%2", "192.0.2.1"],
        "{out}"
    );
    let (code, _, err) = sock_trace_in(&dir, &["lookup", "--config", "/dev/null", "fe80::1%"]);
    assert_eq!(code, Some(1));
    assert_contains(&err, "fe80::1%: not an IP address");
}

#[test]
fn ten_thousand_program_sections_are_refused_at_the_first_one_too_many() {
    let dir = scratch("cfg-many");
    let cfg = dir.join("many.toml");
    let mut text = String::new();
    for i in 0..10_000 {
        text.push_str(&format!(
            "[[program]]\nmatch = \"prog{i}\"\ncaller_depth = 2\n\n"
        ));
    }
    std::fs::write(&cfg, text).unwrap();
    // No wall-clock bound (it flakes on a loaded machine): the message names
    // the first section too many (the 15th, line 57), and sock_trace_in's
    // timeout guards against a hang.
    let err = refused_config(&dir, &cfg);
    assert_contains(
        &err,
        "many.toml:57:1: 10000 [[program]] sections; at most 14 are supported",
    );
}

#[test]
fn huge_values_and_binary_are_cut_in_messages() {
    let dir = scratch("cfg-echo");
    let cfg = dir.join("long.toml");
    let long = format!("{}/{}", dir.display(), "a".repeat(10_000_000));
    std::fs::write(&cfg, format!("[trace]\noutput = {long:?}\n")).unwrap();
    let (code, _, err) = sock_trace_in(
        &dir,
        &[
            "run",
            "-q",
            "--config",
            cfg.to_str().unwrap(),
            "--",
            "/bin/true",
        ],
    );
    assert_eq!(code, Some(2), "{}", &err[..err.len().min(2000)]);
    assert!(err.len() < 2000, "{} bytes of messages", err.len());
    assert_contains(&err, "opening the trace output ");
    assert!(
        err.contains("(10000123 bytes in all)") || err.contains("bytes in all)"),
        "{err}"
    );

    // A corrupt DROP list: kilobytes of binary are not echoed.
    let drop = dir.join("drop.txt");
    let mut junk = b"1.2.3.0/24 ; SBL1\n".to_vec();
    junk.extend(
        (0..1024u32)
            .map(|i| (i * 37 % 256) as u8)
            .filter(|b| *b != b'\n'),
    );
    std::fs::write(&drop, &junk).unwrap();
    let db = write_file(
        &dir,
        "db.toml",
        format!("[databases]\ndrop = [{drop:?}]\ndiscover = false\nembedded = false\n"),
    );
    let (code, _, err) = sock_trace_in(
        &dir,
        &["lookup", "--config", db.to_str().unwrap(), "192.0.2.1"],
    );
    assert_eq!(code, Some(0), "{err}");
    assert_contains(&err, "DROP list line 2");
    assert!(err.len() < 600, "{} bytes: {err}", err.len());
    assert!(!err.chars().any(|c| c.is_control() && c != '\n'), "{err:?}");
}
