#![no_main]
//! Arbitrary bytes as a libloc database, then lookups and a full tree walk.
use libfuzzer_sys::fuzz_target;
use sock_trace_ipintel::libloc::LocDb;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    if let Ok(db) = LocDb::from_bytes(data, Path::new("fuzz.db")) {
        for a in ["192.0.2.1", "2001:db8::1", "8.8.8.8", "::", "ffff::1"] {
            if let Ok(Some(m)) = db.lookup(a.parse().unwrap()) {
                let _ = m.asn.map(|n| db.as_name(n));
                let _ = m.country_code.map(|c| db.country(c));
            }
        }
        let _ = db.for_each_network(|_| {});
    }
});
