//! Options and descriptor control: setsockopt/getsockopt (values decoded
//! by level and name in `sockopt`), fcntl and ioctl.

use super::{arg, f, fd, fd_result, flags, iarg, int_result, result, sym, Ctx};
use crate::sockopt;
use crate::value::{Event, Outcome, Value};
use sock_trace_event::{role, Func, Tag};
use sock_trace_xlat as x;

/// Decodes one call of this family into `ev`.
pub(super) fn decode(rec: &Ctx<'_, '_>, ev: &mut Event) {
    use Func::*;
    let ret = rec.header.ret;
    match ev.func {
        Setsockopt | Getsockopt => {
            let (level, name) = (iarg(rec, 1), iarg(rec, 2));
            let level_v = match rec.t.level_name(level as i32) {
                Some(n) => Value::Sym {
                    name: n,
                    raw: level,
                },
                None => Value::Unknown(level),
            };
            let name_v = match rec.t.option_table(level as i32) {
                Some(t) => sym(t, name),
                None => Value::Unknown(name),
            };
            let val = rec.find(Tag::Bytes, role::OPTVAL);
            let decoded = val.map(|b| sockopt::value(rec.t, level as i32, name as i32, b));
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
                        ev.core.change = super::socket::duplicated(rec);
                    }
                    fd_result(rec)
                }
                _ => int_result(rec),
            };
        }
        // Winsock's ioctlsocket: the same shape (request names are Linux's
        // for now: Winsock's show in hex).
        Ioctl | Ioctlsocket => {
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
        // WSAStartup returns its error (also in `errno`): wVersionRequested.
        WsaStartup => {
            let v = arg(rec, 0);
            ev.args = vec![f("version", Value::Hex(v))];
            ev.outcome = if ret == 0 {
                Outcome::Ok(Value::Int(0))
            } else {
                super::errno_error(rec.t, ret, ret as i32)
            };
        }
        WsaCleanup => ev.outcome = int_result(rec),
        // Calls of other families are dispatched elsewhere (`calls::decode`).
        _ => {}
    }
}
