//! The collector: the consumer side of the trace area, and the pipeline
//! every event goes through.
//!
//! [`Area`] creates the shared-memory file that the preload library maps.
//! [`Collector`] owns it and runs the stages:
//!
//! ```text
//! rings ─▶ order ─▶ decode ─▶ enrich ─▶ sinks ─▶ route ─▶ print
//! ```
//!
//! It drains every ring, orders records by completion time (holding them
//! for a short window so that a thread preempted between its call and its
//! commit still lands in order), decodes them, enriches them ([`Enrich`]:
//! callers, protocol hints, address annotations), feeds the sinks (the
//! summary, the pcap writer) and hands each event to the printer of its
//! process's output ([`Profile`]), writing whole batches of lines with one
//! write each. It also reclaims rings whose owners exited without giving
//! them back, and reports what could not be traced.
//!
//! [`Settings::resolve`] turns the configuration into what a session needs,
//! [`start_session`] builds the area and collector from it, and
//! [`collect_until`] is the collector loop that the launcher (`sock-trace
//! run`) and the standalone mode (a collector started by the preload
//! library itself) both run.

#[cfg(unix)]
mod area;
#[cfg(windows)]
#[path = "area_windows.rs"]
mod area;
mod area_common;
mod capture;
mod enrich;
pub mod recording;
mod session;
mod settings;

pub use area::{clock, Area};
pub use capture::PcapSink;
pub use enrich::Enrich;
pub use recording::{Recording, RecordingInfo, RecordingWriter};
pub use session::{collect_until, start_offline, start_recording, start_session, Watch};
pub use settings::{CallerProfile, OutputSpec, Profile, Programs, RunFlags, Settings};

use foldhash::{HashMap, HashMapExt, HashSet};
use sock_trace_decode::{Decoder, Event, ProcessChange};
use sock_trace_event::record::Record;
use sock_trace_event::ring::{RING_FREE, RING_OWNED, RING_RELEASED};
use sock_trace_event::{Func, Shm};
use sock_trace_print::{Printer, Summary};
use std::io::Write;
use std::rc::Rc;
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
    /// Processes found gone whose state (sockets, objects, profile) was
    /// dropped once every record they made had been decoded.
    pub processes_forgotten: u64,
}

/// Receives every enriched event before it is routed and printed: the
/// summary and the pcap writer.
pub trait EventSink {
    fn event(&mut self, ev: &Event);
    /// The trace is over: flush what is buffered.
    fn finish(&mut self) {}
    /// Writes what the sink has to say at the end of the trace (the
    /// summary) with the main output's printer.
    fn report(&mut self, _printer: &mut dyn Printer, _out: &mut Vec<u8>) {}
}

/// The exit summary is a sink: it counts every event.
impl EventSink for Summary {
    fn event(&mut self, ev: &Event) {
        self.add(ev);
    }

    fn report(&mut self, printer: &mut dyn Printer, out: &mut Vec<u8>) {
        printer.summary(self, out);
    }
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

pub struct Collector<'a> {
    /// Unmapped when the collector goes: nothing else holds the mapping.
    /// None for a collector that decodes a recording ([`Collector::offline`]).
    area: Option<Area>,
    /// Record mode: ready records go to the recording, undecoded.
    recorder: Option<RecordingWriter>,
    /// For a recording: the calls to show. A live trace chooses them when
    /// capturing; a recording holds what its `record` chose, and `print`
    /// narrows that (every call still updates the socket table).
    shown: Option<sock_trace_event::FuncMask>,
    decoder: Decoder,
    outputs: Vec<Output<'a>>,
    /// The router: each process's profile, from its executable.
    programs: Programs,
    routes: HashMap<u32, Rc<Profile>>,
    enrich: Option<Enrich>,
    sinks: Vec<Box<dyn EventSink + 'a>>,
    pending: Vec<Pending>,
    /// The bytes of pending records, one after another: one growing
    /// buffer rather than an allocation per record.
    arena: Vec<u8>,
    /// Traced processes found gone, with the CLOCK_MONOTONIC time they
    /// were found so: their state goes once every record made before then
    /// has been decoded (see [`Collector::forget_exited`]).
    dying: Vec<(u32, u64)>,
    last_pid: Option<u32>,
    stats: Stats,
}

/// A record waiting in the reorder buffer; its bytes are
/// `arena[at..at + len]`.
struct Pending {
    t_end: u64,
    seq: u64,
    at: usize,
    len: usize,
}

impl<'a> Collector<'a> {
    /// A collector of `area` writing everything to one output.
    pub fn new(area: Area, printer: Box<dyn Printer + 'a>, out: Box<dyn Write + 'a>) -> Self {
        Collector::with_area(Some(area), printer, out)
    }

    fn with_area(
        area: Option<Area>,
        printer: Box<dyn Printer + 'a>,
        out: Box<dyn Write + 'a>,
    ) -> Self {
        Collector {
            area,
            recorder: None,
            shown: None,
            decoder: Decoder::new(),
            outputs: vec![Output::new(printer, out)],
            programs: Programs::single(),
            routes: HashMap::new(),
            enrich: None,
            sinks: Vec::new(),
            pending: Vec::new(),
            arena: Vec::new(),
            dying: Vec::new(),
            last_pid: None,
            stats: Stats::default(),
        }
    }

    /// A collector whose main output (index 0) is `output`.
    pub fn from_output(area: Area, output: Output<'a>) -> Self {
        let Output { printer, out, .. } = output;
        Collector::new(area, printer, out)
    }

    /// A collector of records read from a recording ([`Collector::feed`]),
    /// with no trace area.
    pub fn offline(output: Output<'a>) -> Self {
        let Output { printer, out, .. } = output;
        Collector::with_area(None, printer, out)
    }

    /// The trace area this collector drains.
    ///
    /// # Panics
    /// For an offline collector, which has none.
    pub fn area(&self) -> &Area {
        self.area.as_ref().expect("a collector of rings")
    }

    /// Record mode: from now on, records go to `recording` in time order
    /// instead of being decoded and printed.
    pub fn record_to(&mut self, recording: RecordingWriter) {
        self.recorder = Some(recording);
    }

    /// Shows only the calls in `mask` (and the tracer's own records).
    pub fn show_only(&mut self, mask: sock_trace_event::FuncMask) {
        self.shown = Some(mask);
    }

    /// Takes records read from a recording (whole records, as
    /// [`recording::Recording::records`] gives them) and prints what is
    /// old enough; [`Collector::finish`] prints the rest.
    pub fn feed(&mut self, records: &[&[u8]]) {
        let mut latest = 0;
        for r in records {
            let start = self.arena.len();
            self.arena.extend_from_slice(r);
            self.take_records(start);
            if let Some(p) = self.pending.last() {
                latest = latest.max(p.t_end);
            }
        }
        // A recording is in time order but for records that reached the
        // rings late, as a live trace is: the same window puts them right.
        self.flush_pending(Some(latest.saturating_sub(REORDER_WINDOW_NS)));
        for o in &mut self.outputs {
            o.write_buffer(false);
        }
    }

    /// Runs a producer that lives in this process (the system-call
    /// backend's tracer) against this collector's trace area. `f` gets the
    /// area and a `poll` to call while it waits, which drains the rings
    /// (and reclaims dead owners' rings every 100 ms), so that a full ring
    /// only makes the producer wait. The area outlives the call.
    pub fn with_producer<R>(&mut self, f: impl FnOnce(&Shm, &mut dyn FnMut()) -> R) -> R {
        let shm = *self.area().shm();
        let mut last_reclaim = std::time::Instant::now();
        let mut poll = || {
            self.poll();
            if last_reclaim.elapsed() >= std::time::Duration::from_millis(100) {
                self.reclaim();
                last_reclaim = std::time::Instant::now();
            }
        };
        f(&shm, &mut poll)
    }

    /// Adds an output; returns its index for [`Profile::output`].
    pub fn add_output(&mut self, output: Output<'a>) -> usize {
        self.outputs.push(output);
        self.outputs.len() - 1
    }

    /// Chooses a profile for each process from its executable's path.
    pub fn set_programs(&mut self, programs: Programs) {
        self.programs = programs;
    }

    /// Adds the enrich stage.
    pub fn set_enrich(&mut self, enrich: Enrich) {
        self.enrich = Some(enrich);
    }

    /// Counts every event for an exit summary ([`Collector::print_summary`]).
    pub fn enable_summary(&mut self) {
        self.add_sink(Box::new(Summary::new()));
    }

    /// Writes what the sinks report (the summary) on the main output
    /// (after [`Collector::finish`]).
    pub fn print_summary(&mut self) {
        let o = &mut self.outputs[0];
        for s in &mut self.sinks {
            s.report(o.printer.as_mut(), &mut o.line);
        }
        if !o.line.is_empty() {
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
        let (no_ring, full, no_space) = match &self.area {
            Some(area) => {
                let h = area.shm().header();
                // Producers write these counters; a misbehaving one can
                // write anything, so they are read as unsigned and added
                // saturating.
                (
                    h.lost_no_ring.load(Ordering::Relaxed),
                    h.lost_full.load(Ordering::Relaxed),
                    h.lost_no_space.load(Ordering::Relaxed),
                )
            }
            None => (0, 0, 0),
        };
        let lost = no_ring.saturating_add(full).saturating_add(no_space);
        if let Some(rec) = &mut self.recorder {
            if lost > 0 {
                // The recording says so too: a loss record, printed as
                // `+++ N events lost +++` when the recording is.
                rec.record(&lost_record(lost));
            }
            if let Err(e) = rec.finish() {
                self.recorder = None;
                let text = format!("writing the recording failed: {e}; it ends early");
                self.notice(None, &text);
            }
        }
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
    /// owned ones whose thread no longer exists; forgets processes that
    /// are gone.
    pub fn reclaim(&mut self) {
        self.forget_exited();
        let Some(area) = &self.area else {
            return;
        };
        let shm = area.shm();
        let n = shm.geometry().nrings;
        for ring in 0..n {
            let ctl = shm.ctl(ring);
            match ctl.state.load(Ordering::Acquire) {
                RING_FREE => {}
                RING_RELEASED => {
                    if shm.drained(ring) {
                        shm.free(ring);
                        self.stats.rings_reclaimed += 1;
                    }
                }
                RING_OWNED => {
                    let pid = ctl.owner_pid.load(Ordering::Relaxed);
                    let tid = ctl.owner_tid.load(Ordering::Acquire);
                    if pid != 0 && tid != 0 && !thread_alive(pid, tid) && shm.drained(ring) {
                        // Check the state again: the owner cannot change it
                        // any more, but a released-then-freed race is harmless.
                        shm.free(ring);
                        self.stats.rings_reclaimed += 1;
                    }
                }
                _ => {}
            }
        }
    }

    /// Drops the state of traced processes that are gone, so that memory
    /// stays bounded over a long trace and a reused pid starts clean. A
    /// process found gone at time T is forgotten at a later call, once no
    /// record made before T waits in the reorder buffer: by then its own
    /// last records and the start records of children it forked (which
    /// inherit its sockets) have been decoded. Rings were drained in
    /// between, since [`Collector::poll`] runs between two calls. Works for
    /// every backend: it asks the system, not the rings.
    fn forget_exited(&mut self) {
        let oldest_pending = self.pending.iter().map(|p| p.t_end).min();
        let decoder = &mut self.decoder;
        let routes = &mut self.routes;
        let enrich = &mut self.enrich;
        let forgotten = &mut self.stats.processes_forgotten;
        self.dying.retain(|&(pid, found)| {
            if process_alive(pid) {
                // The pid was reused; its new start record resets it.
                return false;
            }
            if oldest_pending.is_some_and(|t| t <= found) {
                return true;
            }
            decoder.process_exited(pid);
            routes.remove(&pid);
            if let Some(e) = enrich.as_mut() {
                e.process_exited(pid);
            }
            *forgotten += 1;
            false
        });
        let now = clock(libc::CLOCK_MONOTONIC);
        for pid in self.decoder.sockets().pids() {
            if !self.dying.iter().any(|&(p, _)| p == pid) && !process_alive(pid) {
                self.dying.push((pid, now));
            }
        }
    }

    fn drain_rings(&mut self) -> usize {
        let Some(area) = &self.area else {
            return 0;
        };
        let shm = *area.shm();
        let n = shm.geometry().nrings;
        let mut taken = 0;
        for ring in 0..n {
            let ctl = shm.ctl(ring);
            if ctl.state.load(Ordering::Relaxed) == RING_FREE {
                continue;
            }
            if shm.corrupt(ring) {
                // A producer can only block on a ring whose counters lie;
                // start it over rather than let it wait for us forever.
                shm.resync(ring);
                self.stats.corrupt_rings += 1;
                continue;
            }
            loop {
                // Straight into the reorder buffer: records are parsed
                // where they land.
                let start = self.arena.len();
                let new_tail = shm.read_committed(ring, &mut self.arena);
                if self.arena.len() == start {
                    break;
                }
                taken += self.take_records(start);
                shm.consume(ring, new_tail);
            }
        }
        taken
    }

    /// Queues the records in `arena[start..]` for ordering; padding and a
    /// corrupt remainder stay there as dead bytes until the buffer is
    /// compacted. Returns the number of records queued.
    fn take_records(&mut self, start: usize) -> usize {
        let mut taken = 0;
        let mut pos = start;
        while pos < self.arena.len() {
            match Record::parse(&self.arena[pos..]) {
                Ok(r) => {
                    let len = r.header.len as usize;
                    if r.header.func != Func::Pad as u16 {
                        self.stats.records += 1;
                        taken += 1;
                        let seq = self.stats.records;
                        self.pending.push(Pending {
                            t_end: r.header.t_end,
                            seq,
                            at: pos,
                            len,
                        });
                    }
                    pos += len;
                }
                Err(_) => {
                    // A corrupt ring cannot be resynchronised: skip what
                    // is there.
                    self.stats.malformed += 1;
                    self.arena.truncate(pos);
                    break;
                }
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
        let arena = std::mem::take(&mut self.arena);
        if let Some(rec) = &mut self.recorder {
            for p in &ready {
                rec.record(&arena[p.at..p.at + p.len]);
            }
            self.stats.events += ready.len() as u64;
        } else {
            self.decode_ready(&ready, &arena);
        }
        self.keep_waiting(arena);
        for o in &mut self.outputs {
            o.write_buffer(false);
        }
    }

    /// Decodes, enriches, sinks, routes and prints records that are ready.
    fn decode_ready(&mut self, ready: &[Pending], arena: &[u8]) {
        for p in ready {
            let Ok(rec) = Record::parse(&arena[p.at..p.at + p.len]) else {
                self.stats.malformed += 1;
                continue;
            };
            if self.last_pid != Some(rec.header.pid) {
                // Runs of one process's records are common: skip the set.
                self.last_pid = Some(rec.header.pid);
                self.stats.pids.insert(rec.header.pid);
            }
            let Some(mut ev) = self.decoder.decode(&rec) else {
                continue;
            };
            self.stats.events += 1;
            if let Some(mask) = &self.shown {
                if ev.func.family() != sock_trace_event::Family::Meta && !mask.contains(ev.func) {
                    continue;
                }
            }
            if let Some(ProcessChange::Leaves { reason, exe }) = &ev.core.process {
                let text = leave_text(ev.pid, *reason, exe.as_deref());
                self.notice(Some(ev.pid), &text);
                continue;
            }
            let profile = self.route_of(&ev);
            if let Some(e) = &mut self.enrich {
                let pid = ev.pid;
                e.enrich(&mut ev, self.decoder.modules(pid), &profile.callers);
            }
            for s in &mut self.sinks {
                s.event(&ev);
            }
            let last = self.outputs.len() - 1;
            let o = &mut self.outputs[profile.output.min(last)];
            o.printer.event(&ev, &mut o.line);
        }
    }

    /// Takes back the reorder buffer, keeping the bytes of what still
    /// waits: moved down once the buffer is mostly spent, so that it stays
    /// a few times what waits.
    fn keep_waiting(&mut self, mut arena: Vec<u8>) {
        let waiting: usize = self.pending.iter().map(|p| p.len).sum();
        if waiting == 0 {
            arena.clear();
        } else if arena.len() > 4 * waiting + (1 << 16) {
            let mut kept = Vec::with_capacity(2 * waiting);
            for p in &mut self.pending {
                let at = kept.len();
                kept.extend_from_slice(&arena[p.at..p.at + p.len]);
                p.at = at;
            }
            arena = kept;
        }
        self.arena = arena;
    }

    /// The profile of the event's process: chosen at its start record from
    /// the executable, inherited from the parent until then.
    fn route_of(&mut self, ev: &Event) -> Rc<Profile> {
        let Some(p) = ev.proc_start() else {
            return match self.routes.get(&ev.pid) {
                Some(p) => p.clone(),
                None => self.programs.default_profile(),
            };
        };
        let parent = self
            .routes
            .get(&p.ppid)
            .cloned()
            .unwrap_or_else(|| self.programs.default_profile());
        let argv0 = p
            .argv
            .as_ref()
            .and_then(|a| a.first())
            .map_or(&[][..], Vec::as_slice);
        let route = match &p.exe {
            Some(exe) => self.programs.profile_for(exe, argv0),
            None => parent,
        };
        self.routes.insert(ev.pid, route.clone());
        route
    }
}

/// "process N leaves the trace at exec of PROG: why".
fn leave_text(pid: u32, reason: u64, exe: Option<&[u8]>) -> String {
    let what = match exe {
        Some(e) if !e.is_empty() => format!("{:?}", String::from_utf8_lossy(e)),
        _ => "a program".to_string(),
    };
    format!(
        "process {pid} leaves the trace at the exec of {what}: {}",
        sock_trace_event::leave::describe(reason)
    )
}

#[cfg(windows)]
use area::{process_alive, thread_alive};

/// Whether thread `tid` of process `pid` exists.
/// A record saying `n` events were lost, for a recording.
fn lost_record(n: u64) -> Vec<u8> {
    let mut buf = vec![0u8; 256];
    let len = {
        let mut w = sock_trace_event::record::RecordWriter::new(&mut buf, Func::Lost);
        let h = w.header();
        let now = clock(libc::CLOCK_MONOTONIC);
        h.t_start = now;
        h.t_end = now;
        h.args[0] = n;
        w.finish()
    };
    buf.truncate(len);
    buf
}

/// Whether a process exists (a zombie still does: its tracer or parent
/// has not reaped it yet, and its last records may still be on their way).
#[cfg(unix)]
fn process_alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks existence.
    let r = unsafe { libc::kill(pid as libc::pid_t, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(unix)]
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
