//! Which file descriptors are sockets (and which epoll instances watch
//! sockets), so that `read`, `write`, `close`, `poll` and friends are
//! traced for sockets only. One bit per fd in a fixed table: a test is one
//! relaxed load, no locks, safe everywhere. Descriptors above the table's
//! range are treated as unknown (not traced by the generic I/O hooks).

use core::sync::atomic::{AtomicU64, Ordering};

pub const MAX_FD: usize = 64 * 1024;
const WORDS: usize = MAX_FD / 64;

static SOCKETS: [AtomicU64; WORDS] = [const { AtomicU64::new(0) }; WORDS];
static EPOLLS: [AtomicU64; WORDS] = [const { AtomicU64::new(0) }; WORDS];

#[inline(always)]
fn bit(table: &[AtomicU64; WORDS], fd: i32) -> bool {
    if fd < 0 || fd as usize >= MAX_FD {
        return false;
    }
    let fd = fd as usize;
    table[fd / 64].load(Ordering::Relaxed) & (1 << (fd % 64)) != 0
}

fn set(table: &[AtomicU64; WORDS], fd: i32, on: bool) {
    if fd < 0 || fd as usize >= MAX_FD {
        return;
    }
    let fd = fd as usize;
    if on {
        table[fd / 64].fetch_or(1 << (fd % 64), Ordering::Relaxed);
    } else {
        table[fd / 64].fetch_and(!(1 << (fd % 64)), Ordering::Relaxed);
    }
}

#[inline(always)]
pub fn is_socket(fd: i32) -> bool {
    bit(&SOCKETS, fd)
}

pub fn set_socket(fd: i32, on: bool) {
    set(&SOCKETS, fd, on)
}

#[inline(always)]
pub fn is_socket_epoll(fd: i32) -> bool {
    bit(&EPOLLS, fd)
}

pub fn set_socket_epoll(fd: i32, on: bool) {
    set(&EPOLLS, fd, on)
}

/// A descriptor was closed or replaced: it is neither a socket nor an
/// epoll instance any more.
pub fn forget(fd: i32) {
    set(&SOCKETS, fd, false);
    set(&EPOLLS, fd, false);
}

/// The bitmap words that cover descriptors `first..=last` (clamped to
/// what the bitmaps hold), each with the mask of its bits in the range.
fn range_words(first: u32, last: u32) -> impl Iterator<Item = (usize, u64)> {
    let last = (last as usize).min(MAX_FD - 1);
    let mut fd = first as usize;
    core::iter::from_fn(move || {
        if fd > last {
            return None;
        }
        let word = fd / 64;
        let lo = fd % 64;
        let hi = if last / 64 == word { last % 64 } else { 63 };
        let width = hi - lo + 1;
        let mask = if width == 64 {
            u64::MAX
        } else {
            ((1u64 << width) - 1) << lo
        };
        fd = (word + 1) * 64;
        Some((word, mask))
    })
}

/// Descriptors `first..=last` were closed (close_range, closefrom): none of
/// them is a socket or a watched epoll instance any more. Whole words are
/// cleared at once.
pub fn forget_range(first: u32, last: u32) {
    if first as usize >= MAX_FD || first > last {
        return;
    }
    for (word, mask) in range_words(first, last) {
        SOCKETS[word].fetch_and(!mask, Ordering::Relaxed);
        EPOLLS[word].fetch_and(!mask, Ordering::Relaxed);
    }
}

/// Whether any descriptor in `first..=last` is marked as a socket.
pub fn any_in_range(first: u32, last: u32) -> bool {
    if first as usize >= MAX_FD || first > last {
        return false;
    }
    range_words(first, last).any(|(word, mask)| SOCKETS[word].load(Ordering::Relaxed) & mask != 0)
}

/// Whether a descriptor marked as a socket still is one (a raw fstat).
/// A descriptor closed behind the hooks' back (by code that reaches the
/// kernel without a hooked function) and reused for a file loses its mark
/// here. Costs a system call: only for paths that act on a call or copy
/// its payload.
pub fn verify_socket(fd: i32) -> bool {
    if crate::sys::is_socket_fd(fd) {
        return true;
    }
    // A vfork child shares our memory but has its own descriptors.
    if !crate::lifecycle::in_vfork_child() {
        forget(fd);
    }
    false
}

/// Finds the sockets a process inherited (socket activation, inetd-style
/// servers, a shell's redirections) by reading /proc/self/fd with raw
/// syscalls.
pub fn scan_inherited() {
    use core::ffi::c_long;
    // SAFETY: raw syscalls on buffers we own.
    unsafe {
        let dir = crate::sys::open(
            c"/proc/self/fd".as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY,
        );
        if dir < 0 {
            return;
        }
        let mut buf = [0u8; 4096];
        loop {
            let n = crate::sys::raw!(libc::SYS_getdents64, dir, buf.as_mut_ptr(), buf.len());
            if n <= 0 {
                break;
            }
            let mut off = 0usize;
            while off + 19 < n as usize {
                let reclen = u16::from_ne_bytes([buf[off + 16], buf[off + 17]]) as usize;
                if reclen == 0 {
                    break;
                }
                let name = &buf[off + 19..(off + reclen).min(n as usize)];
                let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
                let name = &name[..end];
                if let Some(fd) = parse_fd(name) {
                    if fd as c_long != dir {
                        let mut path = [0u8; 32];
                        path[..name.len().min(31)].copy_from_slice(&name[..name.len().min(31)]);
                        let mut target = [0u8; 64];
                        let r = crate::sys::raw!(
                            libc::SYS_readlinkat,
                            dir,
                            path.as_ptr(),
                            target.as_mut_ptr(),
                            target.len(),
                        );
                        if r > 0 && target[..r as usize].starts_with(b"socket:") {
                            set_socket(fd, true);
                        }
                    }
                }
                off += reclen;
            }
        }
        crate::sys::raw!(libc::SYS_close, dir);
    }
}

fn parse_fd(name: &[u8]) -> Option<i32> {
    if name.is_empty() || name.len() > 9 {
        return None;
    }
    let mut v = 0i32;
    for &b in name {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (b - b'0') as i32;
    }
    Some(v)
}
