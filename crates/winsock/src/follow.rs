//! The kernel32 hooks of an injected DLL ([`crate::iat`] puts them in the
//! import tables): later loads, `GetProcAddress` of ws2_32 names, and
//! children.
//!
//! - `LoadLibrary{A,W,ExA,ExW}`: the real call, then a patch pass over
//!   the modules (the new ones, and ws2_32's functions if it just came).
//! - `GetProcAddress`: a traced ws2_32 function's address becomes its
//!   hook, so `LoadLibrary("ws2_32") + GetProcAddress("connect")` is
//!   traced.
//! - `CreateProcess{A,W}` (msvcrt's `system` and `_spawn*` call them too):
//!   the child starts suspended, gets the DLL injected as the first
//!   process did, and resumes unless the caller asked for it suspended.
//!   `--no-follow` leaves them untouched. A child the DLL cannot enter
//!   (32-bit, protected) runs untraced.
//!
//! Every hook keeps the last error of the real call.

use crate::iat::{self, LoaderHook};
use crate::sys;
use core::ffi::c_void;
use windows_sys::Win32::Foundation::{FARPROC, HANDLE, HMODULE};
use windows_sys::Win32::Security::SECURITY_ATTRIBUTES;
use windows_sys::Win32::System::LibraryLoader::{
    GetProcAddress, LoadLibraryA, LoadLibraryExA, LoadLibraryExW, LoadLibraryW,
};
use windows_sys::Win32::System::Threading::{
    CreateProcessA, CreateProcessW, GetCurrentProcessId, ResumeThread, CREATE_SUSPENDED,
    PROCESS_INFORMATION, STARTUPINFOA, STARTUPINFOW,
};

/// The hooked kernel32 functions (order = `iat::LD_REAL`'s); the
/// `CreateProcess` ones are put in system DLLs too.
pub(crate) fn hooks() -> [LoaderHook; 7] {
    let hook = |name: &'static [u8], f: *const (), in_system: bool| LoaderHook {
        name,
        hook: f as usize,
        in_system,
    };
    [
        hook(b"LoadLibraryA\0", st_load_library_a as *const (), false),
        hook(b"LoadLibraryW\0", st_load_library_w as *const (), false),
        hook(
            b"LoadLibraryExA\0",
            st_load_library_ex_a as *const (),
            false,
        ),
        hook(
            b"LoadLibraryExW\0",
            st_load_library_ex_w as *const (),
            false,
        ),
        hook(b"GetProcAddress\0", st_get_proc_address as *const (), false),
        hook(b"CreateProcessA\0", st_create_process_a as *const (), true),
        hook(b"CreateProcessW\0", st_create_process_w as *const (), true),
    ]
}

/// After a load: patch again, keeping the load's last error.
fn loaded(m: HMODULE, flags: u32) -> HMODULE {
    // Data and resource loads are not code: nothing to patch.
    const AS_DATA: u32 = 0x2 | 0x20 | 0x40;
    if !m.is_null() && flags & AS_DATA == 0 {
        let err = sys::last_error();
        iat::refresh(false);
        sys::set_last_error(err);
    }
    m
}

unsafe extern "system" fn st_load_library_a(name: *const u8) -> HMODULE {
    // SAFETY: the program's arguments, passed on.
    loaded(unsafe { LoadLibraryA(name) }, 0)
}

unsafe extern "system" fn st_load_library_w(name: *const u16) -> HMODULE {
    // SAFETY: the program's arguments, passed on.
    loaded(unsafe { LoadLibraryW(name) }, 0)
}

unsafe extern "system" fn st_load_library_ex_a(
    name: *const u8,
    file: HANDLE,
    flags: u32,
) -> HMODULE {
    // SAFETY: the program's arguments, passed on.
    loaded(unsafe { LoadLibraryExA(name, file, flags) }, flags)
}

unsafe extern "system" fn st_load_library_ex_w(
    name: *const u16,
    file: HANDLE,
    flags: u32,
) -> HMODULE {
    // SAFETY: the program's arguments, passed on.
    loaded(unsafe { LoadLibraryExW(name, file, flags) }, flags)
}

unsafe extern "system" fn st_get_proc_address(m: HMODULE, name: *const u8) -> FARPROC {
    // SAFETY: the program's arguments, passed on.
    let f = unsafe { GetProcAddress(m, name) };
    let Some(p) = f else { return f };
    if !iat::active() {
        return f;
    }
    let mut hook = iat::ws_hook(p as usize);
    if hook.is_none() {
        // ws2_32 came in without a LoadLibrary this DLL saw (loaded by a
        // system DLL): resolve the table now.
        let err = sys::last_error();
        iat::refresh(false);
        hook = iat::ws_hook(p as usize);
        sys::set_last_error(err);
    }
    match hook {
        // SAFETY: the hook of this very function: the same prototype.
        Some(h) => Some(unsafe { core::mem::transmute::<usize, _>(h) }),
        None => f,
    }
}

/// Injects into a child created suspended; resumes it unless the caller
/// wanted it suspended. Keeps the last error of the creation.
fn follow_child(pi: *const PROCESS_INFORMATION, flags: u32) {
    let err = sys::last_error();
    // SAFETY: CreateProcess succeeded, so `pi` was filled.
    let pi = unsafe { *pi };
    if let Some(mut params) = iat::following() {
        let mut path = [0u16; 1024];
        if iat::self_path(&mut path) != 0 {
            // SAFETY: no arguments.
            params.parent = unsafe { GetCurrentProcessId() };
            params.main_tid = pi.dwThreadId;
            let mapping = params.mapping as usize as HANDLE;
            // SAFETY: a new process's handle (all access) and our mapping.
            // A child that refuses runs untraced: nothing to tell it.
            let _ = unsafe { crate::inject::inject(pi.hProcess, &path, mapping, params) };
        }
    }
    if flags & CREATE_SUSPENDED == 0 {
        // SAFETY: the child's main thread handle.
        unsafe { ResumeThread(pi.hThread) };
    }
    sys::set_last_error(err);
}

/// The creation flag a followed child is started with.
fn suspend_to_follow() -> u32 {
    if iat::following().is_some() {
        CREATE_SUSPENDED
    } else {
        0
    }
}

/// After `CreateProcess` returned `ok`: follows the child when it was
/// started suspended for that.
fn created(ok: i32, pi: *const PROCESS_INFORMATION, flags: u32, extra: u32) -> i32 {
    if ok != 0 && extra != 0 {
        follow_child(pi, flags);
    }
    ok
}

#[allow(clippy::too_many_arguments)]
unsafe extern "system" fn st_create_process_a(
    app: *const u8,
    cmd: *mut u8,
    pa: *const SECURITY_ATTRIBUTES,
    ta: *const SECURITY_ATTRIBUTES,
    inherit: i32,
    flags: u32,
    env: *const c_void,
    cwd: *const u8,
    si: *const STARTUPINFOA,
    pi: *mut PROCESS_INFORMATION,
) -> i32 {
    let extra = suspend_to_follow();
    // SAFETY: the program's arguments, passed on.
    let ok = unsafe { CreateProcessA(app, cmd, pa, ta, inherit, flags | extra, env, cwd, si, pi) };
    created(ok, pi, flags, extra)
}

#[allow(clippy::too_many_arguments)]
unsafe extern "system" fn st_create_process_w(
    app: *const u16,
    cmd: *mut u16,
    pa: *const SECURITY_ATTRIBUTES,
    ta: *const SECURITY_ATTRIBUTES,
    inherit: i32,
    flags: u32,
    env: *const c_void,
    cwd: *const u16,
    si: *const STARTUPINFOW,
    pi: *mut PROCESS_INFORMATION,
) -> i32 {
    let extra = suspend_to_follow();
    // SAFETY: the program's arguments, passed on.
    let ok = unsafe { CreateProcessW(app, cmd, pa, ta, inherit, flags | extra, env, cwd, si, pi) };
    created(ok, pi, flags, extra)
}
