//! Who called: return addresses of the program's call into a hook, and the
//! map of loaded ELF objects the collector needs to symbolise them.
//!
//! The walk follows frame pointers. The library is built with them, so the
//! frames between `emit` and the exported hook are always well formed and
//! are read directly; the first return address outside this library is the
//! program's call site, exact whatever the program was compiled with. Frames
//! beyond it are only meaningful when the program keeps frame pointers, and
//! may be garbage otherwise, so they are read through the fault-safe copy:
//! a bogus chain ends the walk instead of crashing the program. The walk is
//! bounded and uses no lock, no allocation and no thread-local storage, so
//! it is safe in signal handlers and vfork children.
//!
//! Module records are emitted at start (every object `dl_iterate_phdr`
//! lists) and again whenever a caller address falls outside every known
//! object (something was `dlopen`ed since). `dlopen` itself is not hooked:
//! glibc uses its caller's address to resolve `$ORIGIN` and RUNPATH, which
//! a hook in between would change.

use crate::sys;
use core::ffi::{c_int, c_void};
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Most frames a record carries.
pub const MAX_FRAMES: usize = 16;
/// Frame-pointer hops before giving up (our own frames included).
const MAX_HOPS: usize = 64;
const MAX_MODULES: usize = 512;

/// Address range of this library's own code.
static OWN_LO: AtomicU64 = AtomicU64::new(0);
static OWN_HI: AtomicU64 = AtomicU64::new(0);

/// Objects already reported: [lo, hi) of their loaded segments. A slot is
/// claimed by bumping `MODULE_COUNT` under the loader's lock (module scans
/// only run inside `dl_iterate_phdr`, which serialises them).
static MODULE_LO: [AtomicU64; MAX_MODULES] = [const { AtomicU64::new(0) }; MAX_MODULES];
static MODULE_HI: [AtomicU64; MAX_MODULES] = [const { AtomicU64::new(0) }; MAX_MODULES];
static MODULE_COUNT: AtomicUsize = AtomicUsize::new(0);

/// Records this library's own code range, from one of its functions.
pub fn init_own_range() {
    // SAFETY: Dl_info is plain data; all zeroes is a valid value.
    let mut info: libc::Dl_info = unsafe { core::mem::zeroed() };
    // SAFETY: dladdr on a function of ours; info is a valid out-pointer.
    if unsafe { libc::dladdr(init_own_range as *const c_void, &mut info) } == 0 {
        return;
    }
    let base = info.dli_fbase as u64;
    // (lo, hi, an address inside the object)
    let mut range = (0u64, 0u64, base);
    // SAFETY: the callback only reads the phdr array it is given.
    unsafe {
        libc::dl_iterate_phdr(
            Some(own_range_cb),
            &mut range as *mut (u64, u64, u64) as *mut c_void,
        )
    };
    if range.1 > range.0 {
        OWN_LO.store(range.0, Ordering::Relaxed);
        OWN_HI.store(range.1, Ordering::Relaxed);
    }
}

unsafe extern "C" fn own_range_cb(
    info: *mut libc::dl_phdr_info,
    _size: usize,
    data: *mut c_void,
) -> c_int {
    // SAFETY: the loader passes valid pointers for the duration of the call.
    let (info, range) = unsafe { (&*info, &mut *(data as *mut (u64, u64, u64))) };
    let (lo, hi) = loaded_range(info);
    if lo <= range.2 && range.2 < hi {
        range.0 = lo;
        range.1 = hi;
        return 1;
    }
    0
}

/// [lowest, highest) address of an object's PT_LOAD segments.
fn loaded_range(info: &libc::dl_phdr_info) -> (u64, u64) {
    let mut lo = u64::MAX;
    let mut hi = 0;
    for ph in phdrs(info) {
        if ph.p_type == libc::PT_LOAD {
            lo = lo.min(info.dlpi_addr + ph.p_vaddr);
            hi = hi.max(info.dlpi_addr + ph.p_vaddr + ph.p_memsz);
        }
    }
    (lo, hi)
}

fn phdrs(info: &libc::dl_phdr_info) -> &[libc::Elf64_Phdr] {
    if info.dlpi_phdr.is_null() {
        return &[];
    }
    // SAFETY: the loader guarantees dlpi_phnum entries.
    unsafe { core::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum as usize) }
}

#[inline(always)]
fn in_own_code(addr: u64) -> bool {
    addr >= OWN_LO.load(Ordering::Relaxed) && addr < OWN_HI.load(Ordering::Relaxed)
}

/// This function's frame pointer. Both supported architectures keep the
/// same frame record at it: the caller's frame pointer, then the return
/// address.
#[inline(always)]
fn frame_pointer() -> u64 {
    let fp: u64;
    // SAFETY: reads the frame-pointer register; no memory is touched.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        core::arch::asm!("mov {}, rbp", out(reg) fp, options(nomem, nostack, preserves_flags))
    };
    // SAFETY: as above (x29 is AArch64's frame pointer).
    #[cfg(target_arch = "aarch64")]
    unsafe {
        core::arch::asm!("mov {}, x29", out(reg) fp, options(nomem, nostack, preserves_flags))
    };
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    compile_error!("caller capture knows the frame layout of x86_64 and aarch64 only");
    fp
}

/// Fills `out` with up to `depth` return addresses of the program, innermost
/// first, and returns how many. Must be called from this library's own code
/// (the walk starts at its own frame).
#[inline(never)]
pub fn capture(out: &mut [u64; MAX_FRAMES], depth: usize) -> usize {
    let depth = depth.min(MAX_FRAMES);
    let mut fp = frame_pointer();
    let mut n = 0;
    let mut trusted = true;
    for _ in 0..MAX_HOPS {
        if n >= depth || fp == 0 || fp % 8 != 0 {
            break;
        }
        let (next, ret) = if trusted {
            // SAFETY: while return addresses lead back into this library,
            // `fp` is one of our own frames (built with frame pointers).
            unsafe { (*(fp as *const u64), *((fp + 8) as *const u64)) }
        } else {
            let mut pair = [0u8; 16];
            if sys::safe_copy(&mut pair, fp as *const u8) != 16 {
                break;
            }
            (
                u64::from_ne_bytes(pair[..8].try_into().unwrap_or([0; 8])),
                u64::from_ne_bytes(pair[8..].try_into().unwrap_or([0; 8])),
            )
        };
        if ret == 0 {
            break;
        }
        if trusted && in_own_code(ret) {
            fp = next;
            continue;
        }
        trusted = false;
        out[n] = ret;
        n += 1;
        // The stack grows down: a caller's frame is above its callee's.
        if next <= fp {
            break;
        }
        fp = next;
    }
    n
}

/// The last caller address no known object contained, so that code outside
/// every object (JIT, the vDSO) does not trigger a scan on every call.
static LAST_UNKNOWN: AtomicU64 = AtomicU64::new(0);
static SCANS_LEFT: AtomicUsize = AtomicUsize::new(1024);

/// Whether objects may have been loaded since the last scan: `addr` is in
/// none of the known ones (and was not the last unknown address seen, and
/// the scan budget is not spent). Then the caller runs [`new_modules`],
/// only where taking the loader's lock is safe.
pub fn needs_rescan(addr: u64) -> bool {
    if known(addr) || LAST_UNKNOWN.swap(addr, Ordering::Relaxed) == addr {
        return false;
    }
    if SCANS_LEFT.load(Ordering::Relaxed) == 0 {
        return false;
    }
    SCANS_LEFT.fetch_sub(1, Ordering::Relaxed);
    true
}

/// Whether `addr` lies in an object already reported.
pub fn known(addr: u64) -> bool {
    let count = MODULE_COUNT.load(Ordering::Acquire).min(MAX_MODULES);
    (0..count).any(|i| {
        addr >= MODULE_LO[i].load(Ordering::Relaxed) && addr < MODULE_HI[i].load(Ordering::Relaxed)
    })
}

/// A loaded object not reported before, as `dl_iterate_phdr` lists it.
pub struct Module<'a> {
    info: &'a libc::dl_phdr_info,
    name: &'a [u8],
}

impl Module<'_> {
    /// The load address (the difference between the addresses in memory
    /// and in the file).
    pub fn base(&self) -> u64 {
        self.info.dlpi_addr
    }

    /// The PT_LOAD segments as (vaddr, memsz, offset, flags) quadruples
    /// into `out`; returns how many numbers were written.
    pub fn segments(&self, out: &mut [i64]) -> usize {
        let mut n = 0;
        for ph in phdrs(self.info) {
            if ph.p_type == libc::PT_LOAD && n + 4 <= out.len() {
                out[n..n + 4].copy_from_slice(&[
                    ph.p_vaddr as i64,
                    ph.p_memsz as i64,
                    ph.p_offset as i64,
                    ph.p_flags as i64,
                ]);
                n += 4;
            }
        }
        n
    }

    pub fn build_id(&self) -> Option<&[u8]> {
        build_id(self.info)
    }

    /// The object's path; empty for the main program (read from /proc).
    pub fn name(&self) -> &[u8] {
        self.name
    }
}

/// What a module scan hands each new object to.
type Sink<'s> = &'s mut dyn FnMut(&Module<'_>);

/// Hands every loaded object not reported yet to `sink` (which writes its
/// record: this module finds objects, [`crate::emit`] writes them). Takes
/// the loader's lock (through `dl_iterate_phdr`): never call it in a vfork
/// child or from a hook nested in a signal handler.
pub fn new_modules(mut sink: Sink<'_>) {
    // SAFETY: the callback only reads what the loader passes and the sink
    // behind `data`, which lives until dl_iterate_phdr returns.
    unsafe { libc::dl_iterate_phdr(Some(report_cb), &mut sink as *mut Sink<'_> as *mut c_void) };
}

unsafe extern "C" fn report_cb(
    info: *mut libc::dl_phdr_info,
    _size: usize,
    data: *mut c_void,
) -> c_int {
    // SAFETY: valid for the duration of the call; `data` is the sink that
    // new_modules passed.
    let (info, sink) = unsafe { (&*info, &mut *(data as *mut Sink<'_>)) };
    let (lo, hi) = loaded_range(info);
    if lo >= hi || known(lo) {
        return 0;
    }
    let name: &[u8] = if info.dlpi_name.is_null() {
        b""
    } else {
        // SAFETY: a NUL-terminated string owned by the loader.
        unsafe { core::ffi::CStr::from_ptr(info.dlpi_name) }.to_bytes()
    };
    // The vDSO and other objects without a file cannot be symbolised from
    // disk; the main program has an empty name and is read from /proc.
    if !name.is_empty() && name[0] != b'/' && !name.starts_with(b"./") {
        if name.starts_with(b"linux-vdso") || name.starts_with(b"linux-gate") {
            return 0;
        }
    }
    let slot = MODULE_COUNT.load(Ordering::Relaxed);
    if slot < MAX_MODULES {
        MODULE_LO[slot].store(lo, Ordering::Relaxed);
        MODULE_HI[slot].store(hi, Ordering::Relaxed);
        MODULE_COUNT.store(slot + 1, Ordering::Release);
    }
    sink(&Module { info, name });
    0
}

/// The GNU build-id note of a loaded object, read from its PT_NOTE
/// segments (mapped, since notes live in the first loaded segment).
fn build_id(info: &libc::dl_phdr_info) -> Option<&[u8]> {
    for ph in phdrs(info) {
        if ph.p_type != libc::PT_NOTE {
            continue;
        }
        // Notes are read in place only where a loaded segment maps them
        // from the file (they normally sit in the first one); a note outside
        // every PT_LOAD is not in memory at all.
        let (lo, hi) = (ph.p_vaddr, ph.p_vaddr.saturating_add(ph.p_memsz));
        let mapped = phdrs(info).iter().any(|l| {
            l.p_type == libc::PT_LOAD
                && l.p_vaddr <= lo
                && hi <= l.p_vaddr.saturating_add(l.p_filesz)
                && l.p_flags & libc::PF_R != 0
        });
        if !mapped {
            continue;
        }
        let start = (info.dlpi_addr + ph.p_vaddr) as *const u8;
        let len = ph.p_memsz as usize;
        // SAFETY: inside a readable PT_LOAD segment's file-backed part,
        // which the loader mapped (checked above).
        let notes = unsafe { core::slice::from_raw_parts(start, len) };
        if let Some(id) = sock_trace_event::record::gnu_build_id(notes) {
            return Some(id);
        }
    }
    None
}
