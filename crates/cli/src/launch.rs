//! `sock-trace run`: start the program with the library preloaded, collect
//! its events (and those of every descendant) until the whole process tree
//! is gone, and exit with the program's status.

use anyhow::{bail, Result};
use sock_trace_collect::{collect_until, Collector, Watch};
use sock_trace_syscall::image::ImageKind;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};

/// The direct child, for the signal handler.
static CHILD: AtomicI32 = AtomicI32::new(0);
/// The program's own process group when it has one (not in a terminal's
/// foreground), else 0.
static CHILD_GROUP: AtomicI32 = AtomicI32::new(0);
/// Whether the program shares our process group in a terminal's
/// foreground: then keyboard signals (SI_KERNEL) reach it directly.
static SHARES_TERMINAL_GROUP: AtomicBool = AtomicBool::new(false);
/// Signals that arrived before the program's pid was known (bit N: signal
/// N); the main loop delivers them.
static PENDING: AtomicU64 = AtomicU64::new(0);

/// Sends `sig` to the program (its group when it has its own). False when
/// there is no program yet.
fn deliver(sig: libc::c_int) -> bool {
    let group = CHILD_GROUP.load(Ordering::Relaxed);
    let child = CHILD.load(Ordering::Relaxed);
    // SAFETY: kill is async-signal-safe.
    unsafe {
        if group > 0 {
            // The program is alone in its group, so nothing that signalled
            // us (a group kill included) reached it: deliver once, to the
            // group, as a group kill of the untraced program would.
            libc::kill(-group, sig);
        } else if child > 0 {
            libc::kill(child, sig);
        } else {
            return false;
        }
    }
    true
}

/// Delivers what arrived while the program was being started.
fn deliver_pending() {
    let bits = PENDING.swap(0, Ordering::Relaxed);
    for sig in 1..64 {
        if bits & (1u64 << sig) != 0 {
            deliver(sig);
        }
    }
}

extern "C" fn forward_signal(sig: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo with SA_SIGINFO.
    let from_kernel = !info.is_null() && unsafe { (*info).si_code } == libc::SI_KERNEL;
    if from_kernel && SHARES_TERMINAL_GROUP.load(Ordering::Relaxed) {
        // The terminal sent it to the whole foreground group, the program
        // included: forwarding would deliver it twice.
        return;
    }
    if !deliver(sig) && (1..64).contains(&sig) {
        // Between fork and the pid's publication: the program may already
        // run its handlers, so this must not be dropped.
        PENDING.fetch_or(1u64 << sig, Ordering::Relaxed);
    }
}

/// Every signal a launcher may receive from outside and the program
/// should get instead: all catchable ones except those about our own
/// faults (SEGV, BUS, ...), child status (CHLD) and job control (TSTP,
/// TTIN, TTOU, CONT), which keep their default meaning for the launcher.
fn forwarded_signals() -> Vec<libc::c_int> {
    let mut v = vec![
        libc::SIGHUP,
        libc::SIGINT,
        libc::SIGQUIT,
        libc::SIGTERM,
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGALRM,
        libc::SIGWINCH,
        libc::SIGURG,
        libc::SIGXCPU,
        libc::SIGXFSZ,
        libc::SIGVTALRM,
        libc::SIGPROF,
        libc::SIGIO,
        libc::SIGPWR,
        libc::SIGSTKFLT,
    ];
    v.extend(libc::SIGRTMIN()..=libc::SIGRTMAX());
    v
}

fn install_forwarding() {
    for sig in forwarded_signals() {
        // SAFETY: a valid handler with SA_SIGINFO; the struct is zeroed.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = forward_signal as *const () as usize;
            sa.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

/// Whether we run in the foreground process group of our controlling
/// terminal (an interactive shell's job).
fn in_terminal_foreground() -> bool {
    // SAFETY: plain open/tcgetpgrp/close on a fresh descriptor.
    unsafe {
        let fd = libc::open(
            c"/dev/tty".as_ptr(),
            libc::O_RDONLY | libc::O_NOCTTY | libc::O_CLOEXEC,
        );
        if fd < 0 {
            return false;
        }
        let fg = libc::tcgetpgrp(fd);
        libc::close(fd);
        fg > 0 && fg == libc::getpgrp()
    }
}

/// The program could not be started: the shell's convention (127: not
/// found, 126: found but not runnable), with the reason.
#[derive(Debug)]
pub struct NotStarted {
    pub code: i32,
    pub message: String,
}

impl std::fmt::Display for NotStarted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for NotStarted {}

/// Why a program may escape the tracer, found before running it.
pub fn untraceable_reason(program: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(program).ok()?;
    // SAFETY: geteuid cannot fail.
    let euid = unsafe { libc::geteuid() };
    if meta.mode() & 0o4000 != 0 && meta.uid() != euid {
        return Some(format!(
            "{} is setuid: the dynamic loader ignores LD_PRELOAD for it, so it runs untraced",
            program.display()
        ));
    }
    if meta.mode() & 0o2000 != 0 {
        // SAFETY: getegid cannot fail.
        let egid = unsafe { libc::getegid() };
        if meta.gid() != egid {
            return Some(format!(
                "{} is setgid: the dynamic loader ignores LD_PRELOAD for it, so it runs untraced",
                program.display()
            ));
        }
    }
    let facts = ProgramFacts::of(program)?;
    match (facts.loader, facts.go) {
        (false, true) => Some(format!(
            "{} is a statically linked Go program: Go makes its own system calls and there is no \
             dynamic loader, so LD_PRELOAD cannot reach it and it runs untraced",
            program.display()
        )),
        (false, false) => Some(format!(
            "{} is statically linked (no dynamic loader): LD_PRELOAD cannot reach it, so it runs untraced",
            program.display()
        )),
        (true, true) => Some(format!(
            "{} is a Go program: Go makes its own system calls instead of calling the C library, so \
             only what it does through libc (cgo name resolution) can be traced; its sockets are not seen",
            program.display()
        )),
        _ => None,
    }
}

/// Whether an ELF file was built by the Go toolchain: it carries the
/// build-info blob (`.go.buildinfo`, which starts with this magic) or a Go
/// build-id note.
pub fn is_go_binary(bytes: &[u8]) -> bool {
    const BUILDINFO_MAGIC: &[u8] = b"\xff Go buildinf:";
    const GO_NOTE: &[u8] = b".note.go.buildid";
    let find = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    bytes.starts_with(b"\x7fELF") && (find(BUILDINFO_MAGIC) || find(GO_NOTE))
}

/// What the launcher reads of a program file to pick a backend.
struct ProgramFacts {
    kind: ImageKind,
    /// Built by Go: its build-id note, or (for binaries without one) the
    /// build-info blob anywhere in the file.
    go: bool,
    /// It has a dynamic loader (PT_INTERP).
    loader: bool,
}

impl ProgramFacts {
    /// `None` when the file cannot be read or is not a 64-bit ELF program.
    fn of(path: &Path) -> Option<ProgramFacts> {
        let kind = sock_trace_syscall::image::kind(path.as_os_str().as_bytes())?;
        let go = matches!(kind, ImageKind::Go { .. }) || is_go_binary(&std::fs::read(path).ok()?);
        let loader = !matches!(kind, ImageKind::Static | ImageKind::Go { loader: false });
        Some(ProgramFacts { kind, go, loader })
    }
}

/// Finds `name` like execvp does.
pub fn resolve_program(name: &OsStr) -> Option<PathBuf> {
    if name.as_bytes().contains(&b'/') {
        return Some(PathBuf::from(name));
    }
    let path =
        std::env::var_os("PATH").unwrap_or_else(|| OsString::from("/usr/local/bin:/usr/bin:/bin"));
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// LD_PRELOAD with our library first and whatever was there kept.
fn preload_value(lib: &Path) -> OsString {
    let mut v = OsString::from(lib.as_os_str());
    if let Some(old) = std::env::var_os("LD_PRELOAD").filter(|s| !s.is_empty()) {
        v.push(":");
        v.push(old);
    }
    v
}

pub struct RunPlan<'a> {
    pub argv: &'a [OsString],
    pub library: PathBuf,
    /// Trace (and wait for) descendants too.
    pub follow: bool,
    pub backend: BackendChoice,
}

/// `--backend`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendChoice {
    /// The preload library for programs that call the C library
    /// dynamically; the system-call backend for static and Go programs.
    Auto,
    Preload,
    Syscall,
}

/// What `--backend auto` (or the user) chose for a program, and why.
fn choose_backend(path: &Path, asked: BackendChoice) -> (BackendChoice, Option<String>) {
    let why = untraceable_reason(path);
    match asked {
        BackendChoice::Preload => (BackendChoice::Preload, why.map(|w| format!("warning: {w}"))),
        BackendChoice::Syscall => (BackendChoice::Syscall, None),
        BackendChoice::Auto => {
            let Some(facts) = ProgramFacts::of(path) else {
                return (BackendChoice::Preload, why.map(|w| format!("warning: {w}")));
            };
            let (static_elf, go) = (!facts.loader, facts.go);
            let musl = facts.kind == ImageKind::Musl;
            let what = match (static_elf, go, musl) {
                (true, true, _) => "is a statically linked Go program",
                (true, false, _) => "is statically linked (no dynamic loader)",
                (false, true, _) => "is a Go program: Go makes its own system calls",
                (false, false, true) => {
                    "is linked against musl (its loader cannot load the glibc preload library)"
                }
                (false, false, false) => {
                    return (BackendChoice::Preload, why.map(|w| format!("warning: {w}")))
                }
            };
            let note = format!(
                "{} {what}; traced at the system-call boundary (--backend syscall)",
                path.display()
            );
            (BackendChoice::Syscall, Some(note))
        }
    }
}

/// Runs the program and collects until its process tree is gone. Returns
/// the program's wait status.
pub fn run(plan: RunPlan<'_>, collector: &mut Collector<'_>) -> Result<i32> {
    let Some((program, args)) = plan.argv.split_first() else {
        bail!("no command given: sock-trace run [OPTIONS] -- CMD [ARGS...]");
    };
    let name = program.to_string_lossy();
    match resolve_program(program) {
        Some(path) => {
            if path.is_dir() {
                return Err(NotStarted {
                    code: 126,
                    message: format!("{name}: is a directory"),
                }
                .into());
            }
            let (backend, note) = choose_backend(&path, plan.backend);
            if let Some(note) = note {
                eprintln!("sock-trace: {note}");
            }
            if backend == BackendChoice::Syscall {
                return run_syscall(plan.argv, collector);
            }
        }
        None => {
            return Err(NotStarted {
                code: 127,
                message: format!("{name}: command not found"),
            }
            .into())
        }
    }
    let follow = plan.follow;
    // With `--backend auto`, a process of the tree that execs a Go, static
    // or musl program is handed to the system-call backend. Started before
    // we become a subreaper: it is not one of the program's processes.
    let handover = if follow && plan.backend == BackendChoice::Auto {
        // SAFETY: the tracer process is told to stop and waited for when
        // `handover` is dropped, within this function, while `collector`
        // (and its area) outlives it.
        let shm = unsafe { *collector.area().shm_unchecked() };
        let started = std::env::current_exe().and_then(|exe| {
            sock_trace_syscall::HandoverTracer::start(
                &exe,
                shm,
                collector.area().path(),
                &plan.library,
            )
        });
        match started {
            Ok(h) => Some(h),
            Err(e) => {
                eprintln!(
                    "sock-trace: warning: Go, static and musl programs this one starts will run untraced: {e}"
                );
                None
            }
        }
    } else {
        None
    };
    if follow {
        // Orphaned grandchildren become ours, so that we can tell when the
        // whole tree has exited and so that they are reaped.
        // SAFETY: plain prctl.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    }
    // In a terminal's foreground the program stays in our group, so that
    // keyboard signals and job control reach it as they would untraced.
    // Anywhere else (pipelines, timeout, CI runners, services) it gets its
    // own group: a signal sent to our group then reaches only us, and we
    // deliver it once.
    let foreground = in_terminal_foreground();
    SHARES_TERMINAL_GROUP.store(foreground, Ordering::Relaxed);
    install_forwarding();
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env("LD_PRELOAD", preload_value(&plan.library))
        .env(sock_trace_event::ENV_SHM, collector.area().path());
    if !foreground {
        cmd.process_group(0);
    }
    let reset: Vec<libc::c_int> = forwarded_signals();
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            // Handlers are reset by exec, but ignored signals would stay
            // ignored: give the program the defaults it would have had.
            for &sig in reset.iter().chain(&[libc::SIGPIPE]) {
                libc::signal(sig, libc::SIG_DFL);
            }
            Ok(())
        });
    }
    let child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let code = match e.raw_os_error() {
                Some(libc::ENOENT) => 127,
                _ => 126,
            };
            return Err(NotStarted {
                code,
                message: format!("{name}: {e}"),
            }
            .into());
        }
    };
    let child_pid = child.id() as i32;
    CHILD.store(child_pid, Ordering::Relaxed);
    if !foreground {
        CHILD_GROUP.store(child_pid, Ordering::Relaxed);
    }
    deliver_pending();
    // std's Child would reap on wait(); we reap with waitpid ourselves.
    std::mem::forget(child);

    let status = collect_until(
        collector,
        &mut Reaper {
            child_pid,
            follow,
            status: None,
            handover: handover.as_ref(),
        },
    );
    if let Some(h) = handover {
        h.finish();
    }
    collector.finish();
    Ok(status)
}

/// Runs the program under the system-call backend, whose tracer thread
/// writes into the collector's trace area while this thread keeps
/// collecting. The tracer waits for every descendant (they stay traced:
/// an untraced one would meet the inherited seccomp filter), so
/// `--no-follow` has no effect here.
fn run_syscall(argv: &[OsString], collector: &mut Collector<'_>) -> Result<i32> {
    let foreground = in_terminal_foreground();
    SHARES_TERMINAL_GROUP.store(foreground, Ordering::Relaxed);
    install_forwarding();
    let started = |pid: u32| {
        CHILD.store(pid as i32, Ordering::Relaxed);
        if !foreground {
            CHILD_GROUP.store(pid as i32, Ordering::Relaxed);
        }
    };
    let options = sock_trace_syscall::RunOptions {
        own_process_group: !foreground,
        started: Some(&started),
    };
    let status = collector.with_producer(|shm, poll| {
        sock_trace_syscall::run_with(argv, shm, &options, || {
            deliver_pending();
            poll();
        })
    });
    CHILD.store(0, Ordering::Relaxed);
    let status = status.map_err(|e| NotStarted {
        code: e.code,
        message: e.error.to_string(),
    })?;
    collector.finish();
    Ok(status)
}

/// The launcher's watch: signals that arrived while the program started
/// are delivered, exited processes reaped; the trace is over when the
/// program has exited (with `--no-follow`) or the whole tree has.
struct Reaper<'h> {
    child_pid: i32,
    follow: bool,
    /// The program's wait status, once reaped.
    status: Option<i32>,
    /// The tracer thread that takes hand-overs, told of waiting requests.
    handover: Option<&'h sock_trace_syscall::HandoverTracer>,
}

impl Watch for Reaper<'_> {
    /// The program's wait status.
    type Done = i32;
    const CHECK_EVERY: std::time::Duration = std::time::Duration::from_millis(100);
    const QUICK_IDLE_PASSES: u32 = 19;

    fn before_poll(&mut self) {
        deliver_pending();
        if let Some(h) = self.handover {
            h.poll();
        }
    }

    /// Reaps everything that has exited.
    fn after_poll(&mut self, _: &mut Collector<'_>) -> Option<i32> {
        loop {
            let mut st = 0;
            // SAFETY: valid out-pointer.
            let pid = unsafe { libc::waitpid(-1, &mut st, libc::WNOHANG | libc::__WALL) };
            if pid > 0 {
                if pid == self.child_pid {
                    self.status = Some(st);
                    CHILD.store(0, Ordering::Relaxed);
                    if !self.follow {
                        // Untraced descendants are not ours to wait for.
                        return Some(st);
                    }
                }
                continue;
            }
            if pid < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ECHILD) {
                // Nobody left: drain what they wrote and stop.
                return Some(self.status.unwrap_or(0));
            }
            return None;
        }
    }
}

/// How the program ended, in words: `exited with 3`, `killed by SIGSEGV
/// (core dumped)`.
pub fn describe_status(status: i32) -> String {
    if libc::WIFEXITED(status) {
        format!("exited with {}", libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        let sig = libc::WTERMSIG(status);
        const NAMES: [&str; 32] = [
            "",
            "SIGHUP",
            "SIGINT",
            "SIGQUIT",
            "SIGILL",
            "SIGTRAP",
            "SIGABRT",
            "SIGBUS",
            "SIGFPE",
            "SIGKILL",
            "SIGUSR1",
            "SIGSEGV",
            "SIGUSR2",
            "SIGPIPE",
            "SIGALRM",
            "SIGTERM",
            "SIGSTKFLT",
            "SIGCHLD",
            "SIGCONT",
            "SIGSTOP",
            "SIGTSTP",
            "SIGTTIN",
            "SIGTTOU",
            "SIGURG",
            "SIGXCPU",
            "SIGXFSZ",
            "SIGVTALRM",
            "SIGPROF",
            "SIGWINCH",
            "SIGIO",
            "SIGPWR",
            "SIGSYS",
        ];
        let name = match NAMES.get(sig as usize) {
            Some(n) if !n.is_empty() => n.to_string(),
            _ => format!("signal {sig}"),
        };
        let core = if libc::WCOREDUMP(status) {
            " (core dumped)"
        } else {
            ""
        };
        format!("killed by {name}{core}")
    } else {
        format!("ended with wait status {status:#x}")
    }
}

/// The shell's exit code for a wait status (`128 + N` for signal N).
pub use sock_trace_syscall::exit_code;
