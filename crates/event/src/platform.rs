//! Which platform and which capture backend produced a process's records.
//!
//! A process start record ([`crate::Func::ProcStart`]) carries both in
//! `args[2]`: the platform in bits 0-7, the backend in bits 8-15. Zero is
//! Linux and the preload library, so records written before the field
//! existed read as what they are. The decoder keeps the pair per process
//! and picks its constant tables by the platform: `AF_INET6` is 10 on Linux
//! and 23 on Windows, `SOL_SOCKET` 1 and 0xffff, errors are errno values or
//! `WSAE*` codes, a descriptor is an `int` or a `SOCKET` handle.

/// The operating system whose constants a process's records use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Platform {
    #[default]
    Linux = 0,
    /// Winsock: Windows constants, `WSAE*` errors, `SOCKET` handles.
    Windows = 1,
}

/// Where the calls were seen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Backend {
    /// The preload library: libc calls, seen inside the process.
    #[default]
    Preload = 0,
    /// The system-call boundary (ptrace/seccomp): system calls, seen from
    /// outside; for static, Go and musl programs.
    Syscall = 1,
    /// The Winsock DLL: ws2_32 calls, seen inside the process.
    WinsockDll = 2,
}

impl Platform {
    pub const fn from_raw(v: u8) -> Option<Platform> {
        match v {
            0 => Some(Platform::Linux),
            1 => Some(Platform::Windows),
            _ => None,
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            Platform::Linux => "linux",
            Platform::Windows => "windows",
        }
    }
}

impl Backend {
    pub const fn from_raw(v: u8) -> Option<Backend> {
        match v {
            0 => Some(Backend::Preload),
            1 => Some(Backend::Syscall),
            2 => Some(Backend::WinsockDll),
            _ => None,
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            Backend::Preload => "preload",
            Backend::Syscall => "syscall",
            Backend::WinsockDll => "winsock-dll",
        }
    }
}

/// `args[2]` of a process start record.
pub const fn encode(platform: Platform, backend: Backend) -> u64 {
    platform as u64 | (backend as u64) << 8
}

/// Reads `args[2]` of a process start record; unknown values read as the
/// default (Linux, preload) rather than failing the record.
pub const fn decode(raw: u64) -> (Platform, Backend) {
    let p = match Platform::from_raw(raw as u8) {
        Some(p) => p,
        None => Platform::Linux,
    };
    let b = match Backend::from_raw((raw >> 8) as u8) {
        Some(b) => b,
        None => Backend::Preload,
    };
    (p, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_is_linux_preload_and_pairs_round_trip() {
        assert_eq!(decode(0), (Platform::Linux, Backend::Preload));
        for p in [Platform::Linux, Platform::Windows] {
            for b in [Backend::Preload, Backend::Syscall, Backend::WinsockDll] {
                assert_eq!(decode(encode(p, b)), (p, b));
            }
        }
        assert_eq!(decode(0xffff), (Platform::Linux, Backend::Preload));
    }
}
