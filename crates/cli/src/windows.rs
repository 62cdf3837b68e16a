//! `sock-trace.exe run` on Windows: creates the trace area (an unnamed
//! file mapping), starts the program suspended, injects `sock_trace.dll`
//! (from this executable's folder, by full path) with the mapping's handle
//! duplicated into it, resumes it, and collects until it exits.
//!
//! The program needs no relinking: the DLL redirects its ws2_32 imports
//! (docs/ARCHITECTURE.md, "Windows: tracing unmodified programs"). A
//! program relinked against the DLL (`-lsock_trace`) is traced the same
//! way: the injected DLL starts the copy the program loaded.

#[path = "../../winsock/src/inject.rs"]
#[allow(dead_code)]
mod inject;

use crate::setup::{start_session, Settings};
use anyhow::{Context, Result};
use sock_trace_collect::{collect_until, Collector, Watch};
use std::ffi::OsString;
use std::os::windows::ffi::OsStrExt;
use std::os::windows::io::AsRawHandle;
use std::os::windows::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;
use windows_sys::Win32::Foundation::{CloseHandle, INVALID_HANDLE_VALUE};
use windows_sys::Win32::System::Console::SetConsoleCtrlHandler;
use windows_sys::Win32::System::Diagnostics::ToolHelp::{
    CreateToolhelp32Snapshot, Thread32First, Thread32Next, TH32CS_SNAPTHREAD, THREADENTRY32,
};
use windows_sys::Win32::System::Threading::{
    OpenThread, ResumeThread, CREATE_SUSPENDED, THREAD_SUSPEND_RESUME,
};

/// Watches the started program: the trace is over when it has exited.
struct ChildWatch {
    child: Child,
}

impl Watch for ChildWatch {
    /// The program's exit code.
    type Done = i32;
    const CHECK_EVERY: Duration = Duration::from_millis(20);
    const QUICK_IDLE_PASSES: u32 = 19;

    fn check(&mut self, _: &mut Collector<'_>) -> Option<i32> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(status.code().unwrap_or(1)),
            Ok(None) => None,
            Err(_) => Some(1),
        }
    }
}

/// `sock-trace.exe run [OPTIONS] -- PROGRAM ARGS`: the program's exit
/// code is returned (and becomes sock-trace.exe's).
pub fn run(settings: Settings, argv: &[OsString]) -> Result<i32> {
    let follow = !settings.run.no_follow && settings.config.trace.follow;
    let mut collector = start_session(&settings)?;
    let (program, args) = argv.split_first().context("no program to run")?;
    let shown = Path::new(program)
        .file_name()
        .unwrap_or(program)
        .to_string_lossy()
        .into_owned();
    // Started suspended: nothing of the program runs before the DLL is in.
    // No SOCK_TRACE_SHM: the area reaches the DLL through the injection.
    let child = match Command::new(program)
        .args(args)
        .env_remove(sock_trace_event::ENV_SHM)
        .creation_flags(CREATE_SUSPENDED)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!(
                "sock-trace: cannot start {}: {e}",
                program.to_string_lossy()
            );
            return Ok(if e.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            });
        }
    };
    let threads = threads_of(child.id());
    let injected = inject_into(&child, &collector, follow, threads.first().copied());
    if let Err(why) = &injected {
        eprintln!("sock-trace: {shown} runs untraced: {why}");
    }
    resume(&threads);
    // Nothing else this process starts gets the mapping.
    collector.area().unlink();
    // Ctrl-C and Ctrl-Break reach the program through the console it
    // shares with us; this process waits for its exit code instead of
    // dying first (set after the start: children inherit the setting).
    // SAFETY: no handler routine, only the ignore flag.
    unsafe { SetConsoleCtrlHandler(None, 1) };
    let mut watch = ChildWatch { child };
    let code = collect_until(&mut collector, &mut watch);
    collector.finish();
    let h = collector.area().header();
    if injected.is_ok() && h.processes.load(std::sync::atomic::Ordering::Relaxed) == 0 {
        eprintln!("sock-trace: {shown} did not use ws2_32 (Winsock), so nothing was traced");
    }
    collector.notice(None, &format!("exited with {code}"));
    collector.print_summary();
    Ok(code)
}

/// Loads sock_trace.dll into the suspended program.
fn inject_into(
    child: &Child,
    collector: &Collector<'_>,
    follow: bool,
    main_tid: Option<u32>,
) -> Result<(), String> {
    let dll = std::env::current_exe()
        .map_err(|e| format!("cannot find sock-trace.exe's folder ({e})"))?
        .with_file_name("sock_trace.dll");
    if !dll.is_file() {
        return Err(format!("{} is missing", dll.display()));
    }
    let wide: Vec<u16> = dll.as_os_str().encode_wide().chain([0]).collect();
    let mapping = mapping_handle(&collector.area().inherit_value())
        .ok_or("the trace area has no handle")?;
    let params = inject::Params {
        flags: if follow { inject::FOLLOW } else { 0 },
        collector: std::process::id(),
        parent: std::process::id(),
        main_tid: main_tid.unwrap_or(0),
        ..Default::default()
    };
    // SAFETY: our child's process handle (all access) and the area's
    // mapping handle.
    unsafe { inject::inject(child.as_raw_handle(), &wide, mapping, params) }
        .map_err(|f| f.reason().to_string())
}

/// The handle in `win:<handle>:<pid>` (the area's `inherit_value`).
fn mapping_handle(value: &str) -> Option<*mut core::ffi::c_void> {
    let h: usize = value.strip_prefix("win:")?.split(':').next()?.parse().ok()?;
    (h != 0).then_some(h as *mut _)
}

/// The threads of process `pid` (one, its main thread, while it is
/// suspended at its start: std keeps that handle to itself).
fn threads_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    // SAFETY: plain calls; the snapshot handle is closed.
    unsafe {
        let snap = CreateToolhelp32Snapshot(TH32CS_SNAPTHREAD, 0);
        if snap == INVALID_HANDLE_VALUE {
            return out;
        }
        let mut te: THREADENTRY32 = std::mem::zeroed();
        te.dwSize = std::mem::size_of::<THREADENTRY32>() as u32;
        let mut more = Thread32First(snap, &mut te) != 0;
        while more {
            if te.th32OwnerProcessID == pid {
                out.push(te.th32ThreadID);
            }
            more = Thread32Next(snap, &mut te) != 0;
        }
        CloseHandle(snap);
    }
    out
}

/// Resumes threads started suspended.
fn resume(threads: &[u32]) {
    for &tid in threads {
        // SAFETY: plain calls; the handle is closed.
        unsafe {
            let t = OpenThread(THREAD_SUSPEND_RESUME, 0, tid);
            if !t.is_null() {
                ResumeThread(t);
                CloseHandle(t);
            }
        }
    }
}
