//! The preload library carried inside the binary, and where it is put so
//! that `LD_PRELOAD` can name it.
//!
//! The traced program loads whatever file that path names, often as root,
//! so the path must be one nobody else can change between our check and
//! the dynamic loader's open. The rules:
//!
//! - The directory is `$XDG_CACHE_HOME/sock-trace/<hash>/`, else
//!   `$HOME/.cache/...`, else the home directory of the password database.
//!   Never a shared place such as `/tmp`.
//! - Every directory from `/` down to the library must belong to us or to
//!   root and be writable by nobody else (a sticky directory such as `/tmp`
//!   is accepted above one of ours: others cannot rename our entries). A
//!   directory we create is 0700. A chain that fails this is refused with
//!   the reason, and the library goes into an anonymous, sealed memfd
//!   instead (named through `/proc/<pid>/fd/N` while the launcher lives).
//! - The file is opened with `O_NOFOLLOW`, must be ours, and its content is
//!   compared with the embedded copy before every use; a new copy is
//!   written to an `O_EXCL|O_NOFOLLOW` temporary file and renamed in place.

use anyhow::{anyhow, bail, Context, Result};
use std::ffi::{CString, OsStr, OsString};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

static LIBRARY: &[u8] = include_bytes!(env!("SOCK_TRACE_PRELOAD_SO"));

/// Content hash of [`LIBRARY`], computed by the build script.
const LIBRARY_HASH: &str = env!("SOCK_TRACE_PRELOAD_HASH");

/// Where the library can be loaded from.
pub enum Placement {
    /// A file in a private cache directory; it outlives this process.
    File(PathBuf),
    /// A sealed memfd, named through this process's `/proc/<pid>/fd`: valid
    /// only while this process lives (the launcher does).
    Memfd { path: PathBuf, _fd: OwnedFd },
}

impl Placement {
    pub fn path(&self) -> &Path {
        match self {
            Placement::File(p) => p,
            Placement::Memfd { path, .. } => path,
        }
    }
}

/// The library for `sock-trace run`: in the cache directory when it is
/// safe, else in a memfd (with one line saying why).
pub fn place() -> Result<Placement> {
    match cache_file() {
        Ok(p) => Ok(Placement::File(p)),
        Err(why) => {
            eprintln!("sock-trace: {why:#}; loading the preload library from memory instead");
            memfd()
        }
    }
}

/// The library's path for `sock-trace preload-path`: only a file that will
/// still be there after this process exits will do.
pub fn path() -> Result<PathBuf> {
    cache_file()
}

fn home_from_passwd() -> Option<PathBuf> {
    // SAFETY: geteuid cannot fail; getpwuid_r writes into our buffers only.
    unsafe {
        let uid = libc::geteuid();
        let mut pw: libc::passwd = std::mem::zeroed();
        let mut buf = vec![0 as libc::c_char; 16 * 1024];
        let mut out: *mut libc::passwd = std::ptr::null_mut();
        let r = libc::getpwuid_r(uid, &mut pw, buf.as_mut_ptr(), buf.len(), &mut out);
        if r != 0 || out.is_null() || pw.pw_dir.is_null() {
            return None;
        }
        let dir = std::ffi::CStr::from_ptr(pw.pw_dir).to_bytes();
        Some(PathBuf::from(OsStr::from_bytes(dir)))
    }
}

/// The cache root: XDG_CACHE_HOME, HOME/.cache, or the passwd home's
/// .cache. Relative values are ignored, as the XDG specification says.
fn cache_root(env: &dyn Fn(&str) -> Option<OsString>) -> Result<PathBuf> {
    let abs = |v: OsString| Some(PathBuf::from(v)).filter(|p| p.is_absolute());
    if let Some(d) = env("XDG_CACHE_HOME").and_then(abs) {
        return Ok(d);
    }
    if let Some(h) = env("HOME").and_then(abs) {
        return Ok(h.join(".cache"));
    }
    match home_from_passwd().filter(|p| p.is_absolute()) {
        Some(h) => Ok(h.join(".cache")),
        None => {
            bail!("HOME is unset and the password database has no home directory for this user")
        }
    }
}

/// Why a directory that exists may not hold the library, or `None` when it
/// may: it must be a real directory (not a link), owned by us or root, and
/// writable by nobody else unless it is sticky and `leaf` is false.
fn unsafe_dir_reason(dir: &Path, leaf: bool) -> Option<String> {
    // SAFETY: geteuid cannot fail.
    let euid = unsafe { libc::geteuid() };
    let m = match std::fs::symlink_metadata(dir) {
        Ok(m) => m,
        Err(e) => return Some(format!("{}: {e}", dir.display())),
    };
    if !m.file_type().is_dir() {
        return Some(format!("{} is not a directory", dir.display()));
    }
    if m.uid() != euid && m.uid() != 0 {
        return Some(format!(
            "{} belongs to uid {}, not to uid {euid}",
            dir.display(),
            m.uid()
        ));
    }
    let others_write = m.mode() & 0o022 != 0;
    let sticky = m.mode() & 0o1000 != 0;
    if others_write && (leaf || !sticky) {
        return Some(format!(
            "{} is writable by other users (mode {:o})",
            dir.display(),
            m.mode() & 0o7777
        ));
    }
    None
}

/// Checks every directory from `/` to `dir` (after resolving links in the
/// existing part), creating the missing ones 0700.
fn secure_dir(dir: &Path) -> Result<PathBuf> {
    // Resolve the longest existing prefix; the rest we create ourselves.
    let mut existing = dir.to_path_buf();
    let mut missing = Vec::new();
    while !existing.exists() {
        let Some(name) = existing.file_name().map(|n| n.to_os_string()) else {
            break;
        };
        missing.push(name);
        existing.pop();
    }
    let real = std::fs::canonicalize(&existing)
        .with_context(|| format!("resolving {}", existing.display()))?;
    let mut chain = Vec::new();
    let mut cur = real.clone();
    loop {
        chain.push(cur.clone());
        if !cur.pop() {
            break;
        }
    }
    for (i, d) in chain.iter().rev().enumerate() {
        let leaf = i + 1 == chain.len() && missing.is_empty();
        if let Some(why) = unsafe_dir_reason(d, leaf) {
            bail!("{why}, so it cannot hold the preload library safely");
        }
    }
    let mut cur = real;
    for name in missing.into_iter().rev() {
        cur.push(name);
        match std::fs::DirBuilder::new().mode(0o700).create(&cur) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e).with_context(|| format!("creating {}", cur.display())),
        }
        if let Some(why) = unsafe_dir_reason(&cur, true) {
            bail!("{why}, so it cannot hold the preload library safely");
        }
    }
    if let Some(why) = unsafe_dir_reason(&cur, true) {
        bail!("{why}, so it cannot hold the preload library safely");
    }
    Ok(cur)
}

/// Whether `file` is our regular file with exactly the library's bytes.
fn holds_library(file: &Path) -> bool {
    let Ok(mut f) = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(file)
    else {
        return false;
    };
    // SAFETY: geteuid cannot fail.
    let euid = unsafe { libc::geteuid() };
    match f.metadata() {
        Ok(m)
            if m.file_type().is_file()
                && m.uid() == euid
                && m.mode() & 0o022 == 0
                && m.len() == LIBRARY.len() as u64 => {}
        _ => return false,
    }
    let mut have = Vec::with_capacity(LIBRARY.len());
    f.read_to_end(&mut have).is_ok() && have == LIBRARY
}

/// Writes `bytes` to `dir/name` through an exclusive temporary file.
fn install(dir: &Path, name: &str, bytes: &[u8], mode: u32) -> Result<PathBuf> {
    let target = dir.join(name);
    let tmp = dir.join(format!(".{name}.{}.{:x}", std::process::id(), nonce()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    let written = f.write_all(bytes).and_then(|_| f.sync_all());
    drop(f);
    if let Err(e) = written.and_then(|_| std::fs::rename(&tmp, &target)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("installing {}", target.display()));
    }
    Ok(target)
}

fn nonce() -> u64 {
    let mut v = [0u8; 8];
    // SAFETY: valid buffer.
    unsafe { libc::getrandom(v.as_mut_ptr() as *mut libc::c_void, 8, 0) };
    u64::from_ne_bytes(v)
        ^ std::time::UNIX_EPOCH
            .elapsed()
            .map_or(0, |d| d.as_nanos() as u64)
}

fn cache_file() -> Result<PathBuf> {
    let root = cache_root(&|k| std::env::var_os(k))?;
    let dir = secure_dir(&root.join("sock-trace").join(LIBRARY_HASH))?;
    let lib = dir.join("libsock_trace.so");
    if !holds_library(&lib) {
        install(&dir, "libsock_trace.so", LIBRARY, 0o644)?;
        if !holds_library(&lib) {
            bail!("{} changed while it was written", lib.display());
        }
    }
    // Next to the library, a `sock-trace` link to this executable lets the
    // library start a collector when it is preloaded without the launcher.
    if let Ok(exe) = std::env::current_exe() {
        let link = dir.join("sock-trace");
        if std::fs::read_link(&link).ok().as_deref() != Some(exe.as_path()) {
            let tmp = dir.join(format!(".sock-trace.{}.{:x}", std::process::id(), nonce()));
            if std::os::unix::fs::symlink(&exe, &tmp).is_ok()
                && std::fs::rename(&tmp, &link).is_err()
            {
                let _ = std::fs::remove_file(&tmp);
            }
        }
    }
    Ok(lib)
}

fn memfd() -> Result<Placement> {
    let name = CString::new("sock-trace-preload").expect("no NUL");
    // SAFETY: plain FFI with a valid name.
    let fd =
        unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_ALLOW_SEALING | libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error()).context("memfd_create");
    }
    // SAFETY: a fresh fd that we own.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut f = std::fs::File::from(owned.try_clone()?);
    f.write_all(LIBRARY)
        .context("writing the preload library to a memfd")?;
    f.set_permissions(std::fs::Permissions::from_mode(0o500))?;
    let seals = libc::F_SEAL_WRITE | libc::F_SEAL_GROW | libc::F_SEAL_SHRINK | libc::F_SEAL_SEAL;
    // SAFETY: plain fcntl on our fd.
    if unsafe { libc::fcntl(owned.as_raw_fd(), libc::F_ADD_SEALS, seals) } != 0 {
        return Err(anyhow!(std::io::Error::last_os_error())).context("sealing the memfd");
    }
    let path = PathBuf::from(format!(
        "/proc/{}/fd/{}",
        std::process::id(),
        owned.as_raw_fd()
    ));
    Ok(Placement::Memfd { path, _fd: owned })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwd_home_when_home_is_unset() {
        let root = cache_root(&|_| None).expect("root has a passwd home");
        assert!(root.is_absolute() && root.ends_with(".cache"), "{root:?}");
        let rel = cache_root(&|k| (k == "HOME").then(|| OsString::from("relative/home")));
        assert_eq!(rel.unwrap(), root, "a relative HOME is ignored");
    }

    #[test]
    fn other_users_and_writable_directories_are_refused() {
        let base = std::env::temp_dir().join(format!("st-lib-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).unwrap();
        std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o700)).unwrap();
        let ok = secure_dir(&base.join("a/b")).unwrap();
        assert_eq!(
            std::fs::metadata(&ok).unwrap().mode() & 0o777,
            0o700,
            "created 0700"
        );
        let open = base.join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = secure_dir(&open.join("x")).unwrap_err().to_string();
        assert!(e.contains("writable by other users"), "{e}");
        let theirs = base.join("theirs");
        std::fs::create_dir(&theirs).unwrap();
        let c = CString::new(theirs.as_os_str().as_bytes()).unwrap();
        // SAFETY: plain chown of our own test directory.
        if unsafe { libc::chown(c.as_ptr(), 65534, 65534) } == 0 {
            let e = secure_dir(&theirs.join("x")).unwrap_err().to_string();
            assert!(e.contains("belongs to uid 65534"), "{e}");
        }
        std::fs::remove_dir_all(&base).unwrap();
    }
}
