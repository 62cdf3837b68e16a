//! Tor GeoIP files (`/usr/share/tor/geoip`, `geoip6`): `#` comment lines, then
//! `LOW,HIGH,CC` per line. IPv4 bounds are decimal u32, IPv6 bounds are address
//! text; both inclusive. `??` means "unknown" and is treated as no answer.
//! Parsed into sorted range vectors and searched with a binary search.

use crate::error::{read_text, IntelError, Result};
use std::net::{IpAddr, Ipv6Addr};
use std::path::{Path, PathBuf};

/// One parsed data line: (low, high, country code) in the unified key space of
/// its family (u32 for IPv4, u128 for IPv6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TorLine {
    V4(u32, u32, [u8; 2]),
    V6(u128, u128, [u8; 2]),
}

/// Parses one line. `Ok(None)` for comments and blank lines.
pub fn parse_line(line: &str) -> std::result::Result<Option<TorLine>, String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let mut parts = line.splitn(3, ',');
    let (Some(lo), Some(hi), Some(cc)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!("expected LOW,HIGH,CC in {line:?}"));
    };
    let cc = cc.trim().as_bytes();
    if cc.len() != 2 {
        return Err(format!("bad country code in {line:?}"));
    }
    let cc = [cc[0], cc[1]];
    let (lo, hi) = (lo.trim(), hi.trim());
    if lo.contains(':') || hi.contains(':') {
        let lo: Ipv6Addr = lo.parse().map_err(|_| format!("bad IPv6 bound {lo:?}"))?;
        let hi: Ipv6Addr = hi.parse().map_err(|_| format!("bad IPv6 bound {hi:?}"))?;
        let (lo, hi) = (u128::from(lo), u128::from(hi));
        if lo > hi {
            return Err(format!("range ends before it starts in {line:?}"));
        }
        Ok(Some(TorLine::V6(lo, hi, cc)))
    } else {
        let lo: u32 = lo.parse().map_err(|_| format!("bad IPv4 bound {lo:?}"))?;
        let hi: u32 = hi.parse().map_err(|_| format!("bad IPv4 bound {hi:?}"))?;
        if lo > hi {
            return Err(format!("range ends before it starts in {line:?}"));
        }
        Ok(Some(TorLine::V4(lo, hi, cc)))
    }
}

/// Ranges of one family, sorted by start, non-overlapping after loading.
#[derive(Debug, Default)]
struct Ranges<K> {
    starts: Vec<K>,
    ends: Vec<K>,
    codes: Vec<[u8; 2]>,
}

impl<K: Ord + Copy> Ranges<K> {
    fn push(&mut self, lo: K, hi: K, cc: [u8; 2]) {
        self.starts.push(lo);
        self.ends.push(hi);
        self.codes.push(cc);
    }

    /// Sorts by start if the file was not sorted; overlapping ranges are kept
    /// as they are (the later start wins for addresses in the overlap).
    fn finish(&mut self) {
        if self.starts.windows(2).all(|w| w[0] <= w[1]) {
            return;
        }
        let mut idx: Vec<usize> = (0..self.starts.len()).collect();
        idx.sort_by_key(|&i| self.starts[i]);
        self.starts = idx.iter().map(|&i| self.starts[i]).collect();
        self.ends = idx.iter().map(|&i| self.ends[i]).collect();
        self.codes = idx.iter().map(|&i| self.codes[i]).collect();
    }

    fn find(&self, key: K) -> Option<[u8; 2]> {
        // Last range whose start <= key.
        let pos = self.starts.partition_point(|&s| s <= key);
        let i = pos.checked_sub(1)?;
        (key <= self.ends[i] && self.codes[i] != *b"??").then_some(self.codes[i])
    }
}

/// A loaded Tor GeoIP database (either or both families).
#[derive(Debug, Default)]
pub struct TorGeoIp {
    v4: Ranges<u32>,
    v6: Ranges<u128>,
    paths: Vec<PathBuf>,
    /// UNIX time from a `# Generated: <RFC 2822 date>` header line, if present.
    generated: Option<u64>,
}

impl TorGeoIp {
    /// Loads one file (IPv4 or IPv6 lines, or a mix) into this database.
    pub fn load_file(&mut self, path: &Path) -> Result<()> {
        self.load_text(&read_text(path)?, path)?;
        self.paths.push(path.to_path_buf());
        Ok(())
    }

    /// Parses `text`; `path` only labels errors. A file without a single data
    /// line is rejected, since it is certainly not what the user meant.
    pub fn load_text(&mut self, text: &str, path: &Path) -> Result<()> {
        let mut lines = 0usize;
        for (n, line) in text.lines().enumerate() {
            if let Some(date) = line.strip_prefix("# Generated:") {
                self.generated = self.generated.or(crate::dates::parse_rfc2822(date.trim()));
            }
            match parse_line(line) {
                Ok(None) => {}
                Ok(Some(TorLine::V4(lo, hi, cc))) => {
                    self.v4.push(lo, hi, cc);
                    lines += 1;
                }
                Ok(Some(TorLine::V6(lo, hi, cc))) => {
                    self.v6.push(lo, hi, cc);
                    lines += 1;
                }
                Err(reason) => {
                    return Err(IntelError::corrupt(
                        path,
                        format!("tor geoip line {}: {reason}", n + 1),
                    ))
                }
            }
        }
        if lines == 0 {
            return Err(IntelError::corrupt(path, "tor geoip: no data lines"));
        }
        self.v4.finish();
        self.v6.finish();
        Ok(())
    }

    /// Country code for `ip`, `None` when unknown or `??`.
    pub fn lookup(&self, ip: IpAddr) -> Option<[u8; 2]> {
        match ip {
            IpAddr::V4(v4) => self.v4.find(u32::from(v4)),
            IpAddr::V6(v6) => self.v6.find(u128::from(v6)),
        }
    }

    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    pub fn generated(&self) -> Option<u64> {
        self.generated
    }

    /// Number of (IPv4, IPv6) ranges loaded.
    pub fn counts(&self) -> (usize, usize) {
        (self.v4.starts.len(), self.v6.starts.len())
    }
}
