//! The Winsock family (sock_trace.dll; docs/RECORDS.md, "Winsock"): the
//! WSA calls whose shape has no Linux counterpart. WSASocket, WSAConnect
//! and WSAAccept read as socket, connect and accept with their extra
//! arguments; the WSABUF byte movers as sendmsg/recvmsg (buffer lengths,
//! bytes, payload); an overlapped call that returned WSA_IO_PENDING shows
//! that, and its completion (WSAGetOverlappedResult, a completion routine)
//! shows the operation, the bytes and the payload. Winsock's constants
//! come from `sock_trace_xlat::winsock`.

use super::{addr, arg, errno_error, f, fd, flags, iarg, sockaddr_of, sym, timeout_ms, Ctx};
use crate::value::{Event, Io, Outcome, Payload, SocketChange, Value};
use sock_trace_event::func::Direction;
use sock_trace_event::{role, Func, Tag};
use sock_trace_xlat::winsock as xw;

const WSA_IO_PENDING: i32 = 997;

/// Decodes one call of this family into `ev`.
pub(super) fn decode(rec: &Ctx<'_, '_>, ev: &mut Event) {
    use Func::*;
    let ret = rec.header.ret;
    ev.core.fd = match ev.func {
        WsaSocket | WsaPoll => None,
        // The new socket AcceptEx fills.
        AcceptEx => Some(arg(rec, 1) as i32),
        _ => Some(arg(rec, 0) as i32),
    };
    match ev.func {
        // The BSD call's decoding, then what the WSA form adds.
        WsaSocket => {
            as_if(rec, ev, Socket);
            ev.args
                .push(f("flags", flags(&xw::WSA_FLAG, arg(rec, 5) as u32 as u64)));
        }
        WsaConnect => as_if(rec, ev, Connect),
        WsaAccept => as_if(rec, ev, Accept),
        WsaSend | WsaRecv | WsaSendTo | WsaRecvFrom => {
            let out = matches!(ev.func, WsaSend | WsaSendTo);
            ev.args = vec![f("s", fd(rec, 0)), f("buffers", buffers(rec))];
            ev.args.push(f("count", Value::Int(arg(rec, 2) as i64)));
            ev.args.push(f("flags", msg_flags(arg(rec, 3))));
            if ev.func == WsaSendTo {
                let a = addr(rec, role::ADDR, 1);
                ev.core.peer = sockaddr_of(&a);
                ev.args.push(f("to", a));
            }
            ev.args.push(f("overlapped", Value::Ptr(arg(rec, 4))));
            ev.args.push(f("routine", Value::Ptr(arg(rec, 5))));
            ev.outcome = status(rec);
            if let Some(v) = rec.ints(role::ARG_VAL) {
                ev.returned.push(f("bytes", Value::Int(v.get(0))));
                if !out {
                    ev.returned.push(f("flags", msg_flags(v.get(1) as u64)));
                }
                moved(rec, ev, out, v.get(0));
            }
            if ev.func == WsaRecvFrom && ret == 0 {
                if let Some(a) = rec.sockaddr(role::ADDR_OUT) {
                    ev.core.peer = Some(a.clone());
                    ev.returned.push(f("from", Value::Addr(a)));
                }
            }
        }
        WsaGetOverlappedResult | CompletionRoutine => {
            let op = if ev.func == CompletionRoutine {
                arg(rec, 2)
            } else {
                arg(rec, 3)
            };
            let op_v = Func::from_id(op as u16).filter(|_| op != 0).map_or(
                Value::Unavailable("unknown"),
                |o| Value::Sym {
                    name: o.name(),
                    raw: op as i64,
                },
            );
            ev.args = vec![f("s", fd(rec, 0)), f("overlapped", Value::Ptr(arg(rec, 1)))];
            let sends = [WsaSend as u64, WsaSendTo as u64, ConnectEx as u64].contains(&op);
            if ev.func == WsaGetOverlappedResult {
                ev.args.push(f("wait", Value::Int(iarg(rec, 2))));
                ev.outcome = boolean(rec);
                if let Some(v) = rec.ints(role::ARG_VAL) {
                    ev.returned = vec![
                        f("op", op_v),
                        f("bytes", Value::Int(v.get(0))),
                        f("flags", msg_flags(v.get(1) as u64)),
                    ];
                    moved(rec, ev, sends, v.get(0));
                }
            } else {
                // dwError in errno, cbTransferred in ret.
                ev.args.push(f("op", op_v));
                ev.outcome = if rec.header.errno == 0 {
                    Outcome::Ok(Value::Int(ret))
                } else {
                    errno_error(rec.t, ret, rec.header.errno)
                };
                moved(rec, ev, sends, ret);
            }
        }
        WsaPoll => {
            let entries: Vec<(i32, u16, u16)> = rec
                .find(Tag::PollFds, 0)
                .map(|b| {
                    b.chunks_exact(8)
                        .map(|c| {
                            let h = |i: usize| u16::from_ne_bytes([c[i], c[i + 1]]);
                            (i32::from_ne_bytes([c[0], c[1], c[2], c[3]]), h(4), h(6))
                        })
                        .collect()
                })
                .unwrap_or_default();
            let list = |which: fn(&(i32, u16, u16)) -> u16, name| {
                Value::List(
                    entries
                        .iter()
                        .filter(|e| which(e) != 0 || name == "events")
                        .map(|e| {
                            Value::Struct(vec![
                                f("fd", Value::Fd(e.0)),
                                f(name, flags(&xw::WSA_POLL, which(e) as u64)),
                            ])
                        })
                        .collect(),
                )
            };
            ev.args = vec![
                f("fds", list(|e| e.1, "events")),
                f("nfds", Value::Int(arg(rec, 1) as u32 as i64)),
                f("timeout", timeout_ms(iarg(rec, 2))),
            ];
            ev.outcome = super::int_result(rec);
            if ret > 0 {
                ev.returned = vec![f("ready", list(|e| e.2, "revents"))];
            }
        }
        WsaIoctl => {
            let code = arg(rec, 1) as u32 as u64;
            ev.args = vec![f("s", fd(rec, 0)), f("code", sio(code))];
            let input = rec.find(Tag::Bytes, role::OPTVAL);
            match input {
                Some(g) if code == xw::SIO_GET_EXTENSION_FUNCTION_POINTER && g.len() == 16 => {
                    ev.args.push(f(
                        "guid",
                        xw::wsaid_name(g).map_or(
                            Value::Bytes {
                                shown: g.to_vec(),
                                total: 16,
                            },
                            |n| Value::Sym { name: n, raw: 0 },
                        ),
                    ));
                }
                _ => ev.args.push(f("inlen", Value::Int(arg(rec, 2) as i64))),
            }
            ev.args.push(f("outlen", Value::Int(arg(rec, 3) as i64)));
            ev.args.push(f("overlapped", Value::Ptr(arg(rec, 4))));
            ev.outcome = status(rec);
            if let Some(v) = rec.ints(role::ARG_VAL) {
                ev.returned.push(f("bytes", Value::Int(v.get(0))));
                if v.get(1) != 0 {
                    ev.returned.push(f("wrapped", Value::Int(1)));
                }
            }
        }
        ConnectEx => {
            let a = addr(rec, role::ADDR, arg(rec, 1));
            ev.core.peer = sockaddr_of(&a);
            ev.args = vec![
                f("s", fd(rec, 0)),
                f("name", a),
                f("sendlen", Value::Int(arg(rec, 4) as u32 as i64)),
                f("overlapped", Value::Ptr(arg(rec, 5))),
            ];
            ev.outcome = boolean(rec);
            if ret != 0 || rec.header.errno == WSA_IO_PENDING {
                ev.core.change = SocketChange::Connected;
            }
            if let Some(v) = rec.ints(role::ARG_VAL) {
                ev.returned = vec![f("bytes", Value::Int(v.get(0)))];
                moved(rec, ev, true, v.get(0));
            }
        }
        AcceptEx => {
            ev.args = vec![
                f("listen", fd(rec, 0)),
                f("accept", fd(rec, 1)),
                f("recvlen", Value::Int(arg(rec, 3) as u32 as i64)),
                f("overlapped", Value::Ptr(arg(rec, 5))),
            ];
            ev.outcome = boolean(rec);
            if let Some(v) = rec.ints(role::ARG_VAL) {
                ev.returned = vec![f("bytes", Value::Int(v.get(0)))];
                moved(rec, ev, false, v.get(0));
            }
        }
        // Calls of other families are dispatched elsewhere (`calls::decode`).
        _ => {}
    }
}

/// Decodes `rec` with the decoder of `like` (the BSD call the WSA one
/// extends), keeping the WSA name.
fn as_if(rec: &Ctx<'_, '_>, ev: &mut Event, like: Func) {
    let func = ev.func;
    ev.func = like;
    super::socket::decode(rec, ev);
    ev.func = func;
}

/// 0 on success, SOCKET_ERROR and the WSA error otherwise (a pending
/// overlapped call is `-1 WSA_IO_PENDING`).
fn status(rec: &Ctx<'_, '_>) -> Outcome {
    super::int_result(rec)
}

/// A BOOL result: FALSE carries the error.
fn boolean(rec: &Ctx<'_, '_>) -> Outcome {
    let r = rec.header.ret;
    if r == 0 {
        errno_error(rec.t, r, rec.header.errno)
    } else {
        Outcome::Ok(Value::Int(r))
    }
}

fn msg_flags(v: u64) -> Value {
    flags(&xw::WSA_MSG, v as u32 as u64)
}

fn sio(code: u64) -> Value {
    match xw::SIO.lookup(code) {
        Some(_) => sym(&xw::SIO, code as i64),
        None => Value::Hex(code),
    }
}

/// The WSABUF lengths, as sendmsg's iovec lengths.
fn buffers(rec: &Ctx<'_, '_>) -> Value {
    super::int_list(rec, role::IOV_LENS).unwrap_or(if arg(rec, 1) == 0 {
        Value::Ptr(0)
    } else {
        Value::Unavailable("unreadable")
    })
}

/// The bytes moved (typed, for the summary) and the captured payload,
/// spread over the buffers as far as the bytes reached.
fn moved(rec: &Ctx<'_, '_>, ev: &mut Event, out: bool, bytes: i64) {
    let total = bytes.max(0) as u64;
    ev.core.io = Some(Io {
        direction: if out {
            Direction::Sends
        } else {
            Direction::Receives
        },
        bytes: total,
    });
    let r = if out { role::DATA_OUT } else { role::DATA_IN };
    let Some(d) = rec.find(Tag::Bytes, r) else {
        return;
    };
    // Each WSABUF's share of the bytes, up to the last one they reached.
    let buffers = rec.ints(role::IOV_LENS).map_or(Vec::new(), |lens| {
        lens.iter()
            .scan(total, |left, l| {
                let take = (l.max(0) as u64).min(*left);
                let reached = *left > 0;
                *left -= take;
                reached.then_some(take)
            })
            .collect()
    });
    ev.data = Some(Payload {
        outgoing: out,
        shown: d.to_vec(),
        total,
        buffers,
    });
}

#[cfg(test)]
mod tests {
    use crate::value::{Outcome, Value};
    use sock_trace_event::func::Direction;
    use sock_trace_event::platform::Platform;
    use sock_trace_event::record::{Record, RecordWriter};
    use sock_trace_event::{role, Func, Tag};

    fn decode(
        func: Func,
        args: &[u64],
        ret: i64,
        errno: i32,
        fill: impl FnOnce(&mut RecordWriter),
    ) -> crate::Event {
        let mut buf = vec![0u8; 4096];
        let mut w = RecordWriter::new(&mut buf, func);
        let h = w.header();
        (h.ret, h.errno) = (ret, errno);
        h.args[..args.len()].copy_from_slice(args);
        fill(&mut w);
        let n = w.finish();
        let rec = Record::parse(&buf[..n]).unwrap();
        crate::decode_record(&rec, func, Platform::Windows)
    }

    #[test]
    fn a_pending_receive_and_its_completion_routine() {
        let recv = decode(
            Func::WsaRecv,
            &[80, 0x1000, 1, 0, 0x2000, 0x3000],
            -1,
            997,
            |w| w.ints(role::IOV_LENS, &[64]),
        );
        match &recv.outcome {
            Outcome::Err(e) => assert_eq!((e.code, e.name), (997, Some("WSA_IO_PENDING"))),
            o => panic!("{o:?}"),
        }
        assert!(recv.data.is_none() && recv.core.io.is_none());
        assert_eq!(recv.core.fd, Some(80));
        let done = decode(
            Func::CompletionRoutine,
            &[80, 0x2000, Func::WsaRecv as u64, 0],
            12,
            0,
            |w| {
                w.ints(role::IOV_LENS, &[6, 6]);
                w.blob(Tag::Bytes, role::DATA_IN, b"hello wsabuf");
            },
        );
        assert_eq!(done.outcome, Outcome::Ok(Value::Int(12)));
        let op = done.args.iter().find(|a| a.name == "op").unwrap();
        assert_eq!(
            op.value,
            Value::Sym {
                name: "WSARecv",
                raw: Func::WsaRecv as i64
            }
        );
        let io = done.core.io.unwrap();
        assert_eq!((io.direction, io.bytes), (Direction::Receives, 12));
        let data = done.data.unwrap();
        assert_eq!(
            (data.total, data.buffers, data.outgoing),
            (12, vec![6, 6], false)
        );
    }

    #[test]
    fn wsaioctl_names_the_extension_and_wsapoll_winsocks_bits() {
        let connectex = sock_trace_xlat::winsock::WSAID[1].0;
        let ev = decode(Func::WsaIoctl, &[72, 0xc800_0006, 16, 8, 0, 0], 0, 0, |w| {
            w.blob(Tag::Bytes, role::OPTVAL, &connectex);
            w.ints(role::ARG_VAL, &[8, 1]);
        });
        let names: Vec<_> = ev.args.iter().map(|a| (a.name, a.value.clone())).collect();
        assert_eq!(
            names[2],
            (
                "guid",
                Value::Sym {
                    name: "WSAID_CONNECTEX",
                    raw: 0
                }
            )
        );
        assert!(ev.returned.iter().any(|r| r.name == "wrapped"));
        let mut entry = Vec::new();
        entry.extend_from_slice(&80i32.to_ne_bytes());
        entry.extend_from_slice(&0x100u16.to_ne_bytes());
        entry.extend_from_slice(&0x100u16.to_ne_bytes());
        let ev = decode(Func::WsaPoll, &[0x1000, 1, 5000], 1, 0, |w| {
            w.blob(Tag::PollFds, 0, &entry)
        });
        let Value::List(ready) = &ev.returned[0].value else {
            panic!()
        };
        let Value::Struct(fields) = &ready[0] else {
            panic!()
        };
        match &fields[1].value {
            Value::Flags { names, .. } => assert_eq!(names, &["POLLRDNORM"]),
            v => panic!("{v:?}"),
        }
    }
}
