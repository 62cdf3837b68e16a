//! `strace_like [--quiet] [--data N] [--callers] -- CMD ARGS...`: runs a command under the
//! system-call backend and prints the trace with the text printer (or, with
//! `--quiet`, only decodes it). Used for manual checks and for the cost
//! measurement in the report; the real entry point is `sock-trace run
//! --backend syscall` once the CLI calls [`sock_trace_syscall::run`].

use sock_trace_collect::{Area, Collector};
use sock_trace_event::ring::{CaptureOptions, Geometry};
use sock_trace_event::FuncMask;
use sock_trace_print::{Clock, TextOptions, TextPrinter};
use std::ffi::OsString;

fn main() {
    let mut args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let mut quiet = false;
    let mut max_data = 0;
    let mut depth = 0;
    while let Some(a) = args.first().and_then(|a| a.to_str()).map(str::to_owned) {
        match a.as_str() {
            "--quiet" => quiet = true,
            "--callers" => depth = 1,
            "--data" => {
                args.remove(0);
                max_data = args[0].to_str().unwrap().parse().unwrap();
            }
            "--" => {
                args.remove(0);
                break;
            }
            _ => break,
        }
        args.remove(0);
    }
    let capture = CaptureOptions {
        enabled: FuncMask::defaults(),
        max_data,
        caller_depth: depth,
        ..CaptureOptions::default()
    };
    let area = Area::create(Geometry::DEFAULT, capture, &[], &[]).expect("trace area");
    let h = area.shm().header();
    let clock = Clock {
        start_mono_ns: h.start_mono_ns.get(),
        realtime_offset_ns: h.realtime_offset_ns.get(),
    };
    let out: Box<dyn std::io::Write> = if quiet {
        Box::new(std::io::sink())
    } else {
        Box::new(std::io::stderr())
    };
    let mut collector = Collector::new(
        *area.shm(),
        Box::new(TextPrinter::new(TextOptions::plain(clock))),
        out,
    );
    let mut last = std::time::Instant::now();
    let status = sock_trace_syscall::run(&args, area.shm(), || {
        collector.poll();
        if last.elapsed().as_millis() > 100 {
            collector.reclaim();
            last = std::time::Instant::now();
        }
    });
    collector.finish();
    match status {
        Ok(st) => {
            if !quiet {
                eprintln!("events: {}", collector.stats().events);
            }
            std::process::exit(sock_trace_syscall::exit_code(st))
        }
        Err(e) => {
            eprintln!("strace_like: {e}");
            std::process::exit(e.code)
        }
    }
}
