//! One traced call as bytes: a fixed [`RecordHeader`] followed by tagged blobs.
//!
//! The hooks fill a record in place inside a ring (no allocation, no
//! formatting); the collector parses it back with [`Record::parse`], which is
//! bounds-checked everywhere because a ring may hold a half-written record of
//! a process that was killed, or garbage from a hostile program.
//!
//! Layout (all little-endian, native x86_64):
//!
//! ```text
//! RecordHeader (96 bytes, 8-aligned)
//! blob*:  tag u8 | role u8 | len u16 | len bytes   (not aligned)
//! padding to a multiple of 8
//! ```
//!
//! The meaning of `args` and of each blob is fixed per [`crate::Func`]; the
//! decoder crate documents it next to the decoding of each function.

use crate::func::Func;

/// Record header. `#[repr(C)]`, part of the ABI ([`crate::ABI_VERSION`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct RecordHeader {
    /// Total bytes of this record including the header and padding.
    pub len: u32,
    /// A [`Func`] id.
    pub func: u16,
    /// `FLAG_*` bits.
    pub flags: u16,
    pub pid: u32,
    pub tid: u32,
    /// CLOCK_MONOTONIC nanoseconds before the real call.
    pub t_start: u64,
    /// CLOCK_MONOTONIC nanoseconds after the real call.
    pub t_end: u64,
    /// The return value, sign-extended (pointers as their address).
    pub ret: i64,
    /// errno after the real call (meaningful when the call reports failure).
    pub errno: i32,
    /// Bytes of blob data that did not fit and were cut.
    pub truncated: u32,
    /// Raw integer arguments, in the order of the C prototype.
    pub args: [u64; 6],
}

pub const HEADER_LEN: usize = core::mem::size_of::<RecordHeader>();
const _: () = assert!(HEADER_LEN == 96);

/// The call was made through a `_FORTIFY_SOURCE` entry point (`__recv_chk`).
pub const FLAG_FORTIFIED: u16 = 1 << 0;
/// The hook could not store every blob (see `truncated`).
pub const FLAG_TRUNCATED: u16 = 1 << 1;
/// The record was written by a `vfork` child on its parent's thread.
pub const FLAG_VFORK_CHILD: u16 = 1 << 2;
/// The failure was injected by sock-trace, not produced by the call.
pub const FLAG_INJECTED: u16 = 1 << 3;
/// Pointer arguments could not be read safely; blobs are missing on purpose.
pub const FLAG_BAD_POINTER: u16 = 1 << 4;
/// A delay rule held the call back (its duration includes the delay).
pub const FLAG_DELAYED: u16 = 1 << 5;

/// What a blob holds. Part of the ABI: append only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Tag {
    /// A `struct sockaddr` as the program passed or received it (may be
    /// shorter than the family's full size: the decoder says so).
    SockAddr = 1,
    /// A C string without its NUL.
    Str = 2,
    /// Little-endian `i64` values.
    Ints = 3,
    /// Raw bytes (option values, payload samples).
    Bytes = 4,
    /// `struct pollfd` array as it was after the call.
    PollFds = 5,
    /// An `fd_set` bitmap cut to `nfds` bits (rounded up to bytes).
    FdSet = 6,
    /// `struct epoll_event` array (12 bytes each, packed as the kernel ABI).
    EpollEvents = 7,
    /// Return addresses of the caller, innermost first (u64 each).
    Caller = 8,
}

impl Tag {
    pub fn from_u8(v: u8) -> Option<Tag> {
        Some(match v {
            1 => Tag::SockAddr,
            2 => Tag::Str,
            3 => Tag::Ints,
            4 => Tag::Bytes,
            5 => Tag::PollFds,
            6 => Tag::FdSet,
            7 => Tag::EpollEvents,
            8 => Tag::Caller,
            _ => return None,
        })
    }
}

/// Which argument or result a blob belongs to.
pub mod role {
    /// The address argument (connect, bind, sendto).
    pub const ADDR: u8 = 0;
    /// An address the call returned (accept, recvfrom, getsockname, ...).
    pub const ADDR_OUT: u8 = 1;
    /// Host / node name argument.
    pub const NODE: u8 = 2;
    /// Service / port name argument.
    pub const SERVICE: u8 = 3;
    /// Protocol name argument.
    pub const PROTO: u8 = 4;
    /// `addrinfo` hints: flags, family, socktype, protocol.
    pub const HINTS: u8 = 5;
    /// One `addrinfo` result: flags, family, socktype, protocol (Ints);
    /// the address follows as `SockAddr` with role `AI_ADDR`, and the
    /// canonical name, when present, as `Str` with role `CANON`.
    pub const AI: u8 = 6;
    pub const AI_ADDR: u8 = 7;
    pub const CANON: u8 = 8;
    /// hostent/servent/protoent official name.
    pub const ENT_NAME: u8 = 9;
    /// hostent/servent/protoent alias.
    pub const ENT_ALIAS: u8 = 10;
    /// hostent address bytes (4 or 16).
    pub const ENT_ADDR: u8 = 11;
    /// servent port / protoent number / hostent addrtype (Ints).
    pub const ENT_INFO: u8 = 12;
    /// Host and service results of getnameinfo.
    pub const HOST_OUT: u8 = 13;
    pub const SERV_OUT: u8 = 14;
    /// Socket option value as passed (setsockopt) or returned (getsockopt).
    pub const OPTVAL: u8 = 15;
    /// A timeout: seconds, nanoseconds (Ints); absent means NULL.
    pub const TIMEOUT: u8 = 16;
    /// fd_set roles: ready sets after the call.
    pub const FDS_READ: u8 = 17;
    pub const FDS_WRITE: u8 = 18;
    pub const FDS_EXCEPT: u8 = 19;
    /// Lengths of iovec buffers (Ints).
    pub const IOV_LENS: u8 = 20;
    /// msghdr summary: namelen, iovlen, controllen, msg_flags (Ints).
    pub const MSGHDR: u8 = 21;
    /// Per-message results of sendmmsg/recvmmsg: msg_len, msg_flags (Ints).
    pub const MMSG: u8 = 22;
    /// Payload sent (only the bytes actually transferred).
    pub const DATA_OUT: u8 = 23;
    /// Payload received.
    pub const DATA_IN: u8 = 24;
    /// Second socket of socketpair / pipe-like results (Ints).
    pub const FDS_OUT: u8 = 25;
    /// Executable path of a process start record.
    pub const EXE: u8 = 26;
    /// Command line of a process start record (NUL-separated).
    pub const ARGV: u8 = 27;
    /// Parent pid, ppid at start (Ints).
    pub const PROC: u8 = 28;
    /// Events argument of epoll_ctl.
    pub const EPOLL_EVENT: u8 = 29;
    /// ioctl/fcntl integer argument pointed to (Ints).
    pub const ARG_VAL: u8 = 30;
    /// Text form of an address (inet_ntop/inet_ntoa result, inet_pton input).
    pub const TEXT: u8 = 31;
    /// fd_set roles: the sets as the program passed them (*pre*).
    pub const FDS_READ_IN: u8 = 32;
    pub const FDS_WRITE_IN: u8 = 33;
    pub const FDS_EXCEPT_IN: u8 = 34;
    /// Module record: PT_LOAD segments, four Ints each: p_vaddr, p_memsz,
    /// p_offset, p_flags.
    pub const MODULE_SEGMENTS: u8 = 35;
    /// Module record: GNU build-id bytes.
    pub const MODULE_BUILD_ID: u8 = 36;
    /// Module record: the object's path.
    pub const MODULE_PATH: u8 = 37;
    /// The socket's local address, read by the hook after a connect or
    /// accept when the capture asks for addresses (pcap).
    pub const LOCAL_ADDR: u8 = 38;
    /// The socket's peer address, read by the hook after an accept whose
    /// program passed no address buffer (same condition as `LOCAL_ADDR`).
    pub const PEER_ADDR: u8 = 39;
    /// Ancillary data of sendmsg/recvmsg (Bytes): the control buffer as the
    /// kernel read or wrote it, cut to 512 bytes.
    pub const CONTROL: u8 = 40;
}

/// Writes a record into a caller-provided buffer (a slot in a ring, or a
/// stack array). Never allocates and never panics: when the buffer is full,
/// blobs are dropped whole and counted in `truncated`.
pub struct RecordWriter<'a> {
    buf: &'a mut [u8],
    pos: usize,
    header: RecordHeader,
}

impl<'a> RecordWriter<'a> {
    /// `buf` must be at least [`HEADER_LEN`] bytes; a shorter buffer makes
    /// every write a no-op and [`finish`](Self::finish) returns 0.
    pub fn new(buf: &'a mut [u8], func: Func) -> Self {
        let header = RecordHeader {
            func: func as u16,
            ..RecordHeader::default()
        };
        RecordWriter {
            buf,
            pos: HEADER_LEN,
            header,
        }
    }

    #[inline]
    pub fn header(&mut self) -> &mut RecordHeader {
        &mut self.header
    }

    /// Room left for blob bytes (after a blob header).
    pub fn room(&self) -> usize {
        self.buf.len().saturating_sub(self.pos + 4 + 7)
    }

    /// Appends a blob from a byte slice. Blobs longer than 65535 bytes or
    /// than the room left are cut (for data) and the cut is counted.
    pub fn blob(&mut self, tag: Tag, role: u8, data: &[u8]) {
        let room = self.room().min(u16::MAX as usize);
        let n = data.len().min(room);
        if n < data.len() {
            self.header.truncated = self
                .header
                .truncated
                .saturating_add((data.len() - n) as u32);
            self.header.flags |= FLAG_TRUNCATED;
        }
        if self.pos + 4 + n > self.buf.len() {
            return;
        }
        let p = self.pos;
        self.buf[p] = tag as u8;
        self.buf[p + 1] = role;
        self.buf[p + 2..p + 4].copy_from_slice(&(n as u16).to_le_bytes());
        self.buf[p + 4..p + 4 + n].copy_from_slice(&data[..n]);
        self.pos = p + 4 + n;
    }

    /// Appends a blob of integers.
    pub fn ints(&mut self, role: u8, values: &[i64]) {
        let n = values.len().min(32);
        let mut tmp = [0u8; 32 * 8];
        for (i, v) in values[..n].iter().enumerate() {
            tmp[i * 8..i * 8 + 8].copy_from_slice(&v.to_le_bytes());
        }
        if self.room() < n * 8 {
            self.header.flags |= FLAG_TRUNCATED;
            self.header.truncated = self.header.truncated.saturating_add((n * 8) as u32);
            return;
        }
        self.blob(Tag::Ints, role, &tmp[..n * 8]);
    }

    /// Appends a blob whose bytes the caller writes into the returned slice
    /// (at most `max` bytes); `commit_reserved` then fixes its length. Used
    /// to copy straight from program memory into the ring without a
    /// temporary buffer.
    pub fn reserve(&mut self, max: usize) -> &mut [u8] {
        let room = self.room().min(u16::MAX as usize).min(max);
        let p = self.pos + 4;
        if p > self.buf.len() {
            return &mut [];
        }
        &mut self.buf[p..p + room]
    }

    pub fn commit_reserved(&mut self, tag: Tag, role: u8, n: usize) {
        let room = self.room().min(u16::MAX as usize);
        let n = n.min(room);
        let p = self.pos;
        if p + 4 + n > self.buf.len() {
            return;
        }
        self.buf[p] = tag as u8;
        self.buf[p + 1] = role;
        self.buf[p + 2..p + 4].copy_from_slice(&(n as u16).to_le_bytes());
        self.pos = p + 4 + n;
    }

    /// Writes the header and returns the record's total length (a multiple
    /// of 8), or 0 when the buffer could not even hold the header.
    pub fn finish(mut self) -> usize {
        if self.buf.len() < HEADER_LEN {
            return 0;
        }
        let len = (self.pos + 7) & !7;
        let len = len.min(self.buf.len() & !7);
        for b in &mut self.buf[self.pos..len] {
            *b = 0;
        }
        self.header.len = len as u32;
        // SAFETY: RecordHeader is plain-old-data of HEADER_LEN bytes and the
        // buffer holds at least HEADER_LEN bytes (checked above); an
        // unaligned write is used because ring slots are only 8-aligned by
        // convention, not by type.
        unsafe {
            core::ptr::write_unaligned(self.buf.as_mut_ptr() as *mut RecordHeader, self.header);
        }
        len
    }
}

/// A parsed record borrowing its bytes.
#[derive(Clone, Copy, Debug)]
pub struct Record<'a> {
    pub header: RecordHeader,
    body: &'a [u8],
}

/// Why a record could not be parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// Fewer bytes than a header, or than the header's `len`.
    Short,
    /// `len` is not a multiple of 8 or smaller than a header.
    BadLength,
}

impl<'a> Record<'a> {
    /// Reads the record at the start of `bytes`.
    pub fn parse(bytes: &'a [u8]) -> Result<Record<'a>, ParseError> {
        if bytes.len() < 8 {
            return Err(ParseError::Short);
        }
        let len = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
        let func = u16::from_le_bytes([bytes[4], bytes[5]]);
        if func == Func::Pad as u16 {
            // A pad record has only len and func.
            if len < 8 || len % 8 != 0 || len > bytes.len() {
                return Err(ParseError::BadLength);
            }
            let header = RecordHeader {
                len: len as u32,
                func,
                ..RecordHeader::default()
            };
            return Ok(Record { header, body: &[] });
        }
        if len < HEADER_LEN || len % 8 != 0 {
            return Err(ParseError::BadLength);
        }
        if len > bytes.len() {
            return Err(ParseError::Short);
        }
        // SAFETY: at least HEADER_LEN bytes are present (len >= HEADER_LEN
        // and len <= bytes.len()); RecordHeader is plain-old-data for which
        // every bit pattern is valid.
        let header = unsafe { core::ptr::read_unaligned(bytes.as_ptr() as *const RecordHeader) };
        Ok(Record {
            header,
            body: &bytes[HEADER_LEN..len],
        })
    }

    pub fn func(&self) -> Option<Func> {
        Func::from_id(self.header.func)
    }

    /// The blobs in order. Stops at the first malformed blob or at padding.
    pub fn blobs(&self) -> Blobs<'a> {
        Blobs { rest: self.body }
    }

    /// The first blob with this tag and role.
    pub fn find(&self, tag: Tag, role: u8) -> Option<&'a [u8]> {
        self.blobs()
            .find(|b| b.tag == tag && b.role == role)
            .map(|b| b.data)
    }

    /// Every blob with this role, in order.
    pub fn all(&self, role: u8) -> impl Iterator<Item = Blob<'a>> {
        self.blobs().filter(move |b| b.role == role)
    }

    pub fn str(&self, role: u8) -> Option<&'a [u8]> {
        self.find(Tag::Str, role)
    }

    pub fn ints(&self, role: u8) -> Option<Ints<'a>> {
        self.find(Tag::Ints, role).map(Ints)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Blob<'a> {
    pub tag: Tag,
    pub role: u8,
    pub data: &'a [u8],
}

pub struct Blobs<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Blobs<'a> {
    type Item = Blob<'a>;

    fn next(&mut self) -> Option<Blob<'a>> {
        if self.rest.len() < 4 {
            return None;
        }
        let tag = Tag::from_u8(self.rest[0])?;
        let role = self.rest[1];
        let len = u16::from_le_bytes([self.rest[2], self.rest[3]]) as usize;
        if self.rest.len() < 4 + len {
            self.rest = &[];
            return None;
        }
        let data = &self.rest[4..4 + len];
        self.rest = &self.rest[4 + len..];
        Some(Blob { tag, role, data })
    }
}

/// A view of an `Ints` blob.
#[derive(Clone, Copy, Debug)]
pub struct Ints<'a>(pub &'a [u8]);

impl Ints<'_> {
    pub fn len(&self) -> usize {
        self.0.len() / 8
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The i-th value, or 0 when absent (a short blob is not an error).
    pub fn get(&self, i: usize) -> i64 {
        self.0
            .get(i * 8..i * 8 + 8)
            .map(|b| i64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
            .unwrap_or(0)
    }

    pub fn iter(&self) -> impl Iterator<Item = i64> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_then_parse_round_trips() {
        let mut buf = [0u8; 512];
        let mut w = RecordWriter::new(&mut buf, Func::Connect);
        w.header().pid = 7;
        w.header().ret = -1;
        w.header().errno = 111;
        w.header().args = [3, 0x1000, 16, 0, 0, 0];
        w.blob(Tag::SockAddr, role::ADDR, &[2, 0, 0x1f, 0x90, 127, 0, 0, 1]);
        w.ints(role::HINTS, &[1, 2, -3]);
        let len = w.finish();
        assert_eq!(len % 8, 0);
        let r = Record::parse(&buf[..len]).unwrap();
        assert_eq!(r.func(), Some(Func::Connect));
        assert_eq!(r.header.pid, 7);
        assert_eq!(r.header.errno, 111);
        assert_eq!(
            r.find(Tag::SockAddr, role::ADDR).unwrap(),
            &[2, 0, 0x1f, 0x90, 127, 0, 0, 1]
        );
        let ints = r.ints(role::HINTS).unwrap();
        assert_eq!(ints.iter().collect::<Vec<_>>(), vec![1, 2, -3]);
        assert_eq!(r.header.flags & FLAG_TRUNCATED, 0);
    }

    #[test]
    fn full_buffer_truncates_instead_of_panicking() {
        let mut buf = [0u8; 128];
        let mut w = RecordWriter::new(&mut buf, Func::Send);
        w.blob(Tag::Bytes, role::DATA_OUT, &[0xAA; 100]);
        w.blob(Tag::Bytes, role::DATA_OUT, &[0xBB; 100]);
        let len = w.finish();
        let r = Record::parse(&buf[..len]).unwrap();
        assert!(r.header.flags & FLAG_TRUNCATED != 0);
        assert!(r.header.truncated >= 100);
        let total: usize = r.blobs().map(|b| b.data.len()).sum();
        assert!(total < 100);
    }

    #[test]
    fn tiny_buffer_gives_zero_length() {
        let mut buf = [0u8; 10];
        let w = RecordWriter::new(&mut buf, Func::Send);
        assert_eq!(w.finish(), 0);
    }

    #[test]
    fn parse_rejects_garbage_without_panicking() {
        let mut state = 0x1234_5678_9abc_def0u64;
        for _ in 0..20_000 {
            let mut buf = [0u8; 160];
            for b in buf.iter_mut() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                *b = state as u8;
            }
            let n = (state % 161) as usize;
            if let Ok(r) = Record::parse(&buf[..n]) {
                for b in r.blobs() {
                    let _ = b.data.len();
                }
            }
        }
    }
}

/// The GNU build-id in the bytes of an ELF note segment (PT_NOTE), as a
/// module record carries it (`role::MODULE_BUILD_ID`). Shared by the
/// backends that describe loaded objects; bounds-checked, since the bytes
/// may come from any file.
pub fn gnu_build_id(notes: &[u8]) -> Option<&[u8]> {
    let mut pos = 0;
    while pos + 12 <= notes.len() {
        let word = |o: usize| {
            u32::from_ne_bytes([notes[o], notes[o + 1], notes[o + 2], notes[o + 3]]) as usize
        };
        let (namesz, descsz, kind) = (word(pos), word(pos + 4), word(pos + 8));
        let name_at = pos + 12;
        let desc_at = name_at.checked_add(namesz.div_ceil(4) * 4)?;
        let end = desc_at.checked_add(descsz.div_ceil(4) * 4)?;
        if end > notes.len() {
            return None;
        }
        // NT_GNU_BUILD_ID
        if kind == 3 && namesz == 4 && &notes[name_at..name_at + 4] == b"GNU\0" {
            return Some(&notes[desc_at..desc_at + descsz]);
        }
        pos = end;
    }
    None
}
