//! The collector forgets processes that are gone (their sockets, loaded
//! objects and profile), once everything they recorded has been decoded,
//! so that its memory stays bounded on a long trace of a forking server
//! and a reused pid starts clean. Records are written into a real trace
//! area as a backend writes them, for a real process that has exited.

use sock_trace_collect::{clock, Area, Collector};
use sock_trace_event::record::RecordWriter;
use sock_trace_event::ring::{AreaSpec, CaptureOptions, Geometry};
use sock_trace_event::Func;
use sock_trace_print::{Clock, TextOptions, TextPrinter};
use std::time::{Duration, Instant};

/// Writes one record for process `pid` into ring `ring` of `shm`.
fn put(shm: &sock_trace_event::Shm, ring: u32, pid: u32, func: Func, args: &[u64], ret: i64) {
    let mut buf = vec![0u8; 512];
    let len = {
        let mut w = RecordWriter::new(&mut buf, func);
        let h = w.header();
        h.pid = pid;
        h.tid = pid;
        let now = clock(libc::CLOCK_MONOTONIC);
        h.t_start = now;
        h.t_end = now;
        h.ret = ret;
        h.args[..args.len()].copy_from_slice(args);
        w.finish()
    };
    // SAFETY: this test owns `ring` and commits before reserving again.
    unsafe {
        let p = shm.reserve(ring, len).expect("room in a fresh ring");
        std::ptr::copy_nonoverlapping(buf.as_ptr(), p, len);
        shm.commit(ring, len);
    }
}

#[test]
fn a_process_that_exited_is_forgotten_after_its_records_are_decoded() {
    let me = std::process::id();
    // A real process that has exited and been reaped: its pid is free.
    let mut child = std::process::Command::new("true")
        .spawn()
        .expect("run true");
    let gone = child.id();
    assert!(child.wait().expect("wait").success());

    let geo = Geometry {
        nrings: 4,
        ring_bytes: 64 * 1024,
    };
    let area = Area::create(AreaSpec::new(geo, CaptureOptions::default())).expect("trace area");
    // SAFETY: the area is moved into the collector below and outlives `shm`'s uses.
    let shm = *unsafe { area.shm_unchecked() };
    let ring = shm.acquire(me, me, 0).expect("a ring");
    let socket = [libc::AF_INET as u64, libc::SOCK_DGRAM as u64, 0];
    put(&shm, ring, me, Func::Socket, &socket, 3);
    put(&shm, ring, gone, Func::ProcStart, &[me as u64, 1, 0], 0);
    put(&shm, ring, gone, Func::Socket, &socket, 4);

    let printer = Box::new(TextPrinter::new(TextOptions::plain(Clock::default())));
    let mut collector = Collector::new(area, printer, Box::new(std::io::sink()));
    let deadline = Instant::now() + Duration::from_secs(10);
    while collector.stats().processes_forgotten == 0 {
        assert!(
            Instant::now() < deadline,
            "the exited process was never forgotten"
        );
        collector.poll();
        collector.reclaim();
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        collector.stats().events,
        3,
        "every record was decoded first"
    );
    assert_eq!(collector.stats().processes_forgotten, 1);
    let sockets = collector.decoder().sockets();
    assert!(!sockets.pids().contains(&gone), "{:?}", sockets.pids());
    assert!(
        sockets.get(me, 3).is_some(),
        "a live process keeps its state"
    );
    shm.release(ring);
}
