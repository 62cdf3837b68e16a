//! MaxMind DB files (GeoLite2/GeoIP2 City, Country, ASN; DB-IP lite) through the
//! `maxminddb` crate over a memory map. One record type covers all of these
//! layouts: fields a file lacks simply stay empty.

use crate::error::{IntelError, Result};
use crate::net::IpNetwork;
use serde::Deserialize;
use sock_trace_decode::Place;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

#[derive(Deserialize, Default, Debug)]
struct Names<'a> {
    #[serde(borrow, default)]
    en: Option<&'a str>,
}

#[derive(Deserialize, Default, Debug)]
struct NamedCode<'a> {
    #[serde(borrow, default)]
    iso_code: Option<&'a str>,
    #[serde(borrow, default)]
    code: Option<&'a str>,
    #[serde(borrow, default)]
    names: Option<Names<'a>>,
}

#[derive(Deserialize, Default, Debug)]
struct Location<'a> {
    latitude: Option<f64>,
    longitude: Option<f64>,
    accuracy_radius: Option<u16>,
    #[serde(borrow, default)]
    time_zone: Option<&'a str>,
}

#[derive(Deserialize, Default, Debug)]
struct Postal<'a> {
    #[serde(borrow, default)]
    code: Option<&'a str>,
}

#[derive(Deserialize, Default, Debug)]
struct Traits {
    #[serde(default)]
    is_anonymous_proxy: Option<bool>,
    #[serde(default)]
    is_satellite_provider: Option<bool>,
    #[serde(default)]
    is_anycast: Option<bool>,
}

#[derive(Deserialize, Default, Debug)]
struct Record<'a> {
    #[serde(borrow, default)]
    country: Option<NamedCode<'a>>,
    #[serde(borrow, default)]
    registered_country: Option<NamedCode<'a>>,
    #[serde(borrow, default)]
    continent: Option<NamedCode<'a>>,
    #[serde(borrow, default)]
    city: Option<NamedCode<'a>>,
    #[serde(borrow, default)]
    subdivisions: Option<Vec<NamedCode<'a>>>,
    #[serde(borrow, default)]
    location: Option<Location<'a>>,
    #[serde(borrow, default)]
    postal: Option<Postal<'a>>,
    #[serde(default)]
    traits: Option<Traits>,
    autonomous_system_number: Option<u32>,
    #[serde(borrow, default)]
    autonomous_system_organization: Option<&'a str>,
}

/// What a MaxMind DB says about one address (owned, ready for an annotation).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MmdbAnswer {
    pub network: Option<IpNetwork>,
    pub country_code: Option<String>,
    pub country_name: Option<String>,
    pub continent_code: Option<String>,
    /// City, region (largest subdivision), postal code, time zone, position.
    pub place: Place,
    pub asn: Option<u32>,
    pub as_name: Option<String>,
    pub anonymous_proxy: bool,
    pub satellite_provider: bool,
    pub anycast: bool,
}

/// An open `.mmdb` file.
pub struct Mmdb<B: AsRef<[u8]> = memmap2::Mmap> {
    reader: maxminddb::Reader<SharedBytes<B>>,
    /// The same bytes, for the tree walk in `check_all_records`.
    bytes: SharedBytes<B>,
    path: PathBuf,
}

/// Cheaply clonable byte owner, so the reader and the checker share one mapping.
pub struct SharedBytes<B>(std::sync::Arc<B>);

impl<B> Clone for SharedBytes<B> {
    fn clone(&self) -> Self {
        SharedBytes(self.0.clone())
    }
}

impl<B: AsRef<[u8]>> AsRef<[u8]> for SharedBytes<B> {
    fn as_ref(&self) -> &[u8] {
        self.0.as_ref().as_ref()
    }
}

crate::error::open_mapped!(Mmdb);

impl<B: AsRef<[u8]>> Mmdb<B> {
    /// Opens `bytes` and probes one lookup, so a file whose search tree or data
    /// section is broken is rejected at load time rather than on every lookup.
    pub fn from_bytes(bytes: B, path: &Path) -> Result<Self> {
        let bad =
            |e: maxminddb::MaxMindDbError| IntelError::corrupt(path, format!("MaxMind DB: {e}"));
        let file_len = bytes.as_ref().len() as u64;
        let shared = SharedBytes(std::sync::Arc::new(bytes));
        let reader = maxminddb::Reader::from_source(shared.clone()).map_err(bad)?;
        // The search tree must fit in the file; a bogus node count otherwise
        // sends tree walks (and `verify`) through unrelated bytes for a long time.
        let meta = &reader.metadata;
        let tree_bytes = u64::from(meta.node_count) * u64::from(meta.record_size) / 4;
        if !matches!(meta.record_size, 24 | 28 | 32) || tree_bytes + 16 > file_len {
            return Err(IntelError::corrupt(
                path,
                format!(
                    "MaxMind DB: search tree of {} nodes x {} bits does not fit in {} bytes",
                    meta.node_count, meta.record_size, file_len
                ),
            ));
        }
        let db = Mmdb {
            reader,
            bytes: shared,
            path: path.to_path_buf(),
        };
        // Probe lookups spread over the address space, so a file whose search
        // tree or data section is broken is rejected at load time rather than
        // on every lookup. (maxminddb's own `verify` walks the whole tree
        // without a bound and exhausts memory on a cyclic tree, so it is not used.)
        for i in 0u32..64 {
            let v4 = IpAddr::V4((i.wrapping_mul(0x0400_0000) | 0x0001_0101).into());
            db.lookup(v4)?;
            if db.reader.metadata.ip_version == 6 {
                let v6 = IpAddr::V6((((0x2000u128 | u128::from(i) << 6) << 112) | 1).into());
                db.lookup(v6)?;
            }
        }
        if db.reader.metadata.node_count <= 200_000 {
            db.check_all_records()?;
        }
        Ok(db)
    }

    /// Walks the whole search tree once (each node at most once, so a cyclic
    /// tree cannot loop) and decodes one address per distinct data record.
    fn check_all_records(&self) -> Result<()> {
        let meta = &self.reader.metadata;
        let nodes = meta.node_count as usize;
        let rs = meta.record_size as usize;
        let node_bytes = rs / 4;
        let b = self.reader_bytes();
        let bits = if meta.ip_version == 6 { 128u32 } else { 32 };
        let record = |node: usize, right: bool| -> Option<usize> {
            let n = b.get(node * node_bytes..(node + 1) * node_bytes)?;
            let be = |s: &[u8]| s.iter().fold(0usize, |acc, &x| (acc << 8) | x as usize);
            Some(match (rs, right) {
                (24, false) => be(&n[0..3]),
                (24, true) => be(&n[3..6]),
                (28, false) => ((n[3] as usize & 0xf0) << 20) | be(&n[0..3]),
                (28, true) => ((n[3] as usize & 0x0f) << 24) | be(&n[4..7]),
                (_, false) => be(&n[0..4]),
                (_, true) => be(&n[4..8]),
            })
        };
        let mut seen_node = vec![false; nodes];
        let mut seen_data = std::collections::HashSet::new();
        let mut revisits = 0u32;
        let mut stack = vec![(0usize, 0u128, 0u32)];
        while let Some((node, key, depth)) = stack.pop() {
            if node >= nodes {
                continue;
            }
            if depth >= bits {
                return Err(IntelError::corrupt(
                    &self.path,
                    "MaxMind DB: search tree is deeper than the address length",
                ));
            }
            if std::mem::replace(&mut seen_node[node], true) {
                // A node reached twice: legal only for the IPv4 subtree that IPv6
                // trees alias at ::ffff:0:0/96, 2001::/32 and 2002::/16.
                revisits += 1;
                if revisits > if bits == 32 { 0 } else { 3 } {
                    return Err(IntelError::corrupt(
                        &self.path,
                        "MaxMind DB: search tree nodes are shared or cyclic",
                    ));
                }
                let ip = if bits == 32 {
                    IpAddr::V4((key as u32).into())
                } else {
                    IpAddr::V6(key.into())
                };
                self.reader
                    .lookup(ip)
                    .map_err(|e| IntelError::corrupt(&self.path, format!("MaxMind DB: {e}")))?;
                continue;
            }
            for right in [false, true] {
                let child_key = if right {
                    key | 1u128 << (bits - 1 - depth)
                } else {
                    key
                };
                let Some(v) = record(node, right) else {
                    continue;
                };
                if v < nodes {
                    stack.push((v, child_key, depth + 1));
                } else if v > nodes && v < nodes + 16 {
                    // Points into the 16-byte separator: maxminddb would underflow.
                    return Err(IntelError::corrupt(
                        &self.path,
                        format!("MaxMind DB: record {v} points into the data separator"),
                    ));
                } else if v > nodes && seen_data.insert(v) {
                    let ip = if bits == 32 {
                        IpAddr::V4((child_key as u32).into())
                    } else {
                        IpAddr::V6(child_key.into())
                    };
                    self.lookup(ip)?;
                }
            }
        }
        Ok(())
    }

    fn reader_bytes(&self) -> &[u8] {
        self.bytes.as_ref()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `database_type` from the metadata, e.g. `GeoLite2-City`.
    pub fn database_type(&self) -> &str {
        &self.reader.metadata.database_type
    }

    /// Build time (UNIX seconds) from the metadata.
    pub fn build_epoch(&self) -> u64 {
        self.reader.metadata.build_epoch
    }

    pub fn description(&self) -> &BTreeMap<String, String> {
        &self.reader.metadata.description
    }

    /// Looks `ip` up. `Ok(None)` when the file has no record for it.
    pub fn lookup(&self, ip: IpAddr) -> Result<Option<MmdbAnswer>> {
        // maxminddb has arithmetic that can overflow (a panic in debug builds)
        // on some corrupt files; contain it so a bad file never takes the
        // tracer down.
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.lookup_inner(ip)))
            .unwrap_or_else(|_| {
                Err(IntelError::corrupt(
                    &self.path,
                    format!("MaxMind DB lookup of {ip}: reader panicked on corrupt data"),
                ))
            })
    }

    fn lookup_inner(&self, ip: IpAddr) -> Result<Option<MmdbAnswer>> {
        let bad = |e: maxminddb::MaxMindDbError| {
            IntelError::corrupt(&self.path, format!("MaxMind DB lookup of {ip}: {e}"))
        };
        if ip.is_ipv6() && self.reader.metadata.ip_version == 4 {
            return Ok(None);
        }
        let result = self.reader.lookup(ip).map_err(bad)?;
        let Some(rec) = result.decode::<Record>().map_err(bad)? else {
            return Ok(None);
        };
        let network = result
            .network()
            .ok()
            .and_then(|n| IpNetwork::new(n.network(), n.prefix()));
        let country = rec.country.as_ref().or(rec.registered_country.as_ref());
        let en = |c: &NamedCode| c.names.as_ref().and_then(|n| n.en).map(str::to_string);
        let loc = rec.location.unwrap_or_default();
        let traits = rec.traits.unwrap_or_default();
        Ok(Some(MmdbAnswer {
            network,
            country_code: country.and_then(|c| c.iso_code).map(str::to_string),
            country_name: country.and_then(en),
            continent_code: rec
                .continent
                .as_ref()
                .and_then(|c| c.code)
                .map(str::to_string),
            place: Place {
                city: rec.city.as_ref().and_then(en),
                region: rec
                    .subdivisions
                    .as_ref()
                    .and_then(|s| s.first())
                    .and_then(en),
                postal_code: rec.postal.and_then(|p| p.code).map(str::to_string),
                time_zone: loc.time_zone.map(str::to_string),
                latitude: loc.latitude,
                longitude: loc.longitude,
                accuracy_km: loc.accuracy_radius,
            },
            asn: rec.autonomous_system_number,
            as_name: rec.autonomous_system_organization.map(str::to_string),
            anonymous_proxy: traits.is_anonymous_proxy.unwrap_or(false),
            satellite_provider: traits.is_satellite_provider.unwrap_or(false),
            anycast: traits.is_anycast.unwrap_or(false),
        }))
    }
}
