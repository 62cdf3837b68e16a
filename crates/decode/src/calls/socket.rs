//! Socket setup and teardown: socket, socketpair, connect, bind, listen,
//! accept, shutdown, the name queries, close and the dup family. These are
//! the calls whose [`SocketChange`] teaches the socket table which
//! descriptors are sockets and what their ends are.

use super::{
    addr, arg, f, fd, fd_result, flags, iarg, int_result, sock_type, sockaddr_of, sym, Ctx,
};
use crate::value::{Event, SocketChange, Value};
use sock_trace_event::{role, Func};
use sock_trace_xlat::{self as x, PlatformTables};

/// Decodes one call of this family into `ev`.
pub(super) fn decode(rec: &Ctx<'_, '_>, ev: &mut Event) {
    use Func::*;
    let ret = rec.header.ret;
    match ev.func {
        Socket | Socketpair => {
            let (d, t, p) = (iarg(rec, 0), iarg(rec, 1), iarg(rec, 2));
            ev.args = vec![
                f("domain", sym(rec.t.af, d)),
                f("type", sock_type(t)),
                f("protocol", protocol(rec.t, d, p)),
            ];
            if ev.func == Socket {
                ev.outcome = fd_result(rec);
                if ret >= 0 {
                    ev.core.change = created(vec![ret as i32], d, t, p);
                }
            } else {
                ev.outcome = int_result(rec);
                if let Some(fds) = rec.ints(role::FDS_OUT) {
                    ev.core.change = created(fds.iter().map(|v| v as i32).collect(), d, t, p);
                    ev.returned = vec![f(
                        "sv",
                        Value::List(fds.iter().map(|v| Value::Fd(v as i32)).collect()),
                    )];
                }
            }
        }
        Connect | Bind => {
            let a = addr(rec, role::ADDR, arg(rec, 1));
            let named = match &a {
                Value::Addr(a) => Some(a.clone()),
                _ => None,
            };
            ev.args = vec![
                f("fd", fd(rec, 0)),
                f("addr", a),
                f("addrlen", Value::Int(arg(rec, 2) as u32 as i64)),
            ];
            ev.outcome = int_result(rec);
            let in_progress = ret == -1 && rec.header.errno == libc::EINPROGRESS;
            if ev.func == Connect {
                ev.core.peer = named;
                if ret == 0 || in_progress {
                    ev.core.change = SocketChange::Connected;
                }
            } else if ret == 0 {
                ev.core.local = named;
                ev.core.change = SocketChange::Bound;
            }
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
                ev.core.change = SocketChange::Accepted { fd: ret as i32 };
                let mut peer = None;
                if arg(rec, 1) != 0 {
                    let a = addr(rec, role::ADDR_OUT, arg(rec, 1));
                    peer = sockaddr_of(&a);
                    ev.returned = vec![f("peer", a)];
                }
                // Without an address buffer the hooks ask for the peer.
                ev.core.peer = peer.or_else(|| rec.sockaddr(role::PEER_ADDR));
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
                let a = addr(rec, role::ADDR_OUT, arg(rec, 1));
                if ev.func == Getsockname {
                    ev.core.local = sockaddr_of(&a);
                    ev.core.change = SocketChange::LocalNamed;
                } else {
                    ev.core.peer = sockaddr_of(&a);
                    ev.core.change = SocketChange::PeerNamed;
                }
                ev.returned = vec![f("addr", a)];
            }
        }
        // Winsock's close of a socket.
        Close | Closesocket => {
            ev.args = vec![f("fd", fd(rec, 0))];
            ev.outcome = int_result(rec);
            ev.core.change = SocketChange::Closed {
                fd: arg(rec, 0) as i32,
            };
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
                ev.core.change = SocketChange::ClosedRange { first, last };
            }
        }
        Dup => {
            ev.args = vec![f("fd", fd(rec, 0))];
            ev.outcome = fd_result(rec);
            if ret >= 0 {
                ev.core.change = duplicated(rec);
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
                ev.core.change = duplicated(rec);
            }
        }
        // Calls of other families are dispatched elsewhere (`calls::decode`).
        _ => {}
    }
}

fn created(fds: Vec<i32>, domain: i64, ty: i64, protocol: i64) -> SocketChange {
    SocketChange::Created {
        fds,
        domain: domain as i32,
        ty: ty as i32 & 0xf,
        protocol: protocol as i32,
    }
}

/// dup and its kin, fcntl(F_DUPFD): the result is what `args[0]` is.
pub(super) fn duplicated(rec: &Ctx<'_, '_>) -> SocketChange {
    SocketChange::Duplicated {
        old: arg(rec, 0) as i32,
        new: rec.header.ret as i32,
    }
}

/// The protocol argument; 0 means "the default for this family and type".
fn protocol(t: &PlatformTables, domain: i64, p: i64) -> Value {
    let ip = domain == t.af_inet as i64 || domain == t.af_inet6 as i64;
    if p == 0 && ip {
        return Value::Sym {
            name: "IPPROTO_IP",
            raw: 0,
        };
    }
    if ip {
        return sym(&x::IPPROTO, p);
    }
    Value::Int(p)
}
