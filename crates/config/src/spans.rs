//! Where keys are in the text of a configuration file: for messages that
//! point at a key inside a `[[fault]]` section, and for dropping unknown
//! keys while keeping the rest of the file (with a warning per key).
//!
//! serde's errors carry a span only for what `toml` itself reports; this
//! reads the same text with `toml_edit`, which keeps a span for every key
//! and value.

use std::ops::Range;
use toml_edit::{ImDocument, Item, Key, Table, Value};

pub(crate) struct Doc<'a> {
    doc: ImDocument<&'a str>,
}

impl<'a> Doc<'a> {
    pub fn parse(text: &'a str) -> Option<Doc<'a>> {
        ImDocument::parse(text).ok().map(|doc| Doc { doc })
    }

    /// Where `key` is in the `n`-th (0-based) `[[section]]`; the section's
    /// header when `key` is `None` or not written there.
    pub fn section_key(&self, section: &str, n: usize, key: Option<&str>) -> Option<usize> {
        let tables = self.doc.as_table().get(section)?.as_array_of_tables()?;
        let t = tables.get(n)?;
        if let Some((k, _)) = key.and_then(|k| t.get_key_value(k)) {
            if let Some(s) = k.span() {
                return Some(s.start);
            }
        }
        t.span().map(|s| s.start)
    }

    /// The text that holds the entry whose key starts at `offset` (the key,
    /// its value, and for a table its header and every entry below it).
    pub fn entry_at(&self, offset: usize) -> Option<Vec<Range<usize>>> {
        find_in_table(self.doc.as_table(), offset)
    }
}

fn find_in_table(t: &Table, offset: usize) -> Option<Vec<Range<usize>>> {
    find_in_entries(t.iter().map(|(name, _)| t.get_key_value(name)), offset)
}

/// The entry whose key starts at `offset` among a table's or an inline
/// table's `entries`, or one nested in their values.
fn find_in_entries<'a>(
    entries: impl Iterator<Item = Option<(&'a Key, &'a Item)>>,
    offset: usize,
) -> Option<Vec<Range<usize>>> {
    for e in entries {
        let (key, item) = e?;
        if key.span().is_some_and(|s| s.start == offset) {
            return Some(entry(key.span()?, item));
        }
        if let Some(found) = find_in_item(item, offset) {
            return Some(found);
        }
    }
    None
}

fn find_in_item(item: &Item, offset: usize) -> Option<Vec<Range<usize>>> {
    match item {
        Item::Table(t) => find_in_table(t, offset),
        Item::ArrayOfTables(a) => a.iter().find_map(|t| find_in_table(t, offset)),
        Item::Value(v) => find_in_value(v, offset),
        Item::None => None,
    }
}

fn find_in_value(v: &Value, offset: usize) -> Option<Vec<Range<usize>>> {
    match v {
        Value::InlineTable(t) => {
            find_in_entries(t.iter().map(|(name, _)| t.get_key_value(name)), offset)
        }
        Value::Array(a) => a.iter().find_map(|v| find_in_value(v, offset)),
        _ => None,
    }
}

/// The text of the entry with key span `key` and value `item`: one range
/// from the key to the end of the value for `key = value` and dotted keys
/// (`key.sub = value`); for a `[table]` or `[[tables]]`, its headers and
/// each of its entries.
fn entry(key: Range<usize>, item: &Item) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    match item {
        Item::Value(v) => out.push(key.start..v.span().map_or(key.end, |s| s.end)),
        Item::Table(t) if t.is_dotted() => {
            let mut inner = Vec::new();
            table_entries(t, &mut inner);
            let end = inner.iter().map(|r| r.end).max().unwrap_or(key.end);
            out.push(key.start..end);
        }
        Item::Table(t) => {
            out.extend(t.span());
            table_entries(t, &mut out);
        }
        Item::ArrayOfTables(a) => {
            for t in a.iter() {
                out.extend(t.span());
                table_entries(t, &mut out);
            }
        }
        Item::None => out.push(key),
    }
    out
}

fn table_entries(t: &Table, out: &mut Vec<Range<usize>>) {
    for (name, _) in t.iter() {
        if let Some((k, item)) = t.get_key_value(name) {
            if let Some(span) = k.span() {
                out.extend(entry(span, item));
            }
        }
    }
}

/// `text` with the lines that hold `ranges` blanked (spaces, newlines
/// kept, so every other position stays where it was). A range is widened
/// to its whole line when the rest of the line is only a key path before
/// it (`trace.` in `trace.bogus = 1`), blanks, or a comment after it.
pub(crate) fn blank(text: &str, ranges: &[Range<usize>]) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for r in ranges {
        let (mut start, mut end) = (r.start.min(text.len()), r.end.min(text.len()));
        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
        if !text[line_start..start].contains(['=', '{', ',', '[']) {
            start = line_start;
        }
        let line_end = text[end..].find('\n').map_or(text.len(), |i| end + i);
        let rest = text[end..line_end].trim_start();
        if rest.is_empty() || rest.starts_with('#') {
            end = line_end;
        }
        for b in &mut bytes[start..end] {
            if *b != b'\n' && *b != b'\r' {
                *b = b' ';
            }
        }
    }
    // Only ASCII bytes were replaced, and whole characters: a range ends
    // at a span boundary or a line end.
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}
