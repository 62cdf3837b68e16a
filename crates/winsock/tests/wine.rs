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

#[path = "common/lab.rs"]
mod lab;

use lab::{golden_calls, json_calls, normalise, Lab, WSPROBE};

fn setup() -> Option<Lab> {
    Lab::new("wine", &WSPROBE)
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
        let got = normalise(&text, "traced.exe");
        if got != want_golden {
            failures.push(format!(
                "{:?}: trace differs from the golden.\n--- got (normalised)\n{got}--- raw\n{text}",
                args
            ));
        }
    }
    // The same run as JSON lines: every line parses, the first is the
    // process, and the calls are the text trace's.
    let (json, lines) = lab.jsonl(&["traced.exe", "tcp4"]);
    assert_eq!(json.status.code(), Some(0), "{json:?}");
    let (values, funcs) = json_calls(&lines);
    assert_eq!(values[0]["argv"], serde_json::json!(["traced.exe", "tcp4"]));
    for v in &values {
        if v["func"] == "connect" {
            assert_eq!(v["args"]["addr"]["ip"], "127.0.0.1", "{v}");
        }
        if v["func"] == "recv" && v["result"]["value"] == 19 {
            assert_eq!(v["args"]["fd"], funcs_fd(&lines, "accept"), "{v}");
        }
    }
    assert_eq!(funcs, golden_calls(CASES[0].golden));
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
