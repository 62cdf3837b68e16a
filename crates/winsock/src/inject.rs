//! Loading sock_trace.dll into another process, shared by the launcher
//! (`sock-trace.exe run`, which includes this file with `#[path]`) and by
//! the DLL itself (children it follows, [`crate::follow`]).
//!
//! The target is a process created suspended (or, for `attach`, a running
//! one). Two remote threads run in it, one after the other:
//!
//! 1. `LoadLibraryW(full path of sock_trace.dll)`: the DLL is loaded by
//!    path, never through the search path. Its `DllMain` does nothing
//!    that needs the area.
//! 2. `st_inject(&Params)`: the DLL's own entry point (found in the
//!    remote module's export table), given the trace area's mapping
//!    handle duplicated into the target (`DuplicateHandle`; the mapping
//!    has no name) and the collector's process id. It patches the
//!    imports ([`crate::iat`]) and returns 0.
//!
//! Both run before the program's first instruction when the program was
//! started suspended. Nothing here allocates: the DLL calls this from a
//! `CreateProcess` hook on the program's thread.

use core::ffi::c_void;
use windows_sys::Win32::Foundation::{
    CloseHandle, DuplicateHandle, GetLastError, DUPLICATE_CLOSE_SOURCE, DUPLICATE_SAME_ACCESS,
    HANDLE, HMODULE, WAIT_OBJECT_0,
};
use windows_sys::Win32::System::Diagnostics::Debug::{ReadProcessMemory, WriteProcessMemory};
use windows_sys::Win32::System::LibraryLoader::{GetModuleHandleW, GetProcAddress};
use windows_sys::Win32::System::Memory::{
    VirtualAllocEx, VirtualFreeEx, MEM_COMMIT, MEM_RELEASE, MEM_RESERVE, PAGE_READWRITE,
};
use windows_sys::Win32::System::ProcessStatus::{K32EnumProcessModules, K32GetModuleFileNameExW};
use windows_sys::Win32::System::Threading::{
    CreateRemoteThread, GetCurrentProcess, GetExitCodeThread, IsWow64Process, WaitForSingleObject,
};

/// `Params::magic`: "STIJ", version 1.
pub const MAGIC: u32 = 0x4a49_5453;
/// `Params::flags`: inject into the children the program starts.
pub const FOLLOW: u32 = 1;

/// What `st_inject` receives, written into the target's memory.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct Params {
    pub magic: u32,
    pub flags: u32,
    /// The trace area's file mapping, a handle valid in the target.
    pub mapping: u64,
    /// The collector's process id (whom to wait for when a ring is full).
    pub collector: u32,
    /// Who started the target (the start record's parent).
    pub parent: u32,
    /// The target's main thread (0: unknown): the start record, written
    /// by the injection's thread, is filed under it.
    pub main_tid: u32,
    pub reserved: u32,
}

/// The step an injection failed at, with the Windows error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The target is a 32-bit (WOW64) process: only the 64-bit DLL exists.
    Bits32,
    /// Opening, writing to or starting a thread in the target (error 5 is
    /// access denied: a protected or more privileged process).
    Access(u32),
    /// The remote `LoadLibraryW` returned NULL (the DLL or one of its
    /// imports could not be loaded).
    Load,
    /// The loaded DLL was not found in the target, or has no `st_inject`.
    Locate,
    /// `st_inject` returned this non-zero code.
    Start(u32),
    /// A remote thread did not finish in time.
    Timeout,
}

impl Failure {
    /// One line naming the reason (the launcher's; the DLL's children
    /// that refuse run untraced without a word).
    #[allow(dead_code)]
    pub fn reason(self) -> &'static str {
        match self {
            Failure::Bits32 => "it is a 32-bit program and only the 64-bit sock_trace.dll exists",
            Failure::Access(5) => "access denied (a protected or more privileged process)",
            Failure::Access(_) => "it refused the injection",
            Failure::Load => "sock_trace.dll could not be loaded into it",
            Failure::Locate => "sock_trace.dll was loaded but its entry point was not found",
            Failure::Start(_) => "sock_trace.dll did not start in it",
            Failure::Timeout => "the injection did not finish in time",
        }
    }
}

/// How long each remote thread may take.
const WAIT_MS: u32 = 20_000;
/// Where the parameters go in the page written into the target (the DLL
/// path comes first, at most 1023 UTF-16 units with its NUL).
const PARAMS_AT: usize = 2048;

/// A NUL-terminated UTF-16 copy of an ASCII literal, at compile time.
macro_rules! wide {
    ($s:literal) => {{
        const S: &[u8] = $s.as_bytes();
        const W: [u16; S.len() + 1] = {
            let mut w = [0u16; S.len() + 1];
            let mut i = 0;
            while i < S.len() {
                w[i] = S[i] as u16;
                i += 1;
            }
            w
        };
        &W
    }};
}
#[allow(unused_imports)]
pub(crate) use wide;

/// Loads `dll` (a full path, NUL-terminated UTF-16) into `process` and
/// starts it there with `mapping` (a handle of this process, duplicated
/// into the target) as its trace area.
///
/// # Safety
/// `process` must be a process handle with create-thread, VM and
/// dup-handle rights; `mapping` a file mapping handle of this process.
pub unsafe fn inject(
    process: HANDLE,
    dll: &[u16],
    mapping: HANDLE,
    mut params: Params,
) -> Result<(), Failure> {
    let mut wow = 0;
    // SAFETY: a process handle and an out-pointer.
    if unsafe { IsWow64Process(process, &mut wow) } != 0 && wow != 0 {
        return Err(Failure::Bits32);
    }
    if dll.len() * 2 > PARAMS_AT || dll.last() != Some(&0) {
        return Err(Failure::Load);
    }
    let mut remote: HANDLE = core::ptr::null_mut();
    // SAFETY: handles and an out-pointer.
    let dup = unsafe {
        DuplicateHandle(
            GetCurrentProcess(),
            mapping,
            process,
            &mut remote,
            0,
            0,
            DUPLICATE_SAME_ACCESS,
        )
    };
    if dup == 0 {
        return Err(Failure::Access(unsafe { GetLastError() }));
    }
    params.magic = MAGIC;
    params.mapping = remote as u64;
    // SAFETY: as documented for this function.
    let r = unsafe { load_and_start(process, dll, &params) };
    if r.is_err() {
        // The target never took the handle: close it there.
        // SAFETY: a handle value of the target, closed at its source.
        unsafe {
            DuplicateHandle(
                process,
                remote,
                core::ptr::null_mut(),
                core::ptr::null_mut(),
                0,
                0,
                DUPLICATE_CLOSE_SOURCE,
            )
        };
    }
    r
}

/// The two remote threads of [`inject`].
unsafe fn load_and_start(process: HANDLE, dll: &[u16], params: &Params) -> Result<(), Failure> {
    // SAFETY (whole function): plain calls on `process` with local buffers
    // of the sizes given.
    let page = unsafe {
        VirtualAllocEx(
            process,
            core::ptr::null(),
            4096,
            MEM_COMMIT | MEM_RESERVE,
            PAGE_READWRITE,
        )
    };
    if page.is_null() {
        return Err(Failure::Access(unsafe { GetLastError() }));
    }
    let at = |off: usize| (page as usize + off) as *mut c_void;
    let wrote = unsafe {
        WriteProcessMemory(
            process,
            page,
            dll.as_ptr().cast(),
            dll.len() * 2,
            core::ptr::null_mut(),
        ) != 0
            && WriteProcessMemory(
                process,
                at(PARAMS_AT),
                (params as *const Params).cast(),
                core::mem::size_of::<Params>(),
                core::ptr::null_mut(),
            ) != 0
    };
    let r = if wrote {
        unsafe { run_both(process, page, at(PARAMS_AT)) }
    } else {
        Err(Failure::Access(unsafe { GetLastError() }))
    };
    // A thread that timed out may still read the page: it stays then.
    if r != Err(Failure::Timeout) {
        unsafe { VirtualFreeEx(process, page, 0, MEM_RELEASE) };
    }
    r
}

unsafe fn run_both(process: HANDLE, path: *mut c_void, params: *mut c_void) -> Result<(), Failure> {
    // kernel32 sits at the same address in every process of a session
    // (Windows and Wine), so this process's LoadLibraryW is the target's.
    // It is looked up, not taken from our import thunk, which is ours.
    let k32 = unsafe { GetModuleHandleW(wide!("kernel32.dll").as_ptr()) };
    let load = unsafe { GetProcAddress(k32, c"LoadLibraryW".as_ptr().cast()) }
        .ok_or(Failure::Load)? as usize;
    let low = unsafe { remote_call(process, load, path) }?;
    if low == 0 {
        return Err(Failure::Load);
    }
    let base = unsafe { find_module(process, low) }.ok_or(Failure::Locate)?;
    let entry = unsafe { remote_export(process, base, b"st_inject\0") }.ok_or(Failure::Locate)?;
    match unsafe { remote_call(process, entry, params) }? {
        0 => Ok(()),
        code => Err(Failure::Start(code)),
    }
}

/// Runs `func(arg)` on a new thread of `process`; its exit code.
unsafe fn remote_call(process: HANDLE, func: usize, arg: *mut c_void) -> Result<u32, Failure> {
    // SAFETY: `func` is a thread routine's address in the target.
    let start = unsafe {
        core::mem::transmute::<usize, unsafe extern "system" fn(*mut c_void) -> u32>(func)
    };
    let t = unsafe {
        CreateRemoteThread(
            process,
            core::ptr::null(),
            0,
            Some(start),
            arg,
            0,
            core::ptr::null_mut(),
        )
    };
    if t.is_null() {
        return Err(Failure::Access(unsafe { GetLastError() }));
    }
    let waited = unsafe { WaitForSingleObject(t, WAIT_MS) };
    let mut code = 0u32;
    let got = unsafe { GetExitCodeThread(t, &mut code) };
    unsafe { CloseHandle(t) };
    if waited != WAIT_OBJECT_0 || got == 0 {
        return Err(Failure::Timeout);
    }
    Ok(code)
}

/// Runs the export `name` (NUL-terminated) of the module loaded from
/// `dll` (a full path, NUL-terminated UTF-16) in `process` as a thread
/// routine with a null argument: its exit code.
///
/// # Safety
/// `process` as for [`inject`]; the export must be a thread routine.
#[allow(dead_code)] // the launcher's (attach)
pub unsafe fn call_export(process: HANDLE, dll: &[u16], name: &[u8]) -> Result<u32, Failure> {
    let (mods, n) =
        unsafe { modules(process) }.ok_or_else(|| Failure::Access(unsafe { GetLastError() }))?;
    let want = &dll[..dll.len().saturating_sub(1)];
    for &m in &mods[..n] {
        let mut path = [0u16; 1024];
        // SAFETY: a buffer of the size given.
        let k = unsafe { K32GetModuleFileNameExW(process, m, path.as_mut_ptr(), 1024) } as usize;
        let same = k == want.len()
            && path[..k].iter().zip(want).all(|(&a, &b)| {
                a == b || (a < 128 && b < 128 && (a as u8).eq_ignore_ascii_case(&(b as u8)))
            });
        if same {
            let entry =
                unsafe { remote_export(process, m as usize, name) }.ok_or(Failure::Locate)?;
            return unsafe { remote_call(process, entry, core::ptr::null_mut()) };
        }
    }
    Err(Failure::Locate)
}

/// The module of `process` whose handle's low 32 bits are `low` (what a
/// thread's exit code keeps of `LoadLibraryW`'s result).
unsafe fn find_module(process: HANDLE, low: u32) -> Option<usize> {
    let (mods, n) = unsafe { modules(process) }?;
    mods[..n].iter().map(|&m| m as usize).find(|&m| {
        m as u32 == low && unsafe { remote_export(process, m, b"st_inject\0") }.is_some()
    })
}

/// The modules loaded in `process` (at most 1024) and how many there are.
///
/// # Safety
/// `process` must allow reading its memory.
pub unsafe fn modules(process: HANDLE) -> Option<([HMODULE; 1024], usize)> {
    let mut mods: [HMODULE; 1024] = [core::ptr::null_mut(); 1024];
    let mut needed = 0u32;
    // SAFETY: a buffer of the size given.
    let ok = unsafe {
        K32EnumProcessModules(
            process,
            mods.as_mut_ptr(),
            core::mem::size_of_val(&mods) as u32,
            &mut needed,
        )
    };
    let n = (needed as usize / core::mem::size_of::<HMODULE>()).min(mods.len());
    (ok != 0).then_some((mods, n))
}

/// Reads a `T` at `addr` of `process`.
unsafe fn peek<T: Copy + Default>(process: HANDLE, addr: usize) -> Option<T> {
    let mut v = T::default();
    let mut got = 0usize;
    // SAFETY: `v` is plain data of the size given.
    let ok = unsafe {
        ReadProcessMemory(
            process,
            addr as *const c_void,
            (&mut v as *mut T).cast(),
            core::mem::size_of::<T>(),
            &mut got,
        )
    };
    (ok != 0 && got == core::mem::size_of::<T>()).then_some(v)
}

/// The address of export `name` (NUL-terminated) of the PE32+ module
/// mapped at `base` in `process`. Export names are sorted (the loader
/// relies on it), so this is a binary search: a few reads.
pub unsafe fn remote_export(process: HANDLE, base: usize, name: &[u8]) -> Option<usize> {
    // SAFETY (whole function): reads of the target's memory, checked.
    let nt = base + unsafe { peek::<u32>(process, base + 0x3c) }? as usize;
    if unsafe { peek::<u32>(process, nt) }? != 0x4550 {
        return None;
    }
    // PE32+: the optional header starts at nt + 24; data directory 0
    // (exports) at offset 112 in it.
    let dir = base + unsafe { peek::<u32>(process, nt + 24 + 112) }? as usize;
    let count = unsafe { peek::<u32>(process, dir + 0x18) }? as usize;
    let funcs = base + unsafe { peek::<u32>(process, dir + 0x1c) }? as usize;
    let names = base + unsafe { peek::<u32>(process, dir + 0x20) }? as usize;
    let ords = base + unsafe { peek::<u32>(process, dir + 0x24) }? as usize;
    let (mut lo, mut hi) = (0usize, count);
    while lo < hi {
        let mid = (lo + hi) / 2;
        let at = base + unsafe { peek::<u32>(process, names + 4 * mid) }? as usize;
        let mut buf = [0u8; 64];
        let n = name.len().min(buf.len());
        for (i, b) in buf[..n].iter_mut().enumerate() {
            *b = unsafe { peek::<u8>(process, at + i) }?;
            if *b == 0 {
                break;
            }
        }
        match buf[..n].cmp(name) {
            core::cmp::Ordering::Equal => {
                let ord = unsafe { peek::<u16>(process, ords + 2 * mid) }? as usize;
                let rva = unsafe { peek::<u32>(process, funcs + 4 * ord) }?;
                return Some(base + rva as usize);
            }
            core::cmp::Ordering::Less => lo = mid + 1,
            core::cmp::Ordering::Greater => hi = mid,
        }
    }
    None
}
