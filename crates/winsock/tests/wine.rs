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

use lab::{hide_freeaddrinfo, note_new_handle, replace_tokens, Lab, Program, WSPROBE};

/// wsprobe.c and wsaprobe.c, each linked with ws2_32 (bare) and with
/// sock_trace.dll (traced, the drop-in).
const PROGRAMS: [Program; 4] = [
    WSPROBE[0],
    WSPROBE[1],
    Program {
        exe: "wsa_bare.exe",
        source: "wsaprobe.c",
        lib: Some("-lws2_32"),
    },
    Program {
        exe: "wsa_traced.exe",
        source: "wsaprobe.c",
        lib: Some("-lsock_trace"),
    },
];

fn setup() -> Option<Lab> {
    Lab::new("wine", &PROGRAMS)
}

/// Replaces what varies between runs: socket handles (numbered in order of
/// appearance, s1, s2, ...), ports, process ids, durations and the path.
/// With `pointers`, also addresses (OVERLAPPED structures, routines).
fn normalise(trace: &str, pointers: bool) -> String {
    let mut handles: Vec<String> = Vec::new();
    let mut out = String::new();
    for line in trace.lines() {
        let mut line = line.to_string();
        if line.starts_with("+++ process ") {
            // `"C:\\dir\\traced.exe" "traced.exe" ...`: the path goes.
            let exe_end = line.find("\" \"").unwrap_or(0);
            let exe_start = line[..exe_end].rfind('\\').map_or(0, |i| i + 1);
            line = format!(
                "+++ process PID started by PID: \"PATH\\{}\" {}",
                &line[exe_start..exe_end],
                &line[exe_end + 2..]
            );
        }
        if pointers {
            line = hide_pointers(&line);
        }
        hide_freeaddrinfo(&mut line);
        // Durations: ` <0.000123>`, last or before a note (`(injected)`).
        if let Some(a) = line.rfind(" <") {
            if let Some(b) = line[a..].find('>') {
                let d = &line[a + 2..a + b];
                if !d.is_empty() && d.bytes().all(|c| c.is_ascii_digit() || c == b'.') {
                    line.replace_range(a..a + b + 1, "");
                }
            }
        }
        // New handles: results of socket and accept, BSD and WSA.
        let creates = ["socket(", "accept(", "WSASocket(", "WSAAccept("];
        note_new_handle(&line, &creates, &mut handles);
        out.push_str(&replace_tokens(&line, &handles));
        out.push('\n');
    }
    out
}

/// `0x` and five or more hex digits: an address, shown as `PTR`.
fn hide_pointers(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(i) = rest.find("0x") {
        let digits = rest[i + 2..]
            .bytes()
            .take_while(|b| b.is_ascii_hexdigit())
            .count();
        out.push_str(&rest[..i]);
        if digits >= 5 {
            out.push_str("PTR");
        } else {
            out.push_str(&rest[i..i + 2 + digits]);
        }
        rest = &rest[i + 2 + digits..];
    }
    out.push_str(rest);
    out
}

/// The two test programs.
#[derive(Clone, Copy, PartialEq)]
enum Prog {
    /// wsprobe.c: the BSD calls.
    Bsd,
    /// wsaprobe.c: the WSA calls.
    Wsa,
}

impl Prog {
    fn exe(self, traced: bool) -> &'static str {
        match (self, traced) {
            (Prog::Bsd, false) => "bare.exe",
            (Prog::Bsd, true) => "traced.exe",
            (Prog::Wsa, false) => "wsa_bare.exe",
            (Prog::Wsa, true) => "wsa_traced.exe",
        }
    }
}

struct Case {
    prog: Prog,
    args: &'static [&'static str],
    /// Options of `sock-trace run` besides the output.
    options: &'static [&'static str],
    /// The text trace, normalised (tests/goldens/).
    golden: &'static str,
    /// What the program prints (traced as untraced), when pinned.
    output: Option<&'static str>,
    exit: i32,
    /// Whether the program behaves as untraced (not under a fault rule).
    as_bare: bool,
}

const fn bsd(args: &'static [&'static str], golden: &'static str) -> Case {
    Case {
        prog: Prog::Bsd,
        args,
        options: &[],
        golden,
        output: None,
        exit: 0,
        as_bare: true,
    }
}

/// A WSA case, traced with `--dump` so that the payloads show.
const fn wsa(args: &'static [&'static str], golden: &'static str, output: &'static str) -> Case {
    Case {
        prog: Prog::Wsa,
        args,
        options: &["--dump"],
        golden,
        output: Some(output),
        exit: 0,
        as_bare: true,
    }
}

const CASES: &[Case] = &[
    bsd(&["tcp4"], include_str!("goldens/tcp4.txt")),
    bsd(&["udp"], include_str!("goldens/udp.txt")).output(
        "udp: sent 8, received 8 \"datagram\" from 127.0.0.1: 1\n",
    ),
    // The program prints WSAGetLastError() after the refused connect:
    // 10061 traced as untraced (the outputs are compared).
    bsd(&["refused"], include_str!("goldens/refused.txt"))
        .output("refused: connect -1, WSAGetLastError 10061, again 10061\n"),
    bsd(&["resolve"], include_str!("goldens/resolve.txt"))
        .output("resolve: getaddrinfo 0, 1 results, first is 127.0.0.1: 1\n"),
    bsd(&["exit", "7"], include_str!("goldens/exit-7.txt")).exit(7),
    // A fault rule: connect fails with WSAECONNREFUSED, which the program
    // reads back from WSAGetLastError() (wsprobe's fail() prints it).
    Case {
        options: &["--inject", "connect=ECONNREFUSED"],
        as_bare: false,
        ..bsd(&["tcp4"], include_str!("goldens/fault-connect.txt"))
            .output("connect failed: 10061\n")
            .exit(1)
    },
    wsa(
        &["event"],
        include_str!("goldens/wsa-event.txt"),
        "event: pending 1, sent 12, completed 1 with 12 \"hello wsabuf\"\n",
    ),
    wsa(
        &["routine"],
        include_str!("goldens/wsa-routine.txt"),
        "routine: pending 1, sent 12, alerted 1, routine ran 1 time(s): error 0, 12 \"hello wsabuf\"\n",
    ),
    wsa(
        &["poll"],
        include_str!("goldens/wsa-poll.txt"),
        "poll: before 0, sent 12, after 1, readable 1\n",
    ),
    wsa(
        &["connectex"],
        include_str!("goldens/wsa-connectex.txt"),
        "connectex: immediate 0 or pending 1, completed 1 with 9, received 9 \"connected\"\n",
    ),
    wsa(
        &["acceptex"],
        include_str!("goldens/wsa-acceptex.txt"),
        "acceptex: immediate 0 or pending 1, completed 1 with 0\n",
    ),
];

impl Case {
    const fn output(self, output: &'static str) -> Case {
        Case {
            output: Some(output),
            ..self
        }
    }

    const fn exit(self, exit: i32) -> Case {
        Case { exit, ..self }
    }

    /// `tcp6` is `tcp4` over `::1` (the same calls).
    fn tcp6() -> (Case, String) {
        let golden = CASES[0]
            .golden
            .replace("\"tcp4\"", "\"tcp6\"")
            .replace("AF_INET,", "AF_INET6,")
            .replace("127.0.0.1:0, 16", "[::1]:0, 28")
            .replace("127.0.0.1:PORT, 16", "[::1]:PORT, 28")
            .replace("127.0.0.1:PORT", "[::1]:PORT");
        (bsd(&["tcp6"], ""), golden)
    }

    /// Runs the program bare and traced; what differs goes to `failures`.
    fn check(&self, lab: &Lab, golden: &str, failures: &mut Vec<String>) {
        let args = self.args;
        let bare = lab.exe(&[&[self.prog.exe(false)], args].concat());
        let run = ["sock-trace.exe", "run", "-o", "trace.txt"];
        let traced =
            lab.exe(&[&run[..], self.options, &["--", self.prog.exe(true)], args].concat());
        let differs = bare.stdout != traced.stdout || bare.status.code() != traced.status.code();
        if self.as_bare && differs {
            failures.push(format!(
                "{:?}: bare printed {:?} ({:?}), traced {:?} ({:?}); stderr {}",
                args,
                String::from_utf8_lossy(&bare.stdout),
                bare.status.code(),
                String::from_utf8_lossy(&traced.stdout),
                traced.status.code(),
                String::from_utf8_lossy(&traced.stderr)
            ));
            return;
        }
        if traced.status.code() != Some(self.exit) {
            failures.push(format!(
                "{:?}: exit code {:?}, not {}",
                args,
                traced.status.code(),
                self.exit
            ));
        }
        if let Some(want) = self.output {
            let got = String::from_utf8_lossy(&traced.stdout).replace("\r\n", "\n");
            if got != want {
                failures.push(format!(
                    "{:?}: the program printed {got:?}, not {want:?}",
                    args
                ));
            }
        }
        let text = std::fs::read_to_string(lab.dir.join("trace.txt")).unwrap_or_default();
        let got = normalise(&text, self.prog == Prog::Wsa);
        if got != golden {
            failures.push(format!(
                "{:?}: trace differs from the golden.\n--- got (normalised)\n{got}--- raw\n{text}",
                args
            ));
        }
    }
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

/// `sock-trace.exe run --format jsonl` of `exe args`: every line parsed.
fn json_lines(lab: &Lab, exe: &str, args: &[&str]) -> (String, Vec<serde_json::Value>) {
    let run = [
        "sock-trace.exe",
        "run",
        "--format",
        "jsonl",
        "-o",
        "trace.jsonl",
        "--",
        exe,
    ];
    let out = lab.exe(&[&run[..], args].concat());
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let lines = std::fs::read_to_string(lab.dir.join("trace.jsonl")).unwrap();
    let parsed = lines
        .lines()
        .enumerate()
        .map(|(i, line)| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("JSON line {} does not parse ({e}): {line}", i + 1))
        })
        .collect();
    (lines, parsed)
}

#[test]
fn winsock_programs_traced_under_wine() {
    let Some(lab) = setup() else { return };
    let mut failures = Vec::new();
    for case in CASES {
        case.check(&lab, case.golden, &mut failures);
    }
    let (tcp6, golden) = Case::tcp6();
    tcp6.check(&lab, &golden, &mut failures);
    // A delay rule: the same trace (durations aside), and send took the
    // 200 ms it was held.
    let delayed = Case {
        options: &["--delay", "send=200"],
        ..bsd(&["tcp4"], CASES[0].golden)
    };
    delayed.check(&lab, CASES[0].golden, &mut failures);
    let text = std::fs::read_to_string(lab.dir.join("trace.txt")).unwrap_or_default();
    let send = text.lines().find(|l| l.starts_with("send(")).unwrap_or("");
    let secs: f64 = send
        .rsplit_once(" <")
        .and_then(|(_, d)| d.trim_end_matches('>').parse().ok())
        .unwrap_or(0.0);
    if secs < 0.2 {
        failures.push(format!("a 200 ms send delay: {send:?}"));
    }
    // The same run as JSON lines: every line parses, the first is the
    // process, and the calls are the text trace's.
    let (lines, parsed) = json_lines(&lab, "traced.exe", &["tcp4"]);
    let mut funcs = Vec::new();
    for (i, v) in parsed.iter().enumerate() {
        let line = lines.lines().nth(i).unwrap();
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
    // A completion routine's record, as JSON: the pending WSARecv, then
    // the routine's run naming it, with the bytes it moved.
    let (_, parsed) = json_lines(&lab, "wsa_traced.exe", &["routine"]);
    let call = |f: &str| {
        parsed
            .iter()
            .find(|v| v["func"] == f)
            .cloned()
            .unwrap_or_default()
    };
    let (recv, done) = (call("WSARecv"), call("CompletionRoutine"));
    assert_eq!(recv["result"]["error"]["name"], "WSA_IO_PENDING", "{recv}");
    assert_eq!(done["args"]["op"], "WSARecv", "{done}");
    assert_eq!(done["args"]["s"], recv["args"]["s"], "{done}");
    assert_eq!(done["result"]["value"], 12, "{done}");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
