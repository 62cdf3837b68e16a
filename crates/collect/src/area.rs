//! The shared memory behind a trace session.
//!
//! It is an anonymous memfd that only this process holds open; traced
//! processes map it through `/proc/<collector pid>/fd/<n>`, which the
//! kernel lets only processes allowed to inspect the collector open (same
//! user, or root). So there is no name in a shared directory to guess,
//! race or leave behind: the memory goes away with the last mapping, even
//! when the collector is killed. Without memfd (or with
//! `SOCK_TRACE_AREA_DIR`, a test and debugging knob), an `O_EXCL` file with
//! a random name in that directory (or /dev/shm) is used instead, and
//! stale files of dead sessions there are removed at the next start.
//!
//! The area is sparse. The header and ring table are allocated here, before
//! any producer runs; each ring's pages are allocated by the thread that
//! takes it (`MADV_POPULATE_WRITE`), which fails cleanly where touching an
//! unbacked page of a full tmpfs would kill the program with SIGBUS.

use sock_trace_event::ring::AreaSpec;
use sock_trace_event::Shm;
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// A created, mapped and initialised trace area. Unmapped (and unlinked
/// when it is a file) on drop.
///
/// The [`Shm`] view of the mapping never leaves this crate, and every
/// reference handed out borrows the area, so nothing that reads the mapping
/// can outlive it (the collector owns its area).
pub struct Area {
    pub(super) path: PathBuf,
    /// The memfd, closed by [`Area::unlink`] so that no new process attaches.
    memfd: std::cell::RefCell<Option<OwnedFd>>,
    /// For the file fallback: the file to remove.
    file: Option<CString>,
    base: *mut u8,
    len: usize,
    pub(super) shm: Shm,
}

/// File-backed areas are named `sock-trace-<pid>-<nonce>`.
const FILE_PREFIX: &str = "sock-trace-";

impl Area {
    /// Creates the area sized for `geo` and initialises the header.
    pub fn create(spec: AreaSpec<'_>) -> io::Result<Area> {
        let geo = spec.geometry;
        let len = geo.total_bytes();
        let forced_dir = std::env::var_os("SOCK_TRACE_AREA_DIR").filter(|d| !d.is_empty());
        let (fd, path, file) = match forced_dir {
            Some(dir) => create_file(Path::new(&dir))?,
            None => match create_memfd() {
                Ok(fd) => {
                    let path = PathBuf::from(format!(
                        "/proc/{}/fd/{}",
                        std::process::id(),
                        fd.as_raw_fd()
                    ));
                    (fd, path, None)
                }
                Err(_) => {
                    let dir = if Path::new("/dev/shm").is_dir() {
                        PathBuf::from("/dev/shm")
                    } else {
                        std::env::temp_dir()
                    };
                    create_file(&dir)?
                }
            },
        };
        let cleanup = |e: io::Error| {
            if let Some(f) = &file {
                // SAFETY: valid path.
                unsafe { libc::unlink(f.as_ptr()) };
            }
            e
        };
        // SAFETY: fd is ours.
        let base = unsafe {
            if libc::ftruncate(fd.as_raw_fd(), len as libc::off_t) != 0 {
                return Err(cleanup(io::Error::last_os_error()));
            }
            // Header and ring table now, so that no producer ever faults on
            // them; ring pages are reserved by the producers (see above).
            let fixed = geo.data_offset() as libc::off_t;
            let r = libc::fallocate(fd.as_raw_fd(), 0, 0, fixed);
            if r != 0 {
                let e = io::Error::last_os_error();
                if e.raw_os_error() != Some(libc::EOPNOTSUPP) {
                    return Err(cleanup(io::Error::new(
                        e.kind(),
                        format!("reserving the trace area's header: {e}"),
                    )));
                }
            }
            map_shared(fd.as_raw_fd(), len).map_err(cleanup)?
        };
        // SAFETY: fresh zero-filled shared mapping of `len` bytes, kept by
        // the area.
        let shm = unsafe { crate::area_common::init_shm(base, len, &spec) }.map_err(cleanup)?;
        shm.header()
            .consumer_pid
            .store(std::process::id(), std::sync::atomic::Ordering::Relaxed);
        let memfd = if file.is_none() { Some(fd) } else { None };
        Ok(Area {
            path,
            memfd: std::cell::RefCell::new(memfd),
            file,
            base,
            len,
            shm,
        })
    }

    /// Maps the existing area named `path` (`Area::path` of the collector
    /// that created it), as a producer that lives outside the traced
    /// program does (the hand-over tracer). Dropping it only unmaps.
    pub fn open(path: &Path) -> io::Result<Area> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)?;
        let len = file.metadata()?.len() as usize;
        let base = map_shared(file.as_raw_fd(), len)?;
        // SAFETY: a shared mapping of `len` bytes, kept by the area.
        let shm = unsafe { Shm::attach(base, len) }.map_err(|e| {
            // SAFETY: ours, not used again.
            unsafe { libc::munmap(base as *mut libc::c_void, len) };
            io::Error::other(format!("{}: {e:?}", path.display()))
        })?;
        Ok(Area {
            path: path.to_path_buf(),
            memfd: std::cell::RefCell::new(None),
            file: None,
            base,
            len,
            shm,
        })
    }

    /// Removes the name early (the mapping stays valid); later processes
    /// can then no longer attach.
    pub fn unlink(&self) {
        self.memfd.borrow_mut().take();
        if let Some(f) = &self.file {
            // SAFETY: valid path.
            unsafe { libc::unlink(f.as_ptr()) };
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

/// A shared read-write mapping of the first `len` bytes of `fd`.
fn map_shared(fd: i32, len: usize) -> io::Result<*mut u8> {
    // SAFETY: a fresh mapping; the kernel checks the descriptor.
    let p = unsafe {
        libc::mmap(
            core::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            fd,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    Ok(p as *mut u8)
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

fn create_memfd() -> io::Result<OwnedFd> {
    // CLOEXEC: traced processes reach it through /proc, never by inheriting
    // a descriptor the program could see or close.
    // SAFETY: valid NUL-terminated name.
    let fd = unsafe { libc::memfd_create(c"sock-trace-area".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor that we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The file fallback: a new file with a random name, 0600, never following
/// a link; stale areas of dead sessions in `dir` are removed first.
fn create_file(dir: &Path) -> io::Result<(OwnedFd, PathBuf, Option<CString>)> {
    remove_stale(dir);
    let path = dir.join(format!(
        "{FILE_PREFIX}{}-{:016x}",
        std::process::id(),
        nonce()
    ));
    let cpath = CString::new(path.as_os_str().as_bytes()).map_err(io::Error::other)?;
    // SAFETY: plain FFI with a valid path.
    let fd = unsafe {
        libc::open(
            cpath.as_ptr(),
            libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            0o600,
        )
    };
    if fd < 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(
            e.kind(),
            format!("creating the trace area {}: {e}", path.display()),
        ));
    }
    // SAFETY: a fresh descriptor that we own.
    Ok((unsafe { OwnedFd::from_raw_fd(fd) }, path, Some(cpath)))
}

/// Removes `sock-trace-<pid>-<nonce>` files of ours whose collector is
/// gone (a launcher killed with SIGKILL cannot remove its own).
pub fn remove_stale(dir: &Path) {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    // SAFETY: geteuid cannot fail.
    let euid = unsafe { libc::geteuid() };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(FILE_PREFIX)) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(meta) = e.path().symlink_metadata() else {
            continue;
        };
        if !meta.file_type().is_file() || meta.uid() != euid || pid <= 0 {
            continue;
        }
        // SAFETY: signal 0 only checks existence.
        let alive = unsafe { libc::kill(pid, 0) } == 0
            || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
        if !alive {
            let _ = std::fs::remove_file(e.path());
        }
    }
}
