//! End-to-end tests: compile real programs, run them to get real return
//! addresses and module maps, and symbolize those.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::*;
use sock_trace_symbolize::{Options, PathStyle, Resolution, Symbolizer};

fn no_debug_dirs() -> Options {
    Options {
        debug_dirs: vec![],
        ..Options::default()
    }
}

fn file_name(p: Option<&Path>) -> Option<String> {
    p.and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
}

/// Builds probe.c with `flags`, runs it, and checks the `connect` frame.
fn check_c(name: &str, flags: &[&str]) {
    let mut all = vec!["-g"];
    all.extend_from_slice(flags);
    let (_dir, exe) = build_in_tempdir(name, &all);
    let p = run_probe(&exe);
    let line = marker_line(&fixture("probe.c"), "LINE_CONNECT");
    let ret = p.rets["connect"];

    let mut sym = Symbolizer::new(no_debug_dirs());
    let f = sym.symbolize(&p.map, ret);
    assert_eq!(f.resolution, Resolution::Dwarf, "{f:?}");
    assert_eq!(f.function.as_deref(), Some("do_connect"), "{f:?}");
    assert_eq!(file_name(f.file.as_deref()).as_deref(), Some("probe.c"));
    assert_eq!(f.line, Some(line), "{f:?}");
    assert!(f.inlined.is_empty(), "{f:?}");
    assert_eq!(f.module, exe);
    let hit = p.map.find(ret).unwrap();
    let start = symbol_addr(&exe, "do_connect");
    assert_eq!(f.module_offset, hit.vaddr);
    assert_eq!(f.function_offset, Some(hit.vaddr - start));
    assert_eq!(
        f.display(&PathStyle::BaseName),
        format!("probe.c:{line} (do_connect+{:#x})", hit.vaddr - start)
    );
    // Inlined frames: the call sits in `inlined_helper`, inlined into
    // `do_connect_inl`.
    let g = sym.symbolize(&p.map, p.rets["inline"]);
    assert_eq!(g.resolution, Resolution::Dwarf, "{g:?}");
    assert_eq!(g.function.as_deref(), Some("do_connect_inl"), "{g:?}");
    assert_eq!(
        g.line,
        Some(marker_line(&fixture("probe.c"), "LINE_CALL_INLINE")),
        "{g:?}"
    );
    assert_eq!(g.inlined.len(), 1, "{g:?}");
    assert_eq!(g.inlined[0].function.as_deref(), Some("inlined_helper"));
    let inline_line = marker_line(&fixture("probe.c"), "LINE_INLINE");
    assert_eq!(g.inlined[0].line, Some(inline_line));
    assert_eq!(g.location().1, Some(inline_line));
    let goff = g.function_offset.unwrap();
    assert_eq!(
        g.display(&PathStyle::BaseName),
        format!("probe.c:{inline_line} (inlined_helper inlined into do_connect_inl+{goff:#x})")
    );
    let full = f.display(&PathStyle::Full);
    assert!(
        full.starts_with(&fixture("probe.c").display().to_string()),
        "{full}"
    );
    assert_eq!(
        f.display(&PathStyle::RelativeTo(FIXTURES.into())),
        format!("probe.c:{line} (do_connect+{:#x})", hit.vaddr - start)
    );
}

/// One test per build of probe.c: `name: flags`.
macro_rules! c_builds {
    ($($name:ident: $flags:expr;)*) => {$(
        #[test]
        fn $name() {
            check_c(&stringify!($name)[2..], $flags);
        }
    )*};
}

c_builds! {
    c_pie_o0: &["-O0", "-fPIE", "-pie"];
    c_pie_o2: &["-O2", "-fPIE", "-pie"];
    c_nopie_o0: &["-O0", "-fno-PIE", "-no-pie"];
    c_nopie_o2: &["-O2", "-fno-PIE", "-no-pie"];
}

#[test]
fn cache_hit_is_shared() {
    let (_dir, exe) = build_in_tempdir("cache", &["-g", "-O0"]);
    let p = run_probe(&exe);
    let ret = p.rets["connect"];
    let mut sym = Symbolizer::new(no_debug_dirs());
    let a = sym.symbolize(&p.map, ret);
    let b = sym.symbolize(&p.map, ret);
    assert!(Arc::ptr_eq(&a.info, &b.info));
    let s = sym.stats();
    assert_eq!((s.hits, s.misses, s.modules_loaded), (1, 1, 1));
    // A second map of the same program (another run, other ASLR bias) shares
    // the loaded module and the cached result.
    let p2 = run_probe(&exe);
    let c = sym.symbolize(&p2.map, p2.rets["connect"]);
    assert_eq!(c.info, a.info);
    assert_eq!(sym.stats().modules_loaded, 1);
    // Unmapped address.
    let u = sym.symbolize(&p.map, 8);
    assert_eq!(u.resolution, Resolution::Unmapped);
    assert_eq!(u.display(&PathStyle::BaseName), "0x8");
    // symbolize_in gives the same answer without a map.
    let hit = p.map.find(ret).unwrap();
    let d = sym.symbolize_in(&p.map.modules()[hit.module], hit.vaddr);
    assert!(Arc::ptr_eq(&a.info, &d.info));
    assert_eq!(d.addr, ret);
}

#[test]
fn shared_library() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let lib = compile(
        "gcc",
        d,
        d.join("libprobe.so"),
        &["-shared", "-fPIC", "-g", "-O1"],
        &[fixture("probelib.c")],
        &[],
    );
    // -lprobe must come after the sources.
    let rpath = format!("-Wl,-rpath,{}", d.display());
    let exe = compile(
        "gcc",
        d,
        d.join("withlib"),
        &["-g", "-O0", "-DWITH_LIB"],
        &[fixture("probe.c"), fixture("dump.c")],
        &["-L", d.to_str().unwrap(), &rpath, "-lprobe"],
    );
    let p = run_probe(&exe);
    let mut sym = Symbolizer::new(no_debug_dirs());
    let f = sym.symbolize(&p.map, p.rets["lib"]);
    assert_eq!(f.resolution, Resolution::Dwarf, "{f:?}");
    assert_eq!(f.module, lib);
    assert_eq!(f.function.as_deref(), Some("lib_connect_probe"));
    assert_eq!(file_name(f.file.as_deref()).as_deref(), Some("probelib.c"));
    assert_eq!(
        f.line,
        Some(marker_line(&fixture("probelib.c"), "LINE_LIB"))
    );
    let f2 = sym.symbolize(&p.map, p.rets["connect"]);
    assert_eq!(f2.function.as_deref(), Some("do_connect"));
    assert_eq!(f2.module, exe);
}

#[test]
fn cpp_method_and_destructor() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let obj = dump_obj(d);
    let sources = [fixture("probe.cpp"), obj];
    let exe = compile("g++", d, d.join("cppprobe"), &["-g", "-O0"], &sources, &[]);
    let p = run_probe(&exe);
    let mut sym = Symbolizer::new(no_debug_dirs());
    let src = fixture("probe.cpp");
    for (tag, func, marker) in [
        ("run", "Probe::run", "LINE_RUN"),
        ("dtor", "Probe::~Probe", "LINE_DTOR"),
    ] {
        let f = sym.symbolize(&p.map, p.rets[tag]);
        assert_eq!(f.resolution, Resolution::Dwarf, "{f:?}");
        assert_eq!(f.function.as_deref(), Some(func), "{f:?}");
        assert_eq!(file_name(f.file.as_deref()).as_deref(), Some("probe.cpp"));
        assert_eq!(f.line, Some(marker_line(&src, marker)), "{f:?}");
    }
    // Without DWARF (symbol table only) the names are demangled too.
    let stripped = d.join("cppprobe.stripped");
    sh(
        "strip",
        &[
            "--strip-debug",
            "-o",
            stripped.to_str().unwrap(),
            exe.to_str().unwrap(),
        ],
        d,
    );
    let p = run_probe(&stripped);
    let mut sym = Symbolizer::new(no_debug_dirs());
    let f = sym.symbolize(&p.map, p.rets["dtor"]);
    assert_eq!(f.resolution, Resolution::Symtab, "{f:?}");
    assert_eq!(f.function.as_deref(), Some("Probe::~Probe"));
    let f = sym.symbolize(&p.map, p.rets["run"]);
    assert_eq!(f.function.as_deref(), Some("Probe::run"));
}

fn check_rust(mangling: &str) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let obj = dump_obj(d);
    sh("ar", &["rcs", "libstdump.a", obj.to_str().unwrap()], d);
    let exe = d.join(format!("rsprobe_{mangling}"));
    // Stable rustc only accepts `-C symbol-mangling-version=v0`; legacy is
    // the default there.
    let flag = format!("symbol-mangling-version={mangling}");
    let src = fixture("probe.rs");
    let mut args = vec!["-g", "-C", "opt-level=1"];
    if mangling != "legacy" {
        args.extend(["-C", &flag]);
    }
    args.extend([
        "--edition",
        "2021",
        "--crate-name",
        "rsprobe",
        "-L",
        d.to_str().unwrap(),
        "-l",
        "static=stdump",
        "-o",
        exe.to_str().unwrap(),
        src.to_str().unwrap(),
    ]);
    sh("rustc", &args, d);
    let prefix = if mangling == "v0" {
        "_RNv"
    } else {
        "_ZN7rsprobe3net10do_connect17h"
    };
    assert!(
        has_symbol_with_prefix(&exe, prefix, "do_connect"),
        "{mangling} mangling not used?"
    );
    let p = run_probe(&exe);
    let mut sym = Symbolizer::new(no_debug_dirs());
    let f = sym.symbolize(&p.map, p.rets["connect"]);
    assert_eq!(f.resolution, Resolution::Dwarf, "{f:?}");
    assert_eq!(
        f.function.as_deref(),
        Some("rsprobe::net::do_connect"),
        "{f:?}"
    );
    assert_eq!(file_name(f.file.as_deref()).as_deref(), Some("probe.rs"));
    assert_eq!(
        f.line,
        Some(marker_line(&fixture("probe.rs"), "LINE_CONNECT")),
        "{f:?}"
    );
}

#[test]
fn rust_legacy_mangling() {
    check_rust("legacy");
}

#[test]
fn rust_v0_mangling() {
    check_rust("v0");
}
