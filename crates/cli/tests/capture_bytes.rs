//! Byte counts in the summary and the pcapng capture (issue 9 item 10):
//! MSG_PEEK moves nothing, a connection traced at both ends is one stream
//! with each byte once, and receives larger than the per-call capture limit
//! leave a hole Wireshark reports instead of a silently shorter stream.
//! Checked against what the program itself says it moved, and with tshark.

mod common;

use common::*;
use serde_json::Value;
use std::time::Duration;

const T: Duration = Duration::from_secs(120);

/// tshark on `pcap`, without name resolution.
fn tshark(pcap: &std::path::Path, args: &[&str]) -> String {
    tshark_read(pcap, &[&["-n"], args].concat())
}

/// What the program reported, one object per process and protocol.
fn reports(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect()
}

fn report<'a>(r: &'a [Value], proto: &str, side: &str) -> &'a Value {
    r.iter()
        .find(|v| v["proto"] == proto && v["side"] == side)
        .unwrap_or_else(|| panic!("no {proto} {side} report in {r:?}"))
}

#[test]
fn both_ends_traced_peek_and_large_receives() {
    let dir = scratch("capture-bytes");
    let pcap = dir.join("pair.pcapng");
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/programs/peek_pair.py");
    let py = python3();
    let t = run_traced(
        &[
            "--pcap",
            pcap.to_str().unwrap(),
            "--summary",
            "--caller-depth",
            "0",
        ],
        &[py.as_os_str(), script.as_os_str()],
        T,
    );
    assert_eq!(t.code, Some(0), "{}\n{}", t.stdout, t.stderr);
    let r = reports(&t.stdout);
    let (tc, ts) = (report(&r, "tcp", "client"), report(&r, "tcp", "server"));
    let (uc, us) = (report(&r, "udp", "client"), report(&r, "udp", "server"));
    assert!(tc["peeked"].as_u64().unwrap() > 0 && ts["peeked"].as_u64().unwrap() > 0);
    assert!(
        tc["largest_recv"].as_u64().unwrap() > 60 * 1024,
        "a receive must exceed the capture limit: {tc}"
    );

    // The summary counts what the program moved, peeks excluded.
    let summary = t
        .events()
        .into_iter()
        .find(|e| e["type"] == "summary")
        .expect("a summary line");
    let peer = |who: &Value, peer: String| {
        summary["processes"][who["pid"].to_string()]["peers"][&peer].clone()
    };
    let port = tc["port"].as_u64().unwrap();
    let client_port = tc["local"].as_u64().unwrap();
    let c = peer(tc, format!("127.0.0.1:{port}"));
    assert_eq!(c["sent"], tc["sent"], "{summary}");
    assert_eq!(c["received"], tc["received"], "{summary}");
    let s = peer(ts, format!("127.0.0.1:{client_port}"));
    assert_eq!(s["sent"], ts["sent"], "{summary}");
    assert_eq!(s["received"], ts["received"], "{summary}");
    let udp_port = us["port"].as_u64().unwrap();
    let u = peer(uc, format!("127.0.0.1:{udp_port}"));
    assert_eq!(u["sent"], uc["sent"], "{summary}");
    assert_eq!(u["received"], uc["received"], "{summary}");

    if !have_tshark() {
        return;
    }
    // One connection, one TCP stream, no reused ports.
    let streams = tshark(&pcap, &["-Y", "tcp", "-T", "fields", "-e", "tcp.stream"]);
    let mut ids: Vec<&str> = streams.lines().collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids, ["0"], "one TCP stream expected:\n{streams}");
    let syns = tshark(&pcap, &["-Y", "tcp.flags.syn==1 && tcp.flags.ack==0"]);
    assert_eq!(syns.lines().count(), 1, "one SYN:\n{syns}");
    let expert = tshark(&pcap, &["-q", "-z", "expert"]);
    assert_lacks(&expert, "reused");
    assert_lacks(&expert, "etransmission");

    // The client's request once, the response starting once, and nothing
    // peeked in between.
    let follow = follow_raw(&tshark(&pcap, &["-q", "-z", "follow,tcp,raw,0"]));
    assert_eq!(
        follow[0],
        (true, b"GET / HTTP/1.0\r\n\r\n".to_vec()),
        "{follow:?}"
    );
    assert_eq!(follow.len(), 2, "one request, one response");
    let resp = &follow[1].1;
    assert!(resp.starts_with(b"HTTP/1.0 200 OK\r\nContent-Length: 200000\r\n\r\n"));
    assert_eq!(
        resp.windows(8).filter(|w| w == b"HTTP/1.0").count(),
        1,
        "the response head once"
    );

    // Sequence numbers cover every byte the server sent, captured or not:
    // the server's FIN comes at 1 + sent.
    let fin = tshark(
        &pcap,
        &[
            "-Y",
            &format!("tcp.flags.fin==1 && tcp.srcport=={port}"),
            "-T",
            "fields",
            "-e",
            "tcp.seq",
        ],
    );
    let sent = ts["sent"].as_u64().unwrap();
    assert_eq!(
        fin.lines().next().unwrap_or(""),
        (sent + 1).to_string(),
        "{fin}"
    );
    // Fewer bytes were captured than moved, and Wireshark says so.
    assert!((resp.len() as u64) < sent);
    let lost = tshark(&pcap, &["-Y", "tcp.analysis.lost_segment"]);
    assert!(
        !lost.trim().is_empty(),
        "a lost segment reported:\n{expert}"
    );

    // UDP: three requests, three replies, each once.
    let udp = tshark(
        &pcap,
        &[
            "-Y",
            "udp",
            "-T",
            "fields",
            "-e",
            "udp.srcport",
            "-e",
            "data.data",
        ],
    );
    let mut lines: Vec<&str> = udp.lines().collect();
    lines.sort();
    let hex = |s: &str| s.bytes().map(|b| format!("{b:02x}")).collect::<String>();
    let client_udp = lines
        .iter()
        .find(|l| !l.starts_with(&format!("{udp_port}\t")))
        .and_then(|l| l.split('\t').next())
        .unwrap_or("?")
        .to_string();
    let mut want: Vec<String> = (0..3)
        .flat_map(|i| {
            [
                format!("{client_udp}\t{}", hex(&format!("ping {i}"))),
                format!("{udp_port}\t{}", hex(&format!("pong ping {i}"))),
            ]
        })
        .collect();
    want.sort();
    assert_eq!(lines, want, "{udp}");
}
