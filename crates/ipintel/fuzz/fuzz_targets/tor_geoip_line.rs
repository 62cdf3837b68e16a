#![no_main]
//! Tor GeoIP line parser and whole-file loader.
use libfuzzer_sys::fuzz_target;
use sock_trace_ipintel::torgeoip::{parse_line, TorGeoIp};
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for line in text.lines() {
        let _ = parse_line(line);
    }
    let mut t = TorGeoIp::default();
    if t.load_text(&text, Path::new("fuzz")).is_ok() {
        let _ = t.lookup("1.2.3.4".parse().unwrap());
        let _ = t.lookup("2001:db8::1".parse().unwrap());
    }
});
