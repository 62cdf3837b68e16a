//! `sock-trace.exe run` on Windows: creates the trace area (an unnamed
//! file mapping), starts the program suspended, injects `sock_trace.dll`
//! (from this executable's folder, by full path) with the mapping's handle
//! duplicated into it, resumes it, and collects until it exits.
//!
//! The program needs no relinking: the DLL redirects its ws2_32 imports
//! (docs/ARCHITECTURE.md, "Windows: tracing unmodified programs"). A
//! program relinked against the DLL (`-lsock_trace`) is traced the same
//! way: the injected DLL starts the copy the program loaded.
//!
//! `sock-trace.exe attach PID` injects the same way into a running
//! process and, on Ctrl-C, Ctrl-Break or when the process ends, asks the
//! DLL to detach (`st_detach`: its imports restored, nothing recorded any
//! more) and leaves the process running.

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
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use std::time::Instant;
use windows_sys::Win32::Foundation::{CloseHandle, GetLastError, HANDLE, INVALID_HANDLE_VALUE};
use windows_sys::Win32::System::Console::SetConsoleCtrlHandler;
use windows_sys::Win32::System::Diagnostics::ToolHelp::{
    CreateToolhelp32Snapshot, Thread32First, Thread32Next, TH32CS_SNAPTHREAD, THREADENTRY32,
};
use windows_sys::Win32::System::Threading::{
    GetExitCodeProcess, OpenProcess, OpenThread, ResumeThread, CREATE_SUSPENDED,
    PROCESS_CREATE_THREAD, PROCESS_DUP_HANDLE, PROCESS_QUERY_INFORMATION, PROCESS_SYNCHRONIZE,
    PROCESS_VM_OPERATION, PROCESS_VM_READ, PROCESS_VM_WRITE, THREAD_SUSPEND_RESUME,
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
    // A 32-bit program is refused before it starts (it would be after,
    // by IsWow64Process, where Windows can start it): it runs untraced.
    let bits32 = image_machine(program) == Some(IMAGE_FILE_MACHINE_I386);
    if bits32 {
        eprintln!(
            "sock-trace: {shown} runs untraced: {}",
            inject::Failure::Bits32.reason()
        );
    }
    // Started suspended: nothing of the program runs before the DLL is in.
    // No SOCK_TRACE_SHM: the area reaches the DLL through the injection.
    let child = match Command::new(program)
        .args(args)
        .env_remove(sock_trace_event::ENV_SHM)
        .creation_flags(if bits32 { 0 } else { CREATE_SUSPENDED })
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
    let injected = if bits32 {
        Err(String::new())
    } else {
        let threads = threads_of(child.id());
        let r = inject_into(&child, &collector, follow, threads.first().copied());
        if let Err(why) = &r {
            eprintln!("sock-trace: {shown} runs untraced: {why}");
        }
        resume(&threads);
        r
    };
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

/// The DLL beside this executable: its full path, NUL-terminated UTF-16.
fn dll_path() -> Result<Vec<u16>, String> {
    let dll = std::env::current_exe()
        .map_err(|e| format!("cannot find sock-trace.exe's folder ({e})"))?
        .with_file_name("sock_trace.dll");
    if !dll.is_file() {
        return Err(format!("{} is missing", dll.display()));
    }
    Ok(dll.as_os_str().encode_wide().chain([0]).collect())
}

/// Loads sock_trace.dll into the suspended program.
fn inject_into(
    child: &Child,
    collector: &Collector<'_>,
    follow: bool,
    main_tid: Option<u32>,
) -> Result<(), String> {
    let wide = dll_path()?;
    let mapping =
        mapping_handle(&collector.area().inherit_value()).ok_or("the trace area has no handle")?;
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

const IMAGE_FILE_MACHINE_I386: u16 = 0x14c;

/// The machine field of the program's PE header, when its file can be
/// found (as given, with `.exe` added, or on PATH) and read.
fn image_machine(program: &OsString) -> Option<u16> {
    let given = Path::new(program);
    let mut names = vec![given.to_path_buf()];
    if given.extension().is_none() {
        names.push(given.with_extension("exe"));
    }
    let found = names.iter().find(|p| p.is_file()).cloned().or_else(|| {
        if given.components().count() != 1 {
            return None;
        }
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path)
            .flat_map(|d| names.iter().map(move |n| d.join(n)))
            .find(|p| p.is_file())
    })?;
    let mut head = [0u8; 1024];
    let n = std::io::Read::read(&mut std::fs::File::open(found).ok()?, &mut head).ok()?;
    let at = u32::from_le_bytes(head.get(0x3c..0x40)?.try_into().ok()?) as usize;
    if head.get(..2)? != b"MZ" || head.get(at..at + 4)? != b"PE\0\0" || at + 6 > n {
        return None;
    }
    Some(u16::from_le_bytes([head[at + 4], head[at + 5]]))
}

/// Set by Ctrl-C, Ctrl-Break or closing the console: detach.
static STOP: AtomicBool = AtomicBool::new(false);

unsafe extern "system" fn ask_stop(_: u32) -> i32 {
    STOP.store(true, Ordering::Relaxed);
    1
}

/// Test hook: `attach` detaches by itself after this many milliseconds
/// (a test under Wine cannot press Ctrl-C).
const ENV_DETACH_AFTER: &str = "SOCK_TRACE_DETACH_AFTER_MS";

/// Watches an attached process: over when it exits (`Some(code)`) or
/// when asked to detach (`None`, after the DLL detached).
struct AttachWatch {
    process: HANDLE,
    dll: Vec<u16>,
    deadline: Option<Instant>,
}

impl Watch for AttachWatch {
    type Done = Option<i32>;
    const CHECK_EVERY: Duration = Duration::from_millis(20);
    const QUICK_IDLE_PASSES: u32 = 19;

    fn check(&mut self, _: &mut Collector<'_>) -> Option<Option<i32>> {
        const STILL_ACTIVE: u32 = 259;
        let mut code = 0u32;
        // SAFETY: our process handle and an out-pointer.
        if unsafe { GetExitCodeProcess(self.process, &mut code) } == 0 || code != STILL_ACTIVE {
            return Some(Some(code as i32));
        }
        let stop =
            STOP.load(Ordering::Relaxed) || self.deadline.is_some_and(|d| Instant::now() >= d);
        if !stop {
            return None;
        }
        // SAFETY: our process handle; st_detach is a thread routine.
        if let Err(f) = unsafe { inject::call_export(self.process, &self.dll, b"st_detach\0") } {
            eprintln!("sock-trace: detaching failed: {}", f.reason());
        }
        Some(None)
    }
}

/// `sock-trace.exe attach PID`: traces a running process from now on,
/// until it exits (its exit code is returned) or Ctrl-C (0: detached, the
/// process keeps running). A refusal changes nothing in the process.
pub fn attach(settings: Settings, pid: u32) -> Result<i32> {
    let follow = !settings.run.no_follow && settings.config.trace.follow;
    let dll = match dll_path() {
        Ok(d) => d,
        Err(why) => {
            eprintln!("sock-trace: cannot attach: {why}");
            return Ok(1);
        }
    };
    let rights = PROCESS_CREATE_THREAD
        | PROCESS_QUERY_INFORMATION
        | PROCESS_VM_OPERATION
        | PROCESS_VM_READ
        | PROCESS_VM_WRITE
        | PROCESS_DUP_HANDLE
        | PROCESS_SYNCHRONIZE;
    // SAFETY: a plain call; the handle is closed below.
    let process = unsafe { OpenProcess(rights, 0, pid) };
    if process.is_null() {
        // SAFETY: no arguments.
        let why = match unsafe { GetLastError() } {
            5 => "access denied (a protected or more privileged process)".to_string(),
            87 => "no such process".to_string(),
            e => format!("error {e}"),
        };
        eprintln!("sock-trace: cannot attach to process {pid}: {why}");
        return Ok(1);
    }
    let result = attached(settings, pid, process, dll, follow);
    // SAFETY: our handle.
    unsafe { CloseHandle(process) };
    result
}

fn attached(
    settings: Settings,
    pid: u32,
    process: HANDLE,
    dll: Vec<u16>,
    follow: bool,
) -> Result<i32> {
    let mut collector = start_session(&settings)?;
    let mapping = mapping_handle(&collector.area().inherit_value())
        .context("the trace area has no handle")?;
    let params = inject::Params {
        flags: if follow { inject::FOLLOW } else { 0 },
        collector: std::process::id(),
        // The snapshot lists a process's threads oldest first: the main
        // one, which the start record is filed under.
        main_tid: threads_of(pid).first().copied().unwrap_or(0),
        ..Default::default()
    };
    // SAFETY: a process handle with the rights inject needs, our mapping.
    if let Err(f) = unsafe { inject::inject(process, &dll, mapping, params) } {
        eprintln!("sock-trace: cannot attach to process {pid}: {}", f.reason());
        return Ok(1);
    }
    collector.area().unlink();
    // SAFETY: a handler that only sets a flag.
    unsafe { SetConsoleCtrlHandler(Some(ask_stop), 1) };
    let deadline = std::env::var(ENV_DETACH_AFTER)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map(|ms| Instant::now() + Duration::from_millis(ms));
    let mut watch = AttachWatch {
        process,
        dll,
        deadline,
    };
    let done = collect_until(&mut collector, &mut watch);
    collector.finish();
    let code = match done {
        Some(code) => {
            collector.notice(None, &format!("exited with {code}"));
            code
        }
        None => {
            collector.notice(None, &format!("detached from {pid}"));
            0
        }
    };
    collector.print_summary();
    Ok(code)
}

/// The handle in `win:<handle>:<pid>` (the area's `inherit_value`).
fn mapping_handle(value: &str) -> Option<*mut core::ffi::c_void> {
    let h: usize = value
        .strip_prefix("win:")?
        .split(':')
        .next()?
        .parse()
        .ok()?;
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
