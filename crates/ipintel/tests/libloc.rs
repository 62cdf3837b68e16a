//! libloc reader: exact answers from the tiny fixture, rejection of corrupt
//! files, and agreement with IPFire's own `location lookup` on the real data.

mod common;

use common::*;
use sock_trace_ipintel::libloc::{LocDb, FLAG_DROP};
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::process::Command;

#[test]
fn tiny_fixture_answers() {
    let db = LocDb::open(&fixture("libloc/tiny.db")).unwrap();
    assert_eq!(db.vendor().as_deref(), Some("test"));
    assert_eq!(db.description().as_deref(), Some("tiny test db"));
    assert_eq!(db.license().as_deref(), Some("CC0"));

    let m = db.lookup("192.0.2.77".parse().unwrap()).unwrap().unwrap();
    assert_eq!(m.network.to_string(), "192.0.2.0/24");
    assert_eq!(m.country_code, Some(*b"DE"));
    assert_eq!(m.asn, Some(64500));
    assert_eq!(m.flags, FLAG_DROP);

    let m = db
        .lookup("2001:db8:1234::1".parse().unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(m.network.to_string(), "2001:db8::/32");
    assert_eq!(m.asn, Some(64500));
    assert_eq!(m.flags, 0);

    assert_eq!(db.as_name(64500).as_deref(), Some("EXAMPLE-AS"));
    assert_eq!(db.as_name(64501), None);
    let de = db.country(*b"DE").unwrap();
    assert_eq!((de.continent.as_str(), de.name.as_str()), ("EU", "Germany"));

    assert_eq!(db.lookup("192.0.3.1".parse().unwrap()).unwrap(), None);
    assert_eq!(db.lookup("8.8.8.8".parse().unwrap()).unwrap(), None);
    assert_eq!(db.lookup("2001:db9::1".parse().unwrap()).unwrap(), None);
}

#[test]
fn corrupt_files_are_errors_naming_the_file() {
    let good = std::fs::read(fixture("libloc/tiny.db")).unwrap();
    let p = Path::new("/x/bad.db");
    for (what, bytes) in [
        ("empty", Vec::new()),
        ("truncated header", good[..100].to_vec()),
        ("bad magic", [b"XXXXXXX".as_slice(), &good[7..]].concat()),
        ("version 2", [&good[..7], &[2u8], &good[8..]].concat()),
        ("truncated sections", good[..0x3000].to_vec()),
    ] {
        let e = LocDb::from_bytes(bytes, p)
            .err()
            .unwrap_or_else(|| panic!("{what} accepted"));
        assert!(e.to_string().contains("/x/bad.db"), "{what}: {e}");
    }
    // A tree node pointing far outside the tree: lookups must error, not panic.
    let mut evil = good.clone();
    evil[0x3000..0x3004].copy_from_slice(&0x7fff_ffffu32.to_be_bytes());
    evil[0x3004..0x3008].copy_from_slice(&0x7fff_ffffu32.to_be_bytes());
    match LocDb::from_bytes(evil, p) {
        Err(e) => assert!(e.to_string().contains("out of range")),
        Ok(db) => assert!(db.lookup("2001:db8::1".parse().unwrap()).is_err()),
    }
}

/// Parses `location lookup` output into address -> (network, country name, asn, flags).
fn parse_location_output(text: &str) -> HashMap<IpAddr, Option<Rec>> {
    let mut out = HashMap::new();
    let mut current: Option<(IpAddr, Rec)> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("Nothing found for ") {
            if let Ok(ip) = rest.trim().parse() {
                out.insert(ip, None);
            }
            continue;
        }
        if !line.starts_with(' ') && line.ends_with(':') {
            if let Some((ip, rec)) = current.take() {
                out.insert(ip, Some(rec));
            }
            if let Ok(ip) = line.trim_end_matches(':').parse() {
                current = Some((ip, (String::new(), String::new(), None, Vec::new())));
            }
            continue;
        }
        let Some((_, rec)) = current.as_mut() else {
            continue;
        };
        let Some((key, value)) = line.split_once(" : ").or_else(|| line.split_once(": ")) else {
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        match key {
            "Network" => rec.0 = value.to_string(),
            "Country" => rec.1 = value.to_string(),
            "Autonomous System" => {
                rec.2 = value
                    .strip_prefix("AS")
                    .and_then(|v| v.split(' ').next())
                    .and_then(|n| n.parse().ok())
            }
            _ if value == "yes" => rec.3.push(key.to_string()),
            _ => {}
        }
    }
    if let Some((ip, rec)) = current.take() {
        out.insert(ip, Some(rec));
    }
    out
}

/// Runs `location lookup` over `addrs` in batches. The command aborts a batch
/// with "[Errno 25]" at some unmatched addresses; such an address counts as
/// "nothing found" and the batch resumes after it.
fn location_cli(db_path: &Path, addrs: &[IpAddr]) -> (HashMap<IpAddr, Option<Rec>>, usize) {
    let mut expected = HashMap::new();
    let mut aborted = 0;
    let mut rest = addrs;
    while !rest.is_empty() {
        let chunk = &rest[..rest.len().min(1000)];
        let out = Command::new("location")
            .arg("--database")
            .arg(db_path)
            .arg("lookup")
            .args(chunk.iter().map(|a| a.to_string()))
            .output()
            .expect("run location");
        expected.extend(parse_location_output(&String::from_utf8_lossy(&out.stdout)));
        match chunk.iter().position(|a| !expected.contains_key(a)) {
            Some(i) => {
                aborted += 1;
                expected.insert(chunk[i], None);
                rest = &rest[i + 1..];
            }
            None => rest = &rest[chunk.len()..],
        }
    }
    (expected, aborted)
}

/// The same library through its Python binding (tools/libloc-reference.py).
fn location_python(db_path: &Path, addrs: &[IpAddr]) -> HashMap<IpAddr, Option<Rec>> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tools/libloc-reference.py");
    let out = common::ask_reference(
        Command::new("/usr/bin/python3").arg(script).arg(db_path),
        addrs,
    );
    assert!(out.status.success(), "reference script failed");
    parse_location_output(&String::from_utf8_lossy(&out.stdout))
}

type Rec = (String, String, Option<u32>, Vec<String>);

fn compare(
    db: &LocDb,
    addrs: &[IpAddr],
    expected: &HashMap<IpAddr, Option<Rec>>,
    what: &str,
) -> usize {
    let (mut agreed, mut found, mut disagreements) = (0usize, 0usize, Vec::new());
    for ip in addrs {
        let want = expected
            .get(ip)
            .unwrap_or_else(|| panic!("{what}: no answer for {ip}"));
        let got = db.lookup(*ip).unwrap().map(|m| {
            let country = m
                .country_code
                .and_then(|cc| db.country(cc))
                .map(|c| c.name)
                .unwrap_or_default();
            let names = [
                "Anonymous Proxy",
                "Satellite Provider",
                "Anycast",
                "Hostile Network safe to drop",
            ];
            let flags: Vec<String> = (0..4usize)
                .filter(|b| m.flags & (1 << b) != 0)
                .map(|b| names[b].to_string())
                .collect();
            (m.network.to_string(), country, m.asn, flags)
        });
        let same = match (want, &got) {
            (None, None) => true,
            (Some(w), Some(g)) => {
                w.0 == g.0 && (w.1.is_empty() || w.1 == g.1) && w.2 == g.2 && w.3 == g.3
            }
            _ => false,
        };
        found += usize::from(want.is_some());
        if same {
            agreed += 1;
        } else if disagreements.len() < 10 {
            disagreements.push(format!("{ip}: reference says {want:?}, we say {got:?}"));
        }
    }
    println!(
        "libloc agreement with {what}: {agreed}/{} addresses ({found} with a network)",
        addrs.len()
    );
    assert_eq!(agreed, addrs.len(), "disagreements: {disagreements:#?}");
    found
}

/// IPv6 addresses inside the big RIR blocks, so that many of them match.
fn routed_v6_sample(seed: u64, n: usize) -> Vec<IpAddr> {
    let mut rng = sock_trace_ipintel::net::XorShift(seed);
    let tops: [u128; 6] = [0x2001, 0x2400, 0x2600, 0x2800, 0x2a00, 0x2c00];
    (0..n)
        .map(|_| {
            let top = tops[(rng.next_u64() % 6) as usize] | (rng.next_u64() as u128 & 0xf);
            let low = (rng.next_u64() as u128) << 64 | rng.next_u64() as u128;
            IpAddr::V6(((top << 112) | (low >> 16)).into())
        })
        .collect()
}

#[test]
fn agrees_with_location_lookup_on_real_data() {
    let Some(db_path) = require_data("IPFire location.db", LIBLOC_DB) else {
        return;
    };
    let Some(_) = require_data("`location` command", &["/usr/bin/location"]) else {
        return;
    };
    let db = LocDb::open(&db_path).unwrap();

    // IPv4 (and some IPv6) through the `location lookup` command itself.
    let mut addrs = public_sample(0x05ee_d10c, 4000, 0);
    addrs.extend(routed_v6_sample(0xbeef, 200));
    let (expected, aborted) = location_cli(&db_path, &addrs);
    println!("`location lookup` aborted {aborted} times (counted as nothing found)");
    let found = compare(&db, &addrs, &expected, "`location lookup`");
    assert!(found > 3000, "too few addresses with data: {found}");

    // Many IPv6 addresses through the same library's Python binding, which
    // does not abort on unmatched addresses.
    if Path::new("/usr/bin/python3").is_file() {
        let mut v6 = routed_v6_sample(0xfeed, 4000);
        v6.extend(public_sample(7, 0, 1000));
        let expected = location_python(&db_path, &v6);
        let found = compare(&db, &v6, &expected, "libloc python binding (IPv6)");
        assert!(found > 1000, "too few IPv6 addresses with data: {found}");
    }
}
