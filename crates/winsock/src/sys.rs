//! The few kernel32 services the hooks use: the clock, the last error, a
//! fault-safe read of program memory, process liveness.

use core::sync::atomic::{AtomicU64, Ordering};
use windows_sys::Win32::Foundation::{CloseHandle, GetLastError, SetLastError, WAIT_TIMEOUT};
use windows_sys::Win32::System::Memory::{
    VirtualQuery, MEMORY_BASIC_INFORMATION, MEM_COMMIT, PAGE_EXECUTE_READ, PAGE_EXECUTE_READWRITE,
    PAGE_EXECUTE_WRITECOPY, PAGE_GUARD, PAGE_READONLY, PAGE_READWRITE, PAGE_WRITECOPY,
};
use windows_sys::Win32::System::Performance::{QueryPerformanceCounter, QueryPerformanceFrequency};
use windows_sys::Win32::System::Threading::{
    OpenProcess, WaitForSingleObject, PROCESS_SYNCHRONIZE,
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
/// where the memory is not readable instead of faulting; returns the bytes
/// copied. The pages are checked with `VirtualQuery` (committed, readable,
/// no guard page), then copied directly. `ReadProcessMemory` on oneself
/// would do both at once but costs a server round trip per call under
/// Wine (about 50 µs); the check leaves a window in which another thread
/// could free the memory, as any pre-call read of an argument does.
pub fn safe_read(src: *const u8, out: &mut [u8]) -> usize {
    if src.is_null() || out.is_empty() {
        return 0;
    }
    let n = readable_len(src, out.len());
    // SAFETY: the first `n` bytes at `src` are committed, readable pages
    // (checked just above); `out` holds at least `n` bytes.
    unsafe { core::ptr::copy_nonoverlapping(src, out.as_mut_ptr(), n) };
    n
}

/// How many of the `len` bytes at `p` lie in readable committed pages.
fn readable_len(p: *const u8, len: usize) -> usize {
    const READABLE: u32 = PAGE_READONLY
        | PAGE_READWRITE
        | PAGE_WRITECOPY
        | PAGE_EXECUTE_READ
        | PAGE_EXECUTE_READWRITE
        | PAGE_EXECUTE_WRITECOPY;
    let start = p as usize;
    let end = start.saturating_add(len);
    let mut at = start;
    while at < end {
        let Some(info) = region(at as *const u8) else {
            break;
        };
        if info.State != MEM_COMMIT
            || info.Protect & READABLE == 0
            || info.Protect & PAGE_GUARD != 0
        {
            break;
        }
        let region_end = (info.BaseAddress as usize).saturating_add(info.RegionSize);
        if region_end <= at {
            break;
        }
        at = region_end;
    }
    at.min(end) - start
}

/// What `VirtualQuery` says of the region holding `p`.
pub fn region(p: *const u8) -> Option<MEMORY_BASIC_INFORMATION> {
    // SAFETY: VirtualQuery only describes the address; valid out-pointer.
    let mut info: MEMORY_BASIC_INFORMATION = unsafe { core::mem::zeroed() };
    let size = core::mem::size_of::<MEMORY_BASIC_INFORMATION>();
    let got = unsafe { VirtualQuery(p as *const _, &mut info, size) };
    (got != 0).then_some(info)
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
