//! The functions sock-trace can trace, as a stable numeric id.
//!
//! The id is what travels in a record; the name is what users write in
//! include/exclude lists and what printers show. Fortified entry points
//! (`__recv_chk`, ...) share the id of the plain function they stand for, so
//! excluding `recv` also hides `__recv_chk` and a trace reads the same whether
//! the program was built with `_FORTIFY_SOURCE` or not; the record carries
//! [`crate::record::FLAG_FORTIFIED`] so nothing is hidden.

/// What a function is about; printers and filters group by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    /// Creating, naming, connecting and closing sockets.
    Socket,
    /// Socket options and fd control.
    Control,
    /// Moving bytes.
    Send,
    Recv,
    /// Waiting for readiness.
    Poll,
    /// Name and service resolution.
    Resolve,
    /// Byte-order and text/address conversion helpers (off by default).
    Helper,
    /// Records the tracer itself emits (process start, loss notes).
    Meta,
}

macro_rules! funcs {
    ($( $variant:ident = $id:literal, $name:literal, $family:ident, $default_on:literal; )*) => {
        /// A traced function. The discriminant is part of the record ABI:
        /// never renumber, only append.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u16)]
        pub enum Func { $( $variant = $id, )* }

        impl Func {
            /// Every function, in id order.
            pub const ALL: &'static [Func] = &[ $( Func::$variant, )* ];

            /// The name users see and filter on.
            pub const fn name(self) -> &'static str {
                match self { $( Func::$variant => $name, )* }
            }

            pub const fn family(self) -> Family {
                match self { $( Func::$variant => Family::$family, )* }
            }

            /// Whether a default configuration traces it (wsock-trace leaves
            /// the byte-order and inet_* helpers out, and so do we).
            pub const fn default_enabled(self) -> bool {
                match self { $( Func::$variant => $default_on, )* }
            }

            pub fn from_id(id: u16) -> Option<Func> {
                match id { $( $id => Some(Func::$variant), )* _ => None }
            }

            pub fn from_name(name: &str) -> Option<Func> {
                match name { $( $name => Some(Func::$variant), )* _ => None }
            }
        }
    };
}

funcs! {
    // Meta records: always on, never user-visible as calls.
    Pad = 0, "<pad>", Meta, true;
    ProcStart = 1, "<process>", Meta, true;
    Lost = 2, "<lost>", Meta, true;
    // A loaded ELF object (for symbolising caller addresses).
    Module = 3, "<module>", Meta, true;
    // A process is about to exec a program that will not be traced
    // (args[0]: one of `leave::*`; a Str blob: the program).
    ProcLeave = 4, "<leave>", Meta, true;

    Socket = 10, "socket", Socket, true;
    Socketpair = 11, "socketpair", Socket, true;
    Connect = 12, "connect", Socket, true;
    Bind = 13, "bind", Socket, true;
    Listen = 14, "listen", Socket, true;
    Accept = 15, "accept", Socket, true;
    Accept4 = 16, "accept4", Socket, true;
    Shutdown = 17, "shutdown", Socket, true;
    Getsockname = 18, "getsockname", Socket, true;
    Getpeername = 19, "getpeername", Socket, true;
    Close = 20, "close", Socket, true;
    Dup = 21, "dup", Socket, true;
    Dup2 = 22, "dup2", Socket, true;
    Dup3 = 23, "dup3", Socket, true;
    // Close many descriptors at once (glibc 2.34+); traced when a socket
    // was among them, always used for bookkeeping.
    CloseRange = 24, "close_range", Socket, true;
    Closefrom = 25, "closefrom", Socket, true;

    Setsockopt = 30, "setsockopt", Control, true;
    Getsockopt = 31, "getsockopt", Control, true;
    Fcntl = 32, "fcntl", Control, true;
    Ioctl = 33, "ioctl", Control, true;

    Send = 40, "send", Send, true;
    Sendto = 41, "sendto", Send, true;
    Sendmsg = 42, "sendmsg", Send, true;
    Sendmmsg = 43, "sendmmsg", Send, true;
    Write = 44, "write", Send, true;
    Writev = 45, "writev", Send, true;
    Sendfile = 46, "sendfile", Send, true;

    Recv = 50, "recv", Recv, true;
    Recvfrom = 51, "recvfrom", Recv, true;
    Recvmsg = 52, "recvmsg", Recv, true;
    Recvmmsg = 53, "recvmmsg", Recv, true;
    Read = 54, "read", Recv, true;
    Readv = 55, "readv", Recv, true;

    Select = 60, "select", Poll, true;
    Pselect = 61, "pselect", Poll, true;
    Poll = 62, "poll", Poll, true;
    Ppoll = 63, "ppoll", Poll, true;
    EpollCreate = 64, "epoll_create", Poll, true;
    EpollCreate1 = 65, "epoll_create1", Poll, true;
    EpollCtl = 66, "epoll_ctl", Poll, true;
    EpollWait = 67, "epoll_wait", Poll, true;
    EpollPwait = 68, "epoll_pwait", Poll, true;

    Getaddrinfo = 80, "getaddrinfo", Resolve, true;
    Freeaddrinfo = 81, "freeaddrinfo", Resolve, true;
    Getnameinfo = 82, "getnameinfo", Resolve, true;
    Gethostbyname = 83, "gethostbyname", Resolve, true;
    Gethostbyname2 = 84, "gethostbyname2", Resolve, true;
    Gethostbyaddr = 85, "gethostbyaddr", Resolve, true;
    GethostbynameR = 86, "gethostbyname_r", Resolve, true;
    Gethostbyname2R = 87, "gethostbyname2_r", Resolve, true;
    GethostbyaddrR = 88, "gethostbyaddr_r", Resolve, true;
    Getservbyname = 89, "getservbyname", Resolve, true;
    Getservbyport = 90, "getservbyport", Resolve, true;
    Getprotobyname = 91, "getprotobyname", Resolve, true;
    Getprotobynumber = 92, "getprotobynumber", Resolve, true;

    Htons = 100, "htons", Helper, false;
    Htonl = 101, "htonl", Helper, false;
    Ntohs = 102, "ntohs", Helper, false;
    Ntohl = 103, "ntohl", Helper, false;
    InetAddr = 104, "inet_addr", Helper, false;
    InetAton = 105, "inet_aton", Helper, false;
    InetNtoa = 106, "inet_ntoa", Helper, false;
    InetPton = 107, "inet_pton", Helper, false;
    InetNtop = 108, "inet_ntop", Helper, false;
}

/// Number of bits in a [`FuncMask`].
pub const MASK_BITS: usize = 128;

/// A set of functions, one bit per id; shared with the preload library
/// through the ring header so that the hooks never parse configuration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct FuncMask(pub [u64; 2]);

impl FuncMask {
    pub const fn empty() -> Self {
        FuncMask([0; 2])
    }

    /// The default selection: every call except the helpers.
    pub fn defaults() -> Self {
        let mut m = FuncMask::empty();
        for f in Func::ALL {
            if f.default_enabled() {
                m.insert(*f);
            }
        }
        m
    }

    pub fn all() -> Self {
        let mut m = FuncMask::empty();
        for f in Func::ALL {
            m.insert(*f);
        }
        m
    }

    pub fn insert(&mut self, f: Func) {
        let id = f as usize;
        self.0[id / 64] |= 1 << (id % 64);
    }

    pub fn remove(&mut self, f: Func) {
        let id = f as usize;
        self.0[id / 64] &= !(1 << (id % 64));
    }

    #[inline(always)]
    pub const fn contains(&self, f: Func) -> bool {
        let id = f as usize;
        self.0[id / 64] & (1 << (id % 64)) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_fit_the_mask_and_round_trip() {
        for f in Func::ALL {
            assert!((*f as usize) < MASK_BITS, "{f:?}");
            assert_eq!(Func::from_id(*f as u16), Some(*f));
            assert_eq!(Func::from_name(f.name()), Some(*f));
        }
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<_> = Func::ALL.iter().map(|f| f.name()).collect();
        names.sort();
        let n = names.len();
        names.dedup();
        assert_eq!(n, names.len());
    }

    #[test]
    fn defaults_leave_helpers_out() {
        let m = FuncMask::defaults();
        assert!(m.contains(Func::Connect));
        assert!(!m.contains(Func::Htons));
        assert!(m.contains(Func::ProcStart));
    }
}
