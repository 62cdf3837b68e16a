//! Moving bytes: the send and receive calls, read/write and their vector
//! forms, sendfile. Each attaches the captured payload to the event.

use super::{addr, arg, f, fd, flags, iarg, int_list, int_result, timeout_blob};
use crate::value::{Event, Payload, Value};
use sock_trace_event::func::Direction;
use sock_trace_event::{role, Func, Record, Tag};
use sock_trace_xlat as x;

/// Decodes one call of this family into `ev`.
pub(super) fn decode(rec: &Record<'_>, ev: &mut Event) {
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
                ev.args.push(f("addr", addr(rec, role::ADDR, arg(rec, 4))));
            }
            if ev.func == Recvfrom && ret >= 0 && arg(rec, 4) != 0 {
                ev.returned = vec![f("addr", addr(rec, role::ADDR_OUT, arg(rec, 4)))];
            }
            payload(rec, ev);
        }
        Sendmsg | Recvmsg => {
            ev.args = vec![f("fd", fd(rec, 0))];
            let out = ev.func.direction() == Direction::Sends;
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
            let r = if ev.func.direction() == Direction::Sends {
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
        // Calls of other families are dispatched elsewhere (`calls::decode`).
        _ => {}
    }
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
