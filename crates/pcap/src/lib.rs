//! Synthesizes a pcapng capture from traced socket calls.
//!
//! sock-trace never sees packets, only calls: "pid 12 sent 80 bytes on the
//! TCP connection 10.0.0.1:5000 -> 93.184.216.34:80 at time t". This crate
//! turns such calls into the packets a real network stack would have sent,
//! so Wireshark and tshark dissect the file like a capture: streams can be
//! followed, DNS and HTTP are decoded, and no checksum is flagged.
//!
//! # Types
//!
//! - [`PcapWriter`] owns the output and the per-connection TCP state
//!   (sequence and acknowledgement numbers per direction). Each call method
//!   appends the packets that call implies:
//!   [`connection_opened`](PcapWriter::connection_opened) the three-way
//!   handshake, [`data`](PcapWriter::data) one or more data segments,
//!   [`connection_closed`](PcapWriter::connection_closed) the FIN exchange,
//!   [`connection_reset`](PcapWriter::connection_reset) one RST,
//!   [`datagram`](PcapWriter::datagram) one UDP datagram.
//!   [`connection_adopted`](PcapWriter::connection_adopted) registers a
//!   connection that was already open when tracing started: its data then
//!   flows with consistent sequence numbers but without a handshake.
//! - [`Endpoints`] names the two ends: IP socket addresses, or Unix socket
//!   paths. Which call it is passed to decides TCP vs UDP, so the transport
//!   cannot contradict the call (the API sketch's separate `Transport`
//!   argument was dropped for that reason).
//! - The connection key `K` is chosen by the caller (for example
//!   `(pid, fd, generation)`); the writer only hashes and compares it.
//!
//! ```
//! use sock_trace_pcap::{Endpoints, PcapWriter};
//!
//! let t = 1_700_000_000_000_000_000; // ns since the Unix epoch
//! let ends = Endpoints::ip("192.0.2.1:40000".parse().unwrap(), "192.0.2.2:80".parse().unwrap());
//! let mut w = PcapWriter::new(Vec::new(), "sock-trace")?;
//! w.connection_opened((12, 3), &ends, true, t, "pid 12 tid 12 connect(3, ...)")?;
//! w.data(&(12, 3), true, b"GET / HTTP/1.0\r\n\r\n", t + 1_000, "pid 12 tid 12 send(3, ...)")?;
//! w.connection_closed(&(12, 3), true, t + 2_000, "pid 12 tid 12 close(3)")?;
//! let pcapng: Vec<u8> = w.into_inner();
//! # assert_eq!(&pcapng[..4], &[0x0a, 0x0d, 0x0d, 0x0a]);
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # File layout
//!
//! One Section Header Block naming the application (`shb_userappl`), then
//! one Interface Description Block per link type, written the first time a
//! packet of that type is written, then one Enhanced Packet Block per packet,
//! carrying a 64-bit nanosecond timestamp and the caller's comment
//! (`opt_comment`, e.g. `pid 123 tid 124 send(5, ...)`). All blocks are
//! little-endian.
//!
//! Link types are `LINKTYPE_IPV4` (228) and `LINKTYPE_IPV6` (229) rather
//! than `LINKTYPE_RAW` (101): the link type itself then says which IP
//! version follows, so no reader has to guess from the version nibble, and
//! Wireshark's interface list separates the two families. Both interfaces
//! declare `if_tsresol = 9`, so timestamps are nanoseconds since the Unix
//! epoch, exactly the `t_ns` the caller passes.
//!
//! # Unix sockets
//!
//! No pcap link type carries AF_UNIX traffic in a form Wireshark dissects as
//! a stream, so Unix sockets are mapped onto synthetic IPv4 traffic inside
//! the loopback range `127.85.0.0/16` (0x55 = 'U'), which real programs
//! almost never use:
//!
//! - local end `127.85.0.1`, peer end `127.85.0.2`;
//! - a named socket path gets a port in 1024..=49151 derived from a hash
//!   of the path (FNV-1a), so all connections to one server socket share
//!   a "server port"; an unnamed end of a stream connection gets an
//!   ephemeral port `49152 + n % 16384`, `n` counting the writer's Unix
//!   connections, and an unnamed end of a datagram gets 49152;
//! - stream sockets become TCP connections, datagram sockets UDP datagrams;
//! - every packet's comment ends with `[unix local=PATH peer=PATH]`, so the
//!   real socket paths are never lost.
//!
//! Filter them in Wireshark with `ip.addr == 127.85.0.0/16`.
//!
//! # Why not the `pcap-file` crate for writing
//!
//! `pcap-file` 2.0 can write pcapng, but its Enhanced Packet Block writer
//! always encodes the timestamp as nanoseconds whatever `if_tsresol` the
//! interface declares (so correctness depends on the caller keeping the two
//! in step by hand), and it brings `thiserror` and `derive-into-owned`
//! proc macros into the build of what ends up next to an LD_PRELOAD library.
//! The three block types needed here are about a hundred lines
//! (`block.rs`), written from the pcapng specification. `pcap-file` is kept
//! as a dev-dependency: the tests read our files back with it, an
//! independent parser.
//!
//! # Limits
//!
//! - TCP payloads are split into segments of at most 65000 bytes; a
//!   datagram larger than fits in one UDP packet (65507 bytes) is truncated
//!   and its comment says so.
//! - To stay inside the 65535-byte window every segment advertises, the
//!   receiver "acknowledges" with a pure ACK whenever a direction would
//!   otherwise exceed it; data in the opposite direction acknowledges too.
//! - If both ends of a connection are traced, each side's calls produce
//!   their own packets; de-duplicating is up to the caller (sock-trace's
//!   collector writes each byte once, see `crates/collect/src/capture.rs`).
//! - Bytes a call moved but the tracer did not capture are not invented:
//!   [`data_moved`](PcapWriter::data_moved) skips them in sequence space,
//!   so the capture shows a hole where they were.
//!
//! Nothing here panics on any input: lengths are capped before they are
//! narrowed, and sequence numbers wrap as TCP's do.

#![forbid(unsafe_code)]

mod block;
mod packet;

use std::collections::HashMap;
use std::hash::Hash;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use packet::{Segment, TcpFields, TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN};

/// `LINKTYPE_IPV4`: the packet starts with an IPv4 header.
pub const LINKTYPE_IPV4: u16 = 228;
/// `LINKTYPE_IPV6`: the packet starts with an IPv6 header.
pub const LINKTYPE_IPV6: u16 = 229;

/// Local end of every synthetic Unix-socket packet.
pub const UNIX_LOCAL_IP: Ipv4Addr = Ipv4Addr::new(127, 85, 0, 1);
/// Peer end of every synthetic Unix-socket packet.
pub const UNIX_PEER_IP: Ipv4Addr = Ipv4Addr::new(127, 85, 0, 2);

/// Comment on packets the tracer did not see a call for (handshake replies,
/// window ACKs), so readers can tell them from traced calls.
const SYNTHETIC: &str = "synthesized by sock-trace";

/// The two ends of a transfer, from the traced process's point of view.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Endpoints {
    /// An IPv4 or IPv6 socket. IPv4-mapped IPv6 addresses
    /// (`::ffff:a.b.c.d`, as dual-stack sockets report them) are written as
    /// IPv4 when both ends are IPv4 or mapped, because that is what goes on
    /// the wire; if one end is IPv4 and the other genuinely IPv6, the IPv4
    /// end is written as its mapped IPv6 form.
    Ip {
        /// The traced socket's own address (`getsockname`).
        local: SocketAddr,
        /// The other end (`getpeername`, or the datagram's address).
        peer: SocketAddr,
    },
    /// A Unix-domain socket. Paths are as the caller chooses to render them
    /// (e.g. `@name` for the abstract namespace); an empty string means
    /// unnamed. See the crate docs for how they map onto IPv4.
    Unix {
        /// Path bound by the traced socket, or empty.
        local: String,
        /// Path of the other end, or empty.
        peer: String,
    },
}

impl Endpoints {
    /// Shorthand for [`Endpoints::Ip`].
    pub fn ip(local: SocketAddr, peer: SocketAddr) -> Self {
        Endpoints::Ip { local, peer }
    }

    /// Shorthand for [`Endpoints::Unix`].
    pub fn unix(local: impl Into<String>, peer: impl Into<String>) -> Self {
        Endpoints::Unix {
            local: local.into(),
            peer: peer.into(),
        }
    }
}

/// Sequence state of one direction of a TCP connection.
#[derive(Debug, Clone, Copy)]
struct Direction {
    /// Sequence number of the next byte this side sends.
    next_seq: u32,
    /// Bytes sent since the other side last acknowledged.
    unacked: u32,
}

#[derive(Debug)]
struct Conn {
    local: SocketAddr,
    peer: SocketAddr,
    /// `[unix local=... peer=...]`, appended to every comment.
    unix_label: Option<String>,
    /// Local -> peer.
    out: Direction,
    /// Peer -> local.
    inc: Direction,
}

impl Conn {
    /// The sequence state of the side that acts (`by_local`: this end)
    /// and of the other side.
    fn sides(&self, by_local: bool) -> (Direction, Direction) {
        if by_local {
            (self.out, self.inc)
        } else {
            (self.inc, self.out)
        }
    }
}

/// Writes a pcapng stream synthesized from socket calls.
///
/// `K` identifies a connection across calls; pick anything hashable that
/// is unique while the connection is open (a `(pid, fd, generation)`
/// tuple, a `u64`, ...). Each method writes whole blocks, one `write_all`
/// per block; wrap the output in a [`std::io::BufWriter`] when writing to a
/// file.
#[derive(Debug)]
pub struct PcapWriter<W: Write, K = u64> {
    sink: Sink<W>,
    conns: HashMap<K, Conn>,
    /// Counts connections, for initial sequence numbers and Unix ports.
    conn_counter: u64,
    unix_counter: u64,
}

impl<W: Write, K: Eq + Hash> PcapWriter<W, K> {
    /// Starts a pcapng section; `app` is recorded as `shb_userappl`
    /// (Wireshark shows it under Capture File Properties).
    pub fn new(mut out: W, app: &str) -> io::Result<Self> {
        out.write_all(&block::section_header(app))?;
        Ok(PcapWriter {
            sink: Sink {
                out,
                ipv4_interface: None,
                ipv6_interface: None,
                interfaces: 0,
            },
            conns: HashMap::new(),
            conn_counter: 0,
            unix_counter: 0,
        })
    }

    /// Records a new stream connection (TCP, or a Unix stream socket) and
    /// writes its three-way handshake. `initiated_locally` is true for
    /// `connect()` and false for `accept()`. The caller's `comment` goes on
    /// the packet the call caused (the SYN for a connect, the final ACK for
    /// an accept); the others are marked as synthesized.
    ///
    /// A key that is still open is replaced: the caller reused it (e.g. an
    /// fd closed without us seeing the close), so the old state is stale.
    pub fn connection_opened(
        &mut self,
        key: K,
        ends: &Endpoints,
        initiated_locally: bool,
        t_ns: u64,
        comment: &str,
    ) -> io::Result<()> {
        let mut conn = self.new_conn(ends);
        let a_to_b = initiated_locally;
        let (a_out, b_out) = conn.sides(initiated_locally);
        let (syn_comment, ack_comment) = if initiated_locally {
            (comment, SYNTHETIC)
        } else {
            (SYNTHETIC, comment)
        };
        let ack_a = a_out.next_seq.wrapping_add(1);
        let ack_b = b_out.next_seq.wrapping_add(1);
        self.sink.control(
            &conn,
            t_ns,
            &[
                // SYN from the initiator, SYN-ACK from the responder, ACK
                // from the initiator.
                (a_to_b, a_out.next_seq, 0, TCP_SYN, syn_comment),
                (!a_to_b, b_out.next_seq, ack_a, TCP_SYN | TCP_ACK, SYNTHETIC),
                (a_to_b, ack_a, ack_b, TCP_ACK, ack_comment),
            ],
        )?;
        // SYN and FIN each take one sequence number.
        conn.out.next_seq = conn.out.next_seq.wrapping_add(1);
        conn.inc.next_seq = conn.inc.next_seq.wrapping_add(1);
        self.conns.insert(key, conn);
        Ok(())
    }

    /// Records a stream connection that was already open when tracing
    /// started. Writes nothing; later [`data`](Self::data) continues from
    /// arbitrary but consistent sequence numbers, which Wireshark follows
    /// like a capture started mid-connection.
    pub fn connection_adopted(&mut self, key: K, ends: &Endpoints) {
        let conn = self.new_conn(ends);
        self.conns.insert(key, conn);
    }

    /// Whether `key` names a connection this writer knows (opened or
    /// adopted, not yet closed).
    pub fn is_open(&self, key: &K) -> bool {
        self.conns.contains_key(key)
    }

    /// Writes `bytes` sent (`outgoing`) or received on connection `key` as
    /// TCP data segments of at most 65000 bytes each. An empty transfer
    /// writes nothing.
    ///
    /// Fails with [`io::ErrorKind::NotFound`] if `key` was never opened or
    /// adopted: without endpoints there are no packets to write. Callers
    /// that meet a connection mid-stream call
    /// [`connection_adopted`](Self::connection_adopted) first.
    pub fn data(
        &mut self,
        key: &K,
        outgoing: bool,
        bytes: &[u8],
        t_ns: u64,
        comment: &str,
    ) -> io::Result<()> {
        match self.conns.get_mut(key) {
            Some(conn) => self
                .sink
                .data_segments(conn, outgoing, bytes, t_ns, comment),
            None => Err(io::Error::new(
                io::ErrorKind::NotFound,
                "data on a connection that was never opened or adopted",
            )),
        }
    }

    /// Like [`data`](Self::data) for a call that moved `moved` bytes of
    /// which only the first `captured` were recorded (a capture limit):
    /// the captured bytes are written as segments, then the sequence number
    /// of that direction advances over the rest without writing it. The
    /// next segment therefore starts after a hole that Wireshark reports
    /// ("previous segment not captured", `tcp.analysis.lost_segment`),
    /// instead of a stream that looks complete but lacks bytes. `moved`
    /// smaller than `captured.len()` is taken as `captured.len()`.
    pub fn data_moved(
        &mut self,
        key: &K,
        outgoing: bool,
        captured: &[u8],
        moved: u64,
        t_ns: u64,
        comment: &str,
    ) -> io::Result<()> {
        self.data(key, outgoing, captured, t_ns, comment)?;
        let missing = moved.saturating_sub(captured.len() as u64);
        if missing > 0 {
            if let Some(conn) = self.conns.get_mut(key) {
                let tx = if outgoing {
                    &mut conn.out
                } else {
                    &mut conn.inc
                };
                // Sequence numbers are modulo 2^32, as TCP's are.
                tx.next_seq = tx.next_seq.wrapping_add(missing as u32);
            }
        }
        Ok(())
    }

    /// Writes the close of connection `key`: FIN from the side that closed
    /// (`by_local`), FIN+ACK back, and the final ACK. The caller's comment
    /// goes on the first FIN. Closing an unknown key writes nothing: there
    /// are no endpoints to write, and nothing was lost.
    pub fn connection_closed(
        &mut self,
        key: &K,
        by_local: bool,
        t_ns: u64,
        comment: &str,
    ) -> io::Result<()> {
        let Some(conn) = self.conns.remove(key) else {
            return Ok(());
        };
        let (a, b) = conn.sides(by_local);
        let a_to_b = by_local;
        let a_fin = a.next_seq.wrapping_add(1);
        let b_fin = b.next_seq.wrapping_add(1);
        self.sink.control(
            &conn,
            t_ns,
            &[
                (a_to_b, a.next_seq, b.next_seq, TCP_FIN | TCP_ACK, comment),
                (!a_to_b, b.next_seq, a_fin, TCP_FIN | TCP_ACK, SYNTHETIC),
                (a_to_b, a_fin, b_fin, TCP_ACK, SYNTHETIC),
            ],
        )
    }

    /// Writes an abortive close of `key` (for example `close()` with
    /// `SO_LINGER` 0, or `ECONNRESET` seen on a call): one RST from the side
    /// that reset. Unknown keys write nothing.
    pub fn connection_reset(
        &mut self,
        key: &K,
        by_local: bool,
        t_ns: u64,
        comment: &str,
    ) -> io::Result<()> {
        let Some(conn) = self.conns.remove(key) else {
            return Ok(());
        };
        let (a, b) = conn.sides(by_local);
        let rst = (by_local, a.next_seq, b.next_seq, TCP_RST | TCP_ACK, comment);
        self.sink.control(&conn, t_ns, &[rst])
    }

    /// Writes one datagram: UDP for [`Endpoints::Ip`], synthetic UDP on
    /// `127.85.0.0/16` for [`Endpoints::Unix`] (see the crate docs).
    /// Payloads beyond 65507 bytes are truncated, and the comment says so.
    pub fn datagram(
        &mut self,
        ends: &Endpoints,
        outgoing: bool,
        bytes: &[u8],
        t_ns: u64,
        comment: &str,
    ) -> io::Result<()> {
        let (local, peer, label) = match ends {
            Endpoints::Ip { local, peer } => {
                let (l, p) = normalize_ip_pair(*local, *peer);
                (l, p, None)
            }
            Endpoints::Unix { local, peer } => (
                SocketAddr::new(UNIX_LOCAL_IP.into(), unix_port(local, None)),
                SocketAddr::new(UNIX_PEER_IP.into(), unix_port(peer, None)),
                Some(unix_label(local, peer)),
            ),
        };
        let (src, dst) = if outgoing {
            (local, peer)
        } else {
            (peer, local)
        };
        let mut payload = bytes;
        let mut note = String::new();
        if payload.len() > packet::MAX_UDP_PAYLOAD {
            note = format!(" [truncated from {} bytes]", payload.len());
            payload = &payload[..packet::MAX_UDP_PAYLOAD];
        }
        let pkt = packet::udp_packet(&Segment { src, dst, payload });
        let comment = full_comment(comment, &note, &label);
        self.sink.packet(src.ip(), &pkt, t_ns, &comment)
    }

    /// Flushes the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.sink.out.flush()
    }

    /// The underlying writer.
    pub fn get_ref(&self) -> &W {
        &self.sink.out
    }

    /// Gives the underlying writer back, without flushing it.
    pub fn into_inner(self) -> W {
        self.sink.out
    }

    fn new_conn(&mut self, ends: &Endpoints) -> Conn {
        self.conn_counter = self.conn_counter.wrapping_add(1);
        // Deterministic "random" initial sequence numbers keep output
        // reproducible while making the two directions clearly distinct.
        let r = splitmix64(self.conn_counter);
        let dir = |seq: u32| Direction {
            next_seq: seq,
            unacked: 0,
        };
        let (local, peer, unix_label) = match ends {
            Endpoints::Ip { local, peer } => {
                let (l, p) = normalize_ip_pair(*local, *peer);
                (l, p, None)
            }
            Endpoints::Unix { local, peer } => {
                let n = self.unix_counter;
                self.unix_counter = self.unix_counter.wrapping_add(1);
                (
                    SocketAddr::new(UNIX_LOCAL_IP.into(), unix_port(local, Some(n))),
                    SocketAddr::new(UNIX_PEER_IP.into(), unix_port(peer, Some(n))),
                    Some(unix_label(local, peer)),
                )
            }
        };
        Conn {
            local,
            peer,
            unix_label,
            out: dir(r as u32),
            inc: dir((r >> 32) as u32),
        }
    }
}

/// The output and its interfaces, split from the connection table so a
/// connection can be borrowed while packets are written.
#[derive(Debug)]
struct Sink<W> {
    out: W,
    ipv4_interface: Option<u32>,
    ipv6_interface: Option<u32>,
    interfaces: u32,
}

impl<W: Write> Sink<W> {
    fn data_segments(
        &mut self,
        conn: &mut Conn,
        outgoing: bool,
        bytes: &[u8],
        t_ns: u64,
        comment: &str,
    ) -> io::Result<()> {
        let parts = bytes.len().div_ceil(packet::MAX_TCP_PAYLOAD);
        for (i, chunk) in bytes.chunks(packet::MAX_TCP_PAYLOAD).enumerate() {
            let (mut tx, mut rx) = if outgoing {
                (conn.out, conn.inc)
            } else {
                (conn.inc, conn.out)
            };
            let len = chunk.len() as u32; // <= MAX_TCP_PAYLOAD
            if u64::from(tx.unacked) + u64::from(len) >= u64::from(packet::TCP_WINDOW) {
                // The receiver must have acknowledged before the sender
                // could exceed the advertised window.
                let ack = (!outgoing, rx.next_seq, tx.next_seq, TCP_ACK, SYNTHETIC);
                self.control(conn, t_ns, &[ack])?;
                tx.unacked = 0;
            }
            let note = if parts > 1 {
                format!(" [segment {}/{}]", i + 1, parts)
            } else {
                String::new()
            };
            let c = full_comment(comment, &note, &None);
            self.tcp(
                conn,
                outgoing,
                tx.next_seq,
                rx.next_seq,
                TCP_PSH | TCP_ACK,
                chunk,
                t_ns,
                &c,
            )?;
            tx.next_seq = tx.next_seq.wrapping_add(len);
            tx.unacked = tx.unacked.saturating_add(len);
            // This segment acknowledged everything the other side sent.
            rx.unacked = 0;
            if outgoing {
                (conn.out, conn.inc) = (tx, rx);
            } else {
                (conn.inc, conn.out) = (tx, rx);
            }
        }
        Ok(())
    }

    /// Writes segments without payload (handshake, window ACK, close,
    /// reset), the n-th at `t_ns + n`: `(local_to_peer, seq, ack, flags,
    /// comment)` each.
    fn control(
        &mut self,
        conn: &Conn,
        t_ns: u64,
        segments: &[(bool, u32, u32, u8, &str)],
    ) -> io::Result<()> {
        for (n, &(local_to_peer, seq, ack, flags, comment)) in segments.iter().enumerate() {
            let t = t_ns.saturating_add(n as u64);
            self.tcp(conn, local_to_peer, seq, ack, flags, &[], t, comment)?;
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn tcp(
        &mut self,
        conn: &Conn,
        local_to_peer: bool,
        seq: u32,
        ack: u32,
        flags: u8,
        payload: &[u8],
        t_ns: u64,
        comment: &str,
    ) -> io::Result<()> {
        let (src, dst) = if local_to_peer {
            (conn.local, conn.peer)
        } else {
            (conn.peer, conn.local)
        };
        let pkt = packet::tcp_packet(
            &Segment { src, dst, payload },
            &TcpFields { seq, ack, flags },
        );
        let comment = full_comment(comment, "", &conn.unix_label);
        self.packet(src.ip(), &pkt, t_ns, &comment)
    }

    fn packet(&mut self, family: IpAddr, pkt: &[u8], t_ns: u64, comment: &str) -> io::Result<()> {
        let id = self.interface_for(family.is_ipv4())?;
        self.out
            .write_all(&block::enhanced_packet(id, t_ns, pkt, comment))
    }

    fn interface_for(&mut self, v4: bool) -> io::Result<u32> {
        let slot = if v4 {
            self.ipv4_interface
        } else {
            self.ipv6_interface
        };
        if let Some(id) = slot {
            return Ok(id);
        }
        let blk = if v4 {
            block::interface(
                LINKTYPE_IPV4,
                "sock-trace-ipv4",
                "IPv4 packets synthesized from traced socket calls (Unix sockets on 127.85.0.0/16)",
            )
        } else {
            block::interface(
                LINKTYPE_IPV6,
                "sock-trace-ipv6",
                "IPv6 packets synthesized from traced socket calls",
            )
        };
        self.out.write_all(&blk)?;
        // Only counted once written, so a failed write is retried next time
        // instead of leaving packets pointing at a missing interface.
        let id = self.interfaces;
        self.interfaces += 1;
        if v4 {
            self.ipv4_interface = Some(id);
        } else {
            self.ipv6_interface = Some(id);
        }
        Ok(id)
    }
}

fn full_comment(comment: &str, note: &str, label: &Option<String>) -> String {
    let mut s = String::with_capacity(comment.len() + note.len() + 64);
    s.push_str(comment);
    s.push_str(note);
    if let Some(l) = label {
        if !s.is_empty() {
            s.push(' ');
        }
        s.push_str(l);
    }
    s
}

fn unix_label(local: &str, peer: &str) -> String {
    let show = |p: &str| {
        if p.is_empty() {
            "(unnamed)".to_string()
        } else {
            p.to_string()
        }
    };
    format!("[unix local={} peer={}]", show(local), show(peer))
}

/// Port for one end of a Unix socket; see the crate docs.
fn unix_port(path: &str, stream_index: Option<u64>) -> u16 {
    if path.is_empty() {
        return match stream_index {
            Some(n) => 49152 + (n % 16384) as u16,
            None => 49152,
        };
    }
    // FNV-1a: tiny, stable across Rust versions (unlike std's hasher).
    let mut h: u32 = 0x811c_9dc5;
    for b in path.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    1024 + (h % (49152 - 1024)) as u16
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Puts both ends in one family, preferring what would be on the wire.
fn normalize_ip_pair(local: SocketAddr, peer: SocketAddr) -> (SocketAddr, SocketAddr) {
    let as_v4 = |a: SocketAddr| -> Option<SocketAddr> {
        match a.ip() {
            IpAddr::V4(_) => Some(a),
            IpAddr::V6(v6) => v6
                .to_ipv4_mapped()
                .map(|v4| SocketAddr::new(v4.into(), a.port())),
        }
    };
    if let (Some(l), Some(p)) = (as_v4(local), as_v4(peer)) {
        return (l, p);
    }
    let as_v6 = |a: SocketAddr| match a.ip() {
        IpAddr::V4(v4) => SocketAddr::new(v4.to_ipv6_mapped().into(), a.port()),
        IpAddr::V6(_) => a,
    };
    (as_v6(local), as_v6(peer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_addresses_become_ipv4() {
        let (l, p) = normalize_ip_pair(
            "[::ffff:10.0.0.1]:5".parse().unwrap(),
            "10.0.0.2:6".parse().unwrap(),
        );
        assert_eq!(l, "10.0.0.1:5".parse::<SocketAddr>().unwrap());
        assert_eq!(p, "10.0.0.2:6".parse::<SocketAddr>().unwrap());
        let (l, p) = normalize_ip_pair(
            "10.0.0.1:5".parse().unwrap(),
            "[2001:db8::1]:6".parse().unwrap(),
        );
        assert_eq!(l, "[::ffff:10.0.0.1]:5".parse::<SocketAddr>().unwrap());
        assert!(p.is_ipv6());
    }

    #[test]
    fn unix_ports_stay_in_their_ranges() {
        for p in ["/tmp/a", "@abstract", "/run/dbus/system_bus_socket", "x"] {
            let port = unix_port(p, Some(3));
            assert!((1024..49152).contains(&port), "{port}");
        }
        assert_eq!(unix_port("", Some(16384 + 5)), 49157);
        assert_eq!(unix_port("", None), 49152);
    }
}
