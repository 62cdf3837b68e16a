//! `--limit` paces by cutting each call to what the rate allows in a
//! tenth of a second, not by letting one call take everything and then
//! stalling (issue 9 item 16, limit part).

mod common;

use common::*;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

/// A thread sends 20,000 bytes at once; the main thread receives them with
/// recv(65536) and prints the largest single recv and the time it took.
const RECEIVER: &str = r#"
import socket, threading, time
a, b = socket.socketpair()
data = b"d" * 20000
t = threading.Thread(target=lambda: a.sendall(data)); t.start()
got, biggest, start = 0, 0, time.monotonic()
while got < len(data):
    n = len(b.recv(65536))
    got += n
    biggest = max(biggest, n)
t.join()
print("got %d biggest %d elapsed %.3f" % (got, biggest, time.monotonic() - start))
"#;

fn field(out: &str, name: &str) -> f64 {
    out.split(&format!("{name} "))
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {out:?}"))
}

#[test]
fn a_limited_recv_takes_at_most_a_slice_at_a_time() {
    let py = python3();
    let t = run_traced(
        &["--limit", "recv=10k", "-x", "*"],
        &[py.as_os_str(), "-c".as_ref(), RECEIVER.as_ref()],
        T,
    );
    assert_eq!(t.code, Some(0), "{}", t.stderr);
    assert_eq!(field(&t.stdout, "got"), 20000.0, "{}", t.stdout);
    // 10 kB/s: a tenth of a second is 1,000 (or 1,024) bytes.
    let biggest = field(&t.stdout, "biggest");
    assert!(biggest <= 1024.0, "one recv took {biggest} bytes");
    // 20 kB at 10 kB/s: about 2 s (the first slice goes at once).
    let elapsed = field(&t.stdout, "elapsed");
    assert!((1.6..5.0).contains(&elapsed), "{elapsed}");
}
