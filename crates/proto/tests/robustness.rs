//! Never panics, always bounded and printable: random inputs, every prefix
//! of the real fixtures, and fixtures with single bytes flipped. This is
//! the stable-toolchain stand-in for the cargo-fuzz target in `fuzz/`.

use sock_trace_proto::{hint, Transport, MAX_HINT_LEN};

fn check(bytes: &[u8]) {
    for transport in [Transport::Tcp, Transport::Udp] {
        for (local, peer) in [(40_000, 53), (53, 40_000), (40_000, 443), (1, 2)] {
            if let Some(h) = hint(transport, local, peer, true, bytes) {
                assert!(h.len() <= MAX_HINT_LEN, "{h}");
                assert!(h.bytes().all(|b| (0x20..=0x7e).contains(&b)), "{h:?}");
            }
        }
    }
}

fn fixtures() -> Vec<Vec<u8>> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let mut v: Vec<Vec<u8>> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "bin"))
        .map(|e| std::fs::read(e.path()).unwrap())
        .collect();
    assert!(v.len() >= 10);
    v.sort();
    v
}

#[path = "../../cli/tests/common/rng.rs"]
mod rng;
use rng::Rng;

#[test]
fn every_prefix_of_every_fixture() {
    for f in fixtures() {
        for n in 0..=f.len() {
            check(&f[..n]);
        }
    }
}

#[test]
fn fixtures_with_corrupted_bytes() {
    let mut rng = Rng(0x5eed);
    for f in fixtures() {
        for _ in 0..2_000 {
            let mut g = f.clone();
            for _ in 0..1 + rng.next() % 4 {
                let i = (rng.next() % g.len() as u64) as usize;
                g[i] = rng.next() as u8;
            }
            check(&g);
        }
    }
}

#[test]
fn random_inputs_with_plausible_headers() {
    let mut rng = Rng(0xdecaf);
    let heads: [&[u8]; 6] = [
        b"",
        &[0x16, 3, 1],
        &[0x16, 3, 3, 0xff, 0xff, 1],
        b"GET ",
        b"HTTP/1.1 ",
        &[0, 40, 0x12, 0x34, 1, 0, 0, 1],
    ];
    for i in 0..60_000 {
        let len = (rng.next() % 600) as usize;
        let mut b: Vec<u8> = heads[i % heads.len()].to_vec();
        b.extend((0..len).map(|_| match rng.next() % 4 {
            // Bias toward DNS pointer and length bytes, which drive parsers.
            0 => 0xc0,
            1 => (rng.next() % 16) as u8,
            _ => rng.next() as u8,
        }));
        check(&b);
    }
}

#[test]
fn long_fields_are_bounded() {
    let mut req = b"GET /".to_vec();
    req.extend(std::iter::repeat(b'a').take(10_000));
    req.extend_from_slice(b" HTTP/1.1\r\nHost: \x01\xff\r\n\r\n");
    let h = hint(Transport::Tcp, 1, 2, true, &req).unwrap();
    assert_eq!(h.len(), MAX_HINT_LEN);
    assert!(h.ends_with("..."));
    let h = hint(
        Transport::Tcp,
        1,
        2,
        true,
        b"GET /\x00\\ HTTP/1.1\r\nHost: h\x7f\r\n\r\n",
    )
    .unwrap();
    assert_eq!(h, "HTTP GET /\\x00\\\\ HTTP/1.1 Host: h\\x7f");
}
