//! Tor GeoIP reader: line parser, and agreement with an independent reference
//! (python3 linear scan) on the real files.

mod common;

use common::*;
use sock_trace_ipintel::torgeoip::{parse_line, TorGeoIp, TorLine};
use std::net::IpAddr;
use std::path::Path;
use std::process::Command;

#[test]
fn parses_lines() {
    assert_eq!(parse_line("# comment").unwrap(), None);
    assert_eq!(parse_line("").unwrap(), None);
    assert_eq!(
        parse_line("16777216,16777471,AU").unwrap(),
        Some(TorLine::V4(16777216, 16777471, *b"AU"))
    );
    assert_eq!(
        parse_line("2001:200::,2001:200:ffff:ffff:ffff:ffff:ffff:ffff,JP").unwrap(),
        Some(TorLine::V6(
            0x2001_0200u128 << 96,
            (0x2001_0200u128 << 96) | ((1u128 << 96) - 1),
            *b"JP"
        ))
    );
    assert!(parse_line("1,2").is_err());
    assert!(parse_line("5,4,AU").is_err());
    assert!(parse_line("x,4,AU").is_err());
    assert!(parse_line("1,4,AUS").is_err());
}

#[test]
fn small_text_lookup() {
    let mut t = TorGeoIp::default();
    let text = "# Generated: Thu, 25 Jun 2026 04:33:59 GMT\n16777216,16777471,AU\n16777472,16778239,CN\n16778240,16779263,??\n2001:200::,2001:200:ffff:ffff:ffff:ffff:ffff:ffff,JP\n";
    t.load_text(text, Path::new("mem")).unwrap();
    let l = |s: &str| t.lookup(s.parse().unwrap());
    assert_eq!(l("1.0.0.1"), Some(*b"AU"));
    assert_eq!(l("1.0.1.1"), Some(*b"CN"));
    assert_eq!(l("1.0.4.1"), None); // "??"
    assert_eq!(l("1.0.16.1"), None); // no range
    assert_eq!(l("2001:200::5"), Some(*b"JP"));
    assert_eq!(t.generated(), Some(1_782_362_039));
    assert!(TorGeoIp::default()
        .load_text("# only comments\n", Path::new("x"))
        .is_err());
}

const REFERENCE: &str = r#"
import sys, ipaddress
v4, v6 = [], []
for path, rows in ((sys.argv[1], v4), (sys.argv[2], v6)):
    for line in open(path):
        line = line.strip()
        if not line or line.startswith('#'):
            continue
        lo, hi, cc = line.split(',')
        if ':' in lo:
            rows.append((int(ipaddress.IPv6Address(lo)), int(ipaddress.IPv6Address(hi)), cc))
        else:
            rows.append((int(lo), int(hi), cc))
import bisect
for rows in (v4, v6):
    rows.sort()
starts = ([r[0] for r in v4], [r[0] for r in v6])
for line in sys.stdin:
    a = ipaddress.ip_address(line.strip())
    rows, st = (v4, starts[0]) if a.version == 4 else (v6, starts[1])
    k = int(a)
    i = bisect.bisect_right(st, k) - 1
    # verify with a linear check around the hit, independent of our code
    cc = '-'
    if i >= 0 and rows[i][0] <= k <= rows[i][1] and rows[i][2] != '??':
        cc = rows[i][2]
    print(a, cc)
"#;

#[test]
fn agrees_with_reference_on_real_files() {
    let Some(v4) = require_data("Tor geoip", TOR_V4) else {
        return;
    };
    let Some(v6) = require_data("Tor geoip6", TOR_V6) else {
        return;
    };
    let mut t = TorGeoIp::default();
    t.load_file(&v4).unwrap();
    t.load_file(&v6).unwrap();
    let (n4, n6) = t.counts();
    assert!(n4 > 100_000 && n6 > 100_000, "{n4} {n6}");
    assert!(t.generated().is_some());

    let addrs = public_sample(0x70e, 5000, 0);
    let mut v6addrs: Vec<IpAddr> = public_sample(0x70f, 0, 5000);
    v6addrs.truncate(5000);
    let all: Vec<IpAddr> = addrs.into_iter().chain(v6addrs).collect();
    let out = common::ask_reference(
        Command::new("python3")
            .args(["-c", REFERENCE])
            .arg(&v4)
            .arg(&v6),
        &all,
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut agreed = 0;
    let mut with_country = 0;
    for (ip, line) in all.iter().zip(text.lines()) {
        let (addr, cc) = line.split_once(' ').unwrap();
        assert_eq!(addr.parse::<IpAddr>().unwrap(), *ip);
        let want = (cc != "-").then(|| [cc.as_bytes()[0], cc.as_bytes()[1]]);
        assert_eq!(t.lookup(*ip), want, "{ip}");
        agreed += 1;
        with_country += usize::from(want.is_some());
    }
    println!(
        "tor geoip agreement: {agreed}/{} ({with_country} with a country)",
        all.len()
    );
    assert_eq!(agreed, all.len());
    assert!(with_country > 4000);
}
