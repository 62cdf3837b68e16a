//! Ancillary data (control messages) of sendmsg/recvmsg: the control
//! buffer as the kernel read or wrote it, walked `cmsghdr` by `cmsghdr`
//! (x86_64 layout: `size_t cmsg_len; int cmsg_level; int cmsg_type;` then
//! the data, each message aligned to 8 bytes).

use crate::calls::{flags, sym};
use crate::value::{Field, Value};
use sock_trace_xlat as x;
use std::net::{Ipv4Addr, Ipv6Addr};

const HDR: usize = 16;
/// The most control messages shown per call.
const MAX_MESSAGES: usize = 16;

fn i32_at(b: &[u8], off: usize) -> Option<i32> {
    Some(i32::from_ne_bytes(b.get(off..off + 4)?.try_into().ok()?))
}

fn i64_at(b: &[u8], off: usize) -> Option<i64> {
    Some(i64::from_ne_bytes(b.get(off..off + 8)?.try_into().ok()?))
}

fn timespec(b: &[u8], off: usize, unit_ns: i64) -> Option<Value> {
    let (s, frac) = (i64_at(b, off)?, i64_at(b, off + 8)?);
    Some(Value::Struct(vec![
        Field::new("tv_sec", Value::Int(s)),
        Field::new("tv_nsec", Value::Int(frac.saturating_mul(unit_ns))),
    ]))
}

/// Every control message of a buffer, in order. A cut or malformed buffer
/// ends the list with an `Unavailable` entry instead of failing.
pub(crate) fn control(buf: &[u8]) -> Value {
    let mut out = Vec::new();
    let mut off = 0;
    while off + HDR <= buf.len() && out.len() < MAX_MESSAGES {
        let len = i64_at(buf, off).unwrap_or(0) as u64 as usize;
        let level = i32_at(buf, off + 8).unwrap_or(0);
        let ty = i32_at(buf, off + 12).unwrap_or(0);
        if len < HDR {
            out.push(Value::Unavailable("malformed"));
            break;
        }
        let end = off.saturating_add(len);
        let data = &buf[off + HDR..end.min(buf.len())];
        let cut = end > buf.len();
        out.push(message(level, ty, data, cut));
        if cut {
            break;
        }
        off = off.saturating_add((len + 7) & !7);
    }
    Value::List(out)
}

fn message(level: i32, ty: i32, data: &[u8], cut: bool) -> Value {
    let level_v = match x::level_name(level) {
        Some(n) => Value::Sym {
            name: n,
            raw: level as i64,
        },
        None => Value::Unknown(level as i64),
    };
    let type_v = match level {
        libc::SOL_SOCKET => sym(&x::SCM, ty as i64),
        _ => match x::sockopt_table(level) {
            Some(t) => sym(t, ty as i64),
            None => Value::Unknown(ty as i64),
        },
    };
    let value = if cut {
        None
    } else {
        data_value(level, ty, data)
    };
    let value = value.unwrap_or_else(|| {
        if cut {
            Value::Unavailable("cut")
        } else {
            Value::Bytes {
                shown: data.to_vec(),
                total: data.len() as u64,
            }
        }
    });
    Value::Struct(vec![
        Field::new("cmsg_level", level_v),
        Field::new("cmsg_type", type_v),
        Field::new("data", value),
    ])
}

fn data_value(level: i32, ty: i32, d: &[u8]) -> Option<Value> {
    let f = Field::new;
    Some(match (level, ty) {
        (libc::SOL_SOCKET, libc::SCM_RIGHTS) => Value::List(
            d.chunks_exact(4)
                .map(|c| Value::Fd(i32::from_ne_bytes([c[0], c[1], c[2], c[3]])))
                .collect(),
        ),
        (libc::SOL_SOCKET, libc::SCM_CREDENTIALS) => Value::Struct(vec![
            f("pid", Value::Int(i32_at(d, 0)? as i64)),
            f("uid", Value::Int(i32_at(d, 4)? as u32 as i64)),
            f("gid", Value::Int(i32_at(d, 8)? as u32 as i64)),
        ]),
        // SCM_TIMESTAMP: struct timeval (microseconds).
        (libc::SOL_SOCKET, 29) => timespec(d, 0, 1000)?,
        // SCM_TIMESTAMPNS: struct timespec.
        (libc::SOL_SOCKET, 35) => timespec(d, 0, 1)?,
        // SCM_TIMESTAMPING: three timespecs (software, deprecated, raw
        // hardware).
        (libc::SOL_SOCKET, 37) => Value::Struct(vec![
            f("software", timespec(d, 0, 1)?),
            f("hardware", timespec(d, 32, 1)?),
        ]),
        (libc::IPPROTO_IP, libc::IP_PKTINFO) => {
            let a = |o: usize| -> Option<Value> {
                let s = d.get(o..o + 4)?;
                Some(Value::Ip(Ipv4Addr::new(s[0], s[1], s[2], s[3]).into()))
            };
            Value::Struct(vec![
                f("ipi_ifindex", Value::Int(i32_at(d, 0)? as i64)),
                f("ipi_spec_dst", a(4)?),
                f("ipi_addr", a(8)?),
            ])
        }
        (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO) => {
            let a: [u8; 16] = d.get(0..16)?.try_into().ok()?;
            Value::Struct(vec![
                f("ipi6_addr", Value::Ip(Ipv6Addr::from(a).into())),
                f("ipi6_ifindex", Value::Int(i32_at(d, 16)? as u32 as i64)),
            ])
        }
        // IP_TOS comes as one byte, IP_TTL as an int.
        (libc::IPPROTO_IP, libc::IP_TOS) if d.len() == 1 => Value::Int(d[0] as i64),
        (libc::IPPROTO_IP, libc::IP_TTL | libc::IP_TOS)
        | (libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT | libc::IPV6_TCLASS) => {
            Value::Int(i32_at(d, 0)? as i64)
        }
        _ => return None,
    })
}

/// The timestamping flags of `SO_TIMESTAMPING` (an int, or a struct
/// so_timestamping whose first member is the flags).
pub(crate) fn timestamping_flags(v: u32) -> Value {
    flags(&x::SOF_TIMESTAMPING, v as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmsg(level: i32, ty: i32, data: &[u8]) -> Vec<u8> {
        let len = HDR + data.len();
        let mut v = Vec::new();
        v.extend_from_slice(&(len as u64).to_ne_bytes());
        v.extend_from_slice(&level.to_ne_bytes());
        v.extend_from_slice(&ty.to_ne_bytes());
        v.extend_from_slice(data);
        while v.len() % 8 != 0 {
            v.push(0);
        }
        v
    }

    #[test]
    fn rights_credentials_and_pktinfo() {
        let mut buf = cmsg(
            libc::SOL_SOCKET,
            libc::SCM_RIGHTS,
            &[5, 0, 0, 0, 7, 0, 0, 0],
        );
        let cred: Vec<u8> = [42i32, 1000, 100]
            .iter()
            .flat_map(|v| v.to_ne_bytes())
            .collect();
        buf.extend(cmsg(libc::SOL_SOCKET, libc::SCM_CREDENTIALS, &cred));
        buf.extend(cmsg(
            libc::IPPROTO_IP,
            libc::IP_PKTINFO,
            &[2, 0, 0, 0, 127, 0, 0, 1, 127, 0, 0, 2],
        ));
        buf.extend(cmsg(libc::IPPROTO_IP, libc::IP_TTL, &64i32.to_ne_bytes()));
        let Value::List(l) = control(&buf) else {
            panic!()
        };
        assert_eq!(l.len(), 4);
        let Value::Struct(ref m) = l[0] else { panic!() };
        assert_eq!(
            m[0].value,
            Value::Sym {
                name: "SOL_SOCKET",
                raw: 1
            }
        );
        assert_eq!(
            m[1].value,
            Value::Sym {
                name: "SCM_RIGHTS",
                raw: 1
            }
        );
        assert_eq!(m[2].value, Value::List(vec![Value::Fd(5), Value::Fd(7)]));
        let Value::Struct(ref m) = l[1] else { panic!() };
        assert_eq!(
            m[2].value,
            Value::Struct(vec![
                Field::new("pid", Value::Int(42)),
                Field::new("uid", Value::Int(1000)),
                Field::new("gid", Value::Int(100)),
            ])
        );
        let Value::Struct(ref m) = l[2] else { panic!() };
        let Value::Struct(ref p) = m[2].value else {
            panic!("{:?}", m[2].value)
        };
        assert_eq!(p[0].value, Value::Int(2));
        assert_eq!(p[2].value, Value::Ip(Ipv4Addr::new(127, 0, 0, 2).into()));
        let Value::Struct(ref m) = l[3] else { panic!() };
        assert_eq!(m[2].value, Value::Int(64));
    }

    #[test]
    fn a_cut_or_malformed_buffer_never_panics() {
        let buf = cmsg(
            libc::SOL_SOCKET,
            libc::SCM_RIGHTS,
            &[5, 0, 0, 0, 7, 0, 0, 0],
        );
        for n in 0..buf.len() {
            let _ = control(&buf[..n]);
        }
        let mut bad = buf.clone();
        bad[0] = 3; // cmsg_len smaller than a header
        assert_eq!(
            control(&bad),
            Value::List(vec![Value::Unavailable("malformed")])
        );
        let mut huge = buf;
        huge[..8].copy_from_slice(&u64::MAX.to_ne_bytes());
        let _ = control(&huge);
    }
}
