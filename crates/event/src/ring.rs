//! The shared-memory transport: one header page, a table of ring controls
//! and one single-producer/single-consumer byte ring per traced thread.
//!
//! ```text
//! offset 0            ShmHeader (HEADER_BYTES: settings, rules, counters)
//! offset HEADER_BYTES RingCtl × nrings (128 bytes each)
//! offset data_offset  ring data × nrings (ring_bytes each)
//! ```
//!
//! Why per-thread SPSC rings rather than one shared queue: a producer owns
//! its ring outright, so a record becomes visible with a single release
//! store of `head` after it is complete. A thread killed half-way through a
//! record (SIGKILL, a crash) leaves nothing half-visible behind, and no
//! producer ever waits for another one. The collector merges the rings by
//! timestamp. A thread takes a ring on its first traced call (a CAS over the
//! table, lock-free and async-signal-safe), gives it back at thread exit or
//! exec, and the collector reclaims rings whose owner died without doing so.
//!
//! Everything here works on raw memory that other processes write
//! concurrently, so all shared fields are atomics and the consumer copies
//! record bytes out before parsing them.

use crate::func::{Func, FuncMask};
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

pub const MAGIC: u64 = u64::from_le_bytes(*b"SOCKTRC1");
pub const PAGE: usize = 4096;
/// Room for the header: settings, per-program and action rules.
pub const HEADER_BYTES: usize = 4 * PAGE;
pub const RING_CTL_BYTES: usize = 128;

/// Ring states.
pub const RING_FREE: u32 = 0;
pub const RING_OWNED: u32 = 1;
/// The owner is gone (thread exit, exec); the collector drains and frees it.
pub const RING_RELEASED: u32 = 2;

/// Capture settings the collector decides and the hooks obey. Plain data,
/// written once before the first traced process starts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct CaptureOptions {
    /// Functions to record.
    pub enabled: FuncMask,
    /// Payload bytes to copy per send/recv call (0: none).
    pub max_data: u32,
    /// Caller frames to record (0: none).
    pub caller_depth: u32,
    /// `CAPTURE_*` bits.
    pub flags: u32,
    pub _reserved: [u32; 13],
}

/// Do not trace processes started after the first one (no `--follow`).
pub const CAPTURE_NO_FOLLOW: u32 = 1 << 0;
/// Leave the process untraced (a per-program rule with `enabled = false`).
pub const CAPTURE_DISABLED: u32 = 1 << 1;
/// Record both ends of connected and accepted sockets (one `getsockname`,
/// and `getpeername` when needed, per connect/accept): packet captures
/// need real addresses.
pub const CAPTURE_ADDRESSES: u32 = 1 << 2;

/// Most per-program rules the area carries.
pub const MAX_RULES: usize = 14;
/// Longest rule pattern, bytes.
pub const MAX_RULE_PATTERN: usize = 112;

/// What a [`ProgramRule`] sets; unset fields keep what earlier rules (or
/// the defaults) chose.
pub const RULE_SETS_FUNCTIONS: u32 = 1 << 0;
pub const RULE_SETS_MAX_DATA: u32 = 1 << 1;
pub const RULE_SETS_CALLERS: u32 = 1 << 2;
pub const RULE_SETS_ENABLED: u32 = 1 << 3;

/// A per-program rule as the hooks see it: a pattern over the executable
/// (see [`crate::program`]) and the capture settings it implies. The
/// collector fills `options` with the complete effective values (defaults,
/// then this rule, then command-line flags) so a process only copies the
/// fields `sets` names, rule after matching rule, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct ProgramRule {
    pub pattern: [u8; MAX_RULE_PATTERN],
    pub pattern_len: u32,
    pub sets: u32,
    pub options: CaptureOptions,
}

impl Default for ProgramRule {
    fn default() -> Self {
        ProgramRule {
            pattern: [0; MAX_RULE_PATTERN],
            pattern_len: 0,
            sets: 0,
            options: CaptureOptions::default(),
        }
    }
}

impl ProgramRule {
    pub fn pattern(&self) -> &[u8] {
        &self.pattern[..(self.pattern_len as usize).min(MAX_RULE_PATTERN)]
    }

    /// Applies this rule's fields onto `opts`.
    pub fn apply(&self, opts: &mut CaptureOptions) {
        if self.sets & RULE_SETS_FUNCTIONS != 0 {
            opts.enabled = self.options.enabled;
        }
        if self.sets & RULE_SETS_MAX_DATA != 0 {
            opts.max_data = self.options.max_data;
        }
        if self.sets & RULE_SETS_CALLERS != 0 {
            opts.caller_depth = self.options.caller_depth;
        }
        if self.sets & RULE_SETS_ENABLED != 0 {
            opts.flags = (opts.flags & !CAPTURE_DISABLED) | (self.options.flags & CAPTURE_DISABLED);
        }
    }
}

/// Most action rules (delays, faults, limits) the area carries.
pub const MAX_ACTIONS: usize = 16;
/// Longest program pattern of an action rule, bytes.
pub const MAX_ACTION_PROGRAM: usize = 64;

/// What an [`ActionRule`] does.
pub const ACTION_DELAY: u32 = 1;
/// Fail the call without making it: `ret`, `error`.
pub const ACTION_FAULT: u32 = 2;
/// Move at most half the bytes asked (send family): a short write.
pub const ACTION_SHORT: u32 = 3;
/// Pace transfers to `bytes_per_sec` per socket and direction.
pub const ACTION_LIMIT: u32 = 4;

/// [`ActionRule::flags`].
pub const ACTION_AFTER: u32 = 1 << 0;
pub const ACTION_PEER: u32 = 1 << 1;
pub const ACTION_PORT: u32 = 1 << 2;
pub const ACTION_FAMILY: u32 = 1 << 3;
pub const ACTION_PROGRAM: u32 = 1 << 4;

/// A delay, injected failure or bandwidth limit, as the hooks read it.
/// Filters (peer network, port, address family, program) narrow which calls
/// it applies to; `nth`, `every` and `chance` choose among those.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct ActionRule {
    pub funcs: FuncMask,
    pub kind: u32,
    pub flags: u32,
    /// For faults: the return value (-1, an EAI code, 0 for NULL)...
    pub ret: i64,
    /// ...and the errno (or h_errno for gethostby*) to leave behind.
    pub error: i32,
    /// Fire on the n-th matching call only (1-based; 0: not used).
    pub nth: u32,
    /// Fire on every n-th matching call (0: not used).
    pub every: u32,
    /// Fire with this probability, in units of 2^-32 (0: not used).
    pub chance: u32,
    pub seed: u64,
    /// Delay range, nanoseconds (uniform; min = max for a fixed delay).
    pub min_ns: u64,
    pub max_ns: u64,
    /// Bandwidth limit, bytes per second.
    pub bytes_per_sec: u64,
    /// Peer filter: family (AF_INET/AF_INET6), address, prefix length.
    pub family: u16,
    pub port: u16,
    pub prefix: u32,
    pub addr: [u8; 16],
    pub program: [u8; MAX_ACTION_PROGRAM],
    pub program_len: u32,
    pub _reserved: u32,
}

impl ActionRule {
    /// A rule that does nothing (the table's unused entries).
    pub const EMPTY: ActionRule = ActionRule {
        funcs: FuncMask::empty(),
        kind: 0,
        flags: 0,
        ret: 0,
        error: 0,
        nth: 0,
        every: 0,
        chance: 0,
        seed: 0,
        min_ns: 0,
        max_ns: 0,
        bytes_per_sec: 0,
        family: 0,
        port: 0,
        prefix: 0,
        addr: [0; 16],
        program: [0; MAX_ACTION_PROGRAM],
        program_len: 0,
        _reserved: 0,
    };
}

impl Default for ActionRule {
    fn default() -> Self {
        ActionRule::EMPTY
    }
}

impl ActionRule {
    pub fn program(&self) -> &[u8] {
        &self.program[..(self.program_len as usize).min(MAX_ACTION_PROGRAM)]
    }

    /// Whether an IP peer passes the address and port filters. `ip` is 4
    /// or 16 bytes in network order.
    pub fn peer_matches(&self, family: u16, ip: &[u8], port: u16) -> bool {
        if self.flags & ACTION_PORT != 0 && self.port != port {
            return false;
        }
        if self.flags & ACTION_PEER == 0 {
            return true;
        }
        if family != self.family {
            return false;
        }
        let bits = (self.prefix as usize).min(ip.len() * 8);
        let (full, rest) = (bits / 8, bits % 8);
        if ip.len() < full || self.addr[..full] != ip[..full] {
            return false;
        }
        rest == 0 || {
            let mask = 0xffu8 << (8 - rest);
            (ip[full] & mask) == (self.addr[full] & mask)
        }
    }

    /// Whether the n-th matching call (1-based) fires the rule: a
    /// deterministic function of the seed, so a run can be repeated.
    pub fn fires(&self, index: usize, n: u64) -> bool {
        if self.nth != 0 && n != self.nth as u64 {
            return false;
        }
        if self.every != 0 && n % self.every as u64 != 0 {
            return false;
        }
        if self.chance != 0 && (mix(self.seed, index as u64, n) >> 32) as u32 >= self.chance {
            return false;
        }
        true
    }

    /// The delay for the n-th matching call.
    pub fn delay_ns(&self, index: usize, n: u64) -> u64 {
        if self.max_ns <= self.min_ns {
            return self.min_ns;
        }
        self.min_ns + mix(self.seed ^ 0x5eed, index as u64, n) % (self.max_ns - self.min_ns + 1)
    }
}

/// The IP peer a call talks to, as the action rules' filters see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Peer {
    pub family: u16,
    /// 4 or 16 bytes (see `len`), network order.
    pub ip: [u8; 16],
    pub len: usize,
    pub port: u16,
}

impl Peer {
    /// Reads a Linux `sockaddr_in` / `sockaddr_in6` (the first `bytes` the
    /// program or the kernel gave); any other family, or too few bytes:
    /// no IP peer.
    pub fn from_sockaddr(bytes: &[u8]) -> Option<Peer> {
        const AF_INET: u16 = 2;
        const AF_INET6: u16 = 10;
        let family = u16::from_ne_bytes([*bytes.first()?, *bytes.get(1)?]);
        let port = u16::from_be_bytes([*bytes.get(2)?, *bytes.get(3)?]);
        let mut ip = [0u8; 16];
        let len = match family {
            AF_INET => {
                ip[..4].copy_from_slice(bytes.get(4..8)?);
                4
            }
            AF_INET6 => {
                ip.copy_from_slice(bytes.get(8..24)?);
                16
            }
            _ => return None,
        };
        Some(Peer {
            family,
            ip,
            len,
            port,
        })
    }
}

/// What the action rules decide for one call; each backend applies it its
/// own way (the preload library in the process, the system-call backend at
/// the seccomp stop).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ActionDecision {
    /// Fail without calling: (return value, error). The first fault rule.
    pub fail: Option<(i64, i32)>,
    /// Delay rules: hold the call back this long before it...
    pub before_ns: u64,
    /// ...and this long after it (`ACTION_AFTER`).
    pub after_ns: u64,
    /// A short-write rule fired (the backend decides whether the call can
    /// be cut).
    pub short: bool,
    /// The first bandwidth-limit rule (with a rate) that fired: its index.
    pub limit: Option<usize>,
}

/// One call as the action rules' filters see it.
#[derive(Clone, Copy, Debug)]
pub struct ActionCall {
    pub func: Func,
    /// The library function a system call also stands for (`sendto`
    /// without an address is also `send`), if any.
    pub also: Option<Func>,
    /// The address family asked for (socket), else -1.
    pub domain: i32,
}

/// Applies the action rules to one call: the rules whose bit is set in
/// `applicable` and whose filters the call passes (functions, address
/// family, peer and port) are counted (`count(i)` adds the call to rule
/// `i`'s count and returns the new count), and those that fire (`nth`,
/// `every`, `chance`) make the decision. `peer` is asked at most once, and
/// only when a rule filters on the peer. No allocation, no locks: the
/// preload hooks run this.
#[inline]
pub fn decide_actions(
    rules: &[ActionRule],
    applicable: u32,
    call: ActionCall,
    mut peer: impl FnMut() -> Option<Peer>,
    mut count: impl FnMut(usize) -> u64,
) -> ActionDecision {
    let mut d = ActionDecision::default();
    let mut known: Option<Option<Peer>> = None;
    let func = call.func;
    for (i, r) in rules.iter().enumerate().take(MAX_ACTIONS) {
        if applicable & (1 << i) == 0
            || !(r.funcs.contains(func) || call.also.is_some_and(|o| r.funcs.contains(o)))
        {
            continue;
        }
        if r.flags & ACTION_FAMILY != 0
            && ((call.domain != -1 && call.domain != r.family as i32)
                || (call.domain == -1 && func == Func::Socket))
        {
            continue;
        }
        if r.flags & (ACTION_PEER | ACTION_PORT) != 0 {
            match *known.get_or_insert_with(&mut peer) {
                Some(p) if r.peer_matches(p.family, &p.ip[..p.len], p.port) => {}
                _ => continue,
            }
        }
        let n = count(i);
        if !r.fires(i, n) {
            continue;
        }
        match r.kind {
            ACTION_DELAY => {
                let ns = r.delay_ns(i, n);
                if r.flags & ACTION_AFTER != 0 {
                    d.after_ns += ns;
                } else {
                    d.before_ns += ns;
                }
            }
            ACTION_FAULT if d.fail.is_none() => d.fail = Some((r.ret, r.error)),
            ACTION_SHORT => d.short = true,
            ACTION_LIMIT if r.bytes_per_sec > 0 && d.limit.is_none() => d.limit = Some(i),
            _ => {}
        }
    }
    d
}

/// SplitMix64 over (seed, rule, call number).
pub fn mix(seed: u64, rule: u64, n: u64) -> u64 {
    let mut z =
        seed ^ rule.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ n.wrapping_mul(0xd1b5_4a32_d192_ed03);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The capture settings for a process (see [`crate::program`]): `base`,
/// then every matching rule in order.
pub fn options_for(
    base: CaptureOptions,
    rules: &[ProgramRule],
    exe: &[u8],
    argv0: &[u8],
) -> CaptureOptions {
    let mut opts = base;
    for r in rules {
        if crate::program::program_matches(r.pattern(), exe, argv0) {
            r.apply(&mut opts);
        }
    }
    opts
}
/// Test-suite only: make the tracer panic while recording `connect`.
pub const CAPTURE_SELFTEST_PANIC: u32 = 1 << 31;

/// A header field that the collector writes before any producer runs, but
/// that any process mapping the area *could* write at any time: it is read
/// by volatile copy, never through a plain reference the compiler may
/// assume unchanging.
#[repr(transparent)]
pub struct Shared<T>(core::cell::UnsafeCell<T>);

// SAFETY: every access is a volatile copy of plain data.
unsafe impl<T: Copy + Send> Sync for Shared<T> {}

impl<T: Copy> Shared<T> {
    pub fn get(&self) -> T {
        // SAFETY: the cell lies in the mapping (or in a test's memory); a
        // torn read of plain data is only wrong data, which readers bound.
        unsafe { core::ptr::read_volatile(self.0.get()) }
    }

    fn set(&self, v: T) {
        // SAFETY: as above.
        unsafe { core::ptr::write_volatile(self.0.get(), v) }
    }
}

/// The header page. Fields written by the collector before any producer
/// runs are [`Shared`]; fields producers update are atomics.
#[repr(C)]
pub struct ShmHeader {
    pub magic: Shared<u64>,
    pub abi: Shared<u32>,
    pub nrings: Shared<u32>,
    pub ring_bytes: Shared<u32>,
    pub data_offset: Shared<u32>,
    pub total_bytes: Shared<u64>,
    /// CLOCK_REALTIME minus CLOCK_MONOTONIC at creation, nanoseconds.
    pub realtime_offset_ns: Shared<i64>,
    /// CLOCK_MONOTONIC at creation.
    pub start_mono_ns: Shared<u64>,
    pub capture: Shared<CaptureOptions>,
    /// Per-program rules, `nrules` of them, applied in order.
    pub nrules: Shared<u32>,
    pub rules: Shared<[ProgramRule; MAX_RULES]>,
    /// Delays, injected failures and bandwidth limits, `nactions` of them.
    pub nactions: Shared<u32>,
    pub actions: Shared<[ActionRule; MAX_ACTIONS]>,
    /// Pid of the collector; producers stop waiting for room when it dies.
    pub consumer_pid: AtomicU32,
    /// Set by a producer that found the collector dead: tracing stops.
    pub consumer_gone: AtomicU32,
    /// Processes that attached to this area.
    pub processes: AtomicU32,
    /// The pid of the first process that attached (for --no-follow).
    pub root_pid: AtomicU32,
    /// Events lost because every ring was taken.
    pub lost_no_ring: AtomicU64,
    /// Events lost because a ring stayed full while the collector was gone.
    pub lost_full: AtomicU64,
    /// Times a producer had to wait for the collector to make room.
    pub waits_full: AtomicU64,
    /// Events lost because the memory behind a ring could not be allocated
    /// (a full tmpfs, a memory limit).
    pub lost_no_space: AtomicU64,
    /// Processes handed from the preload library to the system-call
    /// backend at exec (`--backend auto`): see [`crate::handover`].
    pub handover: crate::handover::Handover,
}

const _: () = assert!(core::mem::size_of::<ShmHeader>() <= HEADER_BYTES);

/// Per-ring control block, one cache line for the producer side and one for
/// the consumer side so they do not false-share.
#[repr(C, align(64))]
pub struct RingCtl {
    pub state: AtomicU32,
    pub owner_pid: AtomicU32,
    pub owner_tid: AtomicU32,
    _pad0: u32,
    /// Bytes ever written (producer-owned).
    pub head: AtomicU64,
    _pad1: [u64; 5],
    /// Bytes ever consumed (consumer-owned).
    pub tail: AtomicU64,
    _pad2: [u64; 7],
}

const _: () = assert!(core::mem::size_of::<RingCtl>() == RING_CTL_BYTES);

/// A private copy of a table from the header and how many entries count.
#[derive(Clone, Copy)]
pub struct Bounded<T, const N: usize> {
    items: [T; N],
    len: usize,
}

impl<const N: usize> Bounded<ActionRule, N> {
    pub const EMPTY: Self = Bounded {
        items: [ActionRule::EMPTY; N],
        len: 0,
    };
}

impl<T, const N: usize> Bounded<T, N> {
    pub fn as_slice(&self) -> &[T] {
        &self.items[..self.len.min(N)]
    }
}

/// Geometry of an area; the collector picks it, producers read it back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    pub nrings: u32,
    pub ring_bytes: u32,
}

impl Geometry {
    pub const DEFAULT: Geometry = Geometry {
        nrings: 1024,
        ring_bytes: 256 * 1024,
    };

    pub fn data_offset(&self) -> usize {
        let ctl_end = HEADER_BYTES + self.nrings as usize * RING_CTL_BYTES;
        ctl_end.div_ceil(PAGE) * PAGE
    }

    pub fn total_bytes(&self) -> usize {
        self.data_offset() + self.nrings as usize * self.ring_bytes as usize
    }

    fn valid(&self) -> bool {
        self.nrings > 0
            && self.nrings <= 65536
            && self.ring_bytes >= 16 * 1024
            && self.ring_bytes.is_power_of_two()
            && self.ring_bytes <= 64 * 1024 * 1024
    }
}

/// The largest record a producer may write: a quarter ring, so that a
/// wrapped write never needs more than the ring holds.
pub fn max_record(ring_bytes: u32) -> usize {
    (ring_bytes as usize / 4).min(64 * 1024 + 4096)
}

/// A mapped area. Does not own the mapping: the preload library maps it
/// once for the life of the process, the collector unmaps it itself.
#[derive(Clone, Copy)]
pub struct Shm {
    base: *mut u8,
    geo: Geometry,
}

// SAFETY: all shared state behind `base` is accessed through atomics or by
// the single owner of a ring; the pointer itself is immutable.
unsafe impl Send for Shm {}
// SAFETY: see above.
unsafe impl Sync for Shm {}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttachError {
    TooSmall,
    BadMagic,
    AbiMismatch { found: u32 },
    BadGeometry,
}

/// What a new area is made of: its geometry and the settings the collector
/// writes into its header once, before any producer runs.
#[derive(Clone, Copy, Debug)]
pub struct AreaSpec<'a> {
    pub geometry: Geometry,
    pub capture: CaptureOptions,
    pub rules: &'a [ProgramRule],
    pub actions: &'a [ActionRule],
}

impl AreaSpec<'static> {
    /// `geometry` and `capture`, no per-program or action rules.
    pub fn new(geometry: Geometry, capture: CaptureOptions) -> Self {
        AreaSpec {
            geometry,
            capture,
            rules: &[],
            actions: &[],
        }
    }
}

impl Shm {
    /// Initialises a fresh, zero-filled mapping of `len` bytes.
    ///
    /// # Safety
    /// `base` must point to `len` writable bytes, zero-filled, that stay
    /// mapped while the returned value is used.
    pub unsafe fn init(
        base: *mut u8,
        len: usize,
        spec: &AreaSpec<'_>,
        realtime_offset_ns: i64,
        start_mono_ns: u64,
    ) -> Result<Shm, AttachError> {
        let AreaSpec {
            geometry: geo,
            capture,
            rules,
            actions,
        } = *spec;
        if rules.len() > MAX_RULES || actions.len() > MAX_ACTIONS {
            return Err(AttachError::BadGeometry);
        }
        if !geo.valid() {
            return Err(AttachError::BadGeometry);
        }
        if len < geo.total_bytes() {
            return Err(AttachError::TooSmall);
        }
        let h = base as *mut ShmHeader;
        // SAFETY: the caller guarantees the mapping; the header fits in the
        // first page (static assertion above) and nobody else uses the area yet.
        unsafe {
            let h = &*h;
            h.abi.set(crate::ABI_VERSION);
            h.nrings.set(geo.nrings);
            h.ring_bytes.set(geo.ring_bytes);
            h.data_offset.set(geo.data_offset() as u32);
            h.total_bytes.set(geo.total_bytes() as u64);
            h.realtime_offset_ns.set(realtime_offset_ns);
            h.start_mono_ns.set(start_mono_ns);
            h.capture.set(capture);
            h.nrules.set(rules.len() as u32);
            let mut all_rules = [ProgramRule::default(); MAX_RULES];
            all_rules[..rules.len()].copy_from_slice(rules);
            h.rules.set(all_rules);
            h.nactions.set(actions.len() as u32);
            let mut all_actions = [ActionRule::default(); MAX_ACTIONS];
            all_actions[..actions.len()].copy_from_slice(actions);
            h.actions.set(all_actions);
            core::sync::atomic::fence(Ordering::Release);
            h.magic.set(MAGIC);
        }
        Ok(Shm { base, geo })
    }

    /// Validates a mapping made by someone else.
    ///
    /// # Safety
    /// `base` must point to `len` readable and writable bytes that stay
    /// mapped while the returned value is used.
    pub unsafe fn attach(base: *mut u8, len: usize) -> Result<Shm, AttachError> {
        if len < HEADER_BYTES {
            return Err(AttachError::TooSmall);
        }
        let h = base as *const ShmHeader;
        // SAFETY: at least one page is mapped (checked above).
        let (magic, abi, nrings, ring_bytes, data_offset, total) = unsafe {
            let h = &*h;
            (
                h.magic.get(),
                h.abi.get(),
                h.nrings.get(),
                h.ring_bytes.get(),
                h.data_offset.get(),
                h.total_bytes.get(),
            )
        };
        if magic != MAGIC {
            return Err(AttachError::BadMagic);
        }
        if abi != crate::ABI_VERSION {
            return Err(AttachError::AbiMismatch { found: abi });
        }
        let geo = Geometry { nrings, ring_bytes };
        if !geo.valid()
            || geo.data_offset() != data_offset as usize
            || geo.total_bytes() as u64 != total
            || geo.total_bytes() > len
        {
            return Err(AttachError::BadGeometry);
        }
        Ok(Shm { base, geo })
    }

    pub fn geometry(&self) -> Geometry {
        self.geo
    }

    pub fn header(&self) -> &ShmHeader {
        // SAFETY: validated at attach/init; lives as long as the mapping.
        unsafe { &*(self.base as *const ShmHeader) }
    }

    /// A copy of the action rules, bounded by [`MAX_ACTIONS`] whatever the
    /// header says.
    pub fn actions(&self) -> Bounded<ActionRule, MAX_ACTIONS> {
        let h = self.header();
        Bounded {
            items: h.actions.get(),
            len: (h.nactions.get() as usize).min(MAX_ACTIONS),
        }
    }

    /// A copy of the per-program rules, bounded by [`MAX_RULES`] whatever
    /// the header says.
    pub fn rules(&self) -> Bounded<ProgramRule, MAX_RULES> {
        let h = self.header();
        Bounded {
            items: h.rules.get(),
            len: (h.nrules.get() as usize).min(MAX_RULES),
        }
    }

    pub fn ctl(&self, ring: u32) -> &RingCtl {
        debug_assert!(ring < self.geo.nrings);
        let ring = ring.min(self.geo.nrings - 1);
        // SAFETY: ring < nrings, so the control block lies inside the table.
        unsafe {
            &*(self.base.add(HEADER_BYTES + ring as usize * RING_CTL_BYTES) as *const RingCtl)
        }
    }

    /// The data bytes of `ring`: where they start and how many.
    pub fn ring_span(&self, ring: u32) -> (*mut u8, usize) {
        (self.data(ring), self.geo.ring_bytes as usize)
    }

    fn data(&self, ring: u32) -> *mut u8 {
        let ring = ring.min(self.geo.nrings - 1);
        // SAFETY: inside the mapping by the geometry checks.
        unsafe {
            self.base
                .add(self.geo.data_offset() + ring as usize * self.geo.ring_bytes as usize)
        }
    }

    /// Takes a free ring for (pid, tid). Lock-free; safe in a signal
    /// handler and in a vfork child. `hint` spreads threads over the table.
    pub fn acquire(&self, pid: u32, tid: u32, hint: u32) -> Option<u32> {
        let n = self.geo.nrings;
        for i in 0..n {
            let idx = (hint.wrapping_add(i)) % n;
            let ctl = self.ctl(idx);
            if ctl.state.load(Ordering::Relaxed) != RING_FREE {
                continue;
            }
            if ctl
                .state
                .compare_exchange(RING_FREE, RING_OWNED, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                ctl.owner_pid.store(pid, Ordering::Relaxed);
                ctl.owner_tid.store(tid, Ordering::Release);
                return Some(idx);
            }
        }
        None
    }

    /// Gives a ring back; the collector drains what is left and frees it.
    pub fn release(&self, ring: u32) {
        self.ctl(ring).state.store(RING_RELEASED, Ordering::Release);
    }

    /// Reserves `len` contiguous bytes (a multiple of 8, at most
    /// [`max_record`]) in `ring`. Returns `None` when the ring is full; the
    /// caller decides whether to wait. Producer side: only the ring's owner
    /// may call this.
    ///
    /// # Safety
    /// The caller must own `ring` and must call [`Shm::commit`] (or
    /// nothing) before reserving again.
    pub unsafe fn reserve(&self, ring: u32, len: usize) -> Option<*mut u8> {
        let size = self.geo.ring_bytes as u64;
        let ctl = self.ctl(ring);
        let head = ctl.head.load(Ordering::Relaxed);
        let tail = ctl.tail.load(Ordering::Acquire);
        let off = head % size;
        let contiguous = size - off;
        let len = len as u64;
        let need = if len <= contiguous {
            len
        } else {
            contiguous + len
        };
        if head + need - tail > size {
            return None;
        }
        let data = self.data(ring);
        if len > contiguous {
            // Fill the tail end of the ring with a pad record and start over.
            // SAFETY: off..size lies inside this ring; contiguous >= 8 since
            // every record length and therefore head is a multiple of 8.
            unsafe {
                let p = data.add(off as usize);
                core::ptr::write_unaligned(p as *mut u32, contiguous as u32);
                core::ptr::write_unaligned(p.add(4) as *mut u16, crate::Func::Pad as u16);
                core::ptr::write_unaligned(p.add(6) as *mut u16, 0);
            }
            ctl.head.store(head + contiguous, Ordering::Release);
            // SAFETY: start of the ring.
            return Some(data);
        }
        // SAFETY: off + len <= size.
        Some(unsafe { data.add(off as usize) })
    }

    /// Publishes `len` bytes written at the last reservation.
    ///
    /// # Safety
    /// Same contract as [`Shm::reserve`]; `len` must not exceed the reserved
    /// length and must be a multiple of 8.
    pub unsafe fn commit(&self, ring: u32, len: usize) {
        let ctl = self.ctl(ring);
        let head = ctl.head.load(Ordering::Relaxed);
        ctl.head.store(head + len as u64, Ordering::Release);
    }

    /// Consumer side: copies the committed bytes of `ring` that lie
    /// contiguously after `tail` into `out` (appending) and returns the new
    /// tail position, which the caller passes to [`Shm::consume`] once the
    /// bytes are processed.
    pub fn read_committed(&self, ring: u32, out: &mut Vec<u8>) -> u64 {
        let size = self.geo.ring_bytes as u64;
        let ctl = self.ctl(ring);
        let head = ctl.head.load(Ordering::Acquire);
        let tail = ctl.tail.load(Ordering::Relaxed);
        if head <= tail || head - tail > size {
            return tail;
        }
        let off = tail % size;
        let n = (head - tail).min(size - off);
        let data = self.data(ring);
        let start = out.len();
        out.reserve(n as usize);
        // SAFETY: off + n <= size, inside the ring; the producer does not
        // write this region until `tail` moves past it. `out` has room for
        // n more bytes, all written before the length covers them.
        unsafe {
            core::ptr::copy_nonoverlapping(
                data.add(off as usize),
                out.as_mut_ptr().add(start),
                n as usize,
            );
            out.set_len(start + n as usize);
        }
        tail + n
    }

    /// Consumer side: whether the ring's counters break the invariant
    /// `tail <= head <= tail + size`. Only a process writing where it must
    /// not (its own ring's control block, or another's) can cause this.
    pub fn corrupt(&self, ring: u32) -> bool {
        let ctl = self.ctl(ring);
        let head = ctl.head.load(Ordering::Acquire);
        let tail = ctl.tail.load(Ordering::Relaxed);
        head < tail || head - tail > self.geo.ring_bytes as u64
    }

    /// Consumer side: drops whatever a corrupt ring holds so that its
    /// producer can go on (its records cannot be trusted to line up).
    pub fn resync(&self, ring: u32) {
        let ctl = self.ctl(ring);
        let head = ctl.head.load(Ordering::Acquire);
        ctl.tail.store(head, Ordering::Release);
    }

    /// Consumer side: marks bytes up to `tail` as processed.
    pub fn consume(&self, ring: u32, tail: u64) {
        self.ctl(ring).tail.store(tail, Ordering::Release);
    }

    /// Consumer side: makes a drained ring free for reuse.
    pub fn free(&self, ring: u32) {
        let ctl = self.ctl(ring);
        ctl.head.store(0, Ordering::Relaxed);
        ctl.tail.store(0, Ordering::Relaxed);
        ctl.owner_pid.store(0, Ordering::Relaxed);
        ctl.owner_tid.store(0, Ordering::Relaxed);
        ctl.state.store(RING_FREE, Ordering::Release);
    }

    /// Consumer side: true when every committed byte has been consumed.
    pub fn drained(&self, ring: u32) -> bool {
        let ctl = self.ctl(ring);
        ctl.head.load(Ordering::Acquire) == ctl.tail.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::func::Func;
    use crate::record::{Record, RecordWriter};

    #[repr(C, align(4096))]
    #[derive(Clone)]
    struct Page([u8; PAGE]);

    fn area(geo: Geometry) -> (Vec<Page>, Shm) {
        let mut mem = vec![Page([0; PAGE]); geo.total_bytes() / PAGE];
        // SAFETY: the vector is zeroed, large enough and outlives the Shm in
        // each test.
        let shm = unsafe {
            Shm::init(
                mem.as_mut_ptr() as *mut u8,
                mem.len() * PAGE,
                &AreaSpec::new(geo, CaptureOptions::default()),
                0,
                0,
            )
        }
        .unwrap();
        (mem, shm)
    }

    fn write_one(shm: &Shm, ring: u32, tid: u32, payload: usize) -> bool {
        let len = (96 + 4 + payload + 7) & !7;
        // SAFETY: this test owns the ring.
        let Some(p) = (unsafe { shm.reserve(ring, len) }) else {
            return false;
        };
        // SAFETY: reserve returned len writable bytes.
        let buf = unsafe { core::slice::from_raw_parts_mut(p, len) };
        let mut w = RecordWriter::new(buf, Func::Send);
        w.header().tid = tid;
        w.blob(crate::Tag::Bytes, 0, &vec![tid as u8; payload]);
        let n = w.finish();
        // SAFETY: n <= len.
        unsafe { shm.commit(ring, n) };
        true
    }

    #[test]
    fn attach_checks_magic_and_geometry() {
        let geo = Geometry {
            nrings: 4,
            ring_bytes: 16 * 1024,
        };
        let (mut mem, _) = area(geo);
        let len = mem.len() * PAGE;
        // SAFETY: same mapping as above.
        assert!(unsafe { Shm::attach(mem.as_mut_ptr() as *mut u8, len) }.is_ok());
        // SAFETY: as above.
        let short = unsafe { Shm::attach(mem.as_mut_ptr() as *mut u8, len - 8) };
        assert_eq!(short.err(), Some(AttachError::BadGeometry));
        mem[0].0[0] = 0;
        // SAFETY: as above.
        let bad = unsafe { Shm::attach(mem.as_mut_ptr() as *mut u8, len) };
        assert_eq!(bad.err(), Some(AttachError::BadMagic));
    }

    #[test]
    fn records_survive_many_wraps_in_order() {
        let geo = Geometry {
            nrings: 2,
            ring_bytes: 16 * 1024,
        };
        let (_mem, shm) = area(geo);
        let ring = shm.acquire(1, 1, 0).unwrap();
        let mut seen = 0u32;
        let mut written = 0u32;
        let mut buf = Vec::new();
        for round in 0..2000u32 {
            let payload = (round as usize * 37) % 700;
            while !write_one(&shm, ring, written, payload) {
                // Drain to make room, as the collector would.
                buf.clear();
                let tail = shm.read_committed(ring, &mut buf);
                let mut pos = 0;
                while pos < buf.len() {
                    let r = Record::parse(&buf[pos..]).unwrap();
                    if r.func() == Some(Func::Send) {
                        assert_eq!(r.header.tid, seen);
                        seen += 1;
                    }
                    pos += r.header.len as usize;
                }
                shm.consume(ring, tail);
            }
            written += 1;
        }
        loop {
            buf.clear();
            let tail = shm.read_committed(ring, &mut buf);
            if buf.is_empty() {
                break;
            }
            let mut pos = 0;
            while pos < buf.len() {
                let r = Record::parse(&buf[pos..]).unwrap();
                if r.func() == Some(Func::Send) {
                    assert_eq!(r.header.tid, seen);
                    seen += 1;
                }
                pos += r.header.len as usize;
            }
            shm.consume(ring, tail);
        }
        assert_eq!(seen, written);
    }

    #[test]
    fn action_filters_and_schedules() {
        let mut r = ActionRule {
            flags: ACTION_PEER | ACTION_PORT,
            family: 2,
            prefix: 8,
            addr: [127, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            port: 80,
            ..ActionRule::default()
        };
        assert!(r.peer_matches(2, &[127, 1, 2, 3], 80));
        assert!(!r.peer_matches(2, &[10, 1, 2, 3], 80));
        assert!(!r.peer_matches(2, &[127, 1, 2, 3], 81));
        assert!(!r.peer_matches(10, &[127, 1, 2, 3], 80));
        r.prefix = 12;
        r.addr[1] = 0x10;
        assert!(r.peer_matches(2, &[127, 0x1f, 0, 0], 80));
        assert!(!r.peer_matches(2, &[127, 0x20, 0, 0], 80));
        let nth = ActionRule {
            nth: 3,
            ..ActionRule::default()
        };
        assert_eq!(
            (1..=6).filter(|&n| nth.fires(0, n)).collect::<Vec<_>>(),
            vec![3]
        );
        let every = ActionRule {
            every: 2,
            ..ActionRule::default()
        };
        assert_eq!(
            (1..=6).filter(|&n| every.fires(0, n)).collect::<Vec<_>>(),
            vec![2, 4, 6]
        );
        let half = ActionRule {
            chance: 1 << 31,
            seed: 7,
            ..ActionRule::default()
        };
        let fired = (1..=10_000).filter(|&n| half.fires(0, n)).count();
        assert!((4500..5500).contains(&fired), "{fired}");
        let again = (1..=10_000).filter(|&n| half.fires(0, n)).count();
        assert_eq!(fired, again, "the same seed repeats");
        let d = ActionRule {
            min_ns: 10,
            max_ns: 20,
            ..ActionRule::default()
        };
        assert!((1..1000).all(|n| (10..=20).contains(&d.delay_ns(0, n))));
    }

    #[test]
    fn acquire_release_free_cycle() {
        let geo = Geometry {
            nrings: 2,
            ring_bytes: 16 * 1024,
        };
        let (_mem, shm) = area(geo);
        let a = shm.acquire(1, 1, 0).unwrap();
        let b = shm.acquire(1, 2, 0).unwrap();
        assert_ne!(a, b);
        assert_eq!(shm.acquire(1, 3, 0), None);
        shm.release(a);
        assert_eq!(shm.acquire(1, 3, 0), None, "released is not free yet");
        assert!(shm.drained(a));
        shm.free(a);
        assert_eq!(shm.acquire(1, 3, 0), Some(a));
    }
}
