//! Formatting speed: one decoded `Event` → one text line or one JSON object,
//! per function. The events come from realistic records (built with the
//! hooks' own `RecordWriter`, decoded by the real `Decoder`), so the bench
//! follows the decoder's output as it evolves.

#[path = "../../decode/benches/common/mod.rs"]
mod common;

use criterion::{Criterion, Throughput};
use sock_trace_decode::{Decoder, Event};
use sock_trace_print::{Clock, JsonOptions, JsonPrinter, Printer, TextOptions, TextPrinter};
use std::hint::black_box;

fn events() -> Vec<(&'static str, Event)> {
    let mut d = Decoder::new();
    common::records()
        .into_iter()
        .filter_map(|(name, bytes)| d.decode(&common::parse(&bytes)).map(|ev| (name, ev)))
        .collect()
}

fn print(c: &mut Criterion) {
    let evs = events();
    let mut out = Vec::with_capacity(1 << 16);
    for (label, mut printer) in [
        (
            "text",
            Box::new(TextPrinter::new(TextOptions::plain(Clock::default()))) as Box<dyn Printer>,
        ),
        (
            "json",
            Box::new(JsonPrinter::new(JsonOptions::default())) as Box<dyn Printer>,
        ),
    ] {
        let mut g = c.benchmark_group(format!("print_{label}"));
        for (name, ev) in &evs {
            g.bench_function(*name, |b| {
                b.iter(|| {
                    out.clear();
                    printer.event(black_box(ev), &mut out);
                    black_box(out.len())
                })
            });
        }
        g.throughput(Throughput::Elements(evs.len() as u64));
        g.bench_function("sequence_of_10", |b| {
            b.iter(|| {
                out.clear();
                for (_, ev) in &evs {
                    printer.event(black_box(ev), &mut out);
                }
                black_box(out.len())
            })
        });
        g.finish();
    }
}

common::bench_main!(print);
