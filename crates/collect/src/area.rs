//! The shared-memory file behind a trace session.

use sock_trace_event::ring::{ActionRule, AttachError, CaptureOptions, Geometry, ProgramRule};
use sock_trace_event::Shm;
use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// A created, mapped and initialised trace area. Unmapped and unlinked on
/// drop.
pub struct Area {
    path: PathBuf,
    base: *mut u8,
    len: usize,
    shm: Shm,
}

impl Area {
    /// Creates the file in /dev/shm (or `$TMPDIR` when /dev/shm is absent),
    /// sized for `geo`, and initialises the header.
    pub fn create(
        geo: Geometry,
        capture: CaptureOptions,
        rules: &[ProgramRule],
        actions: &[ActionRule],
    ) -> io::Result<Area> {
        let dir = if Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let nonce = nonce();
        let path = dir.join(format!("sock-trace-{}-{:016x}", std::process::id(), nonce));
        let cpath = CString::new(path.as_os_str().as_bytes()).map_err(io::Error::other)?;
        let len = geo.total_bytes();
        // SAFETY: plain FFI with a valid path; the fd is closed below.
        let fd = unsafe {
            libc::open(
                cpath.as_ptr(),
                libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC,
                0o600,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is ours.
        let base = unsafe {
            if libc::ftruncate(fd, len as libc::off_t) != 0 {
                let e = io::Error::last_os_error();
                libc::close(fd);
                libc::unlink(cpath.as_ptr());
                return Err(e);
            }
            let p = libc::mmap(
                core::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd,
                0,
            );
            libc::close(fd);
            if p == libc::MAP_FAILED {
                let e = io::Error::last_os_error();
                libc::unlink(cpath.as_ptr());
                return Err(e);
            }
            p as *mut u8
        };
        let (mono, real) = (clock(libc::CLOCK_MONOTONIC), clock(libc::CLOCK_REALTIME));
        // SAFETY: fresh zero-filled shared mapping of `len` bytes.
        let shm = unsafe {
            Shm::init(
                base,
                len,
                geo,
                capture,
                rules,
                actions,
                real as i64 - mono as i64,
                mono,
            )
        }
        .map_err(|e: AttachError| io::Error::other(format!("trace area: {e:?}")))?;
        shm.header()
            .consumer_pid
            .store(std::process::id(), std::sync::atomic::Ordering::Relaxed);
        Ok(Area {
            path,
            base,
            len,
            shm,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn shm(&self) -> &Shm {
        &self.shm
    }

    /// Removes the name early (the mapping stays valid); later processes
    /// can then no longer attach.
    pub fn unlink(&self) {
        if let Ok(c) = CString::new(self.path.as_os_str().as_bytes()) {
            // SAFETY: valid path.
            unsafe { libc::unlink(c.as_ptr()) };
        }
    }
}

impl Drop for Area {
    fn drop(&mut self) {
        self.unlink();
        // SAFETY: our mapping, not used after drop.
        unsafe { libc::munmap(self.base as *mut libc::c_void, self.len) };
    }
}

/// CLOCK_* in nanoseconds.
pub fn clock(id: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid out-pointer.
    unsafe { libc::clock_gettime(id, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn nonce() -> u64 {
    let mut v = [0u8; 8];
    // SAFETY: valid buffer.
    let n = unsafe { libc::getrandom(v.as_mut_ptr() as *mut libc::c_void, 8, 0) };
    if n == 8 {
        u64::from_ne_bytes(v)
    } else {
        clock(libc::CLOCK_MONOTONIC) ^ ((std::process::id() as u64) << 32)
    }
}
