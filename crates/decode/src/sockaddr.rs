//! `struct sockaddr` bytes → [`SockAddr`], by family, bounds-checked: a
//! length shorter than the family needs gives `SockAddr::Other { short }`
//! with the bytes that were there; nothing is lost or invented.

use crate::value::{SockAddr, UnixKind};
use sock_trace_xlat::PlatformTables;
use std::net::{Ipv4Addr, Ipv6Addr};

fn family(b: &[u8]) -> Option<u16> {
    Some(u16::from_ne_bytes([*b.first()?, *b.get(1)?]))
}

fn other(t: &PlatformTables, fam: u16, b: &[u8], short: bool) -> SockAddr {
    SockAddr::Other {
        family: fam,
        family_name: t.af.lookup(fam as u64),
        bytes: b.get(2..).unwrap_or(&[]).to_vec(),
        short,
    }
}

/// Decodes an address as a Linux program passed or received it.
pub fn decode(b: &[u8]) -> Option<SockAddr> {
    decode_for(&sock_trace_xlat::LINUX, b)
}

/// Decodes an address with the family numbers of a platform (the layouts
/// of `sockaddr_in` and `sockaddr_in6` are the same on Linux and Windows).
pub fn decode_for(t: &PlatformTables, b: &[u8]) -> Option<SockAddr> {
    let fam = family(b)?;
    Some(match fam {
        f if f == t.af_inet => {
            if b.len() < 8 {
                return Some(other(t, fam, b, true));
            }
            SockAddr::V4 {
                port: u16::from_be_bytes([b[2], b[3]]),
                ip: Ipv4Addr::new(b[4], b[5], b[6], b[7]),
            }
        }
        f if f == t.af_inet6 => {
            if b.len() < 24 {
                return Some(other(t, fam, b, true));
            }
            let mut ip = [0u8; 16];
            ip.copy_from_slice(&b[8..24]);
            let scope_id = b
                .get(24..28)
                .map_or(0, |s| u32::from_ne_bytes([s[0], s[1], s[2], s[3]]));
            SockAddr::V6 {
                port: u16::from_be_bytes([b[2], b[3]]),
                flowinfo: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
                ip: Ipv6Addr::from(ip),
                scope_id,
            }
        }
        f if f == t.af_unix => {
            let path = &b[2..];
            if path.is_empty() {
                SockAddr::Unix {
                    path: vec![],
                    kind: UnixKind::Unnamed,
                }
            } else if path[0] == 0 {
                // Abstract names are length-delimited and may hold NULs.
                SockAddr::Unix {
                    path: path[1..].to_vec(),
                    kind: UnixKind::Abstract,
                }
            } else {
                let end = path.iter().position(|&c| c == 0).unwrap_or(path.len());
                SockAddr::Unix {
                    path: path[..end].to_vec(),
                    kind: UnixKind::Path,
                }
            }
        }
        f if Some(f) == t.af_netlink => {
            if b.len() < 12 {
                return Some(other(t, fam, b, true));
            }
            SockAddr::Netlink {
                pid: u32::from_ne_bytes([b[4], b[5], b[6], b[7]]),
                groups: u32::from_ne_bytes([b[8], b[9], b[10], b[11]]),
            }
        }
        _ => other(t, fam, b, false),
    })
}

/// A raw IPv4 or IPv6 address (4 or 16 bytes).
pub fn ip(b: &[u8]) -> Option<std::net::IpAddr> {
    match b.len() {
        4 => Some(Ipv4Addr::new(b[0], b[1], b[2], b[3]).into()),
        16 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(b);
            Some(Ipv6Addr::from(a).into())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families() {
        let v4 = [2u8, 0, 0x1f, 0x90, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            decode(&v4),
            Some(SockAddr::V4 {
                ip: Ipv4Addr::LOCALHOST,
                port: 8080
            })
        );
        let mut v6 = [0u8; 28];
        v6[0] = 10;
        v6[3] = 80;
        v6[23] = 1;
        v6[24] = 3;
        assert_eq!(
            decode(&v6),
            Some(SockAddr::V6 {
                ip: Ipv6Addr::LOCALHOST,
                port: 80,
                flowinfo: 0,
                scope_id: 3
            })
        );
        assert!(matches!(
            decode(&v6[..20]),
            Some(SockAddr::Other { short: true, .. })
        ));
        let mut un = vec![1u8, 0];
        un.extend_from_slice(b"/tmp/s\0junk");
        assert_eq!(
            decode(&un),
            Some(SockAddr::Unix {
                path: b"/tmp/s".to_vec(),
                kind: UnixKind::Path
            })
        );
        assert_eq!(
            decode(&[1, 0, 0, b'a', 0, b'b']),
            Some(SockAddr::Unix {
                path: b"a\0b".to_vec(),
                kind: UnixKind::Abstract
            })
        );
        assert_eq!(
            decode(&[1, 0]),
            Some(SockAddr::Unix {
                path: vec![],
                kind: UnixKind::Unnamed
            })
        );
        assert_eq!(
            decode(&[16, 0, 0, 0, 7, 0, 0, 0, 1, 0, 0, 0]),
            Some(SockAddr::Netlink { pid: 7, groups: 1 })
        );
        assert_eq!(decode(&[2]), None);
        assert!(matches!(
            decode(&[2, 0, 1]),
            Some(SockAddr::Other { short: true, .. })
        ));
    }
}
