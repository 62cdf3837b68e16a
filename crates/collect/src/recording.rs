//! Recordings: the raw records of a trace in a file, decoded later
//! (`sock-trace record`, then `sock-trace print`), the perf record model.
//! Recording costs the collector a copy per record instead of decoding,
//! enriching and formatting it, so a busy program is held back less.
//!
//! The format (version 1, little-endian; docs/RECORDS.md "Recordings"):
//! a 64-byte header, then the records exactly as the rings carried them
//! (each starts with its own length, a multiple of 8), in time order,
//! then an end mark. Process start and module records are records like
//! the others, so a recording holds everything needed to decode it on
//! another machine (callers are found there through build-ids).
//!
//! A recording cut short (the disk filled, the recorder was killed) lacks
//! its end mark and may end inside a record: the reader hands out every
//! whole record and says what is missing; it never panics on bad input.

use std::io::{self, Write};

/// The first 8 bytes of a recording. The high bit and the CR LF catch a
/// file that went through a text-mode transfer.
pub const MAGIC: [u8; 8] = *b"\x89STREC\r\n";
/// The format version this build writes and reads.
pub const VERSION: u32 = 1;
/// Bytes before the first record.
pub const HEADER_LEN: usize = 64;
/// The end mark: written last by a recorder that finished.
pub const END_MARK: [u8; 16] = *b"\x89STREC-END\r\n\0\0\0\0";

/// What the header says about the trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordingInfo {
    /// The record ABI ([`sock_trace_event::ABI_VERSION`]) of the records.
    pub record_abi: u32,
    /// CLOCK_MONOTONIC at the start of the trace, nanoseconds.
    pub start_mono_ns: u64,
    /// CLOCK_REALTIME minus CLOCK_MONOTONIC then, nanoseconds.
    pub realtime_offset_ns: i64,
}

impl RecordingInfo {
    fn header(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[0..8].copy_from_slice(&MAGIC);
        h[8..12].copy_from_slice(&VERSION.to_le_bytes());
        h[12..16].copy_from_slice(&(HEADER_LEN as u32).to_le_bytes());
        h[16..20].copy_from_slice(&self.record_abi.to_le_bytes());
        h[24..32].copy_from_slice(&self.start_mono_ns.to_le_bytes());
        h[32..40].copy_from_slice(&self.realtime_offset_ns.to_le_bytes());
        h
    }

    /// The clock printers need to show the recording's timestamps.
    pub fn clock(&self) -> sock_trace_print::Clock {
        sock_trace_print::Clock {
            start_mono_ns: self.start_mono_ns,
            realtime_offset_ns: self.realtime_offset_ns,
        }
    }
}

/// Writes a recording: header, records, end mark.
pub struct RecordingWriter {
    out: Box<dyn Write>,
    records: u64,
    failed: Option<io::Error>,
}

impl RecordingWriter {
    pub fn new(mut out: Box<dyn Write>, info: RecordingInfo) -> io::Result<RecordingWriter> {
        out.write_all(&info.header())?;
        Ok(RecordingWriter {
            out,
            records: 0,
            failed: None,
        })
    }

    /// Appends one record (its bytes as the ring carried them). After a
    /// write error nothing more is written; [`RecordingWriter::finish`]
    /// reports it. The traced program is never held back by it.
    pub fn record(&mut self, bytes: &[u8]) {
        if self.failed.is_some() {
            return;
        }
        match self.out.write_all(bytes) {
            Ok(()) => self.records += 1,
            Err(e) => self.failed = Some(e),
        }
    }

    /// Writes the end mark and flushes; returns how many records were
    /// written, or the first error.
    pub fn finish(&mut self) -> io::Result<u64> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        self.out.write_all(&END_MARK)?;
        self.out.flush()?;
        Ok(self.records)
    }

    /// Flushes what is buffered (a reader may follow the file).
    pub fn flush(&mut self) {
        if self.failed.is_none() {
            if let Err(e) = self.out.flush() {
                self.failed = Some(e);
            }
        }
    }
}

/// Why a recording cannot be read at all.
#[derive(Debug, PartialEq, Eq)]
pub enum NotARecording {
    TooShort,
    BadMagic,
    /// Written by a newer sock-trace.
    Version(u32),
    /// Its records have another layout than this build decodes.
    RecordAbi(u32),
}

impl std::fmt::Display for NotARecording {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotARecording::TooShort => write!(f, "too short to be a sock-trace recording"),
            NotARecording::BadMagic => write!(f, "not a sock-trace recording (wrong magic)"),
            NotARecording::Version(v) => write!(
                f,
                "recording format version {v}; this sock-trace reads version {VERSION}"
            ),
            NotARecording::RecordAbi(v) => write!(
                f,
                "records of ABI {v}; this sock-trace decodes ABI {}",
                sock_trace_event::ABI_VERSION
            ),
        }
    }
}

/// A recording in memory: its header and an iterator over its records.
pub struct Recording<'a> {
    pub info: RecordingInfo,
    body: &'a [u8],
    header_len: u64,
}

/// How a recording ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ending {
    /// With its end mark.
    Complete,
    /// Without an end mark, at a record boundary: the recorder stopped
    /// before it could finish.
    Cut,
    /// Inside or at a damaged record: `bytes` from offset `at` (from the
    /// start of the file) could not be read as records.
    Damaged { at: u64, bytes: u64 },
}

impl<'a> Recording<'a> {
    pub fn parse(file: &'a [u8]) -> Result<Recording<'a>, NotARecording> {
        if file.len() < 16 {
            return Err(NotARecording::TooShort);
        }
        if file[0..8] != MAGIC {
            return Err(NotARecording::BadMagic);
        }
        let u32_at = |at: usize| u32::from_le_bytes(file[at..at + 4].try_into().unwrap_or([0; 4]));
        let version = u32_at(8);
        if version != VERSION {
            return Err(NotARecording::Version(version));
        }
        let header_len = u32_at(12) as usize;
        if header_len < HEADER_LEN || file.len() < header_len {
            return Err(NotARecording::TooShort);
        }
        let u64_at = |at: usize| u64::from_le_bytes(file[at..at + 8].try_into().unwrap_or([0; 8]));
        let info = RecordingInfo {
            record_abi: u32_at(16),
            start_mono_ns: u64_at(24),
            realtime_offset_ns: u64_at(32) as i64,
        };
        if info.record_abi != sock_trace_event::ABI_VERSION {
            return Err(NotARecording::RecordAbi(info.record_abi));
        }
        Ok(Recording {
            info,
            body: &file[header_len..],
            header_len: header_len as u64,
        })
    }

    /// Every whole record, in order; then [`Records::ending`] says how the
    /// recording ended.
    pub fn records(&self) -> Records<'a> {
        Records {
            body: self.body,
            header_len: self.header_len,
            pos: 0,
            ending: None,
        }
    }
}

/// The records of a recording, one by one (a recording can be larger
/// than memory: it is read through a mapping, not collected).
pub struct Records<'a> {
    body: &'a [u8],
    header_len: u64,
    pos: usize,
    ending: Option<Ending>,
}

impl Records<'_> {
    /// How the recording ended, once every record was taken.
    pub fn ending(&self) -> Option<&Ending> {
        self.ending.as_ref()
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.ending.is_some() {
            return None;
        }
        let rest = &self.body[self.pos..];
        let end = if rest.is_empty() {
            Ending::Cut
        } else if rest == END_MARK {
            Ending::Complete
        } else if END_MARK.starts_with(rest) {
            // Cut inside the end mark: every record is there.
            Ending::Cut
        } else {
            match sock_trace_event::record::Record::parse(rest) {
                Ok(r) => {
                    let len = r.header.len as usize;
                    self.pos += len;
                    return Some(&rest[..len]);
                }
                Err(_) => Ending::Damaged {
                    at: self.header_len + self.pos as u64,
                    bytes: rest.len() as u64,
                },
            }
        };
        self.ending = Some(end);
        None
    }
}
