//! The typed core of decoded events (`Event::core`) and the socket table
//! that applies it: records in, built as the hooks build them, and the
//! facts the summary, capture and router read out. These are the fields
//! those stages depend on; the value tree is checked by the family tables.

use sock_trace_decode::{CallFlags, Decoder, SockAddr, SocketChange};
use sock_trace_event::func::Direction;
use sock_trace_event::record::{role, Record};
use sock_trace_event::{platform, Backend, Func, Platform, Tag};

#[allow(dead_code)]
#[path = "../benches/common/mod.rs"]
mod common;

use common::{record, PID};

fn sin(ip: [u8; 4], port: u16) -> [u8; 16] {
    let mut a = [0u8; 16];
    a[0..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
    a[2..4].copy_from_slice(&port.to_be_bytes());
    a[4..8].copy_from_slice(&ip);
    a
}

fn v4(ip: [u8; 4], port: u16) -> SockAddr {
    SockAddr::V4 {
        ip: ip.into(),
        port,
    }
}

fn decode(dec: &mut Decoder, bytes: &[u8]) -> sock_trace_decode::Event {
    dec.decode(&Record::parse(bytes).expect("well-formed"))
        .expect("an event")
}

fn udp_socket(dec: &mut Decoder, fd: i64) {
    let ev = decode(
        dec,
        &record(
            Func::Socket,
            &[
                libc::AF_INET as u64,
                (libc::SOCK_DGRAM | libc::SOCK_CLOEXEC) as u64,
                0,
            ],
            fd,
            0,
            |_| {},
        ),
    );
    assert_eq!(
        ev.core.change,
        SocketChange::Created {
            fds: vec![fd as i32],
            domain: libc::AF_INET,
            ty: libc::SOCK_DGRAM,
            protocol: 0
        }
    );
}

/// A fresh decoder that saw a UDP socket 3 and then a failed connect of
/// it to 127.0.0.9:`port` with `errno`, the hooks adding `local`.
fn failed_connect(port: u16, errno: i32, local: Option<[u8; 16]>) -> sock_trace_decode::Event {
    let mut dec = Decoder::new();
    udp_socket(&mut dec, 3);
    let rec = record(Func::Connect, &[3, 0x1000, 16], -1, errno, |w| {
        w.blob(Tag::SockAddr, role::ADDR, &sin([127, 0, 0, 9], port));
        if let Some(l) = local {
            w.blob(Tag::SockAddr, role::LOCAL_ADDR, &l);
        }
    });
    decode(&mut dec, &rec)
}

#[test]
fn a_connect_in_progress_teaches_the_table_its_peer_and_local_end() {
    let ev = failed_connect(53, libc::EINPROGRESS, Some(sin([127, 0, 0, 1], 40000)));
    assert_eq!(ev.core.fd, Some(3));
    assert_eq!(ev.core.errno, Some(libc::EINPROGRESS));
    assert!(ev.has(CallFlags::IN_PROGRESS));
    assert_eq!(ev.core.change, SocketChange::Connected);
    let s = ev.socket.expect("the socket is known");
    assert_eq!(s.peer, Some(v4([127, 0, 0, 9], 53)));
    assert_eq!(s.local, Some(v4([127, 0, 0, 1], 40000)));
}

#[test]
fn a_refused_connect_names_its_peer_but_changes_nothing() {
    let ev = failed_connect(80, libc::ECONNREFUSED, None);
    assert_eq!(ev.core.peer, Some(v4([127, 0, 0, 9], 80)));
    assert_eq!(ev.core.change, SocketChange::None);
    assert!(!ev.has(CallFlags::IN_PROGRESS));
    assert_eq!(ev.socket.expect("known").peer, None);
}

#[test]
fn sends_and_receives_carry_bytes_direction_and_the_address_they_name() {
    let mut dec = Decoder::new();
    udp_socket(&mut dec, 3);
    let ev = decode(
        &mut dec,
        &record(Func::Sendto, &[3, 0x2000, 5, 0, 0x3000, 16], 5, 0, |w| {
            w.blob(Tag::SockAddr, role::ADDR, &sin([127, 0, 0, 2], 9))
        }),
    );
    assert_eq!(ev.core.peer, Some(v4([127, 0, 0, 2], 9)));
    let io = ev.core.io.expect("bytes moved");
    assert_eq!((io.direction, io.bytes), (Direction::Sends, 5));
    // A sendto does not connect the socket.
    assert_eq!(ev.socket.expect("known").peer, None);

    let ev = decode(
        &mut dec,
        &record(
            Func::Recv,
            &[3, 0x2000, 100, libc::MSG_PEEK as u64],
            7,
            0,
            |_| {},
        ),
    );
    assert!(ev.has(CallFlags::PEEKED));
    assert_eq!(ev.core.io.expect("io").bytes, 7);

    let ev = decode(
        &mut dec,
        &record(
            Func::Recvfrom,
            &[3, 0x2000, 100, 0, 0, 0],
            -1,
            libc::EAGAIN,
            |_| {},
        ),
    );
    assert_eq!(ev.core.io.expect("io").bytes, 0);
    assert_eq!(ev.core.errno, Some(libc::EAGAIN));
    assert!(!ev.has(CallFlags::PEEKED));

    // sendmmsg counts messages; the bytes are their lengths.
    let ev = decode(
        &mut dec,
        &record(Func::Sendmmsg, &[3, 0x2000, 2, 0], 2, 0, |w| {
            w.ints(role::MMSG, &[10, 32]);
        }),
    );
    assert_eq!(ev.core.io.expect("io").bytes, 42);
}

#[test]
fn accept_dup_close_and_close_range_keep_the_table_right() {
    let mut dec = Decoder::new();
    let tcp = record(
        Func::Socket,
        &[libc::AF_INET as u64, libc::SOCK_STREAM as u64, 0],
        3,
        0,
        |_| {},
    );
    decode(&mut dec, &tcp);
    decode(
        &mut dec,
        &record(Func::Bind, &[3, 0x1000, 16], 0, 0, |w| {
            w.blob(Tag::SockAddr, role::ADDR, &sin([127, 0, 0, 1], 8080))
        }),
    );
    // accept(fd, NULL, NULL): the hooks add the peer.
    let ev = decode(
        &mut dec,
        &record(Func::Accept, &[3, 0, 0], 4, 0, |w| {
            w.blob(Tag::SockAddr, role::PEER_ADDR, &sin([127, 0, 0, 7], 5555))
        }),
    );
    assert_eq!(ev.core.change, SocketChange::Accepted { fd: 4 });
    let s = ev.socket.expect("the accepted socket");
    assert_eq!(s.ty, libc::SOCK_STREAM);
    assert_eq!(s.peer, Some(v4([127, 0, 0, 7], 5555)));
    // The listener's local end, for lack of a better one.
    assert_eq!(s.local, Some(v4([127, 0, 0, 1], 8080)));

    decode(&mut dec, &record(Func::Dup2, &[4, 9], 9, 0, |_| {}));
    assert_eq!(dec.socket_info(PID, 9).expect("dup").peer, s.peer);

    let ev = decode(&mut dec, &record(Func::Close, &[4], 0, 0, |_| {}));
    assert_eq!(ev.socket.expect("state before close").peer, s.peer);
    assert!(dec.socket_info(PID, 4).is_none());
    assert!(dec.socket_info(PID, 9).is_some());

    decode(
        &mut dec,
        &record(Func::CloseRange, &[5, u32::MAX as u64, 0], 0, 0, |_| {}),
    );
    assert!(dec.socket_info(PID, 9).is_none());
    assert!(dec.socket_info(PID, 3).is_some());
}

#[test]
fn a_forked_child_inherits_sockets_and_an_adopted_exec_keeps_its_real_parent() {
    let mut dec = Decoder::new();
    udp_socket(&mut dec, 3);
    let child = PID + 1;
    let start = |dec: &mut Decoder, ppid: u32, forked: bool, origin: u64| {
        let mut r = record(
            Func::ProcStart,
            &[ppid as u64, forked as u64, origin],
            0,
            0,
            |w| {
                w.blob(Tag::Str, role::EXE, b"/usr/bin/prog");
                w.blob(Tag::Str, role::ARGV, b"prog\0-v");
            },
        );
        // The record builder stamps PID; this one is the child's.
        r[8..12].copy_from_slice(&child.to_ne_bytes());
        decode(dec, &r)
    };
    let ev = start(&mut dec, PID, true, 0);
    let p = ev.proc_start().expect("a process start");
    assert_eq!((p.ppid, p.forked), (PID, true));
    assert_eq!(p.exe.as_deref(), Some(&b"/usr/bin/prog"[..]));
    assert_eq!(p.argv, Some(vec![b"prog".to_vec(), b"-v".to_vec()]));
    assert_eq!((p.platform, p.backend), (Platform::Linux, Backend::Preload));
    // The child execs after its parent exited: init (1) adopted it.
    let ev = start(
        &mut dec,
        1,
        false,
        platform::encode(Platform::Linux, Backend::Syscall),
    );
    let p = ev.proc_start().expect("a process start");
    assert_eq!(p.ppid, PID, "the parent it was forked by");
    assert_eq!(p.backend, Backend::Syscall);
    assert_eq!(
        dec.sockets().origin(child),
        (Platform::Linux, Backend::Syscall)
    );
    assert!(
        dec.socket_info(child, 3).is_some(),
        "inherited at fork, kept at exec"
    );
}

/// A record of process `pid` (the builder stamps [`PID`]).
fn of_pid(mut r: Vec<u8>, pid: u32) -> Vec<u8> {
    r[8..12].copy_from_slice(&pid.to_ne_bytes());
    r[12..16].copy_from_slice(&pid.to_ne_bytes());
    r
}

#[test]
fn each_process_is_decoded_with_the_tables_of_its_platform() {
    use sock_trace_decode::{Outcome, Value};
    let mut dec = Decoder::new();
    let win = PID + 10;
    let origin = platform::encode(Platform::Windows, Backend::WinsockDll);
    decode(
        &mut dec,
        &of_pid(record(Func::ProcStart, &[1, 0, origin], 0, 0, |_| {}), win),
    );
    assert_eq!(
        dec.sockets().origin(win),
        (Platform::Windows, Backend::WinsockDll)
    );
    // socket(AF_INET6 = 23, SOCK_STREAM, IPPROTO_TCP) on Windows; 23 is
    // no family on Linux.
    let socket = |pid| {
        of_pid(
            record(
                Func::Socket,
                &[23, libc::SOCK_STREAM as u64, 6],
                5,
                0,
                |_| {},
            ),
            pid,
        )
    };
    let sym = |name, raw| Value::Sym { name, raw };
    let ev = decode(&mut dec, &socket(win));
    assert_eq!(ev.args[0].value, sym("AF_INET6", 23));
    assert_eq!(ev.args[2].value, sym("IPPROTO_TCP", 6));
    // The same number in a Linux process is Linux's AF_IRDA.
    let ev = decode(&mut dec, &socket(PID));
    assert_eq!(ev.args[0].value, sym("AF_IRDA", 23));

    // A Winsock sockaddr_in6 (family 23) and a WSAECONNREFUSED failure.
    let mut sin6 = [0u8; 28];
    sin6[0..2].copy_from_slice(&23u16.to_le_bytes());
    sin6[2..4].copy_from_slice(&443u16.to_be_bytes());
    sin6[23] = 1;
    let ev = decode(
        &mut dec,
        &of_pid(
            record(Func::Connect, &[5, 0x1000, 28], -1, 10061, |w| {
                w.blob(Tag::SockAddr, role::ADDR, &sin6)
            }),
            win,
        ),
    );
    assert_eq!(
        ev.core.peer,
        Some(SockAddr::V6 {
            ip: std::net::Ipv6Addr::LOCALHOST,
            port: 443,
            flowinfo: 0,
            scope_id: 0
        })
    );
    match &ev.outcome {
        Outcome::Err(e) => {
            assert_eq!(e.name, Some("WSAECONNREFUSED"));
            assert_eq!(e.text, Some("Connection refused"));
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    assert_eq!(ev.core.errno, Some(10061));
}

#[test]
fn a_process_that_exited_is_forgotten_and_a_reused_pid_starts_from_its_parent() {
    let mut dec = Decoder::new();
    let other = PID + 7;
    // Process `other` had socket 3 and exited; the collector forgets it.
    udp_socket(&mut dec, 3);
    let start = |pid: u32, ppid: u32| {
        of_pid(
            record(Func::ProcStart, &[ppid as u64, 1, 0], 0, 0, |_| {}),
            pid,
        )
    };
    decode(&mut dec, &start(other, PID));
    assert!(dec.socket_info(other, 3).is_some(), "inherited from PID");
    assert!(dec.sockets().pids().contains(&other));
    dec.process_exited(other);
    assert!(!dec.sockets().pids().contains(&other));
    assert!(dec.socket_info(other, 3).is_none());
    // Without process_exited, a reused pid forked by a parent with no
    // sockets must not see the dead process's descriptors either.
    let lonely = PID + 8;
    decode(&mut dec, &start(other, PID));
    assert!(dec.socket_info(other, 3).is_some());
    decode(&mut dec, &start(other, lonely));
    assert!(
        dec.socket_info(other, 3).is_none(),
        "a forked process has its parent's descriptors only"
    );
}
