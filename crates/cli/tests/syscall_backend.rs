//! `sock-trace run` with the system-call backend: a statically linked
//! program, which the preload library cannot enter, traced end to end
//! through the same collector, decoder and printers.

mod common;
use common::*;
#[path = "common/wait.rs"]
mod wait;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

/// Builds a C program (path relative to this crate) with `gcc -static`;
/// None after `skip` when there is no static libc.
fn gcc_static(src: &str, name: &str) -> Option<std::path::PathBuf> {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(src);
    let exe = scratch(&format!("static-{name}")).join(format!("{name}-static"));
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
        return None;
    }
    Some(exe)
}

/// basic.c checks every result and errno it gets (ECONNREFUSED, EFAULT,
/// EBADF ...) and prints ALL OK only when all are what they would be
/// untraced.
#[test]
fn a_static_program_is_traced_at_the_system_call_boundary_and_behaves_as_untraced() {
    let Some(exe) = gcc_static("tests/programs/basic.c", "basic") else {
        return;
    };
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

// ---------------------------------------------------------------------------
// Go programs (issue 13): Debian's golang-go, built by the test.

/// How `tests/programs/go/gonet.go` is built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GoBuild {
    /// `go build`: dynamically linked when cgo is on (the net package's
    /// resolver), as Debian's Go does with gcc installed.
    Default,
    /// `CGO_ENABLED=0`: statically linked.
    Static,
    /// `CGO_ENABLED=0 -ldflags='-s -w'`: no symbol table, no DWARF, only
    /// `.gopclntab`.
    Stripped,
}

/// Builds gonet.go once per variant per test binary (GOCACHE and GOPATH
/// under the target's temp dir, no network). None after `skip` when Go is
/// missing.
fn gonet(build: GoBuild) -> Option<std::path::PathBuf> {
    use std::sync::OnceLock;
    static BUILT: [OnceLock<Option<std::path::PathBuf>>; 3] =
        [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let slot = &BUILT[build as usize];
    let built = slot.get_or_init(|| {
        if !on_path("go") {
            return None;
        }
        let src =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/programs/go/gonet.go");
        let go = tmp_dir().join("go");
        let out = scratch("gonet").join(format!("gonet-{build:?}").to_lowercase());
        let mut c = std::process::Command::new("go");
        c.arg("build")
            .arg("-o")
            .arg(&out)
            .env("GOCACHE", go.join("cache"))
            .env("GOPATH", go.join("path"))
            .env("GOFLAGS", "")
            .env("GOPROXY", "off")
            .env("GOTOOLCHAIN", "local");
        if build != GoBuild::Default {
            c.env("CGO_ENABLED", "0");
        }
        if build == GoBuild::Stripped {
            c.arg("-ldflags=-s -w");
        }
        c.arg(&src);
        let (code, _, err) = run_with_timeout(c, Duration::from_secs(600));
        assert_eq!(code, Some(0), "go build ({build:?}): {err}");
        Some(out)
    });
    if built.is_none() {
        skip("go is not installed", "apt-get install golang-go");
    }
    built.clone()
}

fn b64(v: &serde_json::Value) -> Vec<u8> {
    use base64::Engine;
    v["data"]["base64"]
        .as_str()
        .map(|s| {
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .expect("base64 payload")
        })
        .unwrap_or_default()
}

/// `--backend auto` picks the system-call backend for a Go program whether
/// it is linked dynamically (cgo) or statically, and says so in one line;
/// a net/http server and client in one process: the trace shows the
/// client's connect, the server's accept, and the request and response
/// bytes with their HTTP hints.
#[test]
fn go_http_client_and_server_dynamic_and_static() {
    for build in [GoBuild::Default, GoBuild::Static] {
        let Some(exe) = gonet(build) else { return };
        let bytes = std::fs::read(&exe).unwrap();
        let t = run_traced(&["--max-data", "256"], &[exe.to_str().unwrap(), "http"], T);
        assert_eq!(t.code, Some(0), "{build:?}: {}", t.stderr);
        assert!(
            t.stdout.contains("status 200 body \"hello from go\\n\""),
            "{build:?}: {}",
            t.stdout
        );
        let notes: Vec<&str> = t
            .stderr
            .lines()
            .filter(|l| l.contains("system-call boundary"))
            .collect();
        assert_eq!(notes.len(), 1, "{build:?}: {}", t.stderr);
        let linked = if has_interpreter(&bytes) {
            "is a Go program"
        } else {
            "is a statically linked Go program"
        };
        assert!(notes[0].contains(linked), "{build:?}: {}", notes[0]);
        if build == GoBuild::Static {
            assert!(!has_interpreter(&bytes), "CGO_ENABLED=0 links statically");
        }
        let connect = t
            .calls("connect")
            .into_iter()
            .find(|e| e["args"]["addr"]["ip"] == "127.0.0.1")
            .unwrap_or_else(|| panic!("{build:?}: a connect in\n{}", t.trace));
        let port = connect["args"]["addr"]["port"].as_u64().unwrap();
        let accepted = t
            .calls("accept4")
            .into_iter()
            .find(|e| e["result"]["value"].as_i64().is_some_and(|v| v >= 0))
            .unwrap_or_else(|| panic!("{build:?}: an accept in\n{}", t.trace));
        assert_eq!(accepted["returned"]["peer"]["ip"], "127.0.0.1");
        let request = format!("GET /gonet HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n");
        let writes = t.calls("write");
        let sent = writes
            .iter()
            .find(|e| b64(e).starts_with(request.as_bytes()))
            .unwrap_or_else(|| panic!("{build:?}: the request in\n{}", t.trace));
        assert_eq!(
            sent["hint"],
            format!("HTTP GET /gonet HTTP/1.1 Host: 127.0.0.1:{port}")
        );
        // The server read exactly what the client wrote.
        let reads = t.calls("read");
        assert!(
            reads.iter().any(|e| b64(e) == b64(sent)),
            "{build:?}: the server's read of the request in\n{}",
            t.trace
        );
        for side in [&writes, &reads] {
            let response = side
                .iter()
                .find(|e| b64(e).starts_with(b"HTTP/1.1 200 OK\r\n"))
                .unwrap_or_else(|| panic!("{build:?}: the response in\n{}", t.trace));
            assert_eq!(
                response["hint"], "HTTP 200 OK (text/plain, 14 bytes)",
                "{build:?}"
            );
            assert!(b64(response).ends_with(b"\r\n\r\nhello from go\n"));
        }
    }
}

/// Whether an ELF file asks for a dynamic loader (PT_INTERP).
fn has_interpreter(b: &[u8]) -> bool {
    let u16_at = |o: usize| u16::from_le_bytes([b[o], b[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(b[0x20..0x28].try_into().unwrap()) as usize;
    let (size, n) = (u16_at(0x36), u16_at(0x38));
    (0..n).any(|i| {
        let o = phoff + i * size;
        u32::from_le_bytes(b[o..o + 4].try_into().unwrap()) == 3
    })
}

/// A UDP DNS responder on 127.0.0.1: answers every A question with
/// 192.0.2.7 and every other question with no answer, until dropped.
struct Responder {
    port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<u32>>,
}

impl Responder {
    fn start() -> Responder {
        use std::sync::atomic::{AtomicBool, Ordering};
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let port = sock.local_addr().unwrap().port();
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut answered = 0;
            let mut b = [0u8; 512];
            while !stop2.load(Ordering::Relaxed) {
                let Ok((n, from)) = sock.recv_from(&mut b) else {
                    continue;
                };
                if n < 12 {
                    continue;
                }
                // The question: name labels up to the 0, then type, class.
                let mut i = 12;
                while i < n && b[i] != 0 {
                    i += 1 + b[i] as usize;
                }
                let qend = (i + 5).min(n);
                let qtype = u16::from_be_bytes([b[qend - 4], b[qend - 3]]);
                let a = qtype == 1;
                let mut r = Vec::new();
                r.extend_from_slice(&b[..2]);
                r.extend_from_slice(&[0x81, 0x80, 0, 1, 0, a as u8, 0, 0, 0, 0]);
                r.extend_from_slice(&b[12..qend]);
                if a {
                    r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 7]);
                }
                let _ = sock.send_to(&r, from);
                answered += 1;
            }
            answered
        });
        Responder {
            port,
            stop,
            thread: Some(thread),
        }
    }

    /// Stops it; the number of queries answered.
    fn finish(mut self) -> u32 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap()
    }
}

/// Go's own resolver (PreferGo, dialing the test's responder): the trace
/// shows the queries it wrote and the answers it read, decoded as DNS.
#[test]
fn go_dns_lookup_over_udp_to_a_local_responder() {
    for build in [GoBuild::Default, GoBuild::Static] {
        let Some(exe) = gonet(build) else { return };
        let dns = Responder::start();
        let dns_port = dns.port;
        let port = dns_port.to_string();
        let t = run_traced(
            &["--max-data", "512"],
            &[exe.to_str().unwrap(), "dns", &port, "gonet.example."],
            T,
        );
        let answered = dns.finish();
        assert_eq!(t.code, Some(0), "{build:?}: {} {}", t.stdout, t.stderr);
        assert_eq!(t.stdout.trim(), "addr 192.0.2.7", "{build:?}");
        let udp: Vec<serde_json::Value> = t
            .calls("connect")
            .into_iter()
            .filter(|e| e["args"]["addr"]["port"].as_u64() == Some(dns_port as u64))
            .collect();
        assert!(!udp.is_empty(), "{build:?}: {}", t.trace);
        let queries: Vec<serde_json::Value> = t
            .events()
            .into_iter()
            .filter(|e| e["type"] == "call" && e["data"]["direction"] == "out")
            .filter(|e| {
                e["hint"]
                    .as_str()
                    .is_some_and(|h| h.starts_with("DNS query"))
            })
            .collect();
        let answers: Vec<serde_json::Value> = t
            .events()
            .into_iter()
            .filter(|e| e["type"] == "call" && e["data"]["direction"] == "in")
            .filter(|e| {
                e["hint"]
                    .as_str()
                    .is_some_and(|h| h.starts_with("DNS response"))
            })
            .collect();
        assert_eq!(queries.len() as u32, answered, "{build:?}: {}", t.trace);
        assert!(
            queries
                .iter()
                .all(|q| q["hint"].as_str().unwrap().contains("gonet.example")),
            "{build:?}: {queries:?}"
        );
        assert!(
            answers
                .iter()
                .any(|a| a["hint"].as_str().unwrap().contains("192.0.2.7")),
            "{build:?}: {answers:?}"
        );
    }
}

/// Goroutines locked to their own threads, each moving datagrams over its
/// own socketpair: every call recorded exactly once, with its thread.
#[test]
fn go_goroutines_on_many_threads_exact_counts() {
    const N: usize = 8;
    const M: usize = 150;
    for build in [GoBuild::Default, GoBuild::Static] {
        let Some(exe) = gonet(build) else { return };
        let t = run_traced(
            &[],
            &[
                exe.to_str().unwrap(),
                "storm",
                &N.to_string(),
                &M.to_string(),
            ],
            T,
        );
        assert_eq!(t.code, Some(0), "{build:?}: {}", t.stderr);
        assert_eq!(t.stdout.trim(), "storm done");
        assert_eq!(t.calls("socketpair").len(), N, "{build:?}");
        let mut per_thread: std::collections::BTreeMap<u64, (usize, usize)> = Default::default();
        for w in t.calls("write") {
            assert_eq!(w["result"]["value"], 1, "{w}");
            per_thread.entry(w["tid"].as_u64().unwrap()).or_default().0 += 1;
        }
        for r in t.calls("read") {
            assert_eq!(r["result"]["value"], 1, "{r}");
            per_thread.entry(r["tid"].as_u64().unwrap()).or_default().1 += 1;
        }
        assert_eq!(
            per_thread.len(),
            N,
            "{build:?}: one thread per goroutine: {per_thread:?}"
        );
        assert!(
            per_thread.values().all(|&c| c == (M, M)),
            "{build:?}: {per_thread:?}"
        );
        // Both descriptors of every pair closed, nothing else.
        assert_eq!(t.calls("close").len(), 2 * N, "{build:?}");
    }
}

/// The line of gonet.go that holds `needle`.
fn gonet_line(needle: &str) -> u64 {
    let src = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/programs/go/gonet.go"),
    )
    .unwrap();
    src.lines()
        .position(|l| l.contains(needle))
        .map(|i| i as u64 + 1)
        .expect(needle)
}

/// Go callers: the system call is made inside the Go runtime, the caller
/// shown is the program's own line that dialled (the standard library's
/// frames are looked through), from DWARF and, for a stripped binary,
/// from `.gopclntab`. Refused: the client's own error says so.
#[test]
fn go_callers_are_the_programs_own_line_with_dwarf_and_stripped() {
    let line = gonet_line("c, err := net.Dial(");
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    for build in [GoBuild::Static, GoBuild::Stripped] {
        let Some(exe) = gonet(build) else { return };
        let t = run_traced(&[], &[exe.to_str().unwrap(), "connect", &closed], T);
        assert_eq!(t.code, Some(3), "{build:?}: {} {}", t.stdout, t.stderr);
        assert!(t.stdout.contains("connection refused"), "{}", t.stdout);
        for func in ["socket", "connect"] {
            let calls = t.calls(func);
            assert_eq!(calls.len(), 1, "{build:?}: {}", t.trace);
            let caller = &calls[0]["callers"][0];
            assert_eq!(caller["function"], "main.dialOnce", "{build:?}: {caller}");
            assert!(
                caller["file"]
                    .as_str()
                    .is_some_and(|f| f.ends_with("/gonet.go")),
                "{build:?}: {caller}"
            );
            assert_eq!(caller["line"], line, "{build:?}: {caller}");
        }
        // The refusal as the program saw it: getsockopt(SO_ERROR).
        let so_error = t.calls("getsockopt");
        assert!(
            so_error
                .iter()
                .any(|e| e.to_string().contains("ECONNREFUSED")),
            "{build:?}: {}",
            t.trace
        );
    }
}

/// sendmmsg/recvmmsg, ioctl, fcntl and sendfile on sockets: the system-call
/// backend writes the records the preload library writes for the same
/// calls (the same program run under each; only times, ids, callers and
/// the kernel's remaining recvmmsg timeout differ).
#[test]
fn second_part_calls_match_the_preload_library_record_for_record() {
    let exe = compile_c("sysextra", &["-O1"]);
    let funcs = ["sendmmsg", "recvmmsg", "ioctl", "fcntl", "sendfile"];
    let run = |backend: &str| {
        let t = run_traced(&["--backend", backend, "--max-data", "64"], &[&exe], T);
        assert_eq!(t.code, Some(0), "{backend}: {}", t.stderr);
        assert_eq!(
            t.stdout.trim(),
            "mmsg 3 3 avail 7 outq 768 sendfile 6 off 8 read 13",
            "{backend}"
        );
        t.events()
            .into_iter()
            .filter(|e| e["type"] == "call" && funcs.contains(&e["func"].as_str().unwrap()))
            .map(|mut e| {
                let o = e.as_object_mut().unwrap();
                for k in ["time", "rel", "pid", "tid", "callers", "duration_us"] {
                    o.remove(k);
                }
                if let Some(t) = o
                    .get_mut("args")
                    .and_then(|a| a.as_object_mut())
                    .and_then(|a| a.remove("timeout"))
                {
                    let left = t["sec"].as_f64().unwrap();
                    assert!((4.0..=5.0).contains(&left), "{backend}: {t}");
                }
                e
            })
            .collect::<Vec<_>>()
    };
    let preload = run("preload");
    let syscall = run("syscall");
    assert_eq!(preload.len(), 7, "{preload:#?}");
    assert_eq!(syscall, preload);
}

/// `--inject connect=ECONNREFUSED` under the system-call backend: the
/// connect is skipped (the listener never sees it), the Go client's own
/// error says refused, and the record is marked injected.
#[test]
fn go_client_injected_connection_refused() {
    let Some(exe) = gonet(GoBuild::Static) else {
        return;
    };
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let t = run_traced(
        &["--inject", "connect=ECONNREFUSED"],
        &[exe.to_str().unwrap(), "connect", &port],
        T,
    );
    assert_eq!(t.code, Some(3), "{} {}", t.stdout, t.stderr);
    assert!(
        t.stdout.contains("connect: connection refused"),
        "{}",
        t.stdout
    );
    assert!(listener.accept().is_err(), "the connect reached the kernel");
    let connects = t.calls("connect");
    assert_eq!(connects.len(), 1, "{}", t.trace);
    assert_eq!(connects[0]["result"]["error"]["name"], "ECONNREFUSED");
    assert_eq!(connects[0]["notes"], serde_json::json!(["injected"]));
}

/// The same on a statically linked C client: its second connect (to a
/// live listener) is refused by the rule `nth=2`, which the client checks
/// from inside (errno ECONNREFUSED); the listener accepted only the first.
#[test]
fn static_c_client_injected_refusal_on_the_second_connect() {
    let Some(exe) = gcc_static("../syscall/tests/programs/client.c", "client") else {
        return;
    };
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let server = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut s, _) = listener.accept().unwrap();
        let mut b = [0u8; 4];
        s.read_exact(&mut b).unwrap();
        s.write_all(b"pong!").unwrap();
        drop(s);
        listener.set_nonblocking(true).unwrap();
        // Give a second connect time to arrive, if it wrongly went out.
        std::thread::sleep(Duration::from_millis(300));
        listener.accept().is_ok()
    });
    let t = run_traced(
        &["--inject", "connect=ECONNREFUSED:nth=2"],
        &[exe.to_str().unwrap(), &port, &port],
        T,
    );
    assert!(
        !server.join().unwrap(),
        "the injected connect reached the kernel"
    );
    assert_eq!(t.code, Some(3), "{} {}", t.stdout, t.stderr);
    assert!(t.stdout.contains("ALL OK"), "{}", t.stdout);
    let connects = t.calls("connect");
    assert_eq!(connects.len(), 2, "{}", t.trace);
    assert_eq!(connects[0]["result"]["value"], 0);
    assert_eq!(connects[1]["result"]["error"]["name"], "ECONNREFUSED");
    assert_eq!(connects[1]["notes"], serde_json::json!(["injected"]));
}

/// `--delay`: the delayed call takes at least the delay (a lower bound
/// only), and the tracer keeps serving the program's other threads while
/// it holds that one: their calls complete inside the delay.
#[test]
fn delay_holds_one_thread_and_not_the_others() {
    const DELAY_MS: f64 = 300.0;
    let Some(exe) = gonet(GoBuild::Static) else {
        return;
    };
    let t = run_traced(
        &["--delay", "sendto=300"],
        &[exe.to_str().unwrap(), "hold"],
        T,
    );
    assert_eq!(t.code, Some(0), "{}", t.stderr);
    assert_eq!(t.stdout.trim(), "hold done <nil>");
    let sends = t.calls("sendto");
    assert_eq!(sends.len(), 1, "{}", t.trace);
    let held = &sends[0];
    let took = held["duration_us"].as_f64().unwrap() / 1000.0;
    assert!(took >= DELAY_MS, "delayed sendto took {took} ms");
    let end = held["rel"].as_f64().unwrap();
    let start = end - took / 1000.0;
    let during = t
        .calls("write")
        .iter()
        .filter(|w| w["tid"] != held["tid"])
        .filter(|w| (start..end).contains(&w["rel"].as_f64().unwrap()))
        .count();
    assert!(
        during >= 10,
        "only {during} writes of other threads completed while one was held"
    );
}

// ---------------------------------------------------------------------------
// sock-trace attach PID

/// Starts `sock-trace attach --format jsonl -o FILE extra... PID`.
fn start_attach(pid: u32, extra: &[&str]) -> (std::process::Child, std::path::PathBuf) {
    let trace = scratch("attach").join("trace.jsonl");
    let child = std::process::Command::new(sock_trace())
        .arg("attach")
        .args(["-q", "--format", "jsonl", "-o"])
        .arg(&trace)
        .args(extra)
        .arg(pid.to_string())
        .env_remove("SOCK_TRACE_CONFIG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    (child, trace)
}

/// Ctrl-C to sock-trace attach; its exit code and stderr.
fn stop_attach(mut child: std::process::Child) -> (Option<i32>, String) {
    // SAFETY: plain kill of our child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let st = wait::wait_or_kill(&mut child, T, "sock-trace attach");
    let mut err = String::new();
    use std::io::Read;
    child.stderr.take().unwrap().read_to_string(&mut err).ok();
    (st.code(), err)
}

fn jsonl(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Attach to a running C loop, see its calls, detach: it runs on, sends
/// every datagram exactly once and exits with its own code.
#[test]
fn attach_to_a_running_loop_then_detach_and_it_runs_on() {
    use std::io::BufRead;
    const ROUNDS: usize = 60;
    let exe = compile_c("udploop", &["-O1"]);
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let port = udp.local_addr().unwrap().port().to_string();
    let mut prog = std::process::Command::new(&exe)
        .args([&port, &ROUNDS.to_string()])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(prog.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let pid: u32 = line.trim().strip_prefix("pid ").unwrap().parse().unwrap();
    let (tracer, trace) = start_attach(pid, &["--max-data", "32"]);
    std::thread::sleep(Duration::from_millis(400));
    let (code, err) = stop_attach(tracer);
    assert_eq!(code, Some(0), "{err}");
    let status = wait::wait_or_kill(&mut prog, T, "udploop");
    assert_eq!(status.code(), Some(7), "the program's own exit code");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert!(
        rest.contains(&format!("round {}", ROUNDS - 1)),
        "ran to the end: {rest}"
    );
    let mut ticks = Vec::new();
    let mut b = [0u8; 64];
    while ticks.len() < ROUNDS {
        let n = udp.recv(&mut b).unwrap();
        ticks.push(String::from_utf8_lossy(&b[..n]).into_owned());
    }
    let expected: Vec<String> = (0..ROUNDS).map(|i| format!("tick {i}")).collect();
    assert_eq!(ticks, expected, "every datagram sent once, in order");
    let events = jsonl(&trace);
    let starts: Vec<&serde_json::Value> =
        events.iter().filter(|e| e["type"] == "process").collect();
    assert_eq!(starts.len(), 1, "{events:?}");
    assert_eq!(starts[0]["pid"], pid);
    let sends: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["type"] == "call" && e["func"] == "sendto")
        .collect();
    assert!(
        sends.len() >= 3 && sends.len() < ROUNDS,
        "{} sendto calls seen while attached",
        sends.len()
    );
    // Consecutive rounds, each its own datagram.
    let seen: Vec<String> = sends
        .iter()
        .map(|e| String::from_utf8(b64(e)).unwrap())
        .collect();
    let first: usize = seen[0].strip_prefix("tick ").unwrap().parse().unwrap();
    let want: Vec<String> = (first..first + seen.len())
        .map(|i| format!("tick {i}"))
        .collect();
    assert_eq!(seen, want);
}

/// Attach to a Go HTTP server: its accepts, reads and writes of requests
/// made while attached are seen; after the detach it still serves.
#[test]
fn attach_to_a_go_server() {
    use std::io::{BufRead, Read, Write};
    let Some(exe) = gonet(GoBuild::Static) else {
        return;
    };
    let mut server = std::process::Command::new(&exe)
        .arg("serve")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(server.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let port: u16 = line.trim().strip_prefix("port ").unwrap().parse().unwrap();
    let get = || {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(b"GET /attached HTTP/1.0\r\n\r\n").unwrap();
        let mut r = String::new();
        s.read_to_string(&mut r).unwrap();
        assert!(
            r.starts_with("HTTP/1.0 200 OK") && r.ends_with("ok\n"),
            "{r}"
        );
    };
    get();
    let (tracer, trace) = start_attach(server.id(), &["--max-data", "256"]);
    // Attached once the start record is there.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !std::fs::read_to_string(&trace).is_ok_and(|t| t.contains("\"process\"")) {
        assert!(std::time::Instant::now() < deadline, "not attached");
        std::thread::sleep(Duration::from_millis(20));
    }
    for _ in 0..3 {
        get();
    }
    let (code, err) = stop_attach(tracer);
    assert_eq!(code, Some(0), "{err}");
    get();
    drop(server.stdin.take());
    let status = wait::wait_or_kill(&mut server, T, "gonet serve");
    assert_eq!(status.code(), Some(0));
    let events = jsonl(&trace);
    let calls = |f: &str| -> Vec<&serde_json::Value> {
        events
            .iter()
            .filter(|e| e["type"] == "call" && e["func"] == f)
            .collect()
    };
    let accepted = calls("accept4")
        .into_iter()
        .filter(|e| e["result"]["value"].as_i64().is_some_and(|v| v >= 0))
        .count();
    assert_eq!(accepted, 3, "{events:#?}");
    // (No protocol hints here: the listening socket was opened before the
    // attach, so the kind of the sockets it accepts is not known.)
    let requests = calls("read")
        .into_iter()
        .filter(|e| b64(e).starts_with(b"GET /attached HTTP/1.0\r\n"))
        .count();
    assert_eq!(requests, 3);
    let responses = calls("write")
        .into_iter()
        .filter(|e| b64(e).starts_with(b"HTTP/1.0 200 OK\r\n"))
        .count();
    assert_eq!(responses, 3);
}

/// A clear one-line refusal: no such process; another tracer attached.
#[test]
fn attach_refusals_say_why() {
    let mut c = std::process::Command::new(sock_trace());
    c.args(["attach", "-q", "999999999"]);
    let (code, _, err) = run_with_timeout(c, T);
    assert_eq!(code, Some(1));
    assert_eq!(
        err.trim(),
        "sock-trace: cannot attach: no process 999999999"
    );
    // A process already under a tracer (strace's, or ours).
    let mut prog = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let (first, _) = start_attach(prog.id(), &[]);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = format!("/proc/{}/status", prog.id());
    while std::fs::read_to_string(&status).is_ok_and(|s| s.contains("TracerPid:\t0\n")) {
        assert!(std::time::Instant::now() < deadline, "not attached");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut c = std::process::Command::new(sock_trace());
    c.args(["attach", "-q", &prog.id().to_string()]);
    let (code, _, err) = run_with_timeout(c, T);
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("is already traced by process") && err.contains("TracerPid"),
        "{err}"
    );
    let (code, err) = stop_attach(first);
    assert_eq!(code, Some(0), "{err}");
    let _ = prog.kill();
    let _ = prog.wait();
}

/// A program linked against musl (Debian's musl-gcc links it dynamically,
/// with musl's own loader, which cannot load the glibc-built preload
/// library): `--backend auto` traces it at the system-call boundary.
#[test]
fn a_musl_program_is_traced_by_the_system_call_backend() {
    if !on_path("musl-gcc") {
        skip("musl-gcc is not installed", "apt-get install musl-tools");
        return;
    }
    let src =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../syscall/tests/programs/client.c");
    let exe = scratch("musl").join("client-musl");
    let built = std::process::Command::new("musl-gcc")
        .args(["-O1", "-o"])
        .arg(&exe)
        .arg(&src)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(built, "musl-gcc {}", src.display());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // Never blocks for good: a client that did not run must fail the
    // test, not hang it.
    listener.set_nonblocking(true).unwrap();
    let server = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let deadline = std::time::Instant::now() + T;
        let mut s = loop {
            match listener.accept() {
                Ok((s, _)) => break s,
                Err(_) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Err(e) => panic!("no connection: {e}"),
            }
        };
        s.set_nonblocking(false).unwrap();
        s.set_read_timeout(Some(T)).unwrap();
        let mut b = [0u8; 4];
        s.read_exact(&mut b).unwrap();
        s.write_all(b"pong!").unwrap();
    });
    let t = run_traced(
        &[],
        &[
            exe.to_str().unwrap(),
            &port.to_string(),
            &closed.to_string(),
        ],
        T,
    );
    assert_eq!(t.code, Some(3), "{} {}", t.stdout, t.stderr);
    server.join().unwrap();
    assert!(t.stdout.contains("ALL OK"), "{}", t.stdout);
    assert!(
        t.stderr.contains("is linked against musl") && t.stderr.contains("(--backend syscall)"),
        "{}",
        t.stderr
    );
    let connects = t.calls("connect");
    assert_eq!(connects.len(), 2, "{}", t.trace);
    assert_eq!(connects[1]["result"]["error"]["name"], "ECONNREFUSED");
}

/// One process tree, two backends (`--backend auto`): a shell script (the
/// preload library traces it) runs a dynamically linked C program (preload
/// too), the same program linked statically and a Go program (handed to
/// the system-call backend at their exec). Every program's calls are in
/// the one trace, each program behaves as untraced, and the Go program
/// linked with cgo (which loads the preload library too) is recorded by
/// one backend only: its cgo getaddrinfo, which only the library would
/// see, is absent.
#[test]
fn a_shell_script_mixes_backends_in_one_trace() {
    let Some(stat) = gcc_static("tests/programs/basic.c", "basic") else {
        return;
    };
    let Some(go) = gonet(GoBuild::Default) else {
        return;
    };
    let dynamic = compile_c("basic", &["-O1"]);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let server = std::thread::spawn(move || {
        let _ = listener.accept();
    });
    let script = scratch("mixed").join("mixed.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\n\"$1\" || exit 10\n\"$2\" || exit 11\n\
         GODEBUG=netdns=cgo \"$3\" resolve localhost || exit 12\n\
         \"$3\" connect \"$4\" || exit 13\nexit 7\n",
    )
    .unwrap();
    let sh: [&std::ffi::OsStr; 6] = [
        "/bin/sh".as_ref(),
        script.as_os_str(),
        dynamic.as_os_str(),
        stat.as_os_str(),
        go.as_os_str(),
        port.as_ref(),
    ];
    let t = run_traced(&[], &sh, T);
    server.join().unwrap();
    assert_eq!(t.code, Some(7), "{}\n{}", t.stdout, t.stderr);
    assert_eq!(t.stdout.matches("ALL OK").count(), 2, "{}", t.stdout);
    assert!(
        t.stdout.contains("resolved") && t.stdout.contains("connected"),
        "{}",
        t.stdout
    );
    assert!(!t.stderr.contains("untraced"), "{}", t.stderr);
    let events: Vec<serde_json::Value> = t
        .trace
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    // Each process's executable, from its (last) process record.
    let mut exe_of = std::collections::HashMap::new();
    for e in events.iter().filter(|e| e["type"] == "process") {
        exe_of.insert(
            e["pid"].as_u64().unwrap(),
            e["exe"].as_str().unwrap_or("").to_string(),
        );
    }
    let pids_of = |suffix: &str| -> Vec<u64> {
        exe_of
            .iter()
            .filter(|(_, exe)| exe.ends_with(suffix))
            .map(|(&p, _)| p)
            .collect()
    };
    let calls = |pid: u64, func: &str| {
        events
            .iter()
            .filter(|e| e["pid"] == pid && e["func"] == func)
            .count()
    };
    let name = |p: &std::path::Path| format!("/{}", p.file_name().unwrap().to_string_lossy());
    let (dynamic_name, static_name, go_name) = (name(&dynamic), name(&stat), name(&go));
    for (suffix, want) in [(&dynamic_name, 1), (&static_name, 1), (&go_name, 2)] {
        let pids = pids_of(suffix);
        assert_eq!(pids.len(), want, "{suffix}: {exe_of:?}\n{}", t.trace);
        for pid in pids {
            assert!(calls(pid, "socket") > 0, "{suffix} {pid}:\n{}", t.trace);
        }
    }
    let refused = |pid: u64| {
        events.iter().any(|e| {
            e["pid"] == pid
                && e["func"] == "connect"
                && e["result"]["error"]["name"] == "ECONNREFUSED"
        })
    };
    // basic.c's refused connect, seen by each backend.
    assert!(refused(pids_of(&dynamic_name)[0]), "{}", t.trace);
    assert!(refused(pids_of(&static_name)[0]), "{}", t.trace);
    let go_pids = pids_of(&go_name);
    let connected = go_pids.iter().any(|&pid| {
        events.iter().any(|e| {
            e["pid"] == pid
                && e["func"] == "connect"
                && e["args"]["addr"]["port"].as_u64() == port.parse().ok()
        })
    });
    assert!(connected, "{}", t.trace);
    for pid in go_pids {
        assert_eq!(
            calls(pid, "getaddrinfo"),
            0,
            "one backend per process:\n{}",
            t.trace
        );
    }
    // Nothing left the trace.
    assert!(!t.trace.contains("leaves the trace"), "{}", t.trace);
}
