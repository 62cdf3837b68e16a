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
    NoteNet, NoteRegistry, Place,
};
use std::net::IpAddr;

/// Country part.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CountryInfo {
    /// ISO 3166 alpha-2 code (or a database's pseudo code such as `EU`, `A1`).
    pub code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub continent: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub continent_name: Option<String>,
    /// The network the answering database matched, when it says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<IpNetwork>,
    /// File path, or `embedded`.
    pub source: String,
}

impl CountryInfo {
    /// A country answer; the continent's name comes from its code.
    pub fn new(
        code: String,
        name: Option<String>,
        continent: Option<String>,
        network: Option<IpNetwork>,
        source: &str,
    ) -> Self {
        let continent_name = continent
            .as_deref()
            .and_then(crate::countries::continent_name)
            .map(String::from);
        CountryInfo {
            code,
            name,
            continent,
            continent_name,
            network,
            source: source.to_string(),
        }
    }
}

/// City-level part: the trace's own type (a [`Place`] and its source), so
/// a lookup and a trace line describe a location with the same fields.
pub type LocationInfo = NoteLocation;

/// Autonomous-system part.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AsInfo {
    pub number: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The routed network that matched (CIDR).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<IpNetwork>,
    pub source: String,
}

/// Network flags; present only when at least one is set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FlagsInfo {
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub anonymous_proxy: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub satellite_provider: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub anycast: bool,
    /// "Hostile network, safe to drop" (libloc's copy of the Spamhaus lists).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub drop: bool,
    pub source: String,
}

impl FlagsInfo {
    pub(crate) fn any(&self) -> bool {
        self.anonymous_proxy || self.satellite_provider || self.anycast || self.drop
    }
}

/// Spamhaus DROP listing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DropInfo {
    /// SBL reference, e.g. `SBL256894`.
    pub sbl: String,
    pub network: IpNetwork,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rir: Option<String>,
    pub source: String,
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
            country: self.country.as_ref().map(|c| NoteCountry {
                code: c.code.clone(),
                name: c.name.clone(),
                continent: c.continent.clone(),
                continent_name: c.continent_name.clone(),
                network: c.network.map(note_net),
                source: c.source.clone(),
            }),
            location: self.location.clone(),
            asn: self.asn.as_ref().map(|a| NoteAs {
                number: a.number,
                name: a.name.clone(),
                network: a.network.map(note_net),
                source: a.source.clone(),
            }),
            flags: self.flags.as_ref().map(|f| NoteFlags {
                anonymous_proxy: f.anonymous_proxy,
                satellite_provider: f.satellite_provider,
                anycast: f.anycast,
                drop: f.drop,
                source: f.source.clone(),
            }),
            drop: self.drop.as_ref().map(|d| NoteDrop {
                sbl: d.sbl.clone(),
                network: note_net(d.network),
                rir: d.rir.clone(),
                source: d.source.clone(),
            }),
            registry: self.registry.as_ref().map(|r| NoteRegistry {
                network: note_net(r.network),
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

fn note_net(n: IpNetwork) -> NoteNet {
    NoteNet {
        addr: n.addr,
        prefix: n.prefix,
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
                network: Some(net("192.0.2.0/24")),
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
                network: Some(net("192.0.2.0/23")),
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
                network: net("192.0.2.0/24"),
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
