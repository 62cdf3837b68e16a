//! Printers turn decoded calls ([`sock_trace_decode::Event`]) into output.
//!
//! Two printers share one [`Printer`] trait:
//!
//! - [`TextPrinter`]: one human-readable line per call, strace-like but
//!   richer: `[time ][pid ]name(args) = result[ => returned][ <duration>]`.
//! - [`JsonPrinter`]: one JSON object per call (JSON Lines), with the same
//!   information keyed by the C argument names; schema in `docs/JSON.md`.
//!
//! Both walk the same value tree, so they cannot drift apart: a value the
//! decoder produces is rendered by [`TextPrinter::value`] and by the JSON
//! printer's streaming writer, and nothing else. Decoders never produce punctuation; printers never know
//! which function they print.
//!
//! ```
//! use sock_trace_decode::{Event, Field, Outcome, SockAddr, Value};
//! use sock_trace_event::Func;
//! use sock_trace_print::{Clock, Printer, TextOptions, TextPrinter};
//!
//! let ev = Event {
//!     pid: 7, tid: 7, t_start: 0, t_end: 120_000, func: Func::Connect, fortified: false,
//!     args: vec![
//!         Field::new("fd", Value::Fd(3)),
//!         Field::new("addr", Value::Addr(SockAddr::V4 { ip: [127, 0, 0, 1].into(), port: 80 })),
//!         Field::new("addrlen", Value::Int(16)),
//!     ],
//!     outcome: Outcome::Ok(Value::Int(0)),
//!     returned: vec![], may_block: true, notes: vec![], callers: vec![], frames: vec![], data: None, socket: None, hint: None, annotations: vec![], core: Default::default(),
//! };
//! let mut p = TextPrinter::new(TextOptions::plain(Clock::default()));
//! let mut out = Vec::new();
//! p.event(&ev, &mut out);
//! assert_eq!(String::from_utf8(out).unwrap(), "connect(3, 127.0.0.1:80, 16) = 0 <0.000120>\n");
//! ```

pub mod json;
mod style;
pub mod summary;
pub mod text;

pub use json::{JsonOptions, JsonPrinter};
pub use style::Palette;
pub use summary::Summary;
pub use text::{TextOptions, TextPrinter};

use sock_trace_decode::Event;

/// Renders events and tracer notices into a byte buffer, one complete line
/// (ending in `\n`) per call, so that the caller can write whole batches.
pub trait Printer {
    fn event(&mut self, ev: &Event, out: &mut Vec<u8>);
    /// A message from the tracer itself ("exited with 1", losses).
    fn notice(&mut self, pid: Option<u32>, text: &str, out: &mut Vec<u8>);
    /// The exit summary: per process, then the total.
    fn summary(&mut self, summary: &Summary, out: &mut Vec<u8>);
}

/// How to turn CLOCK_MONOTONIC timestamps into wall-clock and relative time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Clock {
    /// CLOCK_MONOTONIC when the trace started.
    pub start_mono_ns: u64,
    /// CLOCK_REALTIME minus CLOCK_MONOTONIC.
    pub realtime_offset_ns: i64,
}

impl Clock {
    pub fn realtime_ns(&self, mono: u64) -> i64 {
        mono as i64 + self.realtime_offset_ns
    }

    pub fn since_start_ns(&self, mono: u64) -> u64 {
        mono.saturating_sub(self.start_mono_ns)
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TimestampMode {
    #[default]
    None,
    /// Local wall-clock time, `HH:MM:SS.uuuuuu`.
    Absolute,
    /// Seconds since the trace started.
    Relative,
    /// Seconds since the previous line.
    Delta,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ShowPid {
    /// Once more than one process or thread has been seen.
    #[default]
    Auto,
    Always,
    Never,
}
