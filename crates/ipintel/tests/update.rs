//! Updates from a local HTTP server on 127.0.0.1 (never the internet).
#![cfg(feature = "update")]

mod common;

use sock_trace_ipintel::libloc::LocDb;
use sock_trace_ipintel::update::download;
use std::io::{Read, Write};
use std::net::TcpListener;

/// Serves `body` to `requests` clients, then stops.
fn serve(body: Vec<u8>, requests: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(requests) {
            let mut s = stream.unwrap();
            let mut req = [0u8; 2048];
            let _ = s.read(&mut req);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(head.as_bytes());
            let _ = s.write_all(&body);
        }
    });
    format!("http://{addr}")
}

#[test]
fn downloads_xz_verifies_and_replaces() {
    let tiny = std::fs::read(common::fixture("libloc/tiny.db")).unwrap();
    let mut xz = Vec::new();
    lzma_rs::xz_compress(&mut std::io::Cursor::new(&tiny), &mut xz).unwrap();
    let url = serve(xz, 1);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("location.db");
    std::fs::write(&dest, b"old").unwrap();
    let mut calls = Vec::new();
    let size = download(
        &format!("{url}/location.db.xz"),
        &dest,
        &mut |got, total| calls.push((got, total)),
    )
    .unwrap();
    assert_eq!(size, tiny.len() as u64);
    assert_eq!(std::fs::read(&dest).unwrap(), tiny);
    let (last_got, last_total) = *calls.last().unwrap();
    assert_eq!(Some(last_got), last_total);
    let db = LocDb::open(&dest).unwrap();
    assert_eq!(
        db.lookup("192.0.2.1".parse().unwrap())
            .unwrap()
            .unwrap()
            .asn,
        Some(64500)
    );
    // No temporary files left behind.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn unusable_download_keeps_the_old_file() {
    let url = serve(b"<html>not a database</html>".to_vec(), 2);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("location.db");
    let old = std::fs::read(common::fixture("libloc/tiny.db")).unwrap();
    std::fs::write(&dest, &old).unwrap();
    let e = download(&format!("{url}/location.db.xz"), &dest, &mut |_, _| {}).unwrap_err();
    assert!(e.to_string().contains("not usable"), "{e}");
    assert_eq!(std::fs::read(&dest).unwrap(), old);
    let drop_dest = dir.path().join("drop_v4.json");
    assert!(download(&format!("{url}/drop_v4.json"), &drop_dest, &mut |_, _| {}).is_err());
    assert!(!drop_dest.exists());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn downloads_drop_json() {
    let body = b"{\"cidr\":\"1.10.16.0/20\",\"sblid\":\"SBL256894\",\"rir\":\"apnic\"}\n{\"type\":\"metadata\",\"timestamp\":1737114240,\"size\":60,\"records\":1}\n".to_vec();
    let url = serve(body, 1);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("drop_v4.json");
    download(&format!("{url}/drop_v4.json"), &dest, &mut |_, _| {}).unwrap();
    let mut d = sock_trace_ipintel::drop::DropList::default();
    d.load_file(&dest).unwrap();
    assert_eq!(
        d.lookup("1.10.17.1".parse().unwrap()).unwrap().sbl,
        "SBL256894"
    );
}
