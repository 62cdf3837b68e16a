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
//! The [`Decoder`] also keeps what later records need: per process, which
//! descriptors are sockets of which kind (copied to a child at fork).

mod calls;
mod cmsg;
pub mod sockaddr;
mod sockopt;
pub mod value;

pub use value::{
    AddrNote, CallerFrame, ErrorInfo, ErrorSpace, Event, Field, LoadedModule, NoteAs, NoteClass,
    NoteClassDetail, NoteCountry, NoteDrop, NoteFlags, NoteLocation, NoteNet, NoteRegistry,
    Outcome, Payload, SockAddr, UnixKind, Value,
};

use sock_trace_event::record::{
    FLAG_BAD_POINTER, FLAG_FORTIFIED, FLAG_INJECTED, FLAG_TRUNCATED, FLAG_VFORK_CHILD,
};
use sock_trace_event::{Func, Record, Tag};
use std::collections::HashMap;

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

/// Decodes the records of all processes of one trace.
#[derive(Default)]
pub struct Decoder {
    sockets: HashMap<u32, HashMap<i32, SocketInfo>>,
    modules: HashMap<u32, Vec<LoadedModule>>,
    /// The parent each traced process was forked by.
    parents: HashMap<u32, u32>,
}

impl Decoder {
    pub fn new() -> Self {
        Decoder::default()
    }

    /// What `fd` in process `pid` is, when a traced call created it.
    pub fn socket_info(&self, pid: u32, fd: i32) -> Option<SocketInfo> {
        self.sockets.get(&pid)?.get(&fd).cloned()
    }

    /// The objects loaded in process `pid`, as its module records said.
    pub fn modules(&self, pid: u32) -> &[LoadedModule] {
        self.modules.get(&pid).map(Vec::as_slice).unwrap_or(&[])
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
        let h = &rec.header;
        let mut ev = Event {
            pid: h.pid,
            tid: h.tid,
            t_start: h.t_start,
            t_end: h.t_end,
            func,
            fortified: h.flags & FLAG_FORTIFIED != 0,
            args: Vec::new(),
            outcome: Outcome::Void,
            returned: Vec::new(),
            may_block: func.may_block(),
            notes: Vec::new(),
            callers: Vec::new(),
            frames: Vec::new(),
            data: None,
            socket: None,
            hint: None,
            annotations: Vec::new(),
        };
        for (flag, note) in [
            (FLAG_TRUNCATED, "truncated"),
            (FLAG_BAD_POINTER, "unreadable pointer"),
            (FLAG_VFORK_CHILD, "vfork child"),
            (FLAG_INJECTED, "injected"),
        ] {
            if h.flags & flag != 0 {
                ev.notes.push(note);
            }
        }
        for b in rec.blobs().filter(|b| b.tag == Tag::Caller) {
            ev.callers.extend(
                b.data
                    .chunks_exact(8)
                    .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8]))),
            );
        }
        // The descriptor's state before the call (close forgets it).
        let before = self.socket_info(h.pid, h.args[0] as i32);
        calls::decode(self, rec, &mut ev);
        self.track_ends(&mut ev, rec, before);
        Some(ev)
    }

    /// Learns socket ends from the decoded call and attaches the state of
    /// the call's socket to the event.
    fn track_ends(&mut self, ev: &mut Event, rec: &Record<'_>, before: Option<SocketInfo>) {
        use sock_trace_event::role;
        let pid = ev.pid;
        let ok = !ev.failed();
        let in_progress = matches!(&ev.outcome, Outcome::Err(e) if e.name == Some("EINPROGRESS"));
        let arg_addr = |fields: &[Field], name: &str| match fields
            .iter()
            .find(|f| f.name == name)
            .map(|f| &f.value)
        {
            Some(Value::Addr(a)) => Some(a.clone()),
            _ => None,
        };
        let local_blob = rec
            .find(Tag::SockAddr, role::LOCAL_ADDR)
            .and_then(sockaddr::decode);
        let fd = match ev.args.iter().find(|f| f.name == "fd").map(|f| &f.value) {
            Some(Value::Fd(fd)) => Some(*fd),
            _ => None,
        };
        match ev.func {
            Func::Connect if ok || in_progress => {
                if let Some(info) = fd.and_then(|fd| self.table(pid).get_mut(&fd)) {
                    info.peer = arg_addr(&ev.args, "addr");
                    if local_blob.is_some() {
                        info.local = local_blob;
                    }
                }
            }
            Func::Bind if ok => {
                if let Some(info) = fd.and_then(|fd| self.table(pid).get_mut(&fd)) {
                    info.local = arg_addr(&ev.args, "addr");
                }
            }
            Func::Getsockname | Func::Getpeername if ok => {
                let a = arg_addr(&ev.returned, "addr");
                if let Some(info) = fd.and_then(|fd| self.table(pid).get_mut(&fd)) {
                    if ev.func == Func::Getsockname {
                        info.local = a;
                    } else {
                        info.peer = a;
                    }
                }
            }
            Func::Accept | Func::Accept4 if ok => {
                let new_fd = rec.header.ret as i32;
                let listener_local = before.as_ref().and_then(|b| b.local.clone());
                let peer_blob = rec
                    .find(Tag::SockAddr, role::PEER_ADDR)
                    .and_then(sockaddr::decode);
                if let Some(info) = self.table(pid).get_mut(&new_fd) {
                    info.peer = arg_addr(&ev.returned, "peer").or(peer_blob);
                    info.local = local_blob.or(listener_local);
                }
                ev.socket = self.socket_info(pid, new_fd);
                return;
            }
            _ => {
                // Any other call on a socket may carry its local address
                // (datagram sends and receives, with packet capture on).
                if let Some(local) = local_blob {
                    if let Some(info) = fd.and_then(|fd| self.table(pid).get_mut(&fd)) {
                        info.local = Some(local);
                    }
                }
            }
        }
        ev.socket = match ev.func {
            Func::Close => before,
            _ => fd.and_then(|fd| self.socket_info(pid, fd)),
        };
    }

    fn table(&mut self, pid: u32) -> &mut HashMap<i32, SocketInfo> {
        self.sockets.entry(pid).or_default()
    }

    pub(crate) fn note_socket(&mut self, pid: u32, fd: i32, info: SocketInfo) {
        self.table(pid).insert(fd, info);
    }

    pub(crate) fn forget(&mut self, pid: u32, fd: i32) {
        if let Some(t) = self.sockets.get_mut(&pid) {
            t.remove(&fd);
        }
    }

    /// close_range / closefrom: every descriptor of the range is gone.
    pub(crate) fn forget_range(&mut self, pid: u32, first: u32, last: u32) {
        if let Some(t) = self.sockets.get_mut(&pid) {
            t.retain(|&fd, _| fd < 0 || (fd as u32) < first || (fd as u32) > last);
        }
    }

    pub(crate) fn duplicate(&mut self, pid: u32, old: i32, new: i32) {
        let info = self.socket_info(pid, old);
        let t = self.table(pid);
        match info {
            Some(i) => {
                t.insert(new, i);
            }
            None => {
                t.remove(&new);
            }
        }
    }

    /// A new process inherits its parent's descriptors and loaded objects;
    /// an exec keeps the descriptors and replaces every object. Returns the
    /// parent to show: a process that execs after its parent exited reports
    /// whoever adopted it (the launcher, init), which is not a traced
    /// process; then the parent it was forked by is kept. A reported parent
    /// that is traced is believed (a reused pid started by vfork and exec).
    pub(crate) fn process_started(&mut self, pid: u32, reported: u32, forked: bool) -> u32 {
        let ppid = match self.parents.get(&pid) {
            Some(&known)
                if !forked && known != reported && !self.parents.contains_key(&reported) =>
            {
                known
            }
            _ => reported,
        };
        self.parents.insert(pid, ppid);
        if !forked && (self.sockets.contains_key(&pid) || self.modules.contains_key(&pid)) {
            self.modules.remove(&pid);
            return ppid;
        }
        if let Some(parent) = self.sockets.get(&ppid).cloned() {
            self.sockets.insert(pid, parent);
        }
        if let Some(parent) = self.modules.get(&ppid).cloned() {
            self.modules.insert(pid, parent);
        }
        ppid
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
        let list = self.modules.entry(rec.header.pid).or_default();
        // A reloaded object at the same place replaces the old entry.
        list.retain(|m| m.bias != module.bias || m.path != module.path);
        list.push(module);
    }
}
