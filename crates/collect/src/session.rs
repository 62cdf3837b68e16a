//! A trace session: the area and a collector wired to every output and
//! sink from resolved [`Settings`], and the one collector loop that both
//! the launcher (`sock-trace run`) and the standalone collector drive.

use crate::settings::{OutputSpec, Settings};
use crate::{Area, Collector, Output};
use sock_trace_config as cfg;
use sock_trace_event::ring::{AreaSpec, Geometry};
use sock_trace_print as print;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// The trace area and a collector (which owns it) wired to every output,
/// with processes routed by their executable (per-program rules).
pub fn start_session(settings: Settings) -> Result<Collector<'static>, String> {
    let area = create_area(&settings)?;
    let clock = area.clock();
    wire(Some(area), settings, clock)
}

/// A collector for a recording made with `clock` (`sock-trace print`):
/// the same outputs and sinks as a live trace, fed by [`Collector::feed`].
pub fn start_offline(
    settings: Settings,
    clock: print::Clock,
) -> Result<Collector<'static>, String> {
    let shown = settings.capture.enabled;
    let mut collector = wire(None, settings, clock)?;
    collector.show_only(shown);
    Ok(collector)
}

/// Record mode (`sock-trace record`): the trace area, and a collector
/// that writes the records to `path` as they come, in time order, and its
/// notices (exit status, losses) in text to stderr.
pub fn start_recording(
    mut settings: Settings,
    path: &std::path::Path,
) -> Result<Collector<'static>, String> {
    let area = create_area(&settings)?;
    let clock = area.clock();
    let file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(path)
        .map_err(|e| {
            format!(
                "creating the recording {}: {e}",
                cfg::shorten(&path.display().to_string(), cfg::MAX_ECHO)
            )
        })?;
    let info = crate::RecordingInfo {
        record_abi: sock_trace_event::ABI_VERSION,
        start_mono_ns: clock.start_mono_ns,
        realtime_offset_ns: clock.realtime_offset_ns,
    };
    let writer = crate::RecordingWriter::new(
        Box::new(std::io::BufWriter::with_capacity(1 << 20, file)),
        info,
    )
    .map_err(|e| format!("writing the recording: {e}"))?;
    // Notices only: everything else is decoded when the recording is printed.
    settings.outputs.truncate(1);
    settings.outputs[0].dest = cfg::Output::Stderr;
    settings.outputs[0].format = print::Format::Text;
    settings.summary = false;
    settings.pcap = None;
    settings.annotate = None;
    let mut collector = wire(Some(area), settings, clock)?;
    collector.record_to(writer);
    Ok(collector)
}

fn create_area(settings: &Settings) -> Result<Area, String> {
    Area::create(AreaSpec {
        geometry: Geometry::DEFAULT,
        capture: settings.capture,
        rules: &settings.program_rules,
        actions: &settings.actions,
    })
    .map_err(|e| format!("creating the trace area: {e}"))
}

/// A collector (of `area`, or offline) wired to every output and sink.
fn wire(
    area: Option<Area>,
    settings: Settings,
    clock: print::Clock,
) -> Result<Collector<'static>, String> {
    let mut outputs = Vec::new();
    for spec in &settings.outputs {
        let (out, is_terminal) = open_output(&spec.dest)?;
        outputs.push(Output::new(printer(spec, is_terminal, clock), out));
    }
    let mut outputs = outputs.into_iter();
    let first = outputs.next().expect("the main output");
    let mut collector = match area {
        Some(area) => Collector::from_output(area, first),
        None => Collector::offline(first),
    };
    for o in outputs {
        collector.add_output(o);
    }
    collector.set_programs(settings.programs);
    if settings.summary {
        collector.enable_summary();
    }
    if let Some(path) = &settings.pcap {
        let sink = crate::PcapSink::create(path, clock).map_err(|e| {
            format!(
                "creating the packet capture {}: {e}",
                cfg::shorten(&path.display().to_string(), cfg::MAX_ECHO)
            )
        })?;
        collector.add_sink(Box::new(sink));
    }
    collector.set_enrich(crate::Enrich::new(settings.debug_dirs, settings.annotate));
    Ok(collector)
}

fn open_output(output: &cfg::Output) -> Result<(Box<dyn Write>, bool), String> {
    Ok(match output {
        // Buffered: the collector decides when to flush (every 20 ms at most).
        cfg::Output::Stderr => (
            Box::new(std::io::BufWriter::with_capacity(
                64 * 1024,
                std::io::stderr(),
            )),
            std::io::stderr().is_terminal(),
        ),
        cfg::Output::Stdout => (
            Box::new(std::io::BufWriter::with_capacity(
                64 * 1024,
                std::io::stdout(),
            )),
            std::io::stdout().is_terminal(),
        ),
        cfg::Output::File(p) => {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(true)
                .open(p)
                .map_err(|e| {
                    format!(
                        "opening the trace output {}: {e}",
                        cfg::shorten(&p.display().to_string(), cfg::MAX_ECHO)
                    )
                })?;
            (
                Box::new(std::io::BufWriter::with_capacity(256 * 1024, f)),
                false,
            )
        }
    })
}

fn printer(spec: &OutputSpec, is_terminal: bool, clock: print::Clock) -> Box<dyn print::Printer> {
    match spec.format {
        print::Format::Jsonl => Box::new(print::JsonPrinter::new(print::JsonOptions {
            clock,
            max_string: spec.max_string,
        })),
        print::Format::Text => {
            let env = |k: &str| std::env::var_os(k);
            let color = cfg::resolve_color(spec.color_flag, spec.color, is_terminal, &env);
            Box::new(print::TextPrinter::new(print::TextOptions {
                timestamps: spec.timestamps,
                show_pid: spec.show_pid,
                show_duration: spec.show_duration,
                color,
                palette: spec.palette,
                max_string: spec.max_string,
                clock,
                hexdump: spec.hexdump,
                address_detail: spec.address_detail,
            }))
        }
    }
}

/// How a mode of collection watches the traced programs: what it does
/// around each pass over the rings and when the trace is over.
pub trait Watch {
    /// What [`collect_until`] returns.
    type Done;
    /// How often [`Watch::check`] runs (rings are reclaimed as often).
    const CHECK_EVERY: Duration;
    /// Idle passes polled every 100 µs before settling at 1 ms.
    const QUICK_IDLE_PASSES: u32;
    /// Before each pass.
    fn before_poll(&mut self) {}
    /// After each pass: `Some` ends the collection.
    fn after_poll(&mut self, _collector: &mut Collector<'_>) -> Option<Self::Done> {
        None
    }
    /// Every [`Watch::CHECK_EVERY`], after the rings were reclaimed:
    /// `Some` ends the collection.
    fn check(&mut self, _collector: &mut Collector<'_>) -> Option<Self::Done> {
        None
    }
}

/// The collector loop: drains the rings, reclaims those of exited threads,
/// sleeps when there is nothing to read, until `watch` says the trace is
/// over. The caller then calls [`Collector::finish`].
pub fn collect_until<W: Watch>(collector: &mut Collector<'_>, watch: &mut W) -> W::Done {
    let mut idle_passes = 0u32;
    let mut last_check = Instant::now();
    loop {
        watch.before_poll();
        let n = collector.poll();
        if let Some(done) = watch.after_poll(collector) {
            return done;
        }
        if last_check.elapsed() >= W::CHECK_EVERY {
            last_check = Instant::now();
            collector.reclaim();
            if let Some(done) = watch.check(collector) {
                return done;
            }
        }
        if n == 0 {
            idle_passes = idle_passes.saturating_add(1);
            // Poll quickly right after activity, then settle at 1 ms.
            let us = if idle_passes <= W::QUICK_IDLE_PASSES {
                100
            } else {
                1000
            };
            std::thread::sleep(Duration::from_micros(us));
        } else {
            idle_passes = 0;
        }
    }
}
