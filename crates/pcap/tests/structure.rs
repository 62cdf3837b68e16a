//! Reads the files back with an independent pcapng parser (`pcap-file`)
//! and re-derives every length, checksum and sequence number by hand.
//! Needs no external tool.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use pcap_file::pcapng::blocks::enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption};
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption;
use pcap_file::pcapng::blocks::section_header::SectionHeaderOption;
use pcap_file::pcapng::{Block, PcapNgReader};
use pcap_file::DataLink;

fn csum(chunks: &[&[u8]]) -> u16 {
    let mut acc: u64 = 0;
    for c in chunks {
        let mut it = c.chunks(2);
        for w in &mut it {
            let hi = u64::from(w[0]) << 8;
            let lo = w.get(1).map_or(0, |b| u64::from(*b));
            acc += hi | lo;
        }
    }
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

struct Parsed {
    src: SocketAddr,
    dst: SocketAddr,
    proto: u8,
    seq: u32,
    ack: u32,
    flags: u8,
    payload: Vec<u8>,
}

/// Parses one packet, asserting every length and checksum.
fn parse(pkt: &[u8], link: DataLink) -> Parsed {
    let (src_ip, dst_ip, proto, l4, pseudo): (IpAddr, IpAddr, u8, &[u8], Vec<u8>) = match link {
        DataLink::IPV4 => {
            assert_eq!(pkt[0], 0x45);
            assert_eq!(
                u16::from_be_bytes([pkt[2], pkt[3]]) as usize,
                pkt.len(),
                "IPv4 total length"
            );
            assert_eq!(csum(&[&pkt[..20]]), 0, "IPv4 header checksum");
            let s: [u8; 4] = pkt[12..16].try_into().unwrap();
            let d: [u8; 4] = pkt[16..20].try_into().unwrap();
            let l4 = &pkt[20..];
            // Pseudo-header: source, destination, zero, protocol, length.
            let ph = [&s[..], &d, &[0, pkt[9]], &(l4.len() as u16).to_be_bytes()].concat();
            (s.into(), d.into(), pkt[9], l4, ph)
        }
        DataLink::IPV6 => {
            assert_eq!(pkt[0] >> 4, 6);
            assert_eq!(
                u16::from_be_bytes([pkt[4], pkt[5]]) as usize,
                pkt.len() - 40,
                "IPv6 payload length"
            );
            let s: [u8; 16] = pkt[8..24].try_into().unwrap();
            let d: [u8; 16] = pkt[24..40].try_into().unwrap();
            let l4 = &pkt[40..];
            // Pseudo-header: source, destination, length, zeros, next header.
            let ph = [
                &s[..],
                &d,
                &(l4.len() as u32).to_be_bytes(),
                &[0, 0, 0, pkt[6]],
            ]
            .concat();
            (s.into(), d.into(), pkt[6], l4, ph)
        }
        other => panic!("unexpected link type {other:?}"),
    };
    assert_eq!(csum(&[&pseudo, l4]), 0, "transport checksum");
    let sport = u16::from_be_bytes([l4[0], l4[1]]);
    let dport = u16::from_be_bytes([l4[2], l4[3]]);
    let src = SocketAddr::new(src_ip, sport);
    let dst = SocketAddr::new(dst_ip, dport);
    match proto {
        6 => {
            assert_eq!(l4[12] >> 4, 5, "TCP data offset");
            Parsed {
                src,
                dst,
                proto,
                seq: u32::from_be_bytes(l4[4..8].try_into().unwrap()),
                ack: u32::from_be_bytes(l4[8..12].try_into().unwrap()),
                flags: l4[13],
                payload: l4[20..].to_vec(),
            }
        }
        17 => {
            assert_eq!(
                u16::from_be_bytes([l4[4], l4[5]]) as usize,
                l4.len(),
                "UDP length"
            );
            Parsed {
                src,
                dst,
                proto,
                seq: 0,
                ack: 0,
                flags: 0,
                payload: l4[8..].to_vec(),
            }
        }
        p => panic!("unexpected protocol {p}"),
    }
}

#[test]
fn files_parse_back_with_consistent_headers_and_streams() {
    for sc in common::all() {
        let mut r = PcapNgReader::new(&sc.bytes[..]).unwrap_or_else(|e| panic!("{}: {e}", sc.name));
        assert!(r.section().options.iter().any(
            |o| matches!(o, SectionHeaderOption::UserApplication(a) if a == "sock-trace-pcap tests")
        ));
        let local: SocketAddr = sc.local.parse().unwrap();
        let peer: SocketAddr = sc.peer.parse().unwrap();
        let mut links = Vec::new();
        let mut streams: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
        // Next expected sequence number per direction, learnt from the
        // first segment (a SYN, or data on an adopted connection).
        let mut next: [Option<u32>; 2] = [None, None];
        let mut packets = 0;
        while let Some(block) = r.next_block() {
            match block.unwrap_or_else(|e| panic!("{}: {e}", sc.name)) {
                Block::InterfaceDescription(idb) => {
                    assert!(
                        idb.options
                            .contains(&InterfaceDescriptionOption::IfTsResol(9)),
                        "{}: if_tsresol",
                        sc.name
                    );
                    assert!(
                        !links.contains(&idb.linktype),
                        "{}: one IDB per link type",
                        sc.name
                    );
                    links.push(idb.linktype);
                }
                Block::EnhancedPacket(epb) => {
                    packets += 1;
                    assert!(
                        epb.timestamp >= Duration::from_nanos(common::T0),
                        "{}: timestamp",
                        sc.name
                    );
                    assert!(epb.timestamp < Duration::from_nanos(common::T0 + 60_000_000_000));
                    assert_eq!(epb.original_len as usize, epb.data.len());
                    let comment = epb.options.iter().find_map(|o| match o {
                        EnhancedPacketOption::Comment(c) => Some(c.to_string()),
                        _ => None,
                    });
                    let comment = comment
                        .unwrap_or_else(|| panic!("{}: every packet has a comment", sc.name));
                    if sc.name == "unix_stream" {
                        assert!(
                            comment.ends_with(&format!(
                                "[unix local=(unnamed) peer={}]",
                                common::UNIX_PATH
                            )),
                            "{comment}"
                        );
                    }
                    let link = links[epb.interface_id as usize];
                    let p = parse(&epb.data, link);
                    let dir = if p.src == local && p.dst == peer {
                        0
                    } else if p.src == peer && p.dst == local {
                        1
                    } else {
                        panic!("{}: unexpected addresses {} -> {}", sc.name, p.src, p.dst)
                    };
                    if p.proto == 17 {
                        streams[dir].extend_from_slice(&p.payload);
                        continue;
                    }
                    let exp = *next[dir].get_or_insert(p.seq);
                    assert_eq!(p.seq, exp, "{}: seq continuity", sc.name);
                    if p.flags & 0x10 != 0 {
                        if let Some(other) = next[1 - dir] {
                            assert_eq!(p.ack, other, "{}: ack = peer's next seq", sc.name);
                        }
                    } else {
                        assert_eq!(p.flags, 0x02, "only the first SYN lacks ACK");
                        assert!(next[1 - dir].is_none(), "the SYN comes first");
                    }
                    let syn_fin = u32::from(p.flags & 0x03 != 0);
                    next[dir] = Some(exp.wrapping_add(p.payload.len() as u32 + syn_fin));
                    assert!(p.payload.len() <= 65_000);
                    streams[dir].extend_from_slice(&p.payload);
                }
                other => panic!("{}: unexpected block {other:?}", sc.name),
            }
        }
        assert!(packets > 0);
        let mut want: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
        for (from_local, bytes) in &sc.exchange {
            want[usize::from(!*from_local)].extend_from_slice(bytes);
        }
        assert!(
            streams[0] == want[0],
            "{}: local->peer bytes differ",
            sc.name
        );
        assert!(
            streams[1] == want[1],
            "{}: peer->local bytes differ",
            sc.name
        );
    }
}

/// Calls `f` with each packet of a pcapng file, in order.
fn for_each_packet(bytes: &[u8], mut f: impl FnMut(&EnhancedPacketBlock)) {
    let mut r = PcapNgReader::new(bytes).unwrap();
    while let Some(b) = r.next_block() {
        if let Block::EnhancedPacket(epb) = b.unwrap() {
            f(&epb);
        }
    }
}

#[test]
fn handshake_and_close_shape() {
    let sc = common::http_v4();
    let mut flags = Vec::new();
    for_each_packet(&sc.bytes, |epb| {
        flags.push(parse(&epb.data, DataLink::IPV4).flags)
    });
    // SYN, SYN-ACK, ACK, request, response, FIN-ACK, FIN-ACK, ACK.
    assert_eq!(flags, [0x02, 0x12, 0x10, 0x18, 0x18, 0x11, 0x11, 0x10]);
}

#[test]
fn accept_side_handshake_and_reset() {
    let sc = common::http_accept();
    let mut seen = Vec::new();
    for_each_packet(&sc.bytes, |epb| {
        let p = parse(&epb.data, DataLink::IPV4);
        let c = epb.options.iter().find_map(|o| match o {
            EnhancedPacketOption::Comment(c) => Some(c.to_string()),
            _ => None,
        });
        seen.push((p.src.to_string(), p.flags, c.unwrap()));
    });
    let (l, pe) = (sc.local.as_str(), sc.peer.as_str());
    let syn = "synthesized by sock-trace";
    let want: Vec<(&str, u8, &str)> = vec![
        (pe, 0x02, syn),
        (l, 0x12, syn),
        (pe, 0x10, "pid 9 tid 9 accept(3, ...) = 4"),
        (pe, 0x18, "pid 9 tid 9 recv(4, ...)"),
        (l, 0x18, "pid 9 tid 9 send(4, ...)"),
        (l, 0x14, "pid 9 tid 9 close(4) with SO_LINGER 0"),
    ];
    let got: Vec<(&str, u8, &str)> = seen
        .iter()
        .map(|(a, f, c)| (a.as_str(), *f, c.as_str()))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn data_on_unknown_connection_is_an_error_not_a_panic() {
    let mut w: sock_trace_pcap::PcapWriter<Vec<u8>> =
        sock_trace_pcap::PcapWriter::new(Vec::new(), "t").unwrap();
    let e = w.data(&5, true, b"x", 0, "").unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
    w.connection_closed(&5, true, 0, "").unwrap();
    w.connection_reset(&5, true, 0, "").unwrap();
}

#[test]
fn oversized_datagram_is_truncated_and_says_so() {
    let ends = sock_trace_pcap::Endpoints::unix("/tmp/a", "");
    let mut w: sock_trace_pcap::PcapWriter<Vec<u8>> =
        sock_trace_pcap::PcapWriter::new(Vec::new(), "t").unwrap();
    w.datagram(&ends, true, &vec![7u8; 100_000], u64::MAX, "sendto")
        .unwrap();
    let bytes = w.into_inner();
    let mut seen = false;
    for_each_packet(&bytes, |epb| {
        let p = parse(&epb.data, DataLink::IPV4);
        assert_eq!(p.payload.len(), 65_507);
        assert!(epb.options.iter().any(|o| matches!(o, EnhancedPacketOption::Comment(c) if c.contains("truncated from 100000 bytes") && c.contains("[unix local=/tmp/a peer=(unnamed)]"))));
        seen = true;
    });
    assert!(seen);
}

#[test]
fn write_errors_surface() {
    struct Full;
    impl std::io::Write for Full {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk full"))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    assert!(sock_trace_pcap::PcapWriter::<_, u64>::new(Full, "t").is_err());
}
