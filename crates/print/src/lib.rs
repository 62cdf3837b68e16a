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
//!     pid: 7, tid: 7, t_start: 0, t_end: 120_000, func: Func::Connect,
//!     args: vec![
//!         Field::new("fd", Value::Fd(3)),
//!         Field::new("addr", Value::Addr(SockAddr::V4 { ip: [127, 0, 0, 1].into(), port: 80 })),
//!         Field::new("addrlen", Value::Int(16)),
//!     ],
//!     outcome: Outcome::Ok(Value::Int(0)),
//!     returned: vec![], callers: vec![], frames: Default::default(), data: None, socket: None, hint: None, annotations: vec![], core: Default::default(),
//! };
//! let mut p = TextPrinter::new(TextOptions::plain(Clock::default()));
//! let mut out = Vec::new();
//! p.event(&ev, &mut out);
//! assert_eq!(String::from_utf8(out).unwrap(), "connect(3, 127.0.0.1:80, 16) = 0 <0.000120>\n");
//! ```

pub mod json;
pub mod note;
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

/// A setting chosen from a few words, spelt the same in the configuration
/// file and on the command line. Each such setting is declared once, here
/// (the crate that acts on it, or the lowest one that needs it); the
/// configuration reads and writes it through serde, the command line
/// through [`Choice::ALL`].
pub trait Choice: Sized + Copy + 'static {
    /// Every value with its name, in the order help texts list them.
    const ALL: &'static [(&'static str, Self)];

    /// The value named `name` (exact spelling).
    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }
}

/// Declares a [`Choice`]: the enum, lowercase serde names, its default.
macro_rules! choice {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident = $s:literal),+ $(,)? } default $d:ident) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
        #[serde(rename_all = "lowercase")]
        pub enum $name {
            $($(#[$vm])* $v,)+
        }
        impl Choice for $name {
            const ALL: &'static [(&'static str, Self)] = &[$(($s, $name::$v)),+];
        }
        impl Default for $name {
            fn default() -> Self {
                $name::$d
            }
        }
    };
}

choice! {
    /// Output format: one text line or one JSON object per call.
    Format { Text = "text", Jsonl = "jsonl" } default Text
}

choice! {
    /// When to colour text output.
    ColorMode { Auto = "auto", Always = "always", Never = "never" } default Auto
}

choice! {
    /// The timestamp at the start of each text line.
    TimestampMode {
        None = "none",
        /// Local wall-clock time, `HH:MM:SS.uuuuuu`.
        Absolute = "absolute",
        /// Seconds since the trace started.
        Relative = "relative",
        /// Seconds since the previous line.
        Delta = "delta",
    } default None
}

choice! {
    /// Whether text lines start with the pid (and tid).
    ShowPid {
        /// Once more than one process or thread has been seen.
        Auto = "auto",
        Always = "always",
        Never = "never",
    } default Auto
}

choice! {
    /// How the source paths of callers are shown.
    PathStyle {
        /// As recorded in the debug information.
        Full = "full",
        /// Relative to the working directory when below it, else full.
        Relative = "relative",
        /// File name only.
        Basename = "basename",
    } default Relative
}
