//! Hostile or broken module files must yield fallback frames, never panics.

mod common;

use std::path::Path;

use common::*;
use sock_trace_symbolize::{
    Module, Options, PathStyle, ProcessMap, Resolution, Segment, Symbolizer,
};

fn opts() -> Options {
    Options {
        debug_dirs: vec![],
        ..Options::default()
    }
}

fn module(path: &Path) -> Module {
    Module {
        path: path.to_path_buf(),
        bias: 0x7f00_0000_0000,
        segments: vec![Segment {
            vaddr: 0,
            memsz: 0x10_0000,
            offset: 0,
        }],
        build_id: None,
    }
}

/// Symbolizes an address in `path` both through a map (with segment
/// verification) and directly (without); returns the direct frame's note.
fn symbolize_file(path: &Path) -> Option<String> {
    let m = module(path);
    let mut map = ProcessMap::new();
    map.add_module(m.clone());
    let mut sym = Symbolizer::new(opts());
    let f = sym.symbolize(&map, 0x7f00_0000_1234);
    assert_eq!(f.module_offset, 0x1234);
    let _ = f.display(&PathStyle::BaseName);
    if let Some(n) = &f.note {
        assert!(!n.contains("panic"), "{n}");
    }
    let mut m2 = m;
    m2.segments.clear();
    let mut sym = Symbolizer::new(opts());
    for vaddr in [0, 1, 0x1000, 0x1234, 0x1_0000, u64::MAX] {
        let f = sym.symbolize_in(&m2, vaddr);
        let _ = f.display(&PathStyle::Full);
        if let Some(n) = &f.note {
            assert!(!n.contains("panic"), "{n}");
        }
    }
    sym.symbolize_in(&m2, 0x1234).note.clone()
}

#[test]
fn garbage_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("garbage.so");
    let mut x: u64 = 0x1234_5678;
    let bytes: Vec<u8> = (0..8192)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 56) as u8
        })
        .collect();
    std::fs::write(&p, &bytes).unwrap();
    let mut map = ProcessMap::new();
    map.add_module(module(&p));
    let mut sym = Symbolizer::new(opts());
    let f = sym.symbolize(&map, 0x7f00_0000_1234);
    assert_eq!(f.resolution, Resolution::Module);
    assert_eq!(f.display(&PathStyle::BaseName), "garbage.so+0x1234");
    assert!(
        f.note
            .as_deref()
            .unwrap()
            .contains("not a valid object file"),
        "{f:?}"
    );

    // Also: empty file, a directory, a device, a non-ELF valid prefix.
    std::fs::write(dir.path().join("empty"), b"").unwrap();
    assert!(symbolize_file(&dir.path().join("empty"))
        .unwrap()
        .contains("empty"));
    assert!(symbolize_file(dir.path())
        .unwrap()
        .contains("not a regular file"));
    assert!(symbolize_file(Path::new("/dev/zero")).is_some());
    std::fs::write(dir.path().join("elfish"), b"\x7fELF\x02\x01\x01").unwrap();
    assert!(symbolize_file(&dir.path().join("elfish")).is_some());
    // Empty path and pseudo-module.
    assert!(symbolize_file(Path::new("")).unwrap().contains("no path"));
    assert!(symbolize_file(Path::new("linux-vdso.so.1"))
        .unwrap()
        .contains("cannot open"));
}

#[test]
fn truncated_elf() {
    let (dir, exe) = build_in_tempdir("full", &["-g", "-O1"]);
    let d = dir.path();
    let data = std::fs::read(&exe).unwrap();
    let n = data.len();
    for len in [
        1,
        4,
        16,
        63,
        64,
        65,
        200,
        1000,
        4096,
        n / 3,
        n / 2,
        n - 100,
        n - 1,
    ] {
        let p = d.join(format!("trunc{len}"));
        std::fs::write(&p, &data[..len]).unwrap();
        symbolize_file(&p);
    }
}

/// Deterministic random byte mutations of a real ELF with DWARF; every
/// result must come back without a panic (the symbolizer catches panics and
/// would say so in the note, which `symbolize_file` rejects).
#[test]
fn mutated_elf() {
    let (dir, exe) = build_in_tempdir("m", &["-g", "-O1"]);
    let d = dir.path();
    let data = std::fs::read(&exe).unwrap();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let p = d.join("mut");
    for round in 0..1000 {
        let mut m = data.clone();
        let flips = 1 + next() % 16;
        for _ in 0..flips {
            // Bias towards the headers and the (trailing) debug sections.
            let pos = match next() % 3 {
                0 => (next() % 256) as usize,
                1 => m.len() - 1 - (next() as usize % (m.len() / 2)),
                _ => next() as usize % m.len(),
            };
            m[pos] = next() as u8;
        }
        std::fs::write(&p, &m).unwrap();
        let _ = round;
        symbolize_file(&p);
    }
}
