//! Spamhaus DROP lists, in either published form:
//!
//! * classic text: `; comment` lines, `CIDR ; SBLnnnnnn` entries, `; EOF`;
//! * JSON lines (`drop_v4.json`, `drop_v6.json`): one
//!   `{"cidr": .., "sblid": .., "rir": ..}` object per line and a final
//!   `{"type": "metadata", "timestamp": .., ...}` object.
//!
//! Both families go into one longest-prefix-match table.

use crate::error::{read_text, IntelError, Result};
use crate::net::{IpNetwork, PrefixTable};
use serde::Deserialize;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// A listed network and its SBL reference (e.g. `SBL256894`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropHit {
    pub network: IpNetwork,
    pub sbl: String,
    /// The RIR, when the JSON form names it.
    pub rir: Option<String>,
}

/// One parsed entry, before insertion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropEntry {
    pub network: IpNetwork,
    pub sbl: String,
    pub rir: Option<String>,
}

/// Parses one line of the classic text format. `Ok(None)` for comments/blank.
pub fn parse_text_line(line: &str) -> std::result::Result<Option<DropEntry>, String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with(';') || line.starts_with('#') {
        return Ok(None);
    }
    let (cidr, sbl) = match line.split_once(';') {
        Some((c, s)) => (c.trim(), s.trim()),
        None => (line, ""),
    };
    if !cidr.contains('/') {
        return Err(format!("expected CIDR in {line:?}"));
    }
    let network: IpNetwork = cidr.parse()?;
    Ok(Some(DropEntry {
        network,
        sbl: sbl.to_string(),
        rir: None,
    }))
}

#[derive(Deserialize)]
struct JsonLine {
    cidr: Option<String>,
    sblid: Option<String>,
    rir: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    timestamp: Option<u64>,
}

/// Parses one JSON line: `Ok(Left(entry))`, or the metadata timestamp.
pub fn parse_json_line(line: &str) -> std::result::Result<JsonItem, String> {
    let line = line.trim();
    if line.is_empty() {
        return Ok(JsonItem::Nothing);
    }
    let obj: JsonLine = serde_json::from_str(line).map_err(|e| format!("bad JSON: {e}"))?;
    if obj.kind.as_deref() == Some("metadata") {
        return Ok(JsonItem::Metadata {
            timestamp: obj.timestamp,
        });
    }
    let cidr = obj.cidr.ok_or("JSON object without \"cidr\"")?;
    Ok(JsonItem::Entry(DropEntry {
        network: cidr.parse()?,
        sbl: obj.sblid.unwrap_or_default(),
        rir: obj.rir,
    }))
}

/// What one JSON line held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonItem {
    Nothing,
    Entry(DropEntry),
    Metadata { timestamp: Option<u64> },
}

/// `reason` for a one-line message: control characters and the
/// replacement character of undecodable bytes escaped, and at most 120
/// characters (a corrupt file must not fill the terminal with binary).
fn cut(reason: &str) -> String {
    const MAX: usize = 120;
    let mut out = String::new();
    for (i, c) in reason.chars().enumerate() {
        if i == MAX {
            out.push_str(&format!("... ({} bytes in all)", reason.len()));
            break;
        }
        if c.is_control() || c == char::REPLACEMENT_CHARACTER {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// All loaded DROP lists.
#[derive(Debug, Default)]
pub struct DropList {
    table: PrefixTable<(String, Option<String>)>,
    paths: Vec<PathBuf>,
    timestamp: Option<u64>,
}

impl DropList {
    /// Loads a file, detecting the JSON-lines form by a leading `{`.
    pub fn load_file(&mut self, path: &Path) -> Result<()> {
        self.load_text(&read_text(path)?, path)?;
        self.paths.push(path.to_path_buf());
        Ok(())
    }

    /// Parses text in either form; `path` labels errors. An empty list (no
    /// entry at all) is an error: a truncated download must not pass as valid.
    pub fn load_text(&mut self, text: &str, path: &Path) -> Result<()> {
        let is_json = text.trim_start().starts_with('{');
        let mut entries = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let err = |reason: String| {
                IntelError::corrupt(path, format!("DROP list line {}: {}", n + 1, cut(&reason)))
            };
            if is_json {
                match parse_json_line(line).map_err(err)? {
                    JsonItem::Nothing => {}
                    JsonItem::Entry(e) => entries.push(e),
                    JsonItem::Metadata { timestamp } => {
                        self.timestamp = self.timestamp.max(timestamp)
                    }
                }
            } else if let Some(e) = parse_text_line(line).map_err(err)? {
                entries.push(e);
            }
        }
        if entries.is_empty() {
            return Err(IntelError::corrupt(path, "DROP list has no entries"));
        }
        for e in entries {
            self.table.insert(e.network, (e.sbl, e.rir));
        }
        Ok(())
    }

    /// Most specific listed network containing `ip`.
    pub fn lookup(&self, ip: IpAddr) -> Option<DropHit> {
        self.table.lookup(ip).map(|(network, (sbl, rir))| DropHit {
            network,
            sbl: sbl.clone(),
            rir: rir.clone(),
        })
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    /// Newest metadata timestamp of the JSON files loaded.
    pub fn timestamp(&self) -> Option<u64> {
        self.timestamp
    }
}
