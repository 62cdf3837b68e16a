//! The preload library carried inside the binary, written out once per
//! content hash to a cache directory so that `LD_PRELOAD` can name it.

use anyhow::{Context, Result};
use std::io::Write;
use std::path::PathBuf;

static LIBRARY: &[u8] = include_bytes!(env!("SOCK_TRACE_PRELOAD_SO"));

/// Content hash of [`LIBRARY`], computed by the build script.
const LIBRARY_HASH: &str = env!("SOCK_TRACE_PRELOAD_HASH");

fn cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("sock-trace");
    }
    if let Some(h) = std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(h).join(".cache/sock-trace");
    }
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    std::env::temp_dir().join(format!("sock-trace-{uid}"))
}

/// Returns the path of the library, writing it if this build's copy is not
/// there yet. Next to it, a `sock-trace` link to this executable lets the
/// library start a collector when it is preloaded without the launcher.
pub fn path() -> Result<PathBuf> {
    let dir = cache_dir().join(LIBRARY_HASH);
    let lib = dir.join("libsock_trace.so");
    let fresh = std::fs::metadata(&lib)
        .map(|m| m.len() == LIBRARY.len() as u64)
        .unwrap_or(false);
    if !fresh {
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let tmp = dir.join(format!(".libsock_trace.so.{}", std::process::id()));
        let mut f =
            std::fs::File::create(&tmp).with_context(|| format!("writing {}", tmp.display()))?;
        f.write_all(LIBRARY)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, &lib).with_context(|| format!("installing {}", lib.display()))?;
    }
    if let Ok(exe) = std::env::current_exe() {
        let link = dir.join("sock-trace");
        if std::fs::read_link(&link).ok().as_deref() != Some(exe.as_path()) {
            let tmp = dir.join(format!(".sock-trace.{}", std::process::id()));
            let _ = std::fs::remove_file(&tmp);
            if std::os::unix::fs::symlink(&exe, &tmp).is_ok() {
                let _ = std::fs::rename(&tmp, &link);
            }
        }
    }
    Ok(lib)
}
