//! `--pcap FILE`: the traffic of traced sockets as a pcapng file, built
//! from the calls (sock-trace sees calls, not packets; `sock-trace-pcap`
//! synthesises the packets).
//!
//! A stream connection is identified by its two ends, not by (process,
//! descriptor): a forked server's parent and child share one connection,
//! so they share its sequence numbers, and its FIN is written when the last
//! descriptor for it is closed. Datagrams are written one by one with the
//! address of the call or of the connected peer.

use crate::EventSink;
use sock_trace_decode::{Event, Outcome, SockAddr, SocketInfo, Value};
use sock_trace_event::Func;
use sock_trace_pcap::{Endpoints, PcapWriter};
use sock_trace_print::Clock;
use std::collections::HashMap;
use std::io::BufWriter;
use std::net::SocketAddr;

/// A stream connection, by its ends.
type ConnKey = (String, String);

pub struct PcapSink {
    writer: PcapWriter<BufWriter<std::fs::File>, ConnKey>,
    clock: Clock,
    /// Which connection each (pid, fd) holds.
    holders: HashMap<(u32, i32), ConnKey>,
    failed: bool,
}

impl PcapSink {
    pub fn create(path: &std::path::Path, clock: Clock) -> std::io::Result<PcapSink> {
        let file = std::fs::File::create(path)?;
        let writer = PcapWriter::new(
            BufWriter::with_capacity(256 * 1024, file),
            concat!("sock-trace ", env!("CARGO_PKG_VERSION")),
        )?;
        Ok(PcapSink {
            writer,
            clock,
            holders: HashMap::new(),
            failed: false,
        })
    }

    fn handle(&mut self, ev: &Event) -> std::io::Result<()> {
        let t_ns = self.clock.realtime_ns(ev.t_end).max(0) as u64;
        if ev.func == Func::ProcStart {
            // A forked child holds every connection its parent held.
            if let Some(Value::Int(ppid)) =
                ev.args.iter().find(|f| f.name == "ppid").map(|f| &f.value)
            {
                let inherited: Vec<(i32, ConnKey)> = self
                    .holders
                    .iter()
                    .filter(|((p, _), _)| *p == *ppid as u32)
                    .map(|((_, fd), k)| (*fd, k.clone()))
                    .collect();
                for (fd, k) in inherited {
                    self.holders.entry((ev.pid, fd)).or_insert(k);
                }
            }
            return Ok(());
        }
        let Some(socket) = &ev.socket else {
            return Ok(());
        };
        let Some(fd) = ev.fd() else {
            return Ok(());
        };
        let stream = socket.ty == libc::SOCK_STREAM;
        let comment = format!("pid {} tid {} {}", ev.pid, ev.tid, ev.func.name());
        let ok = !ev.failed();
        let in_progress = matches!(&ev.outcome, Outcome::Err(e) if e.name == Some("EINPROGRESS"));
        match ev.func {
            Func::Connect if stream && (ok || in_progress) => {
                if let Some(ends) = endpoints(socket, None) {
                    let key = key_of(&ends, ev.pid, fd);
                    self.writer
                        .connection_opened(key.clone(), &ends, true, t_ns, &comment)?;
                    self.holders.insert((ev.pid, fd), key);
                }
            }
            Func::Accept | Func::Accept4 if stream && ok => {
                if let Some(ends) = endpoints(socket, None) {
                    let new_fd = ev_ret(ev) as i32;
                    let key = key_of(&ends, ev.pid, new_fd);
                    self.writer
                        .connection_opened(key.clone(), &ends, false, t_ns, &comment)?;
                    self.holders.insert((ev.pid, new_fd), key);
                }
            }
            Func::Close if ok => {
                if let Some(key) = self.holders.remove(&(ev.pid, fd)) {
                    if !self.holders.values().any(|k| *k == key) {
                        self.writer.connection_closed(&key, true, t_ns, &comment)?;
                    }
                }
            }
            _ => {
                let Some(data) = ev.data.as_ref().filter(|d| !d.shown.is_empty()) else {
                    return Ok(());
                };
                let comment = if (data.shown.len() as u64) < data.total {
                    format!(
                        "{comment} ({} of {} bytes captured)",
                        data.shown.len(),
                        data.total
                    )
                } else {
                    comment
                };
                // sendmmsg/recvmmsg: one packet per message (the payload
                // is the messages back to back, `buffers` their lengths).
                let mut parts: Vec<&[u8]> = Vec::new();
                if matches!(ev.func, Func::Sendmmsg | Func::Recvmmsg) && !data.buffers.is_empty() {
                    let mut rest = &data.shown[..];
                    for &len in &data.buffers {
                        let (part, tail) = rest.split_at((len as usize).min(rest.len()));
                        if !part.is_empty() {
                            parts.push(part);
                        }
                        rest = tail;
                    }
                } else {
                    parts.push(&data.shown);
                }
                if stream {
                    let key = match self.holders.get(&(ev.pid, fd)) {
                        Some(k) if self.writer.is_open(k) => k.clone(),
                        _ => {
                            // A connection older than the trace (or whose
                            // open we could not place): join it mid-stream.
                            let Some(ends) = endpoints(socket, None) else {
                                return Ok(());
                            };
                            let key = key_of(&ends, ev.pid, fd);
                            if !self.writer.is_open(&key) {
                                self.writer.connection_adopted(key.clone(), &ends);
                            }
                            self.holders.insert((ev.pid, fd), key.clone());
                            key
                        }
                    };
                    for part in parts {
                        self.writer
                            .data(&key, data.outgoing, part, t_ns, &comment)?;
                    }
                } else if let Some(ends) = endpoints(socket, ev.named_addr()) {
                    for part in parts {
                        self.writer
                            .datagram(&ends, data.outgoing, part, t_ns, &comment)?;
                    }
                }
            }
        }
        Ok(())
    }
}

impl EventSink for PcapSink {
    fn event(&mut self, ev: &Event) {
        if self.failed {
            return;
        }
        if let Err(e) = self.handle(ev) {
            self.failed = true;
            eprintln!("sock-trace: writing the packet capture failed: {e}; the capture stops here");
        }
    }

    fn finish(&mut self) {
        if let Err(e) = self.writer.flush() {
            eprintln!("sock-trace: writing the packet capture failed: {e}");
        }
    }
}

fn ev_ret(ev: &Event) -> i64 {
    match &ev.outcome {
        Outcome::Ok(Value::Fd(fd)) => *fd as i64,
        Outcome::Ok(Value::Int(n)) => *n,
        _ => -1,
    }
}

fn socket_addr(a: &SockAddr) -> Option<SocketAddr> {
    match a {
        SockAddr::V4 { ip, port } => Some(SocketAddr::from((*ip, *port))),
        SockAddr::V6 { ip, port, .. } => Some(SocketAddr::from((*ip, *port))),
        _ => None,
    }
}

fn unix_name(a: Option<&SockAddr>) -> String {
    match a {
        Some(SockAddr::Unix { path, kind }) => {
            let p = String::from_utf8_lossy(path);
            match kind {
                sock_trace_decode::UnixKind::Abstract => format!("@{p}"),
                _ => p.into_owned(),
            }
        }
        _ => String::new(),
    }
}

/// Both ends of the socket, the peer being `peer` when the call named one.
fn endpoints(s: &SocketInfo, peer: Option<&SockAddr>) -> Option<Endpoints> {
    let peer = peer.or(s.peer.as_ref());
    match s.domain {
        libc::AF_INET | libc::AF_INET6 => {
            let peer = socket_addr(peer?)?;
            // An unbound socket's local end is unknown: the wildcard of the
            // peer's family keeps the packets well formed.
            let local = s
                .local
                .as_ref()
                .and_then(socket_addr)
                .unwrap_or(match peer {
                    SocketAddr::V4(_) => SocketAddr::from(([0, 0, 0, 0], 0)),
                    SocketAddr::V6(_) => SocketAddr::from(([0u16; 8], 0)),
                });
            Some(Endpoints::ip(local, peer))
        }
        libc::AF_UNIX => Some(Endpoints::unix(
            unix_name(s.local.as_ref()),
            unix_name(peer),
        )),
        _ => None,
    }
}

/// A connection's identity: its two IP ends (shared by every process that
/// holds it), or for Unix sockets, whose ends are mostly unnamed, the
/// descriptor that holds it.
fn key_of(ends: &Endpoints, pid: u32, fd: i32) -> ConnKey {
    match ends {
        Endpoints::Ip { local, peer } => (local.to_string(), peer.to_string()),
        Endpoints::Unix { .. } => ("unix".into(), format!("{pid}:{fd}")),
    }
}
