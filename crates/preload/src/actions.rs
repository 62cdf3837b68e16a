//! Bending the program's calls: delays, injected failures, short writes
//! and bandwidth limits, as the trace area's action rules say.
//!
//! Cost when no rule applies to a function: one relaxed load and a bit
//! test ([`wanted`]). Everything else runs only for calls a rule names. No
//! allocation and no locks: rule state is per-process atomics (call counts,
//! per-descriptor pacing clocks), so this is safe in signal handlers and
//! vfork children like the rest of the hooks. Delays apply whether or not
//! the call is traced.

use crate::sys;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use sock_trace_event::ring::{
    decide_actions, ActionCall, ActionRule, Peer, ACTION_PROGRAM, MAX_ACTIONS,
};
use sock_trace_event::{Family, Func, Shm};

/// Functions some applicable rule names.
static FUNCS: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];
/// Rules that apply to this process (bit per rule).
static APPLICABLE: AtomicU32 = AtomicU32::new(0);
/// Matching calls so far, per rule, in this process.
static COUNTS: [AtomicU64; MAX_ACTIONS] = [const { AtomicU64::new(0) }; MAX_ACTIONS];
/// A private copy of the area's rules, taken once at init (before FUNCS
/// makes any hook read it): another process writing the area later cannot
/// change them under a running hook.
static mut RULES: Option<&'static [ActionRule]> = None;
static mut RULES_COPY: sock_trace_event::ring::Bounded<ActionRule, MAX_ACTIONS> =
    sock_trace_event::ring::Bounded::EMPTY;

/// Descriptors paced by a bandwidth limit: when the socket may next move
/// data, per direction (CLOCK_MONOTONIC ns).
const PACED_FDS: usize = 4096;
static NEXT_SEND: [AtomicU64; PACED_FDS] = [const { AtomicU64::new(0) }; PACED_FDS];
static NEXT_RECV: [AtomicU64; PACED_FDS] = [const { AtomicU64::new(0) }; PACED_FDS];

/// Chooses the rules that apply to this process. Called once at init.
pub fn init(shm: &'static Shm, exe: &[u8], argv0: &[u8]) {
    // SAFETY: written once here, during single-threaded initialisation,
    // before any hook can read it.
    let rules: &'static [ActionRule] = unsafe {
        RULES_COPY = shm.actions();
        (*core::ptr::addr_of!(RULES_COPY)).as_slice()
    };
    let mut applicable = 0u32;
    let mut funcs = [0u64; 2];
    for (i, r) in rules.iter().enumerate() {
        if r.flags & ACTION_PROGRAM != 0
            && !sock_trace_event::program::program_matches(r.program(), exe, argv0)
        {
            continue;
        }
        applicable |= 1 << i;
        funcs[0] |= r.funcs.0[0];
        funcs[1] |= r.funcs.0[1];
    }
    // SAFETY: written once, before FUNCS makes any hook read it.
    unsafe { RULES = Some(rules) };
    APPLICABLE.store(applicable, Ordering::Relaxed);
    FUNCS[0].store(funcs[0], Ordering::Release);
    FUNCS[1].store(funcs[1], Ordering::Release);
}

/// A new process counts its own calls (the n-th connect of the child).
pub fn after_fork() {
    for c in &COUNTS {
        c.store(0, Ordering::Relaxed);
    }
}

/// Whether some rule names `func`: the only cost on unaffected calls.
#[inline(always)]
pub fn wanted(func: Func) -> bool {
    let id = func as usize;
    FUNCS[id / 64].load(Ordering::Relaxed) & (1 << (id % 64)) != 0
}

/// What the call is about, for the rules' filters.
#[derive(Clone, Copy)]
pub struct Target {
    pub fd: i32,
    /// The address the call names (connect, sendto), or null.
    pub addr: *const libc::sockaddr,
    pub addrlen: u32,
    /// The address family asked for (socket).
    pub domain: i32,
    /// Bytes the call may move (send family), for short writes.
    pub len: usize,
}

impl Target {
    /// A call on `fd` that may move `len` bytes (the send, receive, read
    /// and write families).
    pub fn moving(fd: i32, len: usize) -> Target {
        Target {
            len,
            ..Target::fd(fd)
        }
    }

    pub fn fd(fd: i32) -> Target {
        Target {
            fd,
            addr: core::ptr::null(),
            addrlen: 0,
            domain: -1,
            len: 0,
        }
    }
}

/// The decisions for one call.
#[derive(Clone, Copy, Default)]
pub struct Verdict {
    /// Fail without calling: (return value, error).
    pub fail: Option<(i64, i32)>,
    /// Move at most this many bytes (a short-write rule: injected).
    pub shorten: Option<usize>,
    /// Move at most this many bytes (a bandwidth limit's slice: pacing,
    /// not an injected fault).
    pub cap: Option<usize>,
    after_ns: u64,
    /// Pacing rule index + 1 (0: none).
    limit: u32,
    /// A delay rule or the pacing clock holds the call back.
    delayed: bool,
}

impl Verdict {
    /// The most bytes the call may move, if a rule says.
    pub fn limit_len(&self) -> Option<usize> {
        match (self.shorten, self.cap) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether a bandwidth limit paces this call's socket.
    pub fn paces(&self) -> bool {
        self.limit != 0
    }

    /// Record flags for the call's trace line.
    pub fn flags(&self) -> u16 {
        use sock_trace_event::record::{FLAG_DELAYED, FLAG_INJECTED};
        let mut f = 0;
        if self.fail.is_some() || self.shorten.is_some() {
            f |= FLAG_INJECTED;
        }
        if self.delayed || self.after_ns > 0 {
            f |= FLAG_DELAYED;
        }
        f
    }
}

/// Applies the rules before the call: sleeps the delays that come first,
/// decides failures and short writes. Call only when [`wanted`].
#[cold]
pub fn before(func: Func, t: &Target) -> Verdict {
    let mut v = Verdict::default();
    // SAFETY: set at init before `wanted` could be true.
    let Some(rules) = (unsafe { RULES }) else {
        return v;
    };
    let call = ActionCall {
        func,
        also: None,
        domain: t.domain,
    };
    let d = decide_actions(
        rules,
        APPLICABLE.load(Ordering::Relaxed),
        call,
        || peer_of(t),
        |i| COUNTS[i].fetch_add(1, Ordering::Relaxed) + 1,
    );
    let mut before_ns = d.before_ns;
    v.after_ns = d.after_ns;
    v.fail = d.fail;
    // Short *writes*: receive calls now carry their length too (for
    // pacing) but are never cut by this rule.
    if d.short && t.len > 1 && func.family() == Family::Send {
        v.shorten = Some(t.len / 2);
    }
    v.limit = d.limit.map_or(0, |i| i as u32 + 1);
    if v.limit != 0 {
        v.cap = slice(func, t, rules[v.limit as usize - 1].bytes_per_sec);
    }
    if v.limit != 0 && t.fd >= 0 && (t.fd as usize) < PACED_FDS {
        // Wait until the socket's previous transfers have "drained" at the
        // limited rate.
        let slot = if func.family() == Family::Send {
            &NEXT_SEND
        } else {
            &NEXT_RECV
        };
        let next = slot[t.fd as usize].load(Ordering::Relaxed);
        let now = sys::now();
        if next > now {
            before_ns += next - now;
        }
    }
    v.delayed = before_ns > 0;
    sleep_ns(before_ns);
    v
}

/// A paced call moves at most what the rate allows in a tenth of a second
/// (at least one byte): sleeping after a 98 KB recv at 1 KB/s would stall
/// the program for 98 s and then let the whole burst through. Only stream
/// sockets are cut (a datagram cut short would lose its tail), and the
/// message-vector calls, whose length counts messages, are not.
fn slice(func: Func, t: &Target, bytes_per_sec: u64) -> Option<usize> {
    if matches!(func, Func::Sendmmsg | Func::Recvmmsg) || t.fd < 0 {
        return None;
    }
    let slice = (bytes_per_sec / 10).max(1) as usize;
    if t.len <= slice || !is_stream(t.fd) {
        return None;
    }
    Some(slice)
}

/// Whether a socket is a stream socket (a raw getsockopt SO_TYPE).
fn is_stream(fd: i32) -> bool {
    let mut ty: libc::c_int = 0;
    let mut len = core::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: valid out-pointers for the kernel.
    let r = unsafe {
        crate::sys::raw!(
            libc::SYS_getsockopt,
            fd,
            libc::SOL_SOCKET,
            libc::SO_TYPE,
            &mut ty as *mut libc::c_int,
            &mut len as *mut libc::socklen_t,
        )
    };
    r == 0 && ty == libc::SOCK_STREAM
}

/// Applies the rules after the call: delays that come after, and the
/// pacing clock of a limited socket (`moved` bytes just went through).
pub fn after(func: Func, fd: i32, v: &Verdict, moved: i64) {
    if v.limit != 0 && moved > 0 && fd >= 0 && (fd as usize) < PACED_FDS {
        // SAFETY: set at init.
        if let Some(r) = unsafe { RULES }.and_then(|r| r.get(v.limit as usize - 1)) {
            let slot = if func.family() == Family::Send {
                &NEXT_SEND
            } else {
                &NEXT_RECV
            };
            let now = sys::now();
            let start = slot[fd as usize].load(Ordering::Relaxed).max(now);
            let cost = (moved as u128 * 1_000_000_000 / r.bytes_per_sec as u128) as u64;
            slot[fd as usize].store(start + cost, Ordering::Relaxed);
        }
    }
    sleep_ns(v.after_ns);
}

/// Sleeps through interruptions (the program's signal handlers still run)
/// until the whole delay has passed: a delay is never shorter than asked.
fn sleep_ns(ns: u64) {
    if ns == 0 {
        return;
    }
    let deadline = sys::now() + ns;
    loop {
        let now = sys::now();
        if now >= deadline {
            return;
        }
        let left = deadline - now;
        let ts = libc::timespec {
            tv_sec: (left / 1_000_000_000) as libc::time_t,
            tv_nsec: (left % 1_000_000_000) as libc::c_long,
        };
        // SAFETY: a valid timespec; no remainder wanted (we recompute).
        unsafe {
            crate::sys::raw!(
                libc::SYS_nanosleep,
                &ts as *const libc::timespec,
                core::ptr::null_mut::<libc::timespec>(),
            )
        };
    }
}

/// The peer a call talks to: the address it names, else the socket's
/// connected peer (a raw getpeername, only when a rule filters on peers).
fn peer_of(t: &Target) -> Option<Peer> {
    let mut buf = [0u8; 28];
    let n = if !t.addr.is_null() && t.addrlen as usize >= 8 {
        let n = (t.addrlen as usize).min(buf.len());
        sys::safe_copy(&mut buf[..n], t.addr as *const u8)
    } else if t.fd >= 0 {
        let mut len = buf.len() as libc::socklen_t;
        // SAFETY: valid buffer and length for the kernel to fill.
        let r = unsafe {
            crate::sys::raw!(
                libc::SYS_getpeername,
                t.fd as libc::c_long,
                buf.as_mut_ptr(),
                &mut len as *mut libc::socklen_t,
            )
        };
        if r == 0 {
            len as usize
        } else {
            0
        }
    } else {
        0
    };
    Peer::from_sockaddr(&buf[..n.min(buf.len())])
}
