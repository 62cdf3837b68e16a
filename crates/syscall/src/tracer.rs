//! The ptrace loop: one thread that started the program and sees every stop
//! of every traced thread.

use crate::actions::{self, ProcRules};
use crate::calls::{self, Entry, Fds};
use crate::mem;
use crate::modules::Modules;
use crate::sink::Sink;
use sock_trace_event::platform::{self, Backend, Platform};
use sock_trace_event::ring::ActionRule;
use sock_trace_event::ring::{options_for, CaptureOptions, CAPTURE_ADDRESSES, CAPTURE_DISABLED};
use sock_trace_event::{role, Func, RecordWriter, Tag};
use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap, HashSet};

const PTRACE_EVENT_STOP: i32 = 128;
/// Kernel-internal results a tracer sees when a signal interrupts a call
/// that the kernel restarts (or turns into EINTR after a handler).
const ERESTARTSYS: i64 = 512;
const ERESTARTNOINTR: i64 = 513;
const ERESTARTNOHAND: i64 = 514;
const ERESTART_RESTARTBLOCK: i64 = 516;

/// CLOCK_MONOTONIC nanoseconds.
pub fn now() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// A traced process (thread group).
#[derive(Clone, Default)]
struct Proc {
    /// Descriptors known to be sockets: copied at fork, rebuilt from /proc
    /// at exec (close-on-exec ones are gone then, inherited ones appear).
    sockets: BTreeSet<i32>,
    /// epoll instances a socket was added to (their waits are recorded).
    epolls: BTreeSet<i32>,
    opts: CaptureOptions,
    /// Its records are written (a per-program rule may disable it).
    recorded: bool,
    modules: Modules,
    /// Built by the Go toolchain: callers are walked up its stack.
    go: bool,
    /// The delay and fault rules that apply, and their call counts.
    actions: ProcRules,
    /// Serving hand-overs: the preload library records this process (it
    /// was handed over but its exec failed, or it runs a glibc program
    /// under an inherited filter), so its stops are resumed at once.
    by_preload: bool,
    /// Serving hand-overs: the process runs under the seccomp filter.
    filtered: bool,
    /// Serving hand-overs: a static program recorded here until the
    /// preload library starts in it and takes it (see `handover::YIELDED`).
    yielded: bool,
}

impl Fds for Proc {
    fn is_socket(&self, fd: i64) -> bool {
        fd >= 0 && fd <= i32::MAX as i64 && self.sockets.contains(&(fd as i32))
    }

    fn is_socket_epoll(&self, fd: i64) -> bool {
        fd >= 0 && fd <= i32::MAX as i64 && self.epolls.contains(&(fd as i32))
    }
}

#[derive(Default)]
struct Thread {
    tgid: u32,
    /// The call between its seccomp stop and its exit stop.
    pending: Option<Entry>,
    /// A call a signal interrupted with a restart code: completed by its
    /// restart (same call, same arguments), or shown as EINTR when the
    /// thread goes on with something else.
    held: Option<Entry>,
    /// Seen before its parent's fork/clone event: waits for it.
    early: bool,
}

pub struct Tracer {
    sink: Sink,
    procs: HashMap<u32, Proc>,
    threads: HashMap<u32, Thread>,
    /// Children announced by a fork/clone event whose first stop has not
    /// arrived yet.
    expected: HashSet<u32>,
    root: u32,
    root_status: Option<i32>,
    base: CaptureOptions,
    /// The area's delay and fault rules.
    rules: Vec<ActionRule>,
    /// Threads held by a delay: (deadline, tid, ptrace request to resume
    /// with), earliest first.
    timers: BinaryHeap<Reverse<(u64, u32, u32)>>,
    /// Attached to a running process: no seccomp filter, so every system
    /// call stops at entry and exit (`PTRACE_SYSCALL`), and `stop` asks
    /// for a detach.
    attach: Option<&'static std::sync::atomic::AtomicBool>,
    /// Serving hand-overs from the preload library (`--backend auto`).
    serve: Option<crate::serve::Serve>,
}

/// Longest sleep of the tracer loop while a delay holds a thread: how late
/// another thread's stop may be served meanwhile.
const TIMER_POLL: std::time::Duration = std::time::Duration::from_micros(100);

/// How a wait status reads.
fn stopsig(st: i32) -> i32 {
    (st >> 8) & 0xff
}

fn event(st: i32) -> i32 {
    (st >> 16) & 0xffff
}

fn detach(tid: u32, sig: i32) {
    // SAFETY: plain ptrace request on our stopped tracee.
    unsafe { libc::ptrace(libc::PTRACE_DETACH, tid as i32, 0usize, sig as usize) };
}

fn resume(req: libc::c_uint, tid: u32, sig: i32) {
    // SAFETY: plain ptrace request on our tracee; failure (ESRCH: it died)
    // is reported by waitpid.
    unsafe { libc::ptrace(req, tid as i32, 0usize, sig as usize) };
}

impl Tracer {
    pub fn new(sink: Sink, root: u32) -> Tracer {
        let base = sink.shm().header().capture.get();
        let rules = sink.shm().actions().as_slice().to_vec();
        let mut t = Tracer {
            rules,
            timers: BinaryHeap::new(),
            attach: None,
            serve: None,
            sink,
            procs: HashMap::new(),
            threads: HashMap::new(),
            expected: HashSet::new(),
            root,
            root_status: None,
            base,
        };
        t.procs.insert(
            root,
            Proc {
                opts: base,
                recorded: false,
                ..Proc::default()
            },
        );
        t.threads.insert(
            root,
            Thread {
                tgid: root,
                ..Thread::default()
            },
        );
        t
    }

    /// A tracer with no program of its own, serving hand-overs: processes
    /// the preload library hands over before they exec what it cannot
    /// trace (see `serve`).
    pub(crate) fn serving(sink: Sink, serve: crate::serve::Serve) -> Tracer {
        let mut t = Tracer::new(sink, 0);
        t.procs.clear();
        t.threads.clear();
        t.serve = Some(serve);
        t
    }

    /// Runs until no tracee is left (serving: until asked to stop); returns
    /// the root's wait status.
    pub fn run(mut self) -> Option<i32> {
        loop {
            self.fire_timers();
            let mut flags = libc::__WALL;
            if self.serve.is_some() {
                self.take_requests();
                if self.serve_over() {
                    self.detach_all();
                    break;
                }
                // The doorbell's stops too.
                flags |= libc::WUNTRACED;
                if self.serve.as_ref().is_some_and(|s| s.stopping()) {
                    flags |= libc::WNOHANG;
                }
            }
            let mut st = 0;
            if !self.timers.is_empty() {
                flags |= libc::WNOHANG;
            }
            // SAFETY: valid out-pointer.
            let tid = unsafe { libc::waitpid(-1, &mut st, flags) };
            if tid == 0 {
                // Nothing stopped; a held thread is due soon.
                let next = self.timers.peek().map_or(0, |Reverse(t)| t.0);
                let wait = next.saturating_sub(now()).min(TIMER_POLL.as_nanos() as u64);
                std::thread::sleep(std::time::Duration::from_nanos(wait));
                continue;
            }
            if self.detach_asked() {
                self.detach_all();
                break;
            }
            if tid < 0 {
                match std::io::Error::last_os_error().raw_os_error() {
                    Some(libc::EINTR) => continue,
                    _ => break,
                }
            }
            let tid = tid as u32;
            if self.serve.as_ref().is_some_and(|s| s.is_doorbell(tid)) {
                if let Some(s) = self.serve.as_mut() {
                    s.doorbell_rang(st);
                }
                continue;
            }
            if libc::WIFEXITED(st) || libc::WIFSIGNALED(st) {
                self.gone(tid, st);
                continue;
            }
            if !libc::WIFSTOPPED(st) {
                continue;
            }
            self.stopped(tid, st);
        }
        self.sink.release();
        self.root_status
    }

    /// How a thread goes on after a stop: to the next traced system call
    /// (the seccomp filter stops it), or, attached, to the next system
    /// call at all.
    fn cont(&self) -> libc::c_uint {
        if self.attach.is_some() {
            libc::PTRACE_SYSCALL
        } else {
            libc::PTRACE_CONT
        }
    }

    fn detach_asked(&self) -> bool {
        self.attach
            .is_some_and(|s| s.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// A tracer for the running process `pid`, whose threads the caller
    /// (this thread) has seized and interrupted: its start record and
    /// module records are written now.
    pub fn attached(
        sink: Sink,
        pid: u32,
        threads: &[u32],
        stop: &'static std::sync::atomic::AtomicBool,
    ) -> Tracer {
        let mut t = Tracer::new(sink, pid);
        t.attach = Some(stop);
        for &tid in threads {
            t.threads.insert(
                tid,
                Thread {
                    tgid: pid,
                    ..Thread::default()
                },
            );
        }
        t.procs.remove(&pid);
        t.image(pid);
        t
    }

    /// Lets every thread go, unchanged: held ones at once, running ones
    /// after an interrupt stop. A signal that was about to be delivered is
    /// passed on; an interrupted system call restarts.
    fn detach_all(&mut self) {
        let held: Vec<u32> = self.timers.drain().map(|Reverse(t)| t.1).collect();
        for tid in held {
            self.undo_fault(tid, false);
            detach(tid, 0);
            self.threads.remove(&tid);
        }
        let mut left: HashSet<u32> = self.threads.keys().copied().collect();
        for &tid in &left {
            // SAFETY: plain ptrace request on our tracee.
            unsafe { libc::ptrace(libc::PTRACE_INTERRUPT, tid as i32, 0usize, 0usize) };
        }
        let deadline = now() + 2_000_000_000;
        while !left.is_empty() && now() < deadline {
            let mut st = 0;
            // SAFETY: valid out-pointer.
            let tid = unsafe { libc::waitpid(-1, &mut st, libc::__WALL | libc::WNOHANG) };
            if tid == 0 {
                std::thread::sleep(std::time::Duration::from_micros(200));
                continue;
            }
            if tid < 0 {
                break;
            }
            let tid = tid as u32;
            left.remove(&tid);
            if !libc::WIFSTOPPED(st) {
                continue;
            }
            let (sig, ev) = (stopsig(st), event(st));
            if ev == 0 && sig == (libc::SIGTRAP | 0x80) {
                // A system-call stop: a skipped call gets its result.
                let at_exit = mem::syscall_stop_kind(tid) == Some(mem::SyscallStop::Exit);
                self.undo_fault(tid, at_exit);
                detach(tid, 0);
            } else if ev == 0 {
                detach(tid, sig);
            } else {
                detach(tid, 0);
            }
        }
        self.threads.clear();
    }

    /// A thread detached inside a call whose fault was decided: at the
    /// entry the call is put back (it runs), at the exit the injected
    /// result is set.
    fn undo_fault(&mut self, tid: u32, at_exit: bool) {
        let Some(e) = self.threads.get_mut(&tid).and_then(|t| t.pending.take()) else {
            return;
        };
        let (Some((ret, errno)), Some(mut r)) = (e.fail, mem::regs(tid)) else {
            return;
        };
        if at_exit {
            r.rax = (if ret == -1 { -(errno as i64) } else { ret }) as u64;
        } else {
            r.orig_rax = e.nr as u64;
        }
        mem::set_regs(tid, &r);
    }

    /// Resumes the held threads whose delay is over.
    fn fire_timers(&mut self) {
        let t = now();
        while let Some(Reverse((deadline, tid, req))) = self.timers.peek().copied() {
            if deadline > t {
                break;
            }
            self.timers.pop();
            resume(req, tid, 0);
        }
    }

    /// Holds `tid` (stopped) for `ns`, then resumes it with `req`.
    fn hold(&mut self, tid: u32, ns: u64, req: libc::c_uint) {
        self.timers
            .push(Reverse((now().saturating_add(ns), tid, req)));
    }

    fn gone(&mut self, tid: u32, st: i32) {
        self.timers.retain(|Reverse(t)| t.1 != tid);
        if tid == self.root {
            self.root_status = Some(st);
        }
        if let Some(t) = self.threads.remove(&tid) {
            // A call the thread never returned from (killed) is not
            // recorded, as inside the process it never completed either.
            if t.tgid == tid {
                // The leader: the process is gone once its threads are.
                if !self.threads.values().any(|o| o.tgid == tid) {
                    self.procs.remove(&tid);
                    if self.serve.is_some() {
                        if let Some(slot) = self.sink.shm().header().handover.slot_of(tid) {
                            slot.free();
                        }
                    }
                }
            }
        }
        self.expected.remove(&tid);
    }

    fn stopped(&mut self, tid: u32, st: i32) {
        let sig = stopsig(st);
        let ev = event(st);
        if !self.threads.contains_key(&tid) {
            // A new thread or process whose parent's event has not been
            // seen yet (or at all, when it was created by an untraced path).
            let tgid = mem::tgid(tid).unwrap_or(tid);
            let announced = self.expected.remove(&tid);
            self.threads.insert(
                tid,
                Thread {
                    tgid,
                    early: !announced,
                    ..Thread::default()
                },
            );
            if !announced && ev == PTRACE_EVENT_STOP {
                // Held stopped until the parent's event sets it up.
                return;
            }
        }
        match ev {
            libc::PTRACE_EVENT_SECCOMP => self.seccomp_stop(tid),
            libc::PTRACE_EVENT_FORK | libc::PTRACE_EVENT_VFORK | libc::PTRACE_EVENT_CLONE => {
                self.new_task(tid, ev);
                resume(self.cont(), tid, 0);
            }
            libc::PTRACE_EVENT_EXEC => {
                self.exec(tid);
                resume(self.cont(), tid, 0);
            }
            PTRACE_EVENT_STOP => {
                if matches!(
                    sig,
                    libc::SIGSTOP | libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU
                ) {
                    // Group-stop: stay stopped until SIGCONT, as untraced.
                    resume(libc::PTRACE_LISTEN, tid, 0);
                } else {
                    resume(self.cont(), tid, 0);
                }
            }
            0 if sig == (libc::SIGTRAP | 0x80) && self.attach.is_some() => {
                match mem::syscall_stop_kind(tid) {
                    Some(mem::SyscallStop::Entry) => self.seccomp_stop(tid),
                    Some(mem::SyscallStop::Exit) => self.exit_stop(tid),
                    None => resume(self.cont(), tid, 0),
                }
            }
            0 if sig == (libc::SIGTRAP | 0x80) => self.exit_stop(tid),
            0 => {
                // Signal-delivery-stop: deliver the signal exactly once.
                resume(self.cont(), tid, sig);
            }
            _ => resume(self.cont(), tid, 0),
        }
    }

    fn proc_of(&self, tid: u32) -> u32 {
        self.threads.get(&tid).map(|t| t.tgid).unwrap_or(tid)
    }

    fn seccomp_stop(&mut self, tid: u32) {
        let Some(regs) = mem::regs(tid) else {
            resume(self.cont(), tid, 0);
            return;
        };
        let t0 = now();
        let nr = regs.orig_rax as i64;
        let args = [regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9];
        let Some(func) = calls::func_of(nr) else {
            resume(self.cont(), tid, 0);
            return;
        };
        let pid = self.proc_of(tid);
        if self.procs.get(&pid).is_some_and(|p| p.yielded) {
            self.check_taken(pid);
        }
        if self.procs.get(&pid).is_some_and(|p| p.by_preload) {
            resume(self.cont(), tid, 0);
            return;
        }
        // A restart of an interrupted call completes it; anything else
        // means the interrupted call returned EINTR to the program.
        let held = self.threads.get_mut(&tid).and_then(|t| t.held.take());
        let mut t_start = t0;
        if let Some(h) = held {
            if h.nr == nr && h.args == args {
                t_start = h.t_start;
            } else {
                self.complete(tid, pid, &h, -(libc::EINTR as i64), h.t_start.max(t0));
            }
        }
        let proc = self.procs.entry(pid).or_default();
        if !calls::wanted(func, &args, proc, tid) {
            resume(self.cont(), tid, 0);
            return;
        }
        let mut had_socket = false;
        // A descriptor is forgotten before it is closed: once closed,
        // another thread may get the same number from socket().
        match func {
            Func::Close => {
                had_socket = true;
                proc.sockets.remove(&(args[0] as i32));
                proc.epolls.remove(&(args[0] as i32));
            }
            Func::CloseRange => {
                had_socket = true;
                if calls::close_range_closes(&args) {
                    let (a, b) = (args[0] as u32, args[1] as u32);
                    let lo = a.min(i32::MAX as u32) as i32;
                    let hi = b.min(i32::MAX as u32) as i32;
                    let gone: Vec<i32> = proc.sockets.range(lo..=hi).copied().collect();
                    for fd in gone {
                        proc.sockets.remove(&fd);
                    }
                    proc.epolls.retain(|&fd| fd < lo || fd > hi);
                }
            }
            _ => {}
        }
        let verdict =
            if !self.rules.is_empty() && actions::named(&self.rules, &proc.actions, func, &args) {
                actions::decide(&self.rules, &mut proc.actions, func, &args, tid, pid)
            } else {
                actions::Verdict::default()
            };
        if verdict.fail.is_some() {
            // Skip the call: no system call -1 (strace --inject's way).
            let mut r = regs;
            r.orig_rax = u64::MAX;
            mem::set_regs(tid, &r);
        }
        let stack = if proc.go && proc.opts.caller_depth > 0 && proc.modules.in_exe(regs.rip) {
            let modules = &proc.modules;
            crate::stack::go_frames(tid, regs.rsp, regs.rbp, |a| modules.in_exe(a))
        } else {
            Vec::new()
        };
        let (pre, mask) = calls::pre(func, tid, &args);
        let mut args = args;
        if let Some(m) = mask {
            args[5] = m;
        }
        if let Some(t) = self.threads.get_mut(&tid) {
            t.pending = Some(Entry {
                nr,
                func,
                args,
                rip: regs.rip,
                stack,
                t_start,
                had_socket,
                pre,
                flags: verdict.flags(),
                fail: verdict.fail,
                after_ns: verdict.after_ns,
            });
        }
        if verdict.before_ns > 0 {
            self.hold(tid, verdict.before_ns, libc::PTRACE_SYSCALL);
        } else {
            resume(libc::PTRACE_SYSCALL, tid, 0);
        }
    }

    fn exit_stop(&mut self, tid: u32) {
        let pending = self.threads.get_mut(&tid).and_then(|t| t.pending.take());
        let Some(e) = pending else {
            // A syscall-enter-stop we did not ask for: go on.
            resume(self.cont(), tid, 0);
            return;
        };
        let t_end = now();
        let regs = mem::regs(tid);
        let mut raw = regs.map(|r| r.rax as i64).unwrap_or(-(libc::ENOSYS as i64));
        if let (Some((ret, errno)), Some(mut r)) = (e.fail, regs) {
            // The skipped call's result, as the kernel would return it.
            raw = if ret == -1 { -(errno as i64) } else { ret };
            r.rax = raw as u64;
            mem::set_regs(tid, &r);
        }
        let after = e.after_ns;
        let pid = self.proc_of(tid);
        match -raw {
            ERESTARTSYS | ERESTARTNOINTR | ERESTARTNOHAND | ERESTART_RESTARTBLOCK => {
                if let Some(t) = self.threads.get_mut(&tid) {
                    t.held = Some(e);
                }
            }
            _ => self.complete(tid, pid, &e, raw, t_end),
        }
        if after > 0 {
            self.hold(tid, after, self.cont());
        } else {
            resume(self.cont(), tid, 0);
        }
    }

    /// Bookkeeping and the record of a completed call; `raw` is the
    /// kernel's result (-errno on failure).
    fn complete(&mut self, tid: u32, pid: u32, e: &Entry, raw: i64, t_end: u64) {
        let (ret, errno) = if (-4095..0).contains(&raw) {
            (-1i64, (-raw) as i32)
        } else {
            (raw, 0)
        };
        let Some(proc) = self.procs.get_mut(&pid) else {
            return;
        };
        let a = e.args;
        let fd0 = a[0] as i32;
        let mut changed = false;
        match e.func {
            Func::Socket | Func::Accept | Func::Accept4 if ret >= 0 => {
                proc.sockets.insert(ret as i32);
            }
            Func::Socketpair if ret == 0 => {
                if let Some(sv) = mem::read_value::<[i32; 2]>(tid, a[3]) {
                    proc.sockets.insert(sv[0]);
                    proc.sockets.insert(sv[1]);
                }
            }
            Func::Dup | Func::Dup2 | Func::Dup3 => {
                let was = proc.sockets.contains(&fd0);
                if ret >= 0 && ret as i32 != fd0 {
                    changed = true;
                    if was {
                        proc.sockets.insert(ret as i32);
                    } else {
                        proc.sockets.remove(&(ret as i32));
                    }
                }
                if !was && !changed {
                    return;
                }
            }
            Func::EpollCreate | Func::EpollCreate1 if ret >= 0 => {
                proc.sockets.remove(&(ret as i32));
                proc.epolls.remove(&(ret as i32));
            }
            Func::EpollCtl if ret == 0 && a[1] as i32 == libc::EPOLL_CTL_ADD => {
                proc.epolls.insert(fd0);
            }
            Func::Fcntl
                if ret >= 0 && matches!(a[1] as i32, libc::F_DUPFD | libc::F_DUPFD_CLOEXEC) =>
            {
                proc.sockets.insert(ret as i32);
            }
            _ => {}
        }
        if !proc.recorded || !proc.opts.enabled.contains(e.func) {
            return;
        }
        let max_data = proc.opts.max_data as usize;
        let depth = proc.opts.caller_depth;
        let addresses = proc.opts.flags & CAPTURE_ADDRESSES != 0;
        if depth > 0 {
            let known = proc.modules.contains(e.rip);
            if !known {
                let t = t_end.saturating_sub(1);
                let sink = &mut self.sink;
                proc.modules.rescan(pid, t, sink);
            }
        }
        let ends = match e.func {
            Func::Connect if ret == 0 || errno == libc::EINPROGRESS => Some((fd0, false)),
            Func::Accept | Func::Accept4 if ret >= 0 => Some((ret as i32, a[1] == 0)),
            _ => None,
        };
        self.sink.emit(e.func, |w| {
            {
                let h = w.header();
                h.pid = pid;
                h.tid = tid;
                h.t_start = e.t_start;
                h.t_end = t_end;
                h.ret = ret;
                h.errno = errno;
                h.flags |= e.flags;
            }
            calls::fill(w, tid, e, ret, max_data);
            if let (true, Some((fd, peer))) = (addresses, ends) {
                socket_ends(w, pid, fd, peer);
            }
            if depth > 0 {
                let frames: Vec<u8> = std::iter::once(e.rip)
                    .chain(e.stack.iter().copied())
                    .flat_map(u64::to_le_bytes)
                    .collect();
                w.blob(Tag::Caller, 0, &frames);
            }
        });
    }

    /// A fork, vfork or clone event of `tid`: the new task is set up (its
    /// process copies the parent's descriptor table and gets a start
    /// record), then released if it already stopped.
    fn new_task(&mut self, tid: u32, _ev: i32) {
        let child = event_msg(tid) as u32;
        if child == 0 {
            return;
        }
        let parent_pid = self.proc_of(tid);
        let tgid = mem::tgid(child).unwrap_or(child);
        if tgid != parent_pid {
            // A new process: same image, same descriptors.
            let mut p = self.procs.get(&parent_pid).cloned().unwrap_or_default();
            // A new process counts its own calls for the rules.
            p.actions = p.actions.forked();
            let recorded = p.recorded;
            let by_preload = p.by_preload;
            self.procs.insert(tgid, p);
            if !by_preload {
                self.count_process();
            }
            if recorded {
                self.process_start(tgid, parent_pid, true);
            }
        }
        match self.threads.get_mut(&child) {
            Some(t) => {
                t.tgid = tgid;
                if t.early {
                    t.early = false;
                    resume(self.cont(), child, 0);
                }
            }
            None => {
                self.threads.insert(
                    child,
                    Thread {
                        tgid,
                        ..Thread::default()
                    },
                );
                self.expected.insert(child);
            }
        }
    }

    /// An exec: a new image in process `pid` (the other threads are gone).
    fn exec(&mut self, pid: u32) {
        let former = event_msg(pid) as u32;
        self.threads.retain(|&t, th| th.tgid != pid || t == pid);
        if former != pid {
            self.threads.remove(&former);
        }
        self.threads.insert(
            pid,
            Thread {
                tgid: pid,
                ..Thread::default()
            },
        );
        if self.serve.is_some() && !self.adopt_image(pid, former) {
            return;
        }
        self.image(pid);
    }

    /// Sets up process `pid` for its current image (after an exec, or when
    /// attached to it) and writes its start record.
    fn image(&mut self, pid: u32) {
        let exe = mem::exe(pid);
        let argv = mem::cmdline(pid, 1024);
        let argv0 = argv.split(|&b| b == 0).next().unwrap_or(&[]);
        let rules = self.sink.shm().rules();
        let opts = options_for(self.base, rules.as_slice(), &exe, argv0);
        let first = self.procs.get(&pid).is_none_or(|p| !p.recorded) && pid == self.root;
        let proc = self.procs.entry(pid).or_default();
        proc.sockets = mem::socket_fds(pid).into_iter().collect();
        // Close-on-exec epoll instances are gone.
        proc.epolls
            .retain(|fd| std::path::Path::new(&format!("/proc/{pid}/fd/{fd}")).exists());
        if self.attach.is_some() {
            // Attached: which epoll instances watch sockets is not known,
            // so the waits of all of them are recorded.
            proc.epolls.extend(mem::epoll_fds(pid));
        }
        proc.opts = opts;
        proc.recorded = opts.flags & CAPTURE_DISABLED == 0 && !proc.by_preload;
        proc.modules = Modules::default();
        proc.modules.set_exe(&exe);
        proc.go = crate::modules::is_go_program(&exe);
        proc.actions = ProcRules::for_program(&self.rules, &exe, argv0);
        let recorded = proc.recorded;
        if first {
            self.count_process();
        }
        if recorded {
            let ppid = mem::ppid(pid).unwrap_or(0);
            self.process_start(pid, ppid, false);
            if opts.caller_depth > 0 {
                if let Some(p) = self.procs.get_mut(&pid) {
                    p.modules.rescan(pid, now(), &mut self.sink);
                }
            }
        }
    }

    /// Serving: takes the waiting hand-over requests. Each requester is
    /// seized (it goes on running: it installs the filter and execs) and
    /// kept as a preload process until its exec.
    fn take_requests(&mut self) {
        use sock_trace_event::handover::{ALREADY, ATTACHED, BUSY, REFUSED, REQUESTED};
        let shm = *self.sink.shm();
        for slot in &shm.header().handover.slots {
            if slot.state() != REQUESTED || !slot.advance(REQUESTED, BUSY) {
                continue;
            }
            let tid = slot.tid.load(std::sync::atomic::Ordering::Acquire);
            let answer = if self.threads.contains_key(&tid) {
                ALREADY
            } else if crate::serve::seize(tid) {
                let pid = mem::tgid(tid).unwrap_or(tid);
                self.threads.insert(
                    tid,
                    Thread {
                        tgid: pid,
                        ..Thread::default()
                    },
                );
                let p = self.procs.entry(pid).or_default();
                p.by_preload = true;
                p.recorded = false;
                ATTACHED
            } else {
                REFUSED
            };
            slot.advance(BUSY, answer);
            crate::serve::wake(&slot.state);
        }
    }

    /// Serving: asked to stop, and nothing traced is left (or it took too
    /// long: what is left is detached, unchanged).
    fn serve_over(&mut self) -> bool {
        let Some(s) = self.serve.as_mut() else {
            return false;
        };
        s.stopping() && (self.threads.is_empty() || s.grace_over())
    }

    /// Serving, at an exec: whether the process stays traced, and by which
    /// backend. A process the requester could not put under the filter is
    /// let go; a program the preload library traces (glibc, with our
    /// library in `LD_PRELOAD`) is left to it; anything else is recorded
    /// here, and if it has a dynamic loader (which may load the library
    /// anyway) its slot says OWNED so that the library stays out.
    fn adopt_image(&mut self, pid: u32, former: u32) -> bool {
        use crate::image::{self, ImageKind};
        use sock_trace_event::handover::{FILTERED, OWNED, YIELDED};
        let shm = *self.sink.shm();
        let h = &shm.header().handover;
        let slot = h.slot_of(pid).or_else(|| h.slot_of(former));
        let proc = self.procs.entry(pid).or_default();
        if slot.is_some_and(|s| s.state() == FILTERED) {
            proc.filtered = true;
        }
        if !proc.filtered {
            if let Some(s) = slot {
                s.free();
            }
            self.procs.remove(&pid);
            self.threads.retain(|_, th| th.tgid != pid);
            detach(pid, 0);
            return false;
        }
        let exe = mem::exe(pid);
        let kind = image::kind(&exe);
        let library = self.serve.as_ref().map_or(&[][..], |s| s.library());
        proc.by_preload = kind == Some(ImageKind::Glibc) && image::preloads(pid, library);
        // What the preload library must do if it starts in the process.
        let state = match kind {
            _ if proc.by_preload => None,
            Some(ImageKind::Go { loader: true } | ImageKind::Musl) => Some(OWNED),
            Some(ImageKind::Static) => Some(YIELDED),
            _ => None,
        };
        proc.yielded = state == Some(YIELDED);
        let slot = match (slot, state) {
            (Some(s), Some(_)) => Some(s),
            (Some(s), None) => {
                s.free();
                None
            }
            (None, Some(_)) => h.request(pid),
            (None, None) => None,
        };
        if let (Some(s), Some(state)) = (slot, state) {
            s.tid.store(pid, std::sync::atomic::Ordering::Release);
            s.state.store(state, std::sync::atomic::Ordering::Release);
        }
        true
    }

    /// Serving: a yielded process whose preload library started is the
    /// library's from now on.
    fn check_taken(&mut self, pid: u32) {
        use sock_trace_event::handover::TAKEN;
        let shm = *self.sink.shm();
        let taken = shm
            .header()
            .handover
            .slot_of(pid)
            .is_some_and(|s| s.state() == TAKEN);
        if let (true, Some(p)) = (taken, self.procs.get_mut(&pid)) {
            p.yielded = false;
            p.by_preload = true;
            p.recorded = false;
        }
    }

    /// One more process in the area's count (the preload library counts
    /// those it traces).
    fn count_process(&self) {
        let processes = &self.sink.shm().header().processes;
        processes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    fn process_start(&mut self, pid: u32, ppid: u32, forked: bool) {
        let t = now();
        let exe = mem::exe(pid);
        let argv = mem::cmdline(pid, 1024);
        self.sink.emit(Func::ProcStart, |w: &mut RecordWriter<'_>| {
            let h = w.header();
            h.pid = pid;
            h.tid = pid;
            h.t_start = t;
            h.t_end = t;
            h.args[0] = ppid as u64;
            h.args[1] = forked as u64;
            h.args[2] = platform::encode(Platform::Linux, Backend::Syscall);
            w.blob(Tag::Str, role::EXE, &exe[..exe.len().min(1024)]);
            w.blob(Tag::Str, role::ARGV, &argv);
        });
    }
}

/// A duplicate of the tracee's descriptor `fd` in this process
/// (pidfd_getfd, Linux 5.6+), closed when dropped.
fn dup_of(pid: u32, fd: i32) -> Option<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: plain system calls; pidfd is ours and closed here, the
    // duplicate is owned by the returned value.
    unsafe {
        let pidfd = libc::syscall(libc::SYS_pidfd_open, pid as libc::c_long, 0 as libc::c_long);
        if pidfd < 0 {
            return None;
        }
        let dup = libc::syscall(
            libc::SYS_pidfd_getfd,
            pidfd,
            fd as libc::c_long,
            0 as libc::c_long,
        );
        libc::close(pidfd as i32);
        (dup >= 0).then(|| std::os::fd::OwnedFd::from_raw_fd(dup as i32))
    }
}

type NameCall = unsafe extern "C" fn(i32, *mut libc::sockaddr, *mut libc::socklen_t) -> i32;

/// getsockname or getpeername of a socket into `buf`: the length, 0 when
/// it fails.
fn name_of(sock: &std::os::fd::OwnedFd, call: NameCall, buf: &mut [u8]) -> usize {
    use std::os::fd::AsRawFd;
    let mut len = buf.len() as libc::socklen_t;
    // SAFETY: a valid buffer and length for the kernel to fill.
    let r = unsafe {
        call(
            sock.as_raw_fd(),
            buf.as_mut_ptr() as *mut libc::sockaddr,
            &mut len,
        )
    };
    if r == 0 {
        (len as usize).min(buf.len())
    } else {
        0
    }
}

/// The local (and, with `peer`, the remote) address of the tracee's socket
/// `fd`, read through a duplicate of it, when the capture asks for
/// addresses (pcap).
fn socket_ends(w: &mut RecordWriter<'_>, pid: u32, fd: i32, peer: bool) {
    let Some(sock) = dup_of(pid, fd) else {
        return;
    };
    let calls: [(NameCall, u8); 2] = [
        (libc::getsockname, role::LOCAL_ADDR),
        (libc::getpeername, role::PEER_ADDR),
    ];
    for (f, r) in calls.into_iter().take(if peer { 2 } else { 1 }) {
        let mut buf = [0u8; calls::MAX_ADDR];
        let n = name_of(&sock, f, &mut buf);
        if n > 0 {
            w.blob(Tag::SockAddr, r, &buf[..n]);
        }
    }
}

/// The connected peer of the tracee's socket `fd` (through a duplicate of
/// it) into `buf`; the address's length, 0 when unknown.
pub(crate) fn peer_name(pid: u32, fd: i32, buf: &mut [u8]) -> usize {
    dup_of(pid, fd).map_or(0, |sock| name_of(&sock, libc::getpeername, buf))
}

/// The message of a ptrace event stop (the new task of a fork, the former
/// thread id of an exec); 0 if it cannot be read.
fn event_msg(tid: u32) -> libc::c_ulong {
    let mut msg: libc::c_ulong = 0;
    // SAFETY: valid out-pointer for the kernel to fill.
    unsafe {
        libc::ptrace(
            libc::PTRACE_GETEVENTMSG,
            tid as i32,
            0usize,
            &mut msg as *mut libc::c_ulong,
        )
    };
    msg
}
