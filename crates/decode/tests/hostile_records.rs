//! Records come from shared memory that a crashing or hostile program may
//! have scribbled on. Decoding any of them, for any function, must never
//! panic. Random records are built with the real writer (so they parse)
//! and filled with random arguments and blobs of every tag and role.

use sock_trace_decode::Decoder;
use sock_trace_event::record::{Record, RecordWriter};
use sock_trace_event::{Func, Tag};

#[path = "../../cli/tests/common/rng.rs"]
mod rng;
use rng::Rng;

const TAGS: [Tag; 8] = [
    Tag::SockAddr,
    Tag::Str,
    Tag::Ints,
    Tag::Bytes,
    Tag::PollFds,
    Tag::FdSet,
    Tag::EpollEvents,
    Tag::Caller,
];

fn interesting(rng: &mut Rng) -> u64 {
    match rng.below(6) {
        0 => 0,
        1 => u64::MAX,
        2 => rng.below(70),
        3 => (rng.below(4096) as i64 - 2048) as u64,
        4 => 1 << rng.below(64),
        _ => rng.next(),
    }
}

#[test]
fn random_records_for_every_function_never_panic() {
    let mut rng = Rng(0x5eed_cafe_f00d_0001);
    let mut decoder = Decoder::new();
    let mut buf = vec![0u8; 8192];
    let mut decoded = 0usize;
    for &func in Func::ALL {
        for _ in 0..2000 {
            buf.iter_mut().for_each(|b| *b = 0);
            let mut w = RecordWriter::new(&mut buf, func);
            {
                let h = w.header();
                h.pid = 1 + rng.below(4) as u32;
                h.tid = h.pid;
                h.t_start = rng.below(1 << 40);
                h.t_end = h.t_start.wrapping_add(interesting(&mut rng));
                h.ret = interesting(&mut rng) as i64;
                h.errno = interesting(&mut rng) as i32;
                h.flags = rng.below(1 << 5) as u16;
                for a in h.args.iter_mut() {
                    *a = interesting(&mut rng);
                }
            }
            for _ in 0..rng.below(10) {
                let tag = TAGS[rng.below(TAGS.len() as u64) as usize];
                let role = rng.below(40) as u8;
                let len = match rng.below(4) {
                    0 => rng.below(4),
                    1 => rng.below(32),
                    2 => 8 * rng.below(40),
                    _ => rng.below(600),
                } as usize;
                let data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                w.blob(tag, role, &data);
            }
            let n = w.finish();
            let rec = Record::parse(&buf[..n]).expect("the writer's own records parse");
            if decoder.decode(&rec).is_some() {
                decoded += 1;
            }
        }
    }
    // Everything but padding and module records (kept by the decoder, not
    // printed) yields an event.
    assert!(decoded >= (Func::ALL.len() - 2) * 2000, "decoded {decoded}");
}

#[test]
fn truncated_and_corrupted_bytes_are_rejected_or_decoded_never_panic() {
    let mut rng = Rng(42);
    let mut decoder = Decoder::new();
    let mut buf = vec![0u8; 2048];
    for &func in Func::ALL {
        let mut w = RecordWriter::new(&mut buf, func);
        w.blob(
            Tag::SockAddr,
            0,
            &[2, 0, 0, 80, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0],
        );
        w.blob(Tag::Str, 2, b"localhost");
        let n = w.finish();
        let good = buf[..n].to_vec();
        for _ in 0..500 {
            let mut bad = good.clone();
            for _ in 0..1 + rng.below(8) {
                let i = rng.below(bad.len() as u64) as usize;
                bad[i] = rng.next() as u8;
            }
            bad.truncate(rng.below(bad.len() as u64 + 1) as usize);
            if let Ok(rec) = Record::parse(&bad) {
                let _ = decoder.decode(&rec);
            }
        }
    }
}
