//! The collector: the consumer side of the trace area.
//!
//! [`Area`] creates the shared-memory file that the preload library maps.
//! [`Collector`] drains every ring, orders records by completion time
//! (holding them for a short window so that a thread preempted between its
//! call and its commit still lands in order), decodes them and hands the
//! events to a [`sock_trace_print::Printer`], writing whole batches of lines
//! with one write each. It also reclaims rings whose owners exited without
//! giving them back, and reports what could not be traced.
//!
//! The launcher (`sock-trace run`) and the standalone mode (a collector
//! started by the preload library itself) both drive a `Collector`.

mod area;
mod capture;

pub use area::{clock, Area};
pub use capture::PcapSink;

use sock_trace_decode::{Decoder, Event, LoadedModule};
use sock_trace_event::record::Record;
use sock_trace_event::ring::{RING_FREE, RING_OWNED, RING_RELEASED};
use sock_trace_event::{Func, Shm};
use sock_trace_print::{Printer, Summary};
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::sync::atomic::Ordering;

/// How long a record waits for possibly earlier records from other threads.
const REORDER_WINDOW_NS: u64 = 3_000_000;

/// What the collector saw; the exit report and tests read it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub records: u64,
    pub events: u64,
    pub malformed: u64,
    pub rings_reclaimed: u64,
    /// Rings whose counters were found broken and restarted.
    pub corrupt_rings: u64,
    pub pids: HashSet<u32>,
}

/// Receives every decoded event (the printer is one consumer; the summary
/// and later annotators are others).
pub trait EventSink {
    fn event(&mut self, ev: &Event);
    /// The trace is over: flush what is buffered.
    fn finish(&mut self) {}
}

/// Adds to an event what its record alone cannot say: caller frames
/// (symbolised with the process's module map), address annotations.
/// `profile` is the process's [`Route::profile`].
pub trait Enricher {
    fn enrich(&mut self, ev: &mut Event, modules: &[LoadedModule], profile: usize);
}

/// Where a process's events go and which settings shape them, chosen once
/// per process from its executable (per-program rules).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Route {
    /// Index into the collector's outputs.
    pub output: usize,
    /// Opaque to the collector; handed to the [`Enricher`].
    pub profile: usize,
}

/// One destination of the trace: a printer and what it writes to.
pub struct Output<'a> {
    printer: Box<dyn Printer + 'a>,
    out: Box<dyn Write + 'a>,
    line: Vec<u8>,
    failed: bool,
    /// Bytes handed to `out` since its last flush.
    dirty: bool,
    last_flush: std::time::Instant,
}

impl<'a> Output<'a> {
    pub fn new(printer: Box<dyn Printer + 'a>, out: Box<dyn Write + 'a>) -> Self {
        Output {
            printer,
            out,
            line: Vec::with_capacity(64 * 1024),
            failed: false,
            dirty: false,
            last_flush: std::time::Instant::now(),
        }
    }

    /// Hands the buffered lines to the writer. The writer is flushed (a
    /// system call) at most every [`FLUSH_EVERY`], or when `force`d: under
    /// a busy program that turns thousands of small writes a second into a
    /// few large ones, at the price of lines reaching the output up to
    /// 20 ms later.
    fn write_buffer(&mut self, force: bool) {
        if self.failed {
            self.line.clear();
            return;
        }
        let mut result = Ok(());
        if !self.line.is_empty() {
            result = self.out.write_all(&self.line);
            self.line.clear();
            self.dirty = true;
        }
        if result.is_ok() && self.dirty && (force || self.last_flush.elapsed() >= FLUSH_EVERY) {
            result = self.out.flush();
            self.dirty = false;
            self.last_flush = std::time::Instant::now();
        }
        if let Err(e) = result {
            // A closed pipe (sock-trace ... | head) must not stop the
            // traced program: keep draining, stop writing.
            self.failed = true;
            if e.kind() != std::io::ErrorKind::BrokenPipe {
                eprintln!(
                    "sock-trace: writing the trace failed: {e}; the program keeps running untraced"
                );
            }
        }
    }
}

/// Longest a written line waits in the output buffer.
const FLUSH_EVERY: std::time::Duration = std::time::Duration::from_millis(20);

/// Chooses a route from a process's executable path and `argv[0]`.
type RouteFn<'a> = Box<dyn FnMut(&[u8], &[u8]) -> Route + 'a>;

pub struct Collector<'a> {
    shm: Shm,
    decoder: Decoder,
    outputs: Vec<Output<'a>>,
    router: Option<RouteFn<'a>>,
    routes: HashMap<u32, Route>,
    enricher: Option<Box<dyn Enricher + 'a>>,
    summary: Option<Summary>,
    sinks: Vec<Box<dyn EventSink + 'a>>,
    pending: Vec<Pending>,
    scratch: Vec<u8>,
    stats: Stats,
}

struct Pending {
    t_end: u64,
    seq: u64,
    bytes: Vec<u8>,
}

impl<'a> Collector<'a> {
    /// A collector writing everything to one output.
    pub fn new(shm: Shm, printer: Box<dyn Printer + 'a>, out: Box<dyn Write + 'a>) -> Self {
        Collector {
            shm,
            decoder: Decoder::new(),
            outputs: vec![Output::new(printer, out)],
            router: None,
            routes: HashMap::new(),
            enricher: None,
            summary: None,
            sinks: Vec::new(),
            pending: Vec::new(),
            scratch: Vec::with_capacity(256 * 1024),
            stats: Stats::default(),
        }
    }

    /// A collector whose main output (index 0) is `output`.
    pub fn from_output(shm: Shm, output: Output<'a>) -> Self {
        let Output { printer, out, .. } = output;
        Collector::new(shm, printer, out)
    }

    /// Adds an output; returns its index for [`Route::output`].
    pub fn add_output(&mut self, output: Output<'a>) -> usize {
        self.outputs.push(output);
        self.outputs.len() - 1
    }

    /// Chooses a route for each process from its executable's path.
    pub fn set_router(&mut self, router: impl FnMut(&[u8], &[u8]) -> Route + 'a) {
        self.router = Some(Box::new(router));
    }

    pub fn set_enricher(&mut self, enricher: Box<dyn Enricher + 'a>) {
        self.enricher = Some(enricher);
    }

    /// Counts every event for an exit summary ([`Collector::print_summary`]).
    pub fn enable_summary(&mut self) {
        self.summary = Some(Summary::new());
    }

    /// Writes the summary on the main output (after [`Collector::finish`]).
    pub fn print_summary(&mut self) {
        if let Some(s) = &self.summary {
            let o = &mut self.outputs[0];
            o.printer.summary(s, &mut o.line);
            o.write_buffer(true);
        }
    }

    pub fn add_sink(&mut self, sink: Box<dyn EventSink + 'a>) {
        self.sinks.push(sink);
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    pub fn decoder(&self) -> &Decoder {
        &self.decoder
    }

    /// Drains every ring once and prints what is old enough. Returns the
    /// number of records taken from the rings.
    pub fn poll(&mut self) -> usize {
        let taken = self.drain_rings();
        let horizon = clock(libc::CLOCK_MONOTONIC).saturating_sub(REORDER_WINDOW_NS);
        self.flush_pending(Some(horizon));
        // Lines written a while ago reach the output even when the program
        // has gone quiet.
        for o in &mut self.outputs {
            o.write_buffer(false);
        }
        taken
    }

    /// Drains and prints everything, then reports losses.
    pub fn finish(&mut self) {
        loop {
            let n = self.drain_rings();
            if n == 0 {
                break;
            }
        }
        self.flush_pending(None);
        for s in &mut self.sinks {
            s.finish();
        }
        let h = self.shm.header();
        // Producers write these counters; a misbehaving one can write
        // anything, so they are read as unsigned and added saturating.
        let no_ring = h.lost_no_ring.load(Ordering::Relaxed);
        let full = h.lost_full.load(Ordering::Relaxed);
        let no_space = h.lost_no_space.load(Ordering::Relaxed);
        let lost = no_ring.saturating_add(full).saturating_add(no_space);
        if lost > 0 {
            let mut parts = Vec::new();
            if no_ring > 0 {
                parts.push(format!("{no_ring} with every ring taken"));
            }
            if full > 0 {
                parts.push(format!(
                    "{full} while the collector was gone or made no progress for 10 s"
                ));
            }
            if no_space > 0 {
                parts.push(format!(
                    "{no_space} because memory for a ring could not be allocated"
                ));
            }
            let text = format!("{lost} events were not recorded ({})", parts.join(", "));
            self.notice(None, &text);
        }
        if self.stats.malformed > 0 {
            let text = format!("{} malformed records skipped", self.stats.malformed);
            self.notice(None, &text);
        }
        if self.stats.corrupt_rings > 0 {
            let text = format!(
                "{} rings were found corrupt (a traced process wrote into the trace area) and restarted",
                self.stats.corrupt_rings
            );
            self.notice(None, &text);
        }
        for o in &mut self.outputs {
            o.write_buffer(true);
        }
    }

    /// Prints a tracer notice in the trace's format, on the main output.
    pub fn notice(&mut self, pid: Option<u32>, text: &str) {
        let o = &mut self.outputs[0];
        o.printer.notice(pid, text, &mut o.line);
        o.write_buffer(true);
    }

    /// Frees rings whose owner is gone: released ones once drained, and
    /// owned ones whose thread no longer exists.
    pub fn reclaim(&mut self) {
        let n = self.shm.geometry().nrings;
        for ring in 0..n {
            let ctl = self.shm.ctl(ring);
            match ctl.state.load(Ordering::Acquire) {
                RING_FREE => {}
                RING_RELEASED => {
                    if self.shm.drained(ring) {
                        self.shm.free(ring);
                        self.stats.rings_reclaimed += 1;
                    }
                }
                RING_OWNED => {
                    let pid = ctl.owner_pid.load(Ordering::Relaxed);
                    let tid = ctl.owner_tid.load(Ordering::Acquire);
                    if pid != 0 && tid != 0 && !thread_alive(pid, tid) && self.shm.drained(ring) {
                        // Check the state again: the owner cannot change it
                        // any more, but a released-then-freed race is harmless.
                        self.shm.free(ring);
                        self.stats.rings_reclaimed += 1;
                    }
                }
                _ => {}
            }
        }
    }

    fn drain_rings(&mut self) -> usize {
        let n = self.shm.geometry().nrings;
        let mut taken = 0;
        for ring in 0..n {
            let ctl = self.shm.ctl(ring);
            if ctl.state.load(Ordering::Relaxed) == RING_FREE {
                continue;
            }
            if self.shm.corrupt(ring) {
                // A producer can only block on a ring whose counters lie;
                // start it over rather than let it wait for us forever.
                self.shm.resync(ring);
                self.stats.corrupt_rings += 1;
                continue;
            }
            loop {
                self.scratch.clear();
                let new_tail = self.shm.read_committed(ring, &mut self.scratch);
                if self.scratch.is_empty() {
                    break;
                }
                let mut pos = 0;
                while pos < self.scratch.len() {
                    match Record::parse(&self.scratch[pos..]) {
                        Ok(r) => {
                            let len = r.header.len as usize;
                            if r.header.func != Func::Pad as u16 {
                                self.stats.records += 1;
                                taken += 1;
                                let seq = self.stats.records;
                                self.pending.push(Pending {
                                    t_end: r.header.t_end,
                                    seq,
                                    bytes: self.scratch[pos..pos + len].to_vec(),
                                });
                            }
                            pos += len;
                        }
                        Err(_) => {
                            // A corrupt ring cannot be resynchronised: skip
                            // what is there.
                            self.stats.malformed += 1;
                            break;
                        }
                    }
                }
                self.shm.consume(ring, new_tail);
            }
        }
        taken
    }

    fn flush_pending(&mut self, horizon: Option<u64>) {
        if self.pending.is_empty() {
            return;
        }
        self.pending.sort_by_key(|p| (p.t_end, p.seq));
        let cut = match horizon {
            Some(h) => self.pending.partition_point(|p| p.t_end <= h),
            None => self.pending.len(),
        };
        if cut == 0 {
            return;
        }
        let ready: Vec<Pending> = self.pending.drain(..cut).collect();
        for p in &ready {
            let Ok(rec) = Record::parse(&p.bytes) else {
                self.stats.malformed += 1;
                continue;
            };
            self.stats.pids.insert(rec.header.pid);
            let Some(mut ev) = self.decoder.decode(&rec) else {
                continue;
            };
            self.stats.events += 1;
            if ev.func == Func::ProcLeave {
                let text = leave_text(&ev);
                self.notice(Some(ev.pid), &text);
                continue;
            }
            let route = self.route_of(&ev);
            if let Some(e) = &mut self.enricher {
                let pid = ev.pid;
                e.enrich(&mut ev, self.decoder.modules(pid), route.profile);
            }
            if let Some(s) = &mut self.summary {
                s.add(&ev);
            }
            for s in &mut self.sinks {
                s.event(&ev);
            }
            let last = self.outputs.len() - 1;
            let o = &mut self.outputs[route.output.min(last)];
            o.printer.event(&ev, &mut o.line);
        }
        for o in &mut self.outputs {
            o.write_buffer(false);
        }
    }

    /// The route of the event's process: chosen at its start record from
    /// the executable, inherited from the parent until then.
    fn route_of(&mut self, ev: &Event) -> Route {
        use sock_trace_decode::Value;
        if ev.func != Func::ProcStart {
            return self.routes.get(&ev.pid).copied().unwrap_or_default();
        }
        let arg = |name: &str| ev.args.iter().find(|f| f.name == name).map(|f| &f.value);
        let parent = match arg("ppid") {
            Some(Value::Int(p)) => self.routes.get(&(*p as u32)).copied(),
            _ => None,
        }
        .unwrap_or_default();
        let argv0 = match arg("argv") {
            Some(Value::List(l)) => match l.first() {
                Some(Value::Str(a)) => a.as_slice(),
                _ => &[],
            },
            _ => &[],
        };
        let route = match (&mut self.router, arg("exe")) {
            (Some(r), Some(Value::Str(exe))) => r(exe, argv0),
            _ => parent,
        };
        self.routes.insert(ev.pid, route);
        route
    }
}

/// "process N leaves the trace at exec of PROG: why".
fn leave_text(ev: &Event) -> String {
    use sock_trace_decode::Value;
    let mut reason = 0;
    let mut exe = String::new();
    for a in &ev.args {
        match (a.name, &a.value) {
            ("reason", Value::Int(r)) => reason = *r as u64,
            ("exe", Value::Str(s)) => exe = String::from_utf8_lossy(s).into_owned(),
            _ => {}
        }
    }
    let what = if exe.is_empty() {
        "a program".to_string()
    } else {
        format!("{exe:?}")
    };
    format!(
        "process {} leaves the trace at the exec of {what}: {}",
        ev.pid,
        sock_trace_event::leave::describe(reason)
    )
}

/// Whether thread `tid` of process `pid` exists.
fn thread_alive(pid: u32, tid: u32) -> bool {
    // SAFETY: signal 0 only checks existence.
    let r = unsafe {
        libc::syscall(
            libc::SYS_tgkill,
            pid as libc::c_long,
            tid as libc::c_long,
            0 as libc::c_long,
        )
    };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}
