//! `sock_trace.dll`: the Winsock side of sock-trace, a drop-in for
//! `ws2_32.dll`. A program linked with `-lsock_trace` instead of
//! `-lws2_32` calls these exports; each traced one calls the real function
//! (in the system's `ws2_32.dll`, loaded by full path), then writes one
//! record into the trace area exactly as the Linux preload library does
//! (`docs/RECORDS.md`), with the last error saved right after the real
//! call and restored before returning. Every other ws2_32 name is
//! forwarded unchanged ([`forward`]).
//!
//! The same DLL traces programs that were not relinked: `sock-trace.exe
//! run` injects it ([`inject`]) and it redirects the program's ws2_32
//! imports to the same hooks ([`iat`]), following later loads and child
//! processes ([`follow`]).
//!
//! Nothing here formats, allocates, locks or writes to the console on the
//! program's threads; a fault in the tracer never reaches the program (the
//! record is written inside `catch_unwind`, pointers the call did not
//! validate are read only from pages `VirtualQuery` says are readable).
//!
//! The records go to the collector (`sock-trace.exe`), which decodes them
//! with the Windows constant tables: see docs/ARCHITECTURE.md, "Windows".
//! On other targets this crate is empty.
#![cfg(windows)]

mod area;
mod follow;
mod forward;
mod hooks;
mod iat;
mod inject;
mod sys;

use core::ffi::c_void;
use windows_sys::Win32::System::SystemServices::{
    DLL_PROCESS_ATTACH, DLL_PROCESS_DETACH, DLL_THREAD_DETACH,
};

/// Attaches to the trace area named by the environment (when there is
/// one: a program started without `sock-trace.exe run` runs untraced) and
/// gives rings back as threads end. Only kernel32 calls here: the loader
/// lock is held. An injected DLL is started later, outside the loader
/// lock, by `st_inject` ([`iat`]).
#[no_mangle]
pub extern "system" fn DllMain(module: *mut c_void, reason: u32, _reserved: *mut c_void) -> i32 {
    match reason {
        DLL_PROCESS_ATTACH => {
            iat::set_self(module as usize);
            area::tls_init();
            area::attach();
        }
        DLL_THREAD_DETACH | DLL_PROCESS_DETACH => area::give_back_ring(),
        _ => {}
    }
    1
}
