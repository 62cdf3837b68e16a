//! Helpers shared by the integration tests.
#![allow(dead_code)]

use sock_trace_ipintel::net::XorShift;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

#[path = "../../../cli/tests/common/skip.rs"]
mod skip;
#[allow(unused_imports)]
pub use skip::*;

/// The shared fixtures, beside the repository (`../shared/testdata`).
pub const TESTDATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/testdata");

/// Returns the first existing path, or [`skip`]s (None; a failure in CI).
pub fn require_data(what: &str, candidates: &[&str]) -> Option<PathBuf> {
    if let Some(p) = candidates.iter().map(PathBuf::from).find(|p| p.is_file()) {
        return Some(p);
    }
    skip(
        &format!("{what} not found (looked at {candidates:?})"),
        "run .ci/install-data.sh",
    );
    None
}

/// Runs a reference implementation with one address a line on its stdin
/// and returns what it printed. stdin is fed from a thread: the reference
/// answers while it reads, and a full stdout pipe would otherwise deadlock
/// both sides.
pub fn ask_reference(cmd: &mut std::process::Command, addrs: &[IpAddr]) -> std::process::Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let input: String = addrs.iter().map(|a| format!("{a}\n")).collect();
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || stdin.write_all(input.as_bytes()).unwrap());
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    out
}

pub fn fixture(rel: &str) -> PathBuf {
    Path::new(TESTDATA).join(rel)
}

/// Tor GeoIP files: the system copy, or the one .ci/install-data.sh unpacks.
pub const TOR_V4: &[&str] = &[
    "/usr/share/tor/geoip",
    "/opt/sock-trace-testdata/tor/usr/share/tor/geoip",
];
pub const TOR_V6: &[&str] = &[
    "/usr/share/tor/geoip6",
    "/opt/sock-trace-testdata/tor/usr/share/tor/geoip6",
];
pub const LIBLOC_DB: &[&str] = &[
    "/usr/share/libloc-location/location.db",
    "/var/lib/location/database.db",
];

/// Seeded random globally-routable-looking addresses (not filtered by class).
pub fn random_v4(rng: &mut XorShift) -> Ipv4Addr {
    Ipv4Addr::from(rng.next_u64() as u32)
}

/// Random IPv6 inside 2000::/3 where almost all allocations are.
pub fn random_v6(rng: &mut XorShift) -> Ipv6Addr {
    let hi = (rng.next_u64() as u128) << 64 | rng.next_u64() as u128;
    Ipv6Addr::from((hi & !(0xe000u128 << 112)) | (0x2000u128 << 112))
}

pub fn public_sample(seed: u64, v4: usize, v6: usize) -> Vec<IpAddr> {
    let mut rng = XorShift(seed);
    let mut out = Vec::new();
    while out.len() < v4 {
        let a = random_v4(&mut rng);
        if sock_trace_ipintel::class::classify_v4(a).is_global() {
            out.push(IpAddr::V4(a));
        }
    }
    while out.len() < v4 + v6 {
        out.push(IpAddr::V6(random_v6(&mut rng)));
    }
    out
}
