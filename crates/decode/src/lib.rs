//! Decoding: raw [`Record`]s in, [`Event`]s (a format-neutral value tree) out.
//!
//! One function per traced call family turns the record's raw arguments
//! and blobs (see `docs/RECORDS.md`) into named [`Field`]s of typed
//! [`Value`]s, using the constant tables of `sock-trace-xlat`. Printers
//! (text, JSON, summary) render events; nothing here formats text.

pub mod value;

pub use value::{ErrorInfo, ErrorSpace, Event, Field, Outcome, Payload, SockAddr, UnixKind, Value};

use sock_trace_event::Record;

/// Decodes records of all processes of one trace. Keeps per-process state
/// that later records need (socket types by fd, for instance).
#[derive(Default)]
pub struct Decoder {}

impl Decoder {
    pub fn new() -> Self {
        Decoder::default()
    }

    /// Decodes one record; `None` for meta records (padding) and unknown ids.
    pub fn decode(&mut self, _rec: &Record<'_>) -> Option<Event> {
        None
    }
}
