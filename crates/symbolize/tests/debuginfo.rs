//! Separate debug files (build-id, debuglink, compressed, dwz), stripped
//! binaries and changed/missing module files.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use sock_trace_symbolize::{Frame, Module, Options, PathStyle, Resolution, Symbolizer};

fn opts(dirs: &[&Path]) -> Options {
    Options {
        debug_dirs: dirs.iter().map(|d| d.to_path_buf()).collect(),
        ..Options::default()
    }
}

/// `f` fell back to `resolution`, and its note says why (contains `why`).
fn assert_fallback(f: &Frame, resolution: Resolution, why: &str) {
    assert_eq!(f.resolution, resolution, "{f:?}");
    assert!(f.note.as_deref().is_some_and(|n| n.contains(why)), "{f:?}");
}

fn main_module(p: &Probe, exe: &Path) -> Module {
    p.modules.iter().find(|m| m.path == exe).unwrap().clone()
}

fn assert_dwarf_connect(sym: &mut Symbolizer, p: &Probe) {
    let f = sym.symbolize(&p.map, p.rets["connect"]);
    assert_eq!(f.resolution, Resolution::Dwarf, "{f:?}");
    assert_eq!(f.function.as_deref(), Some("do_connect"), "{f:?}");
    assert_eq!(
        f.file.as_deref().and_then(Path::file_name),
        Some("probe.c".as_ref())
    );
    assert_eq!(
        f.line,
        Some(marker_line(&fixture("probe.c"), "LINE_CONNECT"))
    );
}

/// Splits `exe`'s debug info into `<debug dir>/.build-id/xx/yyyy.debug`
/// (optionally compressed) and strips `exe`. Returns the debug dir.
fn split_by_build_id(d: &Path, exe: &Path, compress: Option<&str>) -> PathBuf {
    let dbg = d.join("dbg");
    let tmp = d.join("split.debug");
    sh(
        "objcopy",
        &[
            "--only-keep-debug",
            exe.to_str().unwrap(),
            tmp.to_str().unwrap(),
        ],
        d,
    );
    if let Some(c) = compress {
        sh(
            "objcopy",
            &[
                &format!("--compress-debug-sections={c}"),
                tmp.to_str().unwrap(),
            ],
            d,
        );
    }
    sh("strip", &["--strip-debug", exe.to_str().unwrap()], d);
    let data = std::fs::read(exe).unwrap();
    let id = {
        use object::Object;
        object::File::parse(&*data)
            .unwrap()
            .build_id()
            .unwrap()
            .unwrap()
            .to_vec()
    };
    let h = build_id_hex(&id);
    let target = dbg.join(".build-id").join(&h[..2]);
    std::fs::create_dir_all(&target).unwrap();
    std::fs::rename(&tmp, target.join(format!("{}.debug", &h[2..]))).unwrap();
    dbg
}

fn split_test(compress: Option<&str>) {
    let (dir, exe) = build_in_tempdir("split", &["-g", "-O0", "-Wl,--build-id"]);
    let d = dir.path();
    let dbg = split_by_build_id(d, &exe, compress);
    let p = run_probe(&exe);

    // Without the debug dir: symbol table only.
    let mut sym = Symbolizer::new(opts(&[]));
    let f = sym.symbolize(&p.map, p.rets["connect"]);
    assert_fallback(&f, Resolution::Symtab, "no DWARF");
    assert_eq!(f.function.as_deref(), Some("do_connect"));
    let off = f.function_offset.unwrap();
    assert_eq!(
        f.display(&PathStyle::BaseName),
        format!("do_connect+{off:#x} in split")
    );

    // With it: same file:line as unstripped.
    let mut sym = Symbolizer::new(opts(&[Path::new("/nonexistent"), &dbg]));
    assert_dwarf_connect(&mut sym, &p);
}

#[test]
fn split_debug_by_build_id() {
    split_test(None);
}

#[test]
fn split_debug_by_build_id_zlib() {
    split_test(Some("zlib"));
}

#[test]
fn split_debug_by_build_id_zdebug() {
    split_test(Some("zlib-gnu"));
}

#[test]
fn split_debug_by_build_id_zstd() {
    // Only if this objcopy can write zstd.
    let dir = tempfile::tempdir().unwrap();
    let probe = dir.path().join("t.o");
    std::fs::write(dir.path().join("t.c"), "int x(void){return 1;}\n").unwrap();
    sh(
        "gcc",
        &["-g", "-c", "-o", probe.to_str().unwrap(), "t.c"],
        dir.path(),
    );
    let ok = Command::new("objcopy")
        .args(["--compress-debug-sections=zstd", probe.to_str().unwrap()])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        skip(
            "objcopy cannot write zstd sections",
            "apt-get install binutils",
        );
        return;
    }
    split_test(Some("zstd"));
}

/// debuglink without build-id: `.debug/` subdir next to the binary, and
/// `<debug dir>/<binary dir>/`.
#[test]
fn split_debug_by_debuglink() {
    let (dir, exe) = build_in_tempdir("linked", &["-g", "-O1", "-Wl,--build-id=none"]);
    let d = dir.path();
    sh(
        "objcopy",
        &["--only-keep-debug", "linked", "linked.debug"],
        d,
    );
    sh("strip", &["--strip-debug", "linked"], d);
    sh(
        "objcopy",
        &["--add-gnu-debuglink=linked.debug", "linked"],
        d,
    );
    let p = run_probe(&exe);
    assert!(main_module(&p, &exe).build_id.is_none());

    // 1. `.debug/` subdirectory.
    std::fs::create_dir(d.join(".debug")).unwrap();
    std::fs::rename(d.join("linked.debug"), d.join(".debug/linked.debug")).unwrap();
    let mut sym = Symbolizer::new(opts(&[]));
    assert_dwarf_connect(&mut sym, &p);

    // 2. global debug dir mirroring the binary's directory.
    let gdbg = d.join("global");
    let mirror = gdbg.join(d.strip_prefix("/").unwrap());
    std::fs::create_dir_all(&mirror).unwrap();
    std::fs::rename(d.join(".debug/linked.debug"), mirror.join("linked.debug")).unwrap();
    let mut sym = Symbolizer::new(opts(&[]));
    let f = sym.symbolize(&p.map, p.rets["connect"]);
    assert_eq!(f.resolution, Resolution::Symtab, "{f:?}");
    let mut sym = Symbolizer::new(opts(&[&gdbg]));
    assert_dwarf_connect(&mut sym, &p);

    // 3. A debug file of another build under the same name fails the CRC
    //    check and is not used.
    let other = build_c(
        d,
        "other",
        &["-g", "-O2", "-Wl,--build-id=none", "-DWITH_OTHER=1"],
    );
    sh(
        "objcopy",
        &["--only-keep-debug", other.to_str().unwrap(), "x.debug"],
        d,
    );
    std::fs::rename(d.join("x.debug"), mirror.join("linked.debug")).unwrap();
    let mut sym = Symbolizer::new(opts(&[&gdbg]));
    let f = sym.symbolize(&p.map, p.rets["connect"]);
    assert_fallback(&f, Resolution::Symtab, "CRC mismatch");
}

#[test]
fn stripped_binaries_fall_back() {
    // strip --strip-all, not exported: module+offset.
    let (dir, exe) = build_in_tempdir("bare", &["-g", "-O0"]);
    let d = dir.path();
    sh("strip", &["--strip-all", "bare"], d);
    let p = run_probe(&exe);
    let mut sym = Symbolizer::new(opts(&[]));
    let ret = p.rets["connect"];
    let f = sym.symbolize(&p.map, ret);
    assert_eq!(f.resolution, Resolution::Module, "{f:?}");
    assert_eq!(f.function, None);
    let vaddr = p.map.find(ret).unwrap().vaddr;
    assert_eq!(f.module_offset, vaddr);
    assert_eq!(f.display(&PathStyle::BaseName), format!("bare+{vaddr:#x}"));

    // strip --strip-all but exported (-rdynamic): .dynsym.
    let exe = build_c(d, "dyn", &["-g", "-O0", "-rdynamic"]);
    let start = symbol_addr(&exe, "do_connect");
    sh("strip", &["--strip-all", "dyn"], d);
    let p = run_probe(&exe);
    let ret = p.rets["connect"];
    let f = sym.symbolize(&p.map, ret);
    assert_eq!(f.resolution, Resolution::Dynsym, "{f:?}");
    assert_eq!(f.function.as_deref(), Some("do_connect"));
    let vaddr = p.map.find(ret).unwrap().vaddr;
    assert_eq!(f.function_offset, Some(vaddr - start));
    assert_eq!(
        f.display(&PathStyle::BaseName),
        format!("do_connect+{:#x} in dyn", vaddr - start)
    );
}

#[test]
fn changed_or_missing_module_file() {
    let (dir, exe) = build_in_tempdir("prog", &["-g", "-O0", "-Wl,--build-id"]);
    let d = dir.path();
    let p = run_probe(&exe);
    let ret = p.rets["connect"];
    let vaddr = p.map.find(ret).unwrap().vaddr;

    // Rebuilt with a different build-id after the trace: no wrong lines.
    build_c(d, "prog", &["-g", "-O2", "-Wl,--build-id", "-DREBUILT=1"]);
    let mut sym = Symbolizer::new(opts(&[]));
    let f = sym.symbolize(&p.map, ret);
    assert_fallback(&f, Resolution::Module, "build-id mismatch");
    assert_eq!(f.display(&PathStyle::BaseName), format!("prog+{vaddr:#x}"));
    assert_eq!(
        sym.module_note(&main_module(&p, &exe)).as_deref(),
        f.note.as_deref()
    );

    // No build-id, but the PT_LOAD layout no longer matches.
    let mut m = main_module(&p, &exe);
    m.build_id = None;
    m.segments[0].offset += 0x1000;
    let f = Symbolizer::new(opts(&[])).symbolize_in(&m, vaddr);
    assert_fallback(&f, Resolution::Module, "segment layout mismatch");

    // Deleted.
    std::fs::remove_file(&exe).unwrap();
    let mut sym = Symbolizer::new(opts(&[]));
    let f = sym.symbolize(&p.map, ret);
    assert_fallback(&f, Resolution::Module, "cannot open");
}

/// The module file is gone, but its debug file is installed: symbolize from
/// the debug file alone (found by the build-id from the trace).
#[test]
fn deleted_module_with_installed_debug_file() {
    let (dir, exe) = build_in_tempdir("gone", &["-g", "-O0", "-Wl,--build-id"]);
    let d = dir.path();
    let p = run_probe(&exe);
    let dbg = split_by_build_id(d, &exe, Some("zlib"));
    std::fs::remove_file(&exe).unwrap();
    let mut sym = Symbolizer::new(opts(&[&dbg]));
    assert_dwarf_connect(&mut sym, &p);
    let f = sym.symbolize(&p.map, p.rets["connect"]);
    assert!(
        f.note.as_deref().unwrap().contains("used debug file"),
        "{f:?}"
    );
}

/// dwz-compressed DWARF with a supplementary file (`.gnu_debugaltlink`), as
/// Debian's -dbgsym packages ship. Skipped when `dwz` is not installed.
#[test]
fn dwz_supplementary_file() {
    if Command::new("dwz").arg("--version").output().is_err() {
        skip("dwz not installed", "apt-get install dwz");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let a = build_c(d, "a", &["-g", "-O0"]);
    let b = build_c(d, "b", &["-g", "-O1"]);
    let common = d.join("common.dwz");
    sh(
        "dwz",
        &[
            "-m",
            common.to_str().unwrap(),
            "-M",
            common.to_str().unwrap(),
            a.to_str().unwrap(),
            b.to_str().unwrap(),
        ],
        d,
    );
    assert!(common.is_file(), "dwz made no multifile");
    for exe in [&a, &b] {
        let p = run_probe(exe);
        let mut sym = Symbolizer::new(opts(&[]));
        assert_dwarf_connect(&mut sym, &p);
        let f = sym.symbolize(&p.map, p.rets["connect"]);
        assert!(f.note.is_none(), "{f:?}");
    }
}

/// Real Debian debug package: if `libc6-dbg` is installed, libc's `connect`
/// resolves to glibc's `connect.c` through the build-id debug file
/// (compressed sections). Skipped otherwise.
#[test]
fn debian_libc6_dbg() {
    use object::{Object, ObjectSegment, ObjectSymbol};
    let libc = Path::new("/lib/x86_64-linux-gnu/libc.so.6");
    let Ok(data) = std::fs::read(libc) else {
        skip("no /lib/x86_64-linux-gnu/libc.so.6", "run on x86-64 Debian");
        return;
    };
    let obj = object::File::parse(&*data).unwrap();
    let id = obj.build_id().unwrap().unwrap().to_vec();
    let h = build_id_hex(&id);
    let dbg = Path::new("/usr/lib/debug/.build-id")
        .join(&h[..2])
        .join(format!("{}.debug", &h[2..]));
    if !dbg.is_file() {
        skip("libc6-dbg not installed", "apt-get install libc6-dbg");
        return;
    }
    let connect = obj
        .dynamic_symbols()
        .find(|s| s.name() == Ok("connect"))
        .unwrap();
    let module = Module {
        path: libc.to_path_buf(),
        bias: 0x7f00_0000_0000,
        segments: obj
            .segments()
            .map(|s| sock_trace_symbolize::Segment {
                vaddr: s.address(),
                memsz: s.size(),
                offset: s.file_range().0,
            })
            .collect(),
        build_id: Some(id),
    };
    let mut sym = Symbolizer::new(Options::default());
    let f = sym.symbolize_in(&module, connect.address() + 0x10);
    eprintln!("{f:?}");
    eprintln!("{}", f.display(&PathStyle::BaseName));
    assert_eq!(f.resolution, Resolution::Dwarf, "{f:?}");
    let (file, line, _) = f.location();
    assert_eq!(
        file.and_then(Path::file_name),
        Some("connect.c".as_ref()),
        "{f:?}"
    );
    assert!(line.is_some());
    assert_eq!(f.function_offset, Some(0x10));
}
