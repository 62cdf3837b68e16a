//! A Rust program using std's networking: TCP client and server threads,
//! UDP, and name resolution through `ToSocketAddrs` (getaddrinfo).
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs, UdpSocket};

fn main() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).unwrap();
        s.write_all(b"pong").unwrap();
    });
    let addr = ("localhost", port).to_socket_addrs().unwrap().find(|a| a.is_ipv4()).unwrap();
    let mut c = TcpStream::connect(addr).unwrap();
    c.write_all(b"ping").unwrap();
    let mut buf = [0u8; 4];
    c.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"pong");
    server.join().unwrap();

    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    u.send_to(b"dgram", u.local_addr().unwrap()).unwrap();
    let mut d = [0u8; 16];
    let (n, _) = u.recv_from(&mut d).unwrap();
    assert_eq!(&d[..n], b"dgram");
    println!("rust ok");
}
