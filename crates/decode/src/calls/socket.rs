//! Socket setup and teardown: socket, socketpair, connect, bind, listen,
//! accept, shutdown, the name queries, close and the dup family. These are
//! the calls that teach the [`Decoder`] which descriptors are sockets.

use super::{addr, arg, f, fd, fd_result, flags, iarg, int_result, sock_type, sym};
use crate::value::{Event, Value};
use crate::{Decoder, SocketInfo};
use sock_trace_event::{role, Func, Record};
use sock_trace_xlat as x;

/// Decodes one call of this family into `ev`.
pub(super) fn decode(dec: &mut Decoder, rec: &Record<'_>, ev: &mut Event) {
    use Func::*;
    let pid = rec.header.pid;
    let ret = rec.header.ret;
    match ev.func {
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
        // Calls of other families are dispatched elsewhere (`calls::decode`).
        _ => {}
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
