//! Name and service resolution: getaddrinfo, getnameinfo, the gethostby*
//! family (plain and `_r`), getservby* and getprotoby*. Their errors live
//! in other spaces than errno (EAI_*, h_errno), hence their own outcomes.

use super::{addr, arg, errno_error, f, flags, iarg, sock_type, string, sym, Ctx};
use crate::sockaddr;
use crate::value::{ErrorInfo, ErrorSpace, Event, Field, Outcome, Value};
use sock_trace_event::{role, Func, Record, Tag};
use sock_trace_xlat as x;

/// Decodes one call of this family into `ev`.
pub(super) fn decode(rec: &Ctx<'_, '_>, ev: &mut Event) {
    use Func::*;
    let ret = rec.header.ret;
    match ev.func {
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
                ev.args.push(f("af", sym(rec.t.af, iarg(rec, 1))));
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
                f("type", sym(rec.t.af, iarg(rec, 2))),
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
        // Calls of other families are dispatched elsewhere (`calls::decode`).
        _ => {}
    }
}

fn eai_outcome(rec: &Ctx<'_, '_>) -> Outcome {
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
            text: rec.t.error_text(e),
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

fn resolve_getaddrinfo(rec: &Ctx<'_, '_>, ev: &mut Event) {
    ev.args = vec![
        f("node", string(rec, role::NODE, arg(rec, 0))),
        f("service", string(rec, role::SERVICE, arg(rec, 1))),
    ];
    let hints = match rec.ints(role::HINTS) {
        Some(h) => Value::Struct(vec![
            f("flags", flags(&x::AI_FLAGS, h.get(0) as u32 as u64)),
            f("family", sym(rec.t.af, h.get(1))),
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
                    f("family", sym(rec.t.af, i.get(1))),
                    f("socktype", sock_type(i.get(2))),
                    f("protocol", sym(&x::IPPROTO, i.get(3))),
                ]);
            }
            (Tag::SockAddr, role::AI_ADDR) => {
                if let (Some(r), Some(a)) =
                    (results.last_mut(), sockaddr::decode_for(rec.t, b.data))
                {
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
fn hostent_outcome(rec: &Ctx<'_, '_>, ev: &mut Event) {
    let reentrant = matches!(
        ev.func,
        Func::GethostbynameR | Func::Gethostbyname2R | Func::GethostbyaddrR
    );
    let r = rec.header.ret;
    let herr = rec.header.errno;
    let found = rec.str(role::ENT_NAME).is_some();
    let not_found = || {
        Outcome::Err(ErrorInfo {
            ret: 0,
            space: ErrorSpace::HErrno,
            code: herr as i64,
            name: x::h_errno_name(herr),
            text: x::h_errno_text(herr),
        })
    };
    ev.outcome = if reentrant {
        if r != 0 {
            errno_error(rec.t, r, r as i32)
        } else if !found {
            not_found()
        } else {
            Outcome::Ok(Value::Int(0))
        }
    } else if r == 0 {
        not_found()
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
    push_aliases(rec, &mut fields);
    if let Some(info) = rec.ints(role::ENT_INFO) {
        fields.push(f("addrtype", sym(rec.t.af, info.get(0))));
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
    push_aliases(rec, &mut fields);
    ev.returned = vec![f(what, Value::Struct(fields))];
}

/// The `aliases` of a hostent/servent/protoent, when it has any.
fn push_aliases(rec: &Record<'_>, fields: &mut Vec<Field>) {
    let aliases: Vec<Value> = rec
        .blobs()
        .filter(|b| b.tag == Tag::Str && b.role == role::ENT_ALIAS)
        .map(|b| Value::Str(b.data.to_vec()))
        .collect();
    if !aliases.is_empty() {
        fields.push(f("aliases", Value::List(aliases)));
    }
}
