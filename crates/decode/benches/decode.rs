//! Decoding speed: one record → one `Event`, per function, for the records
//! a typical client produces (built with the hooks' own `RecordWriter`),
//! plus the whole sequence (what the collector does per call).

mod common;

use criterion::{Criterion, Throughput};
use sock_trace_decode::Decoder;
use std::hint::black_box;

fn decode(c: &mut Criterion) {
    let recs = common::records();
    let mut g = c.benchmark_group("decode");
    for (name, bytes) in &recs {
        let mut d = Decoder::new();
        // Let the decoder learn fd 3 (socket tracking), as in a real trace.
        d.decode(&common::parse(&recs[0].1));
        g.bench_function(*name, |b| {
            b.iter(|| {
                let rec = common::parse(black_box(bytes));
                black_box(d.decode(&rec))
            })
        });
    }
    g.throughput(Throughput::Elements(recs.len() as u64));
    g.bench_function("sequence_of_10", |b| {
        let mut d = Decoder::new();
        b.iter(|| {
            for (_, bytes) in &recs {
                black_box(d.decode(&common::parse(black_box(bytes))));
            }
        })
    });
    g.finish();
}

common::bench_main!(decode);
