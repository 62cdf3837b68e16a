//! The real libc functions behind our hooks, found with
//! `dlsym(RTLD_NEXT, ...)` and cached in atomics. Resolution is lazy (a
//! hook may run before our constructor) and warmed up at start so that a
//! vfork child never has to call into the dynamic loader.

use core::ffi::{c_char, c_int, c_long, c_uint, c_void};
use core::sync::atomic::{AtomicUsize, Ordering};
use libc::{
    addrinfo, epoll_event, fd_set, hostent, iovec, mmsghdr, msghdr, nfds_t, off_t, pollfd,
    protoent, servent, sigset_t, size_t, sockaddr, socklen_t, ssize_t, timespec, timeval,
};

macro_rules! reals {
    ($( $name:ident ( $($arg:ident : $t:ty),* ) -> $ret:ty ;)*) => {
        #[allow(non_camel_case_types, clippy::upper_case_acronyms)]
        #[repr(usize)]
        enum Id { $( $name, )* }

        static NAMES: &[&str] = &[ $( concat!(stringify!($name), "\0"), )* ];
        const COUNT: usize = NAMES.len();
        static PTRS: [AtomicUsize; COUNT] = [const { AtomicUsize::new(0) }; COUNT];

        $(
            /// Calls the real function.
            ///
            /// # Safety
            /// Same contract as the C function.
            #[inline(always)]
            #[allow(clippy::too_many_arguments)]
            pub unsafe fn $name($($arg: $t),*) -> $ret {
                let p = PTRS[Id::$name as usize].load(Ordering::Relaxed);
                if p == 0 {
                    // A tail call: the arguments stay in their registers
                    // and the hook needs no prologue for this rare path.
                    // SAFETY: forwarded contract.
                    return unsafe { unresolved::$name($($arg),*) };
                }
                // SAFETY: `p` is the address dlsym returned for this exact
                // symbol, whose C prototype is the one declared here.
                let f: unsafe extern "C" fn($($t),*) -> $ret = unsafe { core::mem::transmute(p) };
                // SAFETY: forwarded contract.
                unsafe { f($($arg),*) }
            }
        )*

        /// The first call of a function before [`warm_up`] resolved it.
        mod unresolved {
            use super::*;
            $(
                /// # Safety
                /// Same contract as the C function.
                #[cold]
                #[inline(never)]
                #[allow(clippy::too_many_arguments)]
                pub unsafe fn $name($($arg: $t),*) -> $ret {
                    let p = resolve(Id::$name as usize);
                    // SAFETY: as in the fast path.
                    let f: unsafe extern "C" fn($($t),*) -> $ret = unsafe { core::mem::transmute(p) };
                    // SAFETY: forwarded contract.
                    unsafe { f($($arg),*) }
                }
            )*
        }
    };
}

#[cold]
fn resolve(idx: usize) -> usize {
    // SAFETY: NAMES entries are NUL-terminated literals.
    let p = unsafe { libc::dlsym(libc::RTLD_NEXT, NAMES[idx].as_ptr() as *const c_char) } as usize;
    if p == 0 {
        crate::sys::warn(b"sock-trace: a hooked function has no next definition; aborting\n");
        // SAFETY: nothing sensible can be returned without the function.
        unsafe { libc::abort() };
    }
    PTRS[idx].store(p, Ordering::Relaxed);
    p
}

/// Resolves every function now.
pub fn warm_up() {
    for i in 0..COUNT {
        if PTRS[i].load(Ordering::Relaxed) == 0 {
            // SAFETY: NAMES entries are NUL-terminated literals.
            let p = unsafe { libc::dlsym(libc::RTLD_NEXT, NAMES[i].as_ptr() as *const c_char) };
            PTRS[i].store(p as usize, Ordering::Relaxed);
        }
    }
}

reals! {
    socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int;
    socketpair(domain: c_int, ty: c_int, protocol: c_int, sv: *mut c_int) -> c_int;
    connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int;
    bind(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int;
    listen(fd: c_int, backlog: c_int) -> c_int;
    accept(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int;
    accept4(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t, flags: c_int) -> c_int;
    shutdown(fd: c_int, how: c_int) -> c_int;
    getsockname(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int;
    getpeername(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int;
    close(fd: c_int) -> c_int;
    dup(fd: c_int) -> c_int;
    dup2(old: c_int, new: c_int) -> c_int;
    dup3(old: c_int, new: c_int, flags: c_int) -> c_int;
    close_range(first: c_uint, last: c_uint, flags: c_int) -> c_int;
    closefrom(low: c_int) -> ();
    fdopen(fd: c_int, mode: *const c_char) -> *mut libc::FILE;
    fclose(fp: *mut libc::FILE) -> c_int;
    syscall(nr: c_long, a1: c_long, a2: c_long, a3: c_long, a4: c_long, a5: c_long, a6: c_long) -> c_long;
    setsockopt(fd: c_int, level: c_int, name: c_int, val: *const c_void, len: socklen_t) -> c_int;
    getsockopt(fd: c_int, level: c_int, name: c_int, val: *mut c_void, len: *mut socklen_t) -> c_int;
    fcntl(fd: c_int, cmd: c_int, arg: usize) -> c_int;
    fcntl64(fd: c_int, cmd: c_int, arg: usize) -> c_int;
    ioctl(fd: c_int, req: usize, arg: usize) -> c_int;
    send(fd: c_int, buf: *const c_void, len: size_t, flags: c_int) -> ssize_t;
    sendto(fd: c_int, buf: *const c_void, len: size_t, flags: c_int, addr: *const sockaddr, alen: socklen_t) -> ssize_t;
    sendmsg(fd: c_int, msg: *const msghdr, flags: c_int) -> ssize_t;
    sendmmsg(fd: c_int, vec: *mut mmsghdr, vlen: c_uint, flags: c_int) -> c_int;
    write(fd: c_int, buf: *const c_void, len: size_t) -> ssize_t;
    writev(fd: c_int, iov: *const iovec, cnt: c_int) -> ssize_t;
    sendfile(out: c_int, inp: c_int, off: *mut off_t, count: size_t) -> ssize_t;
    sendfile64(out: c_int, inp: c_int, off: *mut off_t, count: size_t) -> ssize_t;
    recv(fd: c_int, buf: *mut c_void, len: size_t, flags: c_int) -> ssize_t;
    recvfrom(fd: c_int, buf: *mut c_void, len: size_t, flags: c_int, addr: *mut sockaddr, alen: *mut socklen_t) -> ssize_t;
    recvmsg(fd: c_int, msg: *mut msghdr, flags: c_int) -> ssize_t;
    recvmmsg(fd: c_int, vec: *mut mmsghdr, vlen: c_uint, flags: c_int, tmo: *mut timespec) -> c_int;
    read(fd: c_int, buf: *mut c_void, len: size_t) -> ssize_t;
    readv(fd: c_int, iov: *const iovec, cnt: c_int) -> ssize_t;
    __recv_chk(fd: c_int, buf: *mut c_void, len: size_t, buflen: size_t, flags: c_int) -> ssize_t;
    __recvfrom_chk(fd: c_int, buf: *mut c_void, len: size_t, buflen: size_t, flags: c_int, addr: *mut sockaddr, alen: *mut socklen_t) -> ssize_t;
    __read_chk(fd: c_int, buf: *mut c_void, len: size_t, buflen: size_t) -> ssize_t;
    select(n: c_int, r: *mut fd_set, w: *mut fd_set, e: *mut fd_set, tmo: *mut timeval) -> c_int;
    pselect(n: c_int, r: *mut fd_set, w: *mut fd_set, e: *mut fd_set, tmo: *const timespec, mask: *const sigset_t) -> c_int;
    poll(fds: *mut pollfd, n: nfds_t, tmo: c_int) -> c_int;
    ppoll(fds: *mut pollfd, n: nfds_t, tmo: *const timespec, mask: *const sigset_t) -> c_int;
    __poll_chk(fds: *mut pollfd, n: nfds_t, tmo: c_int, fdslen: size_t) -> c_int;
    __ppoll_chk(fds: *mut pollfd, n: nfds_t, tmo: *const timespec, mask: *const sigset_t, fdslen: size_t) -> c_int;
    epoll_create(size: c_int) -> c_int;
    epoll_create1(flags: c_int) -> c_int;
    epoll_ctl(epfd: c_int, op: c_int, fd: c_int, ev: *mut epoll_event) -> c_int;
    epoll_wait(epfd: c_int, ev: *mut epoll_event, max: c_int, tmo: c_int) -> c_int;
    epoll_pwait(epfd: c_int, ev: *mut epoll_event, max: c_int, tmo: c_int, mask: *const sigset_t) -> c_int;
    getaddrinfo(node: *const c_char, service: *const c_char, hints: *const addrinfo, res: *mut *mut addrinfo) -> c_int;
    freeaddrinfo(res: *mut addrinfo) -> ();
    getnameinfo(addr: *const sockaddr, alen: socklen_t, host: *mut c_char, hlen: socklen_t, serv: *mut c_char, slen: socklen_t, flags: c_int) -> c_int;
    gethostbyname(name: *const c_char) -> *mut hostent;
    gethostbyname2(name: *const c_char, af: c_int) -> *mut hostent;
    gethostbyaddr(addr: *const c_void, len: socklen_t, ty: c_int) -> *mut hostent;
    gethostbyname_r(name: *const c_char, ret: *mut hostent, buf: *mut c_char, buflen: size_t, result: *mut *mut hostent, h_errnop: *mut c_int) -> c_int;
    gethostbyname2_r(name: *const c_char, af: c_int, ret: *mut hostent, buf: *mut c_char, buflen: size_t, result: *mut *mut hostent, h_errnop: *mut c_int) -> c_int;
    gethostbyaddr_r(addr: *const c_void, len: socklen_t, ty: c_int, ret: *mut hostent, buf: *mut c_char, buflen: size_t, result: *mut *mut hostent, h_errnop: *mut c_int) -> c_int;
    getservbyname(name: *const c_char, proto: *const c_char) -> *mut servent;
    getservbyport(port: c_int, proto: *const c_char) -> *mut servent;
    getprotobyname(name: *const c_char) -> *mut protoent;
    getprotobynumber(proto: c_int) -> *mut protoent;
    inet_addr(cp: *const c_char) -> u32;
    inet_aton(cp: *const c_char, inp: *mut libc::in_addr) -> c_int;
    inet_ntoa(inp: libc::in_addr) -> *mut c_char;
    inet_pton(af: c_int, src: *const c_char, dst: *mut c_void) -> c_int;
    inet_ntop(af: c_int, src: *const c_void, dst: *mut c_char, size: socklen_t) -> *const c_char;
    execve(path: *const c_char, argv: *const *const c_char, envp: *const *const c_char) -> c_int;
    execv(path: *const c_char, argv: *const *const c_char) -> c_int;
    execvp(file: *const c_char, argv: *const *const c_char) -> c_int;
    execvpe(file: *const c_char, argv: *const *const c_char, envp: *const *const c_char) -> c_int;
    fexecve(fd: c_int, argv: *const *const c_char, envp: *const *const c_char) -> c_int;
}
