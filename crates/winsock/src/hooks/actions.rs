//! Delays and injected failures inside sock_trace.dll: the trace area's
//! action rules (config `[[action]]`, `--delay`, `--inject`) applied as the
//! Linux preload library applies them, read once from the area at load.
//!
//! The rules carry Linux's numbers (the configuration speaks errno names);
//! a failure is turned into Winsock's here: `ECONNREFUSED` becomes
//! `WSAECONNREFUSED` (10061), set with SetLastError (what WSASetLastError
//! does) while the call returns SOCKET_ERROR / INVALID_SOCKET, and an
//! `EAI_*` code of getaddrinfo becomes the WSA code Windows' getaddrinfo
//! returns. Bandwidth limits and short writes are not applied here (yet).
//!
//! Cost when no rule names a function: one relaxed load and a bit test.
//! No allocation and no locks: per-process atomics and a private copy of
//! the rules, taken under the loader lock at attach.

use crate::sys;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use sock_trace_event::record::{FLAG_DELAYED, FLAG_INJECTED};
use sock_trace_event::ring::{
    ActionRule, ACTION_AFTER, ACTION_DELAY, ACTION_FAMILY, ACTION_FAULT, ACTION_PEER, ACTION_PORT,
    ACTION_PROGRAM, MAX_ACTIONS,
};
use sock_trace_event::{Func, Shm};
use sock_trace_xlat::{errno, platform::WSA_ERRORS};

static FUNCS: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];
static APPLICABLE: AtomicU32 = AtomicU32::new(0);
static COUNTS: [AtomicU64; MAX_ACTIONS] = [const { AtomicU64::new(0) }; MAX_ACTIONS];
/// The rules, copied once at attach (before FUNCS lets a hook read them),
/// with their errors already in Winsock's numbers.
static mut RULES: [ActionRule; MAX_ACTIONS] = [ActionRule::EMPTY; MAX_ACTIONS];
static mut NRULES: usize = 0;

/// Chooses the rules that apply to this program. Called once, at attach.
pub fn init(shm: &Shm, exe: &[u8], argv0: &[u8]) {
    let from = shm.actions();
    let mut rules = [ActionRule::EMPTY; MAX_ACTIONS];
    let n = from.as_slice().len().min(MAX_ACTIONS);
    rules[..n].copy_from_slice(&from.as_slice()[..n]);
    let mut applicable = 0u32;
    let mut funcs = [0u64; 2];
    for (i, r) in rules[..n].iter_mut().enumerate() {
        if r.flags & ACTION_PROGRAM != 0
            && !sock_trace_event::program::program_matches(r.program(), exe, argv0)
        {
            continue;
        }
        if r.kind == ACTION_FAULT {
            (r.ret, r.error) = winsock_failure(r.ret, r.error);
        }
        applicable |= 1 << i;
        funcs[0] |= r.funcs.0[0];
        funcs[1] |= r.funcs.0[1];
    }
    // SAFETY: written once, under the loader lock, before FUNCS makes any
    // hook read it.
    unsafe {
        RULES = rules;
        NRULES = n;
    }
    APPLICABLE.store(applicable, Ordering::Relaxed);
    FUNCS[0].store(funcs[0], Ordering::Release);
    FUNCS[1].store(funcs[1], Ordering::Release);
}

/// A rule's (return value, error) in Winsock's terms: errno `E*` as
/// `WSAE*` (EAGAIN as WSAEWOULDBLOCK), an `EAI_*` return value as the WSA
/// code getaddrinfo returns (and leaves as the last error). A number with
/// no Winsock name stays as it is.
fn winsock_failure(ret: i64, error: i32) -> (i64, i32) {
    if ret < -1 {
        // getaddrinfo's convention: the code is the result.
        let wsa = match ret {
            -2 => 11001, // EAI_NONAME: WSAHOST_NOT_FOUND
            -3 => 11002, // EAI_AGAIN: WSATRY_AGAIN
            -4 => 11003, // EAI_FAIL: WSANO_RECOVERY
            -5 => 11004, // EAI_NODATA: WSANO_DATA
            -6 => 10047, // EAI_FAMILY: WSAEAFNOSUPPORT
            -7 => 10044, // EAI_SOCKTYPE: WSAESOCKTNOSUPPORT
            -8 => 10109, // EAI_SERVICE: WSATYPE_NOT_FOUND
            -10 => 8,    // EAI_MEMORY: WSA_NOT_ENOUGH_MEMORY
            _ => 10022,  // WSAEINVAL
        };
        return (wsa, wsa as i32);
    }
    let name = errno::ERRNO
        .iter()
        .find(|e| e.0 == error)
        .map_or("", |e| e.1);
    let name = if name == "EAGAIN" {
        "EWOULDBLOCK"
    } else {
        name
    };
    let wsa = WSA_ERRORS
        .iter()
        .find(|w| w.1.strip_prefix("WSA") == Some(name))
        .map_or(error, |w| w.0);
    (ret, wsa)
}

/// Whether some rule names `func`: the only cost on unaffected calls.
#[inline(always)]
pub fn wanted(func: Func) -> bool {
    let (word, bit) = (func as usize >> 6, func as usize & 63);
    (FUNCS[word].load(Ordering::Relaxed) >> bit) & 1 == 1
}

/// What a call is about, for the rules' filters.
#[derive(Clone, Copy)]
pub struct Target {
    pub socket: usize,
    /// The address the call names (connect, sendto), or null.
    pub addr: *const u8,
    pub addrlen: i32,
    /// The address family asked for (socket), Winsock's numbers; -1.
    pub family: i32,
}

impl Target {
    pub fn socket(s: usize) -> Target {
        Target {
            socket: s,
            addr: core::ptr::null(),
            addrlen: 0,
            family: -1,
        }
    }
}

/// The decisions for one call.
#[derive(Clone, Copy, Default)]
pub struct Verdict {
    /// Fail without calling: (return value, WSA error).
    fail: Option<(i64, u32)>,
    after_ns: u64,
    delayed: bool,
}

impl Verdict {
    /// Record flags for the call's trace line.
    pub fn flags(&self) -> u16 {
        let mut f = 0;
        if self.fail.is_some() {
            f |= FLAG_INJECTED;
        }
        if self.delayed || self.after_ns > 0 {
            f |= FLAG_DELAYED;
        }
        f
    }

    /// Makes the call, or fails it as a rule says (`failed` turns the
    /// rule's return value into the function's), then sleeps the delays
    /// that come after.
    pub fn run<T>(&self, failed: impl FnOnce(i64) -> T, call: impl FnOnce() -> T) -> T {
        let r = match self.fail {
            Some((ret, err)) => {
                sys::set_last_error(err);
                failed(ret)
            }
            None => call(),
        };
        if self.after_ns > 0 {
            let err = sys::last_error();
            sleep_ns(self.after_ns);
            sys::set_last_error(err);
        }
        r
    }
}

/// The rules for a call of `func` on `target()`: sleeps the delays that
/// come first and decides a failure. No rule naming `func`: nothing.
#[inline]
pub fn before(func: Func, target: impl FnOnce() -> Target) -> Verdict {
    if !wanted(func) {
        return Verdict::default();
    }
    // The filters may call the real getpeername: the program's last error
    // stays as it was.
    let err = sys::last_error();
    let v = apply(func, &target());
    sys::set_last_error(err);
    v
}

/// [`before`] and [`Verdict::run`] in one, inside a hook's timed call,
/// so that a call's duration includes its delays (as on Linux); the
/// verdict is left in `slot` for the record's flags.
#[inline]
pub fn perform<T>(
    slot: &core::cell::Cell<Verdict>,
    func: Func,
    target: impl FnOnce() -> Target,
    failed: impl FnOnce(i64) -> T,
    call: impl FnOnce() -> T,
) -> T {
    let v = before(func, target);
    slot.set(v);
    v.run(failed, call)
}

#[cold]
fn apply(func: Func, t: &Target) -> Verdict {
    let mut v = Verdict::default();
    // SAFETY: written at attach, before `wanted` could be true.
    let (all, n): (&[ActionRule; MAX_ACTIONS], usize) =
        unsafe { (&*core::ptr::addr_of!(RULES), NRULES) };
    let rules = &all[..n];
    let applicable = APPLICABLE.load(Ordering::Relaxed);
    let mut before_ns = 0u64;
    let mut peer = None;
    // A rule counts a call when it applies to this program and function
    // and its filters let the call through; then nth/every/p choose.
    let passes = |i: usize, r: &ActionRule, peer: &mut Option<_>| {
        applicable & (1 << i) != 0
            && r.funcs.contains(func)
            && (r.flags & ACTION_FAMILY == 0 || family_passes(func, t.family, r.family))
            && (r.flags & (ACTION_PEER | ACTION_PORT) == 0 || {
                // Asked for once per call, and only when a rule filters.
                let (fam, ip, iplen, port) = *peer.get_or_insert_with(|| peer_of(t));
                fam != 0 && r.peer_matches(fam, &ip[..iplen], port)
            })
    };
    for (i, r) in rules.iter().enumerate() {
        if !passes(i, r, &mut peer) {
            continue;
        }
        let n = 1 + COUNTS[i].fetch_add(1, Ordering::Relaxed);
        match r.kind {
            _ if !r.fires(i, n) => {}
            ACTION_DELAY if r.flags & ACTION_AFTER != 0 => v.after_ns += r.delay_ns(i, n),
            ACTION_DELAY => before_ns += r.delay_ns(i, n),
            ACTION_FAULT if v.fail.is_none() => v.fail = Some((r.ret, r.error as u32)),
            _ => {}
        }
    }
    v.delayed = before_ns > 0;
    sleep_ns(before_ns);
    v
}

/// A family filter, as on Linux: a call that names no family passes,
/// except socket (whose family is the point of the filter).
fn family_passes(func: Func, af: i32, wanted: u16) -> bool {
    match linux_family(af) {
        Some(f) => f == wanted as i32,
        None => af == -1 && func != Func::Socket,
    }
}

/// Winsock's address family as Linux's (the rules' numbers).
fn linux_family(af: i32) -> Option<i32> {
    match af {
        2 => Some(2),
        23 => Some(10),
        _ => None,
    }
}

/// Sleeps until `ns` have passed (never shorter).
fn sleep_ns(ns: u64) {
    let deadline = sys::now() + ns;
    loop {
        let now = sys::now();
        if now >= deadline {
            return;
        }
        let ms = (deadline - now)
            .div_ceil(1_000_000)
            .min(u32::MAX as u64 - 1) as u32;
        // SAFETY: no pointer arguments.
        unsafe { windows_sys::Win32::System::Threading::Sleep(ms) };
    }
}

/// The peer a call talks to, as the rules' filters read it (Linux family
/// numbers): the address it names, else the socket's connected peer (the
/// real getpeername, only when a rule filters on peers).
fn peer_of(t: &Target) -> (u16, [u8; 16], usize, u16) {
    let mut buf = [0u8; 28];
    let n = if !t.addr.is_null() && t.addrlen >= 8 {
        sys::safe_read(t.addr, &mut buf[..(t.addrlen as usize).min(28)])
    } else {
        type F = unsafe extern "system" fn(usize, *mut u8, *mut i32) -> i32;
        let p = crate::forward::real(crate::forward::I_getpeername);
        let mut len = buf.len() as i32;
        // SAFETY: the real getpeername, a buffer of `len` bytes.
        let r = p != 0
            && unsafe { core::mem::transmute::<usize, F>(p)(t.socket, buf.as_mut_ptr(), &mut len) }
                == 0;
        if r {
            len as usize
        } else {
            0
        }
    };
    let family = u16::from_ne_bytes([buf[0], buf[1]]);
    let port = u16::from_be_bytes([buf[2], buf[3]]);
    let mut ip = [0u8; 16];
    match family {
        2 if n >= 8 => {
            ip[..4].copy_from_slice(&buf[4..8]);
            (2, ip, 4, port)
        }
        23 if n >= 24 => {
            ip.copy_from_slice(&buf[8..24]);
            (10, ip, 16, port)
        }
        _ => (0, ip, 0, 0),
    }
}
