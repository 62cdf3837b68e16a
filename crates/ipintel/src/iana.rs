//! IANA registry CSV files: "IPv4 Address Space" (`Prefix,Designation,Date,
//! WHOIS,RDAP,Status [1],Note`, prefixes like `001/8`) and "IPv6 Global Unicast
//! Address Assignments" (same columns, prefixes like `2001:0200::/23`). Quoted
//! fields may span lines (RDAP lists several URLs, notes are long); the `csv`
//! crate handles that. A copy generated from the XML that Debian's
//! python3-netaddr ships is compiled in (see `tools/gen-iana-csv.py`).

use crate::error::{read_text, IntelError, Result};
use crate::net::{IpNetwork, PrefixTable};
use serde::Serialize;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

/// Compiled-in IPv4 registry (IANA, via python3-netaddr 0.8.0; registry date 2019-12-27).
pub const EMBEDDED_IPV4_CSV: &str = include_str!("../data/iana-ipv4-address-space.csv");
/// Compiled-in IPv6 unicast registry (IANA, via python3-netaddr 0.8.0; registry date 2019-11-06).
pub const EMBEDDED_IPV6_CSV: &str =
    include_str!("../data/iana-ipv6-unicast-address-assignments.csv");

/// One registry row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegistryEntry {
    /// The prefix as written in the registry (`008/8`, `2001:0200::/23`).
    pub prefix: String,
    /// Designation / RIR, e.g. `Administered by ARIN`, `RIPE NCC`.
    pub designation: String,
    /// `YYYY-MM` or `YYYY-MM-DD`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub date: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub whois: String,
    /// First RDAP URL only.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub rdap: String,
    /// ALLOCATED, LEGACY, RESERVED ...
    pub status: String,
}

/// Parses a registry prefix: `001/8` (zero-padded decimal first octet) or an IPv6 CIDR.
pub fn parse_prefix(text: &str) -> std::result::Result<IpNetwork, String> {
    let text = text.trim();
    let (addr, len) = text
        .split_once('/')
        .ok_or_else(|| format!("prefix without length: {text:?}"))?;
    if addr.contains(':') || addr.contains('.') {
        return text.parse();
    }
    let octet: u8 = addr.parse().map_err(|_| format!("bad prefix {text:?}"))?;
    let len: u8 = len
        .parse()
        .map_err(|_| format!("bad prefix length {text:?}"))?;
    IpNetwork::new(IpAddr::V4(Ipv4Addr::new(octet, 0, 0, 0)), len)
        .ok_or_else(|| format!("bad prefix length {text:?}"))
}

/// Parses a whole registry CSV into entries.
pub fn parse_csv(text: &str) -> std::result::Result<Vec<(IpNetwork, RegistryEntry)>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(true)
        .from_reader(text.as_bytes());
    let headers = reader.headers().map_err(|e| e.to_string())?.clone();
    let col = |name: &str| headers.iter().position(|h| h.trim().starts_with(name));
    let prefix_col = col("Prefix").ok_or("no Prefix column")?;
    let designation_col = col("Designation").ok_or("no Designation column")?;
    let (date_col, whois_col, rdap_col, status_col) =
        (col("Date"), col("WHOIS"), col("RDAP"), col("Status"));
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| e.to_string())?;
        let get = |c: Option<usize>| {
            c.and_then(|c| record.get(c))
                .unwrap_or("")
                .trim()
                .to_string()
        };
        let prefix_text = get(Some(prefix_col));
        if prefix_text.is_empty() {
            continue;
        }
        let network = parse_prefix(&prefix_text)?;
        let rdap = get(rdap_col)
            .lines()
            .next()
            .unwrap_or("")
            .trim()
            .to_string();
        out.push((
            network,
            RegistryEntry {
                prefix: prefix_text,
                designation: get(Some(designation_col)),
                date: get(date_col),
                whois: get(whois_col),
                rdap,
                status: get(status_col),
            },
        ));
    }
    if out.is_empty() {
        return Err("no registry rows".into());
    }
    Ok(out)
}

/// Both registries in one longest-prefix-match table.
#[derive(Debug, Default)]
pub struct IanaRegistry {
    table: PrefixTable<RegistryEntry>,
    /// Files loaded, or empty when only the embedded copy is in use.
    paths: Vec<PathBuf>,
}

impl IanaRegistry {
    /// The compiled-in copy of both registries.
    pub fn embedded() -> Self {
        let mut reg = IanaRegistry::default();
        for text in [EMBEDDED_IPV4_CSV, EMBEDDED_IPV6_CSV] {
            // The embedded files are generated and tested; an error here would be a
            // build defect, and skipping the rows is the safe reaction.
            if let Ok(rows) = parse_csv(text) {
                for (net, e) in rows {
                    reg.table.insert(net, e);
                }
            }
        }
        reg
    }

    /// Adds a registry CSV file (rows replace embedded rows for the same prefix).
    pub fn load_file(&mut self, path: &Path) -> Result<()> {
        let rows = parse_csv(&read_text(path)?)
            .map_err(|r| IntelError::corrupt(path, format!("IANA CSV: {r}")))?;
        for (net, e) in rows {
            self.table.insert(net, e);
        }
        self.paths.push(path.to_path_buf());
        Ok(())
    }

    pub fn lookup(&self, ip: IpAddr) -> Option<(IpNetwork, &RegistryEntry)> {
        self.table.lookup(ip)
    }

    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
