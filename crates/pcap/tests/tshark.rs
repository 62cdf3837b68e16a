//! Checks the synthesized files with Wireshark's own dissectors (tshark).
//!
//! Skips, saying why, when tshark is not installed, unless
//! `SOCK_TRACE_REQUIRE_DATA=1`, where a missing tshark fails the test.
//! Install it on Debian with
//! `DEBIAN_FRONTEND=noninteractive apt-get install -y tshark`.

mod common;

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(60);

/// Runs a command with a deadline; returns (exit ok, stdout, stderr).
fn run(cmd: &mut Command) -> (bool, String, String) {
    let dir = tempdir();
    let out_path = dir.join(format!(
        "out-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let err_path = out_path.with_extension("err");
    // Files rather than pipes: a chatty child can never block on a full
    // pipe while we wait for it.
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(File::create(&out_path).unwrap())
        .stderr(File::create(&err_path).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} timed out after {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let read = |p: &Path| {
        let mut s = String::new();
        File::open(p).unwrap().read_to_string(&mut s).unwrap();
        let _ = std::fs::remove_file(p);
        s
    };
    (status.success(), read(&out_path), read(&err_path))
}

fn tempdir() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sock-trace-pcap");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Whether tshark can be used; panics instead of skipping when required.
fn have_tshark() -> bool {
    // Looked up on PATH first so a missing tool is a skip, not a spawn
    // failure inside `run`.
    if common::on_path("tshark") && run(Command::new("tshark").arg("--version")).0 {
        return true;
    }
    common::skip("tshark not found on PATH", "apt-get install -y tshark");
    false
}

fn write(sc: &common::Scenario) -> PathBuf {
    // Unique per call: tests run in parallel and some share a scenario,
    // and tshark must never see a file another test is rewriting.
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let p = tempdir().join(format!("{}-{}-{n}.pcapng", sc.name, std::process::id()));
    std::fs::write(&p, &sc.bytes).unwrap();
    p
}

fn tshark(file: &Path, args: &[&str]) -> String {
    let (ok, out, err) = run(Command::new("tshark")
        .arg("-n")
        .arg("-r")
        .arg(file)
        .args(args));
    assert!(ok, "tshark {args:?} failed: {err}");
    out
}

/// The follow output's payload lines, decoded back to bytes per chunk:
/// `raw` mode prints each chunk as hex, peer-to-client chunks indented.
fn follow_raw(file: &Path) -> Vec<(bool, Vec<u8>)> {
    let out = tshark(file, &["-q", "-z", "follow,tcp,raw,0"]);
    let mut chunks: Vec<(bool, Vec<u8>)> = Vec::new();
    let mut in_body = false;
    for line in out.lines() {
        if line.starts_with("Node 1:") {
            in_body = true;
            continue;
        }
        if !in_body || line.starts_with("====") || line.is_empty() {
            continue;
        }
        let from_node0 = !line.starts_with('\t');
        let hex = line.trim();
        let bytes: Vec<u8> = (0..hex.len() / 2)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        match chunks.last_mut() {
            Some((d, b)) if *d == from_node0 => b.extend_from_slice(&bytes),
            _ => chunks.push((from_node0, bytes)),
        }
    }
    chunks
}

fn check_stream(sc: &common::Scenario) {
    let f = write(sc);
    let ascii = tshark(&f, &["-q", "-z", "follow,tcp,ascii,0"]);
    assert!(
        ascii.contains(&format!("Node 0: {}", sc.local)),
        "{}: {ascii}",
        sc.name
    );
    assert!(
        ascii.contains(&format!("Node 1: {}", sc.peer)),
        "{}: {ascii}",
        sc.name
    );
    let printable = |b: &[u8]| {
        b.iter()
            .all(|c| matches!(c, b' '..=b'~' | b'\r' | b'\n' | b'\t'))
    };
    if sc.exchange.iter().all(|(_, b)| printable(b)) {
        // ascii mode prints each chunk's length, then its text (CR and LF
        // kept); the peer's chunks are indented with a tab. One call here
        // is one segment, so one chunk.
        let mut want = String::new();
        for (from_local, bytes) in &sc.exchange {
            let tab = if *from_local { "" } else { "\t" };
            want.push_str(&format!(
                "{tab}{}\n{}\n",
                bytes.len(),
                String::from_utf8_lossy(bytes)
            ));
        }
        let body_start = ascii.find(&format!("Node 1: {}\n", sc.peer)).unwrap()
            + format!("Node 1: {}\n", sc.peer).len();
        let body_end = ascii.rfind("====").unwrap();
        let body_end = ascii[..body_end].rfind('\n').map_or(body_end, |i| i + 1);
        assert_eq!(
            &ascii[body_start..body_end],
            want,
            "{}: follow,tcp,ascii,0 differs",
            sc.name
        );
    }
    assert_eq!(
        follow_raw(&f),
        sc.exchange,
        "{}: follow,tcp,raw,0 differs from the exchange",
        sc.name
    );
}

/// No checksum, malformed-packet or warning/error expert items anywhere.
fn check_clean(sc: &common::Scenario) {
    let f = write(sc);
    let v = tshark(
        &f,
        &[
            "-V",
            "-o",
            "ip.check_checksum:TRUE",
            "-o",
            "tcp.check_checksum:TRUE",
            "-o",
            "udp.check_checksum:TRUE",
        ],
    );
    for bad in ["incorrect", "Malformed", "Expert Info (Error", "[Bad"] {
        assert!(
            !v.contains(bad),
            "{}: tshark -V shows {bad:?}:\n{v}",
            sc.name
        );
    }
    // A RST is reported as a warning by design: it is the packet we meant.
    for line in v.lines().filter(|l| l.contains("Expert Info (Warning")) {
        assert!(
            line.contains("Connection reset (RST)"),
            "{}: tshark -V warns: {line}",
            sc.name
        );
    }
    assert!(
        v.contains("[Checksum Status: Good]") || v.contains("[Header checksum status: Good]"),
        "{}: checksums not verified",
        sc.name
    );
}

#[test]
fn http_over_ipv4() {
    if !have_tshark() {
        return;
    }
    let sc = common::http_v4();
    check_stream(&sc);
    check_clean(&sc);
    let f = write(&sc);
    let http = tshark(
        &f,
        &[
            "-Y",
            "http",
            "-T",
            "fields",
            "-e",
            "http.request.uri",
            "-e",
            "http.response.code",
        ],
    );
    assert_eq!(http, "/index.html\t\n\t200\n");
}

#[test]
fn http_over_ipv6() {
    if !have_tshark() {
        return;
    }
    let sc = common::http_v6();
    check_stream(&sc);
    check_clean(&sc);
}

#[test]
fn dns_over_udp() {
    if !have_tshark() {
        return;
    }
    let sc = common::dns_udp();
    check_clean(&sc);
    let f = write(&sc);
    let names = tshark(
        &f,
        &[
            "-Y",
            "dns",
            "-T",
            "fields",
            "-e",
            "dns.qry.name",
            "-e",
            "dns.a",
        ],
    );
    assert_eq!(names, "example.com\t\nexample.com\t93.184.216.34\n");
}

#[test]
fn unix_stream_as_tcp() {
    if !have_tshark() {
        return;
    }
    let sc = common::unix_stream();
    check_stream(&sc);
    check_clean(&sc);
    let f = write(&sc);
    let comments = tshark(&f, &["-T", "fields", "-e", "frame.comment"]);
    let first = comments.lines().next().unwrap_or_default();
    assert_eq!(
        first,
        format!(
            "pid 42 tid 42 connect(5, ...) [unix local=(unnamed) peer={}]",
            common::UNIX_PATH
        )
    );
}

#[test]
fn large_transfer_on_adopted_connection() {
    if !have_tshark() {
        return;
    }
    let sc = common::big_adopted();
    check_stream(&sc);
    check_clean(&sc);
}

#[test]
fn accept_side_and_reset() {
    if !have_tshark() {
        return;
    }
    let sc = common::http_accept();
    check_clean(&sc);
    let f = write(&sc);
    let http = tshark(
        &f,
        &[
            "-Y",
            "http",
            "-T",
            "fields",
            "-e",
            "http.request.uri",
            "-e",
            "http.response.code",
        ],
    );
    assert_eq!(http, "/index.html\t\n\t200\n");
}

#[test]
fn nanosecond_timestamps() {
    if !have_tshark() {
        return;
    }
    let sc = common::dns_udp();
    let f = write(&sc);
    let t = tshark(&f, &["-T", "fields", "-e", "frame.time_epoch"]);
    assert_eq!(t, "1700000000.123456789\n1700000000.143456789\n");
}

/// A call that moved more than was captured leaves a hole in sequence
/// space that tshark reports, and the bytes after it are still in place.
#[test]
fn uncaptured_bytes_show_as_a_lost_segment() {
    if !have_tshark() {
        return;
    }
    use sock_trace_pcap::{Endpoints, PcapWriter};
    let ends = Endpoints::ip(
        "192.0.2.10:51000".parse().unwrap(),
        "198.51.100.7:80".parse().unwrap(),
    );
    let mut w = PcapWriter::new(Vec::new(), "gap test").unwrap();
    let t = common::T0;
    w.connection_opened(1u64, &ends, true, t, "connect")
        .unwrap();
    // 100000 bytes moved, 61440 captured; then 10 more bytes.
    let first = common::noise(61_440, 7);
    w.data_moved(
        &1,
        false,
        &first,
        100_000,
        t + 1_000,
        "recv 61440 of 100000",
    )
    .unwrap();
    w.data(&1, false, b"after-gap!", t + 2_000, "recv").unwrap();
    w.connection_closed(&1, true, t + 3_000, "close").unwrap();
    let sc = common::Scenario {
        name: "gap",
        bytes: w.into_inner(),
        exchange: vec![],
        local: String::new(),
        peer: String::new(),
    };
    let f = write(&sc);
    let lost = tshark(
        &f,
        &[
            "-Y",
            "tcp.analysis.lost_segment",
            "-T",
            "fields",
            "-e",
            "tcp.seq",
            "-e",
            "tcp.len",
        ],
    );
    // The segment after the hole is flagged: relative sequence number
    // 1 + 100000 (the SYN took one), 10 bytes.
    assert_eq!(lost.trim(), "100001\t10", "{lost}");
    // Sequence numbers of the peer's side advance by everything moved.
    let fin = tshark(
        &f,
        &[
            "-Y",
            "tcp.flags.fin==1 && tcp.srcport==80",
            "-T",
            "fields",
            "-e",
            "tcp.seq",
        ],
    );
    assert_eq!(fin.trim(), "100011", "{fin}");
}
