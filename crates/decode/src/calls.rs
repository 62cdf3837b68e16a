//! One decoder per traced function family, following docs/RECORDS.md.

use crate::sockaddr;
use crate::sockopt;
use crate::value::{ErrorInfo, ErrorSpace, Event, Field, Outcome, Payload, Value};
use crate::{Decoder, SocketInfo};
use sock_trace_event::{role, Func, Record, Tag};
use sock_trace_xlat::{self as x, Xlat};

pub(crate) fn sym(t: &Xlat, v: i64) -> Value {
    match t.lookup(v as u64) {
        Some(name) => Value::Sym { name, raw: v },
        None => Value::Unknown(v),
    }
}

pub(crate) fn flags(t: &Xlat, v: u64) -> Value {
    let (names, rest) = t.flags(v);
    Value::Flags {
        names,
        rest,
        raw: v,
    }
}

/// `SOCK_STREAM|SOCK_NONBLOCK|SOCK_CLOEXEC`.
pub(crate) fn sock_type(v: i64) -> Value {
    let v = v as u32 as u64;
    let base = v & 0xf;
    let (mut names, rest) = x::SOCK_FLAGS.flags(v & !0xf);
    match x::SOCK_TYPE.lookup(base) {
        Some(n) => {
            names.insert(0, n);
            Value::Flags {
                names,
                rest,
                raw: v,
            }
        }
        None => Value::Flags {
            names,
            rest: rest | base,
            raw: v,
        },
    }
}

fn errno_error(ret: i64, e: i32) -> Outcome {
    Outcome::Err(ErrorInfo {
        ret,
        space: ErrorSpace::Errno,
        code: e as i64,
        name: x::errno_name(e),
        text: x::errno_text(e),
    })
}

/// -1 and errno, or `ok(ret)`.
fn result(rec: &Record<'_>, ok: impl FnOnce(i64) -> Value) -> Outcome {
    let r = rec.header.ret;
    if r == -1 {
        errno_error(r, rec.header.errno)
    } else {
        Outcome::Ok(ok(r))
    }
}

fn int_result(rec: &Record<'_>) -> Outcome {
    result(rec, Value::Int)
}

fn fd_result(rec: &Record<'_>) -> Outcome {
    result(rec, |r| Value::Fd(r as i32))
}

fn arg(rec: &Record<'_>, i: usize) -> u64 {
    rec.header.args.get(i).copied().unwrap_or(0)
}

fn iarg(rec: &Record<'_>, i: usize) -> i64 {
    arg(rec, i) as i32 as i64
}

fn fd(rec: &Record<'_>, i: usize) -> Value {
    Value::Fd(arg(rec, i) as i32)
}

fn f(name: &'static str, value: Value) -> Field {
    Field::new(name, value)
}

/// An address argument: decoded, NULL, or unreadable.
fn addr(rec: &Record<'_>, role: u8, ptr: u64) -> Value {
    match rec.find(Tag::SockAddr, role).and_then(sockaddr::decode) {
        Some(a) => Value::Addr(a),
        None if ptr == 0 => Value::Ptr(0),
        None => Value::Unavailable("unreadable"),
    }
}

fn string(rec: &Record<'_>, role: u8, ptr: u64) -> Value {
    match rec.str(role) {
        Some(s) => Value::Str(s.to_vec()),
        None if ptr == 0 => Value::Ptr(0),
        None => Value::Unavailable("unreadable"),
    }
}

fn timeout_ms(ms: i64) -> Value {
    if ms < 0 {
        Value::Infinite
    } else {
        Value::Duration(ms as u64 * 1_000_000)
    }
}

/// A timespec/timeval captured as (sec, nsec); absent with a NULL pointer
/// means "wait forever".
fn timeout_blob(rec: &Record<'_>, ptr: u64) -> Value {
    match rec.ints(role::TIMEOUT) {
        Some(t) => Value::Duration(
            (t.get(0).max(0) as u64)
                .saturating_mul(1_000_000_000)
                .saturating_add(t.get(1).max(0) as u64),
        ),
        None if ptr == 0 => Value::Infinite,
        None => Value::Unavailable("unreadable"),
    }
}

fn int_list(rec: &Record<'_>, role: u8) -> Option<Value> {
    rec.ints(role)
        .map(|i| Value::List(i.iter().map(Value::Int).collect()))
}

fn payload(rec: &Record<'_>, ev: &mut Event) {
    for (r, outgoing) in [(role::DATA_OUT, true), (role::DATA_IN, false)] {
        if let Some(d) = rec.find(Tag::Bytes, r) {
            let mut total = rec.header.ret.max(0) as u64;
            // Buffer sizes as far as the bytes moved reached.
            let mut buffers = Vec::new();
            if let Some(lens) = rec.ints(role::MMSG) {
                // sendmmsg/recvmmsg: one buffer per message, as long as
                // the message (the result counts messages, not bytes).
                buffers = lens.iter().map(|l| l.max(0) as u64).collect();
                total = buffers.iter().sum();
            } else if let Some(lens) = rec.ints(role::IOV_LENS) {
                let mut left = total;
                for l in lens.iter() {
                    if left == 0 {
                        break;
                    }
                    let take = (l.max(0) as u64).min(left);
                    buffers.push(take);
                    left -= take;
                }
            }
            ev.data = Some(Payload {
                outgoing,
                shown: d.to_vec(),
                total,
                buffers,
            });
        }
    }
}

pub(crate) fn decode(dec: &mut Decoder, rec: &Record<'_>, ev: &mut Event) {
    use Func::*;
    let pid = rec.header.pid;
    let ret = rec.header.ret;
    match ev.func {
        Pad | Module => {}
        ProcLeave => {
            ev.args = vec![
                f(
                    "reason",
                    Value::Int(arg(rec, 0).min(i64::MAX as u64) as i64),
                ),
                f("exe", string(rec, role::EXE, 1)),
            ];
        }
        ProcStart => {
            // args[1] is 1 when the record comes from the child side of a
            // fork, 0 for a new program image.
            let ppid = dec.process_started(pid, arg(rec, 0) as u32, arg(rec, 1) == 1);
            ev.args = vec![
                f("ppid", Value::Int(ppid as i64)),
                f("exe", string(rec, role::EXE, 1)),
            ];
            if let Some(argv) = rec.str(role::ARGV) {
                let list = argv
                    .split(|&b| b == 0)
                    .map(|a| Value::Str(a.to_vec()))
                    .collect();
                ev.args.push(f("argv", Value::List(list)));
            }
        }
        // The count is whatever the producer wrote: shown unsigned.
        Lost => {
            ev.args = vec![f(
                "count",
                Value::Int(arg(rec, 0).min(i64::MAX as u64) as i64),
            )]
        }
        Socket => {
            let (d, t, p) = (iarg(rec, 0), iarg(rec, 1), iarg(rec, 2));
            ev.args = vec![
                f("domain", sym(&x::AF, d)),
                f("type", sock_type(t)),
                f("protocol", protocol(d, p)),
            ];
            ev.outcome = fd_result(rec);
            if ret >= 0 {
                dec.note_socket(
                    pid,
                    ret as i32,
                    SocketInfo::of_kind(d as i32, t as i32 & 0xf, p as i32),
                );
            }
        }
        Socketpair => {
            let (d, t, p) = (iarg(rec, 0), iarg(rec, 1), iarg(rec, 2));
            ev.args = vec![
                f("domain", sym(&x::AF, d)),
                f("type", sock_type(t)),
                f("protocol", protocol(d, p)),
            ];
            ev.outcome = int_result(rec);
            if let Some(fds) = rec.ints(role::FDS_OUT) {
                let info = SocketInfo::of_kind(d as i32, t as i32 & 0xf, p as i32);
                for fdv in fds.iter() {
                    dec.note_socket(pid, fdv as i32, info.clone());
                }
                ev.returned = vec![f(
                    "sv",
                    Value::List(fds.iter().map(|v| Value::Fd(v as i32)).collect()),
                )];
            }
        }
        Connect | Bind => {
            ev.args = vec![
                f("fd", fd(rec, 0)),
                f("addr", addr(rec, role::ADDR, arg(rec, 1))),
                f("addrlen", Value::Int(arg(rec, 2) as u32 as i64)),
            ];
            ev.outcome = int_result(rec);
        }
        Listen => {
            ev.args = vec![f("fd", fd(rec, 0)), f("backlog", Value::Int(iarg(rec, 1)))];
            ev.outcome = int_result(rec);
        }
        Accept | Accept4 => {
            ev.args = vec![f("fd", fd(rec, 0))];
            if ev.func == Accept4 {
                ev.args
                    .push(f("flags", flags(&x::SOCK_FLAGS, arg(rec, 3) as u32 as u64)));
            }
            ev.outcome = fd_result(rec);
            if ret >= 0 {
                if let Some(info) = dec.socket_info(pid, arg(rec, 0) as i32) {
                    dec.note_socket(
                        pid,
                        ret as i32,
                        SocketInfo::of_kind(info.domain, info.ty, info.protocol),
                    );
                }
                if arg(rec, 1) != 0 {
                    ev.returned = vec![f("peer", addr(rec, role::ADDR_OUT, arg(rec, 1)))];
                }
            }
        }
        Shutdown => {
            ev.args = vec![f("fd", fd(rec, 0)), f("how", sym(&x::SHUT, iarg(rec, 1)))];
            ev.outcome = int_result(rec);
        }
        Getsockname | Getpeername => {
            ev.args = vec![f("fd", fd(rec, 0))];
            ev.outcome = int_result(rec);
            if ret == 0 {
                ev.returned = vec![f("addr", addr(rec, role::ADDR_OUT, arg(rec, 1)))];
            }
        }
        Close => {
            ev.args = vec![f("fd", fd(rec, 0))];
            ev.outcome = int_result(rec);
            dec.forget(pid, arg(rec, 0) as i32);
        }
        CloseRange | Closefrom => {
            let (first, last, fl) = (arg(rec, 0) as u32, arg(rec, 1) as u32, arg(rec, 2) as u32);
            if ev.func == CloseRange {
                ev.args = vec![
                    f("first", Value::Fd(first as i32)),
                    f(
                        "last",
                        if last == u32::MAX {
                            Value::Hex(last as u64)
                        } else {
                            Value::Fd(last as i32)
                        },
                    ),
                    f("flags", flags(&x::CLOSE_RANGE_FLAGS, fl as u64)),
                ];
            } else {
                ev.args = vec![f("lowfd", Value::Fd(first as i32))];
            }
            ev.outcome = int_result(rec);
            // CLOSE_RANGE_CLOEXEC only marks them.
            if ret == 0 && fl & 4 == 0 {
                dec.forget_range(pid, first, last);
            }
        }
        Dup => {
            ev.args = vec![f("fd", fd(rec, 0))];
            ev.outcome = fd_result(rec);
            if ret >= 0 {
                dec.duplicate(pid, arg(rec, 0) as i32, ret as i32);
            }
        }
        Dup2 | Dup3 => {
            ev.args = vec![f("oldfd", fd(rec, 0)), f("newfd", fd(rec, 1))];
            if ev.func == Dup3 {
                ev.args
                    .push(f("flags", flags(&x::O_FLAGS, arg(rec, 2) as u32 as u64)));
            }
            ev.outcome = fd_result(rec);
            if ret >= 0 {
                dec.duplicate(pid, arg(rec, 0) as i32, ret as i32);
            }
        }
        Setsockopt | Getsockopt => {
            let (level, name) = (iarg(rec, 1), iarg(rec, 2));
            let level_v = match x::level_name(level as i32) {
                Some(n) => Value::Sym {
                    name: n,
                    raw: level,
                },
                None => Value::Unknown(level),
            };
            let name_v = match x::sockopt_table(level as i32) {
                Some(t) => sym(t, name),
                None => Value::Unknown(name),
            };
            let val = rec.find(Tag::Bytes, role::OPTVAL);
            let decoded = val.map(|b| sockopt::value(level as i32, name as i32, b));
            ev.args = vec![
                f("fd", fd(rec, 0)),
                f("level", level_v),
                f("optname", name_v),
            ];
            ev.outcome = int_result(rec);
            if ev.func == Setsockopt {
                let v = decoded.unwrap_or(if arg(rec, 3) == 0 {
                    Value::Ptr(0)
                } else {
                    Value::Unavailable("unreadable")
                });
                ev.args.push(f("optval", v));
                ev.args
                    .push(f("optlen", Value::Int(arg(rec, 4) as u32 as i64)));
            } else if ret == 0 {
                if let Some(v) = decoded {
                    ev.returned = vec![
                        f("optval", v),
                        f("optlen", Value::Int(arg(rec, 5) as u32 as i64)),
                    ];
                }
            }
        }
        Fcntl => {
            let cmd = iarg(rec, 1) as i32;
            let a = arg(rec, 2);
            ev.args = vec![
                f("fd", fd(rec, 0)),
                f("cmd", sym(&x::FCNTL_CMD, cmd as i64)),
            ];
            match cmd {
                libc::F_SETFL => ev.args.push(f("arg", flags(&x::O_FLAGS, a as u32 as u64))),
                libc::F_SETFD => ev.args.push(f("arg", flags(&x::FD_FLAGS, a as u32 as u64))),
                libc::F_GETFL
                | libc::F_GETFD
                | libc::F_GETOWN
                | 11
                | libc::F_GETLEASE
                | libc::F_GETPIPE_SZ => {}
                libc::F_DUPFD
                | libc::F_DUPFD_CLOEXEC
                | libc::F_SETOWN
                | 10
                | libc::F_SETPIPE_SZ => ev.args.push(f("arg", Value::Int(a as i32 as i64))),
                _ => ev.args.push(f("arg", Value::Hex(a))),
            }
            ev.outcome = match cmd {
                libc::F_GETFL => result(rec, |r| flags(&x::O_FLAGS, r as u32 as u64)),
                libc::F_GETFD => result(rec, |r| flags(&x::FD_FLAGS, r as u32 as u64)),
                libc::F_DUPFD | libc::F_DUPFD_CLOEXEC => {
                    if ret >= 0 {
                        dec.duplicate(pid, arg(rec, 0) as i32, ret as i32);
                    }
                    fd_result(rec)
                }
                _ => int_result(rec),
            };
        }
        Ioctl => {
            let req = arg(rec, 1) as u32 as u64;
            let req_v = x::IOCTL
                .lookup(req)
                .map_or(Value::Hex(req), |n| Value::Sym {
                    name: n,
                    raw: req as i64,
                });
            ev.args = vec![f("fd", fd(rec, 0)), f("request", req_v)];
            ev.outcome = int_result(rec);
            if let Some(v) = rec.ints(role::ARG_VAL) {
                let field = if req == libc::FIONBIO as u64 || req == libc::FIOASYNC as u64 {
                    "arg"
                } else {
                    "value"
                };
                if field == "arg" {
                    ev.args.push(f("arg", Value::Int(v.get(0))));
                } else {
                    ev.returned = vec![f("value", Value::Int(v.get(0)))];
                }
            }
        }
        Send | Sendto | Recv | Recvfrom => {
            ev.args = vec![
                f("fd", fd(rec, 0)),
                f("len", Value::Int(arg(rec, 2) as i64)),
                f("flags", flags(&x::MSG, arg(rec, 3) as u32 as u64)),
            ];
            ev.outcome = int_result(rec);
            if ev.func == Sendto && arg(rec, 4) != 0 {
                ev.args.push(f("addr", addr(rec, role::ADDR, arg(rec, 4))));
            }
            if ev.func == Recvfrom && ret >= 0 && arg(rec, 4) != 0 {
                ev.returned = vec![f("addr", addr(rec, role::ADDR_OUT, arg(rec, 4)))];
            }
            payload(rec, ev);
        }
        Sendmsg | Recvmsg => {
            ev.args = vec![f("fd", fd(rec, 0))];
            let out = ev.func == Sendmsg;
            if let Some(m) = rec.ints(role::MSGHDR) {
                let mut msg = Vec::new();
                let r = if out { role::ADDR } else { role::ADDR_OUT };
                if m.get(0) > 0 || rec.find(Tag::SockAddr, r).is_some() {
                    msg.push(f("name", addr(rec, r, 1)));
                }
                if let Some(l) = int_list(rec, role::IOV_LENS) {
                    msg.push(f("iov", l));
                }
                msg.push(f("controllen", Value::Int(m.get(2))));
                if let Some(c) = rec.find(Tag::Bytes, role::CONTROL) {
                    msg.push(f("control", crate::cmsg::control(c)));
                }
                if !out {
                    msg.push(f("flags", flags(&x::MSG, m.get(3) as u32 as u64)));
                }
                let field = f("msg", Value::Struct(msg));
                if out || ret < 0 {
                    ev.args.push(field);
                } else {
                    ev.returned = vec![field];
                }
            } else if arg(rec, 1) == 0 {
                ev.args.push(f("msg", Value::Ptr(0)));
            } else {
                ev.args.push(f("msg", Value::Unavailable("unreadable")));
            }
            ev.args
                .push(f("flags", flags(&x::MSG, arg(rec, 2) as u32 as u64)));
            ev.outcome = int_result(rec);
            payload(rec, ev);
        }
        Sendmmsg | Recvmmsg => {
            ev.args = vec![
                f("fd", fd(rec, 0)),
                f("vlen", Value::Int(arg(rec, 2) as u32 as i64)),
                f("flags", flags(&x::MSG, arg(rec, 3) as u32 as u64)),
            ];
            if ev.func == Recvmmsg {
                ev.args.push(f("timeout", timeout_blob(rec, arg(rec, 4))));
            }
            ev.outcome = int_result(rec);
            let mut ret_fields = Vec::new();
            if let Some(l) = int_list(rec, role::MMSG) {
                ret_fields.push(f("msg_len", l));
            }
            let r = if ev.func == Sendmmsg {
                role::ADDR
            } else {
                role::ADDR_OUT
            };
            if rec.find(Tag::SockAddr, r).is_some() {
                ret_fields.push(f("first_addr", addr(rec, r, 1)));
            }
            ev.returned = ret_fields;
            payload(rec, ev);
        }
        Write | Read => {
            ev.args = vec![
                f("fd", fd(rec, 0)),
                f("count", Value::Int(arg(rec, 2) as i64)),
            ];
            ev.outcome = int_result(rec);
            payload(rec, ev);
        }
        Writev | Readv => {
            let iov = int_list(rec, role::IOV_LENS).unwrap_or(if arg(rec, 1) == 0 {
                Value::Ptr(0)
            } else {
                Value::Unavailable("unreadable")
            });
            ev.args = vec![
                f("fd", fd(rec, 0)),
                f("iov", iov),
                f("iovcnt", Value::Int(iarg(rec, 2))),
            ];
            ev.outcome = int_result(rec);
            payload(rec, ev);
        }
        Sendfile => {
            ev.args = vec![
                f("out_fd", fd(rec, 0)),
                f("in_fd", fd(rec, 1)),
                f("count", Value::Int(arg(rec, 3) as i64)),
            ];
            ev.outcome = int_result(rec);
            if let Some(o) = rec.ints(role::ARG_VAL) {
                ev.returned = vec![f("offset", Value::Int(o.get(0)))];
            }
        }
        Select | Pselect => {
            let fd_list = |set: &[u8]| -> Value {
                Value::List(
                    (0..set.len() * 8)
                        .filter(|i| set[i / 8] & (1 << (i % 8)) != 0)
                        .map(|i| Value::Fd(i as i32))
                        .collect(),
                )
            };
            ev.args = vec![f("nfds", Value::Int(iarg(rec, 0)))];
            for (i, (r, name)) in [
                (role::FDS_READ_IN, "readfds"),
                (role::FDS_WRITE_IN, "writefds"),
                (role::FDS_EXCEPT_IN, "exceptfds"),
            ]
            .into_iter()
            .enumerate()
            {
                let value = match rec.find(Tag::FdSet, r) {
                    Some(set) => fd_list(set),
                    None if arg(rec, 1 + i) == 0 => Value::Ptr(0),
                    None => Value::Unavailable("unreadable"),
                };
                ev.args.push(f(name, value));
            }
            ev.args.push(f("timeout", timeout_blob(rec, arg(rec, 4))));
            ev.outcome = int_result(rec);
            for (r, name) in [
                (role::FDS_READ, "readfds"),
                (role::FDS_WRITE, "writefds"),
                (role::FDS_EXCEPT, "exceptfds"),
            ] {
                if let Some(set) = rec.find(Tag::FdSet, r) {
                    let fds = fd_list(set);
                    if !matches!(&fds, Value::List(l) if l.is_empty()) {
                        ev.returned.push(f(name, fds));
                    }
                }
            }
        }
        Poll | Ppoll => {
            let entries: Vec<(i32, u16, u16)> = rec
                .find(Tag::PollFds, 0)
                .map(|b| {
                    b.chunks_exact(8)
                        .map(|c| {
                            (
                                i32::from_ne_bytes([c[0], c[1], c[2], c[3]]),
                                u16::from_ne_bytes([c[4], c[5]]),
                                u16::from_ne_bytes([c[6], c[7]]),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            let list = entries
                .iter()
                .map(|&(pfd, events, _)| {
                    Value::Struct(vec![
                        f("fd", Value::Fd(pfd)),
                        f("events", flags(&x::POLL, events as u64)),
                    ])
                })
                .collect();
            let timeout = if ev.func == Poll {
                timeout_ms(iarg(rec, 2))
            } else {
                timeout_blob(rec, arg(rec, 2))
            };
            ev.args = vec![
                f("fds", Value::List(list)),
                f("nfds", Value::Int(arg(rec, 1) as i64)),
                f("timeout", timeout),
            ];
            ev.outcome = int_result(rec);
            if ret > 0 {
                let ready = entries
                    .iter()
                    .filter(|e| e.2 != 0)
                    .map(|&(pfd, _, revents)| {
                        Value::Struct(vec![
                            f("fd", Value::Fd(pfd)),
                            f("revents", flags(&x::POLL, revents as u64)),
                        ])
                    })
                    .collect();
                ev.returned = vec![f("ready", Value::List(ready))];
            }
        }
        EpollCreate => {
            ev.args = vec![f("size", Value::Int(iarg(rec, 0)))];
            ev.outcome = fd_result(rec);
        }
        EpollCreate1 => {
            ev.args = vec![f(
                "flags",
                flags(&x::EPOLL_FLAGS, arg(rec, 0) as u32 as u64),
            )];
            ev.outcome = fd_result(rec);
        }
        EpollCtl => {
            ev.args = vec![
                f("epfd", fd(rec, 0)),
                f("op", sym(&x::EPOLL_CTL, iarg(rec, 1))),
                f("fd", fd(rec, 2)),
            ];
            if let Some(e) = rec
                .find(Tag::EpollEvents, role::EPOLL_EVENT)
                .and_then(|b| epoll_events(b).into_iter().next())
            {
                ev.args.push(f("event", e));
            }
            ev.outcome = int_result(rec);
        }
        EpollWait | EpollPwait => {
            ev.args = vec![
                f("epfd", fd(rec, 0)),
                f("maxevents", Value::Int(iarg(rec, 2))),
                f("timeout", timeout_ms(iarg(rec, 3))),
            ];
            ev.outcome = int_result(rec);
            if let Some(b) = rec.find(Tag::EpollEvents, 0) {
                ev.returned = vec![f("events", Value::List(epoll_events(b)))];
            }
        }
        Getaddrinfo => resolve_getaddrinfo(rec, ev),
        Freeaddrinfo => {
            ev.args = vec![f("res", Value::Ptr(arg(rec, 0)))];
            ev.outcome = Outcome::Void;
        }
        Getnameinfo => {
            ev.args = vec![
                f("addr", addr(rec, role::ADDR, arg(rec, 0))),
                f("flags", flags(&x::NI_FLAGS, arg(rec, 4) as u32 as u64)),
            ];
            ev.outcome = eai_outcome(rec);
            if ret == 0 {
                if let Some(h) = rec.str(role::HOST_OUT) {
                    ev.returned.push(f("host", Value::Str(h.to_vec())));
                }
                if let Some(s) = rec.str(role::SERV_OUT) {
                    ev.returned.push(f("serv", Value::Str(s.to_vec())));
                }
            }
        }
        Gethostbyname | Gethostbyname2 | GethostbynameR | Gethostbyname2R => {
            ev.args = vec![f("name", string(rec, role::NODE, arg(rec, 0)))];
            if ev.func == Gethostbyname2 || ev.func == Gethostbyname2R {
                ev.args.push(f("af", sym(&x::AF, iarg(rec, 1))));
            }
            hostent_outcome(rec, ev);
        }
        Gethostbyaddr | GethostbyaddrR => {
            let a = rec
                .find(Tag::Bytes, role::ADDR)
                .and_then(sockaddr::ip)
                .map_or(Value::Unavailable("unreadable"), Value::Ip);
            ev.args = vec![
                f("addr", a),
                f("len", Value::Int(arg(rec, 1) as u32 as i64)),
                f("type", sym(&x::AF, iarg(rec, 2))),
            ];
            hostent_outcome(rec, ev);
        }
        Getservbyname | Getservbyport => {
            if ev.func == Getservbyname {
                ev.args = vec![f("name", string(rec, role::NODE, arg(rec, 0)))];
            } else {
                ev.args = vec![f(
                    "port",
                    Value::Int(u16::from_be(arg(rec, 0) as u16) as i64),
                )];
            }
            ev.args
                .push(f("proto", string(rec, role::PROTO, arg(rec, 1))));
            ent_outcome(rec, ev, "servent", |rec, fields| {
                fields.push(f(
                    "port",
                    Value::Int(rec.ints(role::ENT_INFO).map_or(0, |i| i.get(0))),
                ));
                if let Some(p) = rec.str(role::SERV_OUT) {
                    fields.push(f("proto", Value::Str(p.to_vec())));
                }
            });
        }
        Getprotobyname | Getprotobynumber => {
            ev.args = if ev.func == Getprotobyname {
                vec![f("name", string(rec, role::NODE, arg(rec, 0)))]
            } else {
                vec![f("proto", Value::Int(iarg(rec, 0)))]
            };
            ent_outcome(rec, ev, "protoent", |rec, fields| {
                fields.push(f(
                    "proto",
                    Value::Int(rec.ints(role::ENT_INFO).map_or(0, |i| i.get(0))),
                ));
            });
        }
        Htons | Ntohs => {
            ev.args = vec![f("value", Value::Int(arg(rec, 0) as u16 as i64))];
            ev.outcome = Outcome::Ok(Value::Int(ret as u16 as i64));
        }
        Htonl | Ntohl => {
            ev.args = vec![f("value", Value::Int(arg(rec, 0) as u32 as i64))];
            ev.outcome = Outcome::Ok(Value::Int(ret as u32 as i64));
        }
        InetAddr => {
            ev.args = vec![f("cp", string(rec, role::TEXT, arg(rec, 0)))];
            ev.outcome = if ret as u32 == u32::MAX {
                Outcome::Ok(Value::Sym {
                    name: "INADDR_NONE",
                    raw: -1,
                })
            } else {
                Outcome::Ok(Value::Ip(
                    std::net::Ipv4Addr::from(u32::from_be(ret as u32)).into(),
                ))
            };
        }
        InetAton | InetPton => {
            if ev.func == InetPton {
                ev.args = vec![
                    f("af", sym(&x::AF, iarg(rec, 0))),
                    f("src", string(rec, role::TEXT, arg(rec, 1))),
                ];
            } else {
                ev.args = vec![f("cp", string(rec, role::TEXT, arg(rec, 0)))];
            }
            ev.outcome = if ret == -1 {
                errno_error(ret, rec.header.errno)
            } else {
                Outcome::Ok(Value::Int(ret))
            };
            if let Some(ip) = rec.find(Tag::Bytes, role::ADDR_OUT).and_then(sockaddr::ip) {
                ev.returned = vec![f("addr", Value::Ip(ip))];
            }
        }
        InetNtoa => {
            ev.args = vec![f(
                "in",
                Value::Ip(std::net::Ipv4Addr::from(u32::from_be(arg(rec, 0) as u32)).into()),
            )];
            ev.outcome = Outcome::Ok(string(rec, role::TEXT, ret as u64));
        }
        InetNtop => {
            let a = rec
                .find(Tag::Bytes, role::ADDR)
                .and_then(sockaddr::ip)
                .map_or(Value::Unavailable("unreadable"), Value::Ip);
            ev.args = vec![
                f("af", sym(&x::AF, iarg(rec, 0))),
                f("src", a),
                f("size", Value::Int(arg(rec, 3) as u32 as i64)),
            ];
            ev.outcome = if ret == 0 {
                errno_error(0, rec.header.errno)
            } else {
                Outcome::Ok(string(rec, role::TEXT, ret as u64))
            };
        }
    }
}

/// The protocol argument; 0 means "the default for this family and type".
fn protocol(domain: i64, p: i64) -> Value {
    if p == 0 && (domain == libc::AF_INET as i64 || domain == libc::AF_INET6 as i64) {
        return Value::Sym {
            name: "IPPROTO_IP",
            raw: 0,
        };
    }
    if domain == libc::AF_INET as i64 || domain == libc::AF_INET6 as i64 {
        return sym(&x::IPPROTO, p);
    }
    Value::Int(p)
}

fn epoll_events(b: &[u8]) -> Vec<Value> {
    b.chunks_exact(12)
        .map(|c| {
            let events = u32::from_ne_bytes([c[0], c[1], c[2], c[3]]);
            let data = u64::from_ne_bytes([c[4], c[5], c[6], c[7], c[8], c[9], c[10], c[11]]);
            Value::Struct(vec![
                f("events", flags(&x::EPOLL_EVENTS, events as u64)),
                f("data", Value::Hex(data)),
            ])
        })
        .collect()
}

fn eai_outcome(rec: &Record<'_>) -> Outcome {
    let r = rec.header.ret;
    if r == 0 {
        return Outcome::Ok(Value::Int(0));
    }
    let code = r as i32;
    if code == libc::EAI_SYSTEM {
        let e = rec.header.errno;
        return Outcome::Err(ErrorInfo {
            ret: r,
            space: ErrorSpace::Eai,
            code: r,
            name: Some("EAI_SYSTEM"),
            text: x::errno_text(e),
        });
    }
    Outcome::Err(ErrorInfo {
        ret: r,
        space: ErrorSpace::Eai,
        code: r,
        name: x::eai_name(code),
        text: x::eai_text(code),
    })
}

fn resolve_getaddrinfo(rec: &Record<'_>, ev: &mut Event) {
    ev.args = vec![
        f("node", string(rec, role::NODE, arg(rec, 0))),
        f("service", string(rec, role::SERVICE, arg(rec, 1))),
    ];
    let hints = match rec.ints(role::HINTS) {
        Some(h) => Value::Struct(vec![
            f("flags", flags(&x::AI_FLAGS, h.get(0) as u32 as u64)),
            f("family", sym(&x::AF, h.get(1))),
            f(
                "socktype",
                if h.get(2) == 0 {
                    Value::Int(0)
                } else {
                    sock_type(h.get(2))
                },
            ),
            f(
                "protocol",
                if h.get(3) == 0 {
                    Value::Int(0)
                } else {
                    sym(&x::IPPROTO, h.get(3))
                },
            ),
        ]),
        None if arg(rec, 2) == 0 => Value::Ptr(0),
        None => Value::Unavailable("unreadable"),
    };
    ev.args.push(f("hints", hints));
    ev.outcome = eai_outcome(rec);
    if rec.header.ret != 0 {
        return;
    }
    // Results: each AI is followed by its AI_ADDR and optional CANON.
    let mut results: Vec<Vec<Field>> = Vec::new();
    for b in rec.blobs() {
        match (b.tag, b.role) {
            (Tag::Ints, role::AI) => {
                let i = sock_trace_event::record::Ints(b.data);
                results.push(vec![
                    f("family", sym(&x::AF, i.get(1))),
                    f("socktype", sock_type(i.get(2))),
                    f("protocol", sym(&x::IPPROTO, i.get(3))),
                ]);
            }
            (Tag::SockAddr, role::AI_ADDR) => {
                if let (Some(r), Some(a)) = (results.last_mut(), sockaddr::decode(b.data)) {
                    r.push(f("addr", Value::Addr(a)));
                }
            }
            (Tag::Str, role::CANON) => {
                if let Some(r) = results.last_mut() {
                    r.push(f("canonname", Value::Str(b.data.to_vec())));
                }
            }
            _ => {}
        }
    }
    ev.returned = vec![f(
        "res",
        Value::List(results.into_iter().map(Value::Struct).collect()),
    )];
}

/// hostent results: the pointer (or the _r functions' error code), and the
/// entry's name, aliases and addresses.
fn hostent_outcome(rec: &Record<'_>, ev: &mut Event) {
    let reentrant = matches!(
        ev.func,
        Func::GethostbynameR | Func::Gethostbyname2R | Func::GethostbyaddrR
    );
    let r = rec.header.ret;
    let herr = rec.header.errno;
    let found = rec.str(role::ENT_NAME).is_some();
    ev.outcome = if reentrant {
        if r != 0 {
            errno_error(r, r as i32)
        } else if !found {
            Outcome::Err(ErrorInfo {
                ret: 0,
                space: ErrorSpace::HErrno,
                code: herr as i64,
                name: x::h_errno_name(herr),
                text: x::h_errno_text(herr),
            })
        } else {
            Outcome::Ok(Value::Int(0))
        }
    } else if r == 0 {
        Outcome::Err(ErrorInfo {
            ret: 0,
            space: ErrorSpace::HErrno,
            code: herr as i64,
            name: x::h_errno_name(herr),
            text: x::h_errno_text(herr),
        })
    } else {
        Outcome::Ok(Value::Ptr(r as u64))
    };
    if !found {
        return;
    }
    let mut fields = vec![f(
        "name",
        Value::Str(rec.str(role::ENT_NAME).unwrap_or_default().to_vec()),
    )];
    let aliases: Vec<Value> = rec
        .blobs()
        .filter(|b| b.tag == Tag::Str && b.role == role::ENT_ALIAS)
        .map(|b| Value::Str(b.data.to_vec()))
        .collect();
    if !aliases.is_empty() {
        fields.push(f("aliases", Value::List(aliases)));
    }
    if let Some(info) = rec.ints(role::ENT_INFO) {
        fields.push(f("addrtype", sym(&x::AF, info.get(0))));
    }
    let addrs = rec
        .blobs()
        .filter(|b| b.tag == Tag::Bytes && b.role == role::ENT_ADDR)
        .filter_map(|b| sockaddr::ip(b.data))
        .map(Value::Ip)
        .collect();
    fields.push(f("addrs", Value::List(addrs)));
    ev.returned = vec![f("hostent", Value::Struct(fields))];
}

/// servent/protoent results: NULL or the entry.
fn ent_outcome(
    rec: &Record<'_>,
    ev: &mut Event,
    what: &'static str,
    extra: impl FnOnce(&Record<'_>, &mut Vec<Field>),
) {
    let r = rec.header.ret;
    if r == 0 {
        ev.outcome = Outcome::Ok(Value::Ptr(0));
        return;
    }
    ev.outcome = Outcome::Ok(Value::Ptr(r as u64));
    let Some(name) = rec.str(role::ENT_NAME) else {
        return;
    };
    let mut fields = vec![f("name", Value::Str(name.to_vec()))];
    extra(rec, &mut fields);
    let aliases: Vec<Value> = rec
        .blobs()
        .filter(|b| b.tag == Tag::Str && b.role == role::ENT_ALIAS)
        .map(|b| Value::Str(b.data.to_vec()))
        .collect();
    if !aliases.is_empty() {
        fields.push(f("aliases", Value::List(aliases)));
    }
    ev.returned = vec![f(what, Value::Struct(fields))];
}
