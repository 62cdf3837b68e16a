//! The answer for one address and its renderings (compact one-liner, detailed
//! lines, JSON via serde). Each part names the database that supplied it.
//!
//! A trace carries the answer as the decoder's typed [`AddrNote`]
//! ([`Annotation::to_note`]); the printers render that, and the text forms
//! here are theirs, so `sock-trace lookup` and trace lines cannot differ.

use crate::class::{AddressClass, ClassDetail};
use crate::iana::RegistryEntry;
use crate::net::IpNetwork;
use serde::Serialize;
use sock_trace_decode::{
    AddrNote, NoteAs, NoteClass, NoteClassDetail, NoteCountry, NoteDrop, NoteFlags, NoteLocation,
    NoteNet, NoteRegistry,
};
use std::net::IpAddr;

/// The parts of an answer are the trace's own types (`sock_trace_decode`),
/// so a lookup and a trace line describe an address with the same fields.
pub type CountryInfo = NoteCountry;
/// City-level part: a [`Place`](sock_trace_decode::Place) and its source.
pub type LocationInfo = NoteLocation;
/// Autonomous-system part.
pub type AsInfo = NoteAs;
/// Network flags; present only when at least one is set.
pub type FlagsInfo = NoteFlags;
/// Spamhaus DROP listing.
pub type DropInfo = NoteDrop;

/// A country answer; the continent's name comes from its code.
pub fn country_info(
    code: String,
    name: Option<String>,
    continent: Option<String>,
    network: Option<IpNetwork>,
    source: &str,
) -> CountryInfo {
    let continent_name = continent
        .as_deref()
        .and_then(crate::countries::continent_name)
        .map(String::from);
    CountryInfo {
        code,
        name,
        continent,
        continent_name,
        network: network.map(NoteNet::from),
        source: source.to_string(),
    }
}

impl From<IpNetwork> for NoteNet {
    fn from(n: IpNetwork) -> NoteNet {
        NoteNet {
            addr: n.addr,
            prefix: n.prefix,
        }
    }
}

/// IANA registry designation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RegistryInfo {
    pub network: IpNetwork,
    #[serde(flatten)]
    pub entry: RegistryEntry,
    pub source: String,
}

/// Everything known about one address.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Annotation {
    pub ip: IpAddr,
    pub class: AddressClass,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class_detail: Option<ClassDetail>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<CountryInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<LocationInfo>,
    #[serde(rename = "as", skip_serializing_if = "Option::is_none")]
    pub asn: Option<AsInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flags: Option<FlagsInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drop: Option<DropInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry: Option<RegistryInfo>,
}

impl Annotation {
    /// An annotation with the class only.
    pub fn bare(ip: IpAddr, class: AddressClass, class_detail: Option<ClassDetail>) -> Self {
        Annotation {
            ip,
            class,
            class_detail,
            country: None,
            location: None,
            asn: None,
            flags: None,
            drop: None,
            registry: None,
        }
    }

    /// One short line for a trace: `US AS15169 Google LLC`, plus `DROP SBL123`
    /// when listed. Non-public addresses give their class (`loopback`,
    /// `private`, ...); tunnelled ones are prefixed with theirs (`6to4 DE ...`).
    pub fn compact(&self) -> String {
        sock_trace_print::note::compact(&self.to_note())
    }

    /// Human-readable lines with everything known and where it came from.
    pub fn detailed_lines(&self) -> Vec<String> {
        sock_trace_print::note::detail_lines(&self.to_note())
    }

    /// The answer as a trace event carries it.
    pub fn to_note(&self) -> AddrNote {
        let inner_class = match (&self.class, &self.class_detail) {
            (AddressClass::Ipv4Mapped, Some(ClassDetail::EmbeddedIpv4 { ipv4 })) => {
                Some(note_class(crate::class::classify_v4(*ipv4)))
            }
            _ => None,
        };
        AddrNote {
            ip: self.ip,
            class: note_class(self.class),
            inner_class,
            class_detail: self.class_detail.as_ref().map(|d| match d {
                ClassDetail::EmbeddedIpv4 { ipv4 } => NoteClassDetail::EmbeddedIpv4 { ipv4: *ipv4 },
                ClassDetail::Teredo {
                    server,
                    client,
                    client_port,
                } => NoteClassDetail::Teredo {
                    server: *server,
                    client: *client,
                    client_port: *client_port,
                },
            }),
            country: self.country.clone(),
            location: self.location.clone(),
            asn: self.asn.clone(),
            flags: self.flags.clone(),
            drop: self.drop.clone(),
            registry: self.registry.as_ref().map(|r| NoteRegistry {
                network: r.network.into(),
                prefix: r.entry.prefix.clone(),
                designation: r.entry.designation.clone(),
                date: r.entry.date.clone(),
                whois: r.entry.whois.clone(),
                rdap: r.entry.rdap.clone(),
                status: r.entry.status.clone(),
                source: r.source.clone(),
            }),
        }
    }
}

/// The class as a note carries it; `name` is its serde name.
fn note_class(c: AddressClass) -> NoteClass {
    NoteClass {
        name: c.name(),
        label: c.label(),
        global: c.is_global(),
        tunnel: matches!(c, AddressClass::SixToFour | AddressClass::Teredo),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sock_trace_decode::Place;

    fn net(s: &str) -> IpNetwork {
        s.parse().unwrap()
    }

    /// Every part, some optional fields set and some not.
    fn everything() -> Annotation {
        Annotation {
            ip: "::ffff:192.0.2.7".parse().unwrap(),
            class: AddressClass::Ipv4Mapped,
            class_detail: Some(ClassDetail::EmbeddedIpv4 {
                ipv4: [192, 0, 2, 7].into(),
            }),
            country: Some(CountryInfo {
                code: "CH".into(),
                name: Some("Switzerland \"CH\"".into()),
                continent: Some("EU".into()),
                continent_name: None,
                network: Some(net("192.0.2.0/24").into()),
                source: "/db/country.mmdb".into(),
            }),
            location: Some(LocationInfo {
                place: Place {
                    city: Some("Zürich".into()),
                    region: None,
                    postal_code: Some("8000".into()),
                    time_zone: Some("Europe/Zurich".into()),
                    latitude: Some(47.3769),
                    longitude: Some(-8.5),
                    accuracy_km: Some(20),
                },
                source: "/db/city.mmdb".into(),
            }),
            asn: Some(AsInfo {
                number: 64500,
                name: None,
                network: Some(net("192.0.2.0/23").into()),
                source: "embedded".into(),
            }),
            flags: Some(FlagsInfo {
                anonymous_proxy: true,
                satellite_provider: false,
                anycast: true,
                drop: true,
                source: "libloc".into(),
            }),
            drop: Some(DropInfo {
                sbl: "SBL123".into(),
                network: net("192.0.2.0/24").into(),
                rir: Some("arin".into()),
                source: "drop_v4.json".into(),
            }),
            registry: Some(RegistryInfo {
                network: net("192.0.0.0/8"),
                entry: RegistryEntry {
                    prefix: "192/8".into(),
                    designation: "Administered by ARIN".into(),
                    date: "1993-05".into(),
                    whois: String::new(),
                    rdap: "https://rdap.arin.net/registry/".into(),
                    status: "LEGACY".into(),
                },
                source: "IANA".into(),
            }),
        }
    }

    #[test]
    fn a_note_prints_as_json_exactly_as_serde_writes_the_annotation() {
        let teredo = Annotation {
            class_detail: Some(ClassDetail::Teredo {
                server: [192, 0, 2, 1].into(),
                client: [203, 0, 113, 9].into(),
                client_port: 40000,
            }),
            class: AddressClass::Teredo,
            ..Annotation::bare("2001::1".parse().unwrap(), AddressClass::Teredo, None)
        };
        let bare = Annotation::bare("127.0.0.1".parse().unwrap(), AddressClass::Loopback, None);
        for a in [everything(), teredo, bare] {
            let mut out = Vec::new();
            sock_trace_print::json::note_json(&a.to_note(), &mut out);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                serde_json::to_string(&a).unwrap()
            );
        }
    }

    #[test]
    fn text_forms_of_every_part() {
        let a = everything();
        assert_eq!(a.compact(), "CH AS64500 DROP SBL123");
        assert_eq!(
            a.detailed_lines(),
            [
                "class:    IPv4-mapped (embedded IPv4 192.0.2.7)",
                "country:  CH, Switzerland \"CH\" (EU)  [/db/country.mmdb]",
                "location: Zürich, postal 8000, tz Europe/Zurich  [/db/city.mmdb]",
                "position: 47.377N, 8.500W  https://www.openstreetmap.org/#map=10/47.3769/-8.5000",
                "ASN:      AS64500, net 192.0.2.0/23  [embedded]",
                "flags:    anonymous proxy, anycast, hostile (drop)  [libloc]",
                "DROP:     SBL123 (192.0.2.0/24) https://check.spamhaus.org/sbl/query/SBL123  [drop_v4.json]",
                "IANA:     192/8, Administered by ARIN, 1993-05, https://rdap.arin.net/registry/, LEGACY  [IANA]",
            ]
        );
        let mapped_loopback = Annotation::bare(
            "::ffff:127.0.0.1".parse().unwrap(),
            AddressClass::Ipv4Mapped,
            Some(ClassDetail::EmbeddedIpv4 {
                ipv4: [127, 0, 0, 1].into(),
            }),
        );
        assert_eq!(mapped_loopback.compact(), "loopback");
    }

    #[test]
    fn note_class_names_are_the_serde_names() {
        for &c in AddressClass::ALL {
            assert_eq!(
                format!("\"{}\"", note_class(c).name),
                serde_json::to_string(&c).unwrap()
            );
        }
    }
}
