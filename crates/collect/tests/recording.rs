//! The recording reader on hostile input: any bytes give either a clear
//! refusal or the whole records they hold and an ending; never a panic.

use sock_trace_collect::recording::{
    Ending, Recording, RecordingInfo, RecordingWriter, HEADER_LEN,
};
use sock_trace_event::record::RecordWriter;
use sock_trace_event::Func;

#[path = "../../cli/tests/common/rng.rs"]
mod rng;

/// A recording of `n` socket records, as the recorder writes it.
fn recording(n: usize) -> Vec<u8> {
    let buf = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    struct Shared(std::rc::Rc<std::cell::RefCell<Vec<u8>>>);
    impl std::io::Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.borrow_mut().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let info = RecordingInfo {
        record_abi: sock_trace_event::ABI_VERSION,
        start_mono_ns: 1_000,
        realtime_offset_ns: 42,
    };
    let mut w = RecordingWriter::new(Box::new(Shared(buf.clone())), info).unwrap();
    for i in 0..n {
        let mut rec = vec![0u8; 256];
        let len = {
            let mut r = RecordWriter::new(&mut rec, Func::Socket);
            let h = r.header();
            h.pid = 7;
            h.tid = 7;
            h.t_start = 2_000 + i as u64;
            h.t_end = 2_001 + i as u64;
            h.ret = 3 + i as i64;
            h.args[0] = libc::AF_INET as u64;
            h.args[1] = libc::SOCK_STREAM as u64;
            r.finish()
        };
        w.record(&rec[..len]);
    }
    assert_eq!(w.finish().unwrap(), n as u64);
    let bytes = buf.borrow().clone();
    bytes
}

#[test]
fn a_whole_recording_reads_back_with_its_clock() {
    let bytes = recording(5);
    let r = Recording::parse(&bytes).expect("a recording");
    assert_eq!(r.info.start_mono_ns, 1_000);
    assert_eq!(r.info.realtime_offset_ns, 42);
    let mut records = r.records();
    assert_eq!(records.by_ref().count(), 5);
    assert_eq!(records.ending(), Some(&Ending::Complete));
}

#[test]
fn cut_and_damaged_recordings_give_what_they_hold() {
    let bytes = recording(20);
    let whole_records = bytes.len() - 16 - HEADER_LEN;
    let per = whole_records / 20;
    for cut in HEADER_LEN..bytes.len() {
        let r = Recording::parse(&bytes[..cut]).expect("the header is whole");
        let mut records = r.records();
        let n = records.by_ref().count();
        assert_eq!(n, ((cut - HEADER_LEN) / per).min(20), "cut at {cut}");
        let ending = records.ending().expect("an ending");
        if (cut - HEADER_LEN) % per == 0 || cut > HEADER_LEN + whole_records {
            assert_eq!(ending, &Ending::Cut, "cut at {cut}");
        } else {
            assert!(
                matches!(ending, Ending::Damaged { .. }),
                "cut at {cut}: {ending:?}"
            );
        }
    }
    let mut rng = rng::Rng(0xdecaf);
    for _ in 0..20_000 {
        let mut b = bytes.clone();
        for _ in 0..1 + rng.below(6) {
            let at = rng.below(b.len() as u64) as usize;
            b[at] = rng.next() as u8;
        }
        let cut = rng.below(b.len() as u64 + 1) as usize;
        if let Ok(r) = Recording::parse(&b[..cut]) {
            let mut records = r.records();
            assert!(records.by_ref().count() <= 20 + b.len() / 8);
            assert!(records.ending().is_some());
        }
    }
    assert!(Recording::parse(b"hello").is_err());
    assert!(Recording::parse(&[0u8; 100]).is_err());
}
