//! Address classes computed from the address alone (no database): loopback,
//! RFC 1918, CGNAT, documentation ranges, tunnelling prefixes and so on.

use serde::Serialize;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Declares [`AddressClass`] from one table, a row a class: the variant,
/// its serde name (also what a trace's address note carries) and the short
/// label printed in place of a country; [`AddressClass::ALL`] lists them.
macro_rules! address_classes {
    ($( $(#[$doc:meta])* $v:ident = $name:literal, $label:literal; )*) => {
        /// The special-purpose range an address belongs to, or `Public`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
        pub enum AddressClass {
            $( $(#[$doc])* #[serde(rename = $name)] $v, )*
        }

        impl AddressClass {
            /// Every class, in declaration order.
            pub const ALL: &'static [AddressClass] = &[$(AddressClass::$v),*];

            /// The serde name, e.g. `shared-cgnat`.
            pub fn name(self) -> &'static str {
                match self {
                    $(AddressClass::$v => $name,)*
                }
            }

            /// The short label printed in place of a country, e.g. `loopback`.
            pub fn label(self) -> &'static str {
                match self {
                    $(AddressClass::$v => $label,)*
                }
            }
        }
    };
}

address_classes! {
    /// Globally routable unicast: the only class databases are asked about
    /// (together with the tunnelling classes below).
    Public = "public", "public";
    Unspecified = "unspecified", "unspecified";
    /// 0.0.0.0/8 other than 0.0.0.0 ("this network", RFC 791).
    ThisNetwork = "this-network", "this-network";
    Loopback = "loopback", "loopback";
    /// RFC 1918: 10/8, 172.16/12, 192.168/16.
    Private = "private", "private";
    /// RFC 6598 shared address space 100.64/10 (carrier-grade NAT).
    SharedCgnat = "shared-cgnat", "shared (CGNAT)";
    LinkLocal = "link-local", "link-local";
    Multicast = "multicast", "multicast";
    /// 192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32 (and 3fff::/20).
    Documentation = "documentation", "documentation";
    /// 198.18/15 and 2001:2::/48.
    Benchmarking = "benchmarking", "benchmarking";
    /// 192.0.0/24 IETF protocol assignments (RFC 6890).
    IetfProtocol = "ietf-protocol", "IETF protocol assignment";
    Broadcast = "broadcast", "broadcast";
    /// ::ffff:0:0/96; the embedded IPv4 address is classified instead.
    Ipv4Mapped = "ipv4-mapped", "IPv4-mapped";
    /// 6to4 2002::/16 with an embedded IPv4 address.
    SixToFour = "six-to-four", "6to4";
    /// Teredo 2001::/32 with server and (de-obfuscated) client address.
    Teredo = "teredo", "Teredo";
    /// NAT64 well-known prefix 64:ff9b::/96.
    Nat64 = "nat64", "NAT64";
    /// Discard-only 100::/64 (RFC 6666).
    DiscardOnly = "discard-only", "discard-only";
    /// fc00::/7 unique local addresses.
    UniqueLocal = "unique-local", "unique-local";
    /// fec0::/10, deprecated site-local.
    SiteLocal = "site-local", "site-local";
    /// 240/4 and other ranges reserved for future use.
    Reserved = "reserved", "reserved";
}

impl AddressClass {
    /// Whether databases can say something useful about addresses of this class.
    pub fn is_global(self) -> bool {
        matches!(
            self,
            AddressClass::Public | AddressClass::SixToFour | AddressClass::Teredo
        )
    }

    /// Whether databases are asked about addresses of this class: the
    /// global ones, and the documentation ranges (test databases and lab
    /// setups describe them; real databases simply have no answer).
    pub fn looked_up(self) -> bool {
        self.is_global() || self == AddressClass::Documentation
    }
}

/// Extra facts some classes carry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClassDetail {
    /// The IPv4 address embedded in an IPv4-mapped, 6to4 or NAT64 address.
    EmbeddedIpv4 { ipv4: Ipv4Addr },
    /// Teredo (RFC 4380): server address in bits 32..64, client address and
    /// port stored bit-inverted ("obfuscated") in the last 48 bits.
    Teredo {
        server: Ipv4Addr,
        client: Ipv4Addr,
        client_port: u16,
    },
}

/// The class of an address, with embedded-address details where they exist.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Classification {
    pub class: AddressClass,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<ClassDetail>,
}

/// The IPv4 special-purpose blocks, (network, prefix length, class); the
/// first that holds an address classifies it.
#[rustfmt::skip]
const V4_BLOCKS: &[(u32, u32, AddressClass)] = &[
    (0, 8, AddressClass::ThisNetwork),
    (0x7f00_0000, 8, AddressClass::Loopback),
    (0x0a00_0000, 8, AddressClass::Private),
    (0xac10_0000, 12, AddressClass::Private),
    (0xc0a8_0000, 16, AddressClass::Private),
    (0x6440_0000, 10, AddressClass::SharedCgnat),
    (0xa9fe_0000, 16, AddressClass::LinkLocal),
    (0xe000_0000, 4, AddressClass::Multicast),
    (0xc000_0200, 24, AddressClass::Documentation),
    (0xc633_6400, 24, AddressClass::Documentation),
    (0xcb00_7100, 24, AddressClass::Documentation),
    (0xc612_0000, 15, AddressClass::Benchmarking),
    (0xc000_0000, 24, AddressClass::IetfProtocol),
    (0xf000_0000, 4, AddressClass::Reserved),
];

/// Classifies an IPv4 address.
pub fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    let v = u32::from(ip);
    if v == 0 {
        return AddressClass::Unspecified;
    }
    if v == u32::MAX {
        return AddressClass::Broadcast;
    }
    V4_BLOCKS
        .iter()
        .find(|&&(net, len, _)| (v ^ net) >> (32 - len) == 0)
        .map_or(AddressClass::Public, |&(_, _, class)| class)
}

/// Classifies any address; IPv4-mapped IPv6 addresses report `Ipv4Mapped`
/// with the embedded address in the detail.
pub fn classify(ip: IpAddr) -> Classification {
    match ip {
        IpAddr::V4(v4) => Classification {
            class: classify_v4(v4),
            detail: None,
        },
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v6(ip: Ipv6Addr) -> Classification {
    let v = u128::from(ip);
    let in_net = |net: u128, len: u32| (v ^ net) >> (128 - len) == 0;
    let plain = |class| Classification {
        class,
        detail: None,
    };
    let embedded = |class, bits: u32| Classification {
        class,
        detail: Some(ClassDetail::EmbeddedIpv4 {
            ipv4: Ipv4Addr::from(bits),
        }),
    };
    if v == 0 {
        plain(AddressClass::Unspecified)
    } else if v == 1 {
        plain(AddressClass::Loopback)
    } else if in_net(0xffff << 32, 96) {
        embedded(AddressClass::Ipv4Mapped, v as u32)
    } else if in_net(0x0064_ff9b << 96, 96) {
        embedded(AddressClass::Nat64, v as u32)
    } else if in_net(0x0100 << 112, 64) {
        plain(AddressClass::DiscardOnly)
    } else if in_net(0x2001_0000 << 96, 32) {
        let server = Ipv4Addr::from((v >> 64) as u32);
        let client_port = !((v >> 32) as u16);
        let client = Ipv4Addr::from(!(v as u32));
        Classification {
            class: AddressClass::Teredo,
            detail: Some(ClassDetail::Teredo {
                server,
                client,
                client_port,
            }),
        }
    } else if in_net(0x2001_0002_0000 << 80, 48) {
        plain(AddressClass::Benchmarking)
    } else if in_net(0x2001_0db8 << 96, 32) || in_net(0x3fff << 112, 20) {
        plain(AddressClass::Documentation)
    } else if in_net(0x2001 << 112, 23) {
        plain(AddressClass::IetfProtocol)
    } else if in_net(0x2002 << 112, 16) {
        embedded(AddressClass::SixToFour, (v >> 80) as u32)
    } else if in_net(0xfc00 << 112, 7) {
        plain(AddressClass::UniqueLocal)
    } else if in_net(0xfe80 << 112, 10) {
        plain(AddressClass::LinkLocal)
    } else if in_net(0xfec0 << 112, 10) {
        plain(AddressClass::SiteLocal)
    } else if in_net(0xff00 << 112, 8) {
        plain(AddressClass::Multicast)
    } else if in_net(0x2000 << 112, 3) {
        plain(AddressClass::Public)
    } else {
        // Everything outside 2000::/3 is unassigned by IANA today.
        plain(AddressClass::Reserved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Classification {
        classify(s.parse().unwrap())
    }

    #[test]
    fn ipv4_and_ipv6_classes() {
        for (addr, class) in [
            ("127.0.0.1", AddressClass::Loopback),
            ("10.1.2.3", AddressClass::Private),
            ("172.31.255.255", AddressClass::Private),
            ("172.32.0.1", AddressClass::Public),
            ("192.168.0.1", AddressClass::Private),
            ("100.64.0.1", AddressClass::SharedCgnat),
            ("100.128.0.1", AddressClass::Public),
            ("169.254.1.1", AddressClass::LinkLocal),
            ("224.0.0.251", AddressClass::Multicast),
            ("192.0.2.7", AddressClass::Documentation),
            ("198.51.100.1", AddressClass::Documentation),
            ("203.0.113.9", AddressClass::Documentation),
            ("198.19.255.1", AddressClass::Benchmarking),
            ("0.0.0.0", AddressClass::Unspecified),
            ("255.255.255.255", AddressClass::Broadcast),
            ("240.0.0.1", AddressClass::Reserved),
            ("8.8.8.8", AddressClass::Public),
            ("::1", AddressClass::Loopback),
            ("::", AddressClass::Unspecified),
            ("fe80::1", AddressClass::LinkLocal),
            ("fd00::1", AddressClass::UniqueLocal),
            ("ff02::1", AddressClass::Multicast),
            ("2001:db8::1", AddressClass::Documentation),
            ("2001:2::5", AddressClass::Benchmarking),
            ("2a00:1450::1", AddressClass::Public),
        ] {
            assert_eq!(c(addr).class, class, "{addr}");
        }
    }

    #[test]
    fn embedded_addresses_and_their_details() {
        let v4 = |s: &str| -> Ipv4Addr { s.parse().unwrap() };
        for (addr, class, detail) in [
            (
                "::ffff:192.0.2.1",
                AddressClass::Ipv4Mapped,
                ClassDetail::EmbeddedIpv4 {
                    ipv4: v4("192.0.2.1"),
                },
            ),
            (
                "2002:c000:0204::1",
                AddressClass::SixToFour,
                ClassDetail::EmbeddedIpv4 {
                    ipv4: v4("192.0.2.4"),
                },
            ),
            // Teredo de-obfuscation, RFC 4380 section 4 example: server
            // 65.54.227.120, client 192.0.2.45:40000.
            (
                "2001:0000:4136:e378:8000:63bf:3fff:fdd2",
                AddressClass::Teredo,
                ClassDetail::Teredo {
                    server: v4("65.54.227.120"),
                    client: v4("192.0.2.45"),
                    client_port: 40000,
                },
            ),
        ] {
            let got = c(addr);
            assert_eq!(got.class, class, "{addr}");
            assert_eq!(got.detail, Some(detail), "{addr}");
        }
    }
}
