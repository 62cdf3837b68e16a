//! Opening ELF objects, finding their separate debug files, and looking up
//! addresses in DWARF and symbol tables.
//!
//! Everything a lookup needs is copied out of the file while it is mapped,
//! so the mapping is only held during [`LoadedModule::load`]; later changes
//! to the file cannot affect (or crash) lookups.

use std::borrow::Cow;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use object::{Object, ObjectSection, ObjectSegment, ObjectSymbol, SymbolKind};

use crate::demangle::{demangle, Lang};
use crate::frame::{FrameInfo, InlinedFrame, Resolution};
use crate::go::{self, Pclntab};
use crate::map::Module;

type Reader = gimli::EndianArcSlice<gimli::RunTimeEndian>;
type Context = addr2line::Context<Reader>;

/// A function symbol from `.symtab` or `.dynsym`.
#[derive(Debug)]
struct Sym {
    start: u64,
    /// Exclusive end; zero-sized symbols extend to the next symbol.
    end: u64,
    /// Raw (possibly mangled) name.
    name: Box<str>,
}

#[derive(Debug, Default)]
struct SymbolTable {
    syms: Vec<Sym>,
    /// `Symtab` or `Dynsym`.
    kind: Option<Resolution>,
}

impl SymbolTable {
    fn read(obj: &object::File<'_>, dynamic: bool) -> SymbolTable {
        let iter = if dynamic {
            obj.dynamic_symbols()
        } else {
            obj.symbols()
        };
        // (start, size, rank, name)
        let mut raw: Vec<(u64, u64, u8, &str)> = Vec::new();
        for s in iter {
            if s.kind() != SymbolKind::Text || !s.is_definition() || s.address() == 0 {
                continue;
            }
            let Ok(name) = s.name() else { continue };
            if name.is_empty() {
                continue;
            }
            let rank = if s.is_global() {
                0
            } else if s.is_weak() {
                1
            } else {
                2
            } + u8::from(name.starts_with('_'));
            raw.push((s.address(), s.size(), rank, name));
        }
        if raw.is_empty() {
            return SymbolTable::default();
        }
        // Best alias first at each address.
        raw.sort_unstable_by(|a, b| {
            a.0.cmp(&b.0)
                .then(a.2.cmp(&b.2))
                .then(b.1.cmp(&a.1))
                .then(a.3.len().cmp(&b.3.len()))
                .then(a.3.cmp(b.3))
        });
        raw.dedup_by_key(|r| r.0);
        let mut syms = Vec::with_capacity(raw.len());
        for (i, &(start, size, _, name)) in raw.iter().enumerate() {
            let next = raw.get(i + 1).map_or(u64::MAX, |n| n.0);
            let end = if size == 0 {
                next
            } else {
                start.saturating_add(size)
            };
            syms.push(Sym {
                start,
                end,
                name: name.into(),
            });
        }
        SymbolTable {
            syms,
            kind: Some(if dynamic {
                Resolution::Dynsym
            } else {
                Resolution::Symtab
            }),
        }
    }

    fn find(&self, probe: u64) -> Option<&Sym> {
        let i = self.syms.partition_point(|s| s.start <= probe);
        let s = self.syms.get(i.checked_sub(1)?)?;
        (probe < s.end).then_some(s)
    }
}

/// A module's parsed debug information, kept for the symbolizer's lifetime.
pub(crate) struct LoadedModule {
    dwarf: Option<Context>,
    symbols: SymbolTable,
    /// Built by the Go toolchain (`.gopclntab`, `.go.buildinfo` or the Go
    /// build-id note).
    go: bool,
    /// Go's own line table, kept when there is no DWARF (stripped Go).
    pclntab: Option<Pclntab>,
    /// `true` when the module is unusable (then only `module+0xOFF`).
    broken: bool,
    note: Option<String>,
}

/// Settings the loader needs from [`crate::Options`].
pub(crate) struct LoadOptions<'a> {
    pub debug_dirs: &'a [PathBuf],
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// zlib/IEEE CRC-32, as used by `.gnu_debuglink`.
fn crc32(data: &[u8]) -> u32 {
    static TABLE: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t = [0u32; 256];
        for (i, e) in t.iter_mut().enumerate() {
            let mut c = i as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xedb8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
            *e = c;
        }
        t
    });
    let mut c = !0u32;
    for &b in data {
        c = table[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

/// A memory-mapped file.
struct Mapped {
    map: memmap2::Mmap,
}

impl Mapped {
    fn open(path: &Path) -> Result<Mapped, String> {
        let file = File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let meta = file
            .metadata()
            .map_err(|e| format!("cannot stat {}: {e}", path.display()))?;
        if !meta.is_file() {
            return Err(format!("{} is not a regular file", path.display()));
        }
        if meta.len() == 0 {
            return Err(format!("{} is empty", path.display()));
        }
        // SAFETY: the mapping is read-only and private to this struct; it is
        // only read while `LoadedModule::load` runs, and everything needed
        // later is copied out. The remaining hazard, another process
        // truncating the file during that window (SIGBUS), is the same one
        // every mmap-based symbolizer (addr2line's Loader, blazesym, gdb)
        // accepts; modification can at worst yield garbage data, which the
        // parsers handle without panicking.
        let map = unsafe { memmap2::Mmap::map(&file) }
            .map_err(|e| format!("cannot map {}: {e}", path.display()))?;
        Ok(Mapped { map })
    }

    fn parse(&self, path: &Path) -> Result<object::File<'_>, String> {
        let obj = object::File::parse(&*self.map)
            .map_err(|e| format!("{} is not a valid object file: {e}", path.display()))?;
        if obj.format() != object::BinaryFormat::Elf {
            return Err(format!("{} is not an ELF file", path.display()));
        }
        Ok(obj)
    }
}

fn has_dwarf(obj: &object::File<'_>) -> bool {
    obj.section_by_name(".debug_info")
        .is_some_and(|s| s.size() > 0 && s.kind() != object::SectionKind::UninitializedData)
}

fn build_id(obj: &object::File<'_>) -> Option<Vec<u8>> {
    obj.build_id().ok().flatten().map(<[u8]>::to_vec)
}

/// Loads the DWARF sections of `obj` (decompressing SHF_COMPRESSED and
/// `.zdebug_*` sections) into owned buffers.
fn load_dwarf_sections(obj: &object::File<'_>) -> Result<gimli::Dwarf<Reader>, String> {
    let endian = if obj.is_little_endian() {
        gimli::RunTimeEndian::Little
    } else {
        gimli::RunTimeEndian::Big
    };
    gimli::Dwarf::load(|id: gimli::SectionId| -> Result<Reader, String> {
        // Location lists are not needed for file/line/function lookups.
        if matches!(
            id,
            gimli::SectionId::DebugLoc | gimli::SectionId::DebugLocLists
        ) {
            return Ok(Reader::new(Arc::from(&[][..]), endian));
        }
        let data: Cow<'_, [u8]> = match obj.section_by_name(id.name()) {
            Some(s) if s.kind() != object::SectionKind::UninitializedData => s
                .uncompressed_data()
                .map_err(|e| format!("cannot read/decompress {}: {e}", id.name()))?,
            _ => Cow::Borrowed(&[][..]),
        };
        Ok(Reader::new(Arc::from(&*data), endian))
    })
}

/// Candidate paths for a separate debug file by build-id.
fn build_id_candidates(id: &[u8], dirs: &[PathBuf]) -> Vec<PathBuf> {
    if id.len() < 2 {
        return Vec::new();
    }
    let h = hex(id);
    dirs.iter()
        .map(|d| {
            d.join(".build-id")
                .join(&h[..2])
                .join(format!("{}.debug", &h[2..]))
        })
        .collect()
}

/// Candidate paths for a `.gnu_debuglink` name, in gdb's order.
fn debuglink_candidates(module: &Path, name: &Path, dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    // The name must be a plain file name; anything else is suspicious.
    if name.components().count() != 1 || name.file_name().is_none() {
        return out;
    }
    let dir = module.parent().unwrap_or(Path::new(""));
    out.push(dir.join(name));
    out.push(dir.join(".debug").join(name));
    let rel = dir.strip_prefix("/").unwrap_or(dir);
    for d in dirs {
        out.push(d.join(rel).join(name));
    }
    out.retain(|p| p != module);
    out
}

/// A separate debug file that passed verification.
struct DebugFile {
    path: PathBuf,
    map: Mapped,
}

/// Tries each candidate; accepts the first that is an ELF file with DWARF
/// whose build-id matches `want_id` (when known) and whose CRC matches
/// `want_crc` (when given and no build-id check was possible).
fn find_debug_file(
    candidates: &[PathBuf],
    want_id: Option<&[u8]>,
    want_crc: Option<u32>,
    rejected: &mut Vec<String>,
) -> Option<DebugFile> {
    for cand in candidates {
        if !cand.is_file() {
            continue;
        }
        let map = match Mapped::open(cand) {
            Ok(m) => m,
            Err(e) => {
                rejected.push(e);
                continue;
            }
        };
        let ok = {
            let obj = match map.parse(cand) {
                Ok(o) => o,
                Err(e) => {
                    rejected.push(e);
                    continue;
                }
            };
            let id = obj.build_id().ok().flatten();
            let id_ok = match (want_id, id) {
                (Some(w), Some(h)) => Some(w == h),
                (Some(_), None) => None,
                (None, _) => None,
            };
            match id_ok {
                Some(false) => {
                    rejected.push(format!("{}: build-id mismatch", cand.display()));
                    false
                }
                Some(true) => has_dwarf(&obj),
                None => match want_crc {
                    Some(crc) if crc32(&map.map) != crc => {
                        rejected.push(format!("{}: debuglink CRC mismatch", cand.display()));
                        false
                    }
                    _ => has_dwarf(&obj),
                },
            }
        };
        if ok {
            return Some(DebugFile {
                path: cand.clone(),
                map,
            });
        }
    }
    None
}

/// Loads the `.gnu_debugaltlink` (dwz) supplementary file into `dwarf`.
/// Returns a note on failure.
fn load_sup(
    obj: &object::File<'_>,
    obj_path: &Path,
    dwarf: &mut gimli::Dwarf<Reader>,
    opts: &LoadOptions<'_>,
) -> Option<String> {
    let (name, id) = obj.gnu_debugaltlink().ok().flatten()?;
    let name = Path::new(std::str::from_utf8(name).ok()?);
    let mut cands = Vec::new();
    if name.is_absolute() {
        cands.push(name.to_path_buf());
    } else if let Some(dir) = obj_path.parent() {
        cands.push(dir.join(name));
    }
    cands.extend(build_id_candidates(id, opts.debug_dirs));
    let mut rejected = Vec::new();
    for cand in &cands {
        if !cand.is_file() {
            continue;
        }
        let Ok(map) = Mapped::open(cand) else {
            continue;
        };
        let Ok(sup) = map.parse(cand) else { continue };
        if sup.build_id().ok().flatten() != Some(id) {
            rejected.push(cand.display().to_string());
            continue;
        }
        return match load_dwarf_sections(&sup) {
            Ok(s) => {
                dwarf.set_sup(s);
                None
            }
            Err(e) => Some(format!("supplementary debug file {}: {e}", cand.display())),
        };
    }
    Some(format!(
        "supplementary (dwz) debug file {} with build-id {} not found; some names may be missing",
        name.display(),
        hex(id)
    ))
}

fn join_notes(a: Option<String>, b: Option<String>) -> Option<String> {
    match (a, b) {
        (Some(a), Some(b)) => Some(format!("{a}; {b}")),
        (a, b) => a.or(b),
    }
}

impl LoadedModule {
    fn broken(note: String) -> LoadedModule {
        LoadedModule {
            dwarf: None,
            symbols: SymbolTable::default(),
            go: false,
            pclntab: None,
            broken: true,
            note: Some(note),
        }
    }

    /// A module that could not be loaded at all.
    pub(crate) fn load_failed(note: &str) -> LoadedModule {
        Self::broken(note.to_string())
    }

    /// The note describing this module's state, if any.
    pub(crate) fn note(&self) -> Option<&str> {
        self.note.as_deref()
    }

    /// Opens and verifies `module`'s file and its debug information.
    /// Never fails: problems are recorded as a note.
    pub(crate) fn load(module: &Module, opts: &LoadOptions<'_>) -> LoadedModule {
        let path = &module.path;
        if path.as_os_str().is_empty() {
            return Self::broken("module has no path".into());
        }
        let mapped = match Mapped::open(path) {
            Ok(m) => m,
            Err(e) => return Self::load_from_build_id_only(module, opts, e),
        };
        let obj = match mapped.parse(path) {
            Ok(o) => o,
            Err(e) => return Self::broken(e),
        };
        let file_id = build_id(&obj);
        if let Some(want) = &module.build_id {
            if file_id.as_deref() != Some(&want[..]) {
                return Self::broken(format!(
                    "build-id mismatch: trace has {}, {} has {} (file changed since the trace?)",
                    hex(want),
                    path.display(),
                    file_id.as_deref().map_or_else(|| "none".to_string(), hex)
                ));
            }
        }
        if !module.segments.is_empty() {
            let file_segs: Vec<(u64, u64)> = obj
                .segments()
                .map(|s| (s.address(), s.file_range().0))
                .collect();
            for s in &module.segments {
                if !file_segs.contains(&(s.vaddr, s.offset)) {
                    return Self::broken(format!(
                        "segment layout mismatch: {} has no PT_LOAD at vaddr {:#x} offset {:#x} (file changed since the trace?)",
                        path.display(),
                        s.vaddr,
                        s.offset
                    ));
                }
            }
        }

        let mut symbols = SymbolTable::read(&obj, false);
        let mut note: Option<String>;
        let mut dwarf_sections = None;
        if has_dwarf(&obj) {
            match load_dwarf_sections(&obj) {
                Ok(mut d) => {
                    note = load_sup(&obj, path, &mut d, opts);
                    dwarf_sections = Some(d);
                }
                Err(e) => note = Some(format!("debug info unusable: {e}")),
            }
        } else {
            let mut cands = Vec::new();
            if let Some(id) = file_id.as_deref().or(module.build_id.as_deref()) {
                cands.extend(build_id_candidates(id, opts.debug_dirs));
            }
            let mut rejected = Vec::new();
            let mut found = find_debug_file(&cands, file_id.as_deref(), None, &mut rejected);
            if found.is_none() {
                if let Some((name, crc)) = obj.gnu_debuglink().ok().flatten() {
                    if let Ok(name) = std::str::from_utf8(name) {
                        let cands = debuglink_candidates(path, Path::new(name), opts.debug_dirs);
                        found =
                            find_debug_file(&cands, file_id.as_deref(), Some(crc), &mut rejected);
                    }
                }
            }
            match found {
                Some(df) => match df.map.parse(&df.path) {
                    Ok(dobj) => {
                        if symbols.kind.is_none() {
                            symbols = SymbolTable::read(&dobj, false);
                        }
                        match load_dwarf_sections(&dobj) {
                            Ok(mut d) => {
                                note = load_sup(&dobj, &df.path, &mut d, opts);
                                dwarf_sections = Some(d);
                            }
                            Err(e) => {
                                note = Some(format!(
                                    "debug info in {} unusable: {e}",
                                    df.path.display()
                                ))
                            }
                        }
                    }
                    Err(e) => note = Some(e),
                },
                None => {
                    let mut n = "no DWARF debug info".to_string();
                    if !rejected.is_empty() {
                        n.push_str(" (rejected: ");
                        n.push_str(&rejected.join(", "));
                        n.push(')');
                    }
                    note = Some(n);
                }
            }
        }
        if symbols.kind.is_none() {
            symbols = SymbolTable::read(&obj, true);
        }
        let dwarf = match dwarf_sections.map(Context::from_dwarf) {
            Some(Ok(ctx)) => Some(ctx),
            Some(Err(e)) => {
                note = join_notes(note, Some(format!("malformed DWARF: {e}")));
                None
            }
            None => None,
        };
        let go = [".gopclntab", ".go.buildinfo", ".note.go.buildid"]
            .iter()
            .any(|n| obj.section_by_name(n).is_some());
        let pclntab = if go && dwarf.is_none() {
            let text = obj.section_by_name(".text").map_or(0, |s| s.address());
            obj.section_by_name(".gopclntab")
                .and_then(|s| s.data().ok())
                .and_then(|d| Pclntab::parse(d.to_vec(), text))
        } else {
            None
        };
        if pclntab.is_some() {
            note = join_notes(
                note,
                Some("functions and lines from Go's .gopclntab".into()),
            );
        }
        LoadedModule {
            dwarf,
            symbols,
            go,
            pclntab,
            broken: false,
            note,
        }
    }

    /// The module file cannot be opened (deleted, or a pseudo-module such as
    /// `linux-vdso.so.1`); if the trace gave its build-id and a debug file
    /// for it is installed, symbolize from that alone.
    fn load_from_build_id_only(
        module: &Module,
        opts: &LoadOptions<'_>,
        open_err: String,
    ) -> LoadedModule {
        let Some(id) = module.build_id.as_deref() else {
            return Self::broken(open_err);
        };
        let cands = build_id_candidates(id, opts.debug_dirs);
        let mut rejected = Vec::new();
        let Some(df) = find_debug_file(&cands, Some(id), None, &mut rejected) else {
            return Self::broken(open_err);
        };
        let Ok(dobj) = df.map.parse(&df.path) else {
            return Self::broken(open_err);
        };
        let symbols = SymbolTable::read(&dobj, false);
        let (dwarf, note) = match load_dwarf_sections(&dobj) {
            Ok(mut d) => {
                let n = load_sup(&dobj, &df.path, &mut d, opts);
                match Context::from_dwarf(d) {
                    Ok(c) => (Some(c), n),
                    Err(e) => (None, join_notes(n, Some(format!("malformed DWARF: {e}")))),
                }
            }
            Err(e) => (None, Some(e)),
        };
        LoadedModule {
            dwarf,
            symbols,
            go: false,
            pclntab: None,
            broken: false,
            note: join_notes(
                Some(format!("{open_err}; used debug file {}", df.path.display())),
                note,
            ),
        }
    }

    /// Looks up link-time virtual address `vaddr` (a return address) of
    /// this module, loaded from `path`.
    pub(crate) fn lookup(&self, path: PathBuf, vaddr: u64, want_demangle: bool) -> FrameInfo {
        let mut out = FrameInfo::module_only(path, vaddr, self.note.clone());
        if self.broken {
            return out;
        }
        // A return address points after the call; the call instruction
        // (and, for calls to noreturn functions, the calling function) is at
        // the byte before.
        let probe = vaddr.saturating_sub(1);
        let dm = |name: &str, lang: Lang| {
            if want_demangle {
                demangle(name, lang)
            } else {
                name.to_string()
            }
        };

        let sym = self.symbols.find(probe);
        if let Some(s) = sym {
            out.function_offset = Some(vaddr.wrapping_sub(s.start));
            out.resolution = self.symbols.kind.unwrap_or(Resolution::Symtab);
        }

        if let Some(ctx) = &self.dwarf {
            let mut frames: Vec<InlinedFrame> = Vec::new();
            match ctx.find_frames(probe).skip_all_loads() {
                Ok(mut iter) => loop {
                    match iter.next() {
                        Ok(Some(f)) => {
                            let function = f.function.as_ref().and_then(|n| {
                                let raw = n.raw_name().ok()?;
                                Some(dm(&raw, Lang::from_dw(n.language)))
                            });
                            let (file, line, column) = match &f.location {
                                Some(l) => (l.file.map(PathBuf::from), l.line, l.column),
                                None => (None, None, None),
                            };
                            frames.push(InlinedFrame {
                                function,
                                file,
                                line,
                                column,
                            });
                            if frames.len() > 256 {
                                break;
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            out.note = join_notes(out.note, Some(format!("DWARF error: {e}")));
                            break;
                        }
                    }
                },
                Err(e) => out.note = join_notes(out.note, Some(format!("DWARF error: {e}"))),
            }
            if let Some(physical) = frames.pop() {
                let has_line = physical.line.is_some() || physical.file.is_some();
                if let Some(f) = physical.function {
                    out.function = Some(f);
                }
                out.file = physical.file;
                out.line = physical.line;
                out.column = physical.column;
                out.inlined = frames;
                if has_line || out.function.is_some() {
                    out.resolution = Resolution::Dwarf;
                }
            }
        }
        if out.function.is_none() || out.resolution != Resolution::Dwarf {
            if let Some(l) = self.pclntab.as_ref().and_then(|t| t.lookup(probe)) {
                out.function_offset = Some(vaddr.wrapping_sub(l.entry));
                out.function = Some(l.function);
                out.file = l.file.map(PathBuf::from);
                out.line = l.line;
                out.resolution = Resolution::GoPclntab;
            }
        }
        // Demangle the symbol name only when DWARF did not name the function.
        if out.function.is_none() {
            out.function = sym.map(|s| dm(&s.name, Lang::Unknown));
        }
        if self.go {
            if let Some(f) = &out.function {
                out.go_std = go::is_std_function(f, out.file.as_deref());
            }
            // Standard-library code inlined into the program's own function
            // (syscall.Write into main.f): the line shown is the program's.
            if !out.go_std {
                let std = |i: &InlinedFrame| {
                    i.function
                        .as_deref()
                        .is_some_and(|f| go::is_std_function(f, i.file.as_deref()))
                };
                let n = out.inlined.iter().take_while(|i| std(i)).count();
                out.inlined.drain(..n);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_known() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn debuglink_paths() {
        let c = debuglink_candidates(
            Path::new("/usr/bin/ls"),
            Path::new("ls.debug"),
            &[PathBuf::from("/usr/lib/debug")],
        );
        assert_eq!(
            c,
            vec![
                PathBuf::from("/usr/bin/ls.debug"),
                PathBuf::from("/usr/bin/.debug/ls.debug"),
                PathBuf::from("/usr/lib/debug/usr/bin/ls.debug"),
            ]
        );
        assert!(debuglink_candidates(Path::new("/a/b"), Path::new("../x"), &[]).is_empty());
        assert_eq!(
            build_id_candidates(&[0xab, 0xcd, 0xef], &[PathBuf::from("/d")]),
            vec![PathBuf::from("/d/.build-id/ab/cdef.debug")]
        );
    }
}
