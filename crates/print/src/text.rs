//! The text printer.
//!
//! Line anatomy:
//!
//! ```text
//! [timestamp ][pid ]name(arg, arg, ...) = result[ => returned][ <duration>][ (notes)]
//! ```
//!
//! - timestamp: `absolute` local `HH:MM:SS.uuuuuu`; `relative` seconds since
//!   the trace started, `S.uuuuuu`; `delta` `+S.uuuuuu` since the previous line.
//! - pid: `[pid N]`, or `[pid N/T]` for a thread other than the main one.
//! - arguments are positional; structures show their field names
//!   (`{flags=AI_ADDRCONFIG, family=AF_INET}`).
//! - result: `= 3`, `= -1 ECONNREFUSED (111) Connection refused`,
//!   `= -2 EAI_NONAME Name or service not known`, `= NULL HOST_NOT_FOUND (1) ...`.
//! - returned: what the call handed back through its arguments: ready
//!   sets, addresses, resolved names, as `name=value, ...`.
//! - duration: seconds, for calls that may block, `<0.000123>`.
//! - durations inside values (timeouts) read `1.5s`, `250ms`, `10us`, `0`.

use crate::style::Palette;
use crate::{Clock, Printer, ShowPid, TimestampMode};
use anstyle::Style;
use foldhash::{HashMap, HashMapExt};
use sock_trace_decode::{
    CallerFrame, ErrorInfo, ErrorSpace, Event, Field, Outcome, SockAddr, UnixKind, Value,
};
use sock_trace_event::Func;
use std::io::Write;
use std::sync::Arc;

#[derive(Clone, Debug)]
pub struct TextOptions {
    pub timestamps: TimestampMode,
    pub show_pid: ShowPid,
    pub show_duration: bool,
    pub color: bool,
    pub palette: Palette,
    pub max_string: usize,
    pub clock: Clock,
    /// Show captured payload as a hex dump under the call.
    pub hexdump: bool,
    /// Show everything known about public addresses under the call.
    pub address_detail: bool,
}

impl TextOptions {
    /// No timestamps, pids when needed, durations, no colour.
    pub fn plain(clock: Clock) -> Self {
        TextOptions {
            timestamps: TimestampMode::None,
            show_pid: ShowPid::Auto,
            show_duration: true,
            color: false,
            palette: Palette::plain(),
            max_string: 64,
            clock,
            hexdump: false,
            address_detail: false,
        }
    }
}

pub struct TextPrinter {
    opts: TextOptions,
    /// The annotations of the event being printed, for its addresses.
    notes: Vec<(std::net::IpAddr, String)>,
    last_ns: Option<u64>,
    first_task: Option<(u32, u32)>,
    many_tasks: bool,
    /// Seconds east of UTC for absolute timestamps, computed once.
    utc_offset_s: i64,
    /// The text of each caller chain printed lately, by the chain's
    /// address (the collector shares one chain among the events made
    /// from the same place; holding it here keeps the address unique).
    chain_texts: HashMap<usize, (Arc<[CallerFrame]>, String)>,
}

/// Caller chains whose text is kept; past it the texts start over.
const CHAIN_TEXTS: usize = 1024;

/// A piece of a line: text and integers go into it directly (a line is
/// mostly these, and `core::fmt` costs several times more per piece);
/// anything else through `format_args!`.
trait Piece {
    fn put(self, out: &mut Vec<u8>);
}

impl Piece for &str {
    fn put(self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_bytes());
    }
}

impl Piece for &String {
    fn put(self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_bytes());
    }
}

impl Piece for String {
    fn put(self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_bytes());
    }
}

impl Piece for std::fmt::Arguments<'_> {
    fn put(self, out: &mut Vec<u8>) {
        match self.as_str() {
            Some(s) => out.extend_from_slice(s.as_bytes()),
            None => {
                let _ = out.write_fmt(self);
            }
        }
    }
}

macro_rules! integer_pieces {
    ($($t:ty),*) => {$(
        impl Piece for $t {
            fn put(self, out: &mut Vec<u8>) {
                out.extend_from_slice(itoa::Buffer::new().format(self).as_bytes());
            }
        }
        impl Piece for &$t {
            fn put(self, out: &mut Vec<u8>) {
                (*self).put(out);
            }
        }
    )*};
}
integer_pieces!(i32, i64, u32, u64);

impl TextPrinter {
    pub fn new(opts: TextOptions) -> Self {
        let utc_offset_s =
            local_utc_offset(opts.clock.realtime_ns(opts.clock.start_mono_ns) / 1_000_000_000);
        TextPrinter {
            opts,
            notes: Vec::new(),
            last_ns: None,
            first_task: None,
            many_tasks: false,
            utc_offset_s,
            chain_texts: HashMap::new(),
        }
    }

    /// For tests: a fixed offset from UTC for absolute timestamps.
    pub fn with_utc_offset(mut self, seconds: i64) -> Self {
        self.utc_offset_s = seconds;
        self
    }

    fn paint(&self, out: &mut Vec<u8>, style: Style, text: impl Piece) {
        self.paint_with(out, style, |out| text.put(out));
    }

    /// Writes what `body` writes, in `style` when colours are on.
    fn paint_with(&self, out: &mut Vec<u8>, style: Style, body: impl FnOnce(&mut Vec<u8>)) {
        if self.opts.color && style != Style::new() {
            let _ = write!(out, "{}", style.render());
            body(out);
            let _ = write!(out, "{}", style.render_reset());
        } else {
            body(out);
        }
    }

    fn prefix(&mut self, t_end: u64, pid: u32, tid: u32, out: &mut Vec<u8>) {
        let p = self.opts.palette;
        match self.opts.timestamps {
            TimestampMode::None => {}
            TimestampMode::Absolute => {
                let ns = self.opts.clock.realtime_ns(t_end) + self.utc_offset_s * 1_000_000_000;
                let secs = ns.div_euclid(1_000_000_000);
                let us = ns.rem_euclid(1_000_000_000) / 1000;
                let day = secs.rem_euclid(86_400);
                let s = format!(
                    "{:02}:{:02}:{:02}.{:06} ",
                    day / 3600,
                    day / 60 % 60,
                    day % 60,
                    us
                );
                self.paint(out, p.timestamp, s);
            }
            TimestampMode::Relative => {
                let ns = self.opts.clock.since_start_ns(t_end);
                let s = format!("{}.{:06} ", ns / 1_000_000_000, ns % 1_000_000_000 / 1000);
                self.paint(out, p.timestamp, s);
            }
            TimestampMode::Delta => {
                let ns = self.last_ns.map_or(0, |l| t_end.saturating_sub(l));
                let s = format!("+{}.{:06} ", ns / 1_000_000_000, ns % 1_000_000_000 / 1000);
                self.paint(out, p.timestamp, s);
            }
        }
        self.last_ns = Some(t_end);
        match self.first_task {
            None => self.first_task = Some((pid, tid)),
            Some(first) if first != (pid, tid) => self.many_tasks = true,
            _ => {}
        }
        let show = match self.opts.show_pid {
            ShowPid::Always => true,
            ShowPid::Never => false,
            ShowPid::Auto => self.many_tasks,
        };
        if show {
            self.paint_with(out, p.pid, |out| {
                out.extend_from_slice(b"[pid ");
                pid.put(out);
                if tid != pid && tid != 0 {
                    out.push(b'/');
                    tid.put(out);
                }
                out.extend_from_slice(b"] ");
            });
        }
    }

    fn process_line(&mut self, ev: &Event, out: &mut Vec<u8>) {
        let p = self.opts.palette;
        let get = |name: &str| ev.args.iter().find(|f| f.name == name).map(|f| &f.value);
        self.paint(out, p.notice, "+++ process ");
        self.paint(out, p.pid, ev.pid);
        if let Some(Value::Int(ppid)) = get("ppid") {
            let _ = write!(out, " started by {ppid}");
        }
        // The program's identity is printed whole: `max_string` is for
        // payload-like arguments, and a cut path would hide which binary ran.
        let whole = |out: &mut Vec<u8>, v: &Value| match v {
            Value::Str(s) => {
                let (text, _) = escape(s, usize::MAX);
                self.paint(out, p.string, format_args!("\"{text}\""));
            }
            other => self.value(out, other),
        };
        if let Some(exe) = get("exe") {
            out.extend_from_slice(b": ");
            whole(out, exe);
        }
        if let Some(Value::List(argv)) = get("argv") {
            for a in argv {
                out.push(b' ');
                whole(out, a);
            }
        }
        self.paint(out, p.notice, " +++");
        out.push(b'\n');
    }

    /// Renders one value.
    /// ` [US AS15169 GOOGLE]` after an annotated address.
    fn note(&self, out: &mut Vec<u8>, ip: std::net::IpAddr) {
        if let Some((_, text)) = self.notes.iter().find(|(a, t)| *a == ip && !t.is_empty()) {
            self.paint(out, self.opts.palette.constant, format_args!(" [{text}]"));
        }
    }

    pub fn value(&self, out: &mut Vec<u8>, v: &Value) {
        let p = self.opts.palette;
        match v {
            Value::Int(i) => self.paint(out, p.number, i),
            Value::Hex(h) => self.paint(out, p.number, format_args!("{h:#x}")),
            Value::Fd(fd) => self.paint(out, p.fd, fd),
            Value::Sym { name, .. } => self.paint(out, p.constant, *name),
            Value::Unknown(i) => self.paint(out, p.number, i),
            Value::Flags { names, rest, .. } => {
                if names.is_empty() && *rest == 0 {
                    self.paint(out, p.number, "0");
                }
                for (i, n) in names.iter().enumerate() {
                    if i > 0 {
                        out.push(b'|');
                    }
                    self.paint(out, p.constant, *n);
                }
                if *rest != 0 {
                    if !names.is_empty() {
                        out.push(b'|');
                    }
                    self.paint(out, p.number, format_args!("{rest:#x}"));
                }
            }
            Value::Str(s) => {
                let (text, cut) = escape(s, self.opts.max_string);
                self.paint(out, p.string, format_args!("\"{text}\""));
                if cut {
                    out.extend_from_slice(b"...");
                }
            }
            Value::Bytes { shown, total } => {
                let (text, cut) = escape(shown, self.opts.max_string);
                self.paint(out, p.string, format_args!("\"{text}\""));
                if cut || (*total as usize) > shown.len() {
                    out.extend_from_slice(b"...");
                }
            }
            Value::Addr(a) => {
                self.paint(out, p.address, addr_text(a, self.opts.max_string));
                if let SockAddr::V4 { ip, .. } = a {
                    self.note(out, (*ip).into());
                } else if let SockAddr::V6 { ip, .. } = a {
                    self.note(out, (*ip).into());
                }
            }
            Value::Ip(ip) => {
                self.paint(out, p.address, format_args!("{ip}"));
                self.note(out, *ip);
            }
            Value::Ptr(0) => self.paint(out, p.constant, "NULL"),
            Value::Ptr(x) => self.paint(out, p.number, format_args!("{x:#x}")),
            Value::Duration(ns) => self.paint(out, p.number, duration_text(*ns)),
            Value::Infinite => self.paint(out, p.constant, "infinite"),
            Value::List(items) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.extend_from_slice(b", ");
                    }
                    self.value(out, item);
                }
                out.push(b']');
            }
            Value::Struct(fields) => {
                out.push(b'{');
                self.fields(out, fields, true);
                out.push(b'}');
            }
            Value::Unavailable(_) => out.push(b'?'),
        }
    }

    fn fields(&self, out: &mut Vec<u8>, fields: &[Field], named: bool) {
        for (i, f) in fields.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(b", ");
            }
            if named {
                out.extend_from_slice(f.name.as_bytes());
                out.push(b'=');
            }
            self.value(out, &f.value);
        }
    }

    fn error(&self, out: &mut Vec<u8>, e: &ErrorInfo) {
        let p = self.opts.palette;
        if e.space == ErrorSpace::HErrno {
            self.paint(out, p.constant, "NULL");
        } else {
            self.paint(out, p.number, e.ret);
        }
        out.push(b' ');
        let name = e.name.unwrap_or("");
        let code = if e.space == ErrorSpace::Eai && e.ret == e.code {
            String::new()
        } else {
            format!(" ({})", e.code)
        };
        let text = e.text.unwrap_or("Unknown error");
        let label = if name.is_empty() {
            format!("error {}{code} {text}", e.code).replace("  ", " ")
        } else {
            format!("{name}{code} {text}")
        };
        self.paint(out, p.error, label.trim_start());
    }
}

impl Printer for TextPrinter {
    fn event(&mut self, ev: &Event, out: &mut Vec<u8>) {
        self.prefix(ev.t_end, ev.pid, ev.tid, out);
        match ev.func {
            Func::ProcStart => return self.process_line(ev, out),
            Func::Lost => {
                let n = ev.args.first().map(|f| &f.value);
                self.paint(out, self.opts.palette.notice, "+++ ");
                if let Some(v) = n {
                    self.value(out, v);
                }
                self.paint(out, self.opts.palette.notice, " events lost +++");
                out.push(b'\n');
                return;
            }
            _ => {}
        }
        let p = self.opts.palette;
        self.notes.clear();
        self.notes.extend(
            ev.annotations
                .iter()
                .filter_map(|n| Some((n.ip, crate::note::trace_words(n)?))),
        );
        self.paint(out, p.function, ev.func.name());
        out.push(b'(');
        self.fields(out, &ev.args, false);
        out.extend_from_slice(b") = ");
        match &ev.outcome {
            Outcome::Ok(v) => self.value(out, v),
            Outcome::Err(e) => self.error(out, e),
            Outcome::Void => out.extend_from_slice(b"void"),
        }
        if let Some(h) = &ev.hint {
            self.paint(out, p.string, format_args!(" [{h}]"));
        }
        if !ev.returned.is_empty() {
            out.extend_from_slice(b" => ");
            self.fields(out, &ev.returned, true);
        }
        if self.opts.show_duration && ev.may_block() {
            let ns = ev.duration_ns();
            self.paint_with(out, p.duration, |out| {
                out.extend_from_slice(b" <");
                seconds_micros(out, ns);
                out.push(b'>');
            });
        }
        let notes = ev.notes();
        if !notes.is_empty() {
            let _ = write!(out, " ({})", notes.join(", "));
        }
        if !ev.frames.is_empty() {
            let key = ev.frames.as_ptr() as usize;
            if !self.chain_texts.contains_key(&key) {
                if self.chain_texts.len() >= CHAIN_TEXTS {
                    self.chain_texts.clear();
                }
                let text: Vec<String> = ev.frames.iter().map(frame_text).collect();
                let text = format!(" @ {}", text.join(" < "));
                self.chain_texts.insert(key, (ev.frames.clone(), text));
            }
            let text = &self.chain_texts[&key].1;
            self.paint(out, p.caller, text);
        }
        out.push(b'\n');
        if self.opts.address_detail {
            for n in ev.annotations.iter() {
                if crate::note::trace_words(n).is_none() {
                    continue;
                }
                let _ = writeln!(out, "    {}:", n.ip);
                for l in &crate::note::detail_lines(n) {
                    let _ = writeln!(out, "      {l}");
                }
            }
        }
        if self.opts.hexdump {
            if let Some(d) = &ev.data {
                hexdump(d, out);
            }
        }
    }

    fn summary(&mut self, summary: &crate::Summary, out: &mut Vec<u8>) {
        let procs: Vec<_> = summary
            .processes()
            .filter(|(_, p)| !p.functions.is_empty())
            .collect();
        if procs.is_empty() {
            self.paint(
                out,
                self.opts.palette.notice,
                "+++ summary: no calls traced +++",
            );
            out.push(b'\n');
            return;
        }
        for (pid, p) in &procs {
            self.summary_block(&format!("pid {pid} {}", p.exe), p, out);
        }
        if procs.len() != 1 {
            self.summary_block("all processes", &summary.total(), out);
        }
    }

    fn notice(&mut self, pid: Option<u32>, text: &str, out: &mut Vec<u8>) {
        if let Some(pid) = pid {
            self.paint(out, self.opts.palette.pid, format_args!("[pid {pid}] "));
        }
        self.paint(
            out,
            self.opts.palette.notice,
            format_args!("+++ {text} +++"),
        );
        out.push(b'\n');
    }
}

impl TextPrinter {
    /// One process's table, laid out like `strace -c`: busiest first.
    fn summary_block(
        &mut self,
        title: &str,
        p: &crate::summary::ProcessSummary,
        out: &mut Vec<u8>,
    ) {
        let pal = self.opts.palette;
        self.paint(out, pal.notice, format_args!("+++ summary: {title} +++"));
        out.push(b'\n');
        let total_ns: u64 = p.functions.values().map(|s| s.total_ns).sum();
        let mut rows: Vec<_> = p.functions.iter().collect();
        rows.sort_by(|a, b| b.1.total_ns.cmp(&a.1.total_ns).then(a.0.cmp(b.0)));
        let _ = writeln!(
            out,
            "{:>6} {:>12} {:>10} {:>8} {:>7} {:>8}  function",
            "% time", "seconds", "usecs/call", "calls", "errors", "injected"
        );
        let _ = writeln!(
            out,
            "------ ------------ ---------- -------- ------- --------  ----------------"
        );
        let (mut calls, mut errors, mut injected) = (0, 0, 0);
        for (name, s) in rows {
            let pct = if total_ns == 0 {
                0.0
            } else {
                s.total_ns as f64 * 100.0 / total_ns as f64
            };
            let per = if s.calls == 0 {
                0.0
            } else {
                s.total_ns as f64 / 1000.0 / s.calls as f64
            };
            let _ = writeln!(
                out,
                "{pct:>6.2} {:>12.6} {per:>10.2} {:>8} {:>7} {:>8}  {name}",
                s.total_ns as f64 / 1e9,
                s.calls,
                blank0(s.errors),
                blank0(s.injected)
            );
            calls += s.calls;
            errors += s.errors;
            injected += s.injected;
        }
        let _ = writeln!(
            out,
            "------ ------------ ---------- -------- ------- --------  ----------------"
        );
        let per = if calls == 0 {
            0.0
        } else {
            total_ns as f64 / 1000.0 / calls as f64
        };
        let _ = writeln!(
            out,
            "{:>6.2} {:>12.6} {per:>10.2} {calls:>8} {:>7} {:>8}  total",
            100.0,
            total_ns as f64 / 1e9,
            blank0(errors),
            blank0(injected)
        );
        if !p.peers.is_empty() {
            out.push(b'\n');
            let _ = writeln!(
                out,
                "{:<40} {:>6} {:>14} {:>14}",
                "peer", "conns", "bytes sent", "bytes received"
            );
            for (peer, s) in &p.peers {
                let _ = writeln!(
                    out,
                    "{peer:<40} {:>6} {:>14} {:>14}",
                    s.connections, s.sent, s.received
                );
            }
        }
        if !p.errors.is_empty() {
            out.push(b'\n');
            let list: Vec<String> = p.errors.iter().map(|(e, n)| format!("{e} {n}")).collect();
            let _ = writeln!(out, "errors: {}", list.join(", "));
        }
        out.push(b'\n');
    }
}

/// Payload under its call: offset, 16 bytes in hex, the same as ASCII; one
/// block per buffer for scatter/gather calls; what was moved but not
/// captured as a count.
fn hexdump(d: &sock_trace_decode::Payload, out: &mut Vec<u8>) {
    let single = [d.total];
    let buffers: &[u64] = if d.buffers.len() > 1 {
        &d.buffers
    } else {
        &single
    };
    let mut at = 0usize;
    for (i, &len) in buffers.iter().enumerate() {
        let end = (at + len as usize).min(d.shown.len());
        if buffers.len() > 1 {
            let _ = writeln!(out, "    buffer {i}: {len} bytes");
        }
        for (row, chunk) in d.shown[at.min(end)..end].chunks(16).enumerate() {
            let _ = write!(out, "    {:04x}  ", row * 16);
            for j in 0..16 {
                match chunk.get(j) {
                    Some(b) => {
                        let _ = write!(out, "{b:02x} ");
                    }
                    None => out.extend_from_slice(b"   "),
                }
                if j == 7 {
                    out.push(b' ');
                }
            }
            out.extend_from_slice(b" |");
            out.extend(
                chunk
                    .iter()
                    .map(|&b| if (0x20..0x7f).contains(&b) { b } else { b'.' }),
            );
            out.extend_from_slice(b"|\n");
        }
        let shown = end.saturating_sub(at) as u64;
        if len > shown {
            let _ = writeln!(out, "    ... {} more bytes", len - shown);
        }
        at = end;
    }
}

fn blank0(n: u64) -> String {
    if n == 0 {
        String::new()
    } else {
        n.to_string()
    }
}

/// `ns` as seconds with six decimals (`0.002500`), the way durations and
/// relative timestamps read.
fn seconds_micros(out: &mut Vec<u8>, ns: u64) {
    (ns / 1_000_000_000).put(out);
    out.push(b'.');
    let us = ns % 1_000_000_000 / 1000;
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(us).as_bytes();
    out.extend(std::iter::repeat_n(b'0', 6 - digits.len()));
    out.extend_from_slice(digits);
}

/// A caller as a user reads it: `basic.c:53 (main+0x1c5)`, then
/// `main+0x1c5 in prog` without line information, then `prog+0x11c5`.
pub fn frame_text(f: &CallerFrame) -> String {
    let module = f.module.rsplit('/').next().unwrap_or(&f.module);
    match (&f.file, f.line, &f.function) {
        (Some(file), Some(line), Some(func)) => format!("{file}:{line} ({func}+{:#x})", f.offset),
        (Some(file), Some(line), None) => format!("{file}:{line} ({module}+{:#x})", f.offset),
        (_, _, Some(func)) => format!("{func}+{:#x} in {module}", f.offset),
        _ if module.is_empty() => format!("{:#x}", f.addr),
        _ => format!("{module}+{:#x}", f.offset),
    }
}

/// C-style escaping, cut at `max` input bytes. Returns (text, was_cut).
pub fn escape(bytes: &[u8], max: usize) -> (String, bool) {
    let cut = bytes.len() > max;
    let mut s = String::with_capacity(bytes.len().min(max) + 2);
    for &b in &bytes[..bytes.len().min(max)] {
        match b {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    (s, cut)
}

/// An address as text: `127.0.0.1:80`, `[::1]:80`, `[fe80::1%2]:80`,
/// `"/run/x.sock"`, `@"abstract"`, `unnamed`, `netlink:pid=0,groups=0x0`.
pub fn addr_text(a: &SockAddr, max_string: usize) -> String {
    match a {
        SockAddr::V4 { ip, port } => format!("{ip}:{port}"),
        SockAddr::V6 {
            ip,
            port,
            flowinfo,
            scope_id,
        } => {
            let mut s = if *scope_id != 0 {
                format!("[{ip}%{scope_id}]:{port}")
            } else {
                format!("[{ip}]:{port}")
            };
            if *flowinfo != 0 {
                s.push_str(&format!(" flow={flowinfo:#x}"));
            }
            s
        }
        SockAddr::Unix { path, kind } => match kind {
            UnixKind::Path => format!("\"{}\"", escape(path, max_string.max(108)).0),
            UnixKind::Abstract => format!("@\"{}\"", escape(path, max_string.max(108)).0),
            UnixKind::Unnamed => "unnamed".to_string(),
        },
        SockAddr::Netlink { pid, groups } => format!("netlink:pid={pid},groups={groups:#x}"),
        SockAddr::Other {
            family,
            family_name,
            bytes,
            short,
        } => {
            let fam = family_name
                .map(str::to_string)
                .unwrap_or_else(|| family.to_string());
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            format!(
                "{{family={fam}, data={hex}{}}}",
                if *short { " (short)" } else { "" }
            )
        }
    }
}

/// A timeout or interval: `0`, `10us`, `250ms`, `1.5s`.
pub fn duration_text(ns: u64) -> String {
    fn trim(v: f64) -> String {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
    if ns == 0 {
        "0".into()
    } else if ns >= 1_000_000_000 {
        format!("{}s", trim(ns as f64 / 1e9))
    } else if ns >= 1_000_000 {
        format!("{}ms", trim(ns as f64 / 1e6))
    } else if ns >= 1_000 {
        format!("{}us", trim(ns as f64 / 1e3))
    } else {
        format!("{ns}ns")
    }
}

/// The local time zone's offset from UTC at `unix_secs` (Windows: UTC
/// for now).
#[cfg(not(unix))]
fn local_utc_offset(_unix_secs: i64) -> i64 {
    0
}

/// The local time zone's offset from UTC at `unix_secs`.
#[cfg(unix)]
fn local_utc_offset(unix_secs: i64) -> i64 {
    let t = unix_secs as libc::time_t;
    // SAFETY: localtime_r with valid pointers; tm is plain data.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            0
        } else {
            tm.tm_gmtoff
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(func: Func, args: Vec<Field>, outcome: Outcome) -> Event {
        Event {
            args,
            outcome,
            ..Event::new(10, 10, func, 1_000, 2_501_000)
        }
    }

    fn render(p: &mut TextPrinter, e: &Event) -> String {
        let mut out = Vec::new();
        p.event(e, &mut out);
        String::from_utf8(out).unwrap()
    }

    fn plain() -> TextPrinter {
        TextPrinter::new(TextOptions::plain(Clock::default()))
    }

    #[test]
    fn socket_line_with_flags_and_symbols() {
        let e = ev(
            Func::Socket,
            vec![
                Field::new(
                    "domain",
                    Value::Sym {
                        name: "AF_INET",
                        raw: 2,
                    },
                ),
                Field::new(
                    "type",
                    Value::Flags {
                        names: vec!["SOCK_STREAM", "SOCK_CLOEXEC"],
                        rest: 0,
                        raw: 0x80001,
                    },
                ),
                Field::new(
                    "protocol",
                    Value::Sym {
                        name: "IPPROTO_TCP",
                        raw: 6,
                    },
                ),
            ],
            Outcome::Ok(Value::Fd(3)),
        );
        assert_eq!(
            render(&mut plain(), &e),
            "socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_TCP) = 3\n"
        );
    }

    #[test]
    fn errors_in_each_space() {
        // About error spaces, not durations (connect and the resolvers block).
        let mut p = TextPrinter::new(TextOptions {
            show_duration: false,
            ..TextOptions::plain(Clock::default())
        });
        let host = vec![Field::new("name", Value::Str(b"x.invalid".to_vec()))];
        for (func, args, (ret, space, code, name, text), want) in [
            (
                Func::Connect,
                vec![Field::new("fd", Value::Fd(3))],
                (
                    -1,
                    ErrorSpace::Errno,
                    111,
                    Some("ECONNREFUSED"),
                    Some("Connection refused"),
                ),
                "connect(3) = -1 ECONNREFUSED (111) Connection refused\n",
            ),
            (
                Func::Getaddrinfo,
                vec![],
                (
                    -2,
                    ErrorSpace::Eai,
                    -2,
                    Some("EAI_NONAME"),
                    Some("Name or service not known"),
                ),
                "getaddrinfo() = -2 EAI_NONAME Name or service not known\n",
            ),
            (
                Func::Gethostbyname,
                host,
                (
                    0,
                    ErrorSpace::HErrno,
                    1,
                    Some("HOST_NOT_FOUND"),
                    Some("Unknown host"),
                ),
                "gethostbyname(\"x.invalid\") = NULL HOST_NOT_FOUND (1) Unknown host\n",
            ),
            (
                Func::Send,
                vec![],
                (-1, ErrorSpace::Errno, 999, None, None),
                "send() = -1 error 999 (999) Unknown error\n",
            ),
        ] {
            let outcome = Outcome::Err(ErrorInfo {
                ret,
                space,
                code,
                name,
                text,
            });
            assert_eq!(render(&mut p, &ev(func, args, outcome)), want);
        }
    }

    #[test]
    fn addresses_of_every_kind() {
        let cases: Vec<(SockAddr, &str)> = vec![
            (
                SockAddr::V4 {
                    ip: [10, 0, 0, 1].into(),
                    port: 53,
                },
                "10.0.0.1:53",
            ),
            (
                SockAddr::V6 {
                    ip: "::1".parse().unwrap(),
                    port: 80,
                    flowinfo: 0,
                    scope_id: 0,
                },
                "[::1]:80",
            ),
            (
                SockAddr::V6 {
                    ip: "fe80::1".parse().unwrap(),
                    port: 80,
                    flowinfo: 0,
                    scope_id: 2,
                },
                "[fe80::1%2]:80",
            ),
            (
                SockAddr::Unix {
                    path: b"/run/a.sock".to_vec(),
                    kind: UnixKind::Path,
                },
                "\"/run/a.sock\"",
            ),
            (
                SockAddr::Unix {
                    path: b"name".to_vec(),
                    kind: UnixKind::Abstract,
                },
                "@\"name\"",
            ),
            (
                SockAddr::Unix {
                    path: vec![],
                    kind: UnixKind::Unnamed,
                },
                "unnamed",
            ),
            (
                SockAddr::Netlink { pid: 0, groups: 1 },
                "netlink:pid=0,groups=0x1",
            ),
            (
                SockAddr::Other {
                    family: 17,
                    family_name: Some("AF_PACKET"),
                    bytes: vec![1, 2],
                    short: true,
                },
                "{family=AF_PACKET, data=0102 (short)}",
            ),
        ];
        for (a, want) in cases {
            assert_eq!(addr_text(&a, 64), want);
        }
    }

    #[test]
    fn strings_are_escaped_and_cut() {
        let mut p = TextPrinter::new(TextOptions {
            max_string: 5,
            show_duration: false,
            ..TextOptions::plain(Clock::default())
        });
        let e = ev(
            Func::Getaddrinfo,
            vec![Field::new("node", Value::Str(b"a\"b\n\x01xyz".to_vec()))],
            Outcome::Ok(Value::Int(0)),
        );
        assert_eq!(
            render(&mut p, &e),
            "getaddrinfo(\"a\\\"b\\n\\x01\"...) = 0\n"
        );
    }

    #[test]
    fn timestamps_and_pid_switching() {
        let clock = Clock {
            start_mono_ns: 1_000,
            realtime_offset_ns: 86_400 * 1_000_000_000 + 3_723 * 1_000_000_000,
        };
        let mut p = TextPrinter::new(TextOptions {
            timestamps: TimestampMode::Relative,
            ..TextOptions::plain(clock)
        });
        let mut e = ev(
            Func::Listen,
            vec![Field::new("fd", Value::Fd(3))],
            Outcome::Ok(Value::Int(0)),
        );
        assert_eq!(render(&mut p, &e), "0.002500 listen(3) = 0\n");
        e.tid = 11;
        assert_eq!(render(&mut p, &e), "0.002500 [pid 10/11] listen(3) = 0\n");
        let mut p = TextPrinter::new(TextOptions {
            timestamps: TimestampMode::Delta,
            ..TextOptions::plain(clock)
        });
        e.tid = 10;
        assert_eq!(render(&mut p, &e), "+0.000000 listen(3) = 0\n");
        e.t_end += 1_500_000;
        assert_eq!(render(&mut p, &e), "+0.001500 listen(3) = 0\n");
        let mut p = TextPrinter::new(TextOptions {
            timestamps: TimestampMode::Absolute,
            ..TextOptions::plain(clock)
        })
        .with_utc_offset(0);
        // realtime = 1 day + 1h 2m 3s + 0.004001 s
        e.t_end = 4_001_000;
        assert_eq!(render(&mut p, &e), "01:02:03.004001 listen(3) = 0\n");
    }

    #[test]
    fn returned_values_durations_and_notes() {
        let mut e = ev(
            Func::Poll,
            vec![
                Field::new("nfds", Value::Int(1)),
                Field::new("timeout", Value::Duration(1_500_000_000)),
            ],
            Outcome::Ok(Value::Int(1)),
        );
        e.returned = vec![Field::new(
            "ready",
            Value::List(vec![Value::Struct(vec![
                Field::new("fd", Value::Fd(3)),
                Field::new(
                    "revents",
                    Value::Flags {
                        names: vec!["POLLIN"],
                        rest: 0x4000,
                        raw: 0x4001,
                    },
                ),
            ])]),
        )];
        e.core.flags.insert(sock_trace_decode::CallFlags::TRUNCATED);
        assert_eq!(
            render(&mut plain(), &e),
            "poll(1, 1.5s) = 1 => ready=[{fd=3, revents=POLLIN|0x4000}] <0.002500> (truncated)\n"
        );
    }

    #[test]
    fn colour_codes_only_when_asked() {
        let e = ev(
            Func::Close,
            vec![Field::new("fd", Value::Fd(4))],
            Outcome::Ok(Value::Int(0)),
        );
        let out = render(&mut plain(), &e);
        assert!(!out.contains('\x1b'));
        let mut p = TextPrinter::new(TextOptions {
            color: true,
            palette: Palette::default(),
            show_duration: false,
            ..TextOptions::plain(Clock::default())
        });
        let out = render(&mut p, &e);
        assert_eq!(out, "\x1b[1mclose\x1b[0m(\x1b[36m4\x1b[0m) = 0\n");
    }

    #[test]
    fn duration_words() {
        assert_eq!(duration_text(0), "0");
        assert_eq!(duration_text(10_000), "10us");
        assert_eq!(duration_text(250_000_000), "250ms");
        assert_eq!(duration_text(1_500_000_000), "1.5s");
    }
}
