//! A Rust std::net program for crates/winsock/tests/inject.rs: std links
//! ws2_32 itself (no drop-in possible), so only `sock-trace.exe run`'s
//! injection traces it. One TCP loopback exchange, then exit code 6.
//! `cargo xtask windows` builds it for Windows (test-only, like the
//! ProcessPrng stub); it is plain std and builds anywhere.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

fn main() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("local_addr");
    let mut client = TcpStream::connect(addr).expect("connect");
    let (mut server, _) = listener.accept().expect("accept");
    client.write_all(b"from std").expect("write");
    let mut buf = [0u8; 16];
    let n = server.read(&mut buf).expect("read");
    println!("std: received {n}");
    std::process::exit(if n == 8 { 6 } else { 1 });
}
