//! Where the tracer's records go: one ring of the trace area, owned by the
//! tracer thread, like any producer's (see the crate documentation for why).

use sock_trace_event::ring::max_record;
use sock_trace_event::{Func, RecordWriter, Shm};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// How long the tracer waits for room while the collector makes no
/// progress before it drops a record (counted in `lost_full`).
const STALL_LIMIT: Duration = Duration::from_secs(10);

pub struct Sink {
    shm: Shm,
    ring: Option<u32>,
    /// Tried once: a failure is counted per record.
    tried: bool,
    buf: Vec<u8>,
    /// The ring's tail when a record was last dropped after a stall: while
    /// it has not moved, records are dropped without waiting again.
    gave_up_at: Option<u64>,
}

impl Sink {
    pub fn new(shm: Shm) -> Sink {
        let max = max_record(shm.geometry().ring_bytes);
        Sink {
            shm,
            ring: None,
            tried: false,
            buf: vec![0u8; max],
            gave_up_at: None,
        }
    }

    pub fn shm(&self) -> &Shm {
        &self.shm
    }

    fn ring(&mut self) -> Option<u32> {
        if self.ring.is_some() || self.tried {
            return self.ring;
        }
        self.tried = true;
        let pid = std::process::id();
        // SAFETY: gettid cannot fail.
        let tid = unsafe { libc::gettid() } as u32;
        let r = self.shm.acquire(pid, tid, tid)?;
        let (data, len) = self.shm.ring_span(r);
        // Allocate the ring's pages now (a full tmpfs fails here, cleanly,
        // rather than with SIGBUS at the first record).
        // SAFETY: the span lies in the area's shared mapping.
        let rc = unsafe {
            libc::madvise(
                data as *mut libc::c_void,
                len,
                23, /* MADV_POPULATE_WRITE */
            )
        };
        if rc != 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINVAL) {
            self.shm.free(r);
            return None;
        }
        self.ring = Some(r);
        self.ring
    }

    /// Builds a record with `fill` and publishes it. Waits for room while
    /// the collector (another thread of this process) makes progress.
    pub fn emit(&mut self, func: Func, fill: impl FnOnce(&mut RecordWriter<'_>)) {
        let len = {
            let mut w = RecordWriter::new(&mut self.buf, func);
            fill(&mut w);
            w.finish()
        };
        if len == 0 {
            return;
        }
        let shm = self.shm;
        let h = shm.header();
        let Some(ring) = self.ring() else {
            if self.tried && self.ring.is_none() {
                h.lost_no_ring.fetch_add(1, Ordering::Relaxed);
            }
            return;
        };
        let mut since = Instant::now();
        let mut last_tail = self.shm.ctl(ring).tail.load(Ordering::Relaxed);
        let mut waited = false;
        loop {
            // SAFETY: this thread owns `ring`; len <= max_record.
            if let Some(p) = unsafe { self.shm.reserve(ring, len) } {
                // SAFETY: reserve returned `len` writable bytes.
                unsafe {
                    core::ptr::copy_nonoverlapping(self.buf.as_ptr(), p, len);
                    self.shm.commit(ring, len);
                }
                return;
            }
            let tail = self.shm.ctl(ring).tail.load(Ordering::Relaxed);
            if self.gave_up_at == Some(tail) {
                h.lost_full.fetch_add(1, Ordering::Relaxed);
                return;
            }
            if !waited {
                h.waits_full.fetch_add(1, Ordering::Relaxed);
                waited = true;
            }
            if tail != last_tail {
                last_tail = tail;
                since = Instant::now();
            } else if since.elapsed() > STALL_LIMIT {
                h.lost_full.fetch_add(1, Ordering::Relaxed);
                self.gave_up_at = Some(tail);
                return;
            }
            std::thread::sleep(Duration::from_micros(50));
        }
    }

    /// Gives the ring back; the collector drains and frees it.
    pub fn release(&mut self) {
        if let Some(r) = self.ring.take() {
            self.shm.release(r);
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.release();
    }
}
