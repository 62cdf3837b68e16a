//! The system-call capture backend: sees a program's socket calls at the
//! system-call boundary, from outside the process, with ptrace and a
//! seccomp-bpf filter (as `strace --seccomp-bpf` does). It writes **the
//! same records** as the preload library (docs/RECORDS.md), so decoding,
//! summary, pcap and printing need nothing new; its process start records
//! say `Backend::Syscall`. It traces what the preload library cannot:
//! statically linked, musl and Go programs, and raw system calls.
//!
//! # How a program is started
//!
//! [`run`] starts a tracer thread, which forks. The child puts back the
//! default SIGPIPE disposition, sets `PR_SET_NO_NEW_PRIVS`, installs the
//! filter of [`filter`] (the traced calls return `SECCOMP_RET_TRACE`,
//! everything else `SECCOMP_RET_ALLOW`; other architectures and x32 are
//! allowed), stops itself with SIGSTOP and, once resumed, execs the program.
//! The tracer waits for that stop, `PTRACE_SEIZE`s the child with
//! `TRACESECCOMP | TRACESYSGOOD | TRACEFORK | TRACEVFORK | TRACECLONE |
//! TRACEEXEC | EXITKILL` and sends SIGCONT. Untraced system calls never
//! stop the program.
//!
//! # One call
//!
//! At a seccomp stop the tracer reads the registers (`PTRACE_GETREGS`:
//! number, six arguments, `rip`) and takes `t_start` (CLOCK_MONOTONIC).
//! Calls on descriptors that are not sockets (read, write, close, dup, ...)
//! resume at once (`PTRACE_CONT`). Others resume with `PTRACE_SYSCALL`, so
//! that the next stop is the call's exit: the tracer reads the result,
//! takes `t_end`, reads the memory the record needs (`process_vm_readv`,
//! `PTRACE_PEEKDATA` where that is refused), updates the process's socket
//! set and writes one record. A result of `-ERESTART*` (a signal
//! interrupted the call) is held: the restart completes it (one record,
//! its duration from the first entry), any other call of the thread shows
//! it as EINTR. Unreadable memory sets `FLAG_BAD_POINTER`, a record cut for
//! room `FLAG_TRUNCATED`, as in the preload library.
//!
//! Sockets are known per process: created by socket, socketpair, accept,
//! dup and `F_DUPFD*` of a socket; forgotten at close, close_range, or dup2
//! over them; copied at fork; rebuilt from /proc/PID/fd at exec (which also
//! drops close-on-exec ones and picks up inherited ones).
//!
//! # Processes and signals
//!
//! Children (fork, vfork, clone) are traced automatically. A new process
//! gets a start record (`args[0]` the parent, `args[1]` 1), an exec one
//! more (`args[1]` 0, EXE and ARGV from /proc). Signals are delivered
//! exactly once: a signal-delivery-stop is resumed with its signal, a
//! group-stop (`PTRACE_EVENT_STOP` with a stop signal) with `PTRACE_LISTEN`
//! so the process stays stopped until SIGCONT, as untraced. [`run`] returns
//! the program's wait status (exit code, or killed by a signal).
//!
//! Every descendant stays traced (the filter is inherited, and a traced
//! call of a process nobody traces would fail with ENOSYS), so `run` ends
//! when the last one has exited. `NO_NEW_PRIVS` makes set-user-ID programs
//! run without their privileges, as under `strace --seccomp-bpf`.
//!
//! # Where records go
//!
//! Into the trace area, through one ring the tracer thread owns like any
//! producer thread of the preload library (owner: this process and the
//! tracer's thread id; records carry the tracee's pid and tid). The
//! collector then needs nothing new: it merges this ring with the others
//! by completion time, reclaims it when released, and the same loss
//! counters (`lost_no_ring`, `lost_full`, `waits_full`) account for it.
//! An in-process source would have needed a second path through the
//! collector's ordering and loss accounting; a ring keeps one. The tracer
//! waits for room while the collector makes progress (it runs in the
//! thread that called [`run`], through the `poll` callback).
//!
//! # Callers
//!
//! With caller attribution on, the first `Caller` frame is the user-space
//! instruction pointer after the `syscall` instruction; for a Go program
//! the goroutine's stack above the runtime's system-call stub follows (see
//! `stack`: the collector's symbolizer looks through the Go standard
//! library's frames). Module records for the ELF objects mapped executable
//! are written from /proc/PID/maps and each file's program headers (see
//! [`modules`]) after an exec, and again whenever a caller address lies
//! outside every known object (code loaded later), just before the record
//! that needs them.
//!
//! # Delays, faults, attach
//!
//! The configuration's delay and fault rules apply as in the preload
//! library (`actions`): a fault skips the call (`orig_rax = -1`, then
//! `rax = -errno`), a delay holds only the one thread on the tracer's timer
//! queue. [`attach::attach`] traces a running process with `PTRACE_SYSCALL`
//! stops (no filter can be installed from outside) and detaches on request,
//! leaving it running.
//!
//! # Hand-over (`--backend auto`)
//!
//! [`serve`] runs in a process of its own (`sock-trace __handover`) beside
//! a preload-traced program: a process that is about to exec a Go, static
//! or musl program asks it to take over, and from its exec on it is traced
//! here ([`image`] tells the kinds apart). See `serve` and
//! `sock_trace_event::handover`.
//!
//! # Limits
//!
//! x86_64 only. Not traced: epoll_pwait2. Short writes and bandwidth
//! limits are not applied. glibc's select() is the pselect6 system call and
//! is recorded as pselect; send and recv are sendto and recvfrom. A poll
//! whose array holds no socket is resumed at its entry, so its failures are
//! not recorded. A clone sharing the descriptor table without sharing the
//! thread group (`CLONE_FILES` alone) gets a copy of the socket set.

mod actions;
pub mod attach;
pub mod calls;
pub mod filter;
pub mod image;
mod mem;
pub mod modules;
mod serve;
mod sink;
mod stack;
mod tracer;

pub use serve::{serve, HandoverTracer};

use sock_trace_event::Shm;
use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The system calls the filter stops at for capture settings `opts`:
/// read/write/readv/writev only when one of them is recorded (they are the
/// costly ones: every file read would stop).
fn traced_numbers(shm: &Shm) -> Vec<i64> {
    use sock_trace_event::ring::RULE_SETS_FUNCTIONS;
    use sock_trace_event::Func;
    let base = shm.header().capture.get();
    let rules = shm.rules();
    let any_rule = rules
        .as_slice()
        .iter()
        .any(|r| r.sets & RULE_SETS_FUNCTIONS != 0);
    calls::TRACED
        .iter()
        .filter(|(_, f)| match f {
            Func::Read | Func::Write | Func::Readv | Func::Writev => {
                any_rule || base.enabled.contains(*f)
            }
            _ => true,
        })
        .map(|(n, _)| *n)
        .collect()
}

/// Why the program could not be started (the launcher's 126/127).
#[derive(Debug)]
pub struct NotStarted {
    /// 127 when the program does not exist, 126 otherwise.
    pub code: i32,
    pub error: io::Error,
}

impl std::fmt::Display for NotStarted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.error)
    }
}

impl std::error::Error for NotStarted {}

/// `program` as execvp would find it.
fn resolve(program: &OsStr) -> Option<PathBuf> {
    let p = Path::new(program);
    if program.as_bytes().contains(&b'/') {
        return Some(p.to_path_buf());
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
    std::env::split_paths(&path).map(|d| d.join(p)).find(|c| {
        use std::os::unix::fs::PermissionsExt;
        c.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// Runs `argv` under the system-call backend, writing its records into the
/// trace area `shm` (capture settings and per-program rules are read from
/// its header, as the preload library reads them). `poll` is called on the
/// calling thread about every millisecond while the program runs: the
/// launcher drains the rings there (`Collector::poll`, `reclaim`). Returns
/// the program's wait status once every traced process has exited; the
/// caller then drains the rest (`Collector::finish`).
///
/// The tracer thread waits for all children of this process (`waitpid(-1)`):
/// the caller must not start or reap other children meanwhile.
pub fn run(argv: &[OsString], shm: &Shm, poll: impl FnMut()) -> Result<i32, NotStarted> {
    run_with(argv, shm, &RunOptions::default(), poll)
}

/// How [`run_with`] starts the program.
#[derive(Default)]
pub struct RunOptions<'a> {
    /// Put the program in a process group of its own (the launcher does so
    /// outside a terminal's foreground, and then forwards signals to it).
    pub own_process_group: bool,
    /// Called (on the tracer thread) with the program's pid once it is
    /// traced, before it execs: the launcher's signal forwarding needs it.
    pub started: Option<&'a (dyn Fn(u32) + Sync)>,
}

/// [`run`] with [`RunOptions`].
pub fn run_with(
    argv: &[OsString],
    shm: &Shm,
    options: &RunOptions<'_>,
    mut poll: impl FnMut(),
) -> Result<i32, NotStarted> {
    let Some(program) = argv.first() else {
        return Err(NotStarted {
            code: 127,
            error: io::Error::new(io::ErrorKind::InvalidInput, "no command given"),
        });
    };
    let not_found = || NotStarted {
        code: 127,
        error: io::Error::new(
            io::ErrorKind::NotFound,
            format!("{}: command not found", program.to_string_lossy()),
        ),
    };
    let path = resolve(program).ok_or_else(not_found)?;
    let cstr = |s: &[u8]| {
        CString::new(s).map_err(|_| NotStarted {
            code: 126,
            error: io::Error::new(io::ErrorKind::InvalidInput, "argument with a NUL byte"),
        })
    };
    let cpath = cstr(path.as_os_str().as_bytes())?;
    let cargs: Vec<CString> = argv
        .iter()
        .map(|a| cstr(a.as_bytes()))
        .collect::<Result<_, _>>()?;
    let filter = filter::program(&traced_numbers(shm));
    let shm = *shm;
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let tracer = std::thread::Builder::new()
            .name("sock-trace-ptrace".into())
            .spawn_scoped(s, || {
                let r = spawn_and_trace(&cpath, &cargs, &filter, shm, options);
                done.store(true, std::sync::atomic::Ordering::Release);
                r
            })
            .map_err(|e| NotStarted {
                code: 126,
                error: e,
            })?;
        while !done.load(std::sync::atomic::Ordering::Acquire) {
            poll();
            std::thread::sleep(std::time::Duration::from_micros(500));
        }
        poll();
        match tracer.join() {
            Ok(r) => r,
            Err(_) => Err(NotStarted {
                code: 126,
                error: io::Error::other("the tracer thread panicked"),
            }),
        }
    })
}

fn spawn_and_trace(
    path: &CString,
    args: &[CString],
    filter: &[libc::sock_filter],
    shm: Shm,
    options: &RunOptions<'_>,
) -> Result<i32, NotStarted> {
    let own_group = options.own_process_group;
    let fail = |code: i32, error: io::Error| NotStarted { code, error };
    let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    argv.push(core::ptr::null());
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr() as *mut libc::sock_filter,
    };
    // The child reports a failed exec's errno through this pipe.
    let mut pipe = [0i32; 2];
    // SAFETY: valid out-array.
    if unsafe { libc::pipe2(pipe.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(fail(126, io::Error::last_os_error()));
    }
    // SAFETY: between fork and exec the child makes only async-signal-safe
    // system calls on memory prepared before the fork.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        let e = io::Error::last_os_error();
        // SAFETY: our descriptors.
        unsafe {
            libc::close(pipe[0]);
            libc::close(pipe[1]);
        }
        return Err(fail(126, e));
    }
    if pid == 0 {
        // SAFETY: the child; see above.
        unsafe {
            libc::close(pipe[0]);
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
            if own_group {
                libc::setpgid(0, 0);
            }
            let mut ok = libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0;
            ok = ok
                && libc::prctl(
                    libc::PR_SET_SECCOMP,
                    libc::SECCOMP_MODE_FILTER,
                    &prog as *const libc::sock_fprog,
                ) == 0;
            if ok {
                libc::kill(libc::getpid(), libc::SIGSTOP);
                libc::execve(path.as_ptr(), argv.as_ptr(), environ_ptr());
            }
            let e: i32 = *libc::__errno_location();
            libc::write(pipe[1], &e as *const i32 as *const libc::c_void, 4);
            libc::_exit(127);
        }
    }
    // SAFETY: our descriptor.
    unsafe { libc::close(pipe[1]) };
    let mut st = 0;
    // SAFETY: valid out-pointer; waits for the child's SIGSTOP.
    let r = unsafe { libc::waitpid(pid, &mut st, libc::WUNTRACED) };
    if r != pid || !libc::WIFSTOPPED(st) {
        let e = read_exec_error(pipe[0]);
        // SAFETY: our descriptor.
        unsafe { libc::close(pipe[0]) };
        return Err(fail(
            126,
            e.unwrap_or_else(|| io::Error::other("the child did not start")),
        ));
    }
    // SAFETY: plain ptrace requests on our stopped child.
    let seized = unsafe { libc::ptrace(libc::PTRACE_SEIZE, pid, 0usize, SEIZE_OPTIONS as usize) };
    if seized != 0 {
        let e = io::Error::last_os_error();
        // SAFETY: our child; it must not run untraced with the filter.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, &mut st, 0);
            libc::close(pipe[0]);
        }
        return Err(fail(
            126,
            io::Error::new(e.kind(), format!("ptrace is not allowed here: {e}")),
        ));
    }
    if let Some(f) = options.started {
        f(pid as u32);
    }
    // SAFETY: plain kill on our child.
    unsafe { libc::kill(pid, libc::SIGCONT) };
    let tracer = tracer::Tracer::new(sink::Sink::new(shm), pid as u32);
    let status = tracer.run();
    let exec_error = read_exec_error(pipe[0]);
    // SAFETY: our descriptor.
    unsafe { libc::close(pipe[0]) };
    if let Some(e) = exec_error {
        let code = if e.raw_os_error() == Some(libc::ENOENT) {
            127
        } else {
            126
        };
        return Err(fail(code, e));
    }
    Ok(status.unwrap_or(0))
}

/// How the tracer seizes a program it puts under the filter: its children
/// follow, the seccomp stops come through, and it dies with the tracer
/// (without one, its traced calls would fail with ENOSYS).
pub(crate) const SEIZE_OPTIONS: libc::c_int = libc::PTRACE_O_TRACESECCOMP
    | libc::PTRACE_O_TRACESYSGOOD
    | libc::PTRACE_O_TRACEFORK
    | libc::PTRACE_O_TRACEVFORK
    | libc::PTRACE_O_TRACECLONE
    | libc::PTRACE_O_TRACEEXEC
    | libc::PTRACE_O_EXITKILL;

fn read_exec_error(fd: i32) -> Option<io::Error> {
    let mut e = 0i32;
    // SAFETY: reads 4 bytes into `e`.
    let n = unsafe { libc::read(fd, &mut e as *mut i32 as *mut libc::c_void, 4) };
    (n == 4).then(|| io::Error::from_raw_os_error(e))
}

fn environ_ptr() -> *const *const libc::c_char {
    extern "C" {
        static environ: *const *const libc::c_char;
    }
    // SAFETY: reading the process's environment pointer.
    unsafe { environ }
}

/// The shell's convention for a wait status: the exit code, or 128 plus
/// the signal that killed the program.
pub fn exit_code(status: i32) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        1
    }
}
