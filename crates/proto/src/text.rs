//! Building the bounded, printable hint string.

use std::fmt::Write as _;

/// Upper bound on a hint's length in bytes (all hints are ASCII, so also
/// in characters).
pub const MAX_HINT_LEN: usize = 200;

const ELLIPSIS: &str = "...";

/// Appends `bytes` with everything outside printable ASCII (and the
/// backslash, so escapes stay unambiguous) written as `\xNN`.
pub(crate) fn push_escaped(out: &mut String, bytes: &[u8]) {
    for &b in bytes {
        match b {
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(b as char),
            _ => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
}

pub(crate) fn escaped(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    push_escaped(&mut s, bytes);
    s
}

/// Caps a finished hint at [`MAX_HINT_LEN`], marking the cut.
pub(crate) fn bounded(mut s: String) -> String {
    if s.len() > MAX_HINT_LEN {
        let mut end = MAX_HINT_LEN - ELLIPSIS.len();
        // Hints are ASCII by construction; the loop only guards that.
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push_str(ELLIPSIS);
    }
    s
}

/// Bounds-checked big-endian reader: every accessor returns `None` past the
/// end instead of panicking, so parsers can use `?` throughout.
#[derive(Clone, Copy)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    pub(crate) fn u8(&mut self) -> Option<u8> {
        let b = *self.buf.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    pub(crate) fn u16(&mut self) -> Option<u16> {
        let s = self.take(2)?;
        Some(u16::from_be_bytes([s[0], s[1]]))
    }

    pub(crate) fn u32(&mut self) -> Option<u32> {
        let s = self.take(4)?;
        Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }

    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    /// Like [`take`](Self::take) but returns what is there when the data
    /// stops early, plus whether it was cut: hints work on the first bytes
    /// of a transfer, so a structure may legitimately run past the end.
    pub(crate) fn take_upto(&mut self, n: usize) -> (&'a [u8], bool) {
        let avail = self.remaining().min(n);
        let s = self.buf.get(self.pos..self.pos + avail).unwrap_or_default();
        self.pos += avail;
        (s, avail < n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_bounds() {
        assert_eq!(escaped(b"a\\b\x00\xff\n"), "a\\\\b\\x00\\xff\\x0a");
        let long = bounded("x".repeat(500));
        assert_eq!(long.len(), MAX_HINT_LEN);
        assert!(long.ends_with("..."));
        assert_eq!(bounded("short".into()), "short");
    }

    #[test]
    fn reader_never_reads_past_the_end() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(r.u16(), Some(0x0102));
        assert_eq!(r.u16(), None);
        assert_eq!(r.take(usize::MAX), None);
        assert_eq!(r.take_upto(10), (&[3u8][..], true));
        assert_eq!(r.u8(), None);
    }
}
