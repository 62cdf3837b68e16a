//! `cargo +nightly fuzz run hint` from crates/proto (seed corpus:
//! `fuzz/corpus/hint`, copies of tests/fixtures/*.bin).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sock_trace_proto::{hint, Transport, MAX_HINT_LEN};

fuzz_target!(|data: &[u8]| {
    // The first byte picks transport and ports, so one corpus covers the
    // lenient (DNS port) and strict (content-only) paths.
    let Some((&sel, bytes)) = data.split_first() else { return };
    let transport = if sel & 1 == 0 { Transport::Tcp } else { Transport::Udp };
    let (local, peer) = match (sel >> 1) & 3 {
        0 => (40_000, 53),
        1 => (5353, 5353),
        2 => (40_000, 443),
        _ => (1, 2),
    };
    if let Some(h) = hint(transport, local, peer, sel & 8 != 0, bytes) {
        assert!(h.len() <= MAX_HINT_LEN);
        assert!(h.bytes().all(|b| (0x20..=0x7e).contains(&b)));
    }
});
