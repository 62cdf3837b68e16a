//! Realistic records, built with the preload library's own writer
//! ([`RecordWriter`]) the way the hooks fill them (docs/RECORDS.md), for the
//! decode and print benchmarks. Shared: `crates/print/benches/print.rs`
//! includes this file by path, and so do the decode crate's table tests.

use sock_trace_event::record::{role, Record, RecordWriter};
use sock_trace_event::{Func, Tag};

pub const PID: u32 = 4242;
const LOCALHOST: [u8; 4] = [127, 0, 0, 1];

/// sockaddr_in for a.b.c.d:port, as the kernel lays it out.
pub fn sin(ip: [u8; 4], port: u16) -> [u8; 16] {
    let mut a = [0u8; 16];
    a[0..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
    a[2..4].copy_from_slice(&port.to_be_bytes());
    a[4..8].copy_from_slice(&ip);
    a
}

/// sockaddr_in6 for [2001:db8::1]:port.
fn sin6(port: u16) -> [u8; 28] {
    let mut a = [0u8; 28];
    a[0..2].copy_from_slice(&(libc::AF_INET6 as u16).to_ne_bytes());
    a[2..4].copy_from_slice(&port.to_be_bytes());
    a[8..24].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    a
}

/// A record as a hook writes it: header fields (pid [`PID`], fixed
/// times), then `fill` adds the blobs. Also used by the decode crate's
/// table tests.
pub fn record(
    func: Func,
    args: &[u64],
    ret: i64,
    errno: i32,
    fill: impl FnOnce(&mut RecordWriter),
) -> Vec<u8> {
    let mut buf = vec![0u8; 4096];
    let mut w = RecordWriter::new(&mut buf, func);
    {
        let h = w.header();
        h.pid = PID;
        h.tid = PID;
        h.t_start = 1_000_000_000;
        h.t_end = 1_000_012_345;
        h.ret = ret;
        h.errno = errno;
        h.args[..args.len()].copy_from_slice(args);
    }
    fill(&mut w);
    let n = w.finish();
    buf.truncate(n);
    buf
}

/// The blobs getaddrinfo's hook stores for a stream lookup of `node`,
/// service `http`: the hints (family `hints_family`), then one `ai` and its
/// `ai_addr` per answer, as (family, sockaddr).
pub fn getaddrinfo_blobs(
    w: &mut RecordWriter,
    node: &[u8],
    hints_family: i32,
    answers: &[(i32, &[u8])],
) {
    let stream = libc::SOCK_STREAM as i64;
    w.blob(Tag::Str, role::NODE, node);
    w.blob(Tag::Str, role::SERVICE, b"http");
    w.ints(role::HINTS, &[0, hints_family as i64, stream, 0]);
    for &(family, addr) in answers {
        w.ints(role::AI, &[0, family as i64, stream, 6]);
        w.blob(Tag::SockAddr, role::AI_ADDR, addr);
    }
}

/// (name, record bytes) for the calls a typical client makes, in an order
/// that lets the decoder's socket tracking see the socket created first.
pub fn records() -> Vec<(&'static str, Vec<u8>)> {
    let payload: Vec<u8> = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n".to_vec();
    vec![
        (
            "socket",
            record(
                Func::Socket,
                &[
                    libc::AF_INET as u64,
                    (libc::SOCK_STREAM | libc::SOCK_CLOEXEC) as u64,
                    6,
                ],
                3,
                0,
                |_| {},
            ),
        ),
        (
            "setsockopt",
            record(
                Func::Setsockopt,
                &[
                    3,
                    libc::IPPROTO_TCP as u64,
                    libc::TCP_NODELAY as u64,
                    0x7fff_0000,
                    4,
                ],
                0,
                0,
                |w| w.blob(Tag::Bytes, role::OPTVAL, &1i32.to_ne_bytes()),
            ),
        ),
        (
            "connect",
            record(Func::Connect, &[3, 0x7fff_1000, 16], 0, 0, |w| {
                w.blob(Tag::SockAddr, role::ADDR, &sin(LOCALHOST, 8080))
            }),
        ),
        (
            "connect_einprogress_v6",
            record(
                Func::Connect,
                &[3, 0x7fff_1000, 28],
                -1,
                libc::EINPROGRESS,
                |w| w.blob(Tag::SockAddr, role::ADDR, &sin6(443)),
            ),
        ),
        (
            "send",
            record(
                Func::Send,
                &[
                    3,
                    0x7fff_2000,
                    payload.len() as u64,
                    libc::MSG_NOSIGNAL as u64,
                ],
                payload.len() as i64,
                0,
                |w| w.blob(Tag::Bytes, role::DATA_OUT, &payload),
            ),
        ),
        (
            "recv",
            record(Func::Recv, &[3, 0x7fff_3000, 65536, 0], 32, 0, |w| {
                w.blob(Tag::Bytes, role::DATA_IN, &[b'x'; 32])
            }),
        ),
        (
            "recvfrom_eagain",
            record(
                Func::Recvfrom,
                &[3, 0x7fff_3000, 65536, libc::MSG_DONTWAIT as u64, 0, 0],
                -1,
                libc::EAGAIN,
                |_| {},
            ),
        ),
        (
            "poll",
            record(Func::Poll, &[0x7fff_4000, 2, 200], 1, 0, |w| {
                let mut fds = Vec::new();
                for (fd, ev, rev) in [
                    (3i32, libc::POLLIN, libc::POLLIN),
                    (5, libc::POLLIN | libc::POLLOUT, 0),
                ] {
                    fds.extend_from_slice(&fd.to_ne_bytes());
                    fds.extend_from_slice(&(ev as u16).to_ne_bytes());
                    fds.extend_from_slice(&(rev as u16).to_ne_bytes());
                }
                w.blob(Tag::PollFds, 0, &fds)
            }),
        ),
        (
            "getaddrinfo",
            record(
                Func::Getaddrinfo,
                &[
                    0x7fff_5000,
                    0x7fff_5100,
                    0x7fff_5200,
                    0x7fff_5300,
                    0x5555_0000,
                ],
                0,
                0,
                |w| {
                    let answers: [(i32, &[u8]); 2] = [
                        (libc::AF_INET6, &sin6(80)),
                        (libc::AF_INET, &sin(LOCALHOST, 80)),
                    ];
                    getaddrinfo_blobs(w, b"localhost", libc::AF_UNSPEC, &answers)
                },
            ),
        ),
        ("close", record(Func::Close, &[3], 0, 0, |_| {})),
    ]
}

pub fn parse(bytes: &[u8]) -> Record<'_> {
    Record::parse(bytes).expect("the writer's own records parse")
}

/// The `main` of the decode and print benchmarks, with the settings both
/// run with: half a second of warm-up, two seconds of measurement.
#[allow(unused_macros)]
macro_rules! bench_main {
    ($target:path) => {
        criterion::criterion_group! {
            name = benches;
            config = criterion::Criterion::default()
                .warm_up_time(std::time::Duration::from_millis(500))
                .measurement_time(std::time::Duration::from_secs(2));
            targets = $target
        }
        criterion::criterion_main!(benches);
    };
}
#[allow(unused_imports)]
pub(crate) use bench_main;
