//! The JSON Lines printer: one object per line. The schema is documented
//! message by message in `docs/JSON.md`; in short:
//!
//! ```json
//! {"type":"call","time":1732412345.123456,"rel":0.0021,"pid":10,"tid":10,
//!  "func":"connect","fortified":false,
//!  "args":{"fd":3,"addr":{"family":"AF_INET","ip":"127.0.0.1","port":80},"addrlen":16},
//!  "result":{"value":0},
//!  "returned":{},"duration_us":12.5,"may_block":true,"notes":[],"callers":[]}
//! ```
//!
//! Failures: `"result":{"error":{"ret":-1,"space":"errno","code":111,
//! "name":"ECONNREFUSED","text":"Connection refused"}}`. Process starts are
//! `{"type":"process",...}`, tracer messages `{"type":"notice",...}`.

use crate::{Clock, Printer};
use base64::Engine;
use serde_json::{json, Map, Value as J};
use sock_trace_decode::{
    AddrNote, CallerFrame, ErrorSpace, Event, Field, NoteClassDetail, NoteNet, Outcome, SockAddr,
    UnixKind, Value,
};
use sock_trace_event::Func;
use std::io::Write as _;

#[derive(Clone, Debug, Default)]
pub struct JsonOptions {
    pub clock: Clock,
    /// Strings longer than this are cut (and marked with `"truncated":true`
    /// in the enclosing object's notes).
    pub max_string: usize,
}

pub struct JsonPrinter {
    opts: JsonOptions,
}

impl JsonPrinter {
    pub fn new(opts: JsonOptions) -> Self {
        JsonPrinter { opts }
    }
}

/// Writes JSON straight into the output buffer: the event path builds no
/// `serde_json::Value` tree (that cost 9× the text printer, see
/// docs/PERFORMANCE.md). serde_json still escapes strings and prints
/// numbers, so the bytes are the ones the tree would have produced; a test
/// compares the two on every kind of value.
struct Out<'a> {
    buf: &'a mut Vec<u8>,
    /// Whether the innermost open object or array has no member yet.
    empty: bool,
}

impl<'a> Out<'a> {
    fn new(buf: &'a mut Vec<u8>) -> Self {
        Out { buf, empty: true }
    }

    fn raw(&mut self, s: &str) {
        self.buf.extend_from_slice(s.as_bytes());
    }

    fn scalar<T: serde::Serialize + ?Sized>(&mut self, v: &T) {
        // Writing into a Vec cannot fail; a value serde cannot express
        // (none of ours) would leave a null rather than broken JSON.
        if serde_json::to_writer(&mut *self.buf, v).is_err() {
            self.raw("null");
        }
    }

    fn open(&mut self, c: u8) {
        self.buf.push(c);
        self.empty = true;
    }

    fn close(&mut self, c: u8) {
        self.buf.push(c);
        self.empty = false;
    }

    fn comma(&mut self) {
        if !self.empty {
            self.buf.push(b',');
        }
        self.empty = false;
    }

    fn key(&mut self, k: &str) {
        self.comma();
        self.scalar(k);
        self.buf.push(b':');
    }

    fn entry<T: serde::Serialize + ?Sized>(&mut self, k: &str, v: &T) {
        self.key(k);
        self.scalar(v);
    }

    /// A string from the program, as [`program_text`] renders it.
    fn program_string(&mut self, bytes: &[u8], max: usize) {
        self.scalar(program_text(bytes, max).as_ref());
    }

    fn addr(&mut self, a: &SockAddr) {
        self.open(b'{');
        match a {
            SockAddr::V4 { ip, port } => {
                self.entry("family", "AF_INET");
                self.key("ip");
                self.display(ip);
                self.entry("port", port);
            }
            SockAddr::V6 {
                ip,
                port,
                flowinfo,
                scope_id,
            } => {
                self.entry("family", "AF_INET6");
                self.key("ip");
                self.display(ip);
                self.entry("port", port);
                self.entry("flowinfo", flowinfo);
                self.entry("scope_id", scope_id);
            }
            SockAddr::Unix { path, kind } => {
                self.entry("family", "AF_UNIX");
                match kind {
                    UnixKind::Path => {
                        self.key("path");
                        self.program_string(path, 4096);
                    }
                    UnixKind::Abstract => {
                        self.key("abstract");
                        self.program_string(path, 4096);
                    }
                    UnixKind::Unnamed => self.entry("unnamed", &true),
                }
            }
            SockAddr::Netlink { pid, groups } => {
                self.entry("family", "AF_NETLINK");
                self.entry("pid", pid);
                self.entry("groups", groups);
            }
            SockAddr::Other {
                family,
                family_name,
                bytes,
                short,
            } => {
                match family_name {
                    Some(n) => self.entry("family", n),
                    None => self.entry("family", family),
                }
                self.key("data");
                self.buf.push(b'"');
                for b in bytes.iter() {
                    let _ = write!(self.buf, "{b:02x}");
                }
                self.buf.push(b'"');
                self.entry("short", short);
            }
        }
        self.close(b'}');
    }

    /// An address annotation: every part with the database that said it
    /// (the keys and order of `sock-trace lookup --json`).
    fn note(&mut self, n: &AddrNote) {
        self.open(b'{');
        self.key("ip");
        self.display(n.ip);
        self.entry("class", n.class.name);
        match &n.class_detail {
            Some(NoteClassDetail::EmbeddedIpv4 { ipv4 }) => self.detail("embedded_ipv4", |o| {
                o.key("ipv4");
                o.display(ipv4);
            }),
            Some(NoteClassDetail::Teredo {
                server,
                client,
                client_port,
            }) => self.detail("teredo", |o| {
                o.key("server");
                o.display(server);
                o.key("client");
                o.display(client);
                o.entry("client_port", client_port);
            }),
            None => {}
        }
        if let Some(c) = &n.country {
            self.part("country", &c.source, |o| {
                o.entry("code", &c.code);
                o.some("name", &c.name);
                o.some("continent", &c.continent);
                o.some("continent_name", &c.continent_name);
                o.net("network", c.network.as_ref());
            });
        }
        if let Some(l) = &n.location {
            let p = &l.place;
            self.part("location", &l.source, |o| {
                o.some("city", &p.city);
                o.some("region", &p.region);
                o.some("postal_code", &p.postal_code);
                o.some("time_zone", &p.time_zone);
                o.some("latitude", &p.latitude);
                o.some("longitude", &p.longitude);
                o.some("accuracy_km", &p.accuracy_km);
            });
        }
        if let Some(a) = &n.asn {
            self.part("as", &a.source, |o| {
                o.entry("number", &a.number);
                o.some("name", &a.name);
                o.net("network", a.network.as_ref());
            });
        }
        if let Some(f) = &n.flags {
            self.part("flags", &f.source, |o| {
                for (key, _) in crate::note::flags(f) {
                    o.entry(key, &true);
                }
            });
        }
        if let Some(d) = &n.drop {
            self.part("drop", &d.source, |o| {
                o.entry("sbl", &d.sbl);
                o.net("network", Some(&d.network));
                o.some("rir", &d.rir);
            });
        }
        if let Some(r) = &n.registry {
            self.part("registry", &r.source, |o| {
                o.net("network", Some(&r.network));
                o.entry("prefix", &r.prefix);
                o.entry("designation", &r.designation);
                for (key, v) in [("date", &r.date), ("whois", &r.whois), ("rdap", &r.rdap)] {
                    if !v.is_empty() {
                        o.entry(key, v);
                    }
                }
                o.entry("status", &r.status);
            });
        }
        self.close(b'}');
    }

    /// `"class_detail":{kind:{...}}`.
    fn detail(&mut self, kind: &str, body: impl FnOnce(&mut Self)) {
        self.key("class_detail");
        self.open(b'{');
        self.key(kind);
        self.open(b'{');
        body(self);
        self.close(b'}');
        self.close(b'}');
    }

    /// A part of an annotation: `key:{...,"source":source}`.
    fn part(&mut self, key: &str, source: &str, body: impl FnOnce(&mut Self)) {
        self.key(key);
        self.open(b'{');
        body(self);
        self.entry("source", source);
        self.close(b'}');
    }

    /// `key: v` when there is a value.
    fn some<T: serde::Serialize>(&mut self, k: &str, v: &Option<T>) {
        if let Some(v) = v {
            self.entry(k, v);
        }
    }

    /// `key: "addr/prefix"` when there is a network.
    fn net(&mut self, k: &str, net: Option<&NoteNet>) {
        if let Some(net) = net {
            self.key(k);
            self.display(net);
        }
    }

    /// A quoted `Display` value that needs no escaping (addresses, hex).
    fn display(&mut self, v: impl std::fmt::Display) {
        self.buf.push(b'"');
        let _ = write!(self.buf, "{v}");
        self.buf.push(b'"');
    }

    fn value(&mut self, v: &Value, max: usize) {
        match v {
            Value::Int(i) | Value::Unknown(i) => self.scalar(i),
            Value::Hex(h) => self.scalar(h),
            Value::Fd(fd) => self.scalar(fd),
            Value::Sym { name, .. } => self.scalar(name),
            Value::Flags { names, rest, .. } => {
                self.open(b'[');
                for n in names {
                    self.comma();
                    self.scalar(n);
                }
                if *rest != 0 {
                    self.comma();
                    self.display(format_args!("{rest:#x}"));
                }
                self.close(b']');
            }
            Value::Str(s) => self.program_string(s, max),
            Value::Bytes { shown, total } => {
                self.open(b'{');
                self.key("base64");
                self.base64(shown);
                self.entry("total", total);
                self.close(b'}');
            }
            Value::Addr(a) => self.addr(a),
            Value::Ip(ip) => self.display(ip),
            Value::Ptr(0) => self.raw("null"),
            Value::Ptr(p) => self.display(format_args!("{p:#x}")),
            Value::Duration(ns) => {
                self.open(b'{');
                self.entry("sec", &(*ns as f64 / 1e9));
                self.close(b'}');
            }
            Value::Infinite => self.scalar("infinite"),
            Value::List(items) => {
                self.open(b'[');
                for i in items {
                    self.comma();
                    self.value(i, max);
                }
                self.close(b']');
            }
            Value::Struct(fields) => self.fields(fields, max),
            Value::Unavailable(why) => {
                self.open(b'{');
                self.entry("unavailable", why);
                self.close(b'}');
            }
        }
    }

    /// Fields as an object. A name given twice keeps its first place and
    /// its last value, as a JSON map would.
    fn fields(&mut self, fields: &[Field], max: usize) {
        self.open(b'{');
        self.members(fields, max);
        self.close(b'}');
    }

    fn members(&mut self, fields: &[Field], max: usize) {
        for (f, last) in map_entries(fields, |f| f.name) {
            self.key(f.name);
            self.value(&last.value, max);
        }
    }

    fn base64(&mut self, bytes: &[u8]) {
        self.buf.push(b'"');
        let start = self.buf.len();
        let n = base64::encoded_len(bytes.len(), true).unwrap_or(0);
        self.buf.resize(start + n, 0);
        let written = base64::engine::general_purpose::STANDARD
            .encode_slice(bytes, &mut self.buf[start..])
            .unwrap_or(0);
        self.buf.truncate(start + written);
        self.buf.push(b'"');
    }

    fn frame(&mut self, f: &CallerFrame) {
        self.open(b'{');
        self.key("addr");
        self.display(format_args!("{:#x}", f.addr));
        self.entry("module", &f.module);
        if let Some(func) = &f.function {
            self.entry("function", func);
        }
        self.entry("offset", &f.offset);
        if let Some(file) = &f.file {
            self.entry("file", file);
        }
        if let Some(line) = f.line {
            self.entry("line", &line);
        }
        if let Some(column) = f.column {
            self.entry("column", &column);
        }
        self.entry("text", crate::text::frame_text(f).as_str());
        self.close(b'}');
    }
}

/// A string from the program as JSON text, cut after at most `max` of its
/// bytes (on a character boundary). Unambiguous, so the bytes can always
/// be recovered (docs/JSON.md gives a decoder):
///
/// - valid UTF-8 other than a backslash is itself (serde_json then applies
///   JSON's own escaping, `\n`, `\"`, ...);
/// - a backslash is `\\` (two backslashes in the decoded text);
/// - each byte that is not part of valid UTF-8 is `\xHH` (lowercase hex).
///
/// So the four characters `\xff` and the byte 0xFF differ: the first is
/// the text `\\xff`, the second `\xff`. The text printer's C escaping
/// writes a backslash and a non-text byte the same two ways.
pub(crate) fn program_text(bytes: &[u8], max: usize) -> std::borrow::Cow<'_, str> {
    if let Ok(s) = std::str::from_utf8(bytes) {
        let mut end = s.len().min(max);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        if !s[..end].contains('\\') {
            return std::borrow::Cow::Borrowed(&s[..end]);
        }
    }
    // `used` counts input bytes; a character that would cross `max` is
    // left out whole, as a cut valid string leaves it out.
    let mut out = String::with_capacity(bytes.len().min(max) + 8);
    let mut used = 0usize;
    'outer: for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            used += c.len_utf8();
            if used > max {
                break 'outer;
            }
            if c == '\\' {
                out.push_str("\\\\");
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            used += 1;
            if used > max {
                break 'outer;
            }
            out.push_str("\\x");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
    }
    std::borrow::Cow::Owned(out)
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// An address annotation as the JSON printer writes it under `addresses`.
pub fn note_json(n: &AddrNote, out: &mut Vec<u8>) {
    Out::new(out).note(n);
}

/// The entries of a JSON map built from `items` in order: each key once,
/// at its first place, with the item that gave it last (what inserting
/// into an ordered map does). Lists here are a handful of items long.
fn map_entries<T, K: PartialEq>(
    items: &[T],
    key: impl Fn(&T) -> K,
) -> impl Iterator<Item = (&T, &T)> {
    items.iter().enumerate().filter_map(move |(i, it)| {
        let k = key(it);
        if items[..i].iter().any(|x| key(x) == k) {
            return None;
        }
        let last = items[i..].iter().rev().find(|x| key(x) == k).unwrap_or(it);
        Some((it, last))
    })
}

impl Printer for JsonPrinter {
    fn event(&mut self, ev: &Event, out: &mut Vec<u8>) {
        let max = self.opts.max_string.max(1);
        let kind = match ev.func {
            Func::ProcStart => "process",
            Func::Lost => "lost",
            _ => "call",
        };
        let mut o = Out::new(out);
        o.open(b'{');
        o.entry("type", kind);
        let clock = &self.opts.clock;
        o.entry("time", &(clock.realtime_ns(ev.t_end) as f64 / 1e9));
        o.entry("rel", &(clock.since_start_ns(ev.t_end) as f64 / 1e9));
        o.entry("pid", &ev.pid);
        o.entry("tid", &ev.tid);
        if kind != "call" {
            o.members(&ev.args, 4096);
        } else {
            o.entry("func", ev.func.name());
            o.entry("fortified", &ev.fortified());
            o.key("args");
            o.fields(&ev.args, max);
            o.key("result");
            o.open(b'{');
            match &ev.outcome {
                Outcome::Ok(v) => {
                    o.key("value");
                    o.value(v, max);
                }
                Outcome::Void => o.entry("void", &true),
                Outcome::Err(e) => {
                    o.key("error");
                    o.open(b'{');
                    o.entry("ret", &e.ret);
                    o.entry(
                        "space",
                        match e.space {
                            ErrorSpace::Errno => "errno",
                            ErrorSpace::Eai => "eai",
                            ErrorSpace::HErrno => "h_errno",
                        },
                    );
                    o.entry("code", &e.code);
                    o.entry("name", &e.name);
                    o.entry("text", &e.text);
                    o.close(b'}');
                }
            }
            o.close(b'}');
            o.key("returned");
            o.fields(&ev.returned, max);
            o.entry("duration_us", &(ev.duration_ns() as f64 / 1e3));
            o.entry("may_block", &ev.may_block());
            o.entry("notes", &ev.notes());
            o.key("callers");
            o.open(b'[');
            if ev.frames.is_empty() {
                for c in &ev.callers {
                    o.comma();
                    o.open(b'{');
                    o.key("addr");
                    o.display(format_args!("{c:#x}"));
                    o.close(b'}');
                }
            } else {
                for f in ev.frames.iter() {
                    o.comma();
                    o.frame(f);
                }
            }
            o.close(b']');
            if let Some(h) = &ev.hint {
                o.entry("hint", h);
            }
            if !ev.annotations.is_empty() {
                o.key("addresses");
                o.open(b'{');
                for (n, last) in map_entries(&ev.annotations, |n| n.ip) {
                    o.comma();
                    o.display(n.ip);
                    o.buf.push(b':');
                    o.note(last);
                }
                o.close(b'}');
            }
            if let Some(d) = &ev.data {
                o.key("data");
                o.open(b'{');
                o.entry("direction", if d.outgoing { "out" } else { "in" });
                o.entry("total", &d.total);
                o.entry("buffers", &d.buffers);
                o.key("base64");
                o.base64(&d.shown);
                o.close(b'}');
            }
        }
        o.close(b'}');
        out.push(b'\n');
    }

    fn summary(&mut self, summary: &crate::Summary, out: &mut Vec<u8>) {
        let block = |p: &crate::summary::ProcessSummary| {
            let functions: Map<String, J> = p
                .functions
                .iter()
                .map(|(f, s)| {
                    (
                        f.to_string(),
                        json!({"calls": s.calls, "errors": s.errors, "injected": s.injected, "total_ns": s.total_ns,
                               "mean_ns": if s.calls == 0 { 0 } else { s.total_ns / s.calls }}),
                    )
                })
                .collect();
            let peers: Map<String, J> = p
                .peers
                .iter()
                .map(|(k, s)| (k.clone(), json!({"connections": s.connections, "sent": s.sent, "received": s.received})))
                .collect();
            json!({"exe": p.exe, "functions": functions, "peers": peers, "errors": p.errors})
        };
        let processes: Map<String, J> = summary
            .processes()
            .map(|(pid, p)| (pid.to_string(), block(p)))
            .collect();
        let v =
            json!({"type": "summary", "processes": processes, "total": block(&summary.total())});
        if serde_json::to_writer(&mut *out, &v).is_ok() {
            out.push(b'\n');
        }
    }

    fn notice(&mut self, pid: Option<u32>, text: &str, out: &mut Vec<u8>) {
        let v = json!({"type": "notice", "pid": pid, "text": text});
        if serde_json::to_writer(&mut *out, &v).is_ok() {
            out.push(b'\n');
        }
    }
}

/// The previous printer, which built a `serde_json::Value` tree per event:
/// kept as the reference the streaming writer must match byte for byte.
#[cfg(test)]
mod reference {
    use super::*;
    use serde_json::{json, Map, Value as J};

    /// An address annotation: its writer is checked against serde's
    /// rendering of the annotation it came from (in sock-trace-ipintel).
    fn note(n: &AddrNote) -> J {
        let mut out = Vec::new();
        note_json(n, &mut out);
        serde_json::from_slice(&out).unwrap_or(J::Null)
    }

    /// A string from the program, escaped as [`program_text`] does.
    fn string(bytes: &[u8], max: usize) -> J {
        J::String(program_text(bytes, max).into_owned())
    }

    /// An address as an object keyed by what it holds.
    fn addr(a: &SockAddr) -> J {
        match a {
            SockAddr::V4 { ip, port } => {
                json!({"family": "AF_INET", "ip": ip.to_string(), "port": port})
            }
            SockAddr::V6 {
                ip,
                port,
                flowinfo,
                scope_id,
            } => json!({
                "family": "AF_INET6", "ip": ip.to_string(), "port": port, "flowinfo": flowinfo, "scope_id": scope_id
            }),
            SockAddr::Unix { path, kind } => match kind {
                UnixKind::Path => json!({"family": "AF_UNIX", "path": string(path, 4096)}),
                UnixKind::Abstract => json!({"family": "AF_UNIX", "abstract": string(path, 4096)}),
                UnixKind::Unnamed => json!({"family": "AF_UNIX", "unnamed": true}),
            },
            SockAddr::Netlink { pid, groups } => {
                json!({"family": "AF_NETLINK", "pid": pid, "groups": groups})
            }
            SockAddr::Other {
                family,
                family_name,
                bytes,
                short,
            } => json!({
                "family": family_name.map(J::from).unwrap_or(J::from(*family)),
                "data": bytes.iter().map(|b| format!("{b:02x}")).collect::<String>(),
                "short": short
            }),
        }
    }

    /// Renders one value (the JSON twin of [`crate::text::TextPrinter::value`]).
    fn value(v: &Value, max: usize) -> J {
        match v {
            Value::Int(i) => json!(i),
            Value::Hex(h) => json!(h),
            Value::Fd(fd) => json!(fd),
            Value::Sym { name, .. } => json!(name),
            Value::Unknown(i) => json!(i),
            Value::Flags { names, rest, .. } => {
                let mut a: Vec<J> = names.iter().map(|n| json!(n)).collect();
                if *rest != 0 {
                    a.push(json!(format!("{rest:#x}")));
                }
                J::Array(a)
            }
            Value::Str(s) => string(s, max),
            Value::Bytes { shown, total } => json!({
                "base64": base64::engine::general_purpose::STANDARD.encode(shown),
                "total": total
            }),
            Value::Addr(a) => addr(a),
            Value::Ip(ip) => json!(ip.to_string()),
            Value::Ptr(0) => J::Null,
            Value::Ptr(p) => json!(format!("{p:#x}")),
            Value::Duration(ns) => json!({"sec": *ns as f64 / 1e9}),
            Value::Infinite => json!("infinite"),
            Value::List(items) => J::Array(items.iter().map(|i| value(i, max)).collect()),
            Value::Struct(fields) => J::Object(fields_obj(fields, max)),
            Value::Unavailable(why) => json!({"unavailable": why}),
        }
    }

    /// A symbolised caller: every field known, and the text form.
    fn frame(f: &CallerFrame) -> J {
        let mut m = Map::new();
        m.insert("addr".into(), json!(format!("{:#x}", f.addr)));
        m.insert("module".into(), json!(f.module));
        if let Some(func) = &f.function {
            m.insert("function".into(), json!(func));
        }
        m.insert("offset".into(), json!(f.offset));
        if let Some(file) = &f.file {
            m.insert("file".into(), json!(file));
        }
        if let Some(line) = f.line {
            m.insert("line".into(), json!(line));
        }
        if let Some(column) = f.column {
            m.insert("column".into(), json!(column));
        }
        m.insert("text".into(), json!(crate::text::frame_text(f)));
        J::Object(m)
    }

    fn fields_obj(fields: &[Field], max: usize) -> Map<String, J> {
        let mut m = Map::new();
        for f in fields {
            m.insert(f.name.to_string(), value(&f.value, max));
        }
        m
    }

    pub fn event(opts: &JsonOptions, ev: &Event) -> Vec<u8> {
        let max = opts.max_string.max(1);
        let mut m = Map::new();
        let kind = match ev.func {
            Func::ProcStart => "process",
            Func::Lost => "lost",
            _ => "call",
        };
        m.insert("type".into(), json!(kind));
        m.insert(
            "time".into(),
            json!(opts.clock.realtime_ns(ev.t_end) as f64 / 1e9),
        );
        m.insert(
            "rel".into(),
            json!(opts.clock.since_start_ns(ev.t_end) as f64 / 1e9),
        );
        m.insert("pid".into(), json!(ev.pid));
        m.insert("tid".into(), json!(ev.tid));
        if kind != "call" {
            for (k, v) in fields_obj(&ev.args, 4096) {
                m.insert(k, v);
            }
        } else {
            m.insert("func".into(), json!(ev.func.name()));
            m.insert("fortified".into(), json!(ev.fortified()));
            m.insert("args".into(), J::Object(fields_obj(&ev.args, max)));
            let result = match &ev.outcome {
                Outcome::Ok(v) => json!({"value": value(v, max)}),
                Outcome::Void => json!({"void": true}),
                Outcome::Err(e) => json!({"error": {
                    "ret": e.ret,
                    "space": match e.space { ErrorSpace::Errno => "errno", ErrorSpace::Eai => "eai", ErrorSpace::HErrno => "h_errno" },
                    "code": e.code,
                    "name": e.name,
                    "text": e.text,
                }}),
            };
            m.insert("result".into(), result);
            m.insert("returned".into(), J::Object(fields_obj(&ev.returned, max)));
            m.insert("duration_us".into(), json!(ev.duration_ns() as f64 / 1e3));
            m.insert("may_block".into(), json!(ev.may_block()));
            m.insert("notes".into(), json!(ev.notes()));
            let callers: Vec<J> = if ev.frames.is_empty() {
                ev.callers
                    .iter()
                    .map(|c| json!({"addr": format!("{c:#x}")}))
                    .collect()
            } else {
                ev.frames.iter().map(frame).collect()
            };
            m.insert("callers".into(), J::Array(callers));
            if let Some(h) = &ev.hint {
                m.insert("hint".into(), json!(h));
            }
            if !ev.annotations.is_empty() {
                let addrs: Map<String, J> = ev
                    .annotations
                    .iter()
                    .map(|n| (n.ip.to_string(), note(n)))
                    .collect();
                m.insert("addresses".into(), J::Object(addrs));
            }
            if let Some(d) = &ev.data {
                m.insert(
                    "data".into(),
                    json!({
                        "direction": if d.outgoing { "out" } else { "in" },
                        "total": d.total,
                        "buffers": d.buffers,
                        "base64": base64::engine::general_purpose::STANDARD.encode(&d.shown),
                    }),
                );
            }
        }
        let mut out = serde_json::to_vec(&J::Object(m)).unwrap();
        out.push(b'\n');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sock_trace_decode::ErrorInfo;

    fn render(e: &Event) -> J {
        let mut p = JsonPrinter::new(JsonOptions {
            clock: Clock {
                start_mono_ns: 0,
                realtime_offset_ns: 1_000_000_000,
            },
            max_string: 64,
        });
        let mut out = Vec::new();
        p.event(e, &mut out);
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1);
        serde_json::from_slice(&out).unwrap()
    }

    fn base() -> Event {
        Event {
            args: vec![
                Field::new("fd", Value::Fd(3)),
                Field::new(
                    "addr",
                    Value::Addr(SockAddr::V6 {
                        ip: "::1".parse().unwrap(),
                        port: 443,
                        flowinfo: 0,
                        scope_id: 0,
                    }),
                ),
            ],
            outcome: Outcome::Err(ErrorInfo {
                ret: -1,
                space: ErrorSpace::Errno,
                code: 111,
                name: Some("ECONNREFUSED"),
                text: Some("Connection refused"),
            }),
            callers: vec![0x1234],
            ..Event::new(5, 6, Func::Connect, 1_000, 3_000)
        }
    }

    const DOC: sock_trace_decode::NoteClass = sock_trace_decode::NoteClass {
        name: "documentation",
        label: "documentation",
        global: false,
        tunnel: false,
    };

    /// A note with a country only (the annotation's own JSON is checked
    /// against serde in sock-trace-ipintel).
    fn note_with_country(ip: &str, code: &str) -> AddrNote {
        AddrNote {
            ip: ip.parse().unwrap(),
            class: DOC,
            inner_class: None,
            class_detail: Some(NoteClassDetail::EmbeddedIpv4 {
                ipv4: [192, 0, 2, 1].into(),
            }),
            country: Some(sock_trace_decode::NoteCountry {
                code: code.into(),
                name: Some("Some \"Land\"".into()),
                continent: None,
                continent_name: None,
                network: Some(NoteNet {
                    addr: "192.0.2.0".parse().unwrap(),
                    prefix: 24,
                }),
                source: "embedded".into(),
            }),
            location: None,
            asn: None,
            flags: None,
            drop: None,
            registry: None,
        }
    }

    #[test]
    fn a_failed_connect() {
        let j = render(&base());
        assert_eq!(j["type"], "call");
        assert_eq!(j["func"], "connect");
        assert_eq!(j["pid"], 5);
        assert_eq!(j["tid"], 6);
        assert_eq!(j["args"]["fd"], 3);
        assert_eq!(j["args"]["addr"]["ip"], "::1");
        assert_eq!(j["args"]["addr"]["port"], 443);
        assert_eq!(j["result"]["error"]["name"], "ECONNREFUSED");
        assert_eq!(j["result"]["error"]["code"], 111);
        assert_eq!(j["duration_us"], 2.0);
        assert_eq!(j["time"], 1.000003);
        assert_eq!(j["callers"][0]["addr"], "0x1234");
    }

    #[test]
    fn symbolised_callers_carry_every_field() {
        let mut e = base();
        e.frames = vec![CallerFrame {
            addr: 0x1234,
            module: "/usr/bin/prog".into(),
            function: Some("main".into()),
            offset: 0x35,
            file: Some("prog.c".into()),
            line: Some(68),
            column: None,
        }]
        .into();
        let j = render(&e);
        let c = &j["callers"][0];
        assert_eq!(c["file"], "prog.c");
        assert_eq!(c["line"], 68);
        assert_eq!(c["function"], "main");
        assert_eq!(c["offset"], 0x35);
        assert_eq!(c["text"], "prog.c:68 (main+0x35)");
        assert!(c.get("column").is_none());
    }

    #[test]
    fn every_value_kind_is_valid_json() {
        let mut e = base();
        e.outcome = Outcome::Ok(Value::Int(0));
        e.args = vec![
            Field::new("a", Value::Hex(255)),
            Field::new(
                "b",
                Value::Sym {
                    name: "AF_INET",
                    raw: 2,
                },
            ),
            Field::new("c", Value::Unknown(77)),
            Field::new(
                "d",
                Value::Flags {
                    names: vec!["MSG_PEEK"],
                    rest: 0x8000_0000,
                    raw: 0,
                },
            ),
            Field::new("e", Value::Str(vec![0xff, b'a'])),
            Field::new(
                "f",
                Value::Bytes {
                    shown: b"hi".to_vec(),
                    total: 10,
                },
            ),
            Field::new("g", Value::Ptr(0)),
            Field::new("h", Value::Duration(1_500_000)),
            Field::new("i", Value::Infinite),
            Field::new(
                "j",
                Value::List(vec![Value::Ip("10.1.2.3".parse().unwrap())]),
            ),
            Field::new("k", Value::Struct(vec![Field::new("x", Value::Int(-1))])),
            Field::new("l", Value::Unavailable("unreadable")),
            Field::new(
                "m",
                Value::Addr(SockAddr::Unix {
                    path: b"sock".to_vec(),
                    kind: UnixKind::Abstract,
                }),
            ),
        ];
        let j = render(&e);
        let a = &j["args"];
        assert_eq!(a["a"], 255);
        assert_eq!(a["b"], "AF_INET");
        assert_eq!(a["c"], 77);
        assert_eq!(a["d"], json!(["MSG_PEEK", "0x80000000"]));
        assert_eq!(a["e"], "\\xffa");
        assert_ne!(
            program_text(b"\\xffa", 99),
            program_text(&[0xff, b'a'], 99),
            "a literal backslash-x-f-f and the byte 0xFF must differ"
        );
        assert_eq!(a["f"]["base64"], "aGk=");
        assert_eq!(a["g"], J::Null);
        assert_eq!(a["h"]["sec"], 0.0015);
        assert_eq!(a["i"], "infinite");
        assert_eq!(a["j"][0], "10.1.2.3");
        assert_eq!(a["k"]["x"], -1);
        assert_eq!(a["l"]["unavailable"], "unreadable");
        assert_eq!(a["m"]["abstract"], "sock");
        assert_eq!(j["result"]["value"], 0);
    }

    #[test]
    fn text_and_json_agree_on_the_same_event() {
        let e = base();
        let mut t = crate::TextPrinter::new(crate::TextOptions::plain(Clock::default()));
        let mut out = Vec::new();
        t.event(&e, &mut out);
        let text = String::from_utf8(out).unwrap();
        let j = render(&e);
        assert!(text.contains(&format!(
            "[{}]:{}",
            j["args"]["addr"]["ip"].as_str().unwrap(),
            j["args"]["addr"]["port"]
        )));
        assert!(text.contains(j["result"]["error"]["name"].as_str().unwrap()));
        assert!(text.contains(j["result"]["error"]["text"].as_str().unwrap()));
    }

    /// The streaming writer prints exactly what the previous tree-building
    /// printer printed, for every value kind and every optional part.
    #[test]
    fn streaming_matches_the_tree_builder_byte_for_byte() {
        use sock_trace_decode::{AddrNote, Payload};
        let opts = JsonOptions {
            clock: Clock {
                start_mono_ns: 0,
                realtime_offset_ns: 1_700_000_000_123_456_789,
            },
            max_string: 8,
        };
        let mut events = vec![base()];
        // Every value kind, duplicate names, cut and non-UTF-8 strings.
        let mut e = base();
        e.outcome = Outcome::Ok(Value::Flags {
            names: vec![],
            rest: 0,
            raw: 0,
        });
        e.args = vec![
            Field::new("a", Value::Hex(255)),
            Field::new(
                "b",
                Value::Sym {
                    name: "AF_INET",
                    raw: 2,
                },
            ),
            Field::new("c", Value::Unknown(-77)),
            Field::new(
                "d",
                Value::Flags {
                    names: vec!["MSG_PEEK", "MSG_WAITALL"],
                    rest: 0x8000_0000,
                    raw: 0,
                },
            ),
            Field::new("e", Value::Str(vec![0xff, b'a', b'"', b'\\', b'\n'])),
            Field::new("e2", Value::Str("h\u{e9}llo \"w\u{f6}rld\" \t".into())),
            Field::new(
                "f",
                Value::Bytes {
                    shown: b"hi\x00\xff".to_vec(),
                    total: 10,
                },
            ),
            Field::new("g", Value::Ptr(0)),
            Field::new("g2", Value::Ptr(0xdead_beef)),
            Field::new("h", Value::Duration(1_500_000)),
            Field::new("i", Value::Infinite),
            Field::new(
                "j",
                Value::List(vec![
                    Value::Ip("10.1.2.3".parse().unwrap()),
                    Value::Ip("2001:db8::1".parse().unwrap()),
                ]),
            ),
            Field::new(
                "k",
                Value::Struct(vec![
                    Field::new("x", Value::Int(-1)),
                    Field::new("y", Value::List(vec![])),
                ]),
            ),
            Field::new("l", Value::Unavailable("unreadable")),
            Field::new(
                "m",
                Value::Addr(SockAddr::Unix {
                    path: b"sock".to_vec(),
                    kind: UnixKind::Abstract,
                }),
            ),
            Field::new(
                "n",
                Value::Addr(SockAddr::Unix {
                    path: b"/run/a\xffb".to_vec(),
                    kind: UnixKind::Path,
                }),
            ),
            Field::new(
                "o",
                Value::Addr(SockAddr::Unix {
                    path: vec![],
                    kind: UnixKind::Unnamed,
                }),
            ),
            Field::new("p", Value::Addr(SockAddr::Netlink { pid: 7, groups: 3 })),
            Field::new(
                "q",
                Value::Addr(SockAddr::Other {
                    family: 17,
                    family_name: Some("AF_PACKET"),
                    bytes: vec![1, 0xab],
                    short: false,
                }),
            ),
            Field::new(
                "r",
                Value::Addr(SockAddr::Other {
                    family: 99,
                    family_name: None,
                    bytes: vec![],
                    short: true,
                }),
            ),
            Field::new(
                "s",
                Value::Addr(SockAddr::V4 {
                    ip: "192.0.2.1".parse().unwrap(),
                    port: 53,
                }),
            ),
            Field::new("a", Value::Int(1)),
            Field::new("t", Value::Fd(-1)),
        ];
        e.returned = vec![Field::new(
            "addr",
            Value::Addr(SockAddr::V6 {
                ip: "fe80::1".parse().unwrap(),
                port: 1,
                flowinfo: 2,
                scope_id: 3,
            }),
        )];
        e.core.flags.insert(sock_trace_decode::CallFlags::INJECTED);
        e.core.flags.insert(sock_trace_decode::CallFlags::TRUNCATED);
        e.hint = Some("DNS query A example.test (id 0x1234)".into());
        e.frames = vec![
            CallerFrame {
                addr: 0x1234,
                module: "/usr/bin/p\"q".into(),
                function: Some("main".into()),
                offset: 0x35,
                file: Some("p.c".into()),
                line: Some(68),
                column: Some(5),
            },
            CallerFrame {
                addr: 0x99,
                module: "libx.so".into(),
                function: None,
                offset: 0x10,
                file: None,
                line: None,
                column: None,
            },
        ]
        .into();
        e.annotations = vec![
            note_with_country("192.0.2.1", "US"),
            AddrNote {
                ip: "198.51.100.2".parse().unwrap(),
                class_detail: Some(NoteClassDetail::Teredo {
                    server: [192, 0, 2, 9].into(),
                    client: [203, 0, 113, 4].into(),
                    client_port: 40000,
                }),
                country: None,
                ..note_with_country("198.51.100.2", "")
            },
            note_with_country("192.0.2.1", "DE"),
        ];
        e.data = Some(Payload {
            outgoing: false,
            shown: b"GET / HTTP/1.1\r\n".to_vec(),
            total: 300,
            buffers: vec![10, 290],
        });
        events.push(e);
        // Other outcomes.
        let mut e = base();
        e.outcome = Outcome::Void;
        e.callers = vec![];
        events.push(e);
        let mut e = base();
        e.outcome = Outcome::Err(ErrorInfo {
            ret: -2,
            space: ErrorSpace::Eai,
            code: -2,
            name: None,
            text: None,
        });
        e.data = Some(Payload {
            outgoing: true,
            shown: vec![],
            total: 0,
            buffers: vec![],
        });
        events.push(e);
        let mut e = base();
        e.outcome = Outcome::Err(ErrorInfo {
            ret: 0,
            space: ErrorSpace::HErrno,
            code: 1,
            name: Some("HOST_NOT_FOUND"),
            text: Some("Unknown host"),
        });
        events.push(e);
        // A process start and a loss notice.
        let mut e = base();
        e.func = Func::ProcStart;
        e.args = vec![
            Field::new("ppid", Value::Int(1)),
            Field::new(
                "exe",
                Value::Str(b"/usr/bin/a-rather-long-program-name".to_vec()),
            ),
            Field::new(
                "argv",
                Value::List(vec![
                    Value::Str(b"prog".to_vec()),
                    Value::Str(b"--flag=\"x\"".to_vec()),
                ]),
            ),
        ];
        events.push(e);
        let mut e = base();
        e.func = Func::Lost;
        e.args = vec![Field::new("records", Value::Int(12))];
        events.push(e);

        let mut p = JsonPrinter::new(opts.clone());
        for e in &events {
            let mut got = Vec::new();
            p.event(e, &mut got);
            let want = reference::event(&opts, e);
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&want),
                "{e:?}"
            );
        }
    }

    /// The decoder docs/JSON.md describes, in Rust.
    fn unescape(text: &str) -> Vec<u8> {
        let mut out = Vec::new();
        let mut rest = text;
        while let Some(i) = rest.find('\\') {
            out.extend_from_slice(&rest.as_bytes()[..i]);
            let esc = &rest[i..];
            if let Some(after) = esc.strip_prefix("\\\\") {
                out.push(b'\\');
                rest = after;
            } else {
                assert!(esc.starts_with("\\x"), "{text:?}");
                out.push(u8::from_str_radix(&esc[2..4], 16).unwrap());
                rest = &esc[4..];
            }
        }
        out.extend_from_slice(rest.as_bytes());
        out
    }

    #[test]
    fn program_strings_escape_unambiguously_and_round_trip() {
        let literal = b"C:\\xff".to_vec();
        let byte = b"C:\xff".to_vec();
        assert_eq!(program_text(&literal, 99), "C:\\\\xff");
        assert_eq!(program_text(&byte, 99), "C:\\xff");
        let cases: Vec<Vec<u8>> = vec![
            literal,
            byte,
            b"plain".to_vec(),
            "h\u{e9}llo \\ w\u{f6}rld\n\"q\"".as_bytes().to_vec(),
            vec![0xff, b'a', b'"', b'\\', b'\n', 0xc3, 0xa9, 0x80, 0xe2, 0x82],
            (0u8..=255).collect(),
        ];
        for bytes in &cases {
            let text = program_text(bytes, usize::MAX);
            assert_eq!(&unescape(&text), bytes, "{text:?}");
            // And through a JSON line, as a reader meets it.
            let line = serde_json::to_string(text.as_ref()).unwrap();
            let back: String = serde_json::from_str(&line).unwrap();
            assert_eq!(&unescape(&back), bytes);
        }
        // Cutting keeps whole characters and whole escapes.
        assert_eq!(program_text("a\u{e9}".as_bytes(), 2), "a");
        assert_eq!(program_text(b"a\\\xff", 2), "a\\\\");
        assert_eq!(program_text(b"\xff\xfe", 1), "\\xff");
    }
}
