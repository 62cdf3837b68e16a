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

use crate::text::escape;
use crate::{Clock, Printer};
use base64::Engine;
use serde_json::{json, Map, Value as J};
use sock_trace_decode::{
    CallerFrame, ErrorSpace, Event, Field, Outcome, SockAddr, UnixKind, Value,
};
use sock_trace_event::Func;

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

    fn times(&self, m: &mut Map<String, J>, t_end: u64) {
        let real = self.opts.clock.realtime_ns(t_end);
        m.insert("time".into(), json!(real as f64 / 1e9));
        m.insert(
            "rel".into(),
            json!(self.opts.clock.since_start_ns(t_end) as f64 / 1e9),
        );
    }
}

/// A string from the program: text when it is valid UTF-8 (cut at `max`
/// bytes on a character boundary), otherwise C-escaped like the text printer.
fn string(bytes: &[u8], max: usize) -> J {
    match std::str::from_utf8(bytes) {
        Ok(s) => {
            let mut end = s.len().min(max);
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            J::String(s[..end].to_string())
        }
        Err(_) => J::String(escape(bytes, max).0),
    }
}

/// An address as an object keyed by what it holds.
pub fn addr(a: &SockAddr) -> J {
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
pub fn value(v: &Value, max: usize) -> J {
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

impl Printer for JsonPrinter {
    fn event(&mut self, ev: &Event, out: &mut Vec<u8>) {
        let max = self.opts.max_string.max(1);
        let mut m = Map::new();
        let kind = match ev.func {
            Func::ProcStart => "process",
            Func::Lost => "lost",
            _ => "call",
        };
        m.insert("type".into(), json!(kind));
        self.times(&mut m, ev.t_end);
        m.insert("pid".into(), json!(ev.pid));
        m.insert("tid".into(), json!(ev.tid));
        if kind != "call" {
            for (k, v) in fields_obj(&ev.args, 4096) {
                m.insert(k, v);
            }
        } else {
            m.insert("func".into(), json!(ev.func.name()));
            m.insert("fortified".into(), json!(ev.fortified));
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
            m.insert("may_block".into(), json!(ev.may_block));
            m.insert("notes".into(), json!(ev.notes));
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
                    .map(|n| {
                        (
                            n.ip.to_string(),
                            serde_json::from_str(&n.json).unwrap_or(J::Null),
                        )
                    })
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
        if serde_json::to_writer(&mut *out, &J::Object(m)).is_ok() {
            out.push(b'\n');
        }
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
            pid: 5,
            tid: 6,
            t_start: 1_000,
            t_end: 3_000,
            func: Func::Connect,
            fortified: false,
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
            returned: vec![],
            may_block: true,
            notes: vec![],
            callers: vec![0x1234],
            frames: vec![],
            data: None,
            socket: None,
            hint: None,
            annotations: vec![],
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
        }];
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
}
