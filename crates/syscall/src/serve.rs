//! One process tree, two backends: while the launcher traces a program
//! with the preload library (`--backend auto`), a tracer *process* serves
//! hand-overs, so that a process which execs a Go, static or musl program
//! stays in the trace under the system-call backend. The protocol between
//! the library and the tracer is `sock_trace_event::handover`'s; this
//! module is the tracer's side ([`serve`]) and the launcher's handle on it
//! ([`HandoverTracer`]).
//!
//! Processes the preload library traces are never ptraced: only a process
//! that asks is seized, just before its exec. Its descendants stay traced
//! (they inherit the filter); those that exec a glibc program with the
//! library preloaded are left to the library (their stops resume at once).
//!
//! # Why a process of its own
//!
//! A tracer thread inside the launcher would share its thread group with
//! the real parent of the program it started; the kernel then lets the
//! parent's `waitpid` take the tracee's ptrace stops ("pretend ptrace"), so
//! the launcher's reaping would steal them. A separate process (the
//! launcher's own executable, `sock-trace __handover`) has no such tie, and
//! it is started detached (the launcher does not wait for it as one of the
//! program's processes). Under Yama's `ptrace_scope` 1 a requester allows
//! it with `PR_SET_PTRACER`.
//!
//! # Waking the tracer
//!
//! The tracer blocks in `waitpid` on its tracees; a request comes from a
//! process it does not trace yet. So it keeps a *doorbell*: a child process
//! blocked reading a pipe whose write end the launcher holds, which stops
//! itself with SIGSTOP for each byte. The launcher's collector loop, which
//! sees a pending request in its next poll, writes a byte
//! ([`HandoverTracer::poll`]); the doorbell's stop ends the tracer's
//! `waitpid`. When the launcher goes away the pipe closes, the doorbell
//! exits, and the tracer stops serving.

use crate::sink::Sink;
use crate::tracer::Tracer;
use sock_trace_event::Shm;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How long a stopping tracer waits for its last tracees' exits before it
/// detaches what is left.
const GRACE: Duration = Duration::from_secs(2);
/// How long the launcher waits for the tracer to start, and to finish.
const START_WAIT: Duration = Duration::from_secs(5);

/// The tracer's view of its serving role.
pub(crate) struct Serve {
    doorbell: u32,
    shm: Shm,
    library: Vec<u8>,
    stop_seen: Option<Instant>,
}

impl Serve {
    pub(crate) fn is_doorbell(&self, tid: u32) -> bool {
        tid == self.doorbell
    }

    /// The doorbell stopped (a byte was read): let it wait for the next.
    /// It ended: the launcher is gone.
    pub(crate) fn doorbell_rang(&mut self, status: i32) {
        if libc::WIFSTOPPED(status) {
            // SAFETY: our own child.
            unsafe { libc::kill(self.doorbell as i32, libc::SIGCONT) };
        } else {
            self.doorbell = 0;
        }
    }

    pub(crate) fn stopping(&self) -> bool {
        self.doorbell == 0 || self.shm.header().handover.stop_asked()
    }

    pub(crate) fn grace_over(&mut self) -> bool {
        self.stop_seen.get_or_insert_with(Instant::now).elapsed() >= GRACE
    }

    /// The preload library's path, as `LD_PRELOAD` names it.
    pub(crate) fn library(&self) -> &[u8] {
        &self.library
    }
}

/// `PTRACE_SEIZE` of a requester, as `run` seizes its program.
pub(crate) fn seize(tid: u32) -> bool {
    let opts = crate::SEIZE_OPTIONS as usize;
    // SAFETY: plain ptrace request; the kernel checks permission.
    let r = unsafe { libc::ptrace(libc::PTRACE_SEIZE, tid as i32, 0usize, opts) };
    if r != 0 {
        static SAID: AtomicBool = AtomicBool::new(false);
        if !SAID.swap(true, Ordering::Relaxed) {
            eprintln!(
                "sock-trace: cannot hand process {tid} to the system-call backend: ptrace: {} \
                 (it runs untraced; see /proc/sys/kernel/yama/ptrace_scope)",
                io::Error::last_os_error()
            );
        }
    }
    r == 0
}

/// Wakes the requester waiting on a slot's state word (a shared futex).
pub(crate) fn wake(word: &AtomicU32) {
    // SAFETY: the word lies in the mapped area.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word as *const AtomicU32,
            libc::FUTEX_WAKE,
            i32::MAX,
        )
    };
}

/// Serves hand-overs in the trace area `shm` for processes that preload
/// `library`, until the launcher asks it to stop (or goes away): the body
/// of `sock-trace __handover`. `bell` is the read end of the doorbell pipe.
pub fn serve(shm: Shm, library: &[u8], bell: RawFd) -> io::Result<()> {
    let program = crate::filter::program(&crate::traced_numbers(&shm));
    let words: Vec<(u16, u8, u8, u32)> =
        program.iter().map(|i| (i.code, i.jt, i.jf, i.k)).collect();
    let h = &shm.header().handover;
    if !h.set_filter(&words) {
        return Err(io::Error::other(
            "the seccomp program does not fit the area",
        ));
    }
    let doorbell = spawn_doorbell(bell)?;
    // SAFETY: our descriptor, no longer needed here (the doorbell has it).
    unsafe { libc::close(bell) };
    h.enable(std::process::id());
    let serve = Serve {
        doorbell,
        shm,
        library: library.to_vec(),
        stop_seen: None,
    };
    Tracer::serving(Sink::new(shm), serve).run();
    // SAFETY: our child, reaped here.
    unsafe {
        libc::kill(doorbell as i32, libc::SIGKILL);
        libc::waitpid(doorbell as i32, std::ptr::null_mut(), 0);
    }
    h.disable();
    Ok(())
}

/// The launcher's handle on the tracer process.
pub struct HandoverTracer {
    shm: Shm,
    bell: OwnedFd,
}

impl HandoverTracer {
    /// Starts `exe __handover` (this program) detached, serving the trace
    /// area `shm` (named `area_path` for the new process) for processes
    /// that preload `library`, and waits until it serves. `shm` must stay
    /// mapped until this value is dropped.
    pub fn start(
        exe: &Path,
        shm: Shm,
        area_path: &Path,
        library: &Path,
    ) -> io::Result<HandoverTracer> {
        use std::os::unix::process::CommandExt;
        let mut fds = [0i32; 2];
        // SAFETY: valid out-array.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fresh descriptors, owned from here on.
        let (read_end, bell) =
            unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // SAFETY: plain fcntl on our descriptor: a full pipe has rung already.
        unsafe { libc::fcntl(bell.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) };
        let read_fd = read_end.as_raw_fd();
        let mut cmd = std::process::Command::new(exe);
        cmd.arg("__handover")
            .arg("--bell-fd")
            .arg(read_fd.to_string())
            .arg("--library")
            .arg(library)
            .env(sock_trace_event::ENV_SHM, area_path)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null());
        // SAFETY: only async-signal-safe calls between fork and exec: the
        // read end stays open across the exec; a session of its own keeps
        // the terminal's signals (Ctrl-C) for the program.
        unsafe {
            cmd.pre_exec(move || {
                libc::fcntl(read_fd, libc::F_SETFD, 0);
                libc::setsid();
                Ok(())
            });
        }
        // The tracer forks and its first process exits at once: the
        // launcher does not wait for it among the program's processes.
        let status = cmd.status()?;
        drop(read_end);
        if !status.success() {
            return Err(io::Error::other(format!(
                "the hand-over tracer failed to start ({status})"
            )));
        }
        let h = &shm.header().handover;
        let deadline = Instant::now() + START_WAIT;
        while !h.enabled() {
            if Instant::now() >= deadline {
                return Err(io::Error::other("the hand-over tracer did not start"));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(HandoverTracer { shm, bell })
    }

    /// Called from the collector's loop: rings when a request waits.
    pub fn poll(&self) {
        if self.shm.header().handover.pending() {
            self.ring();
        }
    }

    fn ring(&self) {
        // SAFETY: one byte from our buffer into our pipe; a full pipe
        // (EAGAIN) has rung already.
        unsafe {
            libc::write(
                self.bell.as_raw_fd(),
                b"!".as_ptr() as *const libc::c_void,
                1,
            )
        };
    }

    /// Asks the tracer to stop once its traced processes are gone, and
    /// waits until it has (its last records are then in the area), as
    /// dropping does.
    pub fn finish(self) {}
}

impl Drop for HandoverTracer {
    fn drop(&mut self) {
        let h = &self.shm.header().handover;
        h.ask_stop();
        self.ring();
        let deadline = Instant::now() + GRACE + START_WAIT;
        while h.enabled() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// Forks the doorbell: it reads one byte at a time from `bell` and stops
/// itself after each; it ends when the pipe's write end closes (the
/// launcher is gone) or this process does.
fn spawn_doorbell(bell: RawFd) -> io::Result<u32> {
    // SAFETY: this process is single-threaded here; the child runs only
    // raw system calls.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        // SAFETY: the child: raw system calls only, then _exit.
        unsafe {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            let mut b = 0u8;
            loop {
                let n = libc::read(bell, &mut b as *mut u8 as *mut libc::c_void, 1);
                if n == 0 || (n < 0 && *libc::__errno_location() != libc::EINTR) {
                    libc::_exit(0);
                }
                if n == 1 {
                    libc::kill(libc::getpid(), libc::SIGSTOP);
                }
            }
        }
    }
    Ok(pid as u32)
}
