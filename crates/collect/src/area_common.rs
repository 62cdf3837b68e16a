//! What the Linux and the Windows trace areas share: the accessors of the
//! mapped area (`area.rs` and `area_windows.rs` create and map it).

use crate::area::{clock, Area};
use sock_trace_event::ring::{AreaSpec, AttachError, ShmHeader};
use sock_trace_event::Shm;
use std::io;
use std::path::Path;

/// Lays out a fresh area in `base` (both platforms): header, rules and
/// rings, with the clocks read now.
///
/// # Safety
/// `base` must be a fresh, zero-filled, writable shared mapping of `len`
/// bytes that outlives the returned `Shm`.
pub(crate) unsafe fn init_shm(base: *mut u8, len: usize, spec: &AreaSpec<'_>) -> io::Result<Shm> {
    let (mono, real) = (clock(libc::CLOCK_MONOTONIC), clock(libc::CLOCK_REALTIME));
    // SAFETY: the caller's promise.
    unsafe { Shm::init(base, len, spec, real as i64 - mono as i64, mono) }
        .map_err(|e: AttachError| io::Error::other(format!("trace area: {e:?}")))
}

impl Area {
    /// Where the area is (Linux: a /proc path or a file; Windows: a
    /// description, the mapping has no name).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The mapping, for this crate only: `Shm` is `Copy`, and a copy must
    /// not outlive the area that unmaps it.
    pub(crate) fn shm(&self) -> &Shm {
        &self.shm
    }

    /// The mapping, for a producer or reader outside this crate (the
    /// system-call backend's tests drive an area without a collector).
    ///
    /// # Safety
    /// `Shm` is `Copy`: the caller must not use the returned handle or any
    /// copy of it after this area is dropped (which unmaps the memory).
    pub unsafe fn shm_unchecked(&self) -> &Shm {
        &self.shm
    }

    /// The shared header (counters that traced processes update).
    pub fn header(&self) -> &ShmHeader {
        self.shm.header()
    }

    /// How to turn the trace's timestamps into wall-clock and relative time.
    pub fn clock(&self) -> sock_trace_print::Clock {
        let h = self.header();
        sock_trace_print::Clock {
            start_mono_ns: h.start_mono_ns.get(),
            realtime_offset_ns: h.realtime_offset_ns.get(),
        }
    }
}
