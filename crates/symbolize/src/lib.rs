//! Offline symbolization of return addresses for sock-trace.
//!
//! The preload library records return addresses inside the traced process
//! together with the process's module map (for every loaded ELF object: path,
//! load bias, `PT_LOAD` segments and GNU build-id). The collector, possibly
//! after the traced process has exited, turns those addresses into
//! [`Frame`]s with this crate:
//!
//! ```no_run
//! use sock_trace_symbolize::{Module, Options, PathStyle, ProcessMap, Segment, Symbolizer};
//!
//! let mut map = ProcessMap::new();
//! map.add_module(Module {
//!     path: "/usr/bin/ahost".into(),
//!     bias: 0x5555_5555_4000,
//!     segments: vec![Segment { vaddr: 0x1000, memsz: 0x2000, offset: 0x1000 }],
//!     build_id: None,
//! });
//! let mut sym = Symbolizer::new(Options::default());
//! let frame = sym.symbolize(&map, 0x5555_5555_5235);
//! println!("{}", frame.display(&PathStyle::BaseName)); // e.g. `ahost.c:68 (main+0x35)`
//! ```
//!
//! Information sources, best first:
//!
//! 1. DWARF line and function info (with inlined frames), from the object
//!    itself or from a separate debug file found by build-id
//!    (`<debug dir>/.build-id/ab/cdef….debug`) or by `.gnu_debuglink`
//!    (next to the object, in its `.debug/` subdirectory, or under
//!    `<debug dir>/<object's dir>/`). Compressed debug sections
//!    (`SHF_COMPRESSED` zlib/zstd and `.zdebug_*`) and dwz supplementary
//!    files (`.gnu_debugaltlink`) are supported.
//! 2. Go's `.gopclntab` for Go programs without DWARF (`-ldflags=-s -w`):
//!    function and file:line (see the `go` module for the format read).
//! 3. ELF symbol tables, `.symtab` then `.dynsym`: `function+0xOFF`.
//! 4. The module alone: `module+0xOFF`.
//!
//! Frames of a Go program's standard library (runtime, syscall, net, ...)
//! say so ([`FrameInfo::go_std`]): the system-call backend records a Go
//! program's whole stack, and the collector looks through those frames to
//! the first one in the program's own code, as `--caller-skip` does for
//! libraries.
//!
//! Symbolization never fails and never panics on malformed input: a missing,
//! changed (build-id or segment mismatch), truncated or garbage file yields a
//! frame of lesser [`Resolution`] with a [`FrameInfo::note`] saying why.
//!
//! Return addresses point after the call instruction, so lookups use
//! `addr - 1`; the offsets reported (`function_offset`, `module_offset`) are
//! those of the return address itself, as in gdb/`backtrace_symbols`.
//!
//! Results are cached per (module, virtual address): symbolizing an address
//! a second time is one range search in the map plus two hash lookups, and
//! the returned [`Frame`] shares its [`FrameInfo`] through an `Arc`.

#![warn(missing_docs)]

mod demangle;
mod frame;
mod go;
mod loader;
mod map;

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::Arc;

pub use demangle::{demangle, Lang};
pub use frame::{Frame, FrameInfo, InlinedFrame, PathStyle, Resolution};
pub use map::{MapHit, Module, ProcessMap, Segment};

use loader::{LoadOptions, LoadedModule};

/// Symbolizer settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Global debug directories searched for separate debug files (by
    /// build-id under `<dir>/.build-id/`, and by debuglink under
    /// `<dir>/<object's directory>/`). Default: `["/usr/lib/debug"]`.
    pub debug_dirs: Vec<PathBuf>,
    /// Demangle C++ and Rust names (default `true`).
    pub demangle: bool,
    /// Maximum number of cached (module, address) results; the cache is
    /// emptied when it is reached (default 1 << 20).
    pub cache_capacity: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            debug_dirs: vec![PathBuf::from("/usr/lib/debug")],
            demangle: true,
            cache_capacity: 1 << 20,
        }
    }
}

/// Counters for diagnostics and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that had to consult debug info / symbol tables.
    pub misses: u64,
    /// Module files opened and parsed.
    pub modules_loaded: u64,
}

/// A fast, non-cryptographic hasher for the integer keys of the caches
/// (keys are addresses chosen by the traced program, not by an attacker who
/// sees the hash function; worst case is slower lookups).
#[derive(Default, Clone, Copy)]
struct FastHasher(u64);

impl Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(b));
        }
    }
    #[inline]
    fn write_u64(&mut self, x: u64) {
        self.0 = (self.0.rotate_left(5) ^ x).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    #[inline]
    fn write_u32(&mut self, x: u32) {
        self.write_u64(u64::from(x));
    }
    #[inline]
    fn write_usize(&mut self, x: usize) {
        self.write_u64(x as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        // Final avalanche so that hashbrown's top-7-bit tags vary.
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h
    }
}

type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;

/// Identity of a module file: its path and expected build-id.
type ModuleKey = (PathBuf, Option<Vec<u8>>);

const UNMAPPED: u32 = u32::MAX;

/// Turns runtime addresses into [`Frame`]s. Single-threaded; keeps parsed
/// debug info of every module it has seen for its whole lifetime.
pub struct Symbolizer {
    opts: Options,
    /// Loaded modules, indexed by module id.
    modules: Vec<(PathBuf, LoadedModule)>,
    module_ids: HashMap<ModuleKey, u32>,
    /// (map id, module index in that map) -> module id.
    bindings: FastMap<(u64, u32), u32>,
    /// (module id, vaddr) -> result.
    cache: FastMap<(u32, u64), Arc<FrameInfo>>,
    stats: Stats,
}

impl std::fmt::Debug for Symbolizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Symbolizer")
            .field("opts", &self.opts)
            .field("modules", &self.modules.len())
            .field("cached", &self.cache.len())
            .field("stats", &self.stats)
            .finish()
    }
}

impl Default for Symbolizer {
    fn default() -> Self {
        Self::new(Options::default())
    }
}

impl Symbolizer {
    /// A symbolizer with the given options.
    pub fn new(opts: Options) -> Self {
        Symbolizer {
            opts,
            modules: Vec::new(),
            module_ids: HashMap::new(),
            bindings: FastMap::default(),
            cache: FastMap::default(),
            stats: Stats::default(),
        }
    }

    /// The options in use.
    pub fn options(&self) -> &Options {
        &self.opts
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Forgets cached results but keeps the parsed modules.
    pub fn clear_cache(&mut self) {
        self.cache.clear();
    }

    /// Forgets everything (parsed modules too), e.g. after debug packages
    /// were installed.
    pub fn clear(&mut self) {
        self.cache.clear();
        self.bindings.clear();
        self.module_ids.clear();
        self.modules.clear();
    }

    /// Drops the per-map bindings of a map that will not be used again.
    pub fn forget_map(&mut self, map: &ProcessMap) {
        let id = map.id();
        self.bindings.retain(|k, _| k.0 != id);
    }

    /// The note about a module's debug info (why it is missing, mismatched,
    /// ...), if any, loading the module if needed.
    pub fn module_note(&mut self, module: &Module) -> Option<String> {
        let id = self.module_id(module);
        self.modules
            .get(id as usize)
            .and_then(|m| m.1.note().map(str::to_string))
    }

    fn module_id(&mut self, module: &Module) -> u32 {
        let key = (module.path.clone(), module.build_id.clone());
        if let Some(&id) = self.module_ids.get(&key) {
            return id;
        }
        let opts = LoadOptions {
            debug_dirs: &self.opts.debug_dirs,
        };
        let loaded = catch_unwind(AssertUnwindSafe(|| LoadedModule::load(module, &opts)))
            .unwrap_or_else(|_| {
                LoadedModule::load_failed("internal error (panic) while parsing the module")
            });
        self.stats.modules_loaded += 1;
        let id = u32::try_from(self.modules.len()).unwrap_or(UNMAPPED - 1);
        if id < UNMAPPED - 1 {
            self.modules.push((module.path.clone(), loaded));
            self.module_ids.insert(key, id);
        }
        id
    }

    fn resolve(&mut self, id: u32, vaddr: u64) -> Arc<FrameInfo> {
        if let Some(info) = self.cache.get(&(id, vaddr)) {
            self.stats.hits += 1;
            return info.clone();
        }
        self.stats.misses += 1;
        let info = match self.modules.get(id as usize) {
            Some((path, m)) => {
                let demangle = self.opts.demangle;
                let l = catch_unwind(AssertUnwindSafe(|| m.lookup(path.clone(), vaddr, demangle)));
                l.unwrap_or_else(|_| {
                    let note = Some("internal error (panic) in lookup".to_string());
                    FrameInfo::module_only(path.clone(), vaddr, note)
                })
            }
            None => FrameInfo::module_only(PathBuf::new(), vaddr, Some("too many modules".into())),
        };
        let info = Arc::new(info);
        if self.cache.len() >= self.opts.cache_capacity.max(1) {
            self.cache.clear();
        }
        self.cache.insert((id, vaddr), info.clone());
        info
    }

    /// Symbolizes runtime address `addr` (a return address) of the process
    /// described by `map`. Never fails: falls back to symbol tables, then to
    /// `module+0xOFF`, then to the bare address.
    pub fn symbolize(&mut self, map: &ProcessMap, addr: u64) -> Frame {
        let Some(hit) = map.find(addr) else {
            let info = self.resolve_unmapped(addr);
            return Frame { addr, info };
        };
        let key = (map.id(), hit.module as u32);
        let id = match self.bindings.get(&key) {
            Some(&id) => id,
            None => {
                let id = match map.modules().get(hit.module) {
                    Some(m) => self.module_id(m),
                    None => UNMAPPED - 1,
                };
                self.bindings.insert(key, id);
                id
            }
        };
        Frame {
            addr,
            info: self.resolve(id, hit.vaddr),
        }
    }

    /// Symbolizes link-time virtual address `vaddr` (return address minus
    /// bias) in `module`, without a [`ProcessMap`]. Slower than
    /// [`Symbolizer::symbolize`] on cache hits (hashes the module path).
    pub fn symbolize_in(&mut self, module: &Module, vaddr: u64) -> Frame {
        let id = self.module_id(module);
        Frame {
            addr: vaddr.wrapping_add(module.bias),
            info: self.resolve(id, vaddr),
        }
    }

    /// Symbolizes every address of a stack.
    pub fn symbolize_stack(&mut self, map: &ProcessMap, addrs: &[u64]) -> Vec<Frame> {
        addrs.iter().map(|&a| self.symbolize(map, a)).collect()
    }

    fn resolve_unmapped(&mut self, addr: u64) -> Arc<FrameInfo> {
        if let Some(info) = self.cache.get(&(UNMAPPED, addr)) {
            self.stats.hits += 1;
            return info.clone();
        }
        self.stats.misses += 1;
        let note = Some("address is in no module of the map".to_string());
        let mut info = FrameInfo::module_only(PathBuf::new(), addr, note);
        info.resolution = Resolution::Unmapped;
        let info = Arc::new(info);
        if self.cache.len() >= self.opts.cache_capacity.max(1) {
            self.cache.clear();
        }
        self.cache.insert((UNMAPPED, addr), info.clone());
        info
    }
}
