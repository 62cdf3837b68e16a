//! The exit summary: per process and in total, for each function the
//! calls, errors, injected failures and time inside the call; per socket
//! peer the connections made and bytes sent and received; the errors seen
//! by name. strace -c is the model for the table; wsock-trace's exit report
//! has no per-function counts.
//!
//! [`Summary`] is filled from the same decoded events the printers render,
//! so it agrees with the trace's lines by construction (a test checks it).
//! The text and JSON printers render it ([`crate::Printer::summary`]).

use sock_trace_decode::{Event, Outcome, SockAddr, Value};
use sock_trace_event::{Family, Func};
use std::collections::{BTreeMap, HashMap};

/// Counts for one function.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FuncStats {
    pub calls: u64,
    pub errors: u64,
    /// Failures sock-trace injected (also counted in `errors`).
    pub injected: u64,
    /// Time inside the calls, nanoseconds.
    pub total_ns: u64,
}

/// Traffic with one peer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerStats {
    /// Successful connect/accept calls with this peer (a non-blocking
    /// connect in progress counts).
    pub connections: u64,
    pub sent: u64,
    pub received: u64,
}

/// Everything counted for one process (or for all of them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcessSummary {
    pub exe: String,
    pub functions: BTreeMap<&'static str, FuncStats>,
    /// Keyed by the peer as text (`127.0.0.1:8000`, `[::1]:53`, a Unix
    /// path, `unknown` for sockets whose peer no traced call showed).
    pub peers: BTreeMap<String, PeerStats>,
    /// Error names (or numbers) and how often each was seen.
    pub errors: BTreeMap<String, u64>,
}

impl ProcessSummary {
    fn merge(&mut self, other: &ProcessSummary) {
        for (f, s) in &other.functions {
            let t = self.functions.entry(f).or_default();
            t.calls += s.calls;
            t.errors += s.errors;
            t.injected += s.injected;
            t.total_ns += s.total_ns;
        }
        for (p, s) in &other.peers {
            let t = self.peers.entry(p.clone()).or_default();
            t.connections += s.connections;
            t.sent += s.sent;
            t.received += s.received;
        }
        for (e, n) in &other.errors {
            *self.errors.entry(e.clone()).or_default() += n;
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct Summary {
    processes: BTreeMap<u32, ProcessSummary>,
    /// Peer of each (pid, fd), as far as traced calls told.
    peers: HashMap<(u32, i32), String>,
}

fn peer_text(a: &SockAddr) -> String {
    match a {
        SockAddr::V4 { ip, port } => format!("{ip}:{port}"),
        SockAddr::V6 { ip, port, .. } => format!("[{ip}]:{port}"),
        SockAddr::Unix { path, .. } if !path.is_empty() => {
            String::from_utf8_lossy(path).into_owned()
        }
        SockAddr::Unix { .. } => "unix (unnamed)".into(),
        SockAddr::Netlink { pid, .. } => format!("netlink:{pid}"),
        SockAddr::Other {
            family_name,
            family,
            ..
        } => match family_name {
            Some(n) => n.to_string(),
            None => format!("family {family}"),
        },
    }
}

fn field<'e>(fields: &'e [sock_trace_decode::Field], name: &str) -> Option<&'e Value> {
    fields.iter().find(|f| f.name == name).map(|f| &f.value)
}

fn fd_of(ev: &Event, name: &str) -> Option<i32> {
    match field(&ev.args, name) {
        Some(Value::Fd(fd)) => Some(*fd),
        _ => None,
    }
}

/// The address in a sendmsg/recvmsg `msg` structure.
fn msg_name(ev: &Event) -> Option<&SockAddr> {
    let msg = field(&ev.args, "msg").or_else(|| field(&ev.returned, "msg"));
    match msg {
        Some(Value::Struct(fields)) => addr_of(field(fields, "name")),
        _ => None,
    }
}

fn addr_of(v: Option<&Value>) -> Option<&SockAddr> {
    match v {
        Some(Value::Addr(a)) => Some(a),
        _ => None,
    }
}

impl Summary {
    pub fn new() -> Self {
        Summary::default()
    }

    /// Counts one event (process starts set the name; calls are counted).
    pub fn add(&mut self, ev: &Event) {
        match ev.func {
            Func::ProcStart => {
                let ppid = match field(&ev.args, "ppid") {
                    Some(Value::Int(p)) => Some(*p as u32),
                    _ => None,
                };
                // A forked child starts with its parent's descriptors.
                if let Some(ppid) = ppid.filter(|_| !self.processes.contains_key(&ev.pid)) {
                    let inherited: Vec<(i32, String)> = self
                        .peers
                        .iter()
                        .filter(|((p, _), _)| *p == ppid)
                        .map(|((_, fd), peer)| (*fd, peer.clone()))
                        .collect();
                    for (fd, peer) in inherited {
                        self.peers.insert((ev.pid, fd), peer);
                    }
                }
                let exe = match field(&ev.args, "exe") {
                    Some(Value::Str(s)) => String::from_utf8_lossy(s).into_owned(),
                    _ => String::new(),
                };
                self.processes.entry(ev.pid).or_default().exe = exe;
                return;
            }
            f if f.family() == Family::Meta => return,
            _ => {}
        }
        let p = self.processes.entry(ev.pid).or_default();
        let s = p.functions.entry(ev.func.name()).or_default();
        s.calls += 1;
        s.total_ns += ev.duration_ns();
        let ok_value = match &ev.outcome {
            Outcome::Ok(Value::Int(n)) => Some(*n),
            Outcome::Ok(Value::Fd(fd)) => Some(*fd as i64),
            _ => None,
        };
        if let Outcome::Err(e) = &ev.outcome {
            s.errors += 1;
            if ev.notes.contains(&"injected") {
                s.injected += 1;
            }
            let name = e
                .name
                .map(str::to_string)
                .unwrap_or_else(|| format!("error {}", e.code));
            *p.errors.entry(name).or_default() += 1;
        }
        self.track(ev, ok_value);
    }

    /// Peers and bytes.
    fn track(&mut self, ev: &Event, ok: Option<i64>) {
        use Func::*;
        let pid = ev.pid;
        let in_progress = matches!(&ev.outcome, Outcome::Err(e) if e.name == Some("EINPROGRESS"));
        match ev.func {
            Connect => {
                if let (Some(fd), Some(a)) = (fd_of(ev, "fd"), addr_of(field(&ev.args, "addr"))) {
                    let peer = peer_text(a);
                    if ok.is_some() || in_progress {
                        self.peers.insert((pid, fd), peer.clone());
                        self.peer(pid, &peer).connections += 1;
                    }
                }
            }
            Accept | Accept4 => {
                if let (Some(fd), Some(peer)) =
                    (ok, addr_of(field(&ev.returned, "peer")).map(peer_text))
                {
                    self.peers.insert((pid, fd as i32), peer.clone());
                    self.peer(pid, &peer).connections += 1;
                }
            }
            Close => {
                if let (Some(fd), Some(_)) = (fd_of(ev, "fd"), ok) {
                    self.peers.remove(&(pid, fd));
                }
            }
            Dup | Dup2 | Dup3 => {
                let old = fd_of(ev, "fd").or_else(|| fd_of(ev, "oldfd"));
                if let (Some(old), Some(new)) = (old, ok) {
                    if let Some(peer) = self.peers.get(&(pid, old)).cloned() {
                        self.peers.insert((pid, new as i32), peer);
                    }
                }
            }
            Send | Sendto | Sendmsg | Write | Writev | Sendfile => {
                if let Some(n) = ok.filter(|n| *n > 0) {
                    let fd = fd_of(ev, "fd").or_else(|| fd_of(ev, "out_fd"));
                    let peer =
                        self.peer_for(pid, fd, addr_of(field(&ev.args, "addr")).or(msg_name(ev)));
                    self.peer(pid, &peer).sent += n as u64;
                }
            }
            Recv | Recvfrom | Recvmsg | Read | Readv => {
                if let Some(n) = ok.filter(|n| *n > 0) {
                    let from = addr_of(field(&ev.returned, "addr")).or(msg_name(ev));
                    let peer = self.peer_for(pid, fd_of(ev, "fd"), from);
                    self.peer(pid, &peer).received += n as u64;
                }
            }
            Sendmmsg | Recvmmsg => {
                let bytes: i64 = match field(&ev.returned, "msg_len") {
                    Some(Value::List(l)) => l
                        .iter()
                        .map(|v| if let Value::Int(n) = v { *n } else { 0 })
                        .sum(),
                    _ => 0,
                };
                if bytes > 0 {
                    let peer = self.peer_for(
                        pid,
                        fd_of(ev, "fd"),
                        addr_of(field(&ev.returned, "first_addr")),
                    );
                    let s = self.peer(pid, &peer);
                    if ev.func == Sendmmsg {
                        s.sent += bytes as u64;
                    } else {
                        s.received += bytes as u64;
                    }
                }
            }
            _ => {}
        }
    }

    fn peer_for(&self, pid: u32, fd: Option<i32>, explicit: Option<&SockAddr>) -> String {
        if let Some(a) = explicit {
            return peer_text(a);
        }
        fd.and_then(|fd| self.peers.get(&(pid, fd)).cloned())
            .unwrap_or_else(|| "unknown".into())
    }

    fn peer(&mut self, pid: u32, peer: &str) -> &mut PeerStats {
        self.processes
            .entry(pid)
            .or_default()
            .peers
            .entry(peer.to_string())
            .or_default()
    }

    /// Per process, in pid order.
    pub fn processes(&self) -> impl Iterator<Item = (u32, &ProcessSummary)> {
        self.processes.iter().map(|(p, s)| (*p, s))
    }

    /// All processes together.
    pub fn total(&self) -> ProcessSummary {
        let mut t = ProcessSummary {
            exe: "all processes".into(),
            ..ProcessSummary::default()
        };
        for p in self.processes.values() {
            t.merge(p);
        }
        t
    }

    pub fn is_empty(&self) -> bool {
        self.processes.values().all(|p| p.functions.is_empty())
    }
}
