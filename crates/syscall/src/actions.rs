//! The configuration's delays and injected faults, applied from outside
//! the process: the same rules (`ActionRule`s of the trace area), the same
//! per-process call counting and the same filters as the preload library's
//! `actions` module, decided at the seccomp stop.
//!
//! * A **fault** skips the call: the tracer sets `orig_rax` to -1 at the
//!   seccomp stop (the kernel then runs no system call) and, at the exit
//!   stop, sets `rax` to `-errno` (as `strace --inject` does). The record
//!   says `FLAG_INJECTED`.
//! * A **delay** holds the thread at its seccomp stop (or, for `:after`,
//!   at its exit stop) until a deadline in the tracer's timer queue: the
//!   tracer keeps serving every other thread meanwhile. The record says
//!   `FLAG_DELAYED`.
//!
//! Not applied here (yet): short writes and bandwidth limits, which change
//! the call's length argument and would need it put back afterwards.
//!
//! The system calls stand for the library functions a rule may name:
//! `sendto` without an address is also `send`, `recvfrom` without one
//! `recv`, `pselect6` also `select`.

use crate::mem;
use sock_trace_event::ring::{
    decide_actions, ActionCall, ActionRule, Peer, ACTION_DELAY, ACTION_FAULT, ACTION_PROGRAM,
    MAX_ACTIONS,
};
use sock_trace_event::Func;

/// Per-process rule state: which rules apply, and how many matching calls
/// each has seen (a forked child starts counting again, as in the preload
/// library).
#[derive(Clone, Copy, Default)]
pub struct ProcRules {
    applicable: u32,
    counts: [u64; MAX_ACTIONS],
}

impl ProcRules {
    /// The rules that apply to a program (its exe and argv[0]).
    pub fn for_program(rules: &[ActionRule], exe: &[u8], argv0: &[u8]) -> ProcRules {
        let mut applicable = 0;
        for (i, r) in rules.iter().enumerate().take(MAX_ACTIONS) {
            if r.flags & ACTION_PROGRAM != 0
                && !sock_trace_event::program::program_matches(r.program(), exe, argv0)
            {
                continue;
            }
            applicable |= 1 << i;
        }
        ProcRules {
            applicable,
            counts: [0; MAX_ACTIONS],
        }
    }

    /// After a fork: the same rules, counted anew.
    pub fn forked(&self) -> ProcRules {
        ProcRules {
            applicable: self.applicable,
            counts: [0; MAX_ACTIONS],
        }
    }
}

/// What the rules decided for one call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Skip the call and return this (return value, errno).
    pub fail: Option<(i64, i32)>,
    /// Hold the thread this long before the call...
    pub before_ns: u64,
    /// ...and this long after it.
    pub after_ns: u64,
}

impl Verdict {
    pub fn flags(&self) -> u16 {
        use sock_trace_event::record::{FLAG_DELAYED, FLAG_INJECTED};
        let mut f = 0;
        if self.fail.is_some() {
            f |= FLAG_INJECTED;
        }
        if self.before_ns > 0 || self.after_ns > 0 {
            f |= FLAG_DELAYED;
        }
        f
    }
}

/// The library function a system call also stands for, if any.
fn alias(func: Func, args: &[u64; 6]) -> Option<Func> {
    match func {
        Func::Sendto if args[4] == 0 => Some(Func::Send),
        Func::Recvfrom if args[4] == 0 => Some(Func::Recv),
        Func::Pselect => Some(Func::Select),
        _ => None,
    }
}

/// Whether any rule could apply to `func` (cheap: no memory read).
pub fn named(rules: &[ActionRule], p: &ProcRules, func: Func, args: &[u64; 6]) -> bool {
    let other = alias(func, args);
    rules.iter().enumerate().any(|(i, r)| {
        p.applicable & (1 << i) != 0
            && (r.funcs.contains(func) || other.is_some_and(|o| r.funcs.contains(o)))
            && matches!(r.kind, ACTION_DELAY | ACTION_FAULT)
    })
}

/// Applies the rules to a call at its seccomp stop (thread `tid` of
/// process `pid`). Counts the call for every rule whose filters it passes.
pub fn decide(
    rules: &[ActionRule],
    p: &mut ProcRules,
    func: Func,
    args: &[u64; 6],
    tid: u32,
    pid: u32,
) -> Verdict {
    let call = ActionCall {
        func,
        also: alias(func, args),
        domain: if func == Func::Socket {
            args[0] as i32
        } else {
            -1
        },
    };
    let counts = &mut p.counts;
    let d = decide_actions(
        rules,
        p.applicable,
        call,
        || peer_of(func, args, tid, pid),
        |i| {
            counts[i] += 1;
            counts[i]
        },
    );
    // Short writes and bandwidth limits are not applied here (see above).
    Verdict {
        fail: d.fail,
        before_ns: d.before_ns,
        after_ns: d.after_ns,
    }
}

/// The peer a call talks to: the address it names (connect, sendto,
/// sendmsg), else the socket's connected peer (through a duplicate of the
/// tracee's descriptor).
fn peer_of(func: Func, a: &[u64; 6], tid: u32, pid: u32) -> Option<Peer> {
    let named = match func {
        Func::Connect => Some((a[1], a[2] as u32 as usize)),
        Func::Sendto if a[4] != 0 => Some((a[4], a[5] as u32 as usize)),
        Func::Sendmsg => {
            let name = mem::read_value::<u64>(tid, a[1]).unwrap_or(0);
            let len = mem::read_value::<u32>(tid, a[1] + 8).unwrap_or(0);
            (name != 0).then_some((name, len as usize))
        }
        _ => None,
    };
    let mut buf = [0u8; 28];
    let n = match named {
        Some((addr, len)) => {
            let n = len.min(buf.len());
            mem::read(tid, addr, &mut buf[..n])
        }
        None => crate::tracer::peer_name(pid, a[0] as i32, &mut buf),
    };
    Peer::from_sockaddr(&buf[..n])
}
