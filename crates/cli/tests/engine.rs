//! The trace engine against real programs: what is traced, and that the
//! traced program behaves exactly as without the tracer.

mod common;

use common::*;
use serde_json::Value;
use std::process::Command;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

fn error_name(e: &Value) -> Option<&str> {
    e["result"]["error"]["name"].as_str()
}

#[test]
fn basic_calls_are_decoded_and_the_program_sees_no_difference() {
    let prog = compile_c("basic", &["-O2"]);
    let t = run_traced(&[], &[&prog], T);
    assert_eq!(t.code, Some(0), "stderr: {}", t.stderr);
    assert!(
        t.stdout.contains("ALL OK"),
        "the program's own checks failed: {}",
        t.stderr
    );

    let sockets = t.calls("socket");
    assert_eq!(sockets.len(), 7, "{}", t.trace);
    assert_eq!(sockets[0]["args"]["domain"], "AF_INET");

    let connects = t.calls("connect");
    assert_eq!(connects.len(), 5);
    assert_eq!(connects[0]["args"]["addr"]["ip"], "127.0.0.1");
    assert_eq!(error_name(&connects[1]), Some("ECONNREFUSED"));
    assert_eq!(error_name(&connects[2]), Some("EFAULT"));
    assert_eq!(error_name(&connects[3]), Some("EBADF"));
    assert_eq!(connects[4]["args"]["addr"]["ip"], "::1");

    let gai = t.calls("getaddrinfo");
    assert_eq!(gai.len(), 3);
    assert_eq!(gai[1]["args"]["node"], "localhost");
    assert_eq!(gai[1]["result"]["value"], 0);
    let res = gai[1]["returned"]["res"]
        .as_array()
        .expect("getaddrinfo results");
    assert!(
        res.iter()
            .any(|r| r["addr"]["ip"] == "127.0.0.1" && r["addr"]["port"] == 80),
        "{res:?}"
    );
    assert!(
        error_name(&gai[2]).is_some_and(|n| n.starts_with("EAI_")),
        "{:?}",
        gai[2]
    );

    // File I/O is not traced; socket I/O through read/write is.
    assert_eq!(t.calls("write").len(), 2);
    assert_eq!(t.calls("read").len(), 1);
    let recv = t.calls("recv");
    assert_eq!(recv.len(), 3);
    assert_eq!(recv[0]["result"]["value"], 5);
    assert_eq!(error_name(&recv[2]), Some("EAGAIN"));
    assert_eq!(t.calls("epoll_wait").len(), 1);
    assert_eq!(t.calls("accept4").len(), 1);
}

#[test]
fn fortified_entry_points_are_traced() {
    let prog = compile_c("basic", &["-O2", "-D_FORTIFY_SOURCE=2"]);
    let nm = Command::new("nm").arg("-D").arg(&prog).output().unwrap();
    let syms = String::from_utf8_lossy(&nm.stdout);
    assert!(
        syms.contains("__recv_chk"),
        "the fortified build should import __recv_chk:\n{syms}"
    );
    let t = run_traced(&[], &[&prog], T);
    assert_eq!(t.code, Some(0), "stderr: {}", t.stderr);
    let recv = t.calls("recv");
    assert_eq!(recv.len(), 3);
    assert!(recv.iter().all(|r| r["fortified"] == true), "{recv:?}");
}

#[test]
fn sixteen_threads_produce_every_line_exactly_once() {
    let prog = compile_c("threads", &["-O2"]);
    let t = run_traced(&[], &[prog.as_os_str(), "16".as_ref(), "5000".as_ref()], T);
    assert_eq!(t.code, Some(0), "stderr: {}", t.stderr);
    // Every line must parse (none torn) and the counts must be exact.
    let events = t.events();
    let count = |f: &str| events.iter().filter(|e| e["func"] == f).count();
    assert_eq!(count("send"), 16 * 2500);
    assert_eq!(count("recv"), 16 * 2500);
    assert_eq!(count("socketpair"), 16);
    let tids: std::collections::HashSet<_> = events
        .iter()
        .filter(|e| e["func"] == "send")
        .map(|e| e["tid"].as_u64())
        .collect();
    assert_eq!(tids.len(), 16);
}

#[test]
fn forks_under_load_never_hang_and_children_are_traced() {
    let prog = compile_c("forkstress", &["-O2"]);
    let t = run_traced(
        &[],
        &[prog.as_os_str(), "1000".as_ref()],
        Duration::from_secs(240),
    );
    assert_eq!(t.code, Some(0), "stderr: {}", t.stderr);
    assert!(t.stdout.contains("forked 1000"));
    let main_pid = t.calls("socketpair")[0]["pid"].clone();
    let child_sockets = t
        .calls("socket")
        .into_iter()
        .filter(|e| e["pid"] != main_pid)
        .count();
    assert_eq!(child_sockets, 1000);
}

#[test]
fn the_last_call_before_a_sudden_death_is_recorded() {
    let prog = compile_c("die", &["-O0"]);
    for (how, code) in [("abort", 128 + 6), ("segv", 128 + 11), ("kill", 128 + 9)] {
        let t = run_traced(&[], &[prog.as_os_str(), how.as_ref()], T);
        assert_eq!(t.code, Some(code), "{how}: {}", t.stderr);
        let sends = t.calls("send");
        assert_eq!(sends.len(), 1, "{how}: {}", t.trace);
        assert_eq!(sends[0]["result"]["value"], 10);
    }
}

#[test]
fn sockets_closed_during_thread_and_process_teardown_are_traced() {
    let prog = compile_c("teardown", &["-O2"]);
    let t = run_traced(&[], &[&prog], T);
    assert_eq!(t.code, Some(0), "stderr: {}", t.stderr);
    assert_eq!(t.calls("socket").len(), 9);
    assert_eq!(t.calls("close").len(), 9, "{}", t.trace);
    assert_eq!(t.calls("send").len(), 8);
}

#[test]
fn a_panic_inside_the_tracer_never_reaches_the_program() {
    let prog = compile_c("basic", &["-O2"]);
    let t = run_traced(&["--selftest-panic"], &[&prog], T);
    assert_eq!(t.code, Some(0), "stderr: {}", t.stderr);
    assert!(t.stdout.contains("ALL OK"));
    assert!(
        !t.stderr.contains("panicked"),
        "the panic message must not reach the program's stderr: {}",
        t.stderr
    );
    // The connect records were lost to the panic; everything else is there.
    assert_eq!(t.calls("connect").len(), 0);
    assert_eq!(t.calls("socket").len(), 7);
}

#[test]
fn exit_status_and_signals_map_like_a_shell() {
    let t = run_traced(&[], &["/bin/sh", "-c", "exit 3"], T);
    assert_eq!(t.code, Some(3));
    let t = run_traced(&[], &["/bin/sh", "-c", "kill -TERM $$"], T);
    assert_eq!(t.code, Some(128 + 15));
}

#[test]
fn excluded_functions_are_not_recorded_and_globs_match_whole_names() {
    let prog = compile_c("basic", &["-O2"]);
    let t = run_traced(&["-x", "recv"], &[&prog], T);
    assert_eq!(t.code, Some(0));
    assert_eq!(t.calls("recv").len(), 0);
    assert_eq!(
        t.calls("recvfrom").len(),
        1,
        "excluding recv must not hide recvfrom"
    );
    let t = run_traced(&["-e", "get*info"], &[&prog], T);
    assert_eq!(t.calls("getaddrinfo").len(), 3);
    assert_eq!(t.calls("socket").len(), 0);
}

#[test]
fn python_subprocess_vfork_children_do_not_disturb_the_parent() {
    let script = r#"
import socket, subprocess, sys
a, b = socket.socketpair()
for i in range(20):
    subprocess.run(["/bin/true"], close_fds=True, check=True)
a.send(b"after")
assert b.recv(10) == b"after"
subprocess.run([sys.executable, "-c", "import socket; s = socket.socket(); s.close()"], check=True)
print("ok")
"#;
    let py = python3();
    let t = run_traced(&[], &[py.as_os_str(), "-c".as_ref(), script.as_ref()], T);
    assert_eq!(t.code, Some(0), "stderr: {}", t.stderr);
    assert!(t.stdout.contains("ok"));
    // The parent's sockets stay traced after 20 vfork+exec children closed
    // their copies of them.
    assert_eq!(
        t.calls("send").len() + t.calls("sendto").len(),
        1,
        "{}",
        t.trace
    );
    // The exec'd grandchild python is traced too.
    let pids: std::collections::HashSet<_> =
        t.calls("socket").iter().map(|e| e["pid"].clone()).collect();
    assert_eq!(pids.len(), 1, "one socket() call, in the child interpreter");
    let parent = t.calls("socketpair")[0]["pid"].clone();
    assert!(!pids.contains(&parent));
}

#[test]
fn curl_against_a_local_server() {
    let server = HttpServer::start("curl", "index.html", "hello from the test server\n");
    let port = server.port;
    let url = format!("http://localhost:{port}/index.html");
    let t = run_traced(&[], &["curl", "-s", "--max-time", "20", &url], T);
    drop(server);
    assert_eq!(t.code, Some(0), "stderr: {}", t.stderr);
    assert!(t.stdout.contains("hello from the test server"));
    // curl 7.88 resolves "localhost" itself, without getaddrinfo: name
    // resolution is checked with wget and the C programs instead.
    let connected = t
        .calls("connect")
        .iter()
        .any(|c| c["args"]["addr"]["port"] == port as u64);
    assert!(connected, "{}", t.trace);
    let sent = t.moved(&["send"]);
    assert!(
        sent > 20,
        "the HTTP request should be traced as send(): {}",
        t.trace
    );
    let received = t.moved(&["recv"]);
    assert!(
        received > 27,
        "the HTTP response should be traced as recv(): {}",
        t.trace
    );
}

#[test]
fn static_programs_get_a_clear_warning_and_still_run() {
    let (dir, src) = scratch_file(
        "static",
        "hello.c",
        "#include <stdio.h>\nint main(void){puts(\"static hello\");return 0;}\n",
    );
    let exe = dir.join("hello");
    let ok = Command::new("gcc")
        .args(["-static", "-o"])
        .arg(&exe)
        .arg(&src)
        .status()
        .unwrap();
    if !ok.success() {
        skip(
            "no static libc to link against",
            "apt-get install libc6-dev",
        );
        return;
    }
    // With the preload library, nothing can reach it: said twice.
    let t = run_traced(&["--backend", "preload"], &[&exe], T);
    assert_eq!(t.code, Some(0));
    assert!(t.stdout.contains("static hello"));
    assert!(t.stderr.contains("statically linked"), "{}", t.stderr);
    assert_contains(&t.stderr, "no process loaded the tracer");
    // By default the system-call backend takes it, and says so once.
    let t = run_traced(&[], &[&exe], T);
    assert_eq!(t.code, Some(0));
    assert!(t.stdout.contains("static hello"));
    assert_contains(
        &t.stderr,
        "is statically linked (no dynamic loader); traced at the system-call boundary",
    );
    assert_lacks(&t.stderr, "no process loaded the tracer");
}

#[test]
fn a_broken_config_is_reported_with_its_position_and_the_program_still_runs() {
    let (_, cfg) = scratch_file(
        "badconfig",
        "bad.toml",
        "[trace]\nformat = \"jsonl\"\ntimestamps = \"sometimes\"\n",
    );
    let t = run_traced(
        &["--config", cfg.to_str().unwrap()],
        &["/bin/sh", "-c", "echo ran"],
        T,
    );
    assert_eq!(t.code, Some(0));
    assert!(t.stdout.contains("ran"));
    assert_contains(&t.stderr, "bad.toml:3:");
}

#[test]
fn standalone_preload_without_the_launcher() {
    let out = Command::new(sock_trace())
        .arg("preload-path")
        .output()
        .unwrap();
    assert!(out.status.success());
    let lib = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let prog = compile_c("basic", &["-O2"]);
    let dir = scratch("standalone");
    let trace = dir.join("trace.jsonl");
    write_file(
        &dir,
        "sock-trace.toml",
        format!("[trace]\nformat = \"jsonl\"\noutput = {trace:?}\n"),
    );
    let mut c = Command::new(&prog);
    c.env("LD_PRELOAD", &lib)
        .env_remove("SOCK_TRACE_SHM")
        .env_remove("SOCK_TRACE_CONFIG")
        .current_dir(&dir);
    let (code, stdout, stderr) = run_with_timeout(c, T);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("ALL OK"));
    // The collector finishes shortly after the program.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(&trace).unwrap_or_default();
        let t = Traced {
            code,
            stdout: String::new(),
            stderr: String::new(),
            trace: text,
        };
        if t.calls("getaddrinfo").len() == 3 && t.calls("socket").len() == 7 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "standalone trace incomplete:\n{}",
            t.trace
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn wget_resolves_connects_and_downloads_through_the_tracer() {
    let server = HttpServer::start("wget", "page.txt", "payload for wget\n");
    let port = server.port;
    let url = format!("http://localhost:{port}/page.txt");
    let t = run_traced(
        &[],
        &["wget", "-q", "-O", "-", "--timeout=20", "--tries=1", &url],
        T,
    );
    drop(server);
    assert_eq!(t.code, Some(0), "stderr: {}", t.stderr);
    assert_eq!(t.stdout, "payload for wget\n");
    let gai = t.calls("getaddrinfo");
    assert_eq!(gai.len(), 1, "{}", t.trace);
    assert_eq!(gai[0]["args"]["node"], "localhost");
    let res = gai[0]["returned"]["res"].as_array().expect("results");
    assert!(
        res.iter().any(|r| r["addr"]["ip"] == "127.0.0.1"),
        "{res:?}"
    );
    let connect = t
        .calls("connect")
        .into_iter()
        .find(|c| c["args"]["addr"]["port"] == port as u64)
        .expect("connect");
    assert_eq!(connect["result"]["value"], 0);
    // The request goes out and the whole response comes back on the socket.
    let sent = t.moved(&["write", "send"]);
    assert!(sent >= 60, "the GET request: {}", t.trace);
    let got = t.moved(&["read", "recv"]);
    assert!(got >= 17 + 100, "headers and body: {}", t.trace);
}

#[test]
fn rust_std_networking_is_traced() {
    let dir = scratch("rust");
    let exe = dir.join("rusty");
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/programs/rusty.rs");
    let mut c = Command::new("rustc");
    c.args(["-O", "-o"]).arg(&exe).arg(&src);
    let (code, _, err) = run_with_timeout(c, Duration::from_secs(120));
    assert_eq!(code, Some(0), "rustc: {err}");
    let t = run_traced(&[], &[&exe], T);
    assert_eq!(t.code, Some(0), "stderr: {}", t.stderr);
    assert!(t.stdout.contains("rust ok"));
    let gai = t.calls("getaddrinfo");
    assert_eq!(gai.len(), 1);
    assert_eq!(gai[0]["args"]["node"], "localhost");
    assert_eq!(t.calls("accept4").len(), 1, "std accepts with accept4");
    let sends = t.calls("send");
    assert_eq!(sends.len(), 2);
    assert!(sends
        .iter()
        .all(|s| s["args"]["flags"] == serde_json::json!(["MSG_NOSIGNAL"])));
    let server_tid = t.calls("accept4")[0]["tid"].clone();
    let main_tid = t.calls("connect")[0]["tid"].clone();
    assert_ne!(server_tid, main_tid, "the server thread has its own tid");
    let recvfrom = t.calls("recvfrom");
    assert_eq!(recvfrom.len(), 1);
    assert_eq!(recvfrom[0]["result"]["value"], 5);
    assert_eq!(recvfrom[0]["returned"]["addr"]["ip"], "127.0.0.1");
}

#[test]
fn setuid_programs_run_untraced_with_a_warning() {
    if !is_root() {
        skip(
            "making a setuid file owned by another user needs root",
            "run the tests as root",
        );
        return;
    }
    let dir = scratch("setuid");
    let prog = dir.join("basic-setuid");
    std::fs::copy(compile_c("basic", &["-O2"]), &prog).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::os::unix::fs::chown(&prog, Some(65534), Some(65534)).unwrap();
    std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o4755)).unwrap();
    let t = run_traced(&[], &[&prog], T);
    assert_eq!(t.code, Some(0), "stderr: {}", t.stderr);
    assert!(
        t.stdout.contains("ALL OK"),
        "the program itself is unaffected"
    );
    assert_contains(&t.stderr, "is setuid");
    assert_contains(&t.stderr, "no process loaded the tracer");
    assert!(
        t.calls("socket").is_empty(),
        "secure-execution mode must not be traced: {}",
        t.trace
    );
}

/// The exit summary agrees exactly with the trace's own lines.
#[test]
fn the_summary_agrees_with_the_lines() {
    use std::collections::BTreeMap;
    let prog = compile_c("forkstress", &["-O2"]);
    let t = run_traced(&["--summary"], &[prog.as_os_str(), "20".as_ref()], T);
    assert_eq!(t.code, Some(0), "stderr: {}", t.stderr);
    let events = t.events();
    let summary = events
        .iter()
        .find(|e| e["type"] == "summary")
        .expect("a summary object");
    // Recount from the lines: per pid and function, calls, errors, time.
    let mut want: BTreeMap<(String, String), (u64, u64, u64)> = BTreeMap::new();
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    for e in events.iter().filter(|e| e["type"] == "call") {
        let key = (
            e["pid"].to_string(),
            e["func"].as_str().unwrap().to_string(),
        );
        let w = want.entry(key).or_default();
        w.0 += 1;
        if e["result"].get("error").is_some() {
            w.1 += 1;
            *errors
                .entry(e["result"]["error"]["name"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
        w.2 += (e["duration_us"].as_f64().unwrap() * 1000.0).round() as u64;
    }
    let procs = summary["processes"].as_object().unwrap();
    assert_eq!(procs.len(), 21, "the parent and 20 children");
    let mut seen = 0;
    for ((pid, func), (calls, errs, ns)) in &want {
        let s = &procs[pid]["functions"][func];
        assert_eq!(s["calls"], *calls, "{pid} {func}");
        assert_eq!(s["errors"], *errs, "{pid} {func}");
        assert_eq!(s["total_ns"], *ns, "{pid} {func}");
        seen += 1;
    }
    let listed: usize = procs
        .values()
        .map(|p| p["functions"].as_object().unwrap().len())
        .sum();
    assert_eq!(
        listed, seen,
        "no function in the summary that the lines do not have"
    );
    let total_calls: u64 = summary["total"]["functions"]
        .as_object()
        .unwrap()
        .values()
        .map(|f| f["calls"].as_u64().unwrap())
        .sum();
    assert_eq!(total_calls, want.values().map(|w| w.0).sum::<u64>());
    let total_errors: BTreeMap<String, u64> =
        serde_json::from_value(summary["total"]["errors"].clone()).unwrap();
    assert_eq!(total_errors, errors);
}

#[test]
fn the_summary_counts_bytes_and_connections_per_peer() {
    let server = HttpServer::start("summary-peer", "page.txt", "0123456789".repeat(50));
    let port = server.port;
    let url = format!("http://127.0.0.1:{port}/page.txt");
    let t = run_traced(
        &["--summary"],
        &[
            "wget",
            "-q",
            "-O",
            "/dev/null",
            "--timeout=20",
            "--tries=1",
            &url,
        ],
        T,
    );
    drop(server);
    assert_eq!(t.code, Some(0), "stderr: {}", t.stderr);
    let events = t.events();
    // wget peeks at the response head (recv with MSG_PEEK): peeked bytes
    // are read again by the next call, so they are not counted.
    let sum = |func: &str| -> u64 {
        t.calls(func)
            .iter()
            .filter(|e| {
                !e["args"]["flags"]
                    .as_array()
                    .is_some_and(|f| f.iter().any(|x| x == "MSG_PEEK"))
            })
            .filter_map(|e| e["result"]["value"].as_u64())
            .sum()
    };
    let summary = events.iter().find(|e| e["type"] == "summary").unwrap();
    let peer = &summary["total"]["peers"][format!("127.0.0.1:{port}")];
    assert_eq!(peer["connections"], 1, "{summary}");
    assert_eq!(peer["sent"], sum("write") + sum("send"), "{summary}");
    assert_eq!(peer["received"], sum("read") + sum("recv"), "{summary}");
    assert!(peer["received"].as_u64().unwrap() >= 500);
    // The text form: a table per process with the peer line.
    let t = run_traced_as("text", &["--summary"], &["/bin/true"], T);
    assert!(
        t.trace.ends_with("+++ summary: no calls traced +++\n"),
        "{}",
        t.trace
    );
}
