//! IPv4/IPv6 packets carrying one TCP segment or UDP datagram, with the
//! length and checksum fields a real stack would have put there (RFC 791,
//! RFC 8200, RFC 9293, RFC 768), so dissectors raise no checksum alarms.

use std::net::{IpAddr, SocketAddr};

pub(crate) const PROTO_TCP: u8 = 6;
pub(crate) const PROTO_UDP: u8 = 17;

pub(crate) const TCP_FIN: u8 = 0x01;
pub(crate) const TCP_SYN: u8 = 0x02;
pub(crate) const TCP_RST: u8 = 0x04;
pub(crate) const TCP_PSH: u8 = 0x08;
pub(crate) const TCP_ACK: u8 = 0x10;

const TCP_HEADER_LEN: usize = 20;
const UDP_HEADER_LEN: usize = 8;
const IPV4_HEADER_LEN: usize = 20;

/// The window every synthetic segment advertises; the writer inserts ACKs
/// so no side ever has more than this in flight.
pub(crate) const TCP_WINDOW: u16 = 65_535;

/// One's-complement sum (RFC 1071) folded to 16 bits, not yet inverted.
fn sum16(mut acc: u32, bytes: &[u8]) -> u32 {
    let mut chunks = bytes.chunks_exact(2);
    for c in &mut chunks {
        acc += u32::from(u16::from_be_bytes([c[0], c[1]]));
        // Folding as we go keeps `acc` from overflowing on large payloads.
        acc = (acc & 0xffff) + (acc >> 16);
    }
    if let [last] = chunks.remainder() {
        acc += u32::from(*last) << 8;
    }
    acc
}

fn finish_sum(mut acc: u32) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// A transport segment plus the addresses it travels between; both
/// addresses must be of the same family (the writer guarantees it).
pub(crate) struct Segment<'a> {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub payload: &'a [u8],
}

/// TCP header fields that vary between segments.
pub(crate) struct TcpFields {
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
}

pub(crate) fn tcp_packet(seg: &Segment<'_>, f: &TcpFields) -> Vec<u8> {
    let mut l4 = Vec::with_capacity(TCP_HEADER_LEN + seg.payload.len());
    l4.extend_from_slice(&seg.src.port().to_be_bytes());
    l4.extend_from_slice(&seg.dst.port().to_be_bytes());
    l4.extend_from_slice(&f.seq.to_be_bytes());
    // RFC 9293: the ACK field is zero unless the ACK flag is set.
    let ack = if f.flags & TCP_ACK != 0 { f.ack } else { 0 };
    l4.extend_from_slice(&ack.to_be_bytes());
    l4.push((TCP_HEADER_LEN as u8 / 4) << 4);
    l4.push(f.flags);
    l4.extend_from_slice(&TCP_WINDOW.to_be_bytes());
    l4.extend_from_slice(&[0, 0]); // checksum, patched below
    l4.extend_from_slice(&[0, 0]); // urgent pointer
    l4.extend_from_slice(seg.payload);
    let csum = finish_sum(sum16(pseudo_header_sum(seg, PROTO_TCP, l4.len()), &l4));
    l4[16..18].copy_from_slice(&csum.to_be_bytes());
    ip_packet(seg, PROTO_TCP, &l4)
}

pub(crate) fn udp_packet(seg: &Segment<'_>) -> Vec<u8> {
    let len = UDP_HEADER_LEN + seg.payload.len();
    let mut l4 = Vec::with_capacity(len);
    l4.extend_from_slice(&seg.src.port().to_be_bytes());
    l4.extend_from_slice(&seg.dst.port().to_be_bytes());
    // The writer caps payloads at MAX_UDP_PAYLOAD, so this fits.
    l4.extend_from_slice(&(len as u16).to_be_bytes());
    l4.extend_from_slice(&[0, 0]);
    l4.extend_from_slice(seg.payload);
    let mut csum = finish_sum(sum16(pseudo_header_sum(seg, PROTO_UDP, len), &l4));
    // A computed zero is sent as all ones: zero means "no checksum" in
    // IPv4 and is forbidden in IPv6.
    if csum == 0 {
        csum = 0xffff;
    }
    l4[6..8].copy_from_slice(&csum.to_be_bytes());
    ip_packet(seg, PROTO_UDP, &l4)
}

/// Largest UDP payload that fits an IPv4 datagram (65535 - 20 - 8); used
/// for IPv6 too so one limit covers both families.
pub(crate) const MAX_UDP_PAYLOAD: usize = 65_507;

/// TCP payload per synthetic segment, below both families' limits.
pub(crate) const MAX_TCP_PAYLOAD: usize = 65_000;

fn pseudo_header_sum(seg: &Segment<'_>, proto: u8, l4_len: usize) -> u32 {
    let mut acc = 0u32;
    match (seg.src.ip(), seg.dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            acc = sum16(acc, &s.octets());
            acc = sum16(acc, &d.octets());
        }
        (s, d) => {
            acc = sum16(acc, &v6_octets(s));
            acc = sum16(acc, &v6_octets(d));
        }
    }
    // Both forms (IPv4's 16-bit length, IPv6's 32-bit length) add up to the
    // same one's-complement sum for lengths below 65536.
    acc += u32::from(proto);
    acc += (l4_len as u32) & 0xffff;
    acc += (l4_len as u32) >> 16;
    acc
}

fn v6_octets(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V6(a) => a.octets(),
        IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
    }
}

fn ip_packet(seg: &Segment<'_>, proto: u8, l4: &[u8]) -> Vec<u8> {
    match (seg.src.ip(), seg.dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let total = IPV4_HEADER_LEN + l4.len();
            let mut p = Vec::with_capacity(total);
            p.push(0x45); // version 4, 5 words of header
            p.push(0); // DSCP/ECN
            p.extend_from_slice(&(total as u16).to_be_bytes());
            // Identification only matters for fragments; we never fragment
            // (DF is set), so a constant is legitimate (RFC 6864).
            p.extend_from_slice(&[0, 0]);
            p.extend_from_slice(&0x4000u16.to_be_bytes()); // DF, offset 0
            p.push(64); // TTL
            p.push(proto);
            p.extend_from_slice(&[0, 0]); // header checksum, patched below
            p.extend_from_slice(&s.octets());
            p.extend_from_slice(&d.octets());
            let csum = finish_sum(sum16(0, &p));
            p[10..12].copy_from_slice(&csum.to_be_bytes());
            p.extend_from_slice(l4);
            p
        }
        (s, d) => {
            let mut p = Vec::with_capacity(40 + l4.len());
            p.extend_from_slice(&0x6000_0000u32.to_be_bytes()); // version 6
            p.extend_from_slice(&(l4.len() as u16).to_be_bytes());
            p.push(proto); // next header
            p.push(64); // hop limit
            p.extend_from_slice(&v6_octets(s));
            p.extend_from_slice(&v6_octets(d));
            p.extend_from_slice(l4);
            p
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_header_checksum_verifies() {
        let seg = Segment {
            src: "10.0.0.1:1234".parse().unwrap(),
            dst: "10.0.0.2:80".parse().unwrap(),
            payload: b"abc",
        };
        let p = udp_packet(&seg);
        assert_eq!(finish_sum(sum16(0, &p[..20])), 0);
        assert_eq!(u16::from_be_bytes([p[2], p[3]]) as usize, p.len());
    }

    #[test]
    fn tcp_checksum_verifies_for_odd_lengths() {
        for payload in [&b""[..], b"a", b"ab", b"abc"] {
            let seg = Segment {
                src: "[2001:db8::1]:1".parse().unwrap(),
                dst: "[2001:db8::2]:2".parse().unwrap(),
                payload,
            };
            let p = tcp_packet(
                &seg,
                &TcpFields {
                    seq: 1,
                    ack: 2,
                    flags: TCP_ACK,
                },
            );
            let l4 = &p[40..];
            assert_eq!(
                finish_sum(sum16(pseudo_header_sum(&seg, PROTO_TCP, l4.len()), l4)),
                0
            );
        }
    }
}
