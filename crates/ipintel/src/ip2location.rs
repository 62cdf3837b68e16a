//! Reader for IP2Location LITE/commercial `.BIN` files (DB1..DB24, IPv4 and
//! IPv6 sections), written from the public description of the format:
//!
//! * little-endian; row/section addresses in the header are 1-based, string
//!   pointers inside rows are 0-based file offsets;
//! * header bytes: 0 db type, 1 column count, 2 year (+2000), 3 month, 4 day,
//!   5..9 IPv4 row count, 9..13 IPv4 base, 13..17 IPv6 row count, 17..21 IPv6
//!   base, 21..25 IPv4 index base, 25..29 IPv6 index base (0 = no index);
//! * IPv4 rows are `columns * 4` bytes starting with `ip_from` (u32); IPv6 rows
//!   are `columns * 4 + 12` bytes starting with a 16-byte little-endian `ip_from`;
//!   row *i* covers `[ip_from(i), ip_from(i+1))`, the last row runs to the end;
//! * optional index: 65536 entries of (first row, last row) u32 pairs, keyed by
//!   the top 16 bits of the address;
//! * column *n* (1-based, column 1 being `ip_from`) holds either an f32
//!   (latitude, longitude) or a pointer to a length-prefixed string; the
//!   country column points at the 2-letter code, and the long name follows
//!   3 bytes later.

use crate::error::{le, IntelError, Result};
use crate::net::IpNetwork;
use sock_trace_decode::Place;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

/// Column positions per database type (index = type, value 0 = absent),
/// one row per field: country, region, city, isp, latitude, longitude,
/// zip, timezone. Public tables from IP2Location's documentation.
#[rustfmt::skip]
const COLUMNS: [[u8; 26]; 8] = [
    [0, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2],
    [0, 0, 0, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3],
    [0, 0, 0, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4],
    [0, 0, 3, 0, 5, 0, 7, 5, 7, 0, 8, 0, 9, 0, 9, 0, 9, 0, 9, 7, 9, 0, 9, 7, 9, 9],
    [0, 0, 0, 0, 0, 5, 5, 0, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5],
    [0, 0, 0, 0, 0, 6, 6, 0, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6],
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 7, 7, 7, 7, 0, 7, 7, 7, 0, 7, 0, 7, 7, 7, 0, 7, 7],
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 8, 7, 8, 8, 8, 7, 8, 0, 8, 8, 8, 0, 8, 8],
];

/// Which field sits in which 1-based column for a database type; 0 = absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColumnLayout {
    pub country: u8,
    pub region: u8,
    pub city: u8,
    pub isp: u8,
    pub latitude: u8,
    pub longitude: u8,
    pub zip: u8,
    pub timezone: u8,
}

impl ColumnLayout {
    /// Layout for a database type 1..=25, `None` otherwise.
    pub fn for_type(db_type: u8) -> Option<Self> {
        let t = db_type as usize;
        if t == 0 || t >= COLUMNS[0].len() {
            return None;
        }
        let [country, region, city, isp, latitude, longitude, zip, timezone] =
            COLUMNS.map(|field| field[t]);
        Some(ColumnLayout {
            country,
            region,
            city,
            isp,
            latitude,
            longitude,
            zip,
            timezone,
        })
    }

    fn max_column(&self) -> u8 {
        [
            self.country,
            self.region,
            self.city,
            self.isp,
            self.latitude,
            self.longitude,
            self.zip,
            self.timezone,
        ]
        .into_iter()
        .max()
        .unwrap_or(0)
    }
}

/// What a row says about an address. IP2Location uses `-` for "not known";
/// such values come back as `None`.
#[derive(Debug, Clone, PartialEq)]
pub struct Ip2LocRecord {
    pub country_code: Option<String>,
    pub country_name: Option<String>,
    pub isp: Option<String>,
    /// Region, city, zip code (`postal_code`), time zone (a UTC offset such
    /// as `-07:00`) and position (the file's 32-bit floats, widened); no
    /// accuracy.
    pub place: Place,
    /// The address range of the row, as the smallest CIDR block holding it
    /// would be misleading; (first, last) addresses instead.
    pub range: (IpAddr, IpAddr),
}

#[derive(Debug, Clone, Copy)]
struct Header {
    db_type: u8,
    columns: u8,
    year: u16,
    month: u8,
    day: u8,
    v4_count: u32,
    v4_base: u32,
    v6_count: u32,
    v6_base: u32,
    v4_index: u32,
    v6_index: u32,
}

/// An open BIN database.
pub struct Ip2Location<B: AsRef<[u8]> = memmap2::Mmap> {
    bytes: B,
    path: PathBuf,
    header: Header,
    layout: ColumnLayout,
}

crate::error::open_mapped!(Ip2Location);

impl<B: AsRef<[u8]>> Ip2Location<B> {
    /// Validates the header and section bounds; `path` labels errors.
    pub fn from_bytes(bytes: B, path: &Path) -> Result<Self> {
        let b = bytes.as_ref();
        let bad = |r: String| IntelError::corrupt(path, format!("IP2Location BIN: {r}"));
        if b.len() < 29 {
            return Err(bad("file shorter than the 29-byte header".into()));
        }
        let u = |at| le::<u32>(b, at).unwrap_or(0);
        let header = Header {
            db_type: b[0],
            columns: b[1],
            year: 2000 + u16::from(b[2]),
            month: b[3],
            day: b[4],
            v4_count: u(5),
            v4_base: u(9),
            v6_count: u(13),
            v6_base: u(17),
            v4_index: u(21),
            v6_index: u(25),
        };
        let layout = ColumnLayout::for_type(header.db_type)
            .ok_or_else(|| bad(format!("unknown database type {}", header.db_type)))?;
        if header.columns < layout.max_column() || header.columns < 2 {
            return Err(bad(format!(
                "{} columns is too few for DB{}",
                header.columns, header.db_type
            )));
        }
        if !(1..=12).contains(&header.month) || !(1..=31).contains(&header.day) {
            return Err(bad(format!(
                "implausible date {}-{}-{}",
                header.year, header.month, header.day
            )));
        }
        if header.v4_count == 0 && header.v6_count == 0 {
            return Err(bad("no IPv4 or IPv6 rows".into()));
        }
        let db = Ip2Location {
            path: path.to_path_buf(),
            header,
            layout,
            bytes,
        };
        let file_len = db.bytes.as_ref().len();
        for (count, base, row) in [
            (header.v4_count, header.v4_base, db.row_size(false)),
            (header.v6_count, header.v6_base, db.row_size(true)),
        ] {
            if count == 0 {
                continue;
            }
            let end = (base as u64).saturating_sub(1) + u64::from(count) * row as u64;
            if base == 0 || end > file_len as u64 {
                return Err(IntelError::corrupt(
                    path,
                    format!("IP2Location BIN: {count} rows at {base} run past the end of the file ({file_len} bytes)"),
                ));
            }
        }
        Ok(db)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn db_type(&self) -> u8 {
        self.header.db_type
    }

    /// Build date (year, month, day) from the header.
    pub fn date(&self) -> (u16, u8, u8) {
        (self.header.year, self.header.month, self.header.day)
    }

    pub fn layout(&self) -> ColumnLayout {
        self.layout
    }

    fn row_size(&self, v6: bool) -> usize {
        self.header.columns as usize * 4 + if v6 { 12 } else { 0 }
    }

    fn corrupt(&self, r: String) -> IntelError {
        IntelError::corrupt(&self.path, format!("IP2Location BIN: {r}"))
    }

    /// `ip_from` of row `i` in the chosen section.
    fn row_from(&self, v6: bool, i: u32) -> Result<u128> {
        let (base, row) = if v6 {
            (self.header.v6_base, self.row_size(true))
        } else {
            (self.header.v4_base, self.row_size(false))
        };
        let at = (base as usize - 1) + i as usize * row;
        let b = self.bytes.as_ref();
        let v = if v6 {
            le::<u128>(b, at)
        } else {
            le::<u32>(b, at).map(u128::from)
        };
        v.ok_or_else(|| self.corrupt(format!("row {i} beyond end of file")))
    }

    /// Rows to search for `key`, narrowed by the index when there is one.
    fn search_bounds(&self, v6: bool, top16: usize, count: u32) -> (u32, u32) {
        let index = if v6 {
            self.header.v6_index
        } else {
            self.header.v4_index
        };
        if index == 0 {
            return (0, count - 1);
        }
        let at = index as usize - 1 + top16 * 8;
        let b = self.bytes.as_ref();
        match (le::<u32>(b, at), le::<u32>(b, at + 4)) {
            // An index pointing outside the rows is ignored rather than trusted.
            (Some(lo), Some(hi)) if lo <= hi && hi < count => (lo, hi),
            _ => (0, count - 1),
        }
    }

    /// Finds the row for `ip`. IPv4-mapped addresses should be unmapped by the
    /// caller; an IPv4 address in a file without an IPv4 section finds nothing.
    pub fn lookup(&self, ip: IpAddr) -> Result<Option<Ip2LocRecord>> {
        let (v6, key, count) = match ip {
            IpAddr::V4(v4) => (false, u128::from(u32::from(v4)), self.header.v4_count),
            IpAddr::V6(v6) => (true, u128::from(v6), self.header.v6_count),
        };
        if count == 0 {
            return Ok(None);
        }
        let top16 = if v6 {
            (key >> 112) as usize
        } else {
            (key >> 16) as usize
        };
        let (mut lo, mut hi) = self.search_bounds(v6, top16, count);
        // The index narrows rows by their start; widen by one so that a range
        // starting in an earlier bucket is still found.
        lo = lo.saturating_sub(1);
        // Find the last row in [lo, hi] with from <= key.
        if self.row_from(v6, lo)? > key {
            if lo == 0 {
                return Ok(None);
            }
            lo = 0;
        }
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            if self.row_from(v6, mid)? <= key {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        let from = self.row_from(v6, lo)?;
        let max = if v6 { u128::MAX } else { u128::from(u32::MAX) };
        let to = if lo + 1 < count {
            self.row_from(v6, lo + 1)?.saturating_sub(1)
        } else {
            max
        };
        if key < from || key > to {
            return Ok(None);
        }
        self.read_record(v6, lo, from, to).map(Some)
    }

    fn read_record(&self, v6: bool, row: u32, from: u128, to: u128) -> Result<Ip2LocRecord> {
        let (base, size) = if v6 {
            (self.header.v6_base, self.row_size(true))
        } else {
            (self.header.v4_base, self.row_size(false))
        };
        let row_at = base as usize - 1 + row as usize * size;
        // Column n (n >= 2) starts after ip_from: 4 bytes for IPv4, 16 for IPv6.
        let first_field = if v6 { 16 } else { 4 };
        let b = self.bytes.as_ref();
        let col_at = |col: u8| row_at + first_field + (col as usize - 2) * 4;
        let raw = |col: u8| -> Result<Option<u32>> {
            if col < 2 {
                return Ok(None);
            }
            le::<u32>(b, col_at(col))
                .map(Some)
                .ok_or_else(|| self.corrupt(format!("row {row} truncated")))
        };
        let string_at = |ptr: u32| -> Result<String> {
            let at = ptr as usize;
            let len = *b
                .get(at)
                .ok_or_else(|| self.corrupt(format!("string pointer {ptr} out of range")))?
                as usize;
            let s = b
                .get(at + 1..at + 1 + len)
                .ok_or_else(|| self.corrupt(format!("string at {ptr} runs past the end")))?;
            Ok(String::from_utf8_lossy(s).into_owned())
        };
        let known = |s: String| (!s.is_empty() && s != "-").then_some(s);
        let text = |col: u8| -> Result<Option<String>> {
            match raw(col)? {
                Some(ptr) => Ok(known(string_at(ptr)?)),
                None => Ok(None),
            }
        };
        let float = |col: u8| -> Result<Option<f32>> {
            Ok(raw(col)?.map(f32::from_bits).filter(|f| f.is_finite()))
        };
        let (country_code, country_name) = match raw(self.layout.country)? {
            Some(ptr) => (
                known(string_at(ptr)?),
                known(string_at(ptr.saturating_add(3))?),
            ),
            None => (None, None),
        };
        let addr = |k: u128| {
            if v6 {
                IpAddr::V6(Ipv6Addr::from(k))
            } else {
                IpAddr::V4(Ipv4Addr::from(k as u32))
            }
        };
        let (lat, lon) = (float(self.layout.latitude)?, float(self.layout.longitude)?);
        // 0/0 is what LITE files store for "unknown position".
        let position_known = !matches!((lat, lon), (Some(a), Some(b)) if a == 0.0 && b == 0.0);
        let (region, city, isp) = (
            text(self.layout.region)?,
            text(self.layout.city)?,
            text(self.layout.isp)?,
        );
        let (zip, timezone) = (text(self.layout.zip)?, text(self.layout.timezone)?);
        let position = |v: Option<f32>| v.filter(|_| position_known).map(f64::from);
        Ok(Ip2LocRecord {
            country_code,
            country_name,
            isp,
            place: Place {
                city,
                region,
                postal_code: zip,
                time_zone: timezone,
                latitude: position(lat),
                longitude: position(lon),
                accuracy_km: None,
            },
            range: (addr(from), addr(to)),
        })
    }
}

/// A CIDR helper for callers that want a network for a row range: the
/// largest aligned block starting at `from` that stays within the range and
/// contains `ip` is not generally defined, so this returns the single network
/// only when the range is exactly one CIDR block.
pub fn range_as_network(from: IpAddr, to: IpAddr) -> Option<IpNetwork> {
    let (f, t, bits) = match (from, to) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u128::from(u32::from(a)), u128::from(u32::from(b)), 32),
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), 128),
        _ => return None,
    };
    let span = t.checked_sub(f)?.checked_add(1);
    let host_bits = match span {
        None => 128,
        Some(s) if s.is_power_of_two() => s.trailing_zeros(),
        Some(_) => return None,
    };
    if host_bits > bits || (host_bits < 128 && f & ((1u128 << host_bits) - 1) != 0) {
        return None;
    }
    IpNetwork::new(from, (bits - host_bits) as u8)
}
