//! The module map of a traced process: which ELF object is loaded where.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

/// One `PT_LOAD` program header of a loaded ELF object, as reported by
/// `dl_iterate_phdr` (`p_vaddr`, `p_memsz`, `p_offset`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Segment {
    /// `p_vaddr`: link-time virtual address of the segment.
    pub vaddr: u64,
    /// `p_memsz`: size of the segment in memory.
    pub memsz: u64,
    /// `p_offset`: offset of the segment in the file.
    pub offset: u64,
}

/// One loaded ELF object of the traced process.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Module {
    /// Path of the object as the traced process saw it (`dlpi_name`, or the
    /// resolved executable path for the main program).
    pub path: PathBuf,
    /// Load bias (`dlpi_addr`): runtime address = bias + link-time vaddr.
    pub bias: u64,
    /// The object's `PT_LOAD` segments.
    pub segments: Vec<Segment>,
    /// The GNU build-id (`NT_GNU_BUILD_ID` note payload), if the object has one.
    pub build_id: Option<Vec<u8>>,
}

impl Module {
    /// A module with no segments; addresses can only be attributed to it
    /// once segments are added.
    pub fn new(path: impl Into<PathBuf>, bias: u64) -> Self {
        Module {
            path: path.into(),
            bias,
            segments: Vec::new(),
            build_id: None,
        }
    }
}

/// Where an address was found in a [`ProcessMap`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MapHit {
    /// Index into [`ProcessMap::modules`].
    pub module: usize,
    /// The address as a link-time virtual address of the ELF object
    /// (`addr - bias`), i.e. what DWARF and symbol tables use.
    pub vaddr: u64,
}

#[derive(Clone, Copy, Debug)]
struct Range {
    start: u64,
    end: u64, // exclusive
    module: u32,
}

static NEXT_MAP_ID: AtomicU64 = AtomicU64::new(1);

/// The module map of one traced process.
///
/// Modules are only ever appended (indices stay valid). When a newly added
/// module overlaps address ranges of an older one (the old object was
/// `dlclose`d and something else was mapped there), lookups in the
/// overlapping range resolve to the newer module.
#[derive(Debug)]
pub struct ProcessMap {
    id: u64,
    modules: Vec<Module>,
    /// Sorted, non-overlapping runtime address ranges.
    ranges: Vec<Range>,
}

impl Default for ProcessMap {
    fn default() -> Self {
        Self::new()
    }
}

impl Clone for ProcessMap {
    fn clone(&self) -> Self {
        // A clone can diverge from the original, so it gets its own id
        // (the symbolizer keys its per-map bindings by id).
        ProcessMap {
            id: NEXT_MAP_ID.fetch_add(1, Ordering::Relaxed),
            modules: self.modules.clone(),
            ranges: self.ranges.clone(),
        }
    }
}

impl ProcessMap {
    /// An empty map.
    pub fn new() -> Self {
        ProcessMap {
            id: NEXT_MAP_ID.fetch_add(1, Ordering::Relaxed),
            modules: Vec::new(),
            ranges: Vec::new(),
        }
    }

    /// A process-unique id of this map (used as a cache key by the
    /// symbolizer; never reused within one process).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// All modules ever added, in insertion order.
    pub fn modules(&self) -> &[Module] {
        &self.modules
    }

    /// Adds a module and returns its index.
    ///
    /// Re-adding an identical module (same path, bias, segments and
    /// build-id, as happens when the preload library re-sends the whole map
    /// after a `dlopen`) returns the existing index and changes nothing.
    /// Segments with `memsz == 0` or whose runtime range would overflow are
    /// ignored.
    pub fn add_module(&mut self, module: Module) -> usize {
        if let Some(i) = self.modules.iter().position(|m| *m == module) {
            return i;
        }
        let idx = self.modules.len();
        let Ok(idx32) = u32::try_from(idx) else {
            // 4 billion modules: ignore further ones rather than panic.
            return idx.saturating_sub(1);
        };
        for seg in &module.segments {
            let Some(start) = module.bias.checked_add(seg.vaddr) else {
                continue;
            };
            let Some(end) = start.checked_add(seg.memsz) else {
                continue;
            };
            if end > start {
                self.insert_range(Range {
                    start,
                    end,
                    module: idx32,
                });
            }
        }
        self.modules.push(module);
        idx
    }

    /// Inserts `new`, cutting away the parts of older ranges it overlaps.
    fn insert_range(&mut self, new: Range) {
        let mut out = Vec::with_capacity(self.ranges.len() + 2);
        for r in self.ranges.drain(..) {
            if r.end <= new.start || r.start >= new.end {
                out.push(r);
                continue;
            }
            if r.start < new.start {
                out.push(Range {
                    start: r.start,
                    end: new.start,
                    module: r.module,
                });
            }
            if r.end > new.end {
                out.push(Range {
                    start: new.end,
                    end: r.end,
                    module: r.module,
                });
            }
        }
        out.push(new);
        out.sort_unstable_by_key(|r| r.start);
        self.ranges = out;
    }

    /// Finds the module containing runtime address `addr`.
    pub fn find(&self, addr: u64) -> Option<MapHit> {
        let i = self.ranges.partition_point(|r| r.start <= addr);
        let r = self.ranges.get(i.checked_sub(1)?)?;
        if addr >= r.end {
            return None;
        }
        let module = r.module as usize;
        let bias = self.modules.get(module)?.bias;
        Some(MapHit {
            module,
            vaddr: addr.wrapping_sub(bias),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module(path: &str, bias: u64, segs: &[(u64, u64)]) -> Module {
        Module {
            path: path.into(),
            bias,
            segments: segs
                .iter()
                .map(|&(vaddr, memsz)| Segment {
                    vaddr,
                    memsz,
                    offset: vaddr,
                })
                .collect(),
            build_id: None,
        }
    }

    #[test]
    fn find_and_overlap() {
        let mut m = ProcessMap::new();
        let a = m.add_module(module("a", 0x1000, &[(0, 0x100), (0x200, 0x100)]));
        let b = m.add_module(module("b", 0x10000, &[(0, 0x1000)]));
        assert_eq!(
            m.add_module(module("a", 0x1000, &[(0, 0x100), (0x200, 0x100)])),
            a
        );
        assert_eq!(
            m.find(0x1000),
            Some(MapHit {
                module: a,
                vaddr: 0
            })
        );
        assert_eq!(
            m.find(0x10ff),
            Some(MapHit {
                module: a,
                vaddr: 0xff
            })
        );
        assert_eq!(m.find(0x1100), None);
        assert_eq!(
            m.find(0x1250),
            Some(MapHit {
                module: a,
                vaddr: 0x250
            })
        );
        assert_eq!(
            m.find(0x10500),
            Some(MapHit {
                module: b,
                vaddr: 0x500
            })
        );
        assert_eq!(m.find(0), None);
        assert_eq!(m.find(u64::MAX), None);
        // c replaces the middle of b
        let c = m.add_module(module("c", 0x10400, &[(0, 0x100)]));
        assert_eq!(
            m.find(0x10450),
            Some(MapHit {
                module: c,
                vaddr: 0x50
            })
        );
        assert_eq!(m.find(0x103ff).unwrap().module, b);
        assert_eq!(m.find(0x10500).unwrap().module, b);
        // overflow and empty segments are ignored
        m.add_module(module("d", u64::MAX - 4, &[(0, 0x100), (0x10, 0)]));
        assert_eq!(m.find(u64::MAX - 2), None);
    }
}
