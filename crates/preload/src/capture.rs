//! Copying arguments from program memory into a record.
//!
//! `trusted` means the real call succeeded, so the kernel or libc has
//! already read (or written) that memory and a plain copy cannot fault.
//! Otherwise the copy goes through [`sys::safe_copy`], which returns 0 for
//! a bad pointer instead of crashing the program.

use crate::sys;
use core::ffi::c_char;
use sock_trace_event::record::{RecordWriter, FLAG_BAD_POINTER};
use sock_trace_event::Tag;

pub const MAX_ADDR: usize = 128;
pub const MAX_STR: usize = 1024;
/// The longest socket option value captured (a whole `struct tcp_info`
/// is 232 bytes on Linux 6.x).
pub const MAX_OPT: usize = 512;
/// The longest control buffer (ancillary data) captured per message.
pub const MAX_CONTROL: usize = 512;

/// Copies `n` bytes from `src` into the record as one blob.
///
/// # Safety
/// When `trusted`, `src` must be valid for `n` bytes.
pub unsafe fn bytes(
    w: &mut RecordWriter<'_>,
    tag: Tag,
    role: u8,
    src: *const u8,
    n: usize,
    trusted: bool,
) {
    if src.is_null() || n == 0 {
        return;
    }
    let buf = w.reserve(n);
    let want = buf.len();
    let got = if trusted {
        // SAFETY: caller guarantees `src` is valid for n >= want bytes.
        unsafe { core::ptr::copy_nonoverlapping(src, buf.as_mut_ptr(), want) };
        want
    } else {
        sys::safe_copy(buf, src)
    };
    if got == 0 && want > 0 {
        w.header().flags |= FLAG_BAD_POINTER;
        return;
    }
    w.commit_reserved(tag, role, got);
}

/// Copies up to `n` bytes of which only the first `sure` are known to be
/// readable (the call used them): those directly, the rest through the
/// fault-safe path, keeping whatever part of it is mapped. A program may
/// pass a length larger than what the kernel or libc reads (an `int`
/// option with `optlen` 16 at the very end of a mapping): the record then
/// holds what could be read, and the program is never harmed.
///
/// # Safety
/// `src` must be valid for `sure.min(n)` bytes.
pub unsafe fn bytes_used(
    w: &mut RecordWriter<'_>,
    tag: Tag,
    role: u8,
    src: *const u8,
    n: usize,
    sure: usize,
) {
    if src.is_null() || n == 0 {
        return;
    }
    let buf = w.reserve(n);
    let want = buf.len();
    let direct = sure.min(want);
    // SAFETY: caller guarantees `src` is valid for `direct` bytes.
    unsafe { core::ptr::copy_nonoverlapping(src, buf.as_mut_ptr(), direct) };
    let mut got = direct;
    if want > direct {
        // SAFETY: in bounds of the reservation / pointer arithmetic only.
        got += sys::safe_copy(&mut buf[direct..want], unsafe { src.add(direct) });
    }
    if got == 0 {
        w.header().flags |= FLAG_BAD_POINTER;
        return;
    }
    w.commit_reserved(tag, role, got);
}

/// The bytes of a socket address that its family defines (what libc's
/// getnameinfo reads of it, whatever length the program passed).
pub fn family_size(family: u16, len: usize) -> usize {
    let n = match family as i32 {
        libc::AF_INET => core::mem::size_of::<libc::sockaddr_in>(),
        libc::AF_INET6 => core::mem::size_of::<libc::sockaddr_in6>(),
        _ => 2,
    };
    n.min(len)
}

/// A socket address a library function (not the kernel) was given: on
/// success only the family's own size is known to have been read.
///
/// # Safety
/// When `ok`, `addr` must be readable for the family's size.
pub unsafe fn sockaddr_libc(
    w: &mut RecordWriter<'_>,
    role: u8,
    addr: *const libc::sockaddr,
    len: usize,
    ok: bool,
) {
    if addr.is_null() || len < 2 {
        return;
    }
    let sure = if ok {
        // SAFETY: libc read the family to succeed.
        family_size(unsafe { (*addr).sa_family }, len)
    } else {
        0
    };
    // SAFETY: `sure` bytes were read by libc.
    unsafe {
        bytes_used(
            w,
            Tag::SockAddr,
            role,
            addr as *const u8,
            len.min(MAX_ADDR),
            sure,
        )
    }
}

/// A socket address the kernel copied in whole (connect, bind, sendto,
/// sendmsg: `move_addr_to_kernel` reads all `len <= 128` bytes or fails).
///
/// # Safety
/// As [`bytes`], with `len` the length the program passed.
pub unsafe fn sockaddr(
    w: &mut RecordWriter<'_>,
    role: u8,
    addr: *const libc::sockaddr,
    len: usize,
    trusted: bool,
) {
    // SAFETY: forwarded.
    unsafe {
        bytes(
            w,
            Tag::SockAddr,
            role,
            addr as *const u8,
            len.min(MAX_ADDR),
            trusted,
        )
    }
}

/// A socket address returned through `(addr, *lenp)`.
///
/// # Safety
/// On success both pointers were written by the kernel.
pub unsafe fn sockaddr_out(
    w: &mut RecordWriter<'_>,
    role: u8,
    addr: *const libc::sockaddr,
    lenp: *const libc::socklen_t,
) {
    if addr.is_null() || lenp.is_null() {
        return;
    }
    // SAFETY: lenp was written by the successful call.
    let len = unsafe { *lenp } as usize;
    // SAFETY: the kernel wrote min(len, buffer size) bytes; the buffer was
    // at least as large as the original *lenp, and len may be larger than
    // the buffer (truncated address), so copy through the safe path.
    unsafe { sockaddr(w, role, addr, len, false) }
}

/// A NUL-terminated string, at most [`MAX_STR`] bytes.
///
/// # Safety
/// When `trusted`, `s` must be a valid C string.
pub unsafe fn cstr(w: &mut RecordWriter<'_>, role: u8, s: *const c_char, trusted: bool) {
    if s.is_null() {
        return;
    }
    if trusted {
        // SAFETY: valid C string per contract; bounded scan.
        let n = unsafe { strnlen(s as *const u8, MAX_STR) };
        // SAFETY: n bytes are readable.
        unsafe { bytes(w, Tag::Str, role, s as *const u8, n, true) };
        return;
    }
    let buf = w.reserve(MAX_STR);
    let got = sys::safe_copy(buf, s as *const u8);
    if got == 0 {
        // A string that ends near the end of a mapping cannot be copied in
        // one piece; try a short prefix before giving up.
        let short = buf.len().min(16);
        let got = sys::safe_copy(&mut buf[..short], s as *const u8);
        if got == 0 {
            w.header().flags |= FLAG_BAD_POINTER;
            return;
        }
        let n = buf[..got].iter().position(|&b| b == 0).unwrap_or(got);
        w.commit_reserved(Tag::Str, role, n);
        return;
    }
    let n = buf[..got].iter().position(|&b| b == 0).unwrap_or(got);
    w.commit_reserved(Tag::Str, role, n);
}

/// # Safety
/// `s` must be readable up to its NUL or `max` bytes.
unsafe fn strnlen(s: *const u8, max: usize) -> usize {
    let mut n = 0;
    // SAFETY: caller's contract.
    while n < max && unsafe { *s.add(n) } != 0 {
        n += 1;
    }
    n
}

/// Up to `max_data` payload bytes of a buffer the call filled or sent.
///
/// # Safety
/// `buf` must be valid for `n` bytes (the call moved them).
pub unsafe fn payload(w: &mut RecordWriter<'_>, role: u8, buf: *const u8, n: isize) {
    let max = crate::settings::max_data();
    if max == 0 || n <= 0 {
        return;
    }
    // SAFETY: forwarded.
    unsafe { bytes(w, Tag::Bytes, role, buf, (n as usize).min(max), true) }
}

/// Up to `max_data` bytes of a buffer the call may not have touched
/// (recv with MSG_TRUNC), through the fault-safe path.
///
/// # Safety
/// None beyond a valid record writer.
pub unsafe fn payload_unsure(w: &mut RecordWriter<'_>, role: u8, buf: *const u8, n: isize) {
    let max = crate::settings::max_data();
    if max == 0 || n <= 0 {
        return;
    }
    // SAFETY: not trusted: the fault-safe path.
    unsafe { bytes(w, Tag::Bytes, role, buf, (n as usize).min(max), false) }
}

/// Payload from an iovec array, gathering up to `max_data` of the `n`
/// bytes moved.
///
/// # Safety
/// `iov` must be valid for `cnt` entries covering at least `n` bytes.
pub unsafe fn payload_iov(
    w: &mut RecordWriter<'_>,
    role: u8,
    iov: *const libc::iovec,
    cnt: usize,
    n: isize,
) {
    let max = crate::settings::max_data();
    if max == 0 || n <= 0 || iov.is_null() {
        return;
    }
    let want = (n as usize).min(max);
    let buf = w.reserve(want);
    // SAFETY: forwarded.
    let got = unsafe { gather_iov(buf, iov, cnt, n as usize) };
    w.commit_reserved(Tag::Bytes, role, got);
}

/// Copies the first `moved` bytes that went through an iovec array into
/// `dst`, as far as it holds them. Returns the bytes copied.
///
/// # Safety
/// `iov` must be valid for `cnt` entries whose buffers hold at least
/// `moved` bytes (the call moved them).
pub unsafe fn gather_iov(
    dst: &mut [u8],
    iov: *const libc::iovec,
    cnt: usize,
    moved: usize,
) -> usize {
    if iov.is_null() {
        return 0;
    }
    let mut got = 0;
    let mut left = moved;
    for i in 0..cnt {
        if left == 0 || got >= dst.len() {
            break;
        }
        // SAFETY: i < cnt.
        let v = unsafe { *iov.add(i) };
        let take = v.iov_len.min(left).min(dst.len() - got);
        if take > 0 && !v.iov_base.is_null() {
            // SAFETY: the call moved these bytes.
            unsafe {
                core::ptr::copy_nonoverlapping(
                    v.iov_base as *const u8,
                    dst.as_mut_ptr().add(got),
                    take,
                )
            };
            got += take;
            left -= take;
        }
    }
    got
}

/// Lengths of an iovec array (at most 32).
///
/// # Safety
/// When `trusted`, `iov` must be valid for `cnt` entries.
pub unsafe fn iov_lens(
    w: &mut RecordWriter<'_>,
    role: u8,
    iov: *const libc::iovec,
    cnt: i64,
    trusted: bool,
) {
    if iov.is_null() || cnt <= 0 {
        return;
    }
    let n = (cnt as usize).min(32);
    let mut lens = [0i64; 32];
    if trusted {
        for (i, l) in lens.iter_mut().enumerate().take(n) {
            // SAFETY: i < cnt, array valid.
            *l = unsafe { (*iov.add(i)).iov_len } as i64;
        }
    } else {
        let mut raw = [0u8; 32 * 16];
        let got = sys::safe_copy(&mut raw[..n * 16], iov as *const u8);
        if got < n * 16 {
            w.header().flags |= FLAG_BAD_POINTER;
            return;
        }
        for (i, l) in lens.iter_mut().enumerate().take(n) {
            let mut b = [0u8; 8];
            b.copy_from_slice(&raw[i * 16 + 8..i * 16 + 16]);
            *l = i64::from_ne_bytes(b);
        }
    }
    w.ints(role, &lens[..n]);
}

/// Reads a plain value through the fault-safe path.
pub fn read_value<T: Copy>(p: *const T) -> Option<T> {
    if p.is_null() {
        return None;
    }
    let mut v = core::mem::MaybeUninit::<T>::uninit();
    // SAFETY: the slice covers exactly the MaybeUninit's bytes.
    let dst = unsafe {
        core::slice::from_raw_parts_mut(v.as_mut_ptr() as *mut u8, core::mem::size_of::<T>())
    };
    if sys::safe_copy(dst, p as *const u8) == core::mem::size_of::<T>() {
        // SAFETY: fully initialised by the copy; T is plain data by use.
        Some(unsafe { v.assume_init() })
    } else {
        None
    }
}

/// The local (and, with `peer`, the remote) address of a socket, through
/// raw system calls (our own getsockname hook must not see them), when the
/// capture asks for addresses.
pub fn socket_ends(w: &mut RecordWriter<'_>, fd: i32, peer: bool) {
    if crate::settings::capture_flags() & sock_trace_event::ring::CAPTURE_ADDRESSES == 0 {
        return;
    }
    let calls = [
        (libc::SYS_getsockname, sock_trace_event::role::LOCAL_ADDR),
        (libc::SYS_getpeername, sock_trace_event::role::PEER_ADDR),
    ];
    for (nr, role) in calls.into_iter().take(if peer { 2 } else { 1 }) {
        let mut buf = [0u8; MAX_ADDR];
        let mut len = MAX_ADDR as libc::socklen_t;
        // SAFETY: valid buffer and length pointer for the kernel to fill.
        let r = unsafe {
            crate::sys::raw!(
                nr,
                fd as libc::c_long,
                buf.as_mut_ptr(),
                &mut len as *mut libc::socklen_t,
            )
        };
        if r == 0 {
            w.blob(Tag::SockAddr, role, &buf[..(len as usize).min(MAX_ADDR)]);
        }
    }
}
