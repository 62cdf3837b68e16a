#![no_main]
//! Spamhaus DROP text and JSON-lines parsers.
use libfuzzer_sys::fuzz_target;
use sock_trace_ipintel::drop::{parse_json_line, parse_text_line, DropList};
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for line in text.lines() {
        let _ = parse_text_line(line);
        let _ = parse_json_line(line);
    }
    let mut d = DropList::default();
    if d.load_text(&text, Path::new("fuzz")).is_ok() {
        let _ = d.lookup("1.10.16.1".parse().unwrap());
    }
});
