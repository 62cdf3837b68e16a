//! Symbolization results and their display.

use std::fmt::Write as _;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How much the symbolizer could find out about an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Resolution {
    /// File/line (and function) from DWARF debug info.
    Dwarf,
    /// Function from the ELF `.symtab` (no line info).
    Symtab,
    /// Function from the ELF `.dynsym` (no line info).
    Dynsym,
    /// Function and file:line from a Go program's `.gopclntab` (no DWARF).
    GoPclntab,
    /// Only the module is known: displayed as `module+0xOFF`.
    Module,
    /// The address lies in no module of the map.
    Unmapped,
}

/// An inlined function at the looked-up address.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct InlinedFrame {
    /// Demangled name of the inlined function.
    pub function: Option<String>,
    /// Source location inside this inlined function.
    pub file: Option<PathBuf>,
    /// Line inside `file`.
    pub line: Option<u32>,
    /// Column inside `line` (`Some(0)` = left edge).
    pub column: Option<u32>,
}

/// Everything that depends only on (module, virtual address); shared between
/// all [`Frame`]s for that address through the symbolizer's cache.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FrameInfo {
    /// The frame lies in the Go standard library (runtime, syscall, net,
    /// internal/..., see `go::is_std_function`) of a program built by the
    /// Go toolchain.
    pub go_std: bool,
    /// Module path as given in the [`crate::ProcessMap`] (empty when unmapped).
    pub module: PathBuf,
    /// Demangled name of the physical (non-inlined) function containing the
    /// address, without Rust hash suffixes and without C++ parameter lists.
    pub function: Option<String>,
    /// Offset of the *return address itself* (not `addr - 1`) from the start
    /// of `function`, when the function's start is known (symbol table).
    pub function_offset: Option<u64>,
    /// The address as a link-time virtual address in the module
    /// (`addr - bias`; for unmapped addresses the address itself).
    pub module_offset: u64,
    /// Source file of the location inside the physical function: the call
    /// site itself, or, when `inlined` is non-empty, the call site of the
    /// outermost inlined function.
    pub file: Option<PathBuf>,
    /// Line in `file`.
    pub line: Option<u32>,
    /// Column in `line`.
    pub column: Option<u32>,
    /// Inlined functions at the address, innermost first; each with the
    /// location inside that function.
    pub inlined: Vec<InlinedFrame>,
    /// Which information source produced this frame.
    pub resolution: Resolution,
    /// Why less than DWARF information is available (missing file, build-id
    /// mismatch, malformed ELF, no debug info, ...), or other remarks.
    pub note: Option<String>,
}

/// A symbolized address. Cheap to clone; dereferences to [`FrameInfo`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Frame {
    /// The runtime address that was symbolized (a return address).
    pub addr: u64,
    /// Shared symbolization result.
    pub info: Arc<FrameInfo>,
}

impl Deref for Frame {
    type Target = FrameInfo;
    fn deref(&self) -> &FrameInfo {
        &self.info
    }
}

/// How paths are rendered by [`Frame::display`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub enum PathStyle {
    /// Paths as recorded.
    Full,
    /// Paths with this prefix stripped when they start with it.
    RelativeTo(PathBuf),
    /// Only the final path component.
    #[default]
    BaseName,
}

impl PathStyle {
    /// Renders `p` in this style.
    pub fn apply(&self, p: &Path) -> String {
        match self {
            PathStyle::Full => p.display().to_string(),
            PathStyle::RelativeTo(base) => match p.strip_prefix(base) {
                Ok(rel) if !rel.as_os_str().is_empty() => rel.display().to_string(),
                _ => p.display().to_string(),
            },
            PathStyle::BaseName => match p.file_name() {
                Some(n) => Path::new(n).display().to_string(),
                None => p.display().to_string(),
            },
        }
    }
}

impl FrameInfo {
    /// `module+0xOFF` only: what is known before (or instead of) a lookup.
    pub(crate) fn module_only(module: PathBuf, vaddr: u64, note: Option<String>) -> FrameInfo {
        FrameInfo {
            go_std: false,
            module,
            function: None,
            function_offset: None,
            module_offset: vaddr,
            file: None,
            line: None,
            column: None,
            inlined: Vec::new(),
            resolution: Resolution::Module,
            note,
        }
    }

    /// The most precise source location known: the innermost inlined
    /// function's location if any, else the frame's own.
    pub fn location(&self) -> (Option<&Path>, Option<u32>, Option<u32>) {
        match self.inlined.first() {
            Some(i) if i.file.is_some() || i.line.is_some() => {
                (i.file.as_deref(), i.line, i.column)
            }
            _ => (self.file.as_deref(), self.line, self.column),
        }
    }

    fn module_name(&self, style: &PathStyle) -> String {
        if self.module.as_os_str().is_empty() {
            "?".to_string()
        } else {
            style.apply(&self.module)
        }
    }
}

impl Frame {
    /// One-line rendering:
    ///
    /// * with line info: `ahost.c:68 (main+0x35)`, or with inlining
    ///   `sock.c:12 (do_connect inlined into main+0x35)`;
    /// * function only: `connect_probe+0x25 in libfoo.so`;
    /// * module only: `libfoo.so+0x1234`;
    /// * unmapped: `0x7f0012345678`.
    ///
    /// Offsets are those of the return address itself. A `note`, when
    /// present, is not included (see [`FrameInfo::note`]).
    pub fn display(&self, style: &PathStyle) -> String {
        let mut s = String::new();
        let func = self.function_text();
        match self.resolution {
            Resolution::Unmapped => {
                let _ = write!(s, "{:#x}", self.addr);
            }
            Resolution::Module => {
                let _ = write!(s, "{}+{:#x}", self.module_name(style), self.module_offset);
            }
            Resolution::Symtab | Resolution::Dynsym | Resolution::Dwarf | Resolution::GoPclntab => {
                let (file, line, _) = self.location();
                match (file, line) {
                    (Some(f), Some(l)) => {
                        let _ = write!(s, "{}:{} ", style.apply(f), l);
                    }
                    (Some(f), None) => {
                        let _ = write!(s, "{} ", style.apply(f));
                    }
                    _ => {}
                }
                if s.is_empty() {
                    match func {
                        Some(f) => {
                            let _ = write!(s, "{} in {}", f, self.module_name(style));
                        }
                        None => {
                            let _ =
                                write!(s, "{}+{:#x}", self.module_name(style), self.module_offset);
                        }
                    }
                } else {
                    match func {
                        Some(f) => {
                            let _ = write!(s, "({f})");
                        }
                        None => {
                            let _ = write!(
                                s,
                                "({}+{:#x})",
                                self.module_name(style),
                                self.module_offset
                            );
                        }
                    }
                }
            }
        }
        s
    }

    /// `function+0xOFF`, `inner inlined into function+0xOFF`, or `None`.
    fn function_text(&self) -> Option<String> {
        let mut out = String::new();
        if let Some(inner) = self.inlined.first().and_then(|i| i.function.as_deref()) {
            let _ = write!(out, "{inner} inlined into ");
        }
        match (&self.function, self.function_offset) {
            (Some(f), Some(off)) => {
                let _ = write!(out, "{f}+{off:#x}");
            }
            (Some(f), None) => out.push_str(f),
            (None, _) if !out.is_empty() => out.push('?'),
            (None, _) => return None,
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(info: FrameInfo) -> Frame {
        Frame {
            addr: 0x5555_0000_1234,
            info: Arc::new(info),
        }
    }

    fn base() -> FrameInfo {
        FrameInfo {
            go_std: false,
            module: "/usr/lib/libfoo.so".into(),
            function: Some("connect_probe".into()),
            function_offset: Some(0x25),
            module_offset: 0x1234,
            file: Some("/src/ahost.c".into()),
            line: Some(68),
            column: Some(5),
            inlined: vec![],
            resolution: Resolution::Dwarf,
            note: None,
        }
    }

    #[test]
    fn display_styles() {
        let f = frame(base());
        assert_eq!(
            f.display(&PathStyle::BaseName),
            "ahost.c:68 (connect_probe+0x25)"
        );
        assert_eq!(
            f.display(&PathStyle::Full),
            "/src/ahost.c:68 (connect_probe+0x25)"
        );
        assert_eq!(
            f.display(&PathStyle::RelativeTo("/src".into())),
            "ahost.c:68 (connect_probe+0x25)"
        );
        let f = frame(FrameInfo {
            file: None,
            line: None,
            resolution: Resolution::Symtab,
            ..base()
        });
        assert_eq!(
            f.display(&PathStyle::BaseName),
            "connect_probe+0x25 in libfoo.so"
        );
        let f = frame(FrameInfo {
            function: None,
            function_offset: None,
            file: None,
            line: None,
            resolution: Resolution::Module,
            ..base()
        });
        assert_eq!(f.display(&PathStyle::BaseName), "libfoo.so+0x1234");
        let f = frame(FrameInfo {
            inlined: vec![InlinedFrame {
                function: Some("inner".into()),
                file: Some("/src/inner.h".into()),
                line: Some(3),
                column: None,
            }],
            ..base()
        });
        assert_eq!(
            f.display(&PathStyle::BaseName),
            "inner.h:3 (inner inlined into connect_probe+0x25)"
        );
        let f = frame(FrameInfo {
            module: PathBuf::new(),
            resolution: Resolution::Unmapped,
            ..base()
        });
        assert_eq!(f.display(&PathStyle::BaseName), "0x555500001234");
    }
}
