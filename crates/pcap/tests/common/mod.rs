//! Scenarios shared by the structural and the tshark tests, so both check
//! the very same files.
#![allow(dead_code)] // each test binary uses a different subset

use sock_trace_pcap::{Endpoints, PcapWriter};

#[path = "../../../cli/tests/common/skip.rs"]
mod skip;
#[allow(unused_imports)]
pub use skip::*;
#[path = "../../../cli/tests/common/tshark.rs"]
mod tshark;
#[allow(unused_imports)]
pub use tshark::*;
#[path = "../../../cli/tests/common/wait.rs"]
mod wait;
#[allow(unused_imports)]
pub use wait::*;

pub const T0: u64 = 1_700_000_000_123_456_789;

pub const HTTP_REQUEST: &[u8] = b"GET /index.html HTTP/1.1\r\nHost: example.test\r\nUser-Agent: sock-trace-test\r\nAccept: */*\r\n\r\n";
pub const HTTP_RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 13\r\n\r\n<p>hello</p>\n";

pub struct Scenario {
    pub name: &'static str,
    pub bytes: Vec<u8>,
    /// Expected stream 0 content: (from_local, bytes) in order.
    pub exchange: Vec<(bool, Vec<u8>)>,
    pub local: String,
    pub peer: String,
}

/// Connection 1 between `local` and `peer`, opened by the local side
/// (`connect`) or the peer (accept), then the HTTP request from the side
/// that opened it and the response back: the writer, to end the
/// connection, and the expected stream. `calls` are the comments of the
/// open, the request and the response, at `times` after [`T0`].
fn http_exchange(
    local: &str,
    peer: &str,
    connect: bool,
    times: [u64; 3],
    calls: [&str; 3],
) -> (PcapWriter<Vec<u8>>, Vec<(bool, Vec<u8>)>) {
    let ends = Endpoints::ip(local.parse().unwrap(), peer.parse().unwrap());
    let mut w = PcapWriter::new(Vec::new(), "sock-trace-pcap tests").unwrap();
    w.connection_opened(1u64, &ends, connect, T0 + times[0], calls[0])
        .unwrap();
    let exchange = vec![
        (connect, HTTP_REQUEST.to_vec()),
        (!connect, HTTP_RESPONSE.to_vec()),
    ];
    for ((outgoing, bytes), (t, call)) in exchange.iter().zip(times[1..].iter().zip(&calls[1..])) {
        w.data(&1, *outgoing, bytes, T0 + t, call).unwrap();
    }
    (w, exchange)
}

fn http(name: &'static str, local: &str, peer: &str) -> Scenario {
    let (mut w, exchange) = http_exchange(
        local,
        peer,
        true,
        [0, 1_000_000, 2_500_000],
        [
            "pid 100 tid 100 connect(3, ...)",
            "pid 100 tid 100 send(3, ...)",
            "pid 100 tid 101 recv(3, ...)",
        ],
    );
    w.connection_closed(&1, false, T0 + 3_000_000, "pid 100 tid 100 close(3)")
        .unwrap();
    w.flush().unwrap();
    Scenario {
        name,
        bytes: w.into_inner(),
        exchange,
        local: local.to_string(),
        peer: peer.to_string(),
    }
}

pub fn http_v4() -> Scenario {
    http("http_v4", "192.0.2.10:51000", "198.51.100.7:80")
}

pub fn http_v6() -> Scenario {
    http("http_v6", "[2001:db8::10]:51000", "[2001:db8::80]:80")
}

/// DNS wire format (RFC 1035) for `name`, built by hand.
pub fn dns_name(name: &str) -> Vec<u8> {
    let mut v = Vec::new();
    for label in name.split('.') {
        v.push(label.len() as u8);
        v.extend_from_slice(label.as_bytes());
    }
    v.push(0);
    v
}

pub fn dns_query(id: u16, name: &str) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&id.to_be_bytes());
    v.extend_from_slice(&0x0100u16.to_be_bytes()); // RD
    v.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]); // 1 question
    v.extend_from_slice(&dns_name(name));
    v.extend_from_slice(&[0, 1, 0, 1]); // A, IN
    v
}

pub fn dns_response(id: u16, name: &str, addr: [u8; 4]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&id.to_be_bytes());
    v.extend_from_slice(&0x8180u16.to_be_bytes()); // QR RD RA, NOERROR
    v.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, 0]); // 1 question, 1 answer
    v.extend_from_slice(&dns_name(name));
    v.extend_from_slice(&[0, 1, 0, 1]);
    v.extend_from_slice(&[0xc0, 12]); // pointer to the question's name
    v.extend_from_slice(&[0, 1, 0, 1]);
    v.extend_from_slice(&300u32.to_be_bytes());
    v.extend_from_slice(&[0, 4]);
    v.extend_from_slice(&addr);
    v
}

pub fn dns_udp() -> Scenario {
    let ends = Endpoints::ip(
        "192.0.2.10:40000".parse().unwrap(),
        "192.0.2.53:53".parse().unwrap(),
    );
    let q = dns_query(0x1a2b, "example.com");
    let r = dns_response(0x1a2b, "example.com", [93, 184, 216, 34]);
    let mut w: PcapWriter<_> = PcapWriter::new(Vec::new(), "sock-trace-pcap tests").unwrap();
    w.datagram(&ends, true, &q, T0, "pid 7 tid 7 sendto(4, ...)")
        .unwrap();
    w.datagram(
        &ends,
        false,
        &r,
        T0 + 20_000_000,
        "pid 7 tid 7 recvfrom(4, ...)",
    )
    .unwrap();
    Scenario {
        name: "dns_udp",
        bytes: w.into_inner(),
        exchange: vec![(true, q), (false, r)],
        local: "192.0.2.10:40000".into(),
        peer: "192.0.2.53:53".into(),
    }
}

pub const UNIX_PATH: &str = "/run/sock-trace-test.sock";

pub fn unix_stream() -> Scenario {
    let mut w = PcapWriter::new(Vec::new(), "sock-trace-pcap tests").unwrap();
    let key = (42u32, 5i32, 0u32); // (pid, fd, generation)
    w.connection_opened(
        key,
        &Endpoints::unix("", UNIX_PATH),
        true,
        T0,
        "pid 42 tid 42 connect(5, ...)",
    )
    .unwrap();
    w.data(
        &key,
        true,
        b"PING hello\n",
        T0 + 10,
        "pid 42 tid 42 write(5, ...)",
    )
    .unwrap();
    w.data(
        &key,
        false,
        b"PONG hello\n",
        T0 + 20,
        "pid 42 tid 42 read(5, ...)",
    )
    .unwrap();
    w.connection_closed(&key, true, T0 + 30, "pid 42 tid 42 close(5)")
        .unwrap();
    // Documented mapping: unnamed first Unix connection -> port 49152.
    let peer_port = {
        let mut h: u32 = 0x811c_9dc5;
        for b in UNIX_PATH.bytes() {
            h ^= u32::from(b);
            h = h.wrapping_mul(0x0100_0193);
        }
        1024 + h % (49152 - 1024)
    };
    Scenario {
        name: "unix_stream",
        bytes: w.into_inner(),
        exchange: vec![
            (true, b"PING hello\n".to_vec()),
            (false, b"PONG hello\n".to_vec()),
        ],
        local: "127.85.0.1:49152".into(),
        peer: format!("127.85.0.2:{peer_port}"),
    }
}

/// Pseudo-random bytes, so misplaced segments would show.
pub fn noise(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

/// A connection already open when tracing started, with transfers large
/// enough to be split into segments and to need window ACKs.
pub fn big_adopted() -> Scenario {
    let ends = Endpoints::ip(
        "[::ffff:192.0.2.10]:52000".parse().unwrap(),
        "[::ffff:203.0.113.9]:8080".parse().unwrap(),
    );
    let up = noise(150_000, 7);
    let down = noise(70_001, 9);
    let mut w = PcapWriter::new(Vec::new(), "sock-trace-pcap tests").unwrap();
    w.connection_adopted(9u64, &ends);
    w.data(&9, true, &up, T0, "send").unwrap();
    w.data(&9, true, &up[..10], T0 + 1, "send").unwrap();
    w.data(&9, false, &down, T0 + 2, "recv").unwrap();
    w.connection_closed(&9, true, T0 + 3, "close").unwrap();
    Scenario {
        name: "big_adopted",
        bytes: w.into_inner(),
        exchange: vec![(true, [&up[..], &up[..10]].concat()), (false, down)],
        local: "192.0.2.10:52000".into(),
        peer: "203.0.113.9:8080".into(),
    }
}

/// The server side: accept(), request in, response out, then a reset.
pub fn http_accept() -> Scenario {
    let (mut w, exchange) = http_exchange(
        "192.0.2.80:8080",
        "198.51.100.20:43210",
        false,
        [0, 1_000, 2_000],
        [
            "pid 9 tid 9 accept(3, ...) = 4",
            "pid 9 tid 9 recv(4, ...)",
            "pid 9 tid 9 send(4, ...)",
        ],
    );
    w.connection_reset(
        &1,
        true,
        T0 + 3_000,
        "pid 9 tid 9 close(4) with SO_LINGER 0",
    )
    .unwrap();
    Scenario {
        name: "http_accept",
        bytes: w.into_inner(),
        exchange,
        local: "192.0.2.80:8080".into(),
        peer: "198.51.100.20:43210".into(),
    }
}

pub fn all() -> Vec<Scenario> {
    vec![
        http_v4(),
        http_v6(),
        dns_udp(),
        unix_stream(),
        big_adopted(),
        http_accept(),
    ]
}
