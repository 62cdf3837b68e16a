//! The trace area as the hooks see it: attached once at load from the
//! handle `sock-trace.exe run` let the program inherit, one ring per
//! thread, and [`emit`], the one path that writes a record.
//!
//! `SOCK_TRACE_SHM` is `win:<handle>:<collector pid>`: the handle of an
//! unnamed file mapping, inherited (there is no name another process could
//! open), and the collector's process id (the parent in the start record,
//! and whom to wait for when a ring is full).

use crate::sys;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicUsize, Ordering};
use sock_trace_event::record::RecordWriter;
use sock_trace_event::ring::{max_record, CAPTURE_DISABLED};
use sock_trace_event::{platform, role, Func, Shm, Tag};
use windows_sys::Win32::System::Environment::{GetCommandLineW, GetEnvironmentVariableW};
use windows_sys::Win32::System::LibraryLoader::GetModuleFileNameW;
use windows_sys::Win32::System::Memory::{
    MapViewOfFile, VirtualQuery, FILE_MAP_READ, FILE_MAP_WRITE, MEMORY_BASIC_INFORMATION,
};
use windows_sys::Win32::System::Threading::{
    GetCurrentProcessId, GetCurrentThreadId, TlsAlloc, TlsGetValue, TlsSetValue, TLS_OUT_OF_INDEXES,
};

static BASE: AtomicPtr<u8> = AtomicPtr::new(core::ptr::null_mut());
static LEN: AtomicUsize = AtomicUsize::new(0);
static COLLECTOR: AtomicU32 = AtomicU32::new(0);

const NO_RING: u32 = u32::MAX;

/// This thread's ring and whether it is writing a record, in an explicit
/// TLS slot (`TlsAlloc`): `ring + 1` in the low 32 bits (0: none), bit 32
/// set while writing (a nested call takes no ring). Not `thread_local!`:
/// Wine 8 gives a DLL loaded into a running process (`sock-trace.exe
/// attach`) no implicit-TLS block in the threads already running, whose
/// accesses then read and write another module's data.
static TLS: AtomicU32 = AtomicU32::new(TLS_OUT_OF_INDEXES);
const WRITING: usize = 1 << 32;

/// Allocates the slot (at DLL load).
pub fn tls_init() {
    if TLS.load(Ordering::Relaxed) == TLS_OUT_OF_INDEXES {
        // SAFETY: no arguments.
        TLS.store(unsafe { TlsAlloc() }, Ordering::Relaxed);
    }
}

/// This thread's value (`None`: no slot). Clears the last error, as
/// `TlsGetValue` does: callers restore it.
fn tls_get() -> Option<usize> {
    let i = TLS.load(Ordering::Relaxed);
    // SAFETY: an index TlsAlloc gave.
    (i != TLS_OUT_OF_INDEXES).then(|| unsafe { TlsGetValue(i) } as usize)
}

fn tls_set(v: usize) -> bool {
    let i = TLS.load(Ordering::Relaxed);
    // SAFETY: an index TlsAlloc gave; the value is a plain number.
    i != TLS_OUT_OF_INDEXES && unsafe { TlsSetValue(i, v as *const _) } != 0
}

fn ring_of(v: usize) -> u32 {
    match v as u32 {
        0 => NO_RING,
        r => r - 1,
    }
}

/// Set by `sock-trace.exe attach` when it detaches: nothing more is
/// recorded (the mapping stays: a hook may be writing a record).
static DETACHED: AtomicBool = AtomicBool::new(false);

/// Stops recording for good (the collector detached).
pub fn detach() {
    DETACHED.store(true, Ordering::Release);
}

/// The attached area, if any.
pub fn shm() -> Option<Shm> {
    let base = BASE.load(Ordering::Acquire);
    if base.is_null() || DETACHED.load(Ordering::Acquire) {
        return None;
    }
    // SAFETY: the view stays mapped for the life of the process (never
    // unmapped), and attach() checked it once already.
    unsafe { Shm::attach(base, LEN.load(Ordering::Relaxed)) }.ok()
}

/// Parses `win:<handle>:<pid>` from a UTF-16 value.
fn parse(v: &[u16]) -> Option<(usize, u32)> {
    let rest = v.strip_prefix(&[b'w' as u16, b'i' as u16, b'n' as u16, b':' as u16])?;
    let mut parts = rest.split(|&c| c == b':' as u16);
    let num = |p: &[u16]| -> Option<u64> {
        if p.is_empty() || p.len() > 20 {
            return None;
        }
        p.iter().try_fold(0u64, |acc, &c| {
            let d = (c as u8 as char).to_digit(10).filter(|_| c < 128)?;
            acc.checked_mul(10)?.checked_add(d as u64)
        })
    };
    let handle = num(parts.next()?)? as usize;
    let pid = num(parts.next()?)? as u32;
    Some((handle, pid))
}

/// At DLL load: maps the area and writes the process start record.
pub fn attach() {
    let mut buf = [0u16; 64];
    let name: Vec16 = Vec16::from("SOCK_TRACE_SHM");
    // SAFETY: NUL-terminated name, valid buffer.
    let n = unsafe { GetEnvironmentVariableW(name.0.as_ptr(), buf.as_mut_ptr(), 64) } as usize;
    if n == 0 || n >= 64 {
        return;
    }
    let Some((handle, collector)) = parse(&buf[..n]) else {
        return;
    };
    attach_mapping(handle, collector, collector, 0);
}

/// Whether this process writes into a trace area.
pub fn attached() -> bool {
    !BASE.load(Ordering::Acquire).is_null()
}

/// Maps the area behind `handle` (inherited, or duplicated into this
/// process by an injection) and writes the process start record, naming
/// `parent`, under thread `tid` (0: this one); `collector` is whom to
/// wait for when a ring is full.
pub fn attach_mapping(handle: usize, collector: u32, parent: u32, tid: u32) {
    if attached() {
        return;
    }
    // SAFETY: a mapping handle given to this process (anything else fails
    // cleanly).
    let view = unsafe { MapViewOfFile(handle as *mut _, FILE_MAP_READ | FILE_MAP_WRITE, 0, 0, 0) };
    let base = view.Value as *mut u8;
    if base.is_null() {
        return;
    }
    let Some(info) = sys::region(base) else {
        return;
    };
    let len = info.RegionSize;
    // SAFETY: a mapped view of `len` bytes.
    let Ok(shm) = (unsafe { Shm::attach(base, len) }) else {
        return;
    };
    if shm.header().capture.get().flags & CAPTURE_DISABLED != 0 {
        return;
    }
    shm.header().processes.fetch_add(1, Ordering::Relaxed);
    LEN.store(len, Ordering::Relaxed);
    COLLECTOR.store(collector, Ordering::Relaxed);
    BASE.store(base, Ordering::Release);
    let mut exe = [0u8; 1024];
    let mut argv = [0u8; 1024];
    let (n, m) = program_names(&mut exe, &mut argv);
    process_start(parent, tid, &exe[..n], &argv[..m]);
    // The rules' program patterns read paths with `/`.
    for b in &mut exe[..n] {
        if *b == b'\\' {
            *b = b'/';
        }
    }
    let argv0 = argv[..m].split(|&b| b == 0).next().unwrap_or(&[]);
    crate::hooks::actions::init(&shm, &exe[..n], argv0);
}

/// The executable's path and the arguments (NUL-separated), UTF-8;
/// returns their lengths.
fn program_names(exe: &mut [u8; 1024], argv: &mut [u8; 1024]) -> (usize, usize) {
    let mut path = [0u16; 512];
    // SAFETY: valid buffer; a null module is the executable.
    let k = unsafe { GetModuleFileNameW(core::ptr::null_mut(), path.as_mut_ptr(), 512) };
    let n = utf8(&path[..(k as usize).min(512)], exe);
    // SAFETY: the process's command line, NUL-terminated, lives as long
    // as the process.
    let line = unsafe {
        let p = GetCommandLineW();
        let mut len = 0;
        while len < 4096 && *p.add(len) != 0 {
            len += 1;
        }
        core::slice::from_raw_parts(p, len)
    };
    (n, split_command_line(line, argv))
}

/// A NUL-terminated UTF-16 copy of a short ASCII name, on the stack.
struct Vec16([u16; 32]);

impl Vec16 {
    fn from(s: &str) -> Vec16 {
        let mut v = [0u16; 32];
        for (i, b) in s.bytes().take(31).enumerate() {
            v[i] = b as u16;
        }
        Vec16(v)
    }
}

/// UTF-16 to UTF-8 into `out`; returns the bytes written (cut at a
/// character boundary when `out` is full).
fn utf8(src: &[u16], out: &mut [u8]) -> usize {
    let mut n = 0;
    for c in char::decode_utf16(src.iter().copied()) {
        let c = c.unwrap_or(char::REPLACEMENT_CHARACTER);
        let w = c.len_utf8();
        if n + w > out.len() {
            break;
        }
        c.encode_utf8(&mut out[n..]);
        n += w;
    }
    n
}

/// Splits a Windows command line into NUL-separated arguments as the C
/// runtime does (quotes group, `\"` is a quote, 2n backslashes before a
/// quote are n backslashes). Returns the bytes written.
fn split_command_line(line: &[u16], out: &mut [u8]) -> usize {
    let mut n = 0;
    let mut push = |b: &[u8], n: &mut usize| {
        if *n + b.len() <= out.len() {
            out[*n..*n + b.len()].copy_from_slice(b);
            *n += b.len();
        }
    };
    let mut i = 0;
    let mut first = true;
    while i < line.len() {
        while i < line.len() && (line[i] == b' ' as u16 || line[i] == b'\t' as u16) {
            i += 1;
        }
        if i >= line.len() {
            break;
        }
        if !first {
            push(&[0], &mut n);
        }
        first = false;
        let mut quoted = false;
        while i < line.len() {
            let c = line[i];
            if c == b'\\' as u16 {
                let mut k = 0;
                while i < line.len() && line[i] == b'\\' as u16 {
                    k += 1;
                    i += 1;
                }
                if i < line.len() && line[i] == b'"' as u16 {
                    for _ in 0..k / 2 {
                        push(b"\\", &mut n);
                    }
                    if k % 2 == 1 {
                        push(b"\"", &mut n);
                        i += 1;
                    }
                } else {
                    for _ in 0..k {
                        push(b"\\", &mut n);
                    }
                }
                continue;
            }
            if c == b'"' as u16 {
                quoted = !quoted;
                i += 1;
                continue;
            }
            if !quoted && (c == b' ' as u16 || c == b'\t' as u16) {
                break;
            }
            let mut tmp = [0u8; 4];
            let k = utf8(&line[i..i + 1], &mut tmp);
            push(&tmp[..k], &mut n);
            i += 1;
        }
    }
    n
}

fn process_start(parent: u32, tid: u32, exe: &[u8], argv: &[u8]) {
    let call = Call {
        func: Func::ProcStart,
        t_start: sys::now(),
        ret: 0,
        err: 0,
        extra: 2048,
    };
    emit(call, |w| {
        if tid != 0 {
            w.header().tid = tid;
        }
        w.header().args[0] = parent as u64;
        w.header().args[1] = 0;
        w.header().args[2] =
            platform::encode(platform::Platform::Windows, platform::Backend::WinsockDll);
        w.blob(Tag::Str, role::EXE, exe);
        w.blob(Tag::Str, role::ARGV, argv);
    });
}

/// Gives this thread's ring back (thread end, process end).
pub fn give_back_ring() {
    let v = tls_get().unwrap_or(0);
    let ring = ring_of(v);
    tls_set(v & WRITING);
    if ring != NO_RING {
        if let Some(shm) = shm() {
            shm.release(ring);
        }
    }
}

/// What a hook hands over after the real call.
pub struct Call {
    pub func: Func,
    pub t_start: u64,
    pub ret: i64,
    /// The last error after the call (a `WSAE*` code when it failed).
    pub err: u32,
    /// Room needed beyond the usual (payload samples).
    pub extra: usize,
}

/// Whether `func` is traced (cheap: one load and a bit test), and the
/// payload bytes to sample.
pub fn wanted(func: Func) -> Option<u32> {
    let shm = shm()?;
    let c = shm.header().capture.get();
    c.enabled.contains(func).then_some(c.max_data)
}

/// How long a producer waits for a full ring whose collector makes no
/// progress before dropping the record (counted).
const STALL_LIMIT_NS: u64 = 10_000_000_000;

/// Writes one record; `fill` adds arguments and blobs. Never panics into
/// the program; waits only while the collector is alive and progressing.
pub fn emit(call: Call, fill: impl FnOnce(&mut RecordWriter<'_>)) {
    let Some(shm) = shm() else { return };
    let t_end = sys::now();
    let Some(state) = tls_get() else { return };
    if state & WRITING != 0 || !tls_set(state | WRITING) {
        return;
    }
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: no arguments.
        let (pid, tid) = unsafe { (GetCurrentProcessId(), GetCurrentThreadId()) };
        let h = shm.header();
        let mut ring = ring_of(state);
        let mut temporary = false;
        if ring == NO_RING {
            let Some(r) = shm.acquire(pid, tid, 0) else {
                h.lost_no_ring.fetch_add(1, Ordering::Relaxed);
                return;
            };
            temporary = !tls_set(WRITING | (r as usize + 1));
            ring = r;
        }
        let want = (2048 + call.extra).min(max_record(shm.geometry().ring_bytes));
        let mut since = 0u64;
        let mut last_tail = u64::MAX;
        let mut spins = 0u32;
        let p = loop {
            // SAFETY: this thread owns `ring`.
            if let Some(p) = unsafe { shm.reserve(ring, want) } {
                break Some(p);
            }
            let collector = COLLECTOR.load(Ordering::Relaxed);
            if h.consumer_gone.load(Ordering::Relaxed) != 0 {
                break None;
            }
            spins += 1;
            if spins % 64 == 0 && collector != 0 && !sys::alive(collector) {
                h.consumer_gone.store(1, Ordering::Relaxed);
                break None;
            }
            let tail = shm.ctl(ring).tail.load(Ordering::Relaxed);
            let now = sys::now();
            if tail != last_tail {
                last_tail = tail;
                since = now;
            } else if now.saturating_sub(since) > STALL_LIMIT_NS {
                break None;
            }
            sys::pause();
        };
        match p {
            Some(p) => {
                // SAFETY: reserve returned `want` writable bytes we own.
                let buf = unsafe { core::slice::from_raw_parts_mut(p, want) };
                let mut w = RecordWriter::new(buf, call.func);
                {
                    let hd = w.header();
                    hd.pid = pid;
                    hd.tid = tid;
                    hd.t_start = call.t_start;
                    hd.t_end = t_end;
                    hd.ret = call.ret;
                    hd.errno = call.err as i32;
                }
                fill(&mut w);
                let len = w.finish();
                // SAFETY: len <= want, a multiple of 8.
                unsafe { shm.commit(ring, len) };
            }
            None => {
                h.lost_full.fetch_add(1, Ordering::Relaxed);
            }
        }
        if temporary {
            shm.release(ring);
        }
    }));
    if let Some(v) = tls_get() {
        tls_set(v & !WRITING);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> Vec<u16> {
        s.encode_utf16().collect()
    }

    #[test]
    fn command_lines_split_as_the_c_runtime_does() {
        let mut out = [0u8; 256];
        let n = split_command_line(&w(r#"prog.exe "a b" c\"d e\\"f g" "#), &mut out);
        assert_eq!(&out[..n], b"prog.exe\0a b\0c\"d\0e\\f g");
        assert_eq!(parse(&w("win:1234:56")), Some((1234, 56)));
        assert_eq!(parse(&w("win:x:56")), None);
    }
}
