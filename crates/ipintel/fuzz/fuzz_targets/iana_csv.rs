#![no_main]
//! IANA registry CSV parser.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = sock_trace_ipintel::iana::parse_csv(&String::from_utf8_lossy(data));
});
