//! Which backend fits a program image: the preload library needs glibc's
//! dynamic loader; Go, static and musl programs need the system-call
//! backend. Read from the ELF program headers (and the Go build-id note),
//! the first page of the file.

use crate::modules::{head, is_go_program, phdrs};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageKind {
    /// Loaded by glibc's dynamic loader: the preload library fits.
    Glibc,
    /// No dynamic loader.
    Static,
    /// Built by the Go toolchain (`loader`: linked dynamically, cgo).
    Go { loader: bool },
    /// Loaded by musl's loader.
    Musl,
}

impl ImageKind {
    /// Whether the preload library can trace it.
    pub fn preload_fits(self) -> bool {
        self == ImageKind::Glibc
    }
}

/// The kind of the ELF executable at `path`; `None` when it is not a
/// 64-bit little-endian ELF file (a script, an unreadable file).
pub fn kind(path: &[u8]) -> Option<ImageKind> {
    const PT_INTERP: u32 = 3;
    let file = head(path, 4096)?;
    let ph = phdrs(&file)?;
    let interp = ph.iter().find(|p| p.p_type == PT_INTERP).map(|p| {
        let start = p.p_offset as usize;
        let end = start.saturating_add(p.p_filesz as usize);
        file.get(start..end).unwrap_or(b"?")
    });
    if is_go_program(path) {
        return Some(ImageKind::Go {
            loader: interp.is_some(),
        });
    }
    Some(match interp {
        None => ImageKind::Static,
        Some(p) => {
            let name = p.rsplit(|&b| b == b'/').next().unwrap_or(p);
            if name.starts_with(b"ld-musl") {
                ImageKind::Musl
            } else {
                ImageKind::Glibc
            }
        }
    })
}

/// Whether process `pid`'s environment preloads `library` (as the dynamic
/// loader reads `LD_PRELOAD`: paths separated by colons or spaces).
pub fn preloads(pid: u32, library: &[u8]) -> bool {
    let Ok(env) = std::fs::read(format!("/proc/{pid}/environ")) else {
        return false;
    };
    env.split(|&b| b == 0)
        .filter_map(|e| e.strip_prefix(b"LD_PRELOAD="))
        .any(|v| v.split(|&b| b == b':' || b == b' ').any(|p| p == library))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;

    #[test]
    fn this_test_binary_is_a_glibc_program_and_a_script_is_none() {
        let me = std::env::current_exe().unwrap();
        assert_eq!(kind(me.as_os_str().as_bytes()), Some(ImageKind::Glibc));
        let dir = std::env::temp_dir().join(format!("image-kind-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let script = dir.join("s.sh");
        std::fs::write(&script, "#!/bin/sh\nexit 0\n").unwrap();
        assert_eq!(kind(script.as_os_str().as_bytes()), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn own_environment_is_read() {
        let me = std::process::id();
        assert!(!preloads(me, b"/nonexistent/libsock_trace.so"));
    }
}
