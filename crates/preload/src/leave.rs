//! Saying so when a process is about to exec a program that will not be
//! traced: an environment without our `LD_PRELOAD` (`env -i`), credentials
//! that cannot read the library (`setpriv --reuid`), a set-user-ID or
//! statically linked program. For dropped privileges the library is also
//! taken out of the new program's `LD_PRELOAD`, so that the dynamic loader
//! does not print an error on the program's own stderr.
//!
//! Runs in exec hooks, possibly in a vfork child: stack buffers and raw
//! system calls only.

use crate::{lifecycle, sys};
use core::cell::UnsafeCell;
use core::ffi::{c_char, c_long};
use sock_trace_event::{leave, role, Func, Tag};

const MAX_PATH: usize = 1024;
const MAX_ENV: usize = 1024;
const MAX_VALUE: usize = 4096;

/// The library's own path as the loader knows it (`LD_PRELOAD` names it so),
/// written once during initialisation, before tracing is published.
struct LibPath(UnsafeCell<([u8; MAX_PATH], usize)>);
// SAFETY: written once before STATE becomes ACTIVE, read-only afterwards.
unsafe impl Sync for LibPath {}
static LIB_PATH: LibPath = LibPath(UnsafeCell::new(([0; MAX_PATH], 0)));

/// Records the library's path (from the initialisation, single-threaded).
pub fn init() {
    // SAFETY: Dl_info is plain data; all zeroes is a valid value.
    let mut info: libc::Dl_info = unsafe { core::mem::zeroed() };
    // SAFETY: dladdr on one of our own functions.
    let ok = unsafe { libc::dladdr(init as *const libc::c_void, &mut info) } != 0;
    if !ok || info.dli_fname.is_null() {
        return;
    }
    // SAFETY: dladdr returns a NUL-terminated path.
    let name = unsafe { core::ffi::CStr::from_ptr(info.dli_fname) }.to_bytes();
    if name.is_empty() || name.len() >= MAX_PATH {
        return;
    }
    // SAFETY: initialisation runs before any reader (see LibPath).
    unsafe {
        let cell = &mut *LIB_PATH.0.get();
        cell.0[..name.len()].copy_from_slice(name);
        cell.0[name.len()] = 0;
        cell.1 = name.len();
    }
}

fn lib_path() -> &'static [u8] {
    // SAFETY: read-only after initialisation.
    let cell = unsafe { &*LIB_PATH.0.get() };
    &cell.0[..cell.1]
}

/// Room for a rewritten environment, on the exec hook's stack.
pub struct EnvBuf {
    ptrs: [*const c_char; MAX_ENV + 1],
    value: [u8; MAX_VALUE],
}

impl EnvBuf {
    pub fn new() -> Self {
        EnvBuf {
            ptrs: [core::ptr::null(); MAX_ENV + 1],
            value: [0; MAX_VALUE],
        }
    }
}

/// Checks an exec of `path` with environment `envp` (NULL: `environ`).
/// Returns the environment to pass: `envp` itself, or one in `buf` with
/// the library removed from `LD_PRELOAD`. errno is left as it was.
///
/// # Safety
/// `path` is NULL or NUL-terminated; `envp` is NULL or a NULL-terminated
/// array of NUL-terminated strings.
pub unsafe fn check(
    path: *const c_char,
    envp: *const *const c_char,
    buf: &mut EnvBuf,
) -> *const *const c_char {
    extern "C" {
        static mut environ: *const *const c_char;
    }
    let lib = lib_path();
    if !lifecycle::active() || lib.is_empty() {
        return envp;
    }
    let saved = sys::errno();
    let env = if envp.is_null() {
        // SAFETY: per the contract; environ is libc's array.
        unsafe { environ }
    } else {
        envp
    };
    // SAFETY: per the contract.
    let result = unsafe { decide(path, env, lib, buf) };
    sys::set_errno(saved);
    match result {
        Some(rewritten) => rewritten,
        None => envp,
    }
}

/// The checks, in order; emits the record. Returns a rewritten environment
/// when one is needed and fits.
unsafe fn decide(
    path: *const c_char,
    env: *const *const c_char,
    lib: &[u8],
    buf: &mut EnvBuf,
) -> Option<*const *const c_char> {
    let prog: &[u8] = if path.is_null() {
        b""
    } else {
        // SAFETY: NUL-terminated, per the contract.
        unsafe { core::ffi::CStr::from_ptr(path) }.to_bytes()
    };
    // SAFETY: per the contract.
    let (index, value) = unsafe { preload_entry(env) };
    let preloaded = value.is_some_and(|v| v.split(|&b| b == b':' || b == b' ').any(|p| p == lib));
    if !preloaded {
        emit(leave::NO_PRELOAD, prog);
        return None;
    }
    if !readable_after_exec(lib) {
        emit(leave::UNREADABLE, prog);
        // SAFETY: per the contract.
        return unsafe { without_library(env, index, value?, lib, buf) };
    }
    if prog.contains(&b'/') {
        match program_kind(path) {
            Some(Kind::Setuid) => emit(leave::SETUID, prog),
            Some(kind) => {
                // Out of this library's reach: the system-call backend takes
                // the process over when the launcher serves hand-overs.
                let no_loader = matches!(kind, Kind::Static | Kind::Go { no_loader: true });
                if !crate::handover::hand_over() && no_loader {
                    emit(leave::STATIC, prog);
                }
            }
            None => {}
        }
    }
    None
}

/// What kind of program an exec starts, when it is one this library cannot
/// trace.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Set-user-ID for another user (or set-group-ID): the loader ignores
    /// LD_PRELOAD.
    Setuid,
    /// No dynamic loader.
    Static,
    /// Built by the Go toolchain: it makes its own system calls.
    Go { no_loader: bool },
    /// Loaded by musl's loader, which cannot load a glibc library.
    Musl,
}

/// Whether the loader of the next program will be able to open `lib`.
/// The kernel cannot be asked: a process that set non-root ids may still
/// hold capabilities (until exec drops them) that make access() succeed.
/// So the mode bits are checked along the path for the effective ids, as
/// they will be after exec (ACLs are not consulted). Root keeps its
/// capabilities across exec.
fn readable_after_exec(lib: &[u8]) -> bool {
    // SAFETY: no arguments.
    let (euid, egid) = unsafe { (libc::geteuid(), libc::getegid()) };
    if euid == 0 {
        return true;
    }
    let mut groups = [0 as libc::gid_t; 64];
    // SAFETY: a valid buffer of the given size.
    let ngroups =
        unsafe { crate::sys::raw!(libc::SYS_getgroups, 64 as c_long, groups.as_mut_ptr()) };
    let groups = &groups[..ngroups.clamp(0, 64) as usize];
    let allowed = |st: &libc::stat, want: u32| {
        let bits = if st.st_uid == euid {
            st.st_mode >> 6
        } else if st.st_gid == egid || groups.contains(&st.st_gid) {
            st.st_mode >> 3
        } else {
            st.st_mode
        };
        bits & want == want
    };
    let mut cpath = [0u8; MAX_PATH + 1];
    let mut end = 1;
    while end <= lib.len() {
        let component_end = end == lib.len() || lib[end] == b'/';
        if component_end {
            cpath[..end].copy_from_slice(&lib[..end]);
            cpath[end] = 0;
            // SAFETY: a zeroed stat is valid; NUL-terminated path.
            let st = unsafe {
                let mut st: libc::stat = core::mem::zeroed();
                if crate::sys::raw!(
                    libc::SYS_newfstatat,
                    libc::AT_FDCWD as c_long,
                    cpath.as_ptr(),
                    &mut st as *mut libc::stat,
                    0 as c_long,
                ) != 0
                {
                    return false;
                }
                st
            };
            let last = end == lib.len();
            // Directories need search permission; the library read.
            if !allowed(&st, if last { 4 } else { 1 }) {
                return false;
            }
        }
        end += 1;
    }
    true
}

/// The `LD_PRELOAD` entry's index and value.
unsafe fn preload_entry(env: *const *const c_char) -> (usize, Option<&'static [u8]>) {
    if env.is_null() {
        return (0, None);
    }
    let mut i = 0;
    // SAFETY: a NULL-terminated array, per the contract.
    unsafe {
        while !(*env.add(i)).is_null() && i < MAX_ENV * 64 {
            let e = core::ffi::CStr::from_ptr(*env.add(i)).to_bytes();
            if let Some(v) = e.strip_prefix(b"LD_PRELOAD=") {
                return (i, Some(v));
            }
            i += 1;
        }
    }
    (i, None)
}

/// A copy of `env` whose `LD_PRELOAD` lacks `lib` (or is gone when
/// nothing else was in it). `None` when it does not fit the buffers.
unsafe fn without_library(
    env: *const *const c_char,
    index: usize,
    value: &[u8],
    lib: &[u8],
    buf: &mut EnvBuf,
) -> Option<*const *const c_char> {
    let prefix = b"LD_PRELOAD=";
    let mut n = prefix.len();
    buf.value[..n].copy_from_slice(prefix);
    let mut kept = 0;
    for part in value.split(|&b| b == b':' || b == b' ') {
        if part.is_empty() || part == lib {
            continue;
        }
        let sep = usize::from(kept > 0);
        if n + sep + part.len() + 1 > MAX_VALUE {
            return None;
        }
        if sep == 1 {
            buf.value[n] = b':';
        }
        buf.value[n + sep..n + sep + part.len()].copy_from_slice(part);
        n += sep + part.len();
        kept += 1;
    }
    buf.value[n] = 0;
    let mut out = 0;
    let mut i = 0;
    // SAFETY: a NULL-terminated array, per the contract.
    unsafe {
        while !(*env.add(i)).is_null() {
            if out >= MAX_ENV {
                return None;
            }
            if i == index {
                if kept > 0 {
                    buf.ptrs[out] = buf.value.as_ptr() as *const c_char;
                    out += 1;
                }
            } else {
                buf.ptrs[out] = *env.add(i);
                out += 1;
            }
            i += 1;
        }
    }
    buf.ptrs[out] = core::ptr::null();
    Some(buf.ptrs.as_ptr())
}

/// Whether the program at `path` is one this library cannot trace, and why.
fn program_kind(path: *const c_char) -> Option<Kind> {
    // SAFETY: a zeroed stat is valid; raw syscalls on our own buffers.
    unsafe {
        let mut st: libc::stat = core::mem::zeroed();
        if crate::sys::raw!(
            libc::SYS_newfstatat,
            libc::AT_FDCWD as c_long,
            path,
            &mut st as *mut libc::stat,
            0 as c_long,
        ) != 0
        {
            return None;
        }
        if (st.st_mode & libc::S_ISUID != 0 && st.st_uid != libc::geteuid())
            || (st.st_mode & libc::S_ISGID != 0 && st.st_gid != libc::getegid())
        {
            return Some(Kind::Setuid);
        }
        let fd = sys::open(path, libc::O_RDONLY);
        if fd < 0 {
            return None;
        }
        // The Go linker puts its build-id note in the first page.
        let mut head = [0u8; 4096];
        let n = crate::sys::raw!(
            libc::SYS_pread64,
            fd,
            head.as_mut_ptr(),
            head.len(),
            0 as c_long
        );
        crate::sys::raw!(libc::SYS_close, fd);
        if n < 64 {
            return None;
        }
        elf_kind(&head[..n as usize])
    }
}

/// Reads a 64-bit little-endian ELF executable's program headers (within
/// `head`): Go (its build-id note), static (no PT_INTERP) or musl (its
/// loader). Unknown layouts count as traceable: say nothing rather than
/// something wrong.
fn elf_kind(head: &[u8]) -> Option<Kind> {
    const PT_INTERP: u32 = 3;
    const PT_NOTE: u32 = 4;
    if head.len() < 64 || &head[..4] != b"\x7fELF" || head[4] != 2 || head[5] != 1 {
        return None;
    }
    let u16_at = |o: usize| u16::from_le_bytes([head[o], head[o + 1]]) as usize;
    let word = |o: usize| -> Option<u64> {
        Some(u64::from_le_bytes(
            head.get(o..o.checked_add(8)?)?.try_into().ok()?,
        ))
    };
    let phoff = word(0x20)? as usize;
    let (phentsize, phnum) = (u16_at(0x36), u16_at(0x38));
    if phentsize < 56 || phnum == 0 {
        return None;
    }
    let mut interp: Option<&[u8]> = None;
    let mut go = false;
    for i in 0..phnum {
        let ph = phoff.checked_add(i.checked_mul(phentsize)?)?;
        let t = head.get(ph..ph + 4)?;
        let (off, size) = (word(ph + 8)? as usize, word(ph + 32)? as usize);
        let body = head.get(off..off.checked_add(size)?);
        match u32::from_le_bytes([t[0], t[1], t[2], t[3]]) {
            PT_INTERP => interp = Some(body.unwrap_or(b"?")),
            PT_NOTE => go |= body.is_some_and(has_go_note),
            _ => {}
        }
    }
    if go {
        return Some(Kind::Go {
            no_loader: interp.is_none(),
        });
    }
    match interp {
        None => Some(Kind::Static),
        Some(path) => {
            let name = path.rsplit(|&b| b == b'/').next().unwrap_or(path);
            name.starts_with(b"ld-musl").then_some(Kind::Musl)
        }
    }
}

/// Whether a note segment holds the Go build id (owner `Go`, type 4).
fn has_go_note(mut notes: &[u8]) -> bool {
    while notes.len() >= 12 {
        let word =
            |o: usize| u32::from_le_bytes([notes[o], notes[o + 1], notes[o + 2], notes[o + 3]]);
        let (namesz, descsz, ty) = (word(0) as usize, word(4) as usize, word(8));
        if ty == 4 && namesz == 4 && notes.get(12..16) == Some(&b"Go\0\0"[..]) {
            return true;
        }
        let next = 12usize
            .saturating_add(namesz.div_ceil(4) * 4)
            .saturating_add(descsz.div_ceil(4) * 4);
        match notes.get(next..) {
            Some(rest) => notes = rest,
            None => break,
        }
    }
    false
}

fn emit(reason: u64, program: &[u8]) {
    let prog = &program[..program.len().min(MAX_PATH)];
    let call = crate::emit::Call {
        func: Func::ProcLeave,
        t_start: sys::now(),
        ret: 0,
        errno: 0,
        flags: 0,
        extra: prog.len(),
    };
    crate::emit::emit(call, |w| {
        w.header().args[0] = reason;
        w.blob(Tag::Str, role::EXE, prog);
    });
}
