//! What the Linux and the Windows trace areas share: the accessors of the
//! mapped area (`area.rs` and `area_windows.rs` create and map it).

use crate::area::Area;
use sock_trace_event::ring::ShmHeader;
use sock_trace_event::Shm;
use std::path::Path;

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
