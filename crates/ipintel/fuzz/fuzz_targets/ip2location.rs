#![no_main]
//! Arbitrary bytes as an IP2Location BIN file.
use libfuzzer_sys::fuzz_target;
use sock_trace_ipintel::ip2location::Ip2Location;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    if let Ok(db) = Ip2Location::from_bytes(data, Path::new("fuzz.bin")) {
        for a in ["0.0.0.0", "8.8.8.8", "255.255.255.255", "2001:db8::1", "ffff::1"] {
            let _ = db.lookup(a.parse().unwrap());
        }
    }
});
