//! The system-call backend end to end: statically linked C programs (which
//! the preload library cannot trace) run under `sock_trace_syscall::run`
//! into a real trace area; the records are decoded with sock-trace-decode
//! and checked against what the program did and printed itself.

#[path = "../../cli/tests/common/skip.rs"]
mod skip;

use sock_trace_collect::Area;
use sock_trace_decode::{Decoder, Event, SockAddr};
use sock_trace_event::record::Record;
use sock_trace_event::ring::{AreaSpec, CaptureOptions, Geometry, RING_FREE};
use sock_trace_event::{Backend, Func, FuncMask};
use std::ffi::OsString;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// The tracer waits for (and reaps) every child of the test process: one
/// trace at a time, and no other child (gcc) while one runs.
static SERIAL: Mutex<()> = Mutex::new(());

/// Builds `programs/NAME.c` with `gcc -static`; None (after skip) when the
/// compiler or the static libc is missing.
fn build_static(name: &str) -> Option<PathBuf> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/programs")
        .join(format!("{name}.c"));
    build_static_from(name, &src)
}

fn build_static_from(name: &str, src: &Path) -> Option<PathBuf> {
    // Under the lock too: a trace running on another test thread reaps
    // every child of this process, gcc included (plain `cargo test` runs
    // the tests as threads of one process).
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("syscall-{name}-static"));
    // Written under a name of this process, then renamed into place: under
    // nextest two tests (two processes) may build the same program, and
    // one must never exec the file while the other's linker writes it
    // (ETXTBSY, exit 126).
    let partial = out.with_extension(format!("{}.partial", std::process::id()));
    let r = std::process::Command::new("gcc")
        .args(["-static", "-pthread", "-O1", "-o"])
        .arg(&partial)
        .arg(src)
        .output();
    match r {
        Ok(o) if o.status.success() => {
            std::fs::rename(&partial, &out).expect("renaming the built program");
            Some(out)
        }
        Ok(o) => {
            skip::skip(
                &format!(
                    "gcc -static failed for {name}.c: {}",
                    String::from_utf8_lossy(&o.stderr)
                ),
                "install libc6-dev (static glibc) and gcc",
            );
            None
        }
        Err(e) => {
            skip::skip(&format!("gcc not runnable: {e}"), "install gcc");
            None
        }
    }
}

struct Traced {
    status: i32,
    events: Vec<Event>,
    output: String,
    /// Whether every caller address lies in a module the process's module
    /// records described (so the collector can symbolise it).
    callers_in_modules: bool,
}

/// Runs `argv` under the backend with payload capture on, decoding every
/// record in completion order. The program's stdout goes to a file (through
/// `sh -c 'exec ...'`, so the shell's exec is traced too).
fn trace(argv: &[&str]) -> Traced {
    let out = tempfile(&format!("out-{}", argv.join("-").replace('/', "_")));
    trace_to(argv, &out)
}

/// [`trace`] with the program's output in `out`.
fn trace_to(argv: &[&str], out: &Path) -> Traced {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let script = format!(
        "exec {} > {}",
        argv.iter()
            .map(|a| format!("'{a}'"))
            .collect::<Vec<_>>()
            .join(" "),
        out.display()
    );
    let capture = CaptureOptions {
        enabled: FuncMask::defaults(),
        max_data: 256,
        caller_depth: 1,
        // Both ends of connected sockets, as a packet capture asks.
        flags: sock_trace_event::ring::CAPTURE_ADDRESSES,
        ..CaptureOptions::default()
    };
    let geo = Geometry {
        nrings: 8,
        ring_bytes: 256 * 1024,
    };
    let area = Area::create(AreaSpec::new(geo, capture)).expect("trace area");
    // SAFETY: `area` lives until the end of this function, past every use.
    let shm = *unsafe { area.shm_unchecked() };
    let mut raw: Vec<Vec<u8>> = Vec::new();
    let drain = |raw: &mut Vec<Vec<u8>>| {
        for ring in 0..geo.nrings {
            if shm
                .ctl(ring)
                .state
                .load(std::sync::atomic::Ordering::Acquire)
                == RING_FREE
            {
                continue;
            }
            loop {
                let mut buf = Vec::new();
                let tail = shm.read_committed(ring, &mut buf);
                if buf.is_empty() {
                    break;
                }
                let mut pos = 0;
                while pos < buf.len() {
                    let r = Record::parse(&buf[pos..]).expect("well-formed record");
                    let len = r.header.len as usize;
                    if r.header.func != Func::Pad as u16 {
                        raw.push(buf[pos..pos + len].to_vec());
                    }
                    pos += len;
                }
                shm.consume(ring, tail);
            }
        }
    };
    let args: Vec<OsString> = ["/bin/sh", "-c", &script]
        .iter()
        .map(OsString::from)
        .collect();
    let status = sock_trace_syscall::run(&args, &shm, || drain(&mut raw)).expect("started");
    drain(&mut raw);
    let mut recs: Vec<(u64, usize, Vec<u8>)> = raw
        .into_iter()
        .enumerate()
        .map(|(i, b)| (Record::parse(&b).unwrap().header.t_end, i, b))
        .collect();
    recs.sort_by_key(|r| (r.0, r.1));
    let mut decoder = Decoder::new();
    let mut callers_in_modules = true;
    let mut events = Vec::new();
    for (_, _, b) in &recs {
        let Some(e) = decoder.decode(&Record::parse(b).unwrap()) else {
            continue;
        };
        let mods = decoder.modules(e.pid);
        if !e
            .callers
            .iter()
            .all(|&a| mods.iter().any(|m| m.contains(a)))
        {
            callers_in_modules = false;
        }
        events.push(e);
    }
    let output = std::fs::read_to_string(out).unwrap_or_default();
    let _ = std::fs::remove_file(out);
    Traced {
        status,
        events,
        output,
        callers_in_modules,
    }
}

fn tempfile(tag: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("syscall-{}-{tag}", std::process::id()))
}

fn calls(t: &Traced, f: Func) -> Vec<&Event> {
    t.events.iter().filter(|e| e.func == f).collect()
}

fn dump(t: &Traced) -> String {
    t.events
        .iter()
        .map(|e| {
            format!(
                "{} {} {:?} {:?}",
                e.pid,
                e.func.name(),
                e.core.ret,
                e.core.errno
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn static_client_connect_send_recv_and_refused_errno() {
    let Some(prog) = build_static("client") else {
        return;
    };
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    // A port nobody listens on: bind, read the number, close.
    let closed = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut b = [0u8; 4];
        s.read_exact(&mut b).unwrap();
        s.write_all(b"pong!").unwrap();
        b
    });
    let t = trace(&[
        prog.to_str().unwrap(),
        &port.to_string(),
        &closed.to_string(),
    ]);
    assert_eq!(server.join().unwrap(), *b"ping");
    assert!(t.output.contains("ALL OK"), "program output: {}", t.output);
    assert!(
        t.output.contains("errno=111"),
        "ECONNREFUSED reached the program: {}",
        t.output
    );
    assert!(libc::WIFEXITED(t.status), "{:#x}", t.status);
    assert_eq!(sock_trace_syscall::exit_code(t.status), 3);

    let starts: Vec<_> = t.events.iter().filter_map(|e| e.proc_start()).collect();
    assert!(
        starts.iter().any(|s| s.backend == Backend::Syscall
            && s.exe.as_deref() == Some(prog.to_str().unwrap().as_bytes())),
        "a start record for the static program: {starts:?}"
    );
    let connects = calls(&t, Func::Connect);
    assert_eq!(connects.len(), 2, "{}", dump(&t));
    assert_eq!(
        connects[0].core.peer,
        Some(SockAddr::V4 {
            ip: Ipv4Addr::LOCALHOST,
            port
        })
    );
    assert_eq!(connects[0].core.ret, 0);
    // The local end, read through a duplicate of the tracee's socket.
    assert!(
        matches!(connects[0].core.local, Some(SockAddr::V4 { ip, port: p }) if ip == Ipv4Addr::LOCALHOST && p != 0),
        "{:?}",
        connects[0].core.local
    );
    assert_eq!(connects[1].core.errno, Some(libc::ECONNREFUSED));
    assert_eq!(connects[1].core.ret, -1);
    let sent: u64 = t
        .events
        .iter()
        .filter(|e| matches!(e.func, Func::Sendto | Func::Send | Func::Write))
        .filter_map(|e| e.core.io.map(|io| io.bytes))
        .sum();
    assert_eq!(sent, 4, "{}", dump(&t));
    let recv: Vec<_> = t
        .events
        .iter()
        .filter(|e| matches!(e.func, Func::Recvfrom | Func::Recv | Func::Read))
        .collect();
    let received: u64 = recv
        .iter()
        .filter_map(|e| e.core.io.map(|io| io.bytes))
        .sum();
    assert_eq!(received, 5, "{}", dump(&t));
    let payload: Vec<u8> = recv
        .iter()
        .filter_map(|e| e.data.as_ref())
        .flat_map(|d| d.shown.clone())
        .collect();
    assert_eq!(payload, b"pong!");
    // Two sockets closed; files (the output redirection) are not shown.
    assert_eq!(calls(&t, Func::Close).len(), 2, "{}", dump(&t));
    assert_eq!(calls(&t, Func::Socket).len(), 2);
    // Every call of the program has its caller's instruction pointer.
    assert!(connects
        .iter()
        .all(|e| e.callers.len() == 1 && e.callers[0] != 0));
    assert!(
        t.callers_in_modules,
        "module records cover the caller addresses"
    );
}

/// The preload suite's own check program, linked statically: every result
/// and errno it sees under the backend is what the kernel gives untraced.
#[test]
fn static_basic_program_sees_unchanged_results() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../cli/tests/programs/basic.c");
    let Some(out) = build_static_from("basic", &src) else {
        return;
    };
    let t = trace(&[out.to_str().unwrap()]);
    assert!(t.output.contains("ALL OK"), "{}", t.output);
    assert_eq!(sock_trace_syscall::exit_code(t.status), 0);
    let refused = calls(&t, Func::Connect)
        .into_iter()
        .filter(|e| e.core.errno == Some(libc::ECONNREFUSED))
        .count();
    assert_eq!(refused, 1, "{}", dump(&t));
    assert_eq!(calls(&t, Func::Accept4).len(), 1);
    assert_eq!(calls(&t, Func::Socketpair).len(), 1);
    // The readiness calls on sockets: poll, select (glibc's is pselect6),
    // epoll with a socket added.
    let polls = calls(&t, Func::Poll);
    assert!(
        !polls.is_empty() && polls.iter().all(|e| e.core.ret == 1),
        "{}",
        dump(&t)
    );
    assert_eq!(calls(&t, Func::EpollCreate1).len(), 1);
    assert_eq!(calls(&t, Func::EpollCtl).len(), 1);
    let waits = calls(&t, Func::EpollWait);
    assert_eq!(waits.len(), 1);
    assert_eq!(waits[0].core.ret, 1);
    assert_eq!(
        calls(&t, Func::Pselect).len() + calls(&t, Func::Select).len(),
        1,
        "{}",
        dump(&t)
    );
}

#[test]
fn forked_child_calls_belong_to_the_child() {
    let Some(prog) = build_static("forker") else {
        return;
    };
    let udp = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = udp.local_addr().unwrap().port();
    let t = trace(&[prog.to_str().unwrap(), &port.to_string()]);
    let mut b = [0u8; 16];
    udp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let (n, _) = udp.recv_from(&mut b).unwrap();
    assert_eq!(&b[..n], b"child");
    assert_eq!(sock_trace_syscall::exit_code(t.status), 10, "{}", t.output);
    // "parent P child C status S"
    let line = t
        .output
        .lines()
        .find(|l| l.starts_with("parent"))
        .expect(&t.output);
    let words: Vec<&str> = line.split_whitespace().collect();
    let (parent, child): (u32, u32) = (words[1].parse().unwrap(), words[3].parse().unwrap());
    let forked: Vec<_> = t
        .events
        .iter()
        .filter(|e| e.proc_start().is_some_and(|s| s.forked))
        .collect();
    assert_eq!(forked.len(), 1, "{}", dump(&t));
    assert_eq!(forked[0].pid, child);
    assert_eq!(forked[0].proc_start().unwrap().ppid, parent);
    let sendto = calls(&t, Func::Sendto);
    assert_eq!(sendto.len(), 1, "{}", dump(&t));
    assert_eq!(sendto[0].pid, child);
    assert_eq!(sendto[0].core.ret, 5);
    let child_socket = calls(&t, Func::Socket);
    assert!(child_socket.iter().all(|e| e.pid == child));
    let pair = calls(&t, Func::Socketpair);
    assert_eq!(pair.len(), 1);
    assert_eq!(pair[0].pid, parent);
}

#[test]
fn killed_program_exit_status_and_signals_delivered_once() {
    let Some(prog) = build_static("sigdie") else {
        return;
    };
    for (how, sig) in [
        ("kill", libc::SIGKILL),
        ("segv", libc::SIGSEGV),
        ("term", libc::SIGTERM),
    ] {
        let t = trace(&[prog.to_str().unwrap(), how]);
        assert!(libc::WIFSIGNALED(t.status), "{how}: {:#x}", t.status);
        assert_eq!(sock_trace_syscall::exit_code(t.status), 128 + sig, "{how}");
        assert!(
            t.output.contains("usr1 handled 1 times"),
            "{how}: {}",
            t.output
        );
        let sends = calls(&t, Func::Sendto);
        assert_eq!(
            sends.len(),
            1,
            "{how}: the last call is recorded: {}",
            dump(&t)
        );
        assert_eq!(
            sends[0].data.as_ref().map(|d| d.shown.clone()),
            Some(b"last words".to_vec())
        );
    }
}

/// 16 threads on private socketpairs (the preload suite's threads.c):
/// every call is recorded exactly once, with its thread's tid.
#[test]
fn threads_exact_call_counts() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../cli/tests/programs/threads.c");
    let Some(prog) = build_static_from("threads", &src) else {
        return;
    };
    let t = trace(&[prog.to_str().unwrap(), "16", "400"]);
    assert!(t.output.contains("done"), "{}", t.output);
    assert_eq!(sock_trace_syscall::exit_code(t.status), 0);
    let sends = calls(&t, Func::Sendto);
    let recvs = calls(&t, Func::Recvfrom);
    assert_eq!(sends.len(), 16 * 200);
    assert_eq!(recvs.len(), 16 * 200);
    assert!(sends.iter().chain(&recvs).all(|e| e.core.ret == 1));
    let tids: std::collections::HashSet<u32> = sends.iter().map(|e| e.tid).collect();
    assert_eq!(tids.len(), 16, "each thread's calls carry its tid");
    assert!(sends.iter().all(|e| e.tid != e.pid));
}

/// A group-stop keeps the program stopped (PTRACE_LISTEN) until SIGCONT.
#[test]
fn sigstop_stops_until_sigcont() {
    let Some(prog) = build_static("stopper") else {
        return;
    };
    let out = tempfile("stopper-watch");
    let out2 = out.clone();
    let watcher = std::thread::spawn(move || {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let pid: i32 = loop {
            let text = std::fs::read_to_string(&out2).unwrap_or_default();
            if let Some(p) = text.strip_prefix("pid ").and_then(|r| r.lines().next()) {
                break p.trim().parse().unwrap();
            }
            assert!(std::time::Instant::now() < deadline, "no pid line");
            std::thread::sleep(Duration::from_millis(10));
        };
        // Stopped for a while: nothing more is written.
        std::thread::sleep(Duration::from_millis(300));
        let before = std::fs::read_to_string(&out2).unwrap_or_default();
        // SAFETY: plain kill.
        unsafe { libc::kill(pid, libc::SIGCONT) };
        before
    });
    let t = trace_to(&[prog.to_str().unwrap()], &out);
    let before = watcher.join().unwrap();
    assert!(
        !before.contains("continued"),
        "ran on while stopped: {before}"
    );
    assert!(t.output.contains("continued 1"), "{}", t.output);
    assert_eq!(sock_trace_syscall::exit_code(t.status), 0);
    assert_eq!(calls(&t, Func::Socket).len(), 1);
}

/// `run_with`: the program in a process group of its own, its pid handed
/// to the launcher before it runs.
#[test]
fn own_process_group_and_started_pid() {
    let Some(prog) = build_static("sigdie") else {
        return;
    };
    let area = Area::create(AreaSpec::new(
        Geometry {
            nrings: 2,
            ring_bytes: 64 * 1024,
        },
        CaptureOptions::default(),
    ))
    .unwrap();
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let seen = Mutex::new((0u32, 0i32));
    let started = |pid: u32| {
        // SAFETY: plain getpgid on our (stopped) child.
        let pgid = unsafe { libc::getpgid(pid as i32) };
        *seen.lock().unwrap() = (pid, pgid);
    };
    let options = sock_trace_syscall::RunOptions {
        own_process_group: true,
        started: Some(&started),
    };
    let argv = [prog.into_os_string(), OsString::from("term")];
    let st = sock_trace_syscall::run_with(&argv, shm_of(&area), &options, || {}).unwrap();
    assert_eq!(sock_trace_syscall::exit_code(st), 128 + libc::SIGTERM);
    let (pid, pgid) = *seen.lock().unwrap();
    assert!(pid > 0);
    assert_eq!(pgid, pid as i32);
}

#[test]
fn missing_program_is_not_started() {
    let area = Area::create(AreaSpec::new(
        Geometry {
            nrings: 2,
            ring_bytes: 16 * 1024,
        },
        CaptureOptions::default(),
    ))
    .unwrap();
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let r = sock_trace_syscall::run(&[OsString::from("/nonexistent/prog")], shm_of(&area), || {});
    assert_eq!(r.err().map(|e| e.code), Some(127));
}

/// The area's mapping for this test's producer and reader.
fn shm_of(area: &Area) -> &sock_trace_event::Shm {
    // SAFETY: the returned reference borrows `area`, and no copy of it is
    // kept past the area's life by the callers here.
    unsafe { area.shm_unchecked() }
}
