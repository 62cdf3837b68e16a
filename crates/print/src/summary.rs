//! The exit summary: per process and in total, for each function the
//! calls, errors, injected failures and time inside the call; per socket
//! peer the connections made and bytes sent and received; the errors seen
//! by name. strace -c is the model for the table; wsock-trace's exit report
//! has no per-function counts.
//!
//! [`Summary`] is filled from the same decoded events the printers render,
//! so it agrees with the trace's lines by construction (a test checks it).
//! The text and JSON printers render it ([`crate::Printer::summary`]).

use sock_trace_decode::{CallFlags, Event, Outcome, SockAddr, SocketChange};
use sock_trace_event::func::Direction;
use sock_trace_event::Family;
use std::collections::BTreeMap;

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

/// Whether `ev` is a receive that only peeked (`MSG_PEEK` in the call's
/// flags): its bytes were not consumed, so they are neither counted as
/// received nor written to a capture; the receive that consumes them is.
pub fn peeked(ev: &Event) -> bool {
    ev.has(CallFlags::PEEKED)
}

impl Summary {
    pub fn new() -> Self {
        Summary::default()
    }

    /// Counts one event (process starts set the name; calls are counted).
    pub fn add(&mut self, ev: &Event) {
        if let Some(p) = ev.proc_start() {
            let exe = p
                .exe
                .as_deref()
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .unwrap_or_default();
            self.processes.entry(ev.pid).or_default().exe = exe;
            return;
        }
        if ev.func.family() == Family::Meta {
            return;
        }
        let p = self.processes.entry(ev.pid).or_default();
        let s = p.functions.entry(ev.func.name()).or_default();
        s.calls += 1;
        s.total_ns += ev.duration_ns();
        if let Outcome::Err(e) = &ev.outcome {
            s.errors += 1;
            if ev.has(CallFlags::INJECTED) {
                s.injected += 1;
            }
            let name = e
                .name
                .map(str::to_string)
                .unwrap_or_else(|| format!("error {}", e.code));
            *p.errors.entry(name).or_default() += 1;
        }
        self.track(ev);
    }

    /// Connections and bytes per peer. A receive with `MSG_PEEK` moved
    /// nothing (the bytes stay queued and the next receive returns them
    /// again), so it adds no bytes ([`peeked`]). The peer of a connected socket is
    /// what the decoder learnt of it (connect, accept, getpeername, also
    /// across fork and dup); an address passed with the call wins.
    fn track(&mut self, ev: &Event) {
        let core = &ev.core;
        let known_peer = ev.socket.as_ref().and_then(|s| s.peer.as_ref());
        let (peer, sent, received, connection) = match (&core.change, core.io) {
            (SocketChange::Connected, _) => (core.peer.as_ref(), 0, 0, true),
            (SocketChange::Accepted { .. }, _) => (core.peer.as_ref(), 0, 0, true),
            (_, Some(io)) => {
                let peer = core.peer.as_ref().or(known_peer);
                match io.direction {
                    Direction::Sends => (peer, io.bytes, 0, false),
                    Direction::Receives if !peeked(ev) => (peer, 0, io.bytes, false),
                    _ => (peer, 0, 0, false),
                }
            }
            _ => return,
        };
        if !connection && sent == 0 && received == 0 {
            return;
        }
        let name = peer.map(peer_text).unwrap_or_else(|| "unknown".into());
        let s = self
            .processes
            .entry(ev.pid)
            .or_default()
            .peers
            .entry(name)
            .or_default();
        s.connections += connection as u64;
        s.sent += sent;
        s.received += received;
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
