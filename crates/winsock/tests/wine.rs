//! sock_trace.dll and sock-trace.exe under Wine: MinGW-built C programs
//! (tests/programs/wsprobe.c) linked against ws2_32 (bare) and against
//! sock_trace.dll (traced) must print the same, traced under
//! `sock-trace.exe run` with their exit code passed through, and the
//! trace must read as the goldens below (text) and parse line by line
//! (JSON lines).
//!
//! Needs `cargo xtask windows` (target/windows/), MinGW and Wine; without
//! them the test says SKIPPED, and fails under SOCK_TRACE_REQUIRE_DATA
//! (CI). One test runs every case in sequence: it owns one WINEPREFIX
//! under a temporary directory (a Wine prefix is ~700 MB and takes seconds
//! to create) and stops its wineserver at the end. Every child has a
//! timeout.

#[path = "../../cli/tests/common/skip.rs"]
mod skip;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const WINE: &str = "/usr/lib/wine/wine64";
const GCC: &str = "x86_64-w64-mingw32-gcc";

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
}

/// Runs `cmd` with a timeout; kills it (and says so) when it expires.
fn run(cmd: &mut Command, limit: Duration) -> Output {
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

/// The Wine prefix, the artifacts and the two builds of the probe.
struct Lab {
    dir: PathBuf,
}

impl Lab {
    fn wine(&self, args: &[&str]) -> Command {
        let mut c = Command::new(WINE);
        c.args(args)
            .current_dir(&self.dir)
            .env("WINEPREFIX", self.dir.join("prefix"))
            .env("WINEDEBUG", "-all")
            .env("WINEDLLOVERRIDES", "mscoree,mshtml=")
            .env_remove("DISPLAY");
        c
    }

    fn exe(&self, args: &[&str]) -> Output {
        run(&mut self.wine(args), Duration::from_secs(60))
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

fn setup() -> Option<Lab> {
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
    let dir = std::env::temp_dir().join(format!("sock-trace-wine-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let lab = Lab { dir };
    for n in needed {
        std::fs::copy(art.join(n), lab.dir.join(n)).unwrap();
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/programs/wsprobe.c");
    for (exe, lib) in [("bare.exe", "-lws2_32"), ("traced.exe", "-lsock_trace")] {
        let out = run(
            Command::new(GCC)
                .arg("-O1")
                .arg("-o")
                .arg(lab.dir.join(exe))
                .arg(&src)
                .arg("-L")
                .arg(&lab.dir)
                .arg(lib),
            Duration::from_secs(120),
        );
        assert!(
            out.status.success(),
            "building {exe}: {}",
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

/// Replaces what varies between runs: socket handles (numbered in order of
/// appearance, s1, s2, ...), ports, process ids, durations and the path.
fn normalise(trace: &str) -> String {
    let mut handles: Vec<String> = Vec::new();
    let mut out = String::new();
    for line in trace.lines() {
        let mut line = line.to_string();
        if line.starts_with("+++ process ") {
            line = "+++ process PID started by PID: \"PATH\\traced.exe\" ".to_string()
                + &line[line.find("\"traced.exe\"").unwrap_or(0)..];
        }
        if line.starts_with("freeaddrinfo(0x") {
            if let Some(close) = line.find(')') {
                line = format!("freeaddrinfo(PTR{}", &line[close..]);
            }
        }
        // Durations.
        if let (Some(a), true) = (line.rfind(" <"), line.ends_with('>')) {
            line.truncate(a);
        }
        // New handles: results of socket and accept.
        if line.starts_with("socket(") || line.starts_with("accept(") {
            if let Some(eq) = line.find(") = ") {
                let rest = &line[eq + 4..];
                let h: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
                if !h.is_empty() && !handles.contains(&h) {
                    handles.push(h);
                }
            }
        }
        out.push_str(&replace_tokens(&line, &handles));
        out.push('\n');
    }
    out
}

/// Handle numbers as whole words become `sN`; ephemeral ports `PORT`.
fn replace_tokens(line: &str, handles: &[String]) -> String {
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

struct Case {
    args: &'static [&'static str],
    golden: &'static str,
}

/// The golden of a case; `tcp6` is `tcp4` over `::1` (the same calls).
fn golden(args: &[&str]) -> String {
    if args[0] != "tcp6" {
        return CASES
            .iter()
            .find(|c| c.args == args)
            .unwrap()
            .golden
            .to_string();
    }
    CASES[0]
        .golden
        .replace("\"tcp4\"", "\"tcp6\"")
        .replace("AF_INET,", "AF_INET6,")
        .replace("127.0.0.1:0, 16", "[::1]:0, 28")
        .replace("127.0.0.1:PORT, 16", "[::1]:PORT, 28")
        .replace("127.0.0.1:PORT", "[::1]:PORT")
}

const CASES: &[Case] = &[
    Case {
        args: &["tcp4"],
        golden: r#"+++ process PID started by PID: "PATH\traced.exe" "traced.exe" "tcp4" +++
WSAStartup(0x202) = 0
socket(AF_INET, SOCK_STREAM, IPPROTO_IP) = s1
bind(s1, 127.0.0.1:0, 16) = 0
getsockname(s1) = 0 => addr=127.0.0.1:PORT
listen(s1, 4) = 0
socket(AF_INET, SOCK_STREAM, IPPROTO_TCP) = s2
setsockopt(s2, IPPROTO_TCP, TCP_NODELAY, 1, 4) = 0
connect(s2, 127.0.0.1:PORT, 16) = 0
accept(s1) = s3 => peer=127.0.0.1:PORT
send(s2, 19, 0) = 19
select(0, [s3], NULL, NULL, 5s) = 1 => readfds=[s3]
recv(s3, 64, 0) = 19
getsockopt(s3, SOL_SOCKET, SO_TYPE) = 0 => optval=1, optlen=4
ioctlsocket(s3, 0x4004667f) = 0 => value=0
shutdown(s2, SHUT_WR) = 0
recv(s3, 45, 0) = 0
closesocket(s3) = 0
closesocket(s2) = 0
closesocket(s1) = 0
WSACleanup() = 0
+++ exited with 0 +++
"#,
    },
    Case {
        args: &["udp"],
        golden: r#"+++ process PID started by PID: "PATH\traced.exe" "traced.exe" "udp" +++
WSAStartup(0x202) = 0
socket(AF_INET, SOCK_DGRAM, IPPROTO_IP) = s1
bind(s1, 127.0.0.1:0, 16) = 0
getsockname(s1) = 0 => addr=127.0.0.1:PORT
socket(AF_INET, SOCK_DGRAM, IPPROTO_UDP) = s2
sendto(s2, 8, 0, 127.0.0.1:PORT) = 8
recvfrom(s1, 32, 0) = 8 => addr=127.0.0.1:PORT
closesocket(s2) = 0
closesocket(s1) = 0
WSACleanup() = 0
+++ exited with 0 +++
"#,
    },
    // The program prints WSAGetLastError() after the refused connect:
    // 10061 traced as untraced (the outputs are compared).
    Case {
        args: &["refused"],
        golden: r#"+++ process PID started by PID: "PATH\traced.exe" "traced.exe" "refused" +++
WSAStartup(0x202) = 0
socket(AF_INET, SOCK_STREAM, IPPROTO_IP) = s1
bind(s1, 127.0.0.1:0, 16) = 0
getsockname(s1) = 0 => addr=127.0.0.1:PORT
closesocket(s1) = 0
socket(AF_INET, SOCK_STREAM, IPPROTO_IP) = s1
connect(s1, 127.0.0.1:PORT, 16) = -1 WSAECONNREFUSED (10061) Connection refused
closesocket(s1) = 0
WSACleanup() = 0
+++ exited with 0 +++
"#,
    },
    Case {
        args: &["resolve"],
        golden: r#"+++ process PID started by PID: "PATH\traced.exe" "traced.exe" "resolve" +++
WSAStartup(0x202) = 0
getaddrinfo("localhost", "80", {flags=0, family=AF_INET, socktype=SOCK_STREAM, protocol=0}) = 0 => res=[{family=AF_INET, socktype=SOCK_STREAM, protocol=IPPROTO_IP, addr=127.0.0.1:80}]
freeaddrinfo(PTR) = void
WSACleanup() = 0
+++ exited with 0 +++
"#,
    },
    Case {
        args: &["exit", "7"],
        golden: r#"+++ process PID started by PID: "PATH\traced.exe" "traced.exe" "exit" "7" +++
WSAStartup(0x202) = 0
WSACleanup() = 0
+++ exited with 7 +++
"#,
    },
];

/// What the probe must print (the same traced and untraced).
fn expected_output(args: &[&str]) -> Option<&'static str> {
    Some(match args[0] {
        "refused" => "refused: connect -1, WSAGetLastError 10061, again 10061\n",
        "udp" => "udp: sent 8, received 8 \"datagram\" from 127.0.0.1: 1\n",
        "resolve" => "resolve: getaddrinfo 0, 1 results, first is 127.0.0.1: 1\n",
        _ => return None,
    })
}

/// The socket an `accept` call returned, from the JSON lines.
fn funcs_fd(lines: &str, func: &str) -> serde_json::Value {
    lines
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["func"] == func)
        .map(|v| v["result"]["value"].clone())
        .unwrap_or_default()
}

#[test]
fn winsock_programs_traced_under_wine() {
    let Some(lab) = setup() else { return };
    let mut failures = Vec::new();
    let tcp6: &[&str] = &["tcp6"];
    for args in CASES.iter().map(|c| c.args).chain([tcp6]) {
        let want_golden = golden(args);
        let bare = lab.exe(&[&["bare.exe"], args].concat());
        let trace = lab.dir.join("trace.txt");
        let traced = lab.exe(
            &[
                &[
                    "sock-trace.exe",
                    "run",
                    "-o",
                    "trace.txt",
                    "--",
                    "traced.exe",
                ],
                args,
            ]
            .concat(),
        );
        if bare.stdout != traced.stdout || bare.status.code() != traced.status.code() {
            failures.push(format!(
                "{:?}: bare printed {:?} ({:?}), traced {:?} ({:?}); stderr {}",
                args,
                String::from_utf8_lossy(&bare.stdout),
                bare.status.code(),
                String::from_utf8_lossy(&traced.stdout),
                traced.status.code(),
                String::from_utf8_lossy(&traced.stderr)
            ));
            continue;
        }
        let want_code = if args[0] == "exit" { 7 } else { 0 };
        if traced.status.code() != Some(want_code) {
            failures.push(format!(
                "{:?}: exit code {:?}, not {want_code}",
                args,
                traced.status.code()
            ));
        }
        if let Some(want) = expected_output(args) {
            let got = String::from_utf8_lossy(&traced.stdout).replace("\r\n", "\n");
            if got != want {
                failures.push(format!(
                    "{:?}: the program printed {got:?}, not {want:?}",
                    args
                ));
            }
        }
        let text = std::fs::read_to_string(&trace).unwrap_or_default();
        let got = normalise(&text);
        if got != want_golden {
            failures.push(format!(
                "{:?}: trace differs from the golden.\n--- got (normalised)\n{got}--- raw\n{text}",
                args
            ));
        }
    }
    // The same run as JSON lines: every line parses, the first is the
    // process, and the calls are the text trace's.
    let json = lab.exe(&[
        "sock-trace.exe",
        "run",
        "--format",
        "jsonl",
        "-o",
        "trace.jsonl",
        "--",
        "traced.exe",
        "tcp4",
    ]);
    assert_eq!(json.status.code(), Some(0), "{json:?}");
    let lines = std::fs::read_to_string(lab.dir.join("trace.jsonl")).unwrap();
    let mut funcs = Vec::new();
    for (i, line) in lines.lines().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("JSON line {} does not parse ({e}): {line}", i + 1));
        if i == 0 {
            assert_eq!(v["type"], "process", "{line}");
            assert_eq!(
                v["argv"],
                serde_json::json!(["traced.exe", "tcp4"]),
                "{line}"
            );
        }
        if v["type"] == "call" {
            funcs.push(v["func"].as_str().unwrap().to_string());
        }
        if v["func"] == "connect" {
            assert_eq!(v["args"]["addr"]["ip"], "127.0.0.1", "{line}");
        }
        if v["func"] == "recv" && v["result"]["value"] == 19 {
            assert_eq!(v["args"]["fd"], funcs_fd(&lines, "accept"), "{line}");
        }
    }
    let text_funcs: Vec<String> = CASES[0]
        .golden
        .lines()
        .filter(|l| !l.starts_with("+++"))
        .map(|l| l[..l.find('(').unwrap()].to_string())
        .collect();
    assert_eq!(funcs, text_funcs);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
