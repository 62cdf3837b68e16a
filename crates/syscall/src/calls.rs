//! Which system calls are traced, and the record each one becomes: the
//! same functions, arguments and blobs as the preload library's hooks
//! write (docs/RECORDS.md), read from the stopped tracee.

use crate::mem;
use sock_trace_event::record::FLAG_BAD_POINTER;
use sock_trace_event::{role, Func, RecordWriter, Tag};

pub const MAX_ADDR: usize = 128;
pub const MAX_OPT: usize = 512;
pub const MAX_CONTROL: usize = 512;

/// `close_range` flags (linux/close_range.h).
const CLOSE_RANGE_UNSHARE: u64 = 1 << 1;
const CLOSE_RANGE_CLOEXEC: u64 = 1 << 2;

/// The x86_64 system calls the filter stops at, and the function each one
/// is recorded as.
pub const TRACED: &[(i64, Func)] = &[
    (libc::SYS_socket, Func::Socket),
    (libc::SYS_socketpair, Func::Socketpair),
    (libc::SYS_connect, Func::Connect),
    (libc::SYS_bind, Func::Bind),
    (libc::SYS_listen, Func::Listen),
    (libc::SYS_accept, Func::Accept),
    (libc::SYS_accept4, Func::Accept4),
    (libc::SYS_shutdown, Func::Shutdown),
    (libc::SYS_getsockname, Func::Getsockname),
    (libc::SYS_getpeername, Func::Getpeername),
    (libc::SYS_sendto, Func::Sendto),
    (libc::SYS_recvfrom, Func::Recvfrom),
    (libc::SYS_sendmsg, Func::Sendmsg),
    (libc::SYS_recvmsg, Func::Recvmsg),
    (libc::SYS_setsockopt, Func::Setsockopt),
    (libc::SYS_getsockopt, Func::Getsockopt),
    (libc::SYS_close, Func::Close),
    (libc::SYS_close_range, Func::CloseRange),
    (libc::SYS_dup, Func::Dup),
    (libc::SYS_dup2, Func::Dup2),
    (libc::SYS_dup3, Func::Dup3),
    (libc::SYS_fcntl, Func::Fcntl),
    (libc::SYS_read, Func::Read),
    (libc::SYS_write, Func::Write),
    (libc::SYS_readv, Func::Readv),
    (libc::SYS_writev, Func::Writev),
];

pub fn func_of(nr: i64) -> Option<Func> {
    TRACED.iter().find(|(n, _)| *n == nr).map(|(_, f)| *f)
}

/// A call seen at its seccomp stop, completed at its exit stop.
#[derive(Clone, Copy, Debug)]
pub struct Entry {
    pub nr: i64,
    pub func: Func,
    pub args: [u64; 6],
    /// User-space instruction pointer at the call (after the `syscall`
    /// instruction: a return address for the symboliser).
    pub rip: u64,
    pub t_start: u64,
    /// close, close_range: whether a socket was among the descriptors.
    pub had_socket: bool,
}

/// What the bookkeeping needs to know about a process's descriptors.
pub trait Fds {
    fn is_socket(&self, fd: i64) -> bool;
}

/// Whether the call needs its exit stop (a record or bookkeeping), decided
/// at the seccomp stop. Calls on descriptors that are not sockets resume
/// at once.
pub fn wanted(func: Func, args: &[u64; 6], fds: &dyn Fds) -> bool {
    let fd = args[0] as i32 as i64;
    match func {
        Func::Read | Func::Write | Func::Readv | Func::Writev | Func::Close | Func::Fcntl => {
            fds.is_socket(fd)
        }
        Func::Dup => fds.is_socket(fd),
        Func::Dup2 | Func::Dup3 => fds.is_socket(fd) || fds.is_socket(args[1] as i32 as i64),
        Func::CloseRange => {
            let (first, last) = (args[0] as u32 as i64, args[1] as u32 as i64);
            // A bounded look: the set is small, the range may be huge.
            first <= last && (first..=last.min(first + 65536)).any(|fd| fds.is_socket(fd))
        }
        _ => true,
    }
}

/// Whether close_range with these arguments closes descriptors (rather than
/// marking them close-on-exec, or failing on bad flags).
pub fn close_range_closes(args: &[u64; 6]) -> bool {
    let f = args[2];
    f & CLOSE_RANGE_CLOEXEC == 0
        && f & !(CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC) == 0
        && (args[0] as u32) <= (args[1] as u32)
}

/// Copies `n` bytes of tracee memory into the record as one blob; an
/// unreadable pointer sets `FLAG_BAD_POINTER` and leaves the blob out.
pub fn bytes(w: &mut RecordWriter<'_>, pid: u32, tag: Tag, role: u8, addr: u64, n: usize) {
    if addr == 0 || n == 0 {
        return;
    }
    let buf = w.reserve(n);
    let want = buf.len();
    let got = mem::read(pid, addr, buf);
    if got == 0 && want > 0 {
        w.header().flags |= FLAG_BAD_POINTER;
        return;
    }
    w.commit_reserved(tag, role, got);
}

/// A socket address returned through `(addr, *lenp)`.
fn sockaddr_out(w: &mut RecordWriter<'_>, pid: u32, role: u8, addr: u64, lenp: u64) {
    if addr == 0 || lenp == 0 {
        return;
    }
    let Some(len) = mem::read_value::<u32>(pid, lenp) else {
        w.header().flags |= FLAG_BAD_POINTER;
        return;
    };
    bytes(
        w,
        pid,
        Tag::SockAddr,
        role,
        addr,
        (len as usize).min(MAX_ADDR),
    );
}

/// Payload moved through a buffer: the first min(n, max_data) bytes.
fn payload(w: &mut RecordWriter<'_>, pid: u32, role: u8, buf: u64, n: i64, max: usize) {
    if max == 0 || n <= 0 {
        return;
    }
    bytes(w, pid, Tag::Bytes, role, buf, (n as usize).min(max));
}

/// Reads an iovec array (at most 32 entries read, as the preload library
/// records at most 32 lengths; payload is gathered from those).
fn iovecs(pid: u32, iov: u64, cnt: u64) -> Option<Vec<(u64, u64)>> {
    if iov == 0 || cnt == 0 {
        return Some(Vec::new());
    }
    let n = (cnt as usize).min(32);
    let mut raw = [0u8; 32 * 16];
    if mem::read(pid, iov, &mut raw[..n * 16]) < n * 16 {
        return None;
    }
    Some(
        (0..n)
            .map(|i| {
                let word =
                    |o: usize| u64::from_le_bytes(raw[o..o + 8].try_into().unwrap_or([0; 8]));
                (word(i * 16), word(i * 16 + 8))
            })
            .collect(),
    )
}

fn iov_blobs(
    w: &mut RecordWriter<'_>,
    pid: u32,
    iov: u64,
    cnt: u64,
    moved: i64,
    data_role: u8,
    max: usize,
) {
    if iov == 0 || cnt as i64 <= 0 {
        return;
    }
    let Some(v) = iovecs(pid, iov, cnt) else {
        w.header().flags |= FLAG_BAD_POINTER;
        return;
    };
    let lens: Vec<i64> = v.iter().map(|&(_, l)| l as i64).collect();
    w.ints(role::IOV_LENS, &lens);
    if max == 0 || moved <= 0 {
        return;
    }
    let want = (moved as usize).min(max);
    let buf = w.reserve(want);
    let mut got = 0;
    let mut left = moved as u64;
    for &(base, len) in &v {
        if left == 0 || got >= buf.len() {
            break;
        }
        let take = (len.min(left) as usize).min(buf.len() - got);
        if take > 0 {
            let n = mem::read(pid, base, &mut buf[got..got + take]);
            got += n;
            if n < take {
                break;
            }
            left -= take as u64;
        }
    }
    w.commit_reserved(Tag::Bytes, data_role, got);
}

/// msghdr summary, address, iovec lengths, control buffer and payload.
fn msghdr_blobs(w: &mut RecordWriter<'_>, pid: u32, msg: u64, ret: i64, sending: bool, max: usize) {
    let mut raw = [0u8; 56];
    if mem::read(pid, msg, &mut raw) < 56 {
        w.header().flags |= FLAG_BAD_POINTER;
        return;
    }
    let q = |o: usize| u64::from_le_bytes(raw[o..o + 8].try_into().unwrap_or([0; 8]));
    let name = q(0);
    let namelen = u32::from_le_bytes(raw[8..12].try_into().unwrap_or([0; 4])) as u64;
    let (iov, iovlen, control, controllen) = (q(16), q(24), q(32), q(40));
    let flags = u32::from_le_bytes(raw[48..52].try_into().unwrap_or([0; 4])) as i32;
    w.ints(
        role::MSGHDR,
        &[
            namelen as i64,
            iovlen as i64,
            controllen as i64,
            flags as i64,
        ],
    );
    let addr_role = if sending { role::ADDR } else { role::ADDR_OUT };
    if sending || ret >= 0 {
        bytes(
            w,
            pid,
            Tag::SockAddr,
            addr_role,
            name,
            (namelen as usize).min(MAX_ADDR),
        );
    }
    let data_role = if sending {
        role::DATA_OUT
    } else {
        role::DATA_IN
    };
    // The payload comes after the control buffer in the preload library's
    // records; the order of blobs does not matter to the decoder.
    if ret >= 0 && control != 0 && controllen > 0 {
        bytes(
            w,
            pid,
            Tag::Bytes,
            role::CONTROL,
            control,
            (controllen as usize).min(MAX_CONTROL),
        );
    }
    iov_blobs(w, pid, iov, iovlen, ret, data_role, max);
}

/// Fills the record of a completed call (arguments and blobs). The header
/// (times, ids, result) is already set.
pub fn fill(w: &mut RecordWriter<'_>, pid: u32, e: &Entry, ret: i64, max_data: usize) {
    let a = e.args;
    let n = |k: usize| -> usize { k.min(6) };
    let set_args = |w: &mut RecordWriter<'_>, k: usize| {
        w.header().args[..n(k)].copy_from_slice(&a[..n(k)]);
    };
    let ok = ret >= 0;
    match e.func {
        Func::Socket => set_args(w, 3),
        Func::Socketpair => {
            set_args(w, 4);
            if ret == 0 {
                if let Some(sv) = mem::read_value::<[i32; 2]>(pid, a[3]) {
                    w.ints(role::FDS_OUT, &[sv[0] as i64, sv[1] as i64]);
                }
            }
        }
        Func::Connect | Func::Bind => {
            set_args(w, 3);
            bytes(
                w,
                pid,
                Tag::SockAddr,
                role::ADDR,
                a[1],
                (a[2] as u32 as usize).min(MAX_ADDR),
            );
        }
        Func::Listen | Func::Shutdown => set_args(w, 2),
        Func::Accept | Func::Accept4 => {
            set_args(w, if e.func == Func::Accept { 3 } else { 4 });
            if ok {
                sockaddr_out(w, pid, role::ADDR_OUT, a[1], a[2]);
            }
        }
        Func::Getsockname | Func::Getpeername => {
            set_args(w, 3);
            if ret == 0 {
                sockaddr_out(w, pid, role::ADDR_OUT, a[1], a[2]);
            }
        }
        Func::Close | Func::Dup => set_args(w, 1),
        Func::Dup2 => set_args(w, 2),
        Func::Dup3 | Func::Fcntl | Func::CloseRange => set_args(w, 3),
        Func::Setsockopt => {
            set_args(w, 5);
            bytes(
                w,
                pid,
                Tag::Bytes,
                role::OPTVAL,
                a[3],
                (a[4] as u32 as usize).min(MAX_OPT),
            );
        }
        Func::Getsockopt => {
            set_args(w, 5);
            let after = mem::read_value::<u32>(pid, a[4]);
            w.header().args[5] = after.unwrap_or(0) as u64;
            if ret == 0 {
                if let Some(len) = after {
                    bytes(
                        w,
                        pid,
                        Tag::Bytes,
                        role::OPTVAL,
                        a[3],
                        (len as usize).min(MAX_OPT),
                    );
                }
            }
        }
        Func::Sendto => {
            set_args(w, 6);
            if a[4] != 0 {
                bytes(
                    w,
                    pid,
                    Tag::SockAddr,
                    role::ADDR,
                    a[4],
                    (a[5] as u32 as usize).min(MAX_ADDR),
                );
            }
            payload(w, pid, role::DATA_OUT, a[1], ret, max_data);
        }
        Func::Recvfrom => {
            set_args(w, 6);
            if ok && a[4] != 0 {
                sockaddr_out(w, pid, role::ADDR_OUT, a[4], a[5]);
            }
            // MSG_TRUNC: ret may exceed the buffer; only len bytes are ours.
            payload(w, pid, role::DATA_IN, a[1], ret.min(a[2] as i64), max_data);
        }
        Func::Write => {
            set_args(w, 3);
            payload(w, pid, role::DATA_OUT, a[1], ret, max_data);
        }
        Func::Read => {
            set_args(w, 3);
            payload(w, pid, role::DATA_IN, a[1], ret, max_data);
        }
        Func::Writev => {
            set_args(w, 3);
            iov_blobs(w, pid, a[1], a[2], ret, role::DATA_OUT, max_data);
        }
        Func::Readv => {
            set_args(w, 3);
            iov_blobs(w, pid, a[1], a[2], ret, role::DATA_IN, max_data);
        }
        Func::Sendmsg => {
            set_args(w, 3);
            msghdr_blobs(w, pid, a[1], ret, true, max_data);
        }
        Func::Recvmsg => {
            set_args(w, 3);
            msghdr_blobs(w, pid, a[1], ret, false, max_data);
        }
        _ => set_args(w, 6),
    }
}
