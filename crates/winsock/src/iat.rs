//! Tracing a program that was not relinked: after an injection
//! ([`crate::inject`]) the DLL redirects the program's imports of ws2_32
//! to its hooks by rewriting import address tables (IATs).
//!
//! - Which names: the traced ones of `exports.txt` (`HOOKED`, generated
//!   by build.rs), the same list the drop-in exports. Each hook's address
//!   is this DLL's own export of that name (`GetProcAddress(self,
//!   "connect")` is `st_connect`), so a new hook in `exports.txt` joins
//!   without a change here.
//! - Which slots: an IAT slot is rewritten when it holds the real
//!   function's address (the loader put it there), whatever the slot's
//!   import name or ordinal; slots are written atomically, with
//!   `VirtualProtect` around the write.
//! - Which modules: every loaded one except this DLL, the real ws2_32
//!   (its internal calls are not the program's), ntdll, kernel32 and
//!   kernelbase. Modules in the Windows directory (system DLLs, Wine's
//!   builtins) get only the `CreateProcess` hooks (so `system()` in
//!   msvcrt is followed), never the ws2_32 ones: what a system DLL does
//!   with Winsock on its own is not the program's call, as in the
//!   drop-in.
//! - Later loads: `LoadLibrary{A,W,ExA,ExW}` are hooked the same way; each
//!   successful load patches again (new modules; ws2_32 appearing).
//!   `GetProcAddress` returns the hook for a traced ws2_32 function.
//!   ([`crate::follow`] has those hooks and `CreateProcess`.)
//!
//! The DLL's own calls never go through a patched slot: its module is
//! skipped and it calls the real ws2_32 through [`crate::forward`].
//!
//! The area is attached (the start record written) only once the process
//! has ws2_32 loaded, or uses this DLL as its drop-in: a program that
//! never touches Winsock leaves no trace, and `sock-trace.exe run` says
//! so.

use crate::area;
use crate::forward::{real, HOOKED, NAMES};
use crate::inject::{wide, Params, FOLLOW};
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use windows_sys::Win32::Foundation::HMODULE;
use windows_sys::Win32::System::LibraryLoader::{
    GetModuleFileNameW, GetModuleHandleW, GetProcAddress,
};
use windows_sys::Win32::System::Memory::{VirtualProtect, PAGE_READWRITE};
use windows_sys::Win32::System::SystemInformation::GetWindowsDirectoryW;
use windows_sys::Win32::System::Threading::{GetCurrentProcess, Sleep};

/// This DLL's module handle (set in `DllMain`).
static SELF: AtomicUsize = AtomicUsize::new(0);
/// What the injection passed: set once by [`st_inject`].
static MAPPING: AtomicU64 = AtomicU64::new(0);
static COLLECTOR: AtomicU32 = AtomicU32::new(0);
static PARENT: AtomicU32 = AtomicU32::new(0);
static MAIN_TID: AtomicU32 = AtomicU32::new(0);
static FLAGS: AtomicU32 = AtomicU32::new(0);
static INJECTED: AtomicBool = AtomicBool::new(false);
/// Taken while a patch pass or the attach runs.
static BUSY: AtomicBool = AtomicBool::new(false);

/// The real and hook addresses of the traced ws2_32 functions, by the
/// order of `HOOKED` (0: not resolved yet: ws2_32 is not loaded).
static WS_REAL: [AtomicUsize; 64] = [const { AtomicUsize::new(0) }; 64];
static WS_HOOK: [AtomicUsize; 64] = [const { AtomicUsize::new(0) }; 64];
static WS_READY: AtomicBool = AtomicBool::new(false);

/// The kernel32 functions hooked for later loads and children: name,
/// hook, and whether system DLLs get it too.
pub(crate) struct LoaderHook {
    pub name: &'static [u8],
    pub hook: usize,
    pub in_system: bool,
}

/// Real addresses of [`crate::follow::hooks`] (kernel32's and, when it
/// differs, kernelbase's), resolved at injection.
static LD_REAL: [[AtomicUsize; 2]; 8] = [const { [const { AtomicUsize::new(0) }; 2] }; 8];

pub fn set_self(module: usize) {
    SELF.store(module, Ordering::Relaxed);
}

fn self_module() -> usize {
    SELF.load(Ordering::Relaxed)
}

/// The module handle of an ASCII name (NUL-terminated UTF-16), if loaded.
fn module(name: &[u16]) -> usize {
    // SAFETY: a NUL-terminated name.
    unsafe { GetModuleHandleW(name.as_ptr()) as usize }
}

fn ws2_32() -> usize {
    module(wide!("ws2_32.dll"))
}

/// Whether this process was injected (and follows its children).
pub fn following() -> Option<Params> {
    if !INJECTED.load(Ordering::Acquire) || FLAGS.load(Ordering::Relaxed) & FOLLOW == 0 {
        return None;
    }
    Some(Params {
        flags: FLAGS.load(Ordering::Relaxed),
        mapping: MAPPING.load(Ordering::Relaxed),
        collector: COLLECTOR.load(Ordering::Relaxed),
        ..Params::default()
    })
}

/// This DLL's full path, NUL-terminated, into `out`; its length with NUL.
pub fn self_path(out: &mut [u16]) -> usize {
    // SAFETY: a buffer of the size given.
    let n =
        unsafe { GetModuleFileNameW(self_module() as HMODULE, out.as_mut_ptr(), out.len() as u32) }
            as usize;
    if n == 0 || n >= out.len() {
        return 0;
    }
    out[n] = 0;
    n + 1
}

/// The injection's entry point (a thread routine run by the injector).
/// Returns 0 when the DLL is in place.
///
/// # Safety
/// `p` points to a [`Params`] written by [`crate::inject::inject`].
#[no_mangle]
pub unsafe extern "system" fn st_inject(p: *mut core::ffi::c_void) -> u32 {
    let Some(params) = crate::sys::safe_read_val(p as *const Params) else {
        return 1;
    };
    if params.magic != crate::inject::MAGIC {
        return 2;
    }
    // Another copy of sock_trace.dll that the program links (a drop-in
    // from another folder) is the one whose hooks run: it takes over.
    if let Some(other) = other_copy() {
        // SAFETY: the other copy's st_inject, same prototype.
        return unsafe { other(p) };
    }
    MAPPING.store(params.mapping, Ordering::Relaxed);
    COLLECTOR.store(params.collector, Ordering::Relaxed);
    PARENT.store(params.parent, Ordering::Relaxed);
    MAIN_TID.store(params.main_tid, Ordering::Relaxed);
    FLAGS.store(params.flags, Ordering::Relaxed);
    resolve_loader();
    INJECTED.store(true, Ordering::Release);
    refresh(true);
    0
}

/// `sock-trace.exe attach`'s detach (a thread routine run by it): stops
/// recording, follows no more children, and puts the real functions back
/// in every slot this DLL rewrote. The DLL stays loaded: the program may
/// hold hook addresses `GetProcAddress` gave it, which now only forward.
///
/// # Safety
/// Called as a thread routine; the argument is null (non-null: forwarded
/// by another copy).
#[no_mangle]
pub unsafe extern "system" fn st_detach(forwarded: *mut core::ffi::c_void) -> u32 {
    if !INJECTED.swap(false, Ordering::AcqRel) {
        // The copy that was started is another (a drop-in): ask it, once.
        return match other_copy_export(c"st_detach") {
            // SAFETY: the other copy's st_detach, same prototype.
            Some(other) if forwarded.is_null() => unsafe { other(1 as *mut _) },
            _ => 1,
        };
    }
    area::detach();
    lock();
    let skip = [self_module(), ws2_32()];
    each_module(|m| {
        if !skip.contains(&m) && !is_named(m, b"sock_trace.dll") {
            restore_module(m);
        }
    });
    BUSY.store(false, Ordering::Release);
    0
}

/// Whether the DLL still traces (not detached).
pub fn active() -> bool {
    INJECTED.load(Ordering::Acquire)
}

fn lock() {
    while BUSY
        .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        // SAFETY: no arguments.
        unsafe { Sleep(0) };
    }
}

/// Puts the real function back in each slot of `base` holding a hook.
fn restore_module(base: usize) {
    let hooks = crate::follow::hooks();
    each_slot(base, |slot, v| {
        let real = hooks
            .iter()
            .position(|h| h.hook == v)
            .map(|i| LD_REAL[i][0].load(Ordering::Relaxed))
            .or_else(|| {
                (0..HOOKED.len().min(WS_HOOK.len()))
                    .find(|&k| WS_HOOK[k].load(Ordering::Relaxed) == v)
                    .map(|k| WS_REAL[k].load(Ordering::Relaxed))
            });
        if let Some(r) = real.filter(|&r| r != 0) {
            write_slot(slot, r);
        }
    });
}

type InjectFn = unsafe extern "system" fn(*mut core::ffi::c_void) -> u32;

/// `st_inject` of another loaded module named sock_trace.dll.
fn other_copy() -> Option<InjectFn> {
    other_copy_export(c"st_inject")
}

/// Export `name` of another loaded module named sock_trace.dll.
fn other_copy_export(name: &core::ffi::CStr) -> Option<InjectFn> {
    let mine = self_module();
    let mut out = None;
    each_module(|m| {
        if m != mine && is_named(m, b"sock_trace.dll") {
            // SAFETY: a loaded module and a NUL-terminated name.
            if let Some(f) = unsafe { GetProcAddress(m as HMODULE, name.as_ptr().cast()) } {
                // SAFETY: the other copy exports it with this prototype.
                out = Some(unsafe { core::mem::transmute::<_, InjectFn>(f) });
            }
        }
    });
    out
}

fn resolve_loader() {
    let dlls = [
        module(wide!("kernel32.dll")),
        module(wide!("kernelbase.dll")),
    ];
    for (i, h) in crate::follow::hooks().iter().enumerate() {
        for (j, &d) in dlls.iter().enumerate() {
            if d != 0 {
                // SAFETY: a loaded module and a NUL-terminated name.
                let p = unsafe { GetProcAddress(d as HMODULE, h.name.as_ptr()) };
                LD_REAL[i][j].store(p.map_or(0, |f| f as usize), Ordering::Relaxed);
            }
        }
    }
}

/// After the injection and after each load: attaches the area once ws2_32
/// (or this DLL as a drop-in) is in use, resolves the hook table, and
/// patches every module. `first`: the injection's own pass.
pub fn refresh(first: bool) {
    if !INJECTED.load(Ordering::Acquire) {
        return;
    }
    lock();
    let ws = ws2_32();
    if ws != 0 && !WS_READY.load(Ordering::Acquire) {
        let me = self_module();
        for (k, &i) in HOOKED.iter().take(WS_REAL.len()).enumerate() {
            // SAFETY: our own module and a NUL-terminated name.
            let hook = unsafe { GetProcAddress(me as HMODULE, NAMES[i].as_ptr()) };
            WS_HOOK[k].store(hook.map_or(0, |f| f as usize), Ordering::Relaxed);
            WS_REAL[k].store(real(i), Ordering::Relaxed);
        }
        WS_READY.store(true, Ordering::Release);
    }
    if !area::attached() && (ws != 0 || (first && imported_by_others())) {
        area::attach_mapping(
            MAPPING.load(Ordering::Relaxed) as usize,
            COLLECTOR.load(Ordering::Relaxed),
            PARENT.load(Ordering::Relaxed),
            // The injection's pass runs on a thread of its own.
            if first {
                MAIN_TID.load(Ordering::Relaxed)
            } else {
                0
            },
        );
    }
    let skip = [
        self_module(),
        ws,
        module(wide!("ntdll.dll")),
        module(wide!("kernel32.dll")),
        module(wide!("kernelbase.dll")),
    ];
    each_module(|m| {
        if !skip.contains(&m) && !is_named(m, b"sock_trace.dll") {
            patch_module(m, in_windows_dir(m));
        }
    });
    BUSY.store(false, Ordering::Release);
}

/// The hook for a traced ws2_32 function at `addr`, if it is one.
pub fn ws_hook(addr: usize) -> Option<usize> {
    if addr == 0 || !WS_READY.load(Ordering::Acquire) {
        return None;
    }
    let n = HOOKED.len().min(WS_REAL.len());
    (0..n)
        .find(|&k| WS_REAL[k].load(Ordering::Relaxed) == addr)
        .map(|k| WS_HOOK[k].load(Ordering::Relaxed))
        .filter(|&h| h != 0)
}

/// What a slot holding `addr` should hold instead, in a system DLL or not.
fn replacement(addr: usize, system: bool) -> Option<usize> {
    for (i, h) in crate::follow::hooks().iter().enumerate() {
        if (system && !h.in_system) || addr == 0 {
            continue;
        }
        if LD_REAL[i].iter().any(|r| r.load(Ordering::Relaxed) == addr) {
            return Some(h.hook);
        }
    }
    if system {
        return None;
    }
    ws_hook(addr)
}

/// Calls `f` with each loaded module's base.
fn each_module(mut f: impl FnMut(usize)) {
    // SAFETY: this process.
    if let Some((mods, n)) = unsafe { crate::inject::modules(GetCurrentProcess()) } {
        for &m in &mods[..n] {
            f(m as usize);
        }
    }
}

/// Reads a `T` at `base + off` of a loaded module (its headers and
/// import tables are mapped and readable).
///
/// # Safety
/// `base + off` must lie in a mapped image.
unsafe fn at<T: Copy>(base: usize, off: usize) -> T {
    // SAFETY: as documented.
    unsafe { core::ptr::read_unaligned((base + off) as *const T) }
}

/// The import directory (RVA, size) of the PE32+ image at `base`.
fn import_dir(base: usize) -> Option<(usize, usize)> {
    // SAFETY: a loaded module's headers (checked step by step).
    unsafe {
        if at::<u16>(base, 0) != 0x5a4d {
            return None;
        }
        let nt = at::<u32>(base, 0x3c) as usize;
        if nt > 4096 || at::<u32>(base, nt) != 0x4550 || at::<u16>(base, nt + 24) != 0x20b {
            return None;
        }
        // Data directory 1 (imports) at offset 112 + 8 of the optional header.
        let rva = at::<u32>(base, nt + 24 + 120) as usize;
        let size = at::<u32>(base, nt + 24 + 124) as usize;
        (rva != 0 && size != 0).then_some((rva, size))
    }
}

/// Calls `f(name RVA, IAT RVA)` for each import descriptor of `base`.
fn each_import(base: usize, mut f: impl FnMut(usize, usize)) {
    let Some((dir, size)) = import_dir(base) else {
        return;
    };
    for k in 0..(size / 20).min(4096) {
        let d = dir + 20 * k;
        // SAFETY: inside the import directory of a loaded module.
        let (name, iat) = unsafe { (at::<u32>(base, d + 12), at::<u32>(base, d + 16)) };
        if name == 0 && iat == 0 {
            break;
        }
        f(name as usize, iat as usize);
    }
}

/// Rewrites the slots of `base` that hold a hooked function's address.
fn patch_module(base: usize, system: bool) {
    each_slot(base, |slot, v| {
        if let Some(hook) = replacement(v, system) {
            write_slot(slot, hook);
        }
    });
}

/// Calls `f(slot, value)` for each filled IAT slot of `base`.
fn each_slot(base: usize, mut f: impl FnMut(*mut usize, usize)) {
    each_import(base, |_, iat| {
        if iat == 0 {
            return;
        }
        for j in 0..65536 {
            let slot = (base + iat + 8 * j) as *mut usize;
            // SAFETY: an IAT slot of a loaded module (the table ends with 0).
            let v = unsafe { core::ptr::read_volatile(slot) };
            if v == 0 {
                break;
            }
            f(slot, v);
        }
    });
}

/// Stores `value` in an IAT slot, making its page writable meanwhile.
fn write_slot(slot: *mut usize, value: usize) {
    let mut old = 0u32;
    // SAFETY: the slot lies in a loaded module; its protection is put back.
    unsafe {
        if VirtualProtect(slot.cast(), 8, PAGE_READWRITE, &mut old) == 0 {
            return;
        }
        (*(slot as *const AtomicUsize)).store(value, Ordering::Release);
        VirtualProtect(slot.cast(), 8, old, &mut old);
    }
}

/// Whether some module other than this DLL imports a module named
/// sock_trace.dll (this DLL is then the program's drop-in).
fn imported_by_others() -> bool {
    let me = self_module();
    let mut yes = false;
    each_module(|m| {
        if m != me {
            each_import(m, |name, _| {
                yes |= cstr_eq_ignore_case(m + name, b"sock_trace.dll");
            });
        }
    });
    yes
}

/// Whether the NUL-terminated string at `p` is `want`, ASCII case ignored.
fn cstr_eq_ignore_case(p: usize, want: &[u8]) -> bool {
    for (i, &w) in want.iter().enumerate() {
        // SAFETY: a name in a loaded module's import directory; the
        // comparison stops at its NUL.
        let c = unsafe { at::<u8>(p, i) };
        if !c.eq_ignore_ascii_case(&w) {
            return false;
        }
    }
    // SAFETY: as above (the byte after a full match).
    unsafe { at::<u8>(p, want.len()) == 0 }
}

/// The module's file name (UTF-16, no NUL) into `buf`.
fn file_name(m: usize, buf: &mut [u16; 520]) -> &[u16] {
    // SAFETY: a buffer of the size given.
    let n = unsafe { GetModuleFileNameW(m as HMODULE, buf.as_mut_ptr(), 520) } as usize;
    &buf[..n.min(520)]
}

/// Whether module `m`'s file is `name` (ASCII, case ignored), in any folder.
fn is_named(m: usize, name: &[u8]) -> bool {
    let mut buf = [0u16; 520];
    let path = file_name(m, &mut buf);
    let base = path
        .rsplit(|&c| c == b'\\' as u16 || c == b'/' as u16)
        .next()
        .unwrap_or(path);
    base.len() == name.len()
        && base
            .iter()
            .zip(name)
            .all(|(&c, &n)| c < 128 && (c as u8).eq_ignore_ascii_case(&n))
}

/// Whether module `m` lies in the Windows directory (a system DLL).
fn in_windows_dir(m: usize) -> bool {
    let mut dir = [0u16; 300];
    // SAFETY: a buffer of the size given.
    let n = unsafe { GetWindowsDirectoryW(dir.as_mut_ptr(), 260) } as usize;
    if n == 0 || n >= 260 {
        return false;
    }
    let mut buf = [0u16; 520];
    let path = file_name(m, &mut buf);
    let lower = |c: u16| {
        if (b'A' as u16..=b'Z' as u16).contains(&c) {
            c + 32
        } else {
            c
        }
    };
    path.len() > n
        && path[n] == b'\\' as u16
        && path[..n]
            .iter()
            .zip(&dir[..n])
            .all(|(&a, &b)| lower(a) == lower(b))
}
