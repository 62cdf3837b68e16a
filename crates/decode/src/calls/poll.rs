//! Waiting for readiness: select, poll and epoll, with the descriptor sets
//! asked for and the ones that came back ready.

use super::{arg, f, fd, fd_result, flags, iarg, int_result, sym, timeout_blob, timeout_ms, Ctx};
use crate::value::{Event, Value};
use sock_trace_event::{role, Func, Tag};
use sock_trace_xlat as x;

/// Decodes one call of this family into `ev`.
pub(super) fn decode(rec: &Ctx<'_, '_>, ev: &mut Event) {
    use Func::*;
    let ret = rec.header.ret;
    match ev.func {
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
        // Calls of other families are dispatched elsewhere (`calls::decode`).
        _ => {}
    }
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
