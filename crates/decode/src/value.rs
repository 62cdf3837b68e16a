//! The decoded form of a call: a small tree of typed values that printers
//! render as text or JSON. Decoders never produce punctuation; printers
//! never know about functions.

use sock_trace_event::Func;
use std::net::{Ipv4Addr, Ipv6Addr};

/// One decoded value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A plain signed number (counts, lengths, ports).
    Int(i64),
    /// A number best read in hex (masks, unknown ioctl requests).
    Hex(u64),
    /// A file descriptor.
    Fd(i32),
    /// A named constant (`AF_INET`). `raw` keeps the number for JSON.
    Sym { name: &'static str, raw: i64 },
    /// A constant no table knows: printed as its number, never dropped.
    Unknown(i64),
    /// A set of flag names plus any bits no table knows (`rest`).
    Flags {
        names: Vec<&'static str>,
        rest: u64,
        raw: u64,
    },
    /// A string from the program (quoted and escaped by printers).
    Str(Vec<u8>),
    /// Payload bytes: `shown` is what was captured, `total` what moved.
    Bytes { shown: Vec<u8>, total: u64 },
    /// A socket address.
    Addr(SockAddr),
    /// A bare IP address (hostent lists, inet_pton results).
    Ip(std::net::IpAddr),
    /// A pointer (0 prints as NULL).
    Ptr(u64),
    /// A duration in nanoseconds (timeouts).
    Duration(u64),
    /// "wait forever" timeouts and similar.
    Infinite,
    /// A list of values.
    List(Vec<Value>),
    /// A structure with named fields.
    Struct(Vec<Field>),
    /// Something that could not be read (bad pointer, truncated capture).
    Unavailable(&'static str),
}

/// A named value. The name is the C name of the argument or field; JSON
/// uses it as the key, text printers mostly omit it for arguments.
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    pub name: &'static str,
    pub value: Value,
}

impl Field {
    pub fn new(name: &'static str, value: Value) -> Self {
        Field { name, value }
    }
}

/// A decoded `struct sockaddr`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SockAddr {
    V4 {
        ip: Ipv4Addr,
        port: u16,
    },
    V6 {
        ip: Ipv6Addr,
        port: u16,
        flowinfo: u32,
        scope_id: u32,
    },
    /// AF_UNIX: a path, an abstract name (leading NUL removed) or unnamed.
    Unix {
        path: Vec<u8>,
        kind: UnixKind,
    },
    Netlink {
        pid: u32,
        groups: u32,
    },
    /// A family we do not decode, or a length too short for its family.
    Other {
        family: u16,
        family_name: Option<&'static str>,
        bytes: Vec<u8>,
        /// True when the given length was shorter than the family needs.
        short: bool,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnixKind {
    Path,
    Abstract,
    Unnamed,
}

/// How the call ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Success with a value to show (fd, byte count, 0, pointer...).
    Ok(Value),
    /// Failure: `-1` with errno, an EAI code, an h_errno, a NULL pointer.
    Err(ErrorInfo),
    /// The function returns nothing (freeaddrinfo).
    Void,
}

/// A failure as name, number and text: `ECONNREFUSED (111) Connection refused`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorInfo {
    /// The value the function returned (-1, an EAI code, 0 for NULL).
    pub ret: i64,
    /// Which number space `code` is in.
    pub space: ErrorSpace,
    pub code: i64,
    /// `ECONNREFUSED`, or None for a number no table knows.
    pub name: Option<&'static str>,
    pub text: Option<&'static str>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorSpace {
    Errno,
    /// getaddrinfo/getnameinfo codes.
    Eai,
    /// gethostby* h_errno values.
    HErrno,
}

/// One traced call, decoded.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub pid: u32,
    pub tid: u32,
    /// CLOCK_MONOTONIC nanoseconds.
    pub t_start: u64,
    pub t_end: u64,
    pub func: Func,
    pub args: Vec<Field>,
    pub outcome: Outcome,
    /// What the call returned through its arguments, shown after the
    /// result: ready sets, returned addresses, resolved names.
    pub returned: Vec<Field>,
    /// Caller return addresses, innermost first, as captured.
    pub callers: Vec<u64>,
    /// The callers symbolised (by the collector, which has the module
    /// maps), after skipping unwanted modules: what printers show.
    /// Shared: the collector symbolises each distinct chain of return
    /// addresses once, and printers render each chain once.
    pub frames: std::sync::Arc<[CallerFrame]>,
    /// Payload moved by the call, when captured.
    pub data: Option<Payload>,
    /// What is known of the call's socket after the call (before it, for
    /// close): kind and both ends. Summaries, captures and protocol hints
    /// read it.
    pub socket: Option<crate::SocketInfo>,
    /// A one-line reading of the payload's protocol (`DNS query A
    /// example.com`), added by the collector when payload was captured.
    pub hint: Option<String>,
    /// What is known about the IP addresses in the call, added by the
    /// collector from its address databases.
    pub annotations: Vec<AddrNote>,
    /// The call's facts, typed: what every stage but the printers reads.
    pub core: Core,
}

/// The facts of one call that the collector's stages act on (socket table,
/// summary, packet capture, router, protocol hints), typed so that no stage
/// finds them by an argument's name in the value tree: renaming `addr` in
/// what a printer shows cannot break the capture. Decoders fill both.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Core {
    /// The socket descriptor the call works on (`fd`; sendfile's `out_fd`).
    pub fd: Option<i32>,
    /// The local address the call reveals: bind's address, getsockname's
    /// result, or the one the hooks read after a connect, an accept (the
    /// new socket's) or a datagram call.
    pub local: Option<SockAddr>,
    /// The far address the call names: connect's, a send's destination, a
    /// receive's source (recvfrom, recvmsg, the first message of
    /// sendmmsg/recvmmsg), the peer of an accepted connection, getpeername's
    /// result.
    pub peer: Option<SockAddr>,
    /// Payload bytes the call moved, for the send and receive families.
    pub io: Option<Io>,
    /// The raw return value and, when the call failed, its errno.
    pub ret: i64,
    pub errno: Option<i32>,
    pub flags: CallFlags,
    /// What the call changes in the table of sockets.
    pub change: SocketChange,
    /// Process records: a start, or a process leaving the trace.
    pub process: Option<ProcessChange>,
}

/// Bytes moved by a successful send or receive (0 for a failed one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Io {
    pub direction: sock_trace_event::func::Direction,
    /// Bytes (the sum of the message lengths for sendmmsg/recvmmsg, whose
    /// result counts messages).
    pub bytes: u64,
}

/// Facts about how a call was made or ended, as bits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallFlags(pub u16);

impl CallFlags {
    /// The failure was injected by sock-trace.
    pub const INJECTED: CallFlags = CallFlags(1 << 0);
    /// sock-trace held the call back (a delay rule).
    pub const DELAYED: CallFlags = CallFlags(1 << 1);
    /// Made through a `_FORTIFY_SOURCE` entry point.
    pub const FORTIFIED: CallFlags = CallFlags(1 << 2);
    /// A pointer argument could not be read.
    pub const BAD_POINTER: CallFlags = CallFlags(1 << 3);
    /// A non-blocking connect that returned EINPROGRESS.
    pub const IN_PROGRESS: CallFlags = CallFlags(1 << 4);
    /// A receive with MSG_PEEK: the bytes stay queued, nothing was consumed.
    pub const PEEKED: CallFlags = CallFlags(1 << 5);
    /// Blobs were cut for lack of room.
    pub const TRUNCATED: CallFlags = CallFlags(1 << 6);
    /// Made by a vfork child on its parent's thread.
    pub const VFORK_CHILD: CallFlags = CallFlags(1 << 7);

    pub const fn contains(self, f: CallFlags) -> bool {
        self.0 & f.0 == f.0
    }

    pub fn insert(&mut self, f: CallFlags) {
        self.0 |= f.0;
    }
}

/// What a call changes in the table of sockets ([`crate::SocketTable`]);
/// addresses come from [`Core::local`] and [`Core::peer`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum SocketChange {
    #[default]
    None,
    /// socket, socketpair: new descriptors of this kind (type without flags).
    Created {
        fds: Vec<i32>,
        domain: i32,
        ty: i32,
        protocol: i32,
    },
    /// connect succeeded or is in progress: the peer, maybe the local end.
    Connected,
    /// bind succeeded: the local end.
    Bound,
    /// getsockname / getpeername succeeded.
    LocalNamed,
    PeerNamed,
    /// accept: a new descriptor of the listener's kind, with both ends.
    Accepted {
        fd: i32,
    },
    Closed {
        fd: i32,
    },
    /// close_range / closefrom: every descriptor from `first` to `last`.
    ClosedRange {
        first: u32,
        last: u32,
    },
    /// dup, dup2, dup3, fcntl(F_DUPFD): `new` is what `old` is.
    Duplicated {
        old: i32,
        new: i32,
    },
}

/// A process record, typed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProcessChange {
    Started(ProcStart),
    /// The process execs a program that will not be traced.
    Leaves {
        reason: u64,
        exe: Option<Vec<u8>>,
    },
}

/// A process joined the trace (its first record, or a new program image).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcStart {
    /// The parent to show: the reported one, corrected by the socket table
    /// when the reporter was an adopter rather than the real parent.
    pub ppid: u32,
    /// The child side of a fork (same image), else a new program image.
    pub forked: bool,
    pub exe: Option<Vec<u8>>,
    pub argv: Option<Vec<Vec<u8>>>,
    /// Which platform and capture backend produced the process's records.
    pub platform: sock_trace_event::Platform,
    pub backend: sock_trace_event::Backend,
}

/// Address intelligence for one IP address of a call: every part names
/// the database that supplied it. The printers render it (a few words in
/// the trace line, a detailed block, a JSON object); `sock-trace-ipintel`
/// fills it in.
#[derive(Clone, Debug, PartialEq)]
pub struct AddrNote {
    pub ip: std::net::IpAddr,
    pub class: NoteClass,
    /// For an IPv4-mapped address, the class of the IPv4 address inside.
    pub inner_class: Option<NoteClass>,
    pub class_detail: Option<NoteClassDetail>,
    pub country: Option<NoteCountry>,
    pub location: Option<NoteLocation>,
    /// The autonomous system (`"as"` in JSON).
    pub asn: Option<NoteAs>,
    pub flags: Option<NoteFlags>,
    /// Spamhaus DROP listing.
    pub drop: Option<NoteDrop>,
    /// IANA registry designation.
    pub registry: Option<NoteRegistry>,
}

/// The special-purpose range of an address (or `public`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoteClass {
    /// As JSON names it: `public`, `loopback`, `6to4` ...
    pub name: &'static str,
    /// As text shows it.
    pub label: &'static str,
    /// Globally routable.
    pub global: bool,
    /// 6to4 or Teredo: the tunnel is named before the country.
    pub tunnel: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NoteClassDetail {
    /// The IPv4 address embedded in an IPv4-mapped, 6to4 or NAT64 address.
    EmbeddedIpv4 { ipv4: std::net::Ipv4Addr },
    /// Teredo server, and client address and port.
    Teredo {
        server: std::net::Ipv4Addr,
        client: std::net::Ipv4Addr,
        client_port: u16,
    },
}

/// A network, `addr/prefix`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoteNet {
    pub addr: std::net::IpAddr,
    pub prefix: u8,
}

impl std::fmt::Display for NoteNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// As text: `192.0.2.0/24`.
impl serde::Serialize for NoteNet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

// The parts below are also what `sock-trace lookup --json` serialises
// (unknown fields left out), so a lookup and a trace describe an address
// with the same types.

/// Country part.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct NoteCountry {
    /// ISO 3166 alpha-2 code (or a database's pseudo code such as `EU`, `A1`).
    pub code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub continent: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub continent_name: Option<String>,
    /// The network the answering database matched, when it says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<NoteNet>,
    /// File path, or `embedded`.
    pub source: String,
}

/// Where an address is: the one description of a place that a MaxMind
/// answer, an IP2Location row and the annotation share. Serialised as the
/// `location` part of `sock-trace lookup --json` (unknown fields left out).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Place {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// Largest subdivision (state, province).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latitude: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub longitude: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accuracy_km: Option<u16>,
}

impl Place {
    /// Whether the database said anything city-level.
    pub fn is_known(&self) -> bool {
        self.city.is_some() || self.region.is_some() || self.latitude.is_some()
    }
}

/// The city-level part of an annotation: a [`Place`] and the database that
/// placed the address.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct NoteLocation {
    #[serde(flatten)]
    pub place: Place,
    /// File path, or `embedded`.
    pub source: String,
}

/// Autonomous-system part.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct NoteAs {
    pub number: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The routed network that matched (CIDR).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<NoteNet>,
    pub source: String,
}

/// Network flags (at least one set).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct NoteFlags {
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub anonymous_proxy: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub satellite_provider: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub anycast: bool,
    /// On a "hostile network, safe to drop" list (libloc's copy of the
    /// Spamhaus lists).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub drop: bool,
    pub source: String,
}

impl NoteFlags {
    /// Whether any flag is set.
    pub fn any(&self) -> bool {
        self.anonymous_proxy || self.satellite_provider || self.anycast || self.drop
    }
}

/// Spamhaus DROP listing.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct NoteDrop {
    /// SBL reference, e.g. `SBL256894`.
    pub sbl: String,
    pub network: NoteNet,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rir: Option<String>,
    pub source: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteRegistry {
    pub network: NoteNet,
    /// The prefix as written in the registry (`008/8`).
    pub prefix: String,
    pub designation: String,
    /// Empty when the registry gives none (also `whois`, `rdap`).
    pub date: String,
    pub whois: String,
    pub rdap: String,
    pub status: String,
    pub source: String,
}

/// Bytes moved by a send/recv-family call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payload {
    pub outgoing: bool,
    pub shown: Vec<u8>,
    pub total: u64,
    /// Sizes of the buffers the bytes were spread over (readv, writev,
    /// sendmsg, recvmsg), in order; empty for a single buffer.
    pub buffers: Vec<u64>,
}

impl Event {
    /// An event with nothing decoded yet: the header's facts only.
    pub fn new(pid: u32, tid: u32, func: Func, t_start: u64, t_end: u64) -> Event {
        Event {
            pid,
            tid,
            t_start,
            t_end,
            func,
            args: Vec::new(),
            outcome: Outcome::Void,
            returned: Vec::new(),
            callers: Vec::new(),
            frames: Default::default(),
            data: None,
            socket: None,
            hint: None,
            annotations: Vec::new(),
            core: Core::default(),
        }
    }

    /// Made through the `_FORTIFY_SOURCE` entry point (`__recv_chk`), not
    /// the one `func.name()` says; informational.
    pub fn fortified(&self) -> bool {
        self.has(CallFlags::FORTIFIED)
    }

    /// Whether the call can block, so that its duration is worth showing.
    pub fn may_block(&self) -> bool {
        self.func.may_block()
    }

    /// Capture notes shown after the result, in this order: how the
    /// record was captured, then what sock-trace did to the call.
    pub fn notes(&self) -> Vec<&'static str> {
        [
            (CallFlags::TRUNCATED, "truncated"),
            (CallFlags::BAD_POINTER, "unreadable pointer"),
            (CallFlags::VFORK_CHILD, "vfork child"),
            (CallFlags::INJECTED, "injected"),
        ]
        .into_iter()
        .filter(|(f, _)| self.has(*f))
        .map(|(_, note)| note)
        .collect()
    }

    pub fn failed(&self) -> bool {
        matches!(self.outcome, Outcome::Err(_))
    }

    pub fn duration_ns(&self) -> u64 {
        self.t_end.saturating_sub(self.t_start)
    }

    /// Whether the call reported success (a connect in progress counts
    /// as started, see [`CallFlags::IN_PROGRESS`]).
    pub fn succeeded(&self) -> bool {
        !self.failed()
    }

    pub fn has(&self, f: CallFlags) -> bool {
        self.core.flags.contains(f)
    }

    /// The process record's start, if this is one.
    pub fn proc_start(&self) -> Option<&ProcStart> {
        match &self.core.process {
            Some(ProcessChange::Started(p)) => Some(p),
            _ => None,
        }
    }
}

/// A loaded ELF object of a traced process, as its module record described
/// it: enough to map a runtime address back to the file and symbolise it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadedModule {
    /// Path of the file (the main program's is read from /proc at start).
    pub path: Vec<u8>,
    /// Load bias: runtime address = ELF virtual address + bias.
    pub bias: u64,
    /// PT_LOAD segments: (p_vaddr, p_memsz, p_offset, p_flags).
    pub segments: Vec<(u64, u64, u64, u32)>,
    pub build_id: Option<Vec<u8>>,
}

impl LoadedModule {
    /// Whether a runtime address lies in one of the object's segments.
    pub fn contains(&self, addr: u64) -> bool {
        self.segments.iter().any(|&(vaddr, memsz, _, _)| {
            addr >= self.bias.wrapping_add(vaddr)
                && addr < self.bias.wrapping_add(vaddr).wrapping_add(memsz)
        })
    }
}

/// A symbolised caller: `file:line (function+0xOFF)`, or what is known.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallerFrame {
    /// The return address.
    pub addr: u64,
    /// The object's path, as shown.
    pub module: String,
    pub function: Option<String>,
    /// From the function's start when `function` is known, else from the
    /// object's start (link-time address).
    pub offset: u64,
    /// Source file, as shown (see the path style setting).
    pub file: Option<String>,
    pub line: Option<u32>,
    pub column: Option<u32>,
}
