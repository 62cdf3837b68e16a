//! Go programs: which frames belong to the Go standard library, and a
//! reader of Go's own line table (`.gopclntab`) for binaries without DWARF
//! (`go build -ldflags='-s -w'`).
//!
//! # The pclntab layout read here (Go 1.18 and later)
//!
//! Written from the format as Go's `runtime/symtab.go` and `debug/gosym`
//! describe it. All offsets are relative to the start of the table:
//!
//! * header: magic (`u32`, 0xfffffff0 for Go 1.18-1.19, 0xfffffff1 for
//!   1.20 and later), two zero bytes, the instruction size quantum
//!   (`u8`), the pointer size (`u8`, 8 here), then eight pointer-size
//!   words: number of functions, number of files, text start address,
//!   and the offsets of the function-name table, the compilation-unit
//!   table, the file-name table, the pc-value tables and the function
//!   table;
//! * function table: `nfunc + 1` pairs of `u32` (function entry as an
//!   offset from the text start, offset of the function's record from the
//!   function table); the last entry is the end of the text;
//! * function record: `u32` entry offset, `i32` name offset (into the
//!   name table, NUL-terminated), `args`, `deferreturn`, `pcsp`, then the
//!   `pcfile` and `pcln` offsets (into the pc-value tables) at bytes 20
//!   and 24, and the compilation unit's first index into the unit table at
//!   byte 32;
//! * pc-value table: pairs of a zig-zag varint value delta and a varint pc
//!   delta (times the quantum), starting from value -1 at the function
//!   entry; a zero value delta after the first pair ends it;
//! * file: the pcfile value indexes the unit's entries in the unit table
//!   (`u32` each), which are offsets of NUL-terminated names in the file
//!   table.
//!
//! Every read is bounds-checked and every loop bounded: a truncated or
//! hostile table yields `None`, never a panic.

use std::path::Path;

const MAGIC_118: u32 = 0xffff_fff0;
const MAGIC_120: u32 = 0xffff_fff1;
/// Longest pc-value table walked (pairs).
const MAX_STEPS: usize = 1 << 20;
/// Longest name read.
const MAX_NAME: usize = 4096;

/// Whether `function` (a Go symbol name, `net/http.(*Client).Get`) belongs
/// to the Go standard library (runtime, syscall, net, internal/..., the
/// vendored golang.org/x packages, compiler-generated `type..` helpers).
/// Standard packages have no dot in their first path element; `main` and
/// module paths (`example.com/x`) are user code. When the source `file` is
/// known it must also lie in the toolchain's tree (`.../src/PKG/...`), so that
/// a dot-less module of one's own (`myapp/util`) is not taken for the
/// standard library.
pub fn is_std_function(function: &str, file: Option<&Path>) -> bool {
    let pkg = package_of(function);
    if pkg.is_empty() || pkg == "main" {
        return false;
    }
    let first = pkg.split('/').next().unwrap_or(pkg);
    if first.contains('.') {
        return false;
    }
    // The runtime provides some functions of other packages (linkname):
    // `syscall.RawSyscall6` lives in runtime/internal/syscall.
    match file.and_then(|f| f.to_str()) {
        Some(f) if f.ends_with(".go") || f.ends_with(".s") => {
            f.contains(&format!("/src/{first}/"))
                || f.contains("/src/runtime/")
                || f.starts_with(&format!("{first}/"))
        }
        _ => true,
    }
}

/// The package path of a Go symbol: up to the first `.` after the last `/`.
fn package_of(function: &str) -> &str {
    let slash = function.rfind('/').map_or(0, |i| i + 1);
    match function[slash..].find('.') {
        Some(dot) => &function[..slash + dot],
        None => "",
    }
}

/// A parsed `.gopclntab` (owned copy of the section).
pub(crate) struct Pclntab {
    data: Vec<u8>,
    quantum: u64,
    nfunc: usize,
    text_start: u64,
    funcnames: usize,
    cutab: usize,
    filetab: usize,
    pctab: usize,
    functab: usize,
}

/// What the table says about one address.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct GoLocation {
    pub function: String,
    /// The function's entry (link-time virtual address).
    pub entry: u64,
    pub file: Option<String>,
    pub line: Option<u32>,
}

impl Pclntab {
    /// Checks the header; `text_section` (the `.text` address) stands in
    /// for a text start the file leaves to a relocation (PIE).
    pub(crate) fn parse(data: Vec<u8>, text_section: u64) -> Option<Pclntab> {
        let magic = u32::from_le_bytes(data.get(0..4)?.try_into().ok()?);
        if magic != MAGIC_118 && magic != MAGIC_120 {
            return None;
        }
        if data.get(4..6)? != [0, 0] || *data.get(7)? != 8 {
            return None;
        }
        let quantum = u64::from(*data.get(6)?);
        if !matches!(quantum, 1 | 2 | 4) {
            return None;
        }
        let word = |i: usize| -> Option<u64> {
            let o = 8 + i * 8;
            Some(u64::from_le_bytes(data.get(o..o + 8)?.try_into().ok()?))
        };
        let off = |i: usize| -> Option<usize> {
            let v = usize::try_from(word(i)?).ok()?;
            (v <= data.len()).then_some(v)
        };
        let nfunc = usize::try_from(word(0)?).ok()?;
        let text_start = match word(2)? {
            0 => text_section,
            t => t,
        };
        let t = Pclntab {
            quantum,
            nfunc,
            text_start,
            funcnames: off(3)?,
            cutab: off(4)?,
            filetab: off(5)?,
            pctab: off(6)?,
            functab: off(7)?,
            data: Vec::new(),
        };
        // The function table must hold nfunc + 1 pairs.
        let ftab_end = t
            .functab
            .checked_add(nfunc.checked_add(1)?.checked_mul(8)?)?;
        if ftab_end > data.len() {
            return None;
        }
        Some(Pclntab { data, ..t })
    }

    fn u32_at(&self, o: usize) -> Option<u32> {
        Some(u32::from_le_bytes(
            self.data.get(o..o.checked_add(4)?)?.try_into().ok()?,
        ))
    }

    fn cstr(&self, o: usize) -> Option<String> {
        let rest = self.data.get(o..)?;
        let rest = &rest[..rest.len().min(MAX_NAME)];
        let end = rest.iter().position(|&b| b == 0)?;
        Some(String::from_utf8_lossy(&rest[..end]).into_owned())
    }

    /// Looks up link-time address `pc` (already the call instruction's
    /// address, not a return address).
    pub(crate) fn lookup(&self, pc: u64) -> Option<GoLocation> {
        let rel = u32::try_from(pc.checked_sub(self.text_start)?).ok()?;
        let entry_of = |i: usize| self.u32_at(self.functab + i * 8);
        // Binary search for the last entry <= rel among nfunc functions.
        let end = entry_of(self.nfunc)?;
        if rel >= end {
            return None;
        }
        let (mut lo, mut hi) = (0usize, self.nfunc);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if entry_of(mid)? <= rel {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let i = lo.checked_sub(1)?;
        let entry_off = entry_of(i)?;
        let func = self
            .functab
            .checked_add(self.u32_at(self.functab + i * 8 + 4)? as usize)?;
        let name_off = self.u32_at(func + 4)? as usize;
        let function = self.cstr(self.funcnames.checked_add(name_off)?)?;
        let entry = self.text_start.checked_add(u64::from(entry_off))?;
        let pcfile = self.u32_at(func + 20)?;
        let pcln = self.u32_at(func + 24)?;
        let cu = self.u32_at(func + 32)? as usize;
        let line = self
            .pcvalue(pcln, entry, pc)
            .and_then(|v| u32::try_from(v).ok());
        let file = self.pcvalue(pcfile, entry, pc).and_then(|ix| {
            let ix = usize::try_from(ix).ok()?;
            let at = self
                .cutab
                .checked_add(cu.checked_add(ix)?.checked_mul(4)?)?;
            let name = self.u32_at(at)?;
            if name == u32::MAX {
                return None;
            }
            self.cstr(self.filetab.checked_add(name as usize)?)
        });
        Some(GoLocation {
            function,
            entry,
            file,
            line,
        })
    }

    /// The value of pc-value table `off` at `target`.
    fn pcvalue(&self, off: u32, entry: u64, target: u64) -> Option<i64> {
        if off == 0 {
            return None;
        }
        let mut p = self.pctab.checked_add(off as usize)?;
        let mut val: i64 = -1;
        let mut pc = entry;
        for step in 0..MAX_STEPS {
            let (uv, n) = uvarint(self.data.get(p..)?)?;
            if uv == 0 && step > 0 {
                return None;
            }
            p += n;
            let delta = if uv & 1 != 0 {
                !((uv >> 1) as i64)
            } else {
                (uv >> 1) as i64
            };
            val = val.wrapping_add(delta);
            let (pcd, n) = uvarint(self.data.get(p..)?)?;
            p += n;
            pc = pc.checked_add(pcd.checked_mul(self.quantum)?)?;
            if target < pc {
                return Some(val);
            }
        }
        None
    }
}

/// An unsigned LEB128 varint: value and bytes used.
fn uvarint(b: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for (i, &byte) in b.iter().enumerate().take(10) {
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_library_by_package_and_file() {
        for f in [
            "runtime/internal/syscall.Syscall6",
            "syscall.Syscall",
            "net.(*netFD).connect",
            "net/http.(*Transport).dialConn",
            "internal/poll.(*FD).Write",
            "vendor/golang.org/x/net/dns/dnsmessage.(*Parser).Start",
            "type..eq.net.Addr",
        ] {
            assert!(is_std_function(f, None), "{f}");
        }
        for f in [
            "main.main",
            "main.dialOnce.func1",
            "github.com/x/y.(*C).Do",
            "example.com/m/v2.F",
            "",
            "nodot",
        ] {
            assert!(!is_std_function(f, None), "{f}");
        }
        let goroot = Path::new("/usr/lib/go-1.19/src/net/dial.go");
        assert!(is_std_function("net.Dial", Some(goroot)));
        // A dot-less module of one's own, outside the toolchain's tree.
        let own = Path::new("/home/me/myapp/util/x.go");
        assert!(!is_std_function("myapp/util.F", Some(own)));
    }

    #[test]
    fn varints() {
        assert_eq!(uvarint(&[0x05]), Some((5, 1)));
        assert_eq!(uvarint(&[0x80, 0x01]), Some((128, 2)));
        assert_eq!(uvarint(&[0x80]), None);
        assert_eq!(uvarint(&[0xff; 12]), None);
    }

    /// A hand-made table: two functions, one file, a line table.
    fn tiny() -> Vec<u8> {
        let mut d = vec![0u8; 8 + 8 * 8];
        d[0..4].copy_from_slice(&MAGIC_118.to_le_bytes());
        d[6] = 1;
        d[7] = 8;
        let names = d.len();
        d.extend_from_slice(b"main.f\0main.g\0");
        let cutab = d.len();
        d.extend_from_slice(&0u32.to_le_bytes());
        let filetab = d.len();
        d.extend_from_slice(b"/src/m/main.go\0");
        let pctab = d.len();
        d.push(0); // offset 0 means "no table"
                   // pcfile: value 0 (delta +1 from -1) for 0x40 bytes.
        let pcfile = d.len() - pctab;
        d.extend_from_slice(&[2, 0x40, 0]);
        // pcln: line 10 for 0x10 bytes, then line 12 for 0x30.
        let pcln = d.len() - pctab;
        d.extend_from_slice(&[22, 0x10, 4, 0x30, 0]);
        while d.len() % 8 != 0 {
            d.push(0);
        }
        let functab = d.len();
        let f0 = 3 * 8;
        for (entry, foff) in [(0u32, f0 as u32), (0x40, f0 as u32 + 40), (0x80, 0)] {
            d.extend_from_slice(&entry.to_le_bytes());
            d.extend_from_slice(&foff.to_le_bytes());
        }
        for (entry, name) in [(0u32, 0u32), (0x40, 7)] {
            let mut rec = [0u8; 40];
            rec[0..4].copy_from_slice(&entry.to_le_bytes());
            rec[4..8].copy_from_slice(&name.to_le_bytes());
            rec[20..24].copy_from_slice(&(pcfile as u32).to_le_bytes());
            rec[24..28].copy_from_slice(&(pcln as u32).to_le_bytes());
            d.extend_from_slice(&rec);
        }
        for (i, v) in [
            2u64,
            1,
            0x40_1000,
            names as u64,
            cutab as u64,
            filetab as u64,
            pctab as u64,
            functab as u64,
        ]
        .into_iter()
        .enumerate()
        {
            d[8 + i * 8..16 + i * 8].copy_from_slice(&v.to_le_bytes());
        }
        d
    }

    #[test]
    fn reads_function_file_and_line() {
        let t = Pclntab::parse(tiny(), 0).expect("valid table");
        let at = |pc| t.lookup(pc);
        let l = at(0x40_1005).unwrap();
        assert_eq!(l.function, "main.f");
        assert_eq!(l.entry, 0x40_1000);
        assert_eq!(l.file.as_deref(), Some("/src/m/main.go"));
        assert_eq!(l.line, Some(10));
        assert_eq!(at(0x40_1020).unwrap().line, Some(12));
        assert_eq!(at(0x40_1041).unwrap().function, "main.g");
        assert_eq!(at(0x40_0fff), None);
        assert_eq!(at(0x40_1080), None);
    }

    /// Every truncation and every single-byte corruption of a valid table
    /// parses or fails without panicking.
    #[test]
    fn hostile_tables_never_panic() {
        let good = tiny();
        for cut in 0..good.len() {
            if let Some(t) = Pclntab::parse(good[..cut].to_vec(), 0) {
                for pc in (0x40_0ff0..0x40_1090).step_by(3) {
                    let _ = t.lookup(pc);
                }
            }
        }
        for i in 0..good.len() {
            for v in [0u8, 0x7f, 0x80, 0xff] {
                let mut bad = good.clone();
                bad[i] = v;
                if let Some(t) = Pclntab::parse(bad, 0x40_1000) {
                    for pc in (0x40_0ff0..0x40_1090).step_by(3) {
                        let _ = t.lookup(pc);
                    }
                }
            }
        }
        assert!(Pclntab::parse(vec![0xf0, 0xff, 0xff, 0xff, 0, 0, 1, 8], 0).is_none());
    }
}
