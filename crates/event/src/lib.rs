//! The contract between the code that runs inside a traced program and the
//! code that runs outside it.
//!
//! - [`func`]: the traced functions as stable ids, their names and families.
//! - [`record`]: one call as bytes: a fixed header (times, pid/tid, result,
//!   errno, raw arguments) and tagged blobs (addresses, strings, option
//!   values, payload samples, caller addresses). Hooks write records without
//!   allocating or formatting; the collector parses them, bounds-checked.
//! - [`platform`]: which platform and capture backend wrote a process's
//!   records (the seam where Winsock and system-call records join).
//! - [`ring`]: the shared-memory area that carries records, one SPSC ring
//!   per traced thread.
//!
//! This crate has no dependencies and no `std` I/O, so the preload library
//! can use all of it on its hot path. Anything that changes the layout of
//! [`record::RecordHeader`], [`ring::ShmHeader`] or the meaning of an id
//! must bump [`ABI_VERSION`]: a preload library and a collector of different
//! versions then refuse each other instead of misreading.

pub mod func;
pub mod handover;
pub mod platform;
pub mod program;
pub mod record;
pub mod ring;

pub use func::{Family, Func, FuncMask};
pub use platform::{Backend, Platform};
pub use record::{role, Record, RecordHeader, RecordWriter, Tag};
pub use ring::{CaptureOptions, Geometry, Shm};

/// Version of the record and ring layout.
pub const ABI_VERSION: u32 = 3;

/// Environment variable naming the shared-memory file of a trace session.
pub const ENV_SHM: &str = "SOCK_TRACE_SHM";

/// Why a process leaves the trace at exec ([`Func::ProcLeave`] records).
pub mod leave {
    /// The new program's environment does not preload the tracer.
    pub const NO_PRELOAD: u64 = 1;
    /// Its credentials cannot read the tracer library (it dropped
    /// privileges); the tracer was removed from its `LD_PRELOAD` so that
    /// the dynamic loader does not complain on the program's stderr.
    pub const UNREADABLE: u64 = 2;
    /// A set-user-ID or set-group-ID program: the loader ignores LD_PRELOAD.
    pub const SETUID: u64 = 3;
    /// Statically linked: there is no dynamic loader to preload anything.
    pub const STATIC: u64 = 4;

    pub fn describe(reason: u64) -> &'static str {
        match reason {
            NO_PRELOAD => "its environment no longer preloads the tracer (cleared or rewritten)",
            UNREADABLE => "its user cannot read the tracer library (privileges dropped)",
            SETUID => "it is set-user-ID or set-group-ID, so the loader ignores LD_PRELOAD",
            STATIC => "it is statically linked, so nothing can be preloaded",
            _ => "for an unknown reason",
        }
    }
}
