//! The few kernel32 services the hooks use: the clock, the last error, a
//! fault-safe read of program memory, process liveness.

use core::sync::atomic::{AtomicU64, Ordering};
use windows_sys::Win32::Foundation::{CloseHandle, GetLastError, SetLastError, WAIT_TIMEOUT};
use windows_sys::Win32::System::Diagnostics::Debug::ReadProcessMemory;
use windows_sys::Win32::System::Performance::{QueryPerformanceCounter, QueryPerformanceFrequency};
use windows_sys::Win32::System::Threading::{
    GetCurrentProcess, OpenProcess, WaitForSingleObject, PROCESS_SYNCHRONIZE,
};

static FREQ: AtomicU64 = AtomicU64::new(0);

/// Monotonic nanoseconds: the performance counter scaled as the collector
/// scales it (`sock_trace_collect::clock` on Windows), so the two agree.
pub fn now() -> u64 {
    let mut f = FREQ.load(Ordering::Relaxed);
    if f == 0 {
        let mut v = 0i64;
        // SAFETY: valid out-pointer.
        unsafe { QueryPerformanceFrequency(&mut v) };
        f = (v as u64).max(1);
        FREQ.store(f, Ordering::Relaxed);
    }
    let mut c = 0i64;
    // SAFETY: valid out-pointer.
    unsafe { QueryPerformanceCounter(&mut c) };
    (c as u64 as u128 * 1_000_000_000 / f as u128) as u64
}

/// `GetLastError()`; `WSAGetLastError()` reads the same per-thread value.
#[inline]
pub fn last_error() -> u32 {
    // SAFETY: no arguments.
    unsafe { GetLastError() }
}

#[inline]
pub fn set_last_error(e: u32) {
    // SAFETY: no pointer arguments.
    unsafe { SetLastError(e) }
}

/// Copies up to `out.len()` bytes from `src` in this process, stopping
/// where the memory is unreadable instead of faulting: the Windows
/// counterpart of `process_vm_readv` on oneself. Returns the bytes copied.
pub fn safe_read(src: *const u8, out: &mut [u8]) -> usize {
    if src.is_null() || out.is_empty() {
        return 0;
    }
    let mut got = 0usize;
    // SAFETY: ReadProcessMemory checks the source range itself; `out` is a
    // valid writable buffer of that length.
    let ok = unsafe {
        ReadProcessMemory(
            GetCurrentProcess(),
            src as *const _,
            out.as_mut_ptr() as *mut _,
            out.len(),
            &mut got,
        )
    };
    if ok != 0 {
        return out.len();
    }
    // A range that crosses into unmapped memory: the part before it.
    let mut n = 0;
    while n < out.len() {
        let step = (out.len() - n).min(256);
        let mut one = 0usize;
        // SAFETY: as above, on a sub-range.
        let ok = unsafe {
            ReadProcessMemory(
                GetCurrentProcess(),
                src.wrapping_add(n) as *const _,
                out[n..].as_mut_ptr() as *mut _,
                step,
                &mut one,
            )
        };
        if ok == 0 {
            break;
        }
        n += step;
    }
    n
}

/// Reads a `T` through [`safe_read`].
pub fn safe_read_val<T: Copy + Default>(src: *const T) -> Option<T> {
    let mut v = T::default();
    // SAFETY: `v` is plain data of size_of::<T>() bytes.
    let buf = unsafe {
        core::slice::from_raw_parts_mut(&mut v as *mut T as *mut u8, core::mem::size_of::<T>())
    };
    (safe_read(src as *const u8, buf) == buf.len()).then_some(v)
}

/// Whether process `pid` still runs (the collector, while a ring is full).
pub fn alive(pid: u32) -> bool {
    // SAFETY: plain calls; the handle is closed.
    unsafe {
        let h = OpenProcess(PROCESS_SYNCHRONIZE, 0, pid);
        if h.is_null() {
            return false;
        }
        let r = WaitForSingleObject(h, 0);
        CloseHandle(h);
        r == WAIT_TIMEOUT
    }
}

/// Lets the collector run while a ring is full.
pub fn pause() {
    // SAFETY: no arguments.
    unsafe { windows_sys::Win32::System::Threading::Sleep(1) };
}
