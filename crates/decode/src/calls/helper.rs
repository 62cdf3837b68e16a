//! Byte-order and text/address conversion helpers (htons, inet_pton, ...),
//! traced only when asked for.

use super::{arg, errno_error, f, iarg, string, sym, Ctx};
use crate::sockaddr;
use crate::value::{Event, Outcome, Value};
use sock_trace_event::{role, Func, Tag};

/// Decodes one call of this family into `ev`.
pub(super) fn decode(rec: &Ctx<'_, '_>, ev: &mut Event) {
    use Func::*;
    let ret = rec.header.ret;
    match ev.func {
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
                    f("af", sym(rec.t.af, iarg(rec, 0))),
                    f("src", string(rec, role::TEXT, arg(rec, 1))),
                ];
            } else {
                ev.args = vec![f("cp", string(rec, role::TEXT, arg(rec, 0)))];
            }
            ev.outcome = if ret == -1 {
                errno_error(rec.t, ret, rec.header.errno)
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
                f("af", sym(rec.t.af, iarg(rec, 0))),
                f("src", a),
                f("size", Value::Int(arg(rec, 3) as u32 as i64)),
            ];
            ev.outcome = if ret == 0 {
                errno_error(rec.t, 0, rec.header.errno)
            } else {
                Outcome::Ok(string(rec, role::TEXT, ret as u64))
            };
        }
        // Calls of other families are dispatched elsewhere (`calls::decode`).
        _ => {}
    }
}
