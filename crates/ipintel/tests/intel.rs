//! The facade: precedence, sources, problems, rendering, serde, embedded fallback.

mod common;

use common::fixture;
use sock_trace_ipintel::{AddressClass, Intel, SourceKind, Sources};
use std::net::IpAddr;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn fixtures_only() -> Sources {
    let mut s = Sources::explicit_only();
    s.libloc.push(fixture("libloc/tiny.db"));
    s.mmdb.push(fixture("maxmind/GeoLite2-City-Test.mmdb"));
    s.mmdb.push(fixture("maxmind/GeoLite2-ASN-Test.mmdb"));
    s.mmdb
        .push(fixture("maxmind/MaxMind-DB-test-broken-pointers-24.mmdb"));
    s.tor_geoip.push("/nonexistent/geoip".into());
    s
}

#[test]
fn best_source_per_question() {
    let mut intel = Intel::new(&fixtures_only());
    // Two unusable files, reported once each with their paths.
    let problems: Vec<String> = intel.problems().iter().map(|p| p.to_string()).collect();
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(problems[0].contains("broken-pointers"));
    assert!(problems[1].contains("/nonexistent/geoip"));

    let a = intel.lookup(ip("81.2.69.142"));
    assert_eq!(a.class, AddressClass::Public);
    let c = a.country.as_ref().unwrap();
    assert_eq!(
        (c.code.as_str(), c.name.as_deref()),
        ("GB", Some("United Kingdom"))
    );
    assert!(c.source.ends_with("GeoLite2-City-Test.mmdb"));
    let loc = a.location.as_ref().unwrap();
    assert_eq!(
        (loc.place.city.as_deref(), loc.place.region.as_deref()),
        (Some("London"), Some("England"))
    );
    assert!(a
        .detailed_lines()
        .iter()
        .any(|l| l.contains("openstreetmap.org/#map=10/51.5")));

    let a = intel.lookup(ip("1.128.0.1"));
    let asn = a.asn.as_ref().unwrap();
    assert_eq!(
        (asn.number, asn.name.as_deref()),
        (1221, Some("Telstra Pty Ltd"))
    );
    assert!(asn.source.ends_with("GeoLite2-ASN-Test.mmdb"));
    assert_eq!(a.compact(), "AS1221 Telstra Pty Ltd"); // no country in these test files
}

#[test]
fn libloc_fixture_through_facade() {
    let mut s = Sources::explicit_only();
    s.libloc.push(fixture("libloc/tiny.db"));
    let mut intel = Intel::new(&s);
    // 192.0.2.0/24 is documentation space, and databases are asked about
    // it (test data and lab setups describe it): the fixture's answer.
    let a = intel.lookup(ip("192.0.2.1"));
    assert_eq!(a.class, AddressClass::Documentation);
    assert_eq!(a.compact(), "DE AS64500 EXAMPLE-AS DROP");
    assert_eq!(a.country.as_ref().map(|c| c.code.as_str()), Some("DE"));
    // Without an answer, the class is all there is to say.
    assert_eq!(intel.lookup(ip("198.51.100.1")).compact(), "documentation");
    // Direct reader answers for the same address are covered in tests/libloc.rs.
    let sources = intel.sources();
    assert_eq!(sources.len(), 1);
    assert_eq!(sources[0].kind, SourceKind::Libloc);
    assert_eq!(sources[0].built, Some(0x6b04_c59a));
    assert_eq!(sources[0].built_date.as_deref(), Some("2026-11-23"));
    assert!(!sources[0].stale);
}

#[test]
fn classes_and_rendering() {
    let mut intel = Intel::new(&Sources::explicit_only());
    for (addr, compact) in [
        ("127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("100.64.1.1", "shared (CGNAT)"),
        ("::1", "loopback"),
        ("fe80::1", "link-local"),
        ("::ffff:192.168.1.1", "private"),
        ("224.0.0.251", "multicast"),
    ] {
        assert_eq!(intel.lookup(ip(addr)).compact(), compact, "{addr}");
    }
    let t = intel.lookup(ip("2001:0000:4136:e378:8000:63bf:3fff:fdd2"));
    assert_eq!(t.class, AddressClass::Teredo);
    assert!(t.detailed_lines()[0].contains("client 192.0.2.45:40000"));
}

#[test]
fn drop_and_serde() {
    let dir = tempfile::tempdir().unwrap();
    let drop = dir.path().join("drop.txt");
    std::fs::write(&drop, "; x\n81.2.69.0/24 ; SBL123\n; EOF\n").unwrap();
    let mut s = Sources::explicit_only();
    s.mmdb.push(fixture("maxmind/GeoLite2-City-Test.mmdb"));
    s.drop.push(drop);
    s.embedded = true; // for the IANA registry
    let mut intel = Intel::new(&s);
    let a = intel.lookup(ip("81.2.69.142"));
    assert!(a.compact().ends_with("DROP SBL123"), "{}", a.compact());
    let json: serde_json::Value = serde_json::to_value(&a).unwrap();
    assert_eq!(json["class"], "public");
    assert_eq!(json["country"]["code"], "GB");
    assert_eq!(json["location"]["city"], "London");
    assert_eq!(json["drop"]["sbl"], "SBL123");
    assert_eq!(json["drop"]["network"], "81.2.69.0/24");
    assert_eq!(json["registry"]["designation"], "RIPE NCC");
    assert!(json.get("flags").is_none(), "absent fields are omitted");
    // Cached answers are identical.
    assert_eq!(intel.lookup(ip("81.2.69.142")), a);
}

#[test]
fn embedded_fallback_answers_public_addresses() {
    let mut s = Sources::explicit_only();
    s.embedded = true;
    let mut intel = Intel::new(&s);
    let a = intel.lookup(ip("8.8.8.8"));
    let c = a.country.as_ref().unwrap();
    assert_eq!((c.code.as_str(), c.source.as_str()), ("US", "embedded"));
    let asn = a.asn.as_ref().unwrap();
    assert_eq!((asn.number, asn.name.as_deref()), (15169, Some("GOOGLE")));
    assert!(a.flags.as_ref().unwrap().anycast);
    assert_eq!(a.compact(), "US AS15169 GOOGLE");
    let a = intel.lookup(ip("2a01:4f8::1"));
    assert_eq!(a.country.as_ref().unwrap().code, "DE");
    assert_eq!(a.asn.as_ref().unwrap().number, 24940);
    let kinds: Vec<SourceKind> = intel.sources().iter().map(|s| s.kind).collect();
    assert_eq!(kinds, vec![SourceKind::Iana, SourceKind::Embedded]);
}

#[test]
fn sources_deserialise_from_config() {
    let s: Sources =
        serde_json::from_str(r#"{"libloc": ["/x/location.db"], "discover": false}"#).unwrap();
    assert_eq!(s.libloc, vec![std::path::PathBuf::from("/x/location.db")]);
    assert!(!s.discover && s.embedded);
    assert_eq!(s.stale_after_days, 90);
}
