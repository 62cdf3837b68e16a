//! Payload: hex dumps, protocol hints and the pcapng capture, checked
//! against real clients and, for the capture, against tshark's dissectors.

mod common;

use common::*;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

/// A UDP DNS exchange inside one traced Python process: a client asks
/// `example.test A`, a server thread answers 192.0.2.7.
const DNS_SCRIPT: &str = r#"
import socket, struct, threading
srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
srv.bind(("127.0.0.1", 0))
port = srv.getsockname()[1]
def serve():
    q, peer = srv.recvfrom(512)
    qid = q[:2]
    question = q[12:]
    answer = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + bytes([192, 0, 2, 7])
    srv.sendto(qid + b"\x81\x80" + struct.pack(">HHHH", 1, 1, 0, 0) + question + answer, peer)
t = threading.Thread(target=serve)
t.start()
cli = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
name = b"".join(bytes([len(p)]) + p for p in b"example.test".split(b".")) + b"\0"
cli.sendto(b"\x12\x34\x01\x00" + struct.pack(">HHHH", 1, 0, 0, 0) + name + struct.pack(">HH", 1, 1), ("127.0.0.1", port))
reply, _ = cli.recvfrom(512)
t.join()
print("answer", ".".join(str(b) for b in reply[-4:]), "port", port)
"#;

#[test]
fn hints_read_dns_and_http_from_real_traffic() {
    let py = python3();
    let t = run_traced(
        &["--max-data", "512"],
        &[py.as_os_str(), "-c".as_ref(), DNS_SCRIPT.as_ref()],
        T,
    );
    assert_eq!(t.code, Some(0), "{}", t.stderr);
    assert_contains(&t.stdout, "answer 192.0.2.7");
    let hints: Vec<String> = t
        .events()
        .iter()
        .filter_map(|e| e["hint"].as_str().map(str::to_string))
        .collect();
    assert!(
        hints
            .iter()
            .any(|h| h == "DNS query A example.test (id 0x1234)"),
        "{hints:?}"
    );
    assert!(
        hints
            .iter()
            .any(|h| h == "DNS response NOERROR example.test: A 192.0.2.7 (id 0x1234)"),
        "{hints:?}"
    );

    let server = HttpServer::start("hints-http", "x.txt", "x\n");
    let port = server.port;
    let url = format!("http://127.0.0.1:{port}/x.txt");
    let t = run_traced_as(
        "text",
        &["--max-data", "256", "--caller-depth", "0"],
        &["curl", "-s", "--max-time", "20", &url],
        T,
    );
    drop(server);
    assert_eq!(t.code, Some(0), "{}", t.stderr);
    let send = t
        .trace
        .lines()
        .find(|l| l.starts_with("send("))
        .expect("send line");
    assert_contains(
        &send,
        format!(" [HTTP GET /x.txt HTTP/1.1 Host: 127.0.0.1:{port}]"),
    );
    assert!(
        t.trace
            .lines()
            .any(|l| l.starts_with("recv(") && l.contains("[HTTP 200 OK")),
        "{}",
        t.trace
    );
}

/// The index of the first of `lines` that starts with one of `starts`.
fn line_of(lines: &[&str], starts: &[&str]) -> usize {
    lines
        .iter()
        .position(|l| starts.iter().any(|s| l.starts_with(s)))
        .unwrap_or_else(|| panic!("no line starting with one of {starts:?}"))
}

#[test]
fn hex_dumps_show_exactly_the_bytes_moved() {
    let py = python3();
    let script = r#"
import socket
a, b = socket.socketpair()
a.send(b"hello, hex dump! and some more")
b.recv(8)
print("done")
"#;
    let dump = |flags: &[&str]| {
        run_traced_as(
            "text",
            &[&["--dump"], flags, &["--caller-depth", "0"]].concat(),
            &[py.as_os_str(), "-c".as_ref(), script.as_ref()],
            T,
        )
    };
    let t = dump(&[]);
    assert_eq!(t.code, Some(0), "{}", t.stderr);
    let lines: Vec<&str> = t.trace.lines().collect();
    let send = line_of(&lines, &["sendto(", "send("]);
    assert_eq!(
        lines[send + 1],
        "    0000  68 65 6c 6c 6f 2c 20 68  65 78 20 64 75 6d 70 21  |hello, hex dump!|"
    );
    assert_eq!(
        lines[send + 2],
        "    0010  20 61 6e 64 20 73 6f 6d  65 20 6d 6f 72 65        | and some more|"
    );
    // recv asked for 8 bytes and got 8: only those are dumped.
    let recv = line_of(&lines, &["recvfrom(", "recv("]);
    assert_eq!(
        lines[recv + 1],
        "    0000  68 65 6c 6c 6f 2c 20 68                           |hello, h|"
    );
    assert!(!lines[recv + 2].starts_with("    0010"), "{}", t.trace);

    // A limit cuts the dump and says how much is left.
    let t = dump(&["--max-data", "4"]);
    let lines: Vec<&str> = t.trace.lines().collect();
    let send = line_of(&lines, &["sendto(", "send("]);
    assert_eq!(
        lines[send + 1],
        "    0000  68 65 6c 6c                                       |hell|"
    );
    assert_eq!(lines[send + 2], "    ... 26 more bytes");
}

/// Runs `cmd` under `sock-trace --pcap` (a fresh `<name>/trace.pcapng`)
/// and checks that it exited 0: the capture file and the run. `None` (the
/// test returns) when tshark is not here to read the capture.
fn traced_to_pcap<S: AsRef<std::ffi::OsStr>>(
    name: &str,
    cmd: &[S],
) -> Option<(std::path::PathBuf, Traced)> {
    if !have_tshark() {
        return None;
    }
    let pcap = scratch(name).join("trace.pcapng");
    let t = run_traced(&["--pcap", pcap.to_str().unwrap()], cmd, T);
    assert_eq!(t.code, Some(0), "{}", t.stderr);
    Some((pcap, t))
}

#[test]
fn pcap_of_a_curl_request_replays_as_the_exact_http_exchange() {
    if !have_tshark() {
        return;
    }
    let body = "pcap body line\n".repeat(3);
    let server = HttpServer::start("pcap-http", "page.txt", &body);
    let port = server.port;
    let pcap = server.dir.join("curl.pcapng");
    let url = format!("http://127.0.0.1:{port}/page.txt");
    let t = run_traced(
        &["--pcap", pcap.to_str().unwrap()],
        &["curl", "-s", "--max-time", "20", &url],
        T,
    );
    drop(server);
    assert_eq!(t.code, Some(0), "{}", t.stderr);
    assert_eq!(t.stdout, body);
    let follow = tshark_read(&pcap, &["-q", "-z", "follow,tcp,ascii,0"]);
    assert_contains(&follow, format!("Node 1: 127.0.0.1:{port}"));
    assert_contains(&follow, "GET /page.txt HTTP/1.1");
    assert_contains(&follow, format!("Host: 127.0.0.1:{port}"));
    assert_contains(&follow, "HTTP/1.0 200 OK");
    assert_contains(&follow, body);
    // The request as traced equals the request as dissected, byte for byte.
    let sent: Vec<u8> = t
        .calls("send")
        .iter()
        .flat_map(|e| {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD
                .decode(e["data"]["base64"].as_str().unwrap())
                .unwrap()
        })
        .collect();
    let raw = tshark_read(&pcap, &["-q", "-z", "follow,tcp,raw,0"]);
    let first_hex: String = raw
        .lines()
        .skip_while(|l| !l.starts_with("Node 1"))
        .nth(1)
        .unwrap()
        .trim()
        .to_string();
    let hex: String = sent.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(first_hex, hex);
    // A handshake, the data and a close, with good checksums and no malformed packets.
    let fields = tshark_read(&pcap, &["-T", "fields", "-e", "tcp.flags.str"]);
    assert!(
        fields.lines().next().unwrap().contains('S'),
        "SYN first: {fields}"
    );
    assert!(fields.contains('F'), "a FIN: {fields}");
    let verbose = tshark_read(
        &pcap,
        &[
            "-o",
            "tcp.check_checksum:TRUE",
            "-o",
            "ip.check_checksum:TRUE",
            "-V",
        ],
    );
    assert_lacks(&verbose, "incorrect");
    assert_lacks(&verbose, "Malformed");
    // Nanosecond timestamps, and the call as the packet comment.
    let comments = tshark_read(&pcap, &["-T", "fields", "-e", "frame.comment"]);
    assert!(comments.lines().any(|l| l.contains(" send")), "{comments}");
}

#[test]
fn pcap_of_udp_dns_dissects_as_dns() {
    let py = python3();
    let cmd = [py.as_os_str(), "-c".as_ref(), DNS_SCRIPT.as_ref()];
    let Some((pcap, t)) = traced_to_pcap("pcap-dns", &cmd) else {
        return;
    };
    let port = t.stdout.split("port ").nth(1).unwrap().trim().to_string();
    let decode_as = format!("udp.port=={port},dns");
    let query = fields("dns", &["dns.qry.name", "dns.a"]);
    let out = tshark_read(&pcap, &[&["-d", decode_as.as_str()], &query[..]].concat());
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines.iter().any(|l| *l == "example.test\t"), "{out}");
    assert!(
        lines.iter().any(|l| *l == "example.test\t192.0.2.7"),
        "{out}"
    );
}

#[test]
fn hex_dumps_split_messages_and_buffers() {
    let prog = compile_c("mmsg", &["-O2"]);
    let t = run_traced_as("text", &["--dump", "--caller-depth", "0"], &[&prog], T);
    assert_eq!(t.code, Some(0), "{}", t.stderr);
    assert_eq!(t.stdout, "3 3 5\n");
    let lines: Vec<&str> = t.trace.lines().collect();
    for call in ["sendmmsg(", "recvmmsg("] {
        let at = lines.iter().position(|l| l.starts_with(call)).expect(call);
        assert_eq!(
            &lines[at + 1..at + 7],
            &[
                "    buffer 0: 5 bytes",
                "    0000  66 69 72 73 74                                    |first|",
                "    buffer 1: 7 bytes",
                "    0000  73 65 63 6f 6e 64 21                              |second!|",
                "    buffer 2: 1 bytes",
                "    0000  33                                                |3|",
            ],
            "{}",
            t.trace
        );
    }
    let at = lines
        .iter()
        .position(|l| l.starts_with("writev("))
        .expect("writev");
    assert_eq!(lines[at + 1], "    buffer 0: 2 bytes");
    assert_eq!(lines[at + 3], "    buffer 1: 3 bytes");
    assert!(lines[at + 4].ends_with("|cde|"), "{}", t.trace);
    // JSON: one base64 blob with the message sizes.
    let t = run_traced(&["--max-data", "64"], &[&prog], T);
    let m = &t.calls("sendmmsg")[0]["data"];
    assert_eq!(m["buffers"], serde_json::json!([5, 7, 1]));
    assert_eq!(m["total"], 13);
}

/// sendmmsg/recvmmsg become one packet per message, and writev one packet
/// of both buffers, in the capture as in the hex dump.
#[test]
fn pcap_has_one_packet_per_mmsg_message() {
    let prog = compile_c("mmsg", &["-O2"]);
    let Some((pcap, t)) = traced_to_pcap("pcap-mmsg", &[&prog]) else {
        return;
    };
    assert_eq!(t.stdout, "3 3 5\n");
    let out = tshark_read(
        &pcap,
        &["-T", "fields", "-e", "frame.comment", "-e", "data.data"],
    );
    let packets: Vec<(String, String)> = out
        .lines()
        .filter_map(|l| {
            let (c, d) = l.split_once('\t')?;
            let call = c.split_whitespace().nth(4)?.to_string();
            Some((call, d.to_string()))
        })
        .collect();
    let want: Vec<(String, String)> = [
        ("sendmmsg", "6669727374"),
        ("sendmmsg", "7365636f6e6421"),
        ("sendmmsg", "33"),
        ("recvmmsg", "6669727374"),
        ("recvmmsg", "7365636f6e6421"),
        ("recvmmsg", "33"),
        ("writev", "6162636465"),
    ]
    .iter()
    .map(|(c, d)| (c.to_string(), d.to_string()))
    .collect();
    assert_eq!(packets, want, "{out}");
}
