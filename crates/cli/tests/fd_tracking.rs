//! Which descriptors are sockets (issue 9 items 8 and 9): sockets closed by
//! close_range, closefrom, fclose of an fdopen'ed stream or
//! syscall(SYS_close) lose their mark, so a file that reuses the number is
//! neither traced as socket I/O nor bent by `--inject read=...`; a socket
//! received through SCM_RIGHTS is traced; socket calls made through
//! syscall() are traced, other numbers pass through unchanged.

mod common;

use common::*;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

/// The fdtrack program and what its `mode` prints when it
/// runs untraced, which must succeed.
fn fdtrack(mode: &str) -> (std::path::PathBuf, String) {
    let prog = compile_c("fdtrack", &["-O2"]);
    let (code, out) = untraced(&prog, &[mode]);
    assert_eq!(code, Some(0), "fdtrack {mode}: {out}");
    (prog, out)
}

#[test]
fn sockets_closed_behind_the_hooks_back_lose_their_mark() {
    let (prog, out) = fdtrack("closers");
    assert_eq!(out.matches("reused=1 read=16 elf=1").count(), 4, "{out}");
    // A read fault for every read: it must not reach the files that took
    // the sockets' numbers.
    let t = run_traced(
        &["--max-data", "64", "--inject", "read=EIO"],
        &[prog.as_os_str(), "closers".as_ref()],
        T,
    );
    assert_eq!(t.code, Some(0), "{}", t.stderr);
    assert_eq!(t.stdout, out, "the program saw something else traced");
    assert!(
        t.calls("read").is_empty(),
        "a file read traced as socket I/O"
    );
    assert_eq!(t.calls("close_range").len(), 1);
    assert_eq!(t.calls("closefrom").len(), 1);
    // fclose and syscall(SYS_close) show as the closes they are.
    assert_eq!(t.calls("close").len(), 2, "{}", t.trace);
}

#[test]
fn a_socket_received_through_scm_rights_is_traced() {
    let (prog, out) = fdtrack("rights");
    let fd: i64 = out
        .split("received fd ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .expect(&out);
    let t = run_traced(&[], &[prog.as_os_str(), "rights".as_ref()], T);
    assert_eq!(t.code, Some(0), "{}", t.stderr);
    assert_eq!(t.stdout, out);
    let writes = t.calls("write");
    assert!(
        writes.iter().any(|w| w["args"]["fd"] == fd),
        "no write on the received socket {fd}: {}",
        t.trace
    );
    // The control messages are decoded on both sides.
    for func in ["sendmsg", "recvmsg"] {
        let c = &t.calls(func)[0];
        let msg = if func == "sendmsg" {
            &c["args"]["msg"]
        } else {
            &c["returned"]["msg"]
        };
        assert_eq!(msg["control"][0]["cmsg_type"], "SCM_RIGHTS", "{c}");
        assert!(msg["control"][0]["data"][0].is_number(), "{c}");
    }
}

#[test]
fn socket_calls_through_syscall_are_traced_and_others_pass_through() {
    let (prog, out) = fdtrack("syscall");
    assert_contains(&out, "sendmmsg 2 (3+4) received 3+4");
    assert_contains(&out, "futex 0");
    assert_contains(&out, "close(-1) -1 EBADF");
    assert_contains(&out, "nr 99999 -1 ENOSYS");
    let t = run_traced(&[], &[prog.as_os_str(), "syscall".as_ref()], T);
    assert_eq!(t.code, Some(0), "{}", t.stderr);
    assert_eq!(
        t.stdout, out,
        "errno or results changed by the syscall hook"
    );
    assert_eq!(t.calls("socket").len(), 2, "{}", t.trace);
    let mm = t.calls("sendmmsg");
    assert_eq!(mm.len(), 1, "{}", t.trace);
    assert_eq!(mm[0]["result"]["value"], 2, "{}", mm[0]);
    let closes = t.calls("close");
    assert_eq!(closes.len(), 1, "{}", t.trace);
}

/// A socket closed where no hook can see it (the `syscall` instruction
/// itself) keeps its mark, but a call is re-verified (fstat) before it is
/// bent or its payload captured: the file that took the number is read
/// normally and not traced.
#[test]
fn a_stale_mark_is_verified_before_a_call_is_bent() {
    let (prog, out) = fdtrack("asm");
    assert_contains(&out, "asm_close reused=1 read=16 elf=1");
    let t = run_traced(
        &["--max-data", "64", "--inject", "read=EIO"],
        &[prog.as_os_str(), "asm".as_ref()],
        T,
    );
    assert_eq!(t.code, Some(0), "{}", t.stderr);
    assert_eq!(t.stdout, out, "a read of a file was bent");
    assert!(t.calls("read").is_empty(), "{}", t.trace);
}
