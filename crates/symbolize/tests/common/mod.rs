//! Shared helpers for the integration tests: compiling fixtures into a temp
//! dir, running them with a timeout, and turning their output into a
//! `ProcessMap`.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use sock_trace_symbolize::{Module, ProcessMap, Segment};

#[path = "../../../cli/tests/common/skip.rs"]
mod skip;
#[allow(unused_imports)]
pub use skip::*;
#[path = "../../../cli/tests/common/wait.rs"]
mod wait;
#[allow(unused_imports)]
pub use wait::*;

pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

pub fn fixture(name: &str) -> PathBuf {
    Path::new(FIXTURES).join(name)
}

/// Runs `cmd` with a timeout; returns stdout. Panics (test failure) on
/// timeout or non-zero exit.
pub fn run(cmd: &mut Command, timeout: Duration) -> String {
    let desc = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {desc}: {e}"));
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let status = wait_or_kill(&mut child, timeout, &desc);
    let out = out_t.join().unwrap();
    let err = err_t.join().unwrap();
    assert!(
        status.success(),
        "{desc} failed: {status}\nstdout:\n{out}\nstderr:\n{err}"
    );
    out
}

pub const COMPILE_TIMEOUT: Duration = Duration::from_secs(180);
pub const RUN_TIMEOUT: Duration = Duration::from_secs(30);

pub fn sh(prog: &str, args: &[&str], dir: &Path) -> String {
    run(
        Command::new(prog).args(args).current_dir(dir),
        COMPILE_TIMEOUT,
    )
}

/// 1-based line of the first line of `src` containing `marker`.
pub fn marker_line(src: &Path, marker: &str) -> u32 {
    let text = std::fs::read_to_string(src).unwrap();
    let idx = text
        .lines()
        .position(|l| l.contains(marker))
        .unwrap_or_else(|| panic!("{marker} not in {}", src.display()));
    idx as u32 + 1
}

/// Output of a fixture program.
pub struct Probe {
    /// tag -> return address
    pub rets: HashMap<String, u64>,
    pub map: ProcessMap,
    pub modules: Vec<Module>,
}

/// Parses `RET`/`MOD`/`SEG`/`BID` lines; the main program's empty name is
/// replaced by `exe`.
pub fn parse(out: &str, exe: &Path) -> Probe {
    let mut rets = HashMap::new();
    let mut modules: Vec<Module> = Vec::new();
    for line in out.lines() {
        let mut it = line.splitn(2, ' ');
        let kind = it.next().unwrap_or("");
        let rest = it.next().unwrap_or("");
        match kind {
            "RET" => {
                let (tag, addr) = rest.split_once(' ').unwrap();
                rets.insert(tag.to_string(), u64::from_str_radix(addr, 16).unwrap());
            }
            "MOD" => {
                let (name, bias) = rest.rsplit_once('|').unwrap();
                let path = if name.is_empty() {
                    exe.to_path_buf()
                } else {
                    PathBuf::from(name)
                };
                modules.push(Module::new(path, u64::from_str_radix(bias, 16).unwrap()));
            }
            "SEG" => {
                let v: Vec<u64> = rest
                    .split(' ')
                    .map(|x| u64::from_str_radix(x, 16).unwrap())
                    .collect();
                modules.last_mut().unwrap().segments.push(Segment {
                    vaddr: v[0],
                    memsz: v[1],
                    offset: v[2],
                });
            }
            "BID" => {
                let bytes = (0..rest.len() / 2)
                    .map(|i| u8::from_str_radix(&rest[2 * i..2 * i + 2], 16).unwrap())
                    .collect();
                modules.last_mut().unwrap().build_id = Some(bytes);
            }
            _ => {}
        }
    }
    let mut map = ProcessMap::new();
    for m in &modules {
        map.add_module(m.clone());
    }
    Probe { rets, map, modules }
}

pub fn run_probe(exe: &Path) -> Probe {
    let out = run(&mut Command::new(exe), RUN_TIMEOUT);
    parse(&out, exe)
}

/// Compiles `dump.c` into an object file in `dir` (`-fPIC`, no debug info
/// needed).
pub fn dump_obj(dir: &Path) -> PathBuf {
    let obj = dir.join("dump.o");
    let flags = ["-c", "-fPIC", "-O1"];
    compile("gcc", dir, obj, &flags, &[fixture("dump.c")], &[])
}

/// Builds `probe.c` (+ `dump.c`) with the given extra flags into
/// `dir/name`.
pub fn build_c(dir: &Path, name: &str, flags: &[&str]) -> PathBuf {
    let sources = [fixture("probe.c"), fixture("dump.c")];
    compile("gcc", dir, dir.join(name), flags, &sources, &[])
}

/// A fresh directory with `probe.c` (+ `dump.c`) built in it as `name`
/// (see [`build_c`]); the directory goes when the first value is dropped.
pub fn build_in_tempdir(name: &str, flags: &[&str]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let exe = build_c(dir.path(), name, flags);
    (dir, exe)
}

/// Runs `compiler` (`gcc`, `g++`) in `dir`: the `flags`, `-o out`, the
/// `inputs`, then `libs` (libraries follow what uses them). Returns `out`.
pub fn compile(
    compiler: &str,
    dir: &Path,
    out: PathBuf,
    flags: &[&str],
    inputs: &[PathBuf],
    libs: &[&str],
) -> PathBuf {
    let mut args: Vec<&str> = flags.to_vec();
    args.extend(["-o", out.to_str().unwrap()]);
    args.extend(inputs.iter().map(|p| p.to_str().unwrap()));
    args.extend_from_slice(libs);
    sh(compiler, &args, dir);
    out
}

/// Address of a symbol in an ELF file's symbol table (via the `object`
/// crate).
pub fn symbol_addr(path: &Path, name: &str) -> u64 {
    use object::{Object, ObjectSymbol};
    let data = std::fs::read(path).unwrap();
    let obj = object::File::parse(&*data).unwrap();
    obj.symbols()
        .chain(obj.dynamic_symbols())
        .find(|s| s.name() == Ok(name))
        .unwrap_or_else(|| panic!("{name} not in {}", path.display()))
        .address()
}

pub fn build_id_hex(id: &[u8]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether the symbol table has a symbol starting with `prefix` and
/// containing `part`.
pub fn has_symbol_with_prefix(path: &Path, prefix: &str, part: &str) -> bool {
    use object::{Object, ObjectSymbol};
    let data = std::fs::read(path).unwrap();
    let obj = object::File::parse(&*data).unwrap();
    let found = obj.symbols().any(|s| {
        s.name()
            .is_ok_and(|n| n.starts_with(prefix) && n.contains(part))
    });
    found
}
