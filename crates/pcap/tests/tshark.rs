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
use std::time::Duration;

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
    let status = common::wait_or_kill(&mut child, TIMEOUT, &format!("{cmd:?}"));
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
        common::follow_raw(&tshark(&f, &["-q", "-z", "follow,tcp,raw,0"])),
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

/// The request's URI and the response's code, as tshark's HTTP dissector
/// reads them.
fn assert_http_exchange(sc: &common::Scenario) {
    let http = tshark(
        &write(sc),
        &common::fields("http", &["http.request.uri", "http.response.code"]),
    );
    assert_eq!(http, "/index.html\t\n\t200\n", "{}", sc.name);
}

/// Runs `checks` in order on the scenario `make` builds; does nothing
/// (after saying why) when tshark is not here.
fn with_tshark(make: fn() -> common::Scenario, checks: &[fn(&common::Scenario)]) {
    if let Some(sc) = common::have_tshark().then(make) {
        for check in checks {
            check(&sc);
        }
    }
}

#[test]
fn http_over_ipv4() {
    with_tshark(
        common::http_v4,
        &[check_stream, check_clean, assert_http_exchange],
    );
}

#[test]
fn http_over_ipv6() {
    with_tshark(common::http_v6, &[check_stream, check_clean]);
}

#[test]
fn dns_over_udp() {
    with_tshark(
        common::dns_udp,
        &[check_clean, |sc| {
            let names = tshark(
                &write(sc),
                &common::fields("dns", &["dns.qry.name", "dns.a"]),
            );
            assert_eq!(names, "example.com\t\nexample.com\t93.184.216.34\n");
        }],
    );
}

#[test]
fn unix_stream_as_tcp() {
    with_tshark(
        common::unix_stream,
        &[check_stream, check_clean, |sc| {
            let comments = tshark(&write(sc), &common::fields("", &["frame.comment"]));
            let first = comments.lines().next().unwrap_or_default();
            assert_eq!(
                first,
                format!(
                    "pid 42 tid 42 connect(5, ...) [unix local=(unnamed) peer={}]",
                    common::UNIX_PATH
                )
            );
        }],
    );
}

#[test]
fn large_transfer_on_adopted_connection() {
    with_tshark(common::big_adopted, &[check_stream, check_clean]);
}

#[test]
fn accept_side_and_reset() {
    with_tshark(common::http_accept, &[check_clean, assert_http_exchange]);
}

#[test]
fn nanosecond_timestamps() {
    with_tshark(
        common::dns_udp,
        &[|sc| {
            let t = tshark(&write(sc), &common::fields("", &["frame.time_epoch"]));
            assert_eq!(t, "1700000000.123456789\n1700000000.143456789\n");
        }],
    );
}

/// A call that moved more than was captured leaves a hole in sequence
/// space that tshark reports, and the bytes after it are still in place.
#[test]
fn uncaptured_bytes_show_as_a_lost_segment() {
    if !common::have_tshark() {
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
        &common::fields("tcp.analysis.lost_segment", &["tcp.seq", "tcp.len"]),
    );
    // The segment after the hole is flagged: relative sequence number
    // 1 + 100000 (the SYN took one), 10 bytes.
    assert_eq!(lost.trim(), "100001\t10", "{lost}");
    // Sequence numbers of the peer's side advance by everything moved.
    let fin = tshark(
        &f,
        &common::fields("tcp.flags.fin==1 && tcp.srcport==80", &["tcp.seq"]),
    );
    assert_eq!(fin.trim(), "100011", "{fin}");
}
