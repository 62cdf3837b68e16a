//! One decoder per traced function family, following docs/RECORDS.md, as
//! strace keeps one decoder file per syscall family: `meta`, `socket`,
//! `control`, `io` (sends and receives), `poll`, `resolve`, `helper`, and
//! `winsock` (the WSA calls of sock_trace.dll). The
//! family of a call is a column of the function table (`funcs!`), so the
//! dispatch below is one match on it; this module also holds the readers
//! every family shares (arguments, results, addresses, strings, timeouts).

mod control;
mod helper;
mod io;
mod meta;
mod poll;
mod resolve;
mod socket;
mod winsock;

use crate::sockaddr;
use crate::value::{ErrorInfo, ErrorSpace, Event, Field, Outcome, Value};
use sock_trace_event::func::Direction;
use sock_trace_event::{role, Family, Func, Record, Tag};
use sock_trace_xlat::{self as x, PlatformTables, Xlat};

/// Decodes `rec` into `ev` with the decoder of the call's family: the value
/// tree, and the typed facts of [`crate::Core`]. A pure function of the
/// record: what the call changes is stated in `ev.core.change`, and the
/// [`crate::SocketTable`] applies it.
pub(crate) fn decode(rec: &Record<'_>, tables: &'static PlatformTables, ev: &mut Event) {
    let rec = &Ctx { rec, t: tables };
    ev.core.fd = fd_arg(ev.func).map(|i| arg(rec, i) as i32);
    // The local address the hooks read after the call (connect, accept,
    // datagram calls); bind and getsockname name theirs explicitly.
    ev.core.local = rec
        .find(Tag::SockAddr, role::LOCAL_ADDR)
        .and_then(|b| sockaddr::decode_for(rec.t, b));
    match ev.func.family() {
        Family::Meta => meta::decode(rec, ev),
        Family::Socket => socket::decode(rec, ev),
        Family::Control => control::decode(rec, ev),
        Family::Send | Family::Recv => io::decode(rec, ev),
        Family::Poll => poll::decode(rec, ev),
        Family::Resolve => resolve::decode(rec, ev),
        Family::Helper => helper::decode(rec, ev),
        Family::Winsock => winsock::decode(rec, ev),
    }
}

pub(crate) use meta::process_fields;

/// A record and the constant tables of the platform that wrote it. Derefs
/// to the record, so readers that need no platform constant take either.
pub(super) struct Ctx<'r, 'a> {
    rec: &'r Record<'a>,
    pub t: &'static PlatformTables,
}

impl<'a> std::ops::Deref for Ctx<'_, 'a> {
    type Target = Record<'a>;

    fn deref(&self) -> &Record<'a> {
        self.rec
    }
}

impl Ctx<'_, '_> {
    /// A socket address blob, with this platform's family numbers.
    pub fn sockaddr(&self, tag_role: u8) -> Option<crate::SockAddr> {
        self.rec
            .find(Tag::SockAddr, tag_role)
            .and_then(|b| sockaddr::decode_for(self.t, b))
    }
}

/// Which argument is the socket the call works on.
fn fd_arg(func: Func) -> Option<usize> {
    use Func::*;
    match func {
        // epoll_ctl's `fd` (the watched socket), not its epoll descriptor.
        EpollCtl => Some(2),
        Connect | Bind | Listen | Accept | Accept4 | Shutdown | Getsockname | Getpeername
        | Close | Dup | Setsockopt | Getsockopt | Fcntl | Ioctl | Closesocket | Ioctlsocket => {
            Some(0)
        }
        // The byte movers, sendfile's `out_fd` included.
        f if f.direction() != Direction::Neither => Some(0),
        _ => None,
    }
}

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

pub(super) fn errno_error(t: &PlatformTables, ret: i64, e: i32) -> Outcome {
    Outcome::Err(ErrorInfo {
        ret,
        space: ErrorSpace::Errno,
        code: e as i64,
        name: t.error_name(e),
        text: t.error_text(e),
    })
}

/// -1 and errno, or `ok(ret)`.
pub(super) fn result(rec: &Ctx<'_, '_>, ok: impl FnOnce(i64) -> Value) -> Outcome {
    let r = rec.header.ret;
    if r == -1 {
        errno_error(rec.t, r, rec.header.errno)
    } else {
        Outcome::Ok(ok(r))
    }
}

pub(super) fn int_result(rec: &Ctx<'_, '_>) -> Outcome {
    result(rec, Value::Int)
}

pub(super) fn fd_result(rec: &Ctx<'_, '_>) -> Outcome {
    result(rec, |r| Value::Fd(r as i32))
}

pub(super) fn arg(rec: &Record<'_>, i: usize) -> u64 {
    rec.header.args.get(i).copied().unwrap_or(0)
}

pub(super) fn iarg(rec: &Record<'_>, i: usize) -> i64 {
    arg(rec, i) as i32 as i64
}

pub(super) fn fd(rec: &Record<'_>, i: usize) -> Value {
    Value::Fd(arg(rec, i) as i32)
}

pub(super) fn f(name: &'static str, value: Value) -> Field {
    Field::new(name, value)
}

/// An address argument: decoded, NULL, or unreadable.
pub(super) fn addr(rec: &Ctx<'_, '_>, role: u8, ptr: u64) -> Value {
    match rec.sockaddr(role) {
        Some(a) => Value::Addr(a),
        None if ptr == 0 => Value::Ptr(0),
        None => Value::Unavailable("unreadable"),
    }
}

/// The address inside an address value, when it could be read.
pub(super) fn sockaddr_of(v: &Value) -> Option<crate::SockAddr> {
    match v {
        Value::Addr(a) => Some(a.clone()),
        _ => None,
    }
}

pub(super) fn string(rec: &Record<'_>, role: u8, ptr: u64) -> Value {
    match rec.str(role) {
        Some(s) => Value::Str(s.to_vec()),
        None if ptr == 0 => Value::Ptr(0),
        None => Value::Unavailable("unreadable"),
    }
}

pub(super) fn timeout_ms(ms: i64) -> Value {
    if ms < 0 {
        Value::Infinite
    } else {
        Value::Duration(ms as u64 * 1_000_000)
    }
}

/// A timespec/timeval captured as (sec, nsec); absent with a NULL pointer
/// means "wait forever".
pub(super) fn timeout_blob(rec: &Record<'_>, ptr: u64) -> Value {
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

pub(super) fn int_list(rec: &Record<'_>, role: u8) -> Option<Value> {
    rec.ints(role)
        .map(|i| Value::List(i.iter().map(Value::Int).collect()))
}
