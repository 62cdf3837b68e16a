//! Downloading database updates (library side of `sock-trace db update`).
//!
//! A download streams into a temporary file in the destination directory,
//! is xz-decompressed when it is `.xz`, is opened with the matching reader to
//! prove it is usable, and only then renamed over the old file. A rename
//! within one directory is atomic, so a tracer never sees a half-written
//! database, and mappings of the old file stay valid.
//!
//! HTTP(S) client: `ureq` (blocking, small, rustls; no async runtime needed for
//! a CLI command). xz: `lzma-rs` (pure Rust, no C toolchain or liblzma needed).

use crate::drop::DropList;
use crate::error::IntelError;
use crate::iana::IanaRegistry;
use crate::ip2location::Ip2Location;
use crate::libloc::LocDb;
use crate::mmdb::Mmdb;
use crate::torgeoip::TorGeoIp;
use crate::SourceKind;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// IPFire's published location database.
pub const DEFAULT_LIBLOC_URL: &str = "https://location.ipfire.org/databases/1/location.db.xz";
/// Spamhaus DROP, JSON-lines form.
pub const DEFAULT_DROP_V4_URL: &str = "https://www.spamhaus.org/drop/drop_v4.json";
pub const DEFAULT_DROP_V6_URL: &str = "https://www.spamhaus.org/drop/drop_v6.json";

const XZ_MAGIC: &[u8; 6] = b"\xFD7zXZ\0";

fn err(what: &str, reason: impl std::fmt::Display) -> IntelError {
    IntelError::Update {
        what: what.to_string(),
        reason: reason.to_string(),
    }
}

/// Guesses the database kind from the destination file name.
pub fn kind_for_path(dest: &Path) -> Option<SourceKind> {
    let name = dest.file_name()?.to_str()?.to_ascii_lowercase();
    Some(if name.ends_with(".mmdb") {
        SourceKind::Mmdb
    } else if name.ends_with(".bin") {
        SourceKind::Ip2Location
    } else if name.starts_with("drop") {
        SourceKind::Drop
    } else if name.ends_with(".csv") {
        SourceKind::Iana
    } else if name == "geoip" || name == "geoip6" {
        SourceKind::TorGeoip
    } else if name.ends_with(".db") {
        SourceKind::Libloc
    } else {
        return None;
    })
}

/// Opens `path` with the reader for `kind`; `Err` when it is not usable.
pub fn verify(kind: SourceKind, path: &Path) -> Result<(), IntelError> {
    match kind {
        SourceKind::Libloc => LocDb::open(path).map(drop),
        SourceKind::Mmdb => Mmdb::open(path).map(drop),
        SourceKind::Ip2Location => Ip2Location::open(path).map(drop),
        SourceKind::TorGeoip => TorGeoIp::default().load_file(path),
        SourceKind::Drop => DropList::default().load_file(path),
        SourceKind::Iana => IanaRegistry::default().load_file(path),
        SourceKind::Embedded => Err(err("embedded", "cannot be downloaded")),
    }
}

/// Removes a temporary file when dropped, unless disarmed.
struct TempGuard(Option<PathBuf>);

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Downloads `url` to `dest` (kind guessed from the file name), calling
/// `progress(bytes_so_far, total_if_known)` as data arrives. Returns the size
/// of the installed file.
pub fn download(
    url: &str,
    dest: &Path,
    progress: &mut dyn FnMut(u64, Option<u64>),
) -> Result<u64, IntelError> {
    let kind = kind_for_path(dest).ok_or_else(|| {
        err(
            url,
            format!("cannot tell the database kind of {}", dest.display()),
        )
    })?;
    download_as(kind, url, dest, progress)
}

/// Like [`download`] with an explicit kind.
pub fn download_as(
    kind: SourceKind,
    url: &str,
    dest: &Path,
    progress: &mut dyn FnMut(u64, Option<u64>),
) -> Result<u64, IntelError> {
    let dir = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| IntelError::io(dir, e))?;
    let name = dest
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| err(url, "destination has no file name"))?;
    let pid = std::process::id();
    let raw_path = dir.join(format!(".{name}.download-{pid}"));
    let final_tmp = dir.join(format!(".{name}.new-{pid}"));
    let _raw_guard = TempGuard(Some(raw_path.clone()));
    let mut final_guard = TempGuard(Some(final_tmp.clone()));

    // 1. Fetch into a temporary file.
    let response = ureq::get(url).call().map_err(|e| err(url, e))?;
    let total = response
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let mut body = response.into_body().into_reader();
    let mut out =
        BufWriter::new(File::create(&raw_path).map_err(|e| IntelError::io(&raw_path, e))?);
    let mut buf = vec![0u8; 64 * 1024];
    let mut got = 0u64;
    progress(0, total);
    loop {
        let n = body.read(&mut buf).map_err(|e| err(url, e))?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n])
            .map_err(|e| IntelError::io(&raw_path, e))?;
        got += n as u64;
        progress(got, total);
    }
    out.flush().map_err(|e| IntelError::io(&raw_path, e))?;
    drop(out);
    if let Some(t) = total {
        if got != t {
            return Err(err(url, format!("received {got} of {t} bytes")));
        }
    }

    // 2. Decompress when the payload is xz (by magic, not by URL).
    let mut magic = [0u8; 6];
    let is_xz = File::open(&raw_path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && &magic == XZ_MAGIC;
    if is_xz {
        let input = File::open(&raw_path).map_err(|e| IntelError::io(&raw_path, e))?;
        let output = File::create(&final_tmp).map_err(|e| IntelError::io(&final_tmp, e))?;
        let mut w = BufWriter::new(output);
        lzma_rs::xz_decompress(&mut BufReader::new(input), &mut w)
            .map_err(|e| err(url, format!("xz decompression failed: {e}")))?;
        w.flush().map_err(|e| IntelError::io(&final_tmp, e))?;
    } else {
        std::fs::rename(&raw_path, &final_tmp).map_err(|e| IntelError::io(&final_tmp, e))?;
    }
    File::open(&final_tmp)
        .and_then(|f| f.sync_all())
        .map_err(|e| IntelError::io(&final_tmp, e))?;

    // 3. Prove it is usable, then swap it in.
    verify(kind, &final_tmp)
        .map_err(|e| err(url, format!("downloaded file is not usable: {e}")))?;
    let size = std::fs::metadata(&final_tmp).map(|m| m.len()).unwrap_or(0);
    std::fs::rename(&final_tmp, dest).map_err(|e| IntelError::io(dest, e))?;
    final_guard.0 = None;
    Ok(size)
}
