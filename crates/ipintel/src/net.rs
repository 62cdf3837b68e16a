//! Address arithmetic shared by the readers: one 128-bit key space for both
//! families (IPv4 lives at `::ffff:a.b.c.d`, as in libloc), CIDR networks, and a
//! longest-prefix-match table used for DROP and IANA data.

use serde::{Serialize, Serializer};
use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// The 96-bit prefix under which IPv4 addresses live in the unified key space.
pub(crate) const V4_MAPPED_PREFIX: u128 = 0xffff;

/// Maps any address to the unified 128-bit key space.
pub(crate) fn to_key(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => (V4_MAPPED_PREFIX << 32) | u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// A network in CIDR notation, e.g. `192.0.2.0/24`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpNetwork {
    /// The first address of the network (host bits cleared).
    pub addr: IpAddr,
    /// Prefix length: 0..=32 for IPv4, 0..=128 for IPv6.
    pub prefix: u8,
}

impl IpNetwork {
    /// Builds a network, clearing host bits. Returns `None` for an over-long prefix.
    pub fn new(addr: IpAddr, prefix: u8) -> Option<Self> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return None;
        }
        let addr = match addr {
            IpAddr::V4(v4) => {
                let mask = if prefix == 0 {
                    0
                } else {
                    u32::MAX << (32 - prefix)
                };
                IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask))
            }
            IpAddr::V6(v6) => {
                let mask = if prefix == 0 {
                    0
                } else {
                    u128::MAX << (128 - prefix)
                };
                IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask))
            }
        };
        Some(IpNetwork { addr, prefix })
    }

    /// Builds a network from a unified key and a prefix length over 128 bits;
    /// networks inside `::ffff:0:0/96` come back as IPv4.
    pub(crate) fn from_key(key: u128, prefix128: u8) -> Option<Self> {
        if prefix128 >= 96 && key >> 32 == V4_MAPPED_PREFIX {
            IpNetwork::new(IpAddr::V4(Ipv4Addr::from(key as u32)), prefix128 - 96)
        } else {
            IpNetwork::new(IpAddr::V6(Ipv6Addr::from(key)), prefix128)
        }
    }

    /// Prefix length in the unified 128-bit key space.
    pub(crate) fn prefix128(&self) -> u8 {
        if self.addr.is_ipv4() {
            self.prefix + 96
        } else {
            self.prefix
        }
    }

    /// Whether `ip` lies inside this network (families must match).
    pub fn contains(&self, ip: IpAddr) -> bool {
        if ip.is_ipv4() != self.addr.is_ipv4() {
            return false;
        }
        let shift = 128 - u32::from(self.prefix128());
        let mask = if shift >= 128 { 0 } else { u128::MAX << shift };
        to_key(ip) & mask == to_key(self.addr) & mask
    }
}

impl fmt::Display for IpNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// An address as people write it: `192.0.2.1`, `::1`, `[::1]`, or with
/// an IPv6 zone (scope) id, `fe80::1%eth0` / `[fe80::1%2]`. Returns the
/// address and the zone as written. The zone names an interface (a name
/// or an index); nothing checks that it exists.
pub fn parse_addr_zone(s: &str) -> Option<(IpAddr, Option<&str>)> {
    let s = s.trim();
    let s = match s.strip_prefix('[') {
        Some(inner) => inner.strip_suffix(']')?,
        None => s,
    };
    let (addr, zone) = match s.split_once('%') {
        Some((a, z)) => (a, Some(z)),
        None => (s, None),
    };
    let ip: IpAddr = addr.parse().ok()?;
    if let Some(z) = zone {
        // IF_NAMESIZE is 16 with the NUL; a zone is an interface.
        let ok = ip.is_ipv6()
            && !z.is_empty()
            && z.len() < 16
            && z.bytes()
                .all(|b| b.is_ascii_graphic() && b != b'/' && b != b'%');
        if !ok {
            return None;
        }
    }
    Some((ip, zone))
}

impl FromStr for IpNetwork {
    type Err = String;

    /// Parses `ADDR/LEN` (or a bare address as a host network).
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (addr_text, len_text) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = addr_text
            .trim()
            .parse()
            .map_err(|_| format!("bad address {addr_text:?}"))?;
        let prefix = match len_text {
            Some(l) => l
                .trim()
                .parse::<u8>()
                .map_err(|_| format!("bad prefix length {l:?}"))?,
            None => {
                if addr.is_ipv4() {
                    32
                } else {
                    128
                }
            }
        };
        IpNetwork::new(addr, prefix).ok_or_else(|| format!("prefix length {prefix} too long"))
    }
}

impl Serialize for IpNetwork {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Longest-prefix-match table: one hash map per prefix length in use, probed
/// from the longest length down. DROP and IANA tables have few distinct lengths
/// (tens), so a lookup is a handful of hash probes.
#[derive(Debug)]
pub(crate) struct PrefixTable<V> {
    /// (prefix length over 128 bits, masked key -> value), longest length first.
    by_length: Vec<(u8, HashMap<u128, V>)>,
}

impl<V> Default for PrefixTable<V> {
    fn default() -> Self {
        PrefixTable {
            by_length: Vec::new(),
        }
    }
}

fn mask128(prefix128: u8) -> u128 {
    if prefix128 == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(prefix128.min(128)))
    }
}

impl<V> PrefixTable<V> {
    /// Adds a network; a later insert of the same network replaces the earlier.
    pub(crate) fn insert(&mut self, net: IpNetwork, value: V) {
        let len = net.prefix128();
        let key = to_key(net.addr) & mask128(len);
        let pos = match self.by_length.binary_search_by(|(l, _)| len.cmp(l)) {
            Ok(pos) => pos,
            Err(pos) => {
                self.by_length.insert(pos, (len, HashMap::new()));
                pos
            }
        };
        self.by_length[pos].1.insert(key, value);
    }

    /// The most specific network containing `ip`, with its value.
    pub(crate) fn lookup(&self, ip: IpAddr) -> Option<(IpNetwork, &V)> {
        let key = to_key(ip);
        for (len, map) in &self.by_length {
            // An IPv4 address must not match IPv6-only entries shorter than /96
            // unless they really cover ::ffff:0:0/96; that falls out of the key space.
            let masked = key & mask128(*len);
            if let Some(v) = map.get(&masked) {
                let net = IpNetwork::from_key(masked, *len)?;
                if net.addr.is_ipv4() == ip.is_ipv4() {
                    return Some((net, v));
                }
            }
        }
        None
    }

    pub(crate) fn len(&self) -> usize {
        self.by_length.iter().map(|(_, m)| m.len()).sum()
    }
}

/// Small, fast, seedable pseudo-random generator (xorshift64*), used by tests,
/// benchmarks and the fuzz helpers so they need no extra dependency.
#[doc(hidden)]
pub struct XorShift(pub u64);

impl XorShift {
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0.max(1);
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[cfg(test)]
mod zone_tests {
    use super::parse_addr_zone;

    #[test]
    fn addresses_with_brackets_and_zones() {
        let (ip, z) = parse_addr_zone("fe80::1%lo").unwrap();
        assert_eq!((ip.to_string().as_str(), z), ("fe80::1", Some("lo")));
        let (ip, z) = parse_addr_zone("[fe80::1%2]").unwrap();
        assert_eq!((ip.to_string().as_str(), z), ("fe80::1", Some("2")));
        assert_eq!(parse_addr_zone("[::1]").unwrap().0.to_string(), "::1");
        assert_eq!(parse_addr_zone("10.0.0.1").unwrap().1, None);
        for bad in [
            "10.0.0.1%eth0",
            "fe80::1%",
            "[::1",
            "::1]",
            "fe80::1%a/b",
            "nope",
        ] {
            assert!(parse_addr_zone(bad).is_none(), "{bad}");
        }
    }
}
