//! Module records for the tracee's executable mappings, so that the
//! collector can symbolise caller addresses: the same record the preload
//! library writes from `dl_iterate_phdr` (load bias in `args[0]`, PT_LOAD
//! segments, GNU build-id, path), built here from /proc/PID/maps and the
//! ELF program headers of each mapped file.

use crate::sink::Sink;
use sock_trace_event::{role, Func, Tag};
use std::collections::HashSet;

#[derive(Clone, Default)]
pub struct Modules {
    /// Runtime ranges of the reported objects' segments.
    ranges: Vec<(u64, u64)>,
    /// (path, bias) already reported.
    seen: HashSet<(Vec<u8>, u64)>,
    /// The program file (/proc/PID/exe) and the runtime ranges of its
    /// segments once reported: a Go program's system-call stubs live there.
    exe: Vec<u8>,
    exe_ranges: Vec<(u64, u64)>,
}

pub(crate) struct Phdr {
    pub p_type: u32,
    p_flags: u32,
    pub p_offset: u64,
    p_vaddr: u64,
    pub p_filesz: u64,
    p_memsz: u64,
}

const PT_LOAD: u32 = 1;
const PT_NOTE: u32 = 4;

pub(crate) fn phdrs(file: &[u8]) -> Option<Vec<Phdr>> {
    if file.len() < 64 || &file[..4] != b"\x7fELF" || file[4] != 2 || file[5] != 1 {
        return None;
    }
    let u16_at = |o: usize| u16::from_le_bytes([file[o], file[o + 1]]) as usize;
    let u64_at = |f: &[u8], o: usize| u64::from_le_bytes(f[o..o + 8].try_into().unwrap_or([0; 8]));
    let phoff = u64_at(file, 0x20) as usize;
    let (entsize, num) = (u16_at(0x36), u16_at(0x38));
    if entsize < 56 {
        return None;
    }
    let mut v = Vec::new();
    for i in 0..num.min(64) {
        let o = phoff + i * entsize;
        let p = file.get(o..o + 56)?;
        v.push(Phdr {
            p_type: u32::from_le_bytes(p[0..4].try_into().ok()?),
            p_flags: u32::from_le_bytes(p[4..8].try_into().ok()?),
            p_offset: u64_at(p, 8),
            p_vaddr: u64_at(p, 16),
            p_filesz: u64_at(p, 32),
            p_memsz: u64_at(p, 40),
        });
    }
    Some(v)
}

/// The first bytes of a file (ELF and program headers live there).
pub(crate) fn head(path: &[u8], n: u64) -> Option<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::ffi::OsStrExt;
    let f = std::fs::File::open(std::ffi::OsStr::from_bytes(path)).ok()?;
    let mut v = Vec::new();
    f.take(n).read_to_end(&mut v).ok()?;
    Some(v)
}

fn build_id(path: &[u8], ph: &[Phdr]) -> Option<Vec<u8>> {
    for p in ph.iter().filter(|p| p.p_type == PT_NOTE) {
        let end = p.p_offset.checked_add(p.p_filesz)?;
        if end > 1 << 20 {
            continue;
        }
        let file = head(path, end)?;
        let notes = file.get(p.p_offset as usize..end as usize)?;
        if let Some(id) = sock_trace_event::record::gnu_build_id(notes) {
            return Some(id.to_vec());
        }
    }
    None
}

/// Whether the ELF file at `path` was built by the Go toolchain: a PT_NOTE
/// segment holds the Go build-id note (owner `Go`, type 4), which the Go
/// linker writes into every ELF program it links.
pub fn is_go_program(path: &[u8]) -> bool {
    const NT_GO_BUILD_ID: u32 = 4;
    let Some(file) = head(path, 64 * 1024) else {
        return false;
    };
    let Some(ph) = phdrs(&file) else { return false };
    ph.iter().filter(|p| p.p_type == PT_NOTE).any(|p| {
        let (start, len) = (p.p_offset as usize, p.p_filesz as usize);
        let Some(mut notes) = file.get(start..start.saturating_add(len)) else {
            return false;
        };
        // namesz, descsz, type, name (padded to 4), desc (padded to 4).
        while notes.len() >= 12 {
            let word =
                |o: usize| u32::from_le_bytes([notes[o], notes[o + 1], notes[o + 2], notes[o + 3]]);
            let (namesz, descsz, ty) = (word(0) as usize, word(4) as usize, word(8));
            let name_end = 12usize.saturating_add(namesz.div_ceil(4) * 4);
            // The Go linker writes the name as "Go\0\0" (namesz 4).
            if ty == NT_GO_BUILD_ID
                && (3..=4).contains(&namesz)
                && notes.get(12..15) == Some(&b"Go\0"[..])
            {
                return true;
            }
            let next = name_end.saturating_add(descsz.div_ceil(4) * 4);
            match notes.get(next..) {
                Some(rest) if next > 0 => notes = rest,
                _ => break,
            }
        }
        false
    })
}

impl Modules {
    pub fn contains(&self, addr: u64) -> bool {
        self.ranges.iter().any(|&(lo, hi)| lo <= addr && addr < hi)
    }

    /// Remembers the program file, whose ranges [`Modules::in_exe`] answers for.
    pub fn set_exe(&mut self, exe: &[u8]) {
        self.exe = exe.to_vec();
    }

    /// Whether `addr` lies in a segment of the program file.
    pub fn in_exe(&self, addr: u64) -> bool {
        self.exe_ranges
            .iter()
            .any(|&(lo, hi)| lo <= addr && addr < hi)
    }

    /// Reports every ELF object mapped in `pid` not reported yet, with
    /// completion time `t_end` (just before the record that needs it).
    pub fn rescan(&mut self, pid: u32, t_end: u64, sink: &mut Sink) {
        let Ok(maps) = std::fs::read(format!("/proc/{pid}/maps")) else {
            return;
        };
        // The lowest mapping of each file with offset 0 gives its base.
        let mut bases: Vec<(Vec<u8>, u64)> = Vec::new();
        let mut exec_paths: HashSet<Vec<u8>> = HashSet::new();
        for line in maps.split(|&b| b == b'\n') {
            let mut parts = line.splitn(6, |&b| b == b' ');
            let (Some(range), Some(perms), Some(off), _, _, Some(path)) = (
                parts.next(),
                parts.next(),
                parts.next(),
                parts.next(),
                parts.next(),
                parts.next(),
            ) else {
                continue;
            };
            let path = path.trim_ascii_start();
            if path.first() != Some(&b'/') || path.ends_with(b" (deleted)") {
                continue;
            }
            let start = std::str::from_utf8(range)
                .ok()
                .and_then(|r| r.split('-').next())
                .and_then(|s| u64::from_str_radix(s, 16).ok());
            let off = std::str::from_utf8(off)
                .ok()
                .and_then(|s| u64::from_str_radix(s, 16).ok());
            if let (Some(start), Some(0)) = (start, off) {
                if !bases.iter().any(|(p, _)| p == path) {
                    bases.push((path.to_vec(), start));
                }
            }
            if perms.get(2) == Some(&b'x') {
                exec_paths.insert(path.to_vec());
            }
        }
        for (path, base) in bases {
            if !exec_paths.contains(&path) {
                continue;
            }
            let Some(file) = head(&path, 64 * 1024) else {
                continue;
            };
            let Some(ph) = phdrs(&file) else { continue };
            let Some(first) = ph.iter().find(|p| p.p_type == PT_LOAD) else {
                continue;
            };
            let bias = base.wrapping_sub(first.p_vaddr & !0xfff);
            if !self.seen.insert((path.clone(), bias)) {
                continue;
            }
            let mut segs = Vec::new();
            for p in ph.iter().filter(|p| p.p_type == PT_LOAD).take(8) {
                segs.extend_from_slice(&[
                    p.p_vaddr as i64,
                    p.p_memsz as i64,
                    p.p_offset as i64,
                    p.p_flags as i64,
                ]);
                let lo = bias.wrapping_add(p.p_vaddr);
                self.ranges.push((lo, lo.wrapping_add(p.p_memsz)));
                if path == self.exe {
                    self.exe_ranges.push((lo, lo.wrapping_add(p.p_memsz)));
                }
            }
            let id = build_id(&path, &ph);
            sink.emit(Func::Module, |w| {
                let h = w.header();
                h.pid = pid;
                h.tid = pid;
                h.t_start = t_end;
                h.t_end = t_end;
                h.args[0] = bias;
                w.ints(role::MODULE_SEGMENTS, &segs);
                if let Some(id) = &id {
                    w.blob(Tag::Bytes, role::MODULE_BUILD_ID, id);
                }
                w.blob(Tag::Str, role::MODULE_PATH, &path);
            });
        }
    }
}
