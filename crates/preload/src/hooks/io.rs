//! Moving bytes: send*, recv*, and read/write/readv/writev/sendfile on
//! sockets, plus the `_FORTIFY_SOURCE` entry points.

use super::{acted, acted_counting, involved, still_socket, Done, Traced};
use crate::actions::Target;
use crate::capture;
use crate::fds;
use crate::lifecycle;
use crate::settings;
use crate::sys;
use core::ffi::{c_int, c_uint, c_void};
use core::ptr::{null, null_mut};
use libc::{iovec, mmsghdr, msghdr, off_t, size_t, sockaddr, socklen_t, ssize_t, timespec};
use sock_trace_event::record::FLAG_FORTIFIED;
use sock_trace_event::{role, Func, Tag};

/// What a record of moved bytes needs: room for the payload sample, and
/// the fortified flag for the `__*_chk` entry points.
#[inline(always)]
fn moved<R>(d: Done<R>, fortified: bool) -> Done<R> {
    d.extra(settings::max_data())
        .flag(if fortified { FLAG_FORTIFIED } else { 0 })
}

hook! {
    pub unsafe extern "C" fn send(fd: c_int, buf: *const c_void, len: size_t, flags: c_int) -> ssize_t {
        involved(Func::Send) => send_traced(fd, buf, len, flags, null(), 0, false)
    }

    pub unsafe extern "C" fn sendto(fd: c_int, buf: *const c_void, len: size_t, flags: c_int, addr: *const sockaddr, alen: socklen_t) -> ssize_t {
        involved(Func::Sendto) => send_traced(fd, buf, len, flags, addr, alen, true)
    }

    pub unsafe extern "C" fn recv(fd: c_int, buf: *mut c_void, len: size_t, flags: c_int) -> ssize_t {
        involved(Func::Recv) => recv_traced(fd, buf, len, flags, null_mut(), null_mut(), false, None)
    }

    pub unsafe extern "C" fn recvfrom(fd: c_int, buf: *mut c_void, len: size_t, flags: c_int, addr: *mut sockaddr, alen: *mut socklen_t) -> ssize_t {
        involved(Func::Recvfrom) => recv_traced(fd, buf, len, flags, addr, alen, true, None)
    }

    pub unsafe extern "C" fn __recv_chk(fd: c_int, buf: *mut c_void, len: size_t, buflen: size_t, flags: c_int) -> ssize_t {
        involved(Func::Recv) => recv_traced(fd, buf, len, flags, null_mut(), null_mut(), false, Some(buflen))
    }

    pub unsafe extern "C" fn __recvfrom_chk(fd: c_int, buf: *mut c_void, len: size_t, buflen: size_t, flags: c_int, addr: *mut sockaddr, alen: *mut socklen_t) -> ssize_t {
        involved(Func::Recvfrom) => recv_traced(fd, buf, len, flags, addr, alen, true, Some(buflen))
    }

    pub unsafe extern "C" fn sendmsg(fd: c_int, msg: *const msghdr, flags: c_int) -> ssize_t {
        involved(Func::Sendmsg) => sendmsg_traced(fd, msg, flags)
    }

    pub unsafe extern "C" fn sendmmsg(fd: c_int, vec: *mut mmsghdr, vlen: c_uint, flags: c_int) -> c_int {
        involved(Func::Sendmmsg) => sendmmsg_traced(fd, vec, vlen, flags)
    }

    pub unsafe extern "C" fn write(fd: c_int, buf: *const c_void, len: size_t) -> ssize_t {
        fds::is_socket(fd) && involved(Func::Write) => read_write_traced(true, fd, buf as *mut c_void, len, None)
    }

    pub unsafe extern "C" fn read(fd: c_int, buf: *mut c_void, len: size_t) -> ssize_t {
        fds::is_socket(fd) && involved(Func::Read) => read_write_traced(false, fd, buf, len, None)
    }

    pub unsafe extern "C" fn __read_chk(fd: c_int, buf: *mut c_void, len: size_t, buflen: size_t) -> ssize_t {
        fds::is_socket(fd) && involved(Func::Read) => read_write_traced(false, fd, buf, len, Some(buflen))
    }

    pub unsafe extern "C" fn writev(fd: c_int, iov: *const iovec, cnt: c_int) -> ssize_t {
        fds::is_socket(fd) && involved(Func::Writev) => iov_traced(Func::Writev, fd, iov, cnt)
    }

    pub unsafe extern "C" fn readv(fd: c_int, iov: *const iovec, cnt: c_int) -> ssize_t {
        fds::is_socket(fd) && involved(Func::Readv) => iov_traced(Func::Readv, fd, iov, cnt)
    }

    pub unsafe extern "C" fn sendfile(out: c_int, inp: c_int, off: *mut off_t, count: size_t) -> ssize_t {
        fds::is_socket(out) && involved(Func::Sendfile) => sendfile_traced(false, out, inp, off, count)
    }

    pub unsafe extern "C" fn sendfile64(out: c_int, inp: c_int, off: *mut off_t, count: size_t) -> ssize_t {
        fds::is_socket(out) && involved(Func::Sendfile) => sendfile_traced(true, out, inp, off, count)
    }
}

/// recvmsg and recvmmsg keep the socket table current even when they are
/// not traced: descriptors passed in SCM_RIGHTS become sockets.
#[no_mangle]
pub unsafe extern "C" fn recvmsg(fd: c_int, msg: *mut msghdr, flags: c_int) -> ssize_t {
    if !involved(Func::Recvmsg) {
        let r = forward!(recvmsg(fd, msg, flags));
        if r >= 0 && !msg.is_null() {
            // SAFETY: written by the successful call; raw syscalls only,
            // errno is untouched.
            unsafe { note_passed_fds(&*msg) };
        }
        return r;
    }
    // SAFETY: the body forwards the program's call (see forward!).
    unsafe { recvmsg_traced(fd, msg, flags) }
}

#[no_mangle]
pub unsafe extern "C" fn recvmmsg(
    fd: c_int,
    vec: *mut mmsghdr,
    vlen: c_uint,
    flags: c_int,
    tmo: *mut timespec,
) -> c_int {
    if !involved(Func::Recvmmsg) {
        let r = forward!(recvmmsg(fd, vec, vlen, flags, tmo));
        // SAFETY: r messages were filled.
        unsafe { note_passed_fds_mmsg(vec, r) };
        return r;
    }
    // SAFETY: the body forwards the program's call (see forward!).
    unsafe { recvmmsg_traced(fd, vec, vlen, flags, tmo) }
}

/// send and sendto (`to`).
#[inline(never)]
unsafe fn send_traced(
    fd: c_int,
    buf: *const c_void,
    len: size_t,
    flags: c_int,
    addr: *const sockaddr,
    alen: socklen_t,
    to: bool,
) -> ssize_t {
    let func = if to { Func::Sendto } else { Func::Send };
    // A short write passes a prefix of the buffer.
    let forward = |short: Option<usize>| {
        let len = short.unwrap_or(len);
        if to {
            forward!(sendto(fd, buf, len, flags, addr, alen))
        } else {
            forward!(send(fd, buf, len, flags))
        }
    };
    let target = || Target {
        addr,
        addrlen: alen,
        len,
        ..Target::fd(fd)
    };
    let call = Traced::start(func);
    let done = moved(acted(func, target, forward), false);
    call.finish(done, |w, d| {
        let r = d.ret;
        args!(w, fd, buf, len, flags, addr, alen);
        if to {
            // SAFETY: read by the kernel when the call succeeded.
            unsafe { capture::sockaddr(w, role::ADDR, addr, alen as usize, r >= 0) };
            if r >= 0 {
                // An unbound datagram socket gets its port at the first send.
                capture::socket_ends(w, fd, false);
            }
        }
        // SAFETY: the kernel read r bytes of buf.
        unsafe { capture::payload(w, role::DATA_OUT, buf as *const u8, r) };
    })
}

/// The recv family (recv, recvfrom when `from`); `chk` is the fortified
/// buffer length.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
unsafe fn recv_traced(
    fd: c_int,
    buf: *mut c_void,
    len: size_t,
    flags: c_int,
    addr: *mut sockaddr,
    alen: *mut socklen_t,
    from: bool,
    chk: Option<size_t>,
) -> ssize_t {
    let func = if from { Func::Recvfrom } else { Func::Recv };
    // A paced call asks for less (a prefix of the buffer).
    let forward = |short: Option<usize>| {
        let len = short.unwrap_or(len);
        match (from, chk) {
            (false, None) => forward!(recv(fd, buf, len, flags)),
            (true, None) => forward!(recvfrom(fd, buf, len, flags, addr, alen)),
            (false, Some(n)) => forward!(__recv_chk(fd, buf, len, n, flags)),
            (true, Some(n)) => forward!(__recvfrom_chk(fd, buf, len, n, flags, addr, alen)),
        }
    };
    let target = || Target::moving(fd, len);
    let call = Traced::start(func);
    let done = moved(acted(func, target, forward), chk.is_some());
    call.finish(done, |w, d| {
        let r = d.ret;
        args!(w, fd, buf, len, flags, addr, alen);
        if from && r >= 0 {
            // SAFETY: written by the kernel on success.
            unsafe { capture::sockaddr_out(w, role::ADDR_OUT, addr, alen) };
            capture::socket_ends(w, fd, false);
        }
        // With MSG_TRUNC a datagram's full length is returned, more than
        // the buffer holds, and a stream socket discards the bytes
        // without writing the buffer at all.
        if flags & libc::MSG_TRUNC != 0 {
            // SAFETY: fault-safe copy.
            unsafe {
                capture::payload_unsure(w, role::DATA_IN, buf as *const u8, r.min(len as isize))
            };
        } else {
            // SAFETY: the kernel wrote r bytes.
            unsafe { capture::payload(w, role::DATA_IN, buf as *const u8, r.min(len as isize)) };
        }
    })
}

/// msghdr summary, address and iovec lengths.
///
/// # Safety
/// `msg` must have been read (send) or written (recv) by a successful call
/// when `trusted`.
unsafe fn msghdr_blobs(
    w: &mut sock_trace_event::RecordWriter<'_>,
    msg: *const msghdr,
    trusted: bool,
    addr_role: u8,
) -> Option<msghdr> {
    let m = if trusted {
        // SAFETY: per contract.
        unsafe { *msg }
    } else {
        capture::read_value(msg)?
    };
    w.ints(
        role::MSGHDR,
        &[
            m.msg_namelen as i64,
            m.msg_iovlen as i64,
            m.msg_controllen as i64,
            m.msg_flags as i64,
        ],
    );
    // A received address may be longer than the program's buffer: the
    // kernel writes what fits and reports the full length in msg_namelen,
    // so only a sent address is trusted.
    let name_trusted = trusted && addr_role == role::ADDR;
    // SAFETY: forwarded trust.
    unsafe {
        capture::sockaddr(
            w,
            addr_role,
            m.msg_name as *const sockaddr,
            m.msg_namelen as usize,
            name_trusted,
        );
        capture::iov_lens(w, role::IOV_LENS, m.msg_iov, m.msg_iovlen as i64, trusted);
    }
    // Ancillary data: sendmsg's kernel read all msg_controllen bytes;
    // recvmsg's wrote exactly msg_controllen bytes (it updates the field).
    if trusted && !m.msg_control.is_null() && m.msg_controllen > 0 {
        // SAFETY: read or written by the kernel, as above.
        unsafe {
            capture::bytes(
                w,
                Tag::Bytes,
                role::CONTROL,
                m.msg_control as *const u8,
                m.msg_controllen.min(capture::MAX_CONTROL),
                true,
            )
        };
    }
    Some(m)
}

/// Descriptors passed in SCM_RIGHTS control messages of a received message
/// become sockets in our table when they are sockets, so that their calls
/// are traced. Raw fstat per descriptor; nothing when the message carried
/// no ancillary data.
///
/// # Safety
/// `m` was filled by a successful recvmsg (its control buffer holds
/// `msg_controllen` bytes written by the kernel).
unsafe fn note_passed_fds(m: &msghdr) {
    let base = m.msg_control as *const u8;
    let total = m.msg_controllen;
    if base.is_null() || total < CMSG_HDR {
        return;
    }
    if lifecycle::in_vfork_child() {
        return;
    }
    let mut off = 0usize;
    let mut seen = 0;
    while off + CMSG_HDR <= total && seen < 64 {
        seen += 1;
        // SAFETY: within the bytes the kernel wrote (cmsghdr is 8-aligned
        // inside a properly aligned control buffer; read unaligned anyway).
        let (len, level, ty) = unsafe {
            (
                core::ptr::read_unaligned(base.add(off) as *const usize),
                core::ptr::read_unaligned(base.add(off + 8) as *const c_int),
                core::ptr::read_unaligned(base.add(off + 12) as *const c_int),
            )
        };
        if len < CMSG_HDR || off + len > total {
            break;
        }
        if level == libc::SOL_SOCKET && ty == libc::SCM_RIGHTS {
            let n = (len - CMSG_HDR) / 4;
            for i in 0..n {
                // SAFETY: inside this control message.
                let fd = unsafe {
                    core::ptr::read_unaligned(base.add(off + CMSG_HDR + i * 4) as *const c_int)
                };
                if sys::is_socket_fd(fd) {
                    fds::set_socket(fd, true);
                }
            }
        }
        off += (len + 7) & !7;
    }
}

/// [`note_passed_fds`] for each of the `n` messages recvmmsg filled.
///
/// # Safety
/// The first `n` entries were filled by the call.
unsafe fn note_passed_fds_mmsg(vec: *const mmsghdr, n: c_int) {
    if vec.is_null() {
        return;
    }
    for i in 0..n.max(0) as usize {
        // SAFETY: i < n, filled by the kernel.
        unsafe { note_passed_fds(&(*vec.add(i)).msg_hdr) };
    }
}

/// `sizeof(struct cmsghdr)` on x86_64 (len, level, type).
const CMSG_HDR: usize = 16;

/// The most iovecs a short write rebuilds on the stack. A longer array is
/// sent whole: no short write, never a wrong one.
const SHORT_IOV_MAX: usize = 64;

/// A fault-safe copy of an iovec array of at most [`SHORT_IOV_MAX`] entries.
fn read_iovs(iov: *const iovec, cnt: usize) -> Option<([iovec; SHORT_IOV_MAX], usize)> {
    if iov.is_null() || cnt > SHORT_IOV_MAX {
        return None;
    }
    let mut v = [iovec {
        iov_base: core::ptr::null_mut(),
        iov_len: 0,
    }; SHORT_IOV_MAX];
    let size = cnt * core::mem::size_of::<iovec>();
    // SAFETY: `v` is plain old data of at least `size` bytes.
    let dst = unsafe { core::slice::from_raw_parts_mut(v.as_mut_ptr() as *mut u8, size) };
    (sys::safe_copy(dst, iov as *const u8) == size).then_some((v, cnt))
}

/// Bytes an iovec array offers (0 when it cannot be read or is too long to
/// shorten, so no short write is planned for it).
fn iov_total(iov: *const iovec, cnt: usize) -> usize {
    read_iovs(iov, cnt).map_or(0, |(v, n)| {
        v[..n]
            .iter()
            .fold(0usize, |t, e| t.saturating_add(e.iov_len))
    })
}

/// The leading iovecs that hold `limit` bytes, the last one cut to fit.
fn iov_prefix(
    iov: *const iovec,
    cnt: usize,
    limit: usize,
) -> Option<([iovec; SHORT_IOV_MAX], usize)> {
    let (mut v, n) = read_iovs(iov, cnt)?;
    let mut left = limit;
    let mut keep = 0;
    for e in v[..n].iter_mut() {
        if left == 0 {
            break;
        }
        e.iov_len = e.iov_len.min(left);
        left -= e.iov_len;
        keep += 1;
    }
    Some((v, keep))
}

#[inline(never)]
unsafe fn sendmsg_traced(fd: c_int, msg: *const msghdr, flags: c_int) -> ssize_t {
    let forward = |short: Option<usize>| {
        if let Some(limit) = short {
            let prefix = capture::read_value(msg)
                .and_then(|m| Some((m, iov_prefix(m.msg_iov, m.msg_iovlen, limit)?)));
            if let Some((mut m, (v, n))) = prefix {
                m.msg_iov = v.as_ptr() as *mut iovec;
                m.msg_iovlen = n;
                return forward!(sendmsg(fd, &m, flags));
            }
        }
        forward!(sendmsg(fd, msg, flags))
    };
    let target = || match capture::read_value(msg) {
        Some(m) => Target {
            addr: m.msg_name as *const sockaddr,
            addrlen: m.msg_namelen,
            len: iov_total(m.msg_iov, m.msg_iovlen),
            ..Target::fd(fd)
        },
        None => Target::fd(fd),
    };
    let call = Traced::start(Func::Sendmsg);
    let done = moved(acted(Func::Sendmsg, target, forward), false);
    // SAFETY: the program's header, read by the call.
    call.finish(done, |w, d| unsafe {
        msghdr_record(w, fd, msg, flags, d, true)
    })
}

#[inline(never)]
unsafe fn recvmsg_traced(fd: c_int, msg: *mut msghdr, flags: c_int) -> ssize_t {
    let forward = |short: Option<usize>| {
        if let Some(limit) = short {
            // A paced call: the program's message with a prefix of its
            // buffers; what the kernel writes back into the header
            // (name length, control length, flags) is copied back.
            if let Some(mut m) = capture::read_value(msg as *const msghdr) {
                if let Some((v, n)) = iov_prefix(m.msg_iov, m.msg_iovlen, limit) {
                    let (iov, iovlen) = (m.msg_iov, m.msg_iovlen);
                    m.msg_iov = v.as_ptr() as *mut iovec;
                    m.msg_iovlen = n;
                    let r = forward!(recvmsg(fd, &mut m, flags));
                    m.msg_iov = iov;
                    m.msg_iovlen = iovlen;
                    if r >= 0 {
                        // SAFETY: plain data; a fault-safe write (the
                        // kernel would have written these fields).
                        let bytes = unsafe {
                            core::slice::from_raw_parts(
                                &m as *const msghdr as *const u8,
                                core::mem::size_of::<msghdr>(),
                            )
                        };
                        sys::safe_write(msg as *mut u8, bytes);
                    }
                    return r;
                }
            }
        }
        forward!(recvmsg(fd, msg, flags))
    };
    let target = || match capture::read_value(msg as *const msghdr) {
        Some(m) => Target::moving(fd, iov_total(m.msg_iov, m.msg_iovlen)),
        None => Target::fd(fd),
    };
    let call = Traced::start(Func::Recvmsg);
    let done = {
        let d = acted(Func::Recvmsg, target, forward);
        if d.ret >= 0 && d.flags == 0 && !msg.is_null() {
            // SAFETY: written by the successful call.
            unsafe { note_passed_fds(&*msg) };
        }
        moved(d, false)
    };
    // SAFETY: the program's header, written by the call.
    call.finish(done, |w, d| unsafe {
        msghdr_record(w, fd, msg, flags, d, false)
    })
}

/// The record of a sendmsg (`sent`) or recvmsg: the arguments, the header
/// with its address and control data, and the payload the call moved.
///
/// # Safety
/// `msg` is null or the program's header, which the kernel read (sendmsg)
/// or wrote (recvmsg) when the call succeeded and nothing was injected.
unsafe fn msghdr_record(
    w: &mut sock_trace_event::RecordWriter<'_>,
    fd: c_int,
    msg: *const msghdr,
    flags: c_int,
    d: &Done<ssize_t>,
    sent: bool,
) {
    let r = d.ret;
    args!(w, fd, msg, flags);
    if msg.is_null() {
        return;
    }
    let (addr_role, data_role) = if sent {
        (role::ADDR, role::DATA_OUT)
    } else {
        (role::ADDR_OUT, role::DATA_IN)
    };
    // SAFETY: read or written by the kernel on success (flags: nothing
    // injected).
    if let Some(m) = unsafe { msghdr_blobs(w, msg, r >= 0 && d.flags == 0, addr_role) } {
        if r > 0 {
            // SAFETY: the kernel read or wrote r bytes in these buffers.
            unsafe { capture::payload_iov(w, data_role, m.msg_iov, m.msg_iovlen, r) };
            capture::socket_ends(w, fd, false);
        }
    }
}

/// Per-message lengths and the first message's address of an mmsghdr array.
///
/// # Safety
/// The first `n` entries must be valid (the call processed them).
unsafe fn mmsg_blobs(
    w: &mut sock_trace_event::RecordWriter<'_>,
    vec: *const mmsghdr,
    n: c_int,
    addr_role: u8,
    data_role: u8,
) {
    if vec.is_null() || n <= 0 {
        return;
    }
    let count = (n as usize).min(32);
    let mut lens = [0i64; 32];
    for (i, l) in lens.iter_mut().enumerate().take(count) {
        // SAFETY: i < n.
        *l = unsafe { (*vec.add(i)).msg_len } as i64;
    }
    w.ints(role::MMSG, &lens[..count]);
    // SAFETY: entry 0 is valid.
    let first = unsafe { (*vec).msg_hdr };
    // SAFETY: processed by the kernel; a received address may be longer
    // than its buffer (see msghdr_blobs), so only a sent one is trusted.
    unsafe {
        capture::sockaddr(
            w,
            addr_role,
            first.msg_name as *const sockaddr,
            first.msg_namelen as usize,
            addr_role == role::ADDR,
        )
    };
    // Payload: the bytes each message moved, message after message, up to
    // max_data in all (the decoder splits them again by msg_len).
    let max = settings::max_data();
    let total: usize = lens[..count].iter().map(|&l| l.max(0) as usize).sum();
    if max == 0 || total == 0 {
        return;
    }
    let buf = w.reserve(max.min(total));
    let mut got = 0;
    for (i, &len) in lens[..count].iter().enumerate() {
        // SAFETY: i < n, processed by the kernel.
        let m = unsafe { (*vec.add(i)).msg_hdr };
        // SAFETY: the kernel moved msg_len bytes through this message's iovecs.
        got += unsafe {
            capture::gather_iov(
                &mut buf[got..],
                m.msg_iov,
                m.msg_iovlen,
                len.max(0) as usize,
            )
        };
    }
    w.commit_reserved(sock_trace_event::Tag::Bytes, data_role, got);
}

/// Bytes the first `n` messages of an mmsghdr array moved (their
/// `msg_len`), for bandwidth limits. Only called after the call processed
/// `n` entries, so they are read directly (no fault-safe copy per entry).
fn mmsg_bytes(vec: *const mmsghdr, n: i64) -> i64 {
    (0..n.max(0) as usize)
        // SAFETY: the kernel processed entries 0..n of this array.
        .map(|i| unsafe { (*vec.add(i)).msg_len } as i64)
        .sum()
}

/// The peer an mmsghdr array names: its first message's address.
fn mmsg_target(fd: c_int, vec: *const mmsghdr, vlen: c_uint) -> Target {
    match capture::read_value(vec) {
        Some(m) => Target {
            addr: m.msg_hdr.msg_name as *const sockaddr,
            addrlen: m.msg_hdr.msg_namelen,
            // A short sendmmsg sends half the messages.
            len: vlen as usize,
            ..Target::fd(fd)
        },
        None => Target::fd(fd),
    }
}

#[inline(never)]
unsafe fn sendmmsg_traced(fd: c_int, vec: *mut mmsghdr, vlen: c_uint, flags: c_int) -> c_int {
    // A short call passes fewer messages.
    let forward = |short: Option<usize>| {
        let n = short.map_or(vlen, |s| s as c_uint);
        forward!(sendmmsg(fd, vec, n, flags))
    };
    let call = Traced::start(Func::Sendmmsg);
    let done = {
        let d = acted_counting(
            Func::Sendmmsg,
            || mmsg_target(fd, vec, vlen),
            forward,
            |r| mmsg_bytes(vec, r),
        );
        d.extra(settings::max_data())
    };
    call.finish(done, |w, d| {
        let r = d.ret;
        args!(w, fd, vec, vlen, flags);
        // SAFETY: r entries were processed.
        unsafe { mmsg_blobs(w, vec, r, role::ADDR, role::DATA_OUT) };
        if r > 0 {
            capture::socket_ends(w, fd, false);
        }
    })
}

#[inline(never)]
unsafe fn recvmmsg_traced(
    fd: c_int,
    vec: *mut mmsghdr,
    vlen: c_uint,
    flags: c_int,
    tmo: *mut timespec,
) -> c_int {
    let call = Traced::start(Func::Recvmmsg);
    let done = {
        let d = acted_counting(
            Func::Recvmmsg,
            || Target::fd(fd),
            |_| forward!(recvmmsg(fd, vec, vlen, flags, tmo)),
            |r| mmsg_bytes(vec, r),
        );
        if d.flags == 0 {
            // SAFETY: r messages were filled.
            unsafe { note_passed_fds_mmsg(vec, d.ret) };
        }
        d.extra(settings::max_data())
    };
    call.finish(done, |w, d| {
        let r = d.ret;
        args!(w, fd, vec, vlen, flags, tmo);
        // SAFETY: r entries were filled.
        unsafe { mmsg_blobs(w, vec, r, role::ADDR_OUT, role::DATA_IN) };
        if r > 0 {
            capture::socket_ends(w, fd, false);
        }
        if let Some(ts) = capture::read_value(tmo) {
            w.ints(role::TIMEOUT, &[ts.tv_sec, ts.tv_nsec]);
        }
    })
}

/// read and __read_chk (`chk`: the fortified buffer length), and write
/// (`out`).
#[inline(never)]
unsafe fn read_write_traced(
    out: bool,
    fd: c_int,
    buf: *mut c_void,
    len: size_t,
    chk: Option<size_t>,
) -> ssize_t {
    let func = if out { Func::Write } else { Func::Read };
    // A short write or a paced read passes a prefix of the buffer.
    let forward = |short: Option<usize>| {
        let len = short.unwrap_or(len);
        match (out, chk) {
            (true, _) => forward!(write(fd, buf, len)),
            (false, None) => forward!(read(fd, buf, len)),
            (false, Some(n)) => forward!(__read_chk(fd, buf, len, n)),
        }
    };
    let target = || Target::moving(fd, len);
    let call = Traced::start(func);
    let done = moved(acted(func, target, forward), chk.is_some());
    call.finish_if(
        done,
        |_| still_socket(fd),
        |w, d| {
            args!(w, fd, buf, len);
            let data_role = if out { role::DATA_OUT } else { role::DATA_IN };
            // SAFETY: the kernel read (write) or wrote (read) r bytes.
            unsafe { capture::payload(w, data_role, buf as *const u8, d.ret) };
        },
    )
}

/// readv and writev.
#[inline(never)]
unsafe fn iov_traced(func: Func, fd: c_int, iov: *const iovec, cnt: c_int) -> ssize_t {
    let out = func == Func::Writev;
    let forward = |short: Option<usize>| {
        // A short write or a paced call: a prefix of the buffers.
        let prefix = short.and_then(|l| iov_prefix(iov, cnt.max(0) as usize, l));
        let (iov, cnt) = match &prefix {
            Some((v, n)) => (v.as_ptr(), *n as c_int),
            None => (iov, cnt),
        };
        if out {
            forward!(writev(fd, iov, cnt))
        } else {
            forward!(readv(fd, iov, cnt))
        }
    };
    let target = || Target::moving(fd, iov_total(iov, cnt.max(0) as usize));
    let call = Traced::start(func);
    let done = moved(acted(func, target, forward), false);
    call.finish_if(
        done,
        |_| still_socket(fd),
        |w, d| {
            let r = d.ret;
            args!(w, fd, iov, cnt);
            // SAFETY: the kernel read the iovec array on success.
            unsafe { capture::iov_lens(w, role::IOV_LENS, iov, cnt as i64, r >= 0) };
            let data_role = if out { role::DATA_OUT } else { role::DATA_IN };
            // SAFETY: r bytes moved through these buffers.
            unsafe { capture::payload_iov(w, data_role, iov, cnt.max(0) as usize, r) };
        },
    )
}

/// sendfile and sendfile64.
#[inline(never)]
unsafe fn sendfile_traced(
    is64: bool,
    out: c_int,
    inp: c_int,
    off: *mut off_t,
    count: size_t,
) -> ssize_t {
    // A short call asks for fewer bytes.
    let forward = |short: Option<usize>| {
        let count = short.unwrap_or(count);
        if is64 {
            forward!(sendfile64(out, inp, off, count))
        } else {
            forward!(sendfile(out, inp, off, count))
        }
    };
    let target = || Target::moving(out, count);
    let call = Traced::start(Func::Sendfile);
    let done = acted(Func::Sendfile, target, forward);
    call.finish_if(
        done,
        |_| fds::is_socket(out),
        |w, _| {
            args!(w, out, inp, off, count);
            if let Some(o) = capture::read_value(off) {
                w.ints(role::ARG_VAL, &[o]);
            }
        },
    )
}
