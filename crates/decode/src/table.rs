//! What later records need to know of earlier ones: per process, which
//! descriptors are sockets of which kind and what their two ends are, and
//! which process forked which. Updated by one function, [`SocketTable::apply`],
//! from the typed facts of a decoded event ([`crate::Core`]), so that the
//! decoders of the call families stay pure functions of their record.

use crate::value::{Event, ProcessChange, SocketChange};
use crate::SocketInfo;
use foldhash::{HashMap, HashSet};
use sock_trace_event::{Backend, Func, Platform};

/// The sockets of every traced process.
#[derive(Default)]
pub struct SocketTable {
    sockets: HashMap<u32, HashMap<i32, SocketInfo>>,
    /// The parent each traced process was forked by.
    parents: HashMap<u32, u32>,
    /// Processes with state of their own (a socket table or loaded
    /// objects): an exec of one of these keeps its descriptors rather than
    /// taking its parent's.
    known: HashSet<u32>,
    /// Which platform and backend produced each process's records.
    origins: HashMap<u32, (Platform, Backend)>,
}

/// What applying an event produced.
#[derive(Debug, Default, PartialEq)]
pub struct Applied {
    /// The call's socket after the call (before it, for close; the new
    /// socket, for accept).
    pub socket: Option<SocketInfo>,
    /// For a process start: the parent to show.
    pub ppid: Option<u32>,
    /// For a process start: a new program image of a process that was
    /// already traced (its loaded objects are gone, its descriptors stay).
    pub new_image: bool,
}

impl SocketTable {
    /// What `fd` in process `pid` is, when a traced call created it.
    pub fn get(&self, pid: u32, fd: i32) -> Option<&SocketInfo> {
        self.sockets.get(&pid)?.get(&fd)
    }

    /// The platform and backend of a process's records (Linux and the
    /// preload library until its start record says otherwise).
    pub fn origin(&self, pid: u32) -> (Platform, Backend) {
        self.origins.get(&pid).copied().unwrap_or_default()
    }

    /// A process has state of its own (it loaded an object).
    pub fn saw_process(&mut self, pid: u32) {
        self.known.insert(pid);
    }

    /// Every process the table holds state for.
    pub fn pids(&self) -> Vec<u32> {
        let mut pids: Vec<u32> = self
            .known
            .iter()
            .chain(self.sockets.keys())
            .chain(self.origins.keys())
            .chain(self.parents.keys())
            .copied()
            .collect();
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    /// Forgets a process that exited and whose records are all decoded.
    pub fn process_exited(&mut self, pid: u32) {
        self.sockets.remove(&pid);
        self.known.remove(&pid);
        self.origins.remove(&pid);
        // Children may still name it as their parent: keep `parents`
        // entries of others, drop its own.
        self.parents.remove(&pid);
    }

    /// Learns from one decoded event.
    pub fn apply(&mut self, ev: &Event) -> Applied {
        let pid = ev.pid;
        let core = &ev.core;
        if let Some(ProcessChange::Started(p)) = &core.process {
            let (ppid, new_image) = self.process_started(pid, p.ppid, p.forked);
            self.origins.insert(pid, (p.platform, p.backend));
            return Applied {
                socket: None,
                ppid: Some(ppid),
                new_image,
            };
        }
        let before = core.fd.and_then(|fd| self.get(pid, fd).cloned());
        match &core.change {
            SocketChange::Created {
                fds,
                domain,
                ty,
                protocol,
            } => {
                for &fd in fds {
                    self.table(pid)
                        .insert(fd, SocketInfo::of_kind(*domain, *ty, *protocol));
                }
            }
            SocketChange::Connected => {
                if let Some(i) = self.socket_mut(pid, core.fd) {
                    i.peer = core.peer.clone();
                    if core.local.is_some() {
                        i.local = core.local.clone();
                    }
                }
            }
            SocketChange::Bound | SocketChange::LocalNamed => {
                if let Some(i) = self.socket_mut(pid, core.fd) {
                    i.local = core.local.clone();
                }
            }
            SocketChange::PeerNamed => {
                if let Some(i) = self.socket_mut(pid, core.fd) {
                    i.peer = core.peer.clone();
                }
            }
            SocketChange::Accepted { fd } => {
                if let Some(listener) = &before {
                    let mut new =
                        SocketInfo::of_kind(listener.domain, listener.ty, listener.protocol);
                    new.peer = core.peer.clone();
                    new.local = core.local.clone().or_else(|| listener.local.clone());
                    self.table(pid).insert(*fd, new);
                }
                return Applied {
                    socket: self.get(pid, *fd).cloned(),
                    ..Applied::default()
                };
            }
            SocketChange::Closed { fd } => {
                if let Some(t) = self.sockets.get_mut(&pid) {
                    t.remove(fd);
                }
            }
            SocketChange::ClosedRange { first, last } => {
                if let Some(t) = self.sockets.get_mut(&pid) {
                    t.retain(|&fd, _| fd < 0 || (fd as u32) < *first || (fd as u32) > *last);
                }
            }
            SocketChange::Duplicated { old, new } => {
                let copy = self.get(pid, *old).cloned();
                let t = self.table(pid);
                match copy {
                    Some(i) => t.insert(*new, i),
                    None => t.remove(new),
                };
            }
            SocketChange::None => {
                // Any other call on a socket may carry its local address
                // (datagram sends and receives, with packet capture on).
                if let Some(local) = &core.local {
                    if let Some(i) = self.socket_mut(pid, core.fd) {
                        i.local = Some(local.clone());
                    }
                }
            }
        }
        let socket = match ev.func {
            Func::Close | Func::Closesocket => before,
            _ => core.fd.and_then(|fd| self.get(pid, fd).cloned()),
        };
        Applied {
            socket,
            ..Applied::default()
        }
    }

    fn socket_mut(&mut self, pid: u32, fd: Option<i32>) -> Option<&mut SocketInfo> {
        let fd = fd?;
        self.table(pid).get_mut(&fd)
    }

    fn table(&mut self, pid: u32) -> &mut HashMap<i32, SocketInfo> {
        self.known.insert(pid);
        self.sockets.entry(pid).or_default()
    }

    /// A new process inherits its parent's descriptors; an exec keeps the
    /// descriptors. Returns the parent to show: a process that execs after
    /// its parent exited reports whoever adopted it (the launcher, init),
    /// which is not a traced process; then the parent it was forked by is
    /// kept. A reported parent that is traced is believed (a reused pid
    /// started by vfork and exec).
    fn process_started(&mut self, pid: u32, reported: u32, forked: bool) -> (u32, bool) {
        let ppid = match self.parents.get(&pid) {
            Some(&known)
                if !forked && known != reported && !self.parents.contains_key(&reported) =>
            {
                known
            }
            _ => reported,
        };
        self.parents.insert(pid, ppid);
        if !forked && self.known.contains(&pid) {
            return (ppid, true);
        }
        if forked {
            // A new process has exactly its parent's descriptors, whatever
            // an earlier process of the same pid left here.
            self.sockets.remove(&pid);
        }
        if let Some(parent) = self.sockets.get(&ppid).cloned() {
            self.sockets.insert(pid, parent);
            self.known.insert(pid);
        }
        (ppid, false)
    }
}
