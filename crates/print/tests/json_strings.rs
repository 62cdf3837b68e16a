//! Program strings in JSON lines are unambiguous: the decoder given in
//! docs/JSON.md, run by a real Python, gets the original bytes back, and a
//! literal backslash-x-f-f differs from the byte 0xFF.

use sock_trace_decode::{Event, Field, Outcome, SockAddr, UnixKind, Value};
use sock_trace_event::Func;
use sock_trace_print::{Clock, JsonOptions, JsonPrinter, Printer};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn event(strings: &[Vec<u8>]) -> Event {
    Event {
        args: vec![
            Field::new(
                "node",
                Value::List(strings.iter().map(|s| Value::Str(s.clone())).collect()),
            ),
            Field::new(
                "addr",
                Value::Addr(SockAddr::Unix {
                    path: strings[0].clone(),
                    kind: UnixKind::Path,
                }),
            ),
        ],
        outcome: Outcome::Ok(Value::Int(0)),
        ..Event::new(1, 1, Func::Getaddrinfo, 0, 1)
    }
}

/// The Python code between the `<!-- decoder -->` markers of docs/JSON.md.
fn documented_decoder() -> String {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/JSON.md"))
        .expect("docs/JSON.md");
    let start = doc.find("<!-- decoder -->").expect("decoder marker") + 16;
    let end = doc.find("<!-- /decoder -->").expect("decoder end marker");
    let block = &doc[start..end];
    let code_start = block.find("```python").expect("python block") + 9;
    let code_end = block.rfind("```").expect("end of python block");
    block[code_start..code_end].to_string()
}

fn python() -> std::path::PathBuf {
    std::fs::canonicalize("/usr/bin/python3").expect("python3 installed")
}

#[test]
fn documented_decoder_recovers_program_bytes() {
    let strings: Vec<Vec<u8>> = vec![
        b"\\xff".to_vec(),  // a literal backslash, x, f, f
        vec![0xff],         // the byte 0xFF
        b"a\\\\b".to_vec(), // two backslashes
        "caf\u{e9} \"q\"\n\t".as_bytes().to_vec(),
        vec![b'/', 0xc3, 0x28, 0xe2, 0x82, b'\\', b'x', b'4', b'1', 0x80],
        (1u8..=255).collect(),
    ];
    let mut p = JsonPrinter::new(JsonOptions {
        clock: Clock::default(),
        max_string: 4096,
    });
    let mut line = Vec::new();
    p.event(&event(&strings), &mut line);
    let v: serde_json::Value = serde_json::from_slice(&line).expect("valid JSON");
    let texts: Vec<&str> = v["args"]["node"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_ne!(
        texts[0], texts[1],
        "literal \\xff and byte 0xFF must differ"
    );
    assert_eq!(v["args"]["addr"]["path"].as_str(), Some(texts[0]));

    let script = format!(
        "{}\nimport json, sys\nobj = json.loads(sys.stdin.read())\n\
         for s in obj['args']['node']:\n    print(st_bytes(s).hex())\n\
         print(st_bytes(obj['args']['addr']['path']).hex())\n",
        documented_decoder()
    );
    let mut child = Command::new(python())
        .arg("-c")
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run python3");
    child.stdin.take().unwrap().write_all(&line).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("python3 did not finish in 30 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "python3 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let mut want: Vec<String> = strings
        .iter()
        .map(|s| s.iter().map(|b| format!("{b:02x}")).collect())
        .collect();
    want.push(want[0].clone());
    assert_eq!(got, want);
}
