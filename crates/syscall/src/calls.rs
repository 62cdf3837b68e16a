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
    (libc::SYS_sendmmsg, Func::Sendmmsg),
    (libc::SYS_recvmmsg, Func::Recvmmsg),
    (libc::SYS_sendfile, Func::Sendfile),
    (libc::SYS_ioctl, Func::Ioctl),
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
    (libc::SYS_poll, Func::Poll),
    (libc::SYS_ppoll, Func::Ppoll),
    (libc::SYS_select, Func::Select),
    (libc::SYS_pselect6, Func::Pselect),
    (libc::SYS_epoll_create, Func::EpollCreate),
    (libc::SYS_epoll_create1, Func::EpollCreate1),
    (libc::SYS_epoll_ctl, Func::EpollCtl),
    (libc::SYS_epoll_wait, Func::EpollWait),
    (libc::SYS_epoll_pwait, Func::EpollPwait),
];

/// Most `pollfd` and `epoll_event` entries a record holds.
const MAX_POLLFDS: usize = 64;
const MAX_EVENTS: usize = 64;
/// `struct epoll_event` on x86_64 (packed).
const EPOLL_EVENT_SIZE: usize = 12;
/// The largest `fd_set` (FD_SETSIZE bits).
const FD_SET_BYTES: usize = 128;

pub fn func_of(nr: i64) -> Option<Func> {
    TRACED.iter().find(|(n, _)| *n == nr).map(|(_, f)| *f)
}

/// A call seen at its seccomp stop, completed at its exit stop.
#[derive(Clone, Debug)]
pub struct Entry {
    pub nr: i64,
    pub func: Func,
    pub args: [u64; 6],
    /// User-space instruction pointer at the call (after the `syscall`
    /// instruction: a return address for the symboliser).
    pub rip: u64,
    /// Further return addresses (a Go program's stack above its system-call
    /// stub, see `stack`); empty for other programs.
    pub stack: Vec<u64>,
    pub t_start: u64,
    /// close, close_range: whether a socket was among the descriptors.
    pub had_socket: bool,
    /// Blobs read before the call (what the kernel overwrites: select's
    /// sets, timeouts).
    pub pre: Vec<PreBlob>,
    /// Record flags from the configuration's rules (injected, delayed).
    pub flags: u16,
    /// An injected failure: the call was skipped; (return value, errno).
    pub fail: Option<(i64, i32)>,
    /// A delay after the call (the thread is held at its exit stop).
    pub after_ns: u64,
}

/// A blob read at the seccomp stop: tag, role, bytes.
pub type PreBlob = (Tag, u8, Vec<u8>);

/// What the bookkeeping needs to know about a process's descriptors.
pub trait Fds {
    fn is_socket(&self, fd: i64) -> bool;
    /// An epoll instance that watches a socket.
    fn is_socket_epoll(&self, fd: i64) -> bool;
}

/// Whether the call needs its exit stop (a record or bookkeeping), decided
/// at the seccomp stop. Calls on descriptors that are not sockets resume
/// at once.
pub fn wanted(func: Func, args: &[u64; 6], fds: &dyn Fds, tid: u32) -> bool {
    let fd = args[0] as i32 as i64;
    match func {
        Func::EpollCtl => fds.is_socket(args[2] as i32 as i64),
        Func::EpollWait | Func::EpollPwait => fds.is_socket_epoll(fd),
        Func::Poll | Func::Ppoll => {
            // Only polls that watch a socket, or whose array cannot be read
            // (they fail: the preload library records failures).
            let n = (args[1] as usize).min(1024);
            if args[0] == 0 || n == 0 {
                return true;
            }
            let mut raw = vec![0u8; n * 8];
            if mem::read(tid, args[0], &mut raw) < raw.len() {
                return true;
            }
            raw.chunks_exact(8)
                .any(|p| fds.is_socket(i32::from_le_bytes([p[0], p[1], p[2], p[3]]) as i64))
        }
        Func::Read
        | Func::Write
        | Func::Readv
        | Func::Writev
        | Func::Close
        | Func::Fcntl
        | Func::Ioctl
        | Func::Sendfile => fds.is_socket(fd),
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

/// `struct mmsghdr` on x86_64: a msghdr (56 bytes), `msg_len`, padding.
const MMSGHDR_SIZE: usize = 64;
/// Messages of one sendmmsg/recvmmsg whose lengths are recorded (as the
/// preload library: at most 32).
const MAX_MMSG: usize = 32;

/// sendmmsg/recvmmsg: each processed message's length, the first
/// message's address, and the payload of the messages back to back (at
/// most `max` bytes), as the preload library records them.
fn mmsg_blobs(
    w: &mut RecordWriter<'_>,
    pid: u32,
    vec: u64,
    n: i64,
    (addr_role, data_role): (u8, u8),
    max: usize,
) {
    if vec == 0 || n <= 0 {
        return;
    }
    let count = (n as usize).min(MAX_MMSG);
    let mut raw = [0u8; MAX_MMSG * MMSGHDR_SIZE];
    let raw = &mut raw[..count * MMSGHDR_SIZE];
    if mem::read(pid, vec, raw) < raw.len() {
        w.header().flags |= FLAG_BAD_POINTER;
        return;
    }
    let q = |o: usize| u64::from_le_bytes(raw[o..o + 8].try_into().unwrap_or([0; 8]));
    let d = |o: usize| u32::from_le_bytes(raw[o..o + 4].try_into().unwrap_or([0; 4]));
    let lens: Vec<i64> = (0..count)
        .map(|i| d(i * MMSGHDR_SIZE + 56) as i64)
        .collect();
    w.ints(role::MMSG, &lens);
    bytes(
        w,
        pid,
        Tag::SockAddr,
        addr_role,
        q(0),
        (d(8) as usize).min(MAX_ADDR),
    );
    let total: usize = lens.iter().map(|&l| l.max(0) as usize).sum();
    if max == 0 || total == 0 {
        return;
    }
    let buf = w.reserve(max.min(total));
    let mut got = 0;
    'messages: for (i, &len) in lens.iter().enumerate() {
        let base = i * MMSGHDR_SIZE;
        let Some(v) = iovecs(pid, q(base + 16), q(base + 24)) else {
            break;
        };
        let mut left = len.max(0) as u64;
        for (ptr, l) in v {
            if left == 0 || got >= buf.len() {
                break;
            }
            let take = (l.min(left) as usize).min(buf.len() - got);
            let n = mem::read(pid, ptr, &mut buf[got..got + take]);
            got += n;
            if n < take {
                break 'messages;
            }
            left -= take as u64;
        }
    }
    w.commit_reserved(Tag::Bytes, data_role, got);
}

/// select's (and pselect6's) three sets: how many bytes of each the call
/// looks at (`nfds` bits, at most `FD_SETSIZE`), and their pointers (read,
/// write, except).
fn fd_sets(args: &[u64; 6]) -> (usize, [u64; 3]) {
    let bytes = ((args[0] as i32).max(0) as usize)
        .div_ceil(8)
        .min(FD_SET_BYTES);
    (bytes, [args[1], args[2], args[3]])
}

/// Reads, at the seccomp stop, what the call will overwrite: select's
/// sets and timeouts (Linux rewrites them), ppoll's timeout. pselect6's
/// sixth argument points to `{sigmask ptr, size}`: the mask pointer is
/// returned for `args[5]`, as the libc function has it.
pub fn pre(func: Func, tid: u32, args: &[u64; 6]) -> (Vec<PreBlob>, Option<u64>) {
    let mut v = Vec::new();
    let mut mask = None;
    let ints = |vals: &[i64]| -> Vec<u8> { vals.iter().flat_map(|x| x.to_le_bytes()).collect() };
    match func {
        Func::Select | Func::Pselect => {
            let (bytes, sets) = fd_sets(args);
            for (r, p) in [role::FDS_READ_IN, role::FDS_WRITE_IN, role::FDS_EXCEPT_IN]
                .into_iter()
                .zip(sets)
            {
                if p != 0 && bytes > 0 {
                    let mut b = vec![0u8; bytes];
                    if mem::read(tid, p, &mut b) == bytes {
                        v.push((Tag::FdSet, r, b));
                    }
                }
            }
            if let Some(t) = mem::read_value::<[i64; 2]>(tid, args[4]) {
                let ns = if func == Func::Select {
                    t[1] * 1000
                } else {
                    t[1]
                };
                v.push((Tag::Ints, role::TIMEOUT, ints(&[t[0], ns])));
            }
            if func == Func::Pselect && args[5] != 0 {
                mask = mem::read_value::<u64>(tid, args[5]);
            }
        }
        Func::Ppoll => {
            if let Some(t) = mem::read_value::<[i64; 2]>(tid, args[2]) {
                v.push((Tag::Ints, role::TIMEOUT, ints(&t)));
            }
        }
        _ => {}
    }
    (v, mask)
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
        Func::Sendmmsg => {
            set_args(w, 4);
            mmsg_blobs(w, pid, a[1], ret, (role::ADDR, role::DATA_OUT), max_data);
        }
        Func::Recvmmsg => {
            set_args(w, 5);
            mmsg_blobs(w, pid, a[1], ret, (role::ADDR_OUT, role::DATA_IN), max_data);
            if let Some(t) = mem::read_value::<[i64; 2]>(pid, a[4]) {
                w.ints(role::TIMEOUT, &t);
            }
        }
        Func::Sendfile => {
            set_args(w, 4);
            if let Some(o) = mem::read_value::<i64>(pid, a[2]) {
                w.ints(role::ARG_VAL, &[o]);
            }
        }
        Func::Ioctl => {
            set_args(w, 3);
            // The requests whose argument is an int (read or written).
            let int_arg = matches!(
                a[1] as u32 as u64,
                0x541B /* FIONREAD, SIOCINQ */ | 0x5421 /* FIONBIO */ | 0x5452 /* FIOASYNC */
                    | 0x8905 /* SIOCATMARK */ | 0x5411 /* TIOCOUTQ, SIOCOUTQ */
            );
            if ret == 0 && int_arg {
                if let Some(v) = mem::read_value::<i32>(pid, a[2]) {
                    w.ints(role::ARG_VAL, &[v as i64]);
                }
            }
        }
        Func::Poll | Func::Ppoll => {
            set_args(w, 4);
            if e.func == Func::Poll {
                // poll(fds, nfds, timeout ms): no mask.
                w.header().args[2] = a[2] as i32 as i64 as u64;
                w.header().args[3] = 0;
            }
            let count = (a[1] as usize).min(MAX_POLLFDS);
            bytes(w, pid, Tag::PollFds, 0, a[0], count * 8);
        }
        Func::Select | Func::Pselect => {
            set_args(w, if e.func == Func::Select { 5 } else { 6 });
            if ret > 0 {
                let (n, sets) = fd_sets(&a);
                for (r, p) in [role::FDS_READ, role::FDS_WRITE, role::FDS_EXCEPT]
                    .into_iter()
                    .zip(sets)
                {
                    bytes(w, pid, Tag::FdSet, r, p, n);
                }
            }
        }
        Func::EpollCreate | Func::EpollCreate1 => set_args(w, 1),
        Func::EpollCtl => {
            set_args(w, 4);
            if ret == 0 && a[1] as i32 != libc::EPOLL_CTL_DEL {
                bytes(
                    w,
                    pid,
                    Tag::EpollEvents,
                    role::EPOLL_EVENT,
                    a[3],
                    EPOLL_EVENT_SIZE,
                );
            }
        }
        Func::EpollWait | Func::EpollPwait => {
            set_args(w, if e.func == Func::EpollWait { 4 } else { 5 });
            w.header().args[3] = a[3] as i32 as i64 as u64;
            if ret > 0 {
                let count = (ret as usize).min(MAX_EVENTS);
                bytes(w, pid, Tag::EpollEvents, 0, a[1], count * EPOLL_EVENT_SIZE);
            }
        }
        _ => set_args(w, 6),
    }
    for (tag, r, data) in &e.pre {
        w.blob(*tag, *r, data);
    }
}
