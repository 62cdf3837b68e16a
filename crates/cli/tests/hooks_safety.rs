//! The hooks never read more than the call did (issue 9 item 5): a program
//! whose buffers end exactly at the end of a mapping, with lengths larger
//! than what the kernel or libc reads, behaves identically traced and
//! untraced (same output, same exit status), and the trace still shows the
//! calls with what could be read.

mod common;

use common::*;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

/// Traces every function (the helpers too) with payload capture on, so
/// every hook's copying path runs.
fn trace_all(prog: &std::path::Path, args: &[&str]) -> Traced {
    let (_, cfg) = scratch_file("sloppy-config", "all.toml", "[trace]\nexclude = []\n");
    let mut cmd = vec![prog.as_os_str()];
    cmd.extend(args.iter().map(|a| std::ffi::OsStr::new(a)));
    run_traced(
        &["--config", cfg.to_str().unwrap(), "--max-data", "64"],
        &cmd,
        T,
    )
}

#[test]
fn buffers_at_the_end_of_a_mapping_never_crash_the_program() {
    let prog = compile_c("sloppy", &["-O2"]);
    let (code, out) = untraced(&prog, &[]);
    assert_eq!(code, Some(0), "the program works untraced: {out}");
    assert_contains(&out, "getnameinfo 0 127.0.0.1 8080");
    let t = trace_all(&prog, &[]);
    assert_eq!(t.code, Some(0), "traced exit status; stderr: {}", t.stderr);
    assert_eq!(t.stdout, out, "traced output differs");
    // Each audited hook recorded its call.
    for func in [
        "getnameinfo",
        "setsockopt",
        "getsockopt",
        "sendto",
        "connect",
        "recvmsg",
        "recvmmsg",
        "recv",
        "recvfrom",
        "poll",
        "select",
        "epoll_ctl",
        "sendmsg",
        "getaddrinfo",
        "inet_aton",
        "inet_addr",
        "inet_pton",
        "inet_ntop",
    ] {
        assert!(!t.calls(func).is_empty(), "no {func} in the trace");
    }
    // What could be read is shown: getnameinfo's address, the int option
    // (only the readable part of the 16 bytes), the whole tcp_info.
    let gni = &t.calls("getnameinfo")[0];
    assert!(gni.to_string().contains("127.0.0.1"), "{gni}");
    let keep = t
        .calls("setsockopt")
        .into_iter()
        .find(|c| c["args"]["optname"] == "SO_KEEPALIVE")
        .expect("SO_KEEPALIVE");
    assert!(keep.to_string().contains("\"optlen\":16"), "{keep}");
    let info = &t.calls("getsockopt")[0];
    assert!(
        info["returned"]["optval"]["rtt"].is_number(),
        "tcp_info cut: {info}"
    );
    // The control buffer at the end of the mapping was captured and decoded.
    let sm = &t.calls("sendmsg")[0];
    assert_eq!(
        sm["args"]["msg"]["control"][0]["cmsg_type"], "SCM_RIGHTS",
        "{sm}"
    );
}

/// Each case alone, so that one crash cannot hide behind another.
#[test]
fn each_sloppy_case_alone_behaves_the_same_traced() {
    let prog = compile_c("sloppy", &["-O2"]);
    for case in [
        "getnameinfo",
        "setsockopt",
        "recvmsg",
        "recvmmsg",
        "recv",
        "recvfrom",
        "inet_aton",
        "inet_addr",
    ] {
        let (code, out) = untraced(&prog, &[case]);
        assert_eq!(code, Some(0), "{case} untraced: {out}");
        let t = trace_all(&prog, &[case]);
        assert_eq!(t.code, Some(0), "{case} traced; stderr: {}", t.stderr);
        assert_eq!(t.stdout, out, "{case}: traced output differs");
    }
}
