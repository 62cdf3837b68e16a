//! The one error type of this crate. Every variant that concerns a file names it,
//! so a caller can print the error as is.

use std::fmt;
use std::path::{Path, PathBuf};

/// What went wrong while opening or reading a database.
#[derive(Debug)]
pub enum IntelError {
    /// The file could not be opened, mapped or read.
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file was read but its contents do not follow the expected format.
    Corrupt { path: PathBuf, reason: String },
    /// A download or update step failed.
    Update { what: String, reason: String },
}

impl IntelError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        IntelError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn corrupt(path: &Path, reason: impl Into<String>) -> Self {
        IntelError::Corrupt {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }

    /// The file this error is about, if any.
    pub fn path(&self) -> Option<&Path> {
        match self {
            IntelError::Io { path, .. } | IntelError::Corrupt { path, .. } => Some(path),
            IntelError::Update { .. } => None,
        }
    }
}

impl fmt::Display for IntelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IntelError::Io { path, source } => write!(f, "{}: {}", path.display(), source),
            IntelError::Corrupt { path, reason } => {
                write!(
                    f,
                    "{}: corrupt or unsupported file: {}",
                    path.display(),
                    reason
                )
            }
            IntelError::Update { what, reason } => write!(f, "update of {what} failed: {reason}"),
        }
    }
}

impl std::error::Error for IntelError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            IntelError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Shorthand used by every reader.
pub type Result<T, E = IntelError> = std::result::Result<T, E>;

/// The `N` bytes of `b` at `at`, or `None` when they run past its end: the
/// bounds check of every fixed-size field the binary readers decode.
pub(crate) fn bytes_at<const N: usize>(b: &[u8], at: usize) -> Option<[u8; N]> {
    b.get(at..at.checked_add(N)?)?.try_into().ok()
}

/// An integer a binary reader decodes from a file, big-endian (libloc) or
/// little-endian (IP2Location, the embedded table): [`be`], [`le`].
pub(crate) trait FileInt: Sized {
    fn be_at(b: &[u8], at: usize) -> Option<Self>;
    fn le_at(b: &[u8], at: usize) -> Option<Self>;
}

macro_rules! file_ints {
    ($($t:ty),*) => {$(
        impl FileInt for $t {
            fn be_at(b: &[u8], at: usize) -> Option<Self> {
                bytes_at(b, at).map(<$t>::from_be_bytes)
            }
            fn le_at(b: &[u8], at: usize) -> Option<Self> {
                bytes_at(b, at).map(<$t>::from_le_bytes)
            }
        }
    )*};
}
file_ints!(u16, u32, u64, u128);

/// The big-endian integer at `at`, or `None` past the end of `b`.
pub(crate) fn be<T: FileInt>(b: &[u8], at: usize) -> Option<T> {
    T::be_at(b, at)
}

/// The little-endian integer at `at`, or `None` past the end of `b`.
pub(crate) fn le<T: FileInt>(b: &[u8], at: usize) -> Option<T> {
    T::le_at(b, at)
}

/// Reads a whole text file, invalid UTF-8 replaced.
pub(crate) fn read_text(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| IntelError::io(path, e))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Memory-maps a whole file read-only.
pub(crate) fn map_file(path: &Path) -> Result<memmap2::Mmap> {
    let file = std::fs::File::open(path).map_err(|e| IntelError::io(path, e))?;
    // SAFETY: the mapping is read-only and private to this process. Another process
    // truncating the file while it is mapped could fault; our own updater never does
    // that (it writes a new file and renames it over the old one, which leaves this
    // mapping's inode intact), and distribution packages replace files the same way.
    unsafe { memmap2::Mmap::map(&file) }.map_err(|e| IntelError::io(path, e))
}

/// Gives a reader generic over its bytes (`Reader<B: AsRef<[u8]>>`, the
/// default `B` being a mapping) `open(path)`: the file memory-mapped, then
/// validated by the reader's `from_bytes`.
macro_rules! open_mapped {
    ($reader:ident) => {
        impl $reader<memmap2::Mmap> {
            /// Opens and validates a database file.
            pub fn open(path: &Path) -> Result<Self> {
                $reader::from_bytes($crate::error::map_file(path)?, path)
            }
        }
    };
}
pub(crate) use open_mapped;
