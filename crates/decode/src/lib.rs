//! Decoding: raw [`Record`]s in, [`Event`]s (a format-neutral value tree) out.
//!
//! What each record holds is fixed by `docs/RECORDS.md`; this crate turns
//! the raw integers and blobs into named [`Field`]s of typed [`Value`]s
//! using the constant tables of `sock-trace-xlat`: `AF_INET` instead of 2,
//! `SOCK_STREAM|SOCK_CLOEXEC`, addresses as addresses, errors with name,
//! number and text. Printers (text, JSON, summary) render the events;
//! nothing here formats text.
//!
//! Layout: [`sockaddr`] (addresses by family), `calls` (one file per
//! traced call family, dispatched on the family column of the function
//! table), `sockopt` (option values by level and name). Every
//! reader is bounds-checked: records come from shared memory that a
//! crashing or hostile program may have scribbled on, and no input may
//! panic (a test feeds thousands of random records for every function).
//!
//! Each event carries a typed [`Core`] (fd, both ends, bytes moved and their
//! direction, result, flags, what changes in the socket table, process
//! starts) beside the value tree: the socket table, summary, packet capture,
//! router and protocol hints read only the core; printers render the tree.
//! The [`Decoder`] keeps what later records need: the [`SocketTable`] (per
//! process, which descriptors are sockets of which kind and their ends,
//! copied to a child at fork) and each process's loaded objects.

mod calls;
mod cmsg;
pub mod sockaddr;
mod sockopt;
mod table;
pub mod value;

pub use table::{Applied, SocketTable};
pub use value::{
    AddrNote, CallFlags, CallerFrame, Core, ErrorInfo, ErrorSpace, Event, Field, Io, LoadedModule,
    NoteAs, NoteClass, NoteClassDetail, NoteCountry, NoteDrop, NoteFlags, NoteLocation, NoteNet,
    NoteRegistry, Outcome, Payload, Place, ProcStart, ProcessChange, SockAddr, SocketChange,
    UnixKind, Value,
};

use sock_trace_event::record::{
    FLAG_BAD_POINTER, FLAG_DELAYED, FLAG_FORTIFIED, FLAG_INJECTED, FLAG_TRUNCATED, FLAG_VFORK_CHILD,
};
use sock_trace_event::{platform, Func, Platform, Record, Tag};
use sock_trace_xlat::PlatformTables;

/// The constant tables a platform's records are decoded with.
pub fn tables(platform: Platform) -> &'static PlatformTables {
    match platform {
        Platform::Linux => &sock_trace_xlat::LINUX,
        Platform::Windows => &sock_trace_xlat::WINDOWS,
    }
}
use foldhash::HashMap;

/// What is known about a socket descriptor: its kind from the call that
/// made it, and its two ends as far as traced calls (connect, accept, bind,
/// getsockname, getpeername, the local address the hooks add after a
/// connect or accept) revealed them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SocketInfo {
    pub domain: i32,
    pub ty: i32,
    pub protocol: i32,
    pub local: Option<SockAddr>,
    pub peer: Option<SockAddr>,
}

impl SocketInfo {
    pub fn of_kind(domain: i32, ty: i32, protocol: i32) -> SocketInfo {
        SocketInfo {
            domain,
            ty,
            protocol,
            ..SocketInfo::default()
        }
    }
}

/// Decodes the records of all processes of one trace: each record by a
/// pure function of its bytes (`calls`), then one update of the
/// [`SocketTable`] from the event's typed facts.
#[derive(Default)]
pub struct Decoder {
    table: SocketTable,
    modules: HashMap<u32, Vec<LoadedModule>>,
}

impl Decoder {
    pub fn new() -> Self {
        Decoder::default()
    }

    /// What `fd` in process `pid` is, when a traced call created it.
    pub fn socket_info(&self, pid: u32, fd: i32) -> Option<SocketInfo> {
        self.table.get(pid, fd).cloned()
    }

    /// The table of sockets the decoder keeps.
    pub fn sockets(&self) -> &SocketTable {
        &self.table
    }

    /// The objects loaded in process `pid`, as its module records said.
    pub fn modules(&self, pid: u32) -> &[LoadedModule] {
        self.modules.get(&pid).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Forgets a process whose records are all decoded.
    pub fn process_exited(&mut self, pid: u32) {
        self.table.process_exited(pid);
        self.modules.remove(&pid);
    }

    /// Decodes one record; `None` for padding, module records (kept, see
    /// [`Decoder::modules`]) and unknown function ids.
    pub fn decode(&mut self, rec: &Record<'_>) -> Option<Event> {
        let func = rec.func()?;
        if func == Func::Pad {
            return None;
        }
        if func == Func::Module {
            self.module_loaded(rec);
            return None;
        }
        let platform = match func {
            // A start record names its own platform; others are their process's.
            Func::ProcStart => platform::decode(rec.header.args[2]).0,
            _ => self.table.origin(rec.header.pid).0,
        };
        let mut ev = decode_record(rec, func, platform);
        let applied = self.table.apply(&ev);
        ev.socket = applied.socket;
        if let Some(ProcessChange::Started(p)) = &mut ev.core.process {
            if let Some(ppid) = applied.ppid {
                p.ppid = ppid;
            }
            if applied.new_image || p.forked {
                // A new image has none of the old objects; a forked
                // process has its parent's, not those of an earlier
                // process with the same pid.
                self.modules.remove(&ev.pid);
            }
            if !applied.new_image {
                if let Some(parent) = self.modules.get(&p.ppid).cloned() {
                    self.modules.insert(ev.pid, parent);
                    self.table.saw_process(ev.pid);
                }
            }
            ev.args = calls::process_fields(p);
        }
        Some(ev)
    }

    fn module_loaded(&mut self, rec: &Record<'_>) {
        use sock_trace_event::role;
        let segments = rec
            .ints(role::MODULE_SEGMENTS)
            .map(|i| {
                let v: Vec<i64> = i.iter().collect();
                v.chunks_exact(4)
                    .map(|c| (c[0] as u64, c[1] as u64, c[2] as u64, c[3] as u32))
                    .collect()
            })
            .unwrap_or_default();
        let module = LoadedModule {
            path: rec.str(role::MODULE_PATH).unwrap_or_default().to_vec(),
            bias: rec.header.args[0],
            segments,
            build_id: rec
                .find(Tag::Bytes, role::MODULE_BUILD_ID)
                .map(<[u8]>::to_vec),
        };
        self.table.saw_process(rec.header.pid);
        let list = self.modules.entry(rec.header.pid).or_default();
        // A reloaded object at the same place replaces the old entry.
        list.retain(|m| m.bias != module.bias || m.path != module.path);
        list.push(module);
    }
}

/// One record as an event, from its bytes alone: the value tree printers
/// render and the typed facts the other stages read.
pub fn decode_record(rec: &Record<'_>, func: Func, platform: Platform) -> Event {
    let h = &rec.header;
    let mut ev = Event::new(h.pid, h.tid, func, h.t_start, h.t_end);
    ev.core.ret = h.ret;
    for (flag, typed) in [
        (FLAG_TRUNCATED, CallFlags::TRUNCATED),
        (FLAG_BAD_POINTER, CallFlags::BAD_POINTER),
        (FLAG_VFORK_CHILD, CallFlags::VFORK_CHILD),
        (FLAG_INJECTED, CallFlags::INJECTED),
        (FLAG_FORTIFIED, CallFlags::FORTIFIED),
        (FLAG_DELAYED, CallFlags::DELAYED),
    ] {
        if h.flags & flag != 0 {
            ev.core.flags.insert(typed);
        }
    }
    for b in rec.blobs().filter(|b| b.tag == Tag::Caller) {
        ev.callers.extend(
            b.data
                .chunks_exact(8)
                .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8]))),
        );
    }
    calls::decode(rec, tables(platform), &mut ev);
    if let Outcome::Err(e) = &ev.outcome {
        if e.space == ErrorSpace::Errno {
            ev.core.errno = Some(e.code as i32);
            if func == Func::Connect && e.code == libc::EINPROGRESS as i64 {
                ev.core.flags.insert(CallFlags::IN_PROGRESS);
            }
        }
    }
    ev
}
