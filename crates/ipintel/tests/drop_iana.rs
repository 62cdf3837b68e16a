//! Spamhaus DROP (text and JSON lines) and IANA registry CSV.

use sock_trace_ipintel::drop::DropList;
use sock_trace_ipintel::iana::{parse_prefix, IanaRegistry};
use std::path::Path;

const DROP_TXT: &str = "; Spamhaus DROP List 2025/01/17 - (c) 2025 The Spamhaus Project SLU\n; Last-Modified: Fri, 17 Jan 2025 11:44:00 GMT\n1.10.16.0/20 ; SBL256894\n24.233.0.0/19 ; SBL210084\n24.233.8.0/24 ; SBL999999\n; EOF\n";
const DROP_V6_JSON: &str = "{\"cidr\":\"2001:678:6c4::/48\",\"sblid\":\"SBL626637\",\"rir\":\"ripencc\"}\n{\"cidr\":\"2401:c580::/32\",\"sblid\":\"SBL246818\",\"rir\":\"apnic\"}\n{\"type\":\"metadata\",\"timestamp\":1737114240,\"size\":1234,\"records\":2,\"copyright\":\"(c) 2025 The Spamhaus Project SLU\",\"terms\":\"https://www.spamhaus.org/drop/terms/\"}\n";

#[test]
fn drop_text_and_json() {
    let mut d = DropList::default();
    d.load_text(DROP_TXT, Path::new("drop.txt")).unwrap();
    d.load_text(DROP_V6_JSON, Path::new("drop_v6.json"))
        .unwrap();
    assert_eq!(d.len(), 5);
    assert_eq!(d.timestamp(), Some(1737114240));
    let hit = d.lookup("1.10.20.5".parse().unwrap()).unwrap();
    assert_eq!(
        (hit.sbl.as_str(), hit.network.to_string().as_str()),
        ("SBL256894", "1.10.16.0/20")
    );
    // Longest prefix wins.
    assert_eq!(
        d.lookup("24.233.8.9".parse().unwrap()).unwrap().sbl,
        "SBL999999"
    );
    assert_eq!(
        d.lookup("24.233.9.9".parse().unwrap()).unwrap().sbl,
        "SBL210084"
    );
    let hit = d.lookup("2401:c580:1::1".parse().unwrap()).unwrap();
    assert_eq!(
        (hit.sbl.as_str(), hit.rir.as_deref()),
        ("SBL246818", Some("apnic"))
    );
    assert_eq!(d.lookup("1.10.32.1".parse().unwrap()), None);
    assert_eq!(d.lookup("2001:678:6c5::1".parse().unwrap()), None);
    // An IPv4 address never matches through the IPv6 part of the key space.
    assert_eq!(d.lookup("::ffff:1.10.16.1".parse().unwrap()), None);
}

#[test]
fn drop_errors_name_the_file() {
    for (text, want) in [
        ("; only comments\n; EOF\n", "no entries"),
        ("1.2.3.4/40 ; SBL1\n", "line 1"),
        ("{\"cidr\": 5}\n", "line 1"),
        ("not-a-cidr ; SBL1\n", "line 1"),
    ] {
        let e = DropList::default()
            .load_text(text, Path::new("/data/drop.txt"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("/data/drop.txt") && e.contains(want), "{e}");
    }
}

const IANA_V4: &str = "Prefix,Designation,Date,WHOIS,RDAP,Status [1],Note\n000/8,IANA - Local Identification,1981-09,,,RESERVED,[2]\n008/8,Administered by ARIN,1992-12,whois.arin.net,\"https://rdap.arin.net/registry\nhttp://rdap.arin.net/registry\",LEGACY,\n014/8,APNIC,2010-04,whois.apnic.net,https://rdap.apnic.net/,ALLOCATED,\"[4]\nmulti-line note\"\n";
const IANA_V6: &str = "Prefix,Designation,Date,WHOIS,RDAP,Status,Note\n2001:0200::/23,APNIC,1999-07-01,whois.apnic.net,https://rdap.apnic.net/,ALLOCATED,\n2a00:0000::/12,RIPE NCC,2006-10-03,whois.ripe.net,https://rdap.db.ripe.net/,ALLOCATED,\"note\nspanning lines\"\n";

#[test]
fn iana_csv_files() {
    let dir = tempfile::tempdir().unwrap();
    let (p4, p6) = (
        dir.path().join("ipv4-address-space.csv"),
        dir.path().join("ipv6-unicast-address-assignments.csv"),
    );
    std::fs::write(&p4, IANA_V4).unwrap();
    std::fs::write(&p6, IANA_V6).unwrap();
    let mut reg = IanaRegistry::default();
    reg.load_file(&p4).unwrap();
    reg.load_file(&p6).unwrap();
    assert_eq!(reg.len(), 5);
    let (net, e) = reg.lookup("8.8.8.8".parse().unwrap()).unwrap();
    assert_eq!(net.to_string(), "8.0.0.0/8");
    assert_eq!(
        (
            e.prefix.as_str(),
            e.designation.as_str(),
            e.date.as_str(),
            e.whois.as_str(),
            e.rdap.as_str(),
            e.status.as_str()
        ),
        (
            "008/8",
            "Administered by ARIN",
            "1992-12",
            "whois.arin.net",
            "https://rdap.arin.net/registry",
            "LEGACY"
        )
    );
    let (net, e) = reg.lookup("2a00:1450::1".parse().unwrap()).unwrap();
    assert_eq!(
        (net.to_string().as_str(), e.designation.as_str()),
        ("2a00::/12", "RIPE NCC")
    );
    assert!(reg.lookup("9.9.9.9".parse().unwrap()).is_none());
    assert_eq!(parse_prefix("001/8").unwrap().to_string(), "1.0.0.0/8");
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "Prefix,Designation\nxyz/8,foo\n").unwrap();
    assert!(IanaRegistry::default()
        .load_file(&bad)
        .unwrap_err()
        .to_string()
        .contains("bad.csv"));
}

#[test]
fn embedded_registry() {
    let reg = IanaRegistry::embedded();
    assert!(reg.len() >= 290, "{}", reg.len());
    let (_, e) = reg.lookup("8.8.8.8".parse().unwrap()).unwrap();
    assert_eq!(
        (e.designation.as_str(), e.status.as_str(), e.date.as_str()),
        ("Administered by ARIN", "LEGACY", "1992-12")
    );
    let (_, e) = reg.lookup("193.0.0.1".parse().unwrap()).unwrap();
    assert_eq!(e.designation, "RIPE NCC");
    let (net, e) = reg.lookup("2001:67c::1".parse().unwrap()).unwrap();
    assert_eq!(
        (net.to_string().as_str(), e.designation.as_str()),
        ("2001:600::/23", "RIPE NCC")
    );
}
