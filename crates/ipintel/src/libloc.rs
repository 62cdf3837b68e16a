//! Reader for the IPFire location database, format version 1 (`location.db`).
//!
//! Written from the public description of the format (all integers big-endian):
//!
//! * bytes 0..7 magic `LOCDBXX`, byte 7 version (1);
//! * header at 8: `created_at` u64, vendor/description/licence u32 string-pool
//!   offsets, then (offset, length) u32 pairs for the AS, network-data,
//!   network-tree, countries and string-pool sections, two u16 signature
//!   lengths, two 2048-byte signature areas and 32 bytes of padding;
//! * network tree: 12-byte nodes `{zero, one, network}`; a child index of 0
//!   means "no child" (node 0 is the root, so nothing points back to it) and a
//!   network index of `0xffffffff` means "no network at this node". The tree is a
//!   binary trie over all 128 address bits; IPv4 lives under `::ffff:0:0/96`;
//! * network data: 12-byte records `{country[2], pad[2], asn u32, flags u16, pad[2]}`;
//! * AS section: 8-byte records `{number u32, name u32}`, sorted by number;
//! * countries: 8-byte records `{code[2], continent[2], name u32}`, sorted by code;
//! * string pool: NUL-terminated strings addressed by offset.
//!
//! Every read is bounds-checked; a malformed file yields [`IntelError::Corrupt`].

use crate::error::{be, IntelError, Result};
use crate::net::{to_key, IpNetwork, V4_MAPPED_PREFIX};
use std::borrow::Cow;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 7] = b"LOCDBXX";
const HEADER_START: usize = 8;
/// magic(8) + fixed header fields(64) + signatures(4096) + padding(32).
const HEADER_END: usize = 8 + 64 + 2 * 2048 + 32;
const NODE_SIZE: usize = 12;
const NETWORK_SIZE: usize = 12;
const AS_SIZE: usize = 8;
const COUNTRY_SIZE: usize = 8;
const NO_NETWORK: u32 = u32::MAX;

/// Network flags as stored in the file.
pub const FLAG_ANONYMOUS_PROXY: u16 = 1 << 0;
pub const FLAG_SATELLITE_PROVIDER: u16 = 1 << 1;
pub const FLAG_ANYCAST: u16 = 1 << 2;
pub const FLAG_DROP: u16 = 1 << 3;

#[derive(Clone, Copy, Debug)]
struct Section {
    offset: usize,
    length: usize,
}

/// An open libloc database (memory-mapped, or any byte buffer for tests/fuzzing).
pub struct LocDb<B: AsRef<[u8]> = memmap2::Mmap> {
    bytes: B,
    path: PathBuf,
    created_at: u64,
    vendor: u32,
    description: u32,
    license: u32,
    as_section: Section,
    networks: Section,
    tree: Section,
    countries: Section,
    pool: Section,
    /// Node reached after walking `::ffff:0:0/96`, so IPv4 lookups walk 32 levels
    /// instead of 128, plus the most specific network seen on the way there.
    v4_root: Option<V4Root>,
}

/// (node index at depth 96 or `u32::MAX` if the tree ends above it, best
/// (network index, depth) seen on the way).
type V4Root = (u32, Option<(u32, u8)>);

/// One matching network and what the database says about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocMatch {
    pub network: IpNetwork,
    /// ISO 3166 code, or one of libloc's pseudo codes; `None` when empty.
    pub country_code: Option<[u8; 2]>,
    /// `None` when the record has ASN 0.
    pub asn: Option<u32>,
    pub flags: u16,
}

/// A country record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocCountry {
    pub code: String,
    pub continent: String,
    pub name: String,
}

crate::error::open_mapped!(LocDb);

impl<B: AsRef<[u8]>> LocDb<B> {
    /// Validates `bytes` as a libloc v1 database; `path` only labels errors.
    pub fn from_bytes(bytes: B, path: &Path) -> Result<Self> {
        let b = bytes.as_ref();
        let bad = |reason: &str| IntelError::corrupt(path, format!("libloc: {reason}"));
        if b.len() < HEADER_END {
            return Err(bad("file shorter than the header"));
        }
        if &b[..7] != MAGIC {
            return Err(bad("missing LOCDBXX magic"));
        }
        if b[7] != 1 {
            return Err(bad(&format!("unsupported format version {}", b[7])));
        }
        let h = HEADER_START;
        // Header length was checked above, so these reads cannot fail; map to an
        // error anyway rather than unwrap.
        let field = |off: usize| be::<u32>(b, h + off).ok_or_else(|| bad("short header"));
        let section = |off: usize, name: &str, record: usize| -> Result<Section> {
            let offset = field(off)? as usize;
            let length = field(off + 4)? as usize;
            let end = offset
                .checked_add(length)
                .ok_or_else(|| bad(&format!("{name} section overflows")))?;
            if end > b.len() {
                return Err(bad(&format!(
                    "{name} section {offset}+{length} beyond end of file ({})",
                    b.len()
                )));
            }
            if record > 1 && length % record != 0 {
                return Err(bad(&format!(
                    "{name} section length {length} not a multiple of {record}"
                )));
            }
            Ok(Section { offset, length })
        };
        let mut db = LocDb {
            created_at: be::<u64>(b, h).ok_or_else(|| bad("short header"))?,
            vendor: field(8)?,
            description: field(12)?,
            license: field(16)?,
            as_section: section(20, "AS", AS_SIZE)?,
            networks: section(28, "network data", NETWORK_SIZE)?,
            tree: section(36, "network tree", NODE_SIZE)?,
            countries: section(44, "countries", COUNTRY_SIZE)?,
            pool: section(52, "string pool", 1)?,
            v4_root: None,
            path: path.to_path_buf(),
            bytes,
        };
        if db.tree.length == 0 {
            return Err(bad("empty network tree"));
        }
        db.v4_root = db.walk_v4_prefix()?;
        Ok(db)
    }

    fn corrupt(&self, reason: String) -> IntelError {
        IntelError::corrupt(&self.path, format!("libloc: {reason}"))
    }

    /// The file this database was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// UNIX time the database was built.
    pub fn created_at(&self) -> u64 {
        self.created_at
    }

    pub fn vendor(&self) -> Option<Cow<'_, str>> {
        self.string(self.vendor)
    }

    pub fn description(&self) -> Option<Cow<'_, str>> {
        self.string(self.description)
    }

    pub fn license(&self) -> Option<Cow<'_, str>> {
        self.string(self.license)
    }

    fn node_count(&self) -> u32 {
        (self.tree.length / NODE_SIZE) as u32
    }

    /// Reads tree node `index` as (zero, one, network).
    fn node(&self, index: u32) -> Result<(u32, u32, u32)> {
        if index >= self.node_count() {
            return Err(self.corrupt(format!(
                "tree node {index} out of range ({} nodes)",
                self.node_count()
            )));
        }
        let at = self.tree.offset + index as usize * NODE_SIZE;
        let b = self.bytes.as_ref();
        match (be::<u32>(b, at), be::<u32>(b, at + 4), be::<u32>(b, at + 8)) {
            (Some(z), Some(o), Some(n)) => Ok((z, o, n)),
            _ => Err(self.corrupt(format!("tree node {index} truncated"))),
        }
    }

    /// Walks `::ffff:0:0/96` once at open time.
    fn walk_v4_prefix(&self) -> Result<Option<V4Root>> {
        let prefix = V4_MAPPED_PREFIX << 32;
        let mut node = 0u32;
        let mut best = None;
        for depth in 0..96u32 {
            let (zero, one, network) = self.node(node)?;
            if network != NO_NETWORK {
                best = Some((network, depth as u8));
            }
            let bit = (prefix >> (127 - depth)) & 1;
            let next = if bit == 0 { zero } else { one };
            if next == 0 {
                return Ok(Some((u32::MAX, best)));
            }
            node = next;
        }
        Ok(Some((node, best)))
    }

    /// Longest-prefix match for `ip`. `Ok(None)` when no network covers it.
    pub fn lookup(&self, ip: IpAddr) -> Result<Option<LocMatch>> {
        let key = to_key(ip);
        let (mut node, mut best, start_depth) = match (ip, self.v4_root) {
            // u32::MAX marks "the tree ends above /96": only `best` can match.
            (IpAddr::V4(_), Some((u32::MAX, best))) => {
                return self.resolve(key, best);
            }
            (IpAddr::V4(_), Some((node, best))) => (node, best, 96u32),
            (IpAddr::V4(_), None) => return Ok(None),
            (IpAddr::V6(_), _) => (0u32, None, 0u32),
        };
        let mut depth = start_depth;
        loop {
            let (zero, one, network) = self.node(node)?;
            if network != NO_NETWORK {
                best = Some((network, depth as u8));
            }
            if depth == 128 {
                break;
            }
            let bit = (key >> (127 - depth)) & 1;
            let next = if bit == 0 { zero } else { one };
            if next == 0 {
                break;
            }
            node = next;
            depth += 1;
        }
        self.resolve(key, best)
    }

    fn resolve(&self, key: u128, best: Option<(u32, u8)>) -> Result<Option<LocMatch>> {
        let Some((index, prefix128)) = best else {
            return Ok(None);
        };
        let (country_code, asn, flags) = self.network_record(index)?;
        let network = IpNetwork::from_key(key, prefix128)
            .ok_or_else(|| self.corrupt(format!("bad prefix length {prefix128}")))?;
        Ok(Some(LocMatch {
            network,
            country_code,
            asn,
            flags,
        }))
    }

    fn network_record(&self, index: u32) -> Result<(Option<[u8; 2]>, Option<u32>, u16)> {
        let count = self.networks.length / NETWORK_SIZE;
        if index as usize >= count {
            return Err(self.corrupt(format!(
                "network index {index} out of range ({count} networks)"
            )));
        }
        let at = self.networks.offset + index as usize * NETWORK_SIZE;
        let b = self.bytes.as_ref();
        let rec = b
            .get(at..at + NETWORK_SIZE)
            .ok_or_else(|| self.corrupt(format!("network {index} truncated")))?;
        let cc = [rec[0], rec[1]];
        let asn = u32::from_be_bytes([rec[4], rec[5], rec[6], rec[7]]);
        let flags = u16::from_be_bytes([rec[8], rec[9]]);
        let cc = (cc != [0, 0] && cc.iter().all(u8::is_ascii_alphanumeric)).then_some(cc);
        Ok((cc, (asn != 0).then_some(asn), flags))
    }

    /// A NUL-terminated string from the pool; `None` when out of range.
    fn string(&self, offset: u32) -> Option<Cow<'_, str>> {
        let b = self.bytes.as_ref();
        let pool = b.get(self.pool.offset..self.pool.offset + self.pool.length)?;
        let rest = pool.get(offset as usize..)?;
        let end = rest.iter().position(|&c| c == 0).unwrap_or(rest.len());
        Some(String::from_utf8_lossy(&rest[..end]))
    }

    /// Name of an autonomous system (binary search of the sorted AS section).
    pub fn as_name(&self, asn: u32) -> Option<Cow<'_, str>> {
        let rec = self.find(&self.as_section, AS_SIZE, asn, |r| be::<u32>(r, 0))?;
        self.string(be::<u32>(rec, 4)?).filter(|s| !s.is_empty())
    }

    /// Country record by code (binary search of the sorted country section).
    pub fn country(&self, code: [u8; 2]) -> Option<LocCountry> {
        let rec = self.find(&self.countries, COUNTRY_SIZE, code, |r| Some([r[0], r[1]]))?;
        Some(LocCountry {
            code: String::from_utf8_lossy(&rec[0..2]).into_owned(),
            continent: String::from_utf8_lossy(&rec[2..4]).into_owned(),
            name: self
                .string(be::<u32>(rec, 4)?)
                .unwrap_or_default()
                .into_owned(),
        })
    }

    /// The record of a sorted section (`size` bytes each) whose key (what
    /// `key` reads from a record) is `want`, by binary search.
    fn find<K: Ord>(
        &self,
        section: &Section,
        size: usize,
        want: K,
        key: impl Fn(&[u8]) -> Option<K>,
    ) -> Option<&[u8]> {
        let b = self.bytes.as_ref();
        let (mut lo, mut hi) = (0usize, section.length / size);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let at = section.offset + mid * size;
            let rec = b.get(at..at + size)?;
            match key(rec)?.cmp(&want) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(rec),
            }
        }
        None
    }

    /// All country records, in file order.
    pub fn countries(&self) -> Vec<LocCountry> {
        let b = self.bytes.as_ref();
        (0..self.countries.length / COUNTRY_SIZE)
            .filter_map(|i| {
                let at = self.countries.offset + i * COUNTRY_SIZE;
                let rec = b.get(at..at + COUNTRY_SIZE)?;
                self.country([rec[0], rec[1]])
            })
            .collect()
    }

    /// All AS records (number, name), in file order.
    pub fn autonomous_systems(&self) -> Vec<(u32, String)> {
        let b = self.bytes.as_ref();
        (0..self.as_section.length / AS_SIZE)
            .filter_map(|i| {
                let at = self.as_section.offset + i * AS_SIZE;
                let number = be::<u32>(b, at)?;
                let name = self.string(be::<u32>(b, at + 4)?)?;
                Some((number, name.into_owned()))
            })
            .collect()
    }

    /// Visits every network in the tree in address order (depth-first, zero
    /// branch first), with the matched record. Used to build the embedded table.
    /// Stops with an error on a cycle or an out-of-range index.
    pub fn for_each_network(&self, mut visit: impl FnMut(&LocMatch)) -> Result<()> {
        // Explicit stack of (node, key so far, depth); bounded by the depth check.
        let mut stack = vec![(0u32, 0u128, 0u32)];
        let mut visited = 0u64;
        while let Some((node, key, depth)) = stack.pop() {
            visited += 1;
            if visited > u64::from(self.node_count()) * 2 + 2 {
                return Err(self.corrupt("network tree contains a cycle".into()));
            }
            let (zero, one, network) = self.node(node)?;
            if network != NO_NETWORK {
                let (country_code, asn, flags) = self.network_record(network)?;
                if let Some(net) = IpNetwork::from_key(key, depth as u8) {
                    visit(&LocMatch {
                        network: net,
                        country_code,
                        asn,
                        flags,
                    });
                }
            }
            if depth >= 128 {
                continue;
            }
            if one != 0 {
                stack.push((one, key | (1u128 << (127 - depth)), depth + 1));
            }
            if zero != 0 {
                stack.push((zero, key, depth + 1));
            }
        }
        Ok(())
    }
}
