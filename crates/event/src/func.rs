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
    /// Winsock calls with no Linux counterpart in shape: the WSA socket,
    /// I/O and poll calls with WSABUF arrays and OVERLAPPED completions,
    /// WSAIoctl, the extension functions (decoded in one Windows file,
    /// `sock-trace-decode`'s `calls/winsock.rs`). Their direction is not a
    /// column: the decoder states what moved.
    Winsock,
}

/// Whether a call can wait (on the peer, the network, a timeout or a
/// resolver): printers show the duration of such calls only, since for the
/// others it is the tracer's own cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Blocking {
    /// Can wait: connect, accept, the byte movers, the pollers, the
    /// resolvers, close (lingering sockets).
    May,
    /// Returns at once.
    Never,
}

/// Which way a call moves payload bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Bytes leave the program (send, write, sendfile, ...).
    Sends,
    /// Bytes reach the program (recv, read, ...).
    Receives,
    /// No payload.
    Neither,
}

macro_rules! funcs {
    ($( $variant:ident = $id:literal, $name:literal, $family:ident, $default_on:literal, $blocking:ident; )*) => {
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

            /// Whether the call can wait; see [`Blocking`].
            pub const fn blocking(self) -> Blocking {
                match self { $( Func::$variant => Blocking::$blocking, )* }
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

// Columns: variant = record id, name, family, traced by default, may block.
// The direction bytes move in is the family's (see `Func::direction`).
funcs! {
    // Meta records: always on, never user-visible as calls.
    Pad = 0, "<pad>", Meta, true, Never;
    ProcStart = 1, "<process>", Meta, true, Never;
    Lost = 2, "<lost>", Meta, true, Never;
    // A loaded ELF object (for symbolising caller addresses).
    Module = 3, "<module>", Meta, true, Never;
    // A process is about to exec a program that will not be traced
    // (args[0]: one of `leave::*`; a Str blob: the program).
    ProcLeave = 4, "<leave>", Meta, true, Never;

    Socket = 10, "socket", Socket, true, Never;
    Socketpair = 11, "socketpair", Socket, true, Never;
    Connect = 12, "connect", Socket, true, May;
    Bind = 13, "bind", Socket, true, Never;
    Listen = 14, "listen", Socket, true, Never;
    Accept = 15, "accept", Socket, true, May;
    Accept4 = 16, "accept4", Socket, true, May;
    Shutdown = 17, "shutdown", Socket, true, Never;
    Getsockname = 18, "getsockname", Socket, true, Never;
    Getpeername = 19, "getpeername", Socket, true, Never;
    Close = 20, "close", Socket, true, May;
    Dup = 21, "dup", Socket, true, Never;
    Dup2 = 22, "dup2", Socket, true, Never;
    Dup3 = 23, "dup3", Socket, true, Never;
    // Close many descriptors at once (glibc 2.34+); traced when a socket
    // was among them, always used for bookkeeping.
    CloseRange = 24, "close_range", Socket, true, Never;
    Closefrom = 25, "closefrom", Socket, true, Never;

    Setsockopt = 30, "setsockopt", Control, true, Never;
    Getsockopt = 31, "getsockopt", Control, true, Never;
    Fcntl = 32, "fcntl", Control, true, Never;
    Ioctl = 33, "ioctl", Control, true, Never;

    Send = 40, "send", Send, true, May;
    Sendto = 41, "sendto", Send, true, May;
    Sendmsg = 42, "sendmsg", Send, true, May;
    Sendmmsg = 43, "sendmmsg", Send, true, May;
    Write = 44, "write", Send, true, May;
    Writev = 45, "writev", Send, true, May;
    Sendfile = 46, "sendfile", Send, true, May;

    Recv = 50, "recv", Recv, true, May;
    Recvfrom = 51, "recvfrom", Recv, true, May;
    Recvmsg = 52, "recvmsg", Recv, true, May;
    Recvmmsg = 53, "recvmmsg", Recv, true, May;
    Read = 54, "read", Recv, true, May;
    Readv = 55, "readv", Recv, true, May;

    Select = 60, "select", Poll, true, May;
    Pselect = 61, "pselect", Poll, true, May;
    Poll = 62, "poll", Poll, true, May;
    Ppoll = 63, "ppoll", Poll, true, May;
    EpollCreate = 64, "epoll_create", Poll, true, Never;
    EpollCreate1 = 65, "epoll_create1", Poll, true, Never;
    EpollCtl = 66, "epoll_ctl", Poll, true, Never;
    EpollWait = 67, "epoll_wait", Poll, true, May;
    EpollPwait = 68, "epoll_pwait", Poll, true, May;

    Getaddrinfo = 80, "getaddrinfo", Resolve, true, May;
    Freeaddrinfo = 81, "freeaddrinfo", Resolve, true, Never;
    Getnameinfo = 82, "getnameinfo", Resolve, true, May;
    Gethostbyname = 83, "gethostbyname", Resolve, true, May;
    Gethostbyname2 = 84, "gethostbyname2", Resolve, true, May;
    Gethostbyaddr = 85, "gethostbyaddr", Resolve, true, May;
    GethostbynameR = 86, "gethostbyname_r", Resolve, true, May;
    Gethostbyname2R = 87, "gethostbyname2_r", Resolve, true, May;
    GethostbyaddrR = 88, "gethostbyaddr_r", Resolve, true, May;
    Getservbyname = 89, "getservbyname", Resolve, true, Never;
    Getservbyport = 90, "getservbyport", Resolve, true, Never;
    Getprotobyname = 91, "getprotobyname", Resolve, true, Never;
    Getprotobynumber = 92, "getprotobynumber", Resolve, true, Never;

    Htons = 100, "htons", Helper, false, Never;
    Htonl = 101, "htonl", Helper, false, Never;
    Ntohs = 102, "ntohs", Helper, false, Never;
    Ntohl = 103, "ntohl", Helper, false, Never;
    InetAddr = 104, "inet_addr", Helper, false, Never;
    InetAton = 105, "inet_aton", Helper, false, Never;
    InetNtoa = 106, "inet_ntoa", Helper, false, Never;
    InetPton = 107, "inet_pton", Helper, false, Never;
    InetNtop = 108, "inet_ntop", Helper, false, Never;

    // Winsock calls with no Linux counterpart (sock_trace.dll); the calls
    // that are the same concept (socket, connect, send, ...) share the
    // Linux ids.
    WsaStartup = 110, "WSAStartup", Control, true, Never;
    WsaCleanup = 111, "WSACleanup", Control, true, Never;
    Closesocket = 112, "closesocket", Socket, true, May;
    Ioctlsocket = 113, "ioctlsocket", Control, true, Never;
    // The Winsock family (sock_trace.dll). WSASocketA and WSASocketW share
    // one id (they differ only in the protocol-info structure's strings),
    // as fortified entry points share their plain function's.
    WsaSocket = 114, "WSASocket", Winsock, true, Never;
    WsaConnect = 115, "WSAConnect", Winsock, true, May;
    WsaAccept = 116, "WSAAccept", Winsock, true, May;
    WsaSend = 117, "WSASend", Winsock, true, May;
    WsaRecv = 118, "WSARecv", Winsock, true, May;
    WsaSendTo = 119, "WSASendTo", Winsock, true, May;
    WsaRecvFrom = 120, "WSARecvFrom", Winsock, true, May;
    // The completion of an overlapped call, asked for by the program, and
    // the program's completion routine run (the bytes moved and the
    // payload of the operation that completed, named in args[4]).
    WsaGetOverlappedResult = 121, "WSAGetOverlappedResult", Winsock, true, May;
    CompletionRoutine = 122, "CompletionRoutine", Winsock, true, Never;
    WsaPoll = 123, "WSAPoll", Winsock, true, May;
    WsaIoctl = 124, "WSAIoctl", Winsock, true, May;
    // Extension functions handed out by WSAIoctl(SIO_GET_EXTENSION_FUNCTION_POINTER).
    ConnectEx = 125, "ConnectEx", Winsock, true, May;
    AcceptEx = 126, "AcceptEx", Winsock, true, May;
    // Id 127 is the last one the 128-bit FuncMask holds.
}

impl Func {
    pub const fn may_block(self) -> bool {
        matches!(self.blocking(), Blocking::May)
    }

    /// Which way the call moves bytes. Derived from the family rather than
    /// kept as a column of its own: the Send and Recv families are exactly
    /// the byte movers, and two columns saying the same thing could drift.
    pub const fn direction(self) -> Direction {
        match self.family() {
            Family::Send => Direction::Sends,
            Family::Recv => Direction::Receives,
            _ => Direction::Neither,
        }
    }
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
    fn columns_answer_what_the_decoder_and_summary_ask() {
        use Func::*;
        for f in [
            Connect,
            Accept4,
            Recvmsg,
            Sendfile,
            EpollPwait,
            GethostbyaddrR,
            Close,
        ] {
            assert!(f.may_block(), "{f:?}");
        }
        for f in [
            Socket,
            Bind,
            Setsockopt,
            EpollCtl,
            Freeaddrinfo,
            Htons,
            ProcStart,
        ] {
            assert!(!f.may_block(), "{f:?}");
        }
        assert_eq!(Sendmmsg.direction(), Direction::Sends);
        assert_eq!(Writev.direction(), Direction::Sends);
        assert_eq!(Readv.direction(), Direction::Receives);
        assert_eq!(Recvfrom.direction(), Direction::Receives);
        assert_eq!(Connect.direction(), Direction::Neither);
        assert_eq!(Poll.direction(), Direction::Neither);
    }

    #[test]
    fn defaults_leave_helpers_out() {
        let m = FuncMask::defaults();
        assert!(m.contains(Func::Connect));
        assert!(!m.contains(Func::Htons));
        assert!(m.contains(Func::ProcStart));
    }
}
