//! Symbolization speed: module load, first lookup per address (DWARF and
//! symbol-table paths), and cached lookups.
//!
//! Needs `gcc` (the DWARF workload is a generated C program with 400
//! functions, compiled with `-g -O1` into a temp dir).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use object::{Object, ObjectSegment, ObjectSymbol, SymbolKind};
use sock_trace_symbolize::{Module, Options, ProcessMap, Segment, Symbolizer};

const NFUNCS: usize = 400;
const BIAS: u64 = 0x5555_5555_0000;

fn generate(dir: &Path) -> PathBuf {
    let mut src = String::from("int (*volatile sink)(int);\n");
    for i in 0..NFUNCS {
        src.push_str(&format!(
            "__attribute__((noinline)) int f{i}(int x) {{\n    int r = sink(x + {i});\n    return r * 3;\n}}\n"
        ));
    }
    src.push_str("static int id(int x) { return x; }\nint main(void) { sink = id; int r = 0;\n");
    for i in 0..NFUNCS {
        src.push_str(&format!("    r += f{i}(r);\n"));
    }
    src.push_str("    return r == 42;\n}\n");
    let c = dir.join("gen.c");
    std::fs::write(&c, src).unwrap();
    let exe = dir.join("gen");
    let st = Command::new("gcc")
        .args(["-g", "-O1", "-fPIE", "-pie", "-o"])
        .arg(&exe)
        .arg(&c)
        .status()
        .expect("gcc");
    assert!(st.success());
    exe
}

/// Module description (as the preload library would send it) and one
/// address inside each function symbol.
fn describe(path: &Path, dynamic: bool, limit: usize) -> (Module, Vec<u64>) {
    let data = std::fs::read(path).unwrap();
    let obj = object::File::parse(&*data).unwrap();
    let module = Module {
        path: path.to_path_buf(),
        bias: BIAS,
        segments: obj
            .segments()
            .map(|s| Segment {
                vaddr: s.address(),
                memsz: s.size(),
                offset: s.file_range().0,
            })
            .collect(),
        build_id: obj.build_id().ok().flatten().map(<[u8]>::to_vec),
    };
    let syms: Vec<_> = if dynamic {
        obj.dynamic_symbols().collect()
    } else {
        obj.symbols().collect()
    };
    let mut addrs: Vec<u64> = syms
        .iter()
        .filter(|s| s.kind() == SymbolKind::Text && s.size() > 8 && s.address() != 0)
        .map(|s| BIAS + s.address() + s.size() / 2)
        .collect();
    addrs.sort_unstable();
    addrs.dedup();
    let step = (addrs.len() / limit).max(1);
    let addrs = addrs.into_iter().step_by(step).take(limit).collect();
    (module, addrs)
}

fn opts() -> Options {
    Options {
        debug_dirs: vec![],
        ..Options::default()
    }
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let exe = generate(dir.path());
    let (gen_mod, gen_addrs) = describe(&exe, false, NFUNCS);
    let mut gen_map = ProcessMap::new();
    gen_map.add_module(gen_mod);

    let libc = Path::new("/lib/x86_64-linux-gnu/libc.so.6");
    let libc_case = libc.exists().then(|| {
        let (m, a) = describe(libc, true, 400);
        let mut map = ProcessMap::new();
        map.add_module(m);
        (map, a)
    });

    let mut g = c.benchmark_group("symbolize");
    g.sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));

    g.throughput(Throughput::Elements(1));
    g.bench_function("load_module_and_first_lookup/dwarf", |b| {
        b.iter_batched(
            || Symbolizer::new(opts()),
            |mut s| s.symbolize(&gen_map, gen_addrs[0]),
            BatchSize::PerIteration,
        )
    });

    g.throughput(Throughput::Elements(gen_addrs.len() as u64));
    let mut s = Symbolizer::new(opts());
    s.symbolize(&gen_map, gen_addrs[0]);
    g.bench_function("first_lookup/dwarf", |b| {
        b.iter(|| {
            s.clear_cache();
            for &a in &gen_addrs {
                std::hint::black_box(s.symbolize(&gen_map, a));
            }
        })
    });
    g.bench_function("cached_lookup/dwarf", |b| {
        for &a in &gen_addrs {
            s.symbolize(&gen_map, a);
        }
        b.iter(|| {
            for &a in &gen_addrs {
                std::hint::black_box(s.symbolize(&gen_map, a));
            }
        })
    });

    if let Some((map, addrs)) = &libc_case {
        g.throughput(Throughput::Elements(1));
        g.bench_function("load_module_and_first_lookup/libc_dynsym", |b| {
            b.iter_batched(
                || Symbolizer::new(opts()),
                |mut s| s.symbolize(map, addrs[0]),
                BatchSize::PerIteration,
            )
        });
        g.throughput(Throughput::Elements(addrs.len() as u64));
        let mut s = Symbolizer::new(opts());
        s.symbolize(map, addrs[0]);
        g.bench_function("first_lookup/libc_dynsym", |b| {
            b.iter(|| {
                s.clear_cache();
                for &a in addrs {
                    std::hint::black_box(s.symbolize(map, a));
                }
            })
        });
        g.bench_function("cached_lookup/libc_dynsym", |b| {
            for &a in addrs {
                s.symbolize(map, a);
            }
            b.iter(|| {
                for &a in addrs {
                    std::hint::black_box(s.symbolize(map, a));
                }
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
