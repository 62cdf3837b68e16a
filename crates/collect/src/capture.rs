//! `--pcap FILE`: the traffic of traced sockets as a pcapng file, built
//! from the calls (sock-trace sees calls, not packets; `sock-trace-pcap`
//! synthesises the packets).
//!
//! A stream connection is identified by its two ends, not by (process,
//! descriptor): a forked server's parent and child share one connection,
//! so they share its sequence numbers, and its FIN is written when the last
//! descriptor for it is closed. Datagrams are written one by one with the
//! address of the call or of the connected peer.
//!
//! Bytes are written once, as they moved:
//!
//! - A receive with `MSG_PEEK` consumed nothing: it writes nothing (the
//!   receive that consumes the bytes writes them).
//! - When both ends of a TCP connection are traced (the same two addresses
//!   seen reversed), they share one stream. Each direction keeps the stream
//!   position its sender and its receiver have reached and how far the
//!   capture has written; a call writes only the part of its range beyond
//!   that, so the bytes come from whichever end's call is seen first
//!   (usually the send) and the other end's call adds nothing.
//! - When both ends of a UDP exchange are traced, a datagram is written by
//!   the first of its send and its receive; the other one, the same bytes
//!   between the same addresses, is matched to it and adds nothing.
//! - A call that moved more bytes than were captured advances the sequence
//!   numbers by all it moved, so the capture shows a hole there.

use crate::EventSink;
use sock_trace_decode::{Event, SockAddr, SocketChange, SocketInfo};
use sock_trace_event::Func;
use sock_trace_pcap::{Endpoints, PcapWriter};
use sock_trace_print::summary::peeked;
use sock_trace_print::Clock;
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::io::BufWriter;
use std::net::{IpAddr, SocketAddr};

/// A stream connection, by its ends.
type ConnKey = (String, String);

/// What a descriptor holds: a connection, and which of its ends. `far` is
/// true when the descriptor is the connection's second end (its local
/// address is the key's second address): the end that was seen second when
/// both ends are traced.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Held {
    key: ConnKey,
    far: bool,
}

/// One direction of a stream, in bytes since the trace saw it open.
#[derive(Clone, Copy, Debug, Default)]
struct Flow {
    /// How far the sending end's calls have sent.
    sent: u64,
    /// How far the receiving end's calls have received.
    received: u64,
    /// How far the capture has written (data or holes).
    written: u64,
}

/// A stream connection's byte positions; `flows[0]` runs from the key's
/// first address to its second.
#[derive(Clone, Copy, Debug, Default)]
struct Stream {
    flows: [Flow; 2],
    /// Whether a descriptor of each end has been seen.
    ends: [bool; 2],
}

/// A datagram as both its ends see it: source and destination port,
/// length and a hash of the bytes. The addresses are compared apart
/// ([`Waiting`]): a socket bound implicitly by `sendto`, or to a wildcard,
/// knows its own address only as `0.0.0.0`.
type DgramKey = (u16, u16, usize, u64);

/// A datagram written by one end, waiting for the other end's call.
#[derive(Clone, Copy, Debug)]
struct Waiting {
    by_sender: bool,
    t_ns: u64,
    src: IpAddr,
    dst: IpAddr,
}

/// How long a datagram written by one end waits for the other end's call.
const DGRAM_MATCH_NS: u64 = 30_000_000_000;
/// At most this many datagrams wait for their other end.
const DGRAM_MATCH_MAX: usize = 65_536;

pub struct PcapSink {
    writer: PcapWriter<BufWriter<std::fs::File>, ConnKey>,
    clock: Clock,
    /// Which connection each (pid, fd) holds.
    holders: HashMap<(u32, i32), Held>,
    streams: HashMap<ConnKey, Stream>,
    /// Datagrams written by one end, not yet seen at the other, oldest
    /// first per key.
    dgrams: HashMap<DgramKey, VecDeque<Waiting>>,
    dgrams_waiting: usize,
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
            streams: HashMap::new(),
            dgrams: HashMap::new(),
            dgrams_waiting: 0,
            failed: false,
        })
    }

    fn handle(&mut self, ev: &Event) -> std::io::Result<()> {
        let t_ns = self.clock.realtime_ns(ev.t_end).max(0) as u64;
        if let Some(p) = ev.proc_start() {
            // A forked child holds every connection its parent held.
            let inherited: Vec<(i32, Held)> = self
                .holders
                .iter()
                .filter(|((pid, _), _)| *pid == p.ppid)
                .map(|((_, fd), h)| (*fd, h.clone()))
                .collect();
            for (fd, h) in inherited {
                self.holders.entry((ev.pid, fd)).or_insert(h);
            }
            return Ok(());
        }
        let Some(socket) = &ev.socket else {
            return Ok(());
        };
        let Some(fd) = ev.core.fd else {
            return Ok(());
        };
        let stream = socket.ty == libc::SOCK_STREAM;
        let comment = format!("pid {} tid {} {}", ev.pid, ev.tid, ev.func.name());
        match &ev.core.change {
            SocketChange::Connected if stream => {
                if let Some(ends) = endpoints(socket, None) {
                    self.open(ev.pid, fd, &ends, true, t_ns, &comment)?;
                }
            }
            SocketChange::Accepted { fd: new_fd } if stream => {
                if let Some(ends) = endpoints(socket, None) {
                    self.open(ev.pid, *new_fd, &ends, false, t_ns, &comment)?;
                }
            }
            SocketChange::Closed { .. } if ev.succeeded() => {
                if let Some(held) = self.holders.remove(&(ev.pid, fd)) {
                    if !self.holders.values().any(|h| h.key == held.key) {
                        self.streams.remove(&held.key);
                        self.writer
                            .connection_closed(&held.key, !held.far, t_ns, &comment)?;
                    }
                }
            }
            _ => {
                let Some(data) = ev.data.as_ref() else {
                    return Ok(());
                };
                if peeked(ev) || (data.shown.is_empty() && data.total == 0) {
                    return Ok(());
                }
                let comment = if (data.shown.len() as u64) < data.total {
                    format!(
                        "{comment} ({} of {} bytes captured)",
                        data.shown.len(),
                        data.total
                    )
                } else {
                    comment
                };
                if stream {
                    self.stream_data(ev, fd, socket, data, t_ns, &comment)?;
                    return Ok(());
                }
                if data.shown.is_empty() {
                    return Ok(());
                }
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
                if let Some(ends) = endpoints(socket, ev.core.peer.as_ref()) {
                    for part in parts {
                        if self.dgram_seen_at_other_end(&ends, data.outgoing, part, t_ns) {
                            continue;
                        }
                        self.writer
                            .datagram(&ends, data.outgoing, part, t_ns, &comment)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// A connect or accept: a new connection, or the second end of one
    /// whose first end is traced too (its ends are ours reversed).
    fn open(
        &mut self,
        pid: u32,
        fd: i32,
        ends: &Endpoints,
        initiated_locally: bool,
        t_ns: u64,
        comment: &str,
    ) -> std::io::Result<()> {
        let key = key_of(ends, pid, fd);
        if let Some(held) = self.join_far_end(&key) {
            self.holders.insert((pid, fd), held);
            return Ok(());
        }
        self.writer
            .connection_opened(key.clone(), ends, initiated_locally, t_ns, comment)?;
        let mut st = Stream::default();
        st.ends[0] = true;
        self.streams.insert(key.clone(), st);
        self.holders.insert((pid, fd), Held { key, far: false });
        Ok(())
    }

    /// If the connection `key` reversed is open and its second end has not
    /// been seen, `key` is that second end.
    fn join_far_end(&mut self, key: &ConnKey) -> Option<Held> {
        if key.0 == key.1 || key.0.starts_with("unix") {
            return None;
        }
        let reversed = (key.1.clone(), key.0.clone());
        if !self.writer.is_open(&reversed) {
            return None;
        }
        let st = self.streams.entry(reversed.clone()).or_default();
        if st.ends[1] {
            return None;
        }
        st.ends[1] = true;
        Some(Held {
            key: reversed,
            far: true,
        })
    }

    /// Data on a stream: the part of the call's byte range that the capture
    /// has not written yet (see the module docs).
    fn stream_data(
        &mut self,
        ev: &Event,
        fd: i32,
        socket: &SocketInfo,
        data: &sock_trace_decode::Payload,
        t_ns: u64,
        comment: &str,
    ) -> std::io::Result<()> {
        let held = match self.holders.get(&(ev.pid, fd)) {
            Some(h) if self.writer.is_open(&h.key) => h.clone(),
            _ => {
                // A connection older than the trace (or whose open we
                // could not place): join it mid-stream.
                let Some(ends) = endpoints(socket, None) else {
                    return Ok(());
                };
                let key = key_of(&ends, ev.pid, fd);
                let held = match self.join_far_end(&key) {
                    Some(h) => h,
                    None => {
                        if !self.writer.is_open(&key) {
                            self.writer.connection_adopted(key.clone(), &ends);
                            let mut st = Stream::default();
                            st.ends[0] = true;
                            self.streams.insert(key.clone(), st);
                        }
                        Held { key, far: false }
                    }
                };
                self.holders.insert((ev.pid, fd), held.clone());
                held
            }
        };
        // The writer's "outgoing" is from the key's first address.
        let first_to_second = data.outgoing != held.far;
        let st = self.streams.entry(held.key.clone()).or_default();
        let flow = &mut st.flows[usize::from(!first_to_second)];
        let moved = data.total.max(data.shown.len() as u64);
        let pos = if data.outgoing {
            &mut flow.sent
        } else {
            &mut flow.received
        };
        let start = *pos;
        let end = start.saturating_add(moved);
        *pos = end;
        if end <= flow.written {
            return Ok(());
        }
        // Positions never pass `written`, so the new part starts there.
        let from = flow.written.max(start);
        flow.written = end;
        let skip = usize::try_from(from - start).unwrap_or(usize::MAX);
        let captured = data.shown.get(skip..).unwrap_or(&[]);
        self.writer.data_moved(
            &held.key,
            first_to_second,
            captured,
            end - from,
            t_ns,
            comment,
        )
    }

    /// Whether the other end of this datagram already wrote it (then it is
    /// matched and forgotten); otherwise it is remembered for the other
    /// end and the caller writes it.
    fn dgram_seen_at_other_end(
        &mut self,
        ends: &Endpoints,
        outgoing: bool,
        bytes: &[u8],
        t_ns: u64,
    ) -> bool {
        let Endpoints::Ip { local, peer } = ends else {
            return false;
        };
        let canon = |a: &SocketAddr| SocketAddr::new(a.ip().to_canonical(), a.port());
        let (src, dst) = if outgoing {
            (canon(local), canon(peer))
        } else {
            (canon(peer), canon(local))
        };
        let mut h = std::collections::hash_map::DefaultHasher::new();
        bytes.hash(&mut h);
        let key: DgramKey = (src.port(), dst.port(), bytes.len(), h.finish());
        let same = |a: IpAddr, b: IpAddr| a == b || a.is_unspecified() || b.is_unspecified();
        if let Some(q) = self.dgrams.get_mut(&key) {
            if let Some(i) = q.iter().position(|w| {
                w.by_sender != outgoing && same(w.src, src.ip()) && same(w.dst, dst.ip())
            }) {
                q.remove(i);
                self.dgrams_waiting -= 1;
                if q.is_empty() {
                    self.dgrams.remove(&key);
                }
                return true;
            }
        }
        if self.dgrams_waiting >= DGRAM_MATCH_MAX {
            // Forget the old ones: their other end is not traced, or is
            // very late.
            let cutoff = t_ns.saturating_sub(DGRAM_MATCH_NS);
            self.dgrams.retain(|_, q| {
                q.retain(|w| w.t_ns >= cutoff);
                !q.is_empty()
            });
            if self.dgrams.values().map(VecDeque::len).sum::<usize>() >= DGRAM_MATCH_MAX {
                self.dgrams.clear();
            }
            self.dgrams_waiting = self.dgrams.values().map(VecDeque::len).sum();
        }
        self.dgrams.entry(key).or_default().push_back(Waiting {
            by_sender: outgoing,
            t_ns,
            src: src.ip(),
            dst: dst.ip(),
        });
        self.dgrams_waiting += 1;
        false
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
