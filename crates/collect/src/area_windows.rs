//! The shared memory behind a trace session, on Windows.
//!
//! An unnamed file mapping backed by the paging file: there is no name
//! another process could open, guess or squat ("open no door"). Its handle
//! is inheritable and reaches the traced program by inheritance when
//! `sock-trace.exe run` starts it; the handle's value travels in
//! `SOCK_TRACE_SHM` (`win:<handle>:<collector pid>`, see
//! [`Area::inherit_value`]). The memory goes away with the last handle
//! and view, even when the collector is killed. Same interface as the
//! Linux area (`area.rs`).

use sock_trace_event::ring::AreaSpec;
use sock_trace_event::Shm;
use std::io;
use std::path::PathBuf;
use windows_sys::Win32::Foundation::{CloseHandle, HANDLE, INVALID_HANDLE_VALUE};
use windows_sys::Win32::Security::SECURITY_ATTRIBUTES;
use windows_sys::Win32::System::Memory::{
    CreateFileMappingW, MapViewOfFile, UnmapViewOfFile, FILE_MAP_READ, FILE_MAP_WRITE,
    MEMORY_MAPPED_VIEW_ADDRESS, PAGE_READWRITE,
};
use windows_sys::Win32::System::Performance::{QueryPerformanceCounter, QueryPerformanceFrequency};
use windows_sys::Win32::System::SystemInformation::GetSystemTimePreciseAsFileTime;
use windows_sys::Win32::System::Threading::{
    GetExitCodeProcess, GetExitCodeThread, OpenProcess, OpenThread,
    PROCESS_QUERY_LIMITED_INFORMATION, THREAD_QUERY_LIMITED_INFORMATION,
};

/// A created, mapped and initialised trace area; unmapped and closed on
/// drop.
pub struct Area {
    pub(super) path: PathBuf,
    handle: std::cell::Cell<HANDLE>,
    base: *mut u8,
    len: usize,
    pub(super) shm: Shm,
}

impl Area {
    /// Creates the area sized for `geo` and initialises the header.
    pub fn create(spec: AreaSpec<'_>) -> io::Result<Area> {
        let geo = spec.geometry;
        let len = geo.total_bytes();
        let sa = SECURITY_ATTRIBUTES {
            nLength: std::mem::size_of::<SECURITY_ATTRIBUTES>() as u32,
            lpSecurityDescriptor: std::ptr::null_mut(),
            bInheritHandle: 1,
        };
        // SAFETY: plain call; no name (null), backed by the paging file.
        let handle = unsafe {
            CreateFileMappingW(
                INVALID_HANDLE_VALUE,
                &sa,
                PAGE_READWRITE,
                (len as u64 >> 32) as u32,
                len as u32,
                std::ptr::null(),
            )
        };
        if handle.is_null() {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a mapping of `len` bytes that we own.
        let view = unsafe { MapViewOfFile(handle, FILE_MAP_READ | FILE_MAP_WRITE, 0, 0, len) };
        let base = view.Value as *mut u8;
        if base.is_null() {
            let e = io::Error::last_os_error();
            // SAFETY: our handle.
            unsafe { CloseHandle(handle) };
            return Err(e);
        }
        // SAFETY: fresh zero-filled mapping of `len` bytes, kept by the area.
        let shm = unsafe { crate::area_common::init_shm(base, len, &spec) }?;
        shm.header()
            .consumer_pid
            .store(std::process::id(), std::sync::atomic::Ordering::Relaxed);
        Ok(Area {
            path: PathBuf::from(format!("(unnamed mapping, handle {})", handle as usize)),
            handle: std::cell::Cell::new(handle),
            base,
            len,
            shm,
        })
    }

    /// `SOCK_TRACE_SHM` for a program started with handle inheritance:
    /// `win:<handle>:<collector pid>`.
    pub fn inherit_value(&self) -> String {
        format!("win:{}:{}", self.handle.get() as usize, std::process::id())
    }

    /// Closes the handle (the view stays): processes started from now on
    /// cannot inherit it.
    pub fn unlink(&self) {
        let h = self.handle.replace(std::ptr::null_mut());
        if !h.is_null() {
            // SAFETY: our handle, closed once.
            unsafe { CloseHandle(h) };
        }
    }
}

impl Drop for Area {
    fn drop(&mut self) {
        self.unlink();
        // SAFETY: our view, not used after drop.
        unsafe {
            UnmapViewOfFile(MEMORY_MAPPED_VIEW_ADDRESS {
                Value: self.base as *mut _,
            })
        };
        let _ = self.len;
    }
}

/// Nanoseconds: `CLOCK_MONOTONIC` is the performance counter scaled
/// exactly as sock_trace.dll scales it (the records' clock);
/// `CLOCK_REALTIME` is nanoseconds since 1970.
pub fn clock(id: i32) -> u64 {
    // The clock ids are Linux's numbers (`libc` is sock-trace-linux-abi here).
    if id == libc::CLOCK_REALTIME {
        let ft = unsafe {
            let mut ft = std::mem::zeroed();
            // SAFETY: valid out-pointer.
            GetSystemTimePreciseAsFileTime(&mut ft);
            ft
        };
        let t100 = (ft.dwHighDateTime as u64) << 32 | ft.dwLowDateTime as u64;
        return t100.saturating_sub(116_444_736_000_000_000) * 100;
    }
    let (mut f, mut c) = (0i64, 0i64);
    // SAFETY: valid out-pointers.
    unsafe {
        QueryPerformanceFrequency(&mut f);
        QueryPerformanceCounter(&mut c);
    }
    (c as u64 as u128 * 1_000_000_000 / (f as u64).max(1) as u128) as u64
}

/// Whether process `pid` still runs (or has not been waited for: its
/// last records may still be on their way).
pub(crate) fn process_alive(pid: u32) -> bool {
    // SAFETY: a plain call; the handle is checked and given to still_active.
    still_active(
        unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid) },
        |h, c| {
            // SAFETY: a valid handle and out-pointer.
            unsafe { GetExitCodeProcess(h, c) }
        },
    )
}

/// Whether thread `tid` still runs (`pid` is implied by the thread id,
/// which Windows does not reuse while the thread object exists).
pub(crate) fn thread_alive(_pid: u32, tid: u32) -> bool {
    // SAFETY: a plain call; the handle is checked and given to still_active.
    still_active(
        unsafe { OpenThread(THREAD_QUERY_LIMITED_INFORMATION, 0, tid) },
        |h, c| {
            // SAFETY: a valid handle and out-pointer.
            unsafe { GetExitCodeThread(h, c) }
        },
    )
}

/// Whether the process or thread behind `h` (closed here; null when it
/// could not be opened) has no exit code yet.
fn still_active(h: HANDLE, exit_code: impl FnOnce(HANDLE, *mut u32) -> i32) -> bool {
    const STILL_ACTIVE: u32 = 259;
    if h.is_null() {
        return false;
    }
    let mut code = 0u32;
    let ok = exit_code(h, &mut code) != 0;
    // SAFETY: `h` is a handle this function owns.
    unsafe { CloseHandle(h) };
    ok && code == STILL_ACTIVE
}
