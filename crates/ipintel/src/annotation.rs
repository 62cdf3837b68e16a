//! The answer for one address and its renderings (compact one-liner, detailed
//! lines, JSON via serde). Each part names the database that supplied it.

use crate::class::{AddressClass, ClassDetail};
use crate::iana::RegistryEntry;
use crate::net::IpNetwork;
use serde::Serialize;
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

/// City-level part.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LocationInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latitude: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub longitude: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accuracy_km: Option<u16>,
    pub source: String,
}

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

    fn names(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.anonymous_proxy {
            v.push("anonymous proxy");
        }
        if self.satellite_provider {
            v.push("satellite provider");
        }
        if self.anycast {
            v.push("anycast");
        }
        if self.drop {
            v.push("hostile (drop)");
        }
        v
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
        let mut parts: Vec<String> = Vec::new();
        let inner_global = match (&self.class, &self.class_detail) {
            (AddressClass::Ipv4Mapped, Some(ClassDetail::EmbeddedIpv4 { ipv4 })) => {
                crate::class::classify_v4(*ipv4)
            }
            (c, _) => *c,
        };
        if !inner_global.is_global() && self.country.is_none() && self.asn.is_none() {
            return inner_global.label().to_string();
        }
        if matches!(self.class, AddressClass::SixToFour | AddressClass::Teredo) {
            parts.push(self.class.label().to_string());
        }
        if let Some(c) = &self.country {
            parts.push(c.code.clone());
        }
        if let Some(a) = &self.asn {
            parts.push(format!("AS{}", a.number));
            if let Some(n) = &a.name {
                parts.push(n.clone());
            }
        }
        if let Some(d) = &self.drop {
            parts.push(format!("DROP {}", d.sbl));
        } else if self.flags.as_ref().is_some_and(|f| f.drop) {
            parts.push("DROP".into());
        }
        parts.join(" ")
    }

    /// Human-readable lines with everything known and where it came from.
    pub fn detailed_lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut class_line = format!("class:    {}", self.class.label());
        match &self.class_detail {
            Some(ClassDetail::EmbeddedIpv4 { ipv4 }) => {
                class_line.push_str(&format!(" (embedded IPv4 {ipv4})"))
            }
            Some(ClassDetail::Teredo {
                server,
                client,
                client_port,
            }) => class_line.push_str(&format!(
                " (server {server}, client {client}:{client_port})"
            )),
            None => {}
        }
        out.push(class_line);
        if let Some(c) = &self.country {
            let mut l = format!("country:  {}", c.code);
            if let Some(n) = &c.name {
                l.push_str(&format!(", {n}"));
            }
            if let Some(cont) = c.continent_name.as_ref().or(c.continent.as_ref()) {
                l.push_str(&format!(" ({cont})"));
            }
            l.push_str(&format!("  [{}]", c.source));
            out.push(l);
        }
        if let Some(loc) = &self.location {
            let place: Vec<&str> = [loc.city.as_deref(), loc.region.as_deref()]
                .into_iter()
                .flatten()
                .collect();
            if !place.is_empty() {
                let mut l = format!("location: {}", place.join("/"));
                if let Some(z) = &loc.postal_code {
                    l.push_str(&format!(", postal {z}"));
                }
                if let Some(tz) = &loc.time_zone {
                    l.push_str(&format!(", tz {tz}"));
                }
                l.push_str(&format!("  [{}]", loc.source));
                out.push(l);
            }
            if let (Some(lat), Some(lon)) = (loc.latitude, loc.longitude) {
                out.push(format!(
                    "position: {:.3}{}, {:.3}{}  https://www.openstreetmap.org/#map=10/{lat:.4}/{lon:.4}",
                    lat.abs(),
                    if lat >= 0.0 { 'N' } else { 'S' },
                    lon.abs(),
                    if lon >= 0.0 { 'E' } else { 'W' },
                ));
            }
        }
        if let Some(a) = &self.asn {
            let mut l = format!("ASN:      AS{}", a.number);
            if let Some(n) = &a.name {
                l.push_str(&format!(", {n}"));
            }
            if let Some(net) = &a.network {
                l.push_str(&format!(", net {net}"));
            }
            l.push_str(&format!("  [{}]", a.source));
            out.push(l);
        } else if let Some(net) = self.country.as_ref().and_then(|c| c.network) {
            out.push(format!("network:  {net}"));
        }
        if let Some(f) = &self.flags {
            out.push(format!(
                "flags:    {}  [{}]",
                f.names().join(", "),
                f.source
            ));
        }
        if let Some(d) = &self.drop {
            out.push(format!(
                "DROP:     {} ({}) https://check.spamhaus.org/sbl/query/{}  [{}]",
                d.sbl, d.network, d.sbl, d.source
            ));
        }
        if let Some(r) = &self.registry {
            let e = &r.entry;
            let mut fields = vec![e.prefix.as_str(), e.designation.as_str()];
            for f in [&e.date, &e.whois, &e.rdap, &e.status] {
                if !f.is_empty() {
                    fields.push(f);
                }
            }
            out.push(format!("IANA:     {}  [{}]", fields.join(", "), r.source));
        }
        out
    }
}
