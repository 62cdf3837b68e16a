//! MaxMind DB reader against MaxMind's test databases and the JSON they were built from.

mod common;

use common::fixture;
use serde_json::Value;
use sock_trace_ipintel::mmdb::Mmdb;
use sock_trace_ipintel::IpNetwork;
use std::net::IpAddr;

#[test]
fn city_known_answers() {
    let db = Mmdb::open(&fixture("maxmind/GeoLite2-City-Test.mmdb")).unwrap();
    assert_eq!(db.database_type(), "GeoLite2-City");
    let a = db.lookup("81.2.69.142".parse().unwrap()).unwrap().unwrap();
    assert_eq!(a.country_code.as_deref(), Some("GB"));
    assert_eq!(a.country_name.as_deref(), Some("United Kingdom"));
    assert_eq!(a.place.city.as_deref(), Some("London"));
    assert_eq!(a.place.region.as_deref(), Some("England"));
    assert_eq!(a.continent_code.as_deref(), Some("EU"));
    assert!(a.place.latitude.is_some() && a.place.longitude.is_some());
    assert_eq!(db.lookup("10.0.0.1".parse().unwrap()).unwrap(), None);
}

#[test]
fn asn_known_answers() {
    let db = Mmdb::open(&fixture("maxmind/GeoLite2-ASN-Test.mmdb")).unwrap();
    let a = db.lookup("1.128.0.1".parse().unwrap()).unwrap().unwrap();
    assert_eq!(a.asn, Some(1221));
    assert_eq!(a.as_name.as_deref(), Some("Telstra Pty Ltd"));
    assert_eq!(a.network.unwrap().to_string(), "1.128.0.0/11");
}

/// Every record of the source JSON is found at its network's first address
/// (unless a more specific record shadows it) with the same values.
fn check_against_json(
    mmdb: &str,
    json: &str,
    check: fn(&Value, &sock_trace_ipintel::mmdb::MmdbAnswer),
) {
    let db = Mmdb::open(&fixture(mmdb)).unwrap();
    let entries: Vec<serde_json::Map<String, Value>> =
        serde_json::from_str(&std::fs::read_to_string(fixture(json)).unwrap()).unwrap();
    let (mut compared, mut total) = (0, 0);
    for entry in &entries {
        for (cidr, record) in entry {
            total += 1;
            let net: IpNetwork = cidr.parse().unwrap();
            let ip: IpAddr = net.addr;
            let Some(answer) = db.lookup(ip).unwrap() else {
                panic!("{mmdb}: no record for {cidr}")
            };
            // The writer merges neighbours with identical data, so the answer's
            // network may be wider; a narrower one means a more specific record
            // shadows this one's first address.
            if answer.network.map_or(true, |n| n.prefix > net.prefix) {
                continue;
            }
            check(record, &answer);
            compared += 1;
        }
    }
    println!("{mmdb}: compared {compared} of {total} records");
    assert!(
        compared * 10 >= total * 8,
        "{mmdb}: only {compared}/{total} compared"
    );
}

/// A string of the source JSON.
fn text(v: &Value) -> Option<String> {
    v.as_str().map(String::from)
}

/// The country the source JSON gives a record, or else its registered one.
fn source_country(r: &Value) -> Option<String> {
    text(&r["country"]["iso_code"]).or_else(|| text(&r["registered_country"]["iso_code"]))
}

#[test]
fn city_matches_source_json() {
    check_against_json(
        "maxmind/GeoLite2-City-Test.mmdb",
        "maxmind/GeoLite2-City-Test.json",
        |r, a| {
            assert_eq!(a.country_code, source_country(r));
            assert_eq!(a.place.city, text(&r["city"]["names"]["en"]));
            assert_eq!(a.place.latitude, r["location"]["latitude"].as_f64());
            assert_eq!(a.place.region, text(&r["subdivisions"][0]["names"]["en"]));
        },
    );
}

#[test]
fn country_matches_source_json() {
    check_against_json(
        "maxmind/GeoLite2-Country-Test.mmdb",
        "maxmind/GeoLite2-Country-Test.json",
        |r, a| {
            assert_eq!(a.country_code, source_country(r));
            assert_eq!(a.continent_code, text(&r["continent"]["code"]));
        },
    );
}

#[test]
fn asn_matches_source_json() {
    check_against_json(
        "maxmind/GeoLite2-ASN-Test.mmdb",
        "maxmind/GeoLite2-ASN-Test.json",
        |r, a| {
            assert_eq!(
                a.asn,
                r["autonomous_system_number"].as_u64().map(|n| n as u32)
            );
            assert_eq!(
                a.as_name.as_deref(),
                r["autonomous_system_organization"].as_str()
            );
        },
    );
}

#[test]
fn broken_files_are_errors_not_panics() {
    for name in [
        "GeoIP2-City-Test-Broken-Double-Format.mmdb",
        "GeoIP2-City-Test-Invalid-Node-Count.mmdb",
        "MaxMind-DB-test-broken-pointers-24.mmdb",
        "MaxMind-DB-test-broken-search-tree-24.mmdb",
    ] {
        let path = fixture(&format!("maxmind/{name}"));
        match Mmdb::open(&path) {
            Err(e) => assert!(e.to_string().contains(name), "{e}"),
            // Accepted at open: the damage must surface as lookup errors (the
            // facade records them as source problems), never as a panic.
            Ok(db) => {
                let mut errors = 0;
                for i in 0..=255u32 {
                    for j in [0u32, 128] {
                        let ip = IpAddr::V4(((i << 24) | (j << 16) | 1).into());
                        if let Err(e) = db.lookup(ip) {
                            assert!(e.to_string().contains(name), "{e}");
                            errors += 1;
                        }
                    }
                }
                println!("{name}: accepted at open, {errors} lookups failed");
                assert!(errors > 0, "{name}: damage not detected");
            }
        }
    }
}
