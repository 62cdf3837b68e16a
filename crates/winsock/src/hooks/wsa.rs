//! The WSA calls of the Winsock family (docs/RECORDS.md, "Winsock"):
//! WSASocketA/W, WSAConnect, WSAAccept, the WSABUF byte movers (blocking
//! and overlapped), WSAGetOverlappedResult and completion routines,
//! WSAPoll, WSAIoctl and the extension functions it hands out (ConnectEx,
//! AcceptEx).
//!
//! An overlapped call that returns `WSA_IO_PENDING` is recorded as it
//! returned (pending); its completion is recorded when the program sees it:
//! by WSAGetOverlappedResult, or when its completion routine runs (the
//! routine is wrapped by [`st_completion`]). [`overlapped`] keeps what the
//! completion record needs in between.
//!
//! WSAGetLastError/WSASetLastError are forwarded, not traced: every failing
//! call would add a line saying what the failed call's line already says.

use super::overlapped::{self, Pending, BUFS};
use super::*;
use core::sync::atomic::{AtomicUsize, Ordering};
use sock_trace_xlat::winsock as xw;

const WSA_IO_PENDING: u32 = 997;
const WSA_IO_INCOMPLETE: u32 = 996;
/// WSABUF lengths kept in a record (as Linux's iovec lengths).
const MAX_BUFS: usize = 16;
/// Payload room asked for beyond the header: the sample never exceeds it.
const MAX_SAMPLE: usize = 65536;

#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct WsaBuf {
    len: u32,
    buf: usize,
}

/// The WSABUF array, read fault-safe before the call: `(address, length)`
/// of the first [`MAX_BUFS`] and how many were readable.
fn read_bufs(p: *const WsaBuf, count: u32) -> ([(usize, u32); MAX_BUFS], usize) {
    let mut out = [(0usize, 0u32); MAX_BUFS];
    let mut raw = [WsaBuf::default(); MAX_BUFS];
    let n = (count as usize).min(MAX_BUFS);
    if p.is_null() || n == 0 {
        return (out, 0);
    }
    // SAFETY: `raw` is plain data of n * 16 bytes.
    let bytes = unsafe { core::slice::from_raw_parts_mut(raw.as_mut_ptr() as *mut u8, n * 16) };
    let got = safe_read(p as *const u8, bytes) / 16;
    for i in 0..got {
        out[i] = (raw[i].buf, raw[i].len);
    }
    (out, got)
}

/// The buffer lengths, as sendmsg's iovec lengths.
fn lens(w: &mut RecordWriter<'_>, bufs: &[(usize, u32)]) {
    let mut v = [0i64; MAX_BUFS];
    for (i, b) in bufs.iter().take(MAX_BUFS).enumerate() {
        v[i] = b.1 as i64;
    }
    w.ints(role::IOV_LENS, &v[..bufs.len().min(MAX_BUFS)]);
}

/// The first min(`n`, `max`) bytes spread over `bufs`, as one blob.
fn gather(w: &mut RecordWriter<'_>, r: u8, bufs: &[(usize, u32)], n: u64, max: u32) {
    let want = n.min(max as u64) as usize;
    if want == 0 {
        return;
    }
    let out = w.reserve(want);
    let mut got = 0;
    for &(p, len) in bufs {
        if got == out.len() {
            break;
        }
        let take = (len as usize).min(out.len() - got);
        let k = safe_read(p as *const u8, &mut out[got..got + take]);
        got += k;
        if k < take {
            break;
        }
    }
    w.commit_reserved(Tag::Bytes, r, got);
}

fn sample_room(bufs: &[(usize, u32)]) -> usize {
    bufs.iter()
        .map(|b| b.1 as usize)
        .sum::<usize>()
        .min(MAX_SAMPLE)
}

/// The first [`BUFS`] buffers, for the completion record.
fn kept(bufs: &[(usize, u32)]) -> ([(usize, u32); BUFS], usize) {
    let mut k = [(0, 0); BUFS];
    let n = bufs.len().min(BUFS);
    k[..n].copy_from_slice(&bufs[..n]);
    (k, n)
}

/// What a WSABUF call passes besides its buffers.
struct IoCall {
    func: Func,
    out: bool,
    s: Socket,
    bufs: *const WsaBuf,
    count: u32,
    /// lpNumberOfBytesSent / lpNumberOfBytesRecvd.
    bytes: *const u32,
    /// WSASend's flags, or WSARecv's lpFlags (read before and after).
    flags: u32,
    flags_out: *const u32,
    ovl: usize,
    routine: usize,
}

/// WSASend, WSARecv, WSASendTo and WSARecvFrom: `call` is the real call,
/// given the completion routine to pass; `addr` adds the address blob.
/// Record: args `[s, lpBuffers, count, flags, lpOverlapped, routine]`,
/// IOV_LENS, and when the call completed at once ARG_VAL `[bytes,
/// flags after]` with the payload.
unsafe fn wsa_io(
    c: IoCall,
    call: impl FnOnce(usize) -> i32,
    addr: impl FnOnce(&mut RecordWriter<'_>, i32),
) -> i32 {
    let Some(max) = wanted(c.func) else {
        return call(c.routine);
    };
    let (all, nb) = read_bufs(c.bufs, c.count);
    let bufs = &all[..nb];
    let (keep, nkeep) = kept(bufs);
    let entry = Pending {
        socket: c.s,
        op: c.func as u16,
        routine: c.routine,
        bufs: keep,
        nbuf: nkeep,
    };
    // A completion routine runs through st_completion, which finds the
    // program's routine in the table: wrapped only when the entry is in.
    let wrapped = c.ovl != 0 && c.routine != 0 && overlapped::put(c.ovl, entry);
    let pass = if wrapped {
        st_completion as *const () as usize
    } else {
        c.routine
    };
    let t_start = sys::now();
    let r = call(pass);
    let err = sys::last_error();
    let pending = r != 0 && err == WSA_IO_PENDING;
    if wrapped && r != 0 && !pending {
        // Failed at once: the routine will not run.
        overlapped::take(c.ovl);
    } else if wrapped && r == 0 {
        // Done at once: this record has the payload; the routine's has not.
        overlapped::put(c.ovl, Pending { nbuf: 0, ..entry });
    } else if c.ovl != 0 && c.routine == 0 && pending {
        overlapped::put(c.ovl, entry);
    }
    let moved = (r == 0 && !c.bytes.is_null())
        .then(|| safe_read_val(c.bytes))
        .flatten();
    let flags_after = (!c.flags_out.is_null())
        .then(|| safe_read_val(c.flags_out))
        .flatten()
        .unwrap_or(0);
    emit(
        Call {
            func: c.func,
            t_start,
            ret: r as i64,
            err,
            extra: sample_room(bufs),
        },
        |w| {
            args(
                w,
                &[
                    c.s as u64,
                    c.bufs as u64,
                    c.count as u64,
                    c.flags as u64,
                    c.ovl as u64,
                    c.routine as u64,
                ],
            );
            lens(w, bufs);
            addr(w, r);
            if let Some(n) = moved {
                w.ints(role::ARG_VAL, &[n as i64, flags_after as i64]);
                let dir = if c.out { role::DATA_OUT } else { role::DATA_IN };
                gather(w, dir, bufs, n as u64, max);
            }
        },
    );
    sys::set_last_error(err);
    r
}

type Routine = unsafe extern "system" fn(u32, u32, *mut c_void, u32);

/// The direction role of an operation's payload.
fn data_role(op: u16) -> u8 {
    let sends = [Func::WsaSend, Func::WsaSendTo, Func::ConnectEx];
    if sends.iter().any(|f| *f as u16 == op) {
        role::DATA_OUT
    } else {
        role::DATA_IN
    }
}

/// A completion record's blobs: the operation's buffer lengths and the
/// bytes that moved.
fn completion_blobs(w: &mut RecordWriter<'_>, p: &Option<Pending>, bytes: u64, max: u32) {
    if let Some(p) = p {
        let bufs = &p.bufs[..p.nbuf];
        if !bufs.is_empty() {
            lens(w, bufs);
            gather(w, data_role(p.op), bufs, bytes, max);
        }
    }
}

/// Stands in for the program's completion routine: records the
/// completion (args `[s, lpOverlapped, op, flags]`, ret the bytes, errno
/// dwError), then calls the routine with what it was given.
unsafe extern "system" fn st_completion(err: u32, bytes: u32, ovl: *mut c_void, flags: u32) {
    let saved = sys::last_error();
    let Some(p) = overlapped::take(ovl as usize) else {
        return; // cannot happen: wrapped only with an entry in the table
    };
    if let Some(max) = wanted(Func::CompletionRoutine) {
        let t_start = sys::now();
        let some = Some(p);
        emit(
            Call {
                func: Func::CompletionRoutine,
                t_start,
                ret: bytes as i64,
                err,
                extra: (bytes as usize).min(MAX_SAMPLE),
            },
            |w| {
                args(w, &[p.socket as u64, ovl as u64, p.op as u64, flags as u64]);
                completion_blobs(w, &some, bytes as u64, max);
            },
        );
    }
    sys::set_last_error(saved);
    // SAFETY: the routine the program passed with this OVERLAPPED.
    let f: Routine = unsafe { core::mem::transmute::<usize, Routine>(p.routine) };
    unsafe { f(err, bytes, ovl, flags) }
}

// The real functions' types.
#[rustfmt::skip]
type SendFn = unsafe extern "system" fn(Socket, *const WsaBuf, u32, *mut u32, u32, *mut c_void, usize) -> i32;
#[rustfmt::skip]
type RecvFn = unsafe extern "system" fn(Socket, *const WsaBuf, u32, *mut u32, *mut u32, *mut c_void, usize) -> i32;
#[rustfmt::skip]
type SendToFn = unsafe extern "system" fn(Socket, *const WsaBuf, u32, *mut u32, u32, *const u8, i32, *mut c_void, usize) -> i32;
#[rustfmt::skip]
type RecvFromFn = unsafe extern "system" fn(Socket, *const WsaBuf, u32, *mut u32, *mut u32, *mut u8, *mut i32, *mut c_void, usize) -> i32;

impl IoCall {
    /// A send: its flags by value.
    #[allow(clippy::too_many_arguments)]
    fn send(
        func: Func,
        s: Socket,
        bufs: *const WsaBuf,
        count: u32,
        bytes: *mut u32,
        flags: u32,
        ovl: *mut c_void,
        routine: usize,
    ) -> IoCall {
        IoCall {
            func,
            out: true,
            s,
            bufs,
            count,
            bytes,
            flags,
            flags_out: core::ptr::null(),
            ovl: ovl as usize,
            routine,
        }
    }

    /// A receive: its flags in and out through lpFlags.
    #[allow(clippy::too_many_arguments)]
    fn recv(
        func: Func,
        s: Socket,
        bufs: *const WsaBuf,
        count: u32,
        bytes: *mut u32,
        flags: *mut u32,
        ovl: *mut c_void,
        routine: usize,
    ) -> IoCall {
        let before = (!flags.is_null())
            .then(|| safe_read_val(flags as *const u32))
            .flatten();
        IoCall {
            func,
            out: false,
            s,
            bufs,
            count,
            bytes,
            flags: before.unwrap_or(0),
            flags_out: flags,
            ovl: ovl as usize,
            routine,
        }
    }
}

#[no_mangle]
#[rustfmt::skip]
pub unsafe extern "system" fn st_WSASend(s: Socket, bufs: *const WsaBuf, count: u32, sent: *mut u32, flags: u32, ovl: *mut c_void, routine: usize) -> i32 {
    let Some(f) = real!(I_WSASend, SendFn) else { return -1 };
    let c = IoCall::send(Func::WsaSend, s, bufs, count, sent, flags, ovl, routine);
    unsafe { wsa_io(c, |rt| f(s, bufs, count, sent, flags, ovl, rt), |_, _| {}) }
}

#[no_mangle]
#[rustfmt::skip]
pub unsafe extern "system" fn st_WSARecv(s: Socket, bufs: *const WsaBuf, count: u32, got: *mut u32, flags: *mut u32, ovl: *mut c_void, routine: usize) -> i32 {
    let Some(f) = real!(I_WSARecv, RecvFn) else { return -1 };
    let c = IoCall::recv(Func::WsaRecv, s, bufs, count, got, flags, ovl, routine);
    unsafe { wsa_io(c, |rt| f(s, bufs, count, got, flags, ovl, rt), |_, _| {}) }
}

#[no_mangle]
#[rustfmt::skip]
pub unsafe extern "system" fn st_WSASendTo(s: Socket, bufs: *const WsaBuf, count: u32, sent: *mut u32, flags: u32, to: *const u8, tolen: i32, ovl: *mut c_void, routine: usize) -> i32 {
    let Some(f) = real!(I_WSASendTo, SendToFn) else { return -1 };
    let c = IoCall::send(Func::WsaSendTo, s, bufs, count, sent, flags, ovl, routine);
    let call = |rt| unsafe { f(s, bufs, count, sent, flags, to, tolen, ovl, rt) };
    unsafe { wsa_io(c, call, |w, _| addr_in(w, role::ADDR, to, tolen)) }
}

#[no_mangle]
#[rustfmt::skip]
pub unsafe extern "system" fn st_WSARecvFrom(s: Socket, bufs: *const WsaBuf, count: u32, got: *mut u32, flags: *mut u32, from: *mut u8, fromlen: *mut i32, ovl: *mut c_void, routine: usize) -> i32 {
    let Some(f) = real!(I_WSARecvFrom, RecvFromFn) else { return -1 };
    let c = IoCall::recv(Func::WsaRecvFrom, s, bufs, count, got, flags, ovl, routine);
    let call = |rt| unsafe { f(s, bufs, count, got, flags, from, fromlen, ovl, rt) };
    let from_blob = |w: &mut RecordWriter<'_>, r: i32| {
        if r == 0 {
            addr_out(w, role::ADDR_OUT, from, fromlen)
        }
    };
    unsafe { wsa_io(c, call, from_blob) }
}

/// Record: args `[s, lpOverlapped, fWait, op, 0, 0]` (op: the function id
/// of the operation, 0 when unknown), ret the BOOL, ARG_VAL `[bytes,
/// flags]` when TRUE, and the operation's buffer lengths and payload.
#[no_mangle]
pub unsafe extern "system" fn st_WSAGetOverlappedResult(
    s: Socket,
    ovl: *mut c_void,
    transfer: *mut u32,
    wait: i32,
    flags: *mut u32,
) -> i32 {
    type F = unsafe extern "system" fn(Socket, *mut c_void, *mut u32, i32, *mut u32) -> i32;
    let Some(f) = real!(I_WSAGetOverlappedResult, F) else {
        return 0;
    };
    let Some(max) = wanted(Func::WsaGetOverlappedResult) else {
        return unsafe { f(s, ovl, transfer, wait, flags) };
    };
    let t_start = sys::now();
    let r = unsafe { f(s, ovl, transfer, wait, flags) };
    let err = sys::last_error();
    let p = if r == 0 && err == WSA_IO_INCOMPLETE {
        overlapped::peek(ovl as usize)
    } else {
        overlapped::finish(ovl as usize)
    };
    let bytes = (r != 0 && !transfer.is_null())
        .then(|| safe_read_val(transfer as *const u32))
        .flatten();
    let fl = (!flags.is_null())
        .then(|| safe_read_val(flags as *const u32))
        .flatten()
        .unwrap_or(0);
    emit(
        Call {
            func: Func::WsaGetOverlappedResult,
            t_start,
            ret: r as i64,
            err,
            extra: bytes.unwrap_or(0).min(MAX_SAMPLE as u32) as usize,
        },
        |w| {
            let op = p.map_or(0, |p| p.op);
            args(w, &[s as u64, ovl as u64, wait as i64 as u64, op as u64]);
            if let Some(n) = bytes {
                w.ints(role::ARG_VAL, &[n as i64, fl as i64]);
                completion_blobs(w, &p, n as u64, max);
            }
        },
    );
    sys::set_last_error(err);
    r
}

#[no_mangle]
#[rustfmt::skip]
pub unsafe extern "system" fn st_WSASocketA(af: i32, ty: i32, protocol: i32, info: *const c_void, group: u32, flags: u32) -> Socket {
    unsafe { wsa_socket(I_WSASocketA, af, ty, protocol, info, group, flags) }
}

#[no_mangle]
#[rustfmt::skip]
pub unsafe extern "system" fn st_WSASocketW(af: i32, ty: i32, protocol: i32, info: *const c_void, group: u32, flags: u32) -> Socket {
    unsafe { wsa_socket(I_WSASocketW, af, ty, protocol, info, group, flags) }
}

/// WSASocketA/W. Record: args `[af, type, protocol, lpProtocolInfo, g,
/// dwFlags]`.
unsafe fn wsa_socket(
    i: usize,
    af: i32,
    ty: i32,
    protocol: i32,
    info: *const c_void,
    group: u32,
    flags: u32,
) -> Socket {
    type F = unsafe extern "system" fn(i32, i32, i32, *const c_void, u32, u32) -> Socket;
    let Some(f) = real!(i, F) else {
        return INVALID_SOCKET;
    };
    traced!(
        Func::WsaSocket,
        0,
        unsafe { f(af, ty, protocol, info, group, flags) },
        |w, r, max| {
            args(
                w,
                &[
                    af as i64 as u64,
                    ty as i64 as u64,
                    protocol as i64 as u64,
                    info as u64,
                    group as u64,
                    flags as u64,
                ],
            );
        },
        r as i64
    )
}

/// Record: args `[s, name, namelen, lpCallerData, lpCalleeData, lpSQOS]`
/// and the address.
#[no_mangle]
pub unsafe extern "system" fn st_WSAConnect(
    s: Socket,
    name: *const u8,
    len: i32,
    caller: *const c_void,
    callee: *mut c_void,
    sqos: *const c_void,
    gqos: *const c_void,
) -> i32 {
    type F = unsafe extern "system" fn(
        Socket,
        *const u8,
        i32,
        *const c_void,
        *mut c_void,
        *const c_void,
        *const c_void,
    ) -> i32;
    let Some(f) = real!(I_WSAConnect, F) else {
        return -1;
    };
    traced!(
        Func::WsaConnect,
        0,
        unsafe { f(s, name, len, caller, callee, sqos, gqos) },
        |w, r, max| {
            args(
                w,
                &[
                    s as u64,
                    name as u64,
                    len as i64 as u64,
                    caller as u64,
                    callee as u64,
                    sqos as u64,
                ],
            );
            addr_in(w, role::ADDR, name, len);
        },
        r as i64
    )
}

/// Record: args `[s, addr, addrlen, lpfnCondition, dwCallbackData]` and
/// the peer's address.
#[no_mangle]
pub unsafe extern "system" fn st_WSAAccept(
    s: Socket,
    addr: *mut u8,
    len: *mut i32,
    cond: usize,
    data: usize,
) -> Socket {
    type F = unsafe extern "system" fn(Socket, *mut u8, *mut i32, usize, usize) -> Socket;
    let Some(f) = real!(I_WSAAccept, F) else {
        return INVALID_SOCKET;
    };
    traced!(
        Func::WsaAccept,
        0,
        unsafe { f(s, addr, len, cond, data) },
        |w, r, max| {
            args(
                w,
                &[s as u64, addr as u64, len as u64, cond as u64, data as u64],
            );
            if r != INVALID_SOCKET {
                addr_out(w, role::ADDR_OUT, addr, len);
            }
        },
        r as i64
    )
}

/// Winsock's `WSAPOLLFD`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct PollFd {
    fd: Socket,
    events: i16,
    revents: i16,
}

/// Record: args `[fdArray, fds, timeout]` and a PollFds blob of 8-byte
/// entries as Linux's poll (`i32` socket, `u16` events, `u16` revents;
/// Winsock's POLL* values), the first 64.
#[no_mangle]
pub unsafe extern "system" fn st_WSAPoll(fds: *mut PollFd, n: u32, timeout: i32) -> i32 {
    type F = unsafe extern "system" fn(*mut PollFd, u32, i32) -> i32;
    let Some(f) = real!(I_WSAPoll, F) else {
        return -1;
    };
    traced!(
        Func::WsaPoll,
        64 * 8,
        unsafe { f(fds, n, timeout) },
        |w, r, max| {
            args(w, &[fds as u64, n as u64, timeout as i64 as u64]);
            let k = (n as usize).min(64);
            let mut raw = [PollFd::default(); 64];
            // SAFETY: `raw` is plain data of k * 16 bytes.
            let bytes =
                unsafe { core::slice::from_raw_parts_mut(raw.as_mut_ptr() as *mut u8, k * 16) };
            let got = safe_read(fds as *const u8, bytes) / 16;
            let mut out = [0u8; 64 * 8];
            for (i, e) in raw[..got].iter().enumerate() {
                out[i * 8..i * 8 + 4].copy_from_slice(&(e.fd as i32).to_ne_bytes());
                out[i * 8 + 4..i * 8 + 6].copy_from_slice(&e.events.to_ne_bytes());
                out[i * 8 + 6..i * 8 + 8].copy_from_slice(&e.revents.to_ne_bytes());
            }
            if got > 0 || fds.is_null() {
                w.blob(Tag::PollFds, 0, &out[..got * 8]);
            }
        },
        r as i64
    )
}

const SIO_GET_EXTENSION_FUNCTION_POINTER: u32 = xw::SIO_GET_EXTENSION_FUNCTION_POINTER as u32;

/// The real extension functions (one provider's: a program that gets a
/// different pointer for the same GUID keeps it, untraced).
static REAL_CONNECTEX: AtomicUsize = AtomicUsize::new(0);
static REAL_ACCEPTEX: AtomicUsize = AtomicUsize::new(0);

/// After a successful SIO_GET_EXTENSION_FUNCTION_POINTER: hands the
/// program this DLL's wrapper instead of the function, when it is one
/// this DLL wraps. Returns whether it did.
fn hook_extension(input: *const u8, inlen: u32, out: *mut usize, outlen: u32) -> bool {
    if inlen < 16 || outlen < 8 || out.is_null() {
        return false;
    }
    let Some(id) = safe_read_val(input as *const [u8; 16]) else {
        return false;
    };
    let (slot, hook, func) = match xw::wsaid_name(&id) {
        Some("WSAID_CONNECTEX") => (
            &REAL_CONNECTEX,
            st_ConnectEx as *const () as usize,
            Func::ConnectEx,
        ),
        Some("WSAID_ACCEPTEX") => (
            &REAL_ACCEPTEX,
            st_AcceptEx as *const () as usize,
            Func::AcceptEx,
        ),
        _ => return false,
    };
    if wanted(func).is_none() {
        return false;
    }
    let Some(real) = safe_read_val(out as *const usize) else {
        return false;
    };
    if real == 0 || real == hook {
        return false;
    }
    match slot.compare_exchange(0, real, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => {}
        Err(prev) if prev == real => {}
        Err(_) => return false,
    }
    // SAFETY: the out buffer the program gave for this pointer (the real
    // call just wrote it; at least 8 bytes).
    unsafe { out.write_unaligned(hook) };
    true
}

/// Record: args `[s, dwIoControlCode, cbInBuffer, cbOutBuffer,
/// lpOverlapped, routine]`, the input buffer (its first 64 bytes, role
/// OPTVAL), and ARG_VAL `[bytes returned, wrapped]` on success (wrapped:
/// 1 when the extension function handed out is this DLL's wrapper).
#[no_mangle]
pub unsafe extern "system" fn st_WSAIoctl(
    s: Socket,
    code: u32,
    input: *const u8,
    inlen: u32,
    out: *mut u8,
    outlen: u32,
    ret_bytes: *mut u32,
    ovl: *mut c_void,
    routine: usize,
) -> i32 {
    type F = unsafe extern "system" fn(
        Socket,
        u32,
        *const u8,
        u32,
        *mut u8,
        u32,
        *mut u32,
        *mut c_void,
        usize,
    ) -> i32;
    let Some(f) = real!(I_WSAIoctl, F) else {
        return -1;
    };
    let call = || unsafe { f(s, code, input, inlen, out, outlen, ret_bytes, ovl, routine) };
    let max = wanted(Func::WsaIoctl);
    if max.is_none() && code != SIO_GET_EXTENSION_FUNCTION_POINTER {
        return call();
    }
    let t_start = sys::now();
    let r = call();
    let err = sys::last_error();
    let wrapped = r == 0
        && code == SIO_GET_EXTENSION_FUNCTION_POINTER
        && hook_extension(input, inlen, out as *mut usize, outlen);
    if max.is_some() {
        let got = (r == 0 && !ret_bytes.is_null())
            .then(|| safe_read_val(ret_bytes as *const u32))
            .flatten();
        emit(
            Call {
                func: Func::WsaIoctl,
                t_start,
                ret: r as i64,
                err,
                extra: 64,
            },
            |w| {
                args(
                    w,
                    &[
                        s as u64,
                        code as u64,
                        inlen as u64,
                        outlen as u64,
                        ovl as u64,
                        routine as u64,
                    ],
                );
                if !input.is_null() && inlen > 0 {
                    let buf = w.reserve((inlen as usize).min(64));
                    let n = safe_read(input, buf);
                    w.commit_reserved(Tag::Bytes, role::OPTVAL, n);
                }
                if let Some(n) = got {
                    w.ints(role::ARG_VAL, &[n as i64, wrapped as i64]);
                }
            },
        );
    }
    sys::set_last_error(err);
    r
}

/// ConnectEx and AcceptEx: one buffer (`buf`, `len`: the data sent
/// with the connect, received with the accept), a BOOL result; pending,
/// the operation is kept for its completion. `fill` adds the arguments;
/// the bytes moved at once follow as ARG_VAL `[bytes]` and the payload.
#[allow(clippy::too_many_arguments)]
unsafe fn extension_call(
    func: Func,
    socket: Socket,
    (buf, len): (usize, u32),
    bytes: *mut u32,
    ovl: *mut c_void,
    call: impl FnOnce() -> i32,
    fill: impl FnOnce(&mut RecordWriter<'_>),
) -> i32 {
    let Some(max) = wanted(func) else {
        return call();
    };
    let bufs = [(buf, len)];
    let t_start = sys::now();
    let r = call();
    let err = sys::last_error();
    if r == 0 && err == WSA_IO_PENDING {
        let (keep, nbuf) = kept(&bufs[..(len > 0) as usize]);
        let op = func as u16;
        overlapped::put(
            ovl as usize,
            Pending {
                socket,
                op,
                routine: 0,
                bufs: keep,
                nbuf,
            },
        );
    }
    let moved = (r != 0 && !bytes.is_null())
        .then(|| safe_read_val(bytes as *const u32))
        .flatten();
    let extra = sample_room(&bufs);
    emit(
        Call {
            func,
            t_start,
            ret: r as i64,
            err,
            extra,
        },
        |w| {
            fill(w);
            if let Some(n) = moved {
                w.ints(role::ARG_VAL, &[n as i64]);
                let dir = data_role(func as u16);
                gather(w, dir, &bufs, n as u64, max);
            }
        },
    );
    sys::set_last_error(err);
    r
}

/// ConnectEx through the pointer WSAIoctl handed out. Record: args `[s,
/// name, namelen, lpSendBuffer, dwSendDataLength, lpOverlapped]`, the
/// address, ret the BOOL, ARG_VAL `[bytes sent]` and the payload when it
/// completed at once; pending, its completion names it.
#[allow(non_snake_case)]
unsafe extern "system" fn st_ConnectEx(
    s: Socket,
    name: *const u8,
    len: i32,
    sendbuf: *const u8,
    sendlen: u32,
    sent: *mut u32,
    ovl: *mut c_void,
) -> i32 {
    #[rustfmt::skip]
    type F = unsafe extern "system" fn(Socket, *const u8, i32, *const u8, u32, *mut u32, *mut c_void) -> i32;
    // SAFETY: the function WSAIoctl gave for WSAID_CONNECTEX.
    let f: F = unsafe { core::mem::transmute::<usize, F>(REAL_CONNECTEX.load(Ordering::Acquire)) };
    let call = || unsafe { f(s, name, len, sendbuf, sendlen, sent, ovl) };
    let fill = |w: &mut RecordWriter<'_>| {
        let a = [
            s as u64,
            name as u64,
            len as i64 as u64,
            sendbuf as u64,
            sendlen as u64,
            ovl as u64,
        ];
        args(w, &a);
        addr_in(w, role::ADDR, name, len);
    };
    let buf = (sendbuf as usize, sendlen);
    unsafe { extension_call(Func::ConnectEx, s, buf, sent, ovl, call, fill) }
}

/// AcceptEx through the pointer WSAIoctl handed out. Record: args
/// `[sListenSocket, sAcceptSocket, lpOutputBuffer, dwReceiveDataLength,
/// local and remote address lengths (low and high 32 bits),
/// lpOverlapped]`, ret the BOOL, ARG_VAL `[bytes received]` when it
/// completed at once; pending, its completion names it.
#[allow(clippy::too_many_arguments, non_snake_case)]
unsafe extern "system" fn st_AcceptEx(
    ls: Socket,
    accepted: Socket,
    outbuf: *mut u8,
    recvlen: u32,
    local_len: u32,
    remote_len: u32,
    got: *mut u32,
    ovl: *mut c_void,
) -> i32 {
    #[rustfmt::skip]
    type F = unsafe extern "system" fn(Socket, Socket, *mut u8, u32, u32, u32, *mut u32, *mut c_void) -> i32;
    // SAFETY: the function WSAIoctl gave for WSAID_ACCEPTEX.
    let f: F = unsafe { core::mem::transmute::<usize, F>(REAL_ACCEPTEX.load(Ordering::Acquire)) };
    let call = || unsafe {
        f(
            ls, accepted, outbuf, recvlen, local_len, remote_len, got, ovl,
        )
    };
    let lens = local_len as u64 | (remote_len as u64) << 32;
    let fill = |w: &mut RecordWriter<'_>| {
        let a = [
            ls as u64,
            accepted as u64,
            outbuf as u64,
            recvlen as u64,
            lens,
            ovl as u64,
        ];
        args(w, &a);
    };
    let buf = (outbuf as usize, recvlen);
    unsafe { extension_call(Func::AcceptEx, accepted, buf, got, ovl, call, fill) }
}
