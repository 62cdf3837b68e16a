//! Socket option values by level and name. Options not listed here are
//! shown by size: 4 bytes as an integer, anything else as bytes.

use crate::calls::{sock_type, sym};
use crate::value::{Field, Value};
use sock_trace_xlat::{self as x, PlatformTables};
use std::net::Ipv4Addr;

fn i32_at(b: &[u8], off: usize) -> Option<i32> {
    Some(i32::from_ne_bytes(b.get(off..off + 4)?.try_into().ok()?))
}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    i32_at(b, off).map(|v| v as u32)
}

fn i64_at(b: &[u8], off: usize) -> Option<i64> {
    Some(i64::from_ne_bytes(b.get(off..off + 8)?.try_into().ok()?))
}

fn ipv4_at(b: &[u8], off: usize) -> Option<Value> {
    let s = b.get(off..off + 4)?;
    Some(Value::Ip(Ipv4Addr::new(s[0], s[1], s[2], s[3]).into()))
}

fn generic(b: &[u8]) -> Value {
    match i32_at(b, 0) {
        Some(v) if b.len() == 4 => Value::Int(v as i64),
        _ => Value::Bytes {
            shown: b.to_vec(),
            total: b.len() as u64,
        },
    }
}

/// An option value. The structured decoders below are keyed by Linux's
/// numbers; another platform's values are shown as integers or bytes until
/// its own decoders join (see `sock_trace_xlat::platform`).
pub(crate) fn value(t: &PlatformTables, level: i32, name: i32, b: &[u8]) -> Value {
    t.linux_layouts
        .then(|| decode(level, name, b))
        .flatten()
        .unwrap_or_else(|| generic(b))
}

fn decode(level: i32, name: i32, b: &[u8]) -> Option<Value> {
    let f = Field::new;
    Some(match (level, name) {
        (libc::SOL_SOCKET, libc::SO_TYPE) => sock_type(i32_at(b, 0)? as i64),
        (libc::SOL_SOCKET, libc::SO_DOMAIN) => sym(&x::AF, i32_at(b, 0)? as i64),
        (libc::SOL_SOCKET, libc::SO_PROTOCOL) => sym(&x::IPPROTO, i32_at(b, 0)? as i64),
        (libc::SOL_SOCKET, libc::SO_ERROR) => {
            let e = i32_at(b, 0)?;
            match x::errno_name(e) {
                Some(n) if e != 0 => Value::Sym {
                    name: n,
                    raw: e as i64,
                },
                _ => Value::Int(e as i64),
            }
        }
        (libc::SOL_SOCKET, libc::SO_LINGER) => Value::Struct(vec![
            f("l_onoff", Value::Int(i32_at(b, 0)? as i64)),
            f("l_linger", Value::Int(i32_at(b, 4)? as i64)),
        ]),
        (libc::SOL_SOCKET, libc::SO_RCVTIMEO | libc::SO_SNDTIMEO) => {
            let (s, us) = (i64_at(b, 0)?, i64_at(b, 8)?);
            Value::Duration(
                (s.max(0) as u64)
                    .saturating_mul(1_000_000_000)
                    .saturating_add(us.max(0) as u64 * 1000),
            )
        }
        (libc::SOL_SOCKET, libc::SO_BINDTODEVICE) | (libc::IPPROTO_TCP, libc::TCP_CONGESTION) => {
            let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
            Value::Str(b[..end].to_vec())
        }
        (libc::SOL_SOCKET, libc::SO_PEERCRED) => Value::Struct(vec![
            f("pid", Value::Int(i32_at(b, 0)? as i64)),
            f("uid", Value::Int(u32_at(b, 4)? as i64)),
            f("gid", Value::Int(u32_at(b, 8)? as i64)),
        ]),
        (libc::IPPROTO_IP, libc::IP_ADD_MEMBERSHIP | libc::IP_DROP_MEMBERSHIP) => {
            let mut fields = vec![
                f("multiaddr", ipv4_at(b, 0)?),
                f("interface", ipv4_at(b, 4)?),
            ];
            if b.len() >= 12 {
                fields.push(f("ifindex", Value::Int(i32_at(b, 8)? as i64)));
            }
            Value::Struct(fields)
        }
        (libc::IPPROTO_IP, libc::IP_MULTICAST_IF) if b.len() == 4 => ipv4_at(b, 0)?,
        (libc::IPPROTO_IPV6, libc::IPV6_ADD_MEMBERSHIP | libc::IPV6_DROP_MEMBERSHIP) => {
            let a: [u8; 16] = b.get(0..16)?.try_into().ok()?;
            Value::Struct(vec![
                f("multiaddr", Value::Ip(std::net::Ipv6Addr::from(a).into())),
                f("interface", Value::Int(u32_at(b, 16)? as i64)),
            ])
        }
        (libc::IPPROTO_TCP, libc::TCP_INFO) if b.len() >= 8 => {
            // struct tcp_info: u8 state, ca_state, retransmits, probes,
            // backoff, options, wscale, flags; then u32s from offset 8.
            let u = |i: usize| {
                u32_at(b, 8 + i * 4).map_or(Value::Unavailable("short"), |v| Value::Int(v as i64))
            };
            // The u64 counters that follow (Linux 4.x+), when present.
            let q = |off: usize| {
                b.get(off..off + 8)
                    .map_or(Value::Unavailable("short"), |s| {
                        Value::Int(u64::from_ne_bytes(s.try_into().unwrap_or([0; 8])) as i64)
                    })
            };
            let mut fields = vec![
                f("state", sym(&x::TCP_STATE, b[0] as i64)),
                f("ca_state", Value::Int(b[1] as i64)),
                f("retransmits", Value::Int(b[2] as i64)),
                f("rto", u(0)),
                f("ato", u(1)),
                f("snd_mss", u(2)),
                f("rcv_mss", u(3)),
                f("unacked", u(4)),
                f("lost", u(6)),
                f("retrans", u(7)),
                f("pmtu", u(13)),
                f("rtt", u(15)),
                f("rttvar", u(16)),
                f("snd_ssthresh", u(17)),
                f("snd_cwnd", u(18)),
                f("advmss", u(19)),
                f("rcv_rtt", u(21)),
                f("rcv_space", u(22)),
                f("total_retrans", u(23)),
            ];
            // bytes_acked and bytes_received (offsets 120 and 128), only
            // when the kernel returned them.
            if b.len() >= 136 {
                fields.push(f("bytes_acked", q(120)));
                fields.push(f("bytes_received", q(128)));
            }
            Value::Struct(fields)
        }
        (libc::SOL_SOCKET, libc::SO_TIMESTAMPING) => {
            let fl = crate::cmsg::timestamping_flags(u32_at(b, 0)?);
            // struct so_timestamping { int flags; int bind_phc; }
            match i32_at(b, 4) {
                Some(phc) if b.len() >= 8 => {
                    Value::Struct(vec![f("flags", fl), f("bind_phc", Value::Int(phc as i64))])
                }
                _ => fl,
            }
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_whole_tcp_info_shows_rtt_and_counters() {
        let mut b = vec![0u8; 232];
        b[0] = 1; // TCP_ESTABLISHED
        let put =
            |b: &mut Vec<u8>, off: usize, v: u32| b[off..off + 4].copy_from_slice(&v.to_ne_bytes());
        put(&mut b, 8 + 15 * 4, 1234); // rtt
        put(&mut b, 8 + 16 * 4, 56); // rttvar
        put(&mut b, 8 + 18 * 4, 10); // snd_cwnd
        put(&mut b, 8 + 13 * 4, 65535); // pmtu
        b[120..128].copy_from_slice(&777u64.to_ne_bytes());
        let Value::Struct(fields) = value(&x::LINUX, libc::IPPROTO_TCP, libc::TCP_INFO, &b) else {
            panic!()
        };
        let get = |n: &str| fields.iter().find(|f| f.name == n).map(|f| f.value.clone());
        assert_eq!(get("rtt"), Some(Value::Int(1234)));
        assert_eq!(get("rttvar"), Some(Value::Int(56)));
        assert_eq!(get("snd_cwnd"), Some(Value::Int(10)));
        assert_eq!(get("pmtu"), Some(Value::Int(65535)));
        assert_eq!(get("bytes_acked"), Some(Value::Int(777)));
        assert!(matches!(
            get("state"),
            Some(Value::Sym {
                name: "TCP_ESTABLISHED",
                ..
            })
        ));
        // A value cut at 64 bytes (the old capture) says what is missing.
        let Value::Struct(fields) = value(&x::LINUX, libc::IPPROTO_TCP, libc::TCP_INFO, &b[..64])
        else {
            panic!()
        };
        let rtt = fields.iter().find(|f| f.name == "rtt").unwrap();
        assert_eq!(rtt.value, Value::Unavailable("short"));
    }

    #[test]
    fn timestamping_flags_have_their_own_names() {
        let v = value(
            &x::LINUX,
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPING,
            &1u32.to_ne_bytes(),
        );
        assert_eq!(
            v,
            Value::Flags {
                names: vec!["SOF_TIMESTAMPING_TX_HARDWARE"],
                rest: 0,
                raw: 1
            }
        );
    }
}
