//! Moving bytes: the send and receive calls, read/write and their vector
//! forms, sendfile. Each attaches the captured payload to the event.

use super::{addr, arg, f, fd, flags, iarg, int_list, int_result, sockaddr_of, timeout_blob, Ctx};
use crate::value::{CallFlags, Event, Io, Payload, Value};
use sock_trace_event::func::Direction;
use sock_trace_event::{role, Func, Record, Tag};
use sock_trace_xlat as x;

/// Decodes one call of this family into `ev`.
pub(super) fn decode(rec: &Ctx<'_, '_>, ev: &mut Event) {
    use Func::*;
    let ret = rec.header.ret;
    match ev.func {
        Send | Sendto | Recv | Recvfrom => {
            ev.args = vec![
                f("fd", fd(rec, 0)),
                f("len", Value::Int(arg(rec, 2) as i64)),
                f("flags", flags(&x::MSG, arg(rec, 3) as u32 as u64)),
            ];
            ev.outcome = int_result(rec);
            if ev.func == Sendto && arg(rec, 4) != 0 {
                let a = addr(rec, role::ADDR, arg(rec, 4));
                ev.core.peer = sockaddr_of(&a);
                ev.args.push(f("addr", a));
            }
            if ev.func == Recvfrom && ret >= 0 && arg(rec, 4) != 0 {
                let a = addr(rec, role::ADDR_OUT, arg(rec, 4));
                ev.core.peer = sockaddr_of(&a);
                ev.returned = vec![f("addr", a)];
            }
            moved(rec, ev, arg(rec, 3));
        }
        Sendmsg | Recvmsg => {
            ev.args = vec![f("fd", fd(rec, 0))];
            let out = ev.func.direction() == Direction::Sends;
            if let Some(m) = rec.ints(role::MSGHDR) {
                let mut msg = Vec::new();
                let r = if out { role::ADDR } else { role::ADDR_OUT };
                if m.get(0) > 0 || rec.find(Tag::SockAddr, r).is_some() {
                    let a = addr(rec, r, 1);
                    ev.core.peer = sockaddr_of(&a);
                    msg.push(f("name", a));
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
            moved(rec, ev, arg(rec, 2));
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
            let r = if ev.func.direction() == Direction::Sends {
                role::ADDR
            } else {
                role::ADDR_OUT
            };
            if rec.find(Tag::SockAddr, r).is_some() {
                let a = addr(rec, r, 1);
                ev.core.peer = sockaddr_of(&a);
                ret_fields.push(f("first_addr", a));
            }
            ev.returned = ret_fields;
            moved(rec, ev, arg(rec, 3));
        }
        Write | Read => {
            ev.args = vec![
                f("fd", fd(rec, 0)),
                f("count", Value::Int(arg(rec, 2) as i64)),
            ];
            ev.outcome = int_result(rec);
            moved(rec, ev, 0);
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
            moved(rec, ev, 0);
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
            moved(rec, ev, 0);
        }
        // Calls of other families are dispatched elsewhere (`calls::decode`).
        _ => {}
    }
}

/// The bytes the call moved (typed, for the summary and the capture), a
/// receive that only peeked (`call_flags`: the call's own MSG_* flags, not
/// what recvmsg returned in msg_flags), and the captured payload.
fn moved(rec: &Ctx<'_, '_>, ev: &mut Event, call_flags: u64) {
    let ret = rec.header.ret;
    let bytes = match rec.ints(role::MMSG) {
        // The result counts messages; their lengths are the bytes.
        Some(lens) if ret >= 0 => lens.iter().map(|l| l.max(0) as u64).sum(),
        _ => ret.max(0) as u64,
    };
    ev.core.io = Some(Io {
        direction: ev.func.direction(),
        bytes,
    });
    let may_peek = matches!(
        ev.func,
        Func::Recv | Func::Recvfrom | Func::Recvmsg | Func::Recvmmsg
    );
    if may_peek && call_flags as u32 as u64 & libc::MSG_PEEK as u64 != 0 {
        ev.core.flags.insert(CallFlags::PEEKED);
    }
    payload(rec, ev);
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
