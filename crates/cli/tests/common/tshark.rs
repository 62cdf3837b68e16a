//! tshark for the capture tests (cli and pcap): whether it is here, the
//! arguments of a field query, and the bytes of a `follow,tcp,raw` report.
//!
//! Shared by the `tests/common` of cli and pcap through `#[path]`.

#![allow(dead_code)]

use std::process::{Command, Stdio};

/// Whether tshark runs here. When it does not, says `SKIPPED` (or, under
/// `SOCK_TRACE_REQUIRE_DATA`, fails the test) and the caller returns.
pub fn have_tshark() -> bool {
    // Looked up on PATH first so a missing tool is a skip, not a spawn
    // failure.
    let ok = super::on_path("tshark")
        && Command::new("tshark")
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .is_ok_and(|o| o.status.success());
    if !ok {
        super::skip("tshark is not installed", "apt-get install -y tshark");
    }
    ok
}

/// `-Y filter -T fields -e field...`: one line a packet, the fields
/// separated by tabs. An empty `filter` selects every packet.
pub fn fields<'a>(filter: &'a str, fields: &[&'a str]) -> Vec<&'a str> {
    let mut args = Vec::new();
    if !filter.is_empty() {
        args.extend(["-Y", filter]);
    }
    args.extend(["-T", "fields"]);
    for f in fields {
        args.extend(["-e", *f]);
    }
    args
}

/// The payload lines of `-q -z follow,tcp,raw,0`, decoded back to bytes:
/// (from node 0, bytes) per change of direction. `raw` mode prints each
/// chunk as hex, the peer's chunks indented with a tab.
pub fn follow_raw(out: &str) -> Vec<(bool, Vec<u8>)> {
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
