//! No reader panics on damaged input: thousands of truncated and bit-flipped
//! versions of the fixtures (stable Rust stand-in for the cargo-fuzz targets),
//! plus embedded-table agreement with the libloc database it came from.

mod common;

use common::*;
use sock_trace_ipintel::net::XorShift;
use sock_trace_ipintel::{
    drop::DropList, iana, ip2location::Ip2Location, libloc::LocDb, mmdb::Mmdb, torgeoip::TorGeoIp,
};
use std::net::IpAddr;
use std::path::Path;

fn mutations(seed: u64, good: &[u8], count: usize, mut check: impl FnMut(Vec<u8>)) {
    let mut rng = XorShift(seed);
    for i in 0..count {
        let mut b = good.to_vec();
        match i % 4 {
            0 => b.truncate((rng.next_u64() as usize) % (good.len() + 1)),
            1 => {
                for _ in 0..1 + rng.next_u64() % 8 {
                    let at = rng.next_u64() as usize % b.len().max(1);
                    if let Some(x) = b.get_mut(at) {
                        *x ^= 1 << (rng.next_u64() % 8);
                    }
                }
            }
            2 => {
                // Overwrite a 4-byte field with an extreme value.
                let at = rng.next_u64() as usize % b.len().max(1);
                let v = [0u32, u32::MAX, 0x7fff_ffff, rng.next_u64() as u32]
                    [rng.next_u64() as usize % 4];
                for (k, byte) in v.to_be_bytes().iter().enumerate() {
                    if let Some(x) = b.get_mut(at + k) {
                        *x = *byte;
                    }
                }
            }
            _ => {
                let at = rng.next_u64() as usize % b.len().max(1);
                let junk: Vec<u8> = (0..rng.next_u64() % 64)
                    .map(|_| rng.next_u64() as u8)
                    .collect();
                b.splice(at..at, junk);
            }
        }
        check(b);
    }
}

fn probe_addrs() -> Vec<IpAddr> {
    [
        "192.0.2.1",
        "2001:db8::1",
        "8.8.8.8",
        "81.2.69.142",
        "::",
        "255.255.255.255",
        "ffff::1",
        "1.10.16.1",
    ]
    .iter()
    .map(|s| s.parse().unwrap())
    .collect()
}

#[test]
fn libloc_mutations() {
    let good = std::fs::read(fixture("libloc/tiny.db")).unwrap();
    let addrs = probe_addrs();
    mutations(1, &good, 4000, |b| {
        if let Ok(db) = LocDb::from_bytes(b, Path::new("m.db")) {
            for a in &addrs {
                if let Ok(Some(m)) = db.lookup(*a) {
                    let _ = m.asn.map(|n| db.as_name(n));
                    let _ = m.country_code.map(|c| db.country(c));
                }
            }
            let _ = db.for_each_network(|_| {});
        }
    });
}

#[test]
fn mmdb_mutations() {
    let addrs = probe_addrs();
    for name in ["GeoLite2-ASN-Test.mmdb", "MaxMind-DB-test-mixed-24.mmdb"] {
        let good = std::fs::read(fixture(&format!("maxmind/{name}"))).unwrap();
        mutations(2, &good, 1500, |b| {
            if let Ok(db) = Mmdb::from_bytes(b, Path::new("m.mmdb")) {
                for a in &addrs {
                    let _ = db.lookup(*a);
                }
            }
        });
    }
}

#[test]
fn text_format_mutations() {
    let tor = "# Generated: Thu, 25 Jun 2026 04:33:59 GMT\n16777216,16777471,AU\n16777472,16778239,CN\n2001:200::,2001:200:ffff:ffff:ffff:ffff:ffff:ffff,JP\n";
    let drop_txt = "; x\n1.10.16.0/20 ; SBL256894\n24.233.0.0/19 ; SBL210084\n; EOF\n";
    let drop_json = "{\"cidr\":\"2401:c580::/32\",\"sblid\":\"SBL246818\",\"rir\":\"apnic\"}\n{\"type\":\"metadata\",\"timestamp\":1}\n";
    let addrs = probe_addrs();
    for (seed, text) in [
        (3, tor),
        (4, drop_txt),
        (5, drop_json),
        (6, iana::EMBEDDED_IPV4_CSV),
    ] {
        mutations(seed, text.as_bytes(), 2000, |b| {
            let s = String::from_utf8_lossy(&b);
            let mut t = TorGeoIp::default();
            if t.load_text(&s, Path::new("t")).is_ok() {
                addrs.iter().for_each(|a| {
                    let _ = t.lookup(*a);
                });
            }
            let mut d = DropList::default();
            if d.load_text(&s, Path::new("d")).is_ok() {
                addrs.iter().for_each(|a| drop(d.lookup(*a)));
            }
            let _ = iana::parse_csv(&s);
        });
    }
}

#[test]
fn ip2location_random_bytes() {
    let mut rng = XorShift(9);
    let addrs = probe_addrs();
    for i in 0..3000 {
        let len = 29 + (rng.next_u64() % 600) as usize;
        let mut b: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        // Mostly-valid headers so the row code is reached.
        b[0] = 1 + (i % 25) as u8;
        b[1] = 8 + (i % 20) as u8;
        b[3] = 1 + (i % 12) as u8;
        b[4] = 1 + (i % 28) as u8;
        for (at, v) in [
            (5, 1 + i % 5),
            (9, 30),
            (13, i % 3),
            (17, 40),
            (21, 0),
            (25, if i % 2 == 0 { 0 } else { 30 }),
        ] {
            b[at..at + 4].copy_from_slice(&(v as u32).to_le_bytes());
        }
        if let Ok(db) = Ip2Location::from_bytes(b, Path::new("r.bin")) {
            addrs.iter().for_each(|a| drop(db.lookup(*a)));
        }
    }
}

#[test]
fn embedded_table_matches_its_source() {
    let Some(path) = require_data("IPFire location.db", LIBLOC_DB) else {
        return;
    };
    let db = LocDb::open(&path).unwrap();
    if db.created_at()
        != sock_trace_ipintel::embedded::EmbeddedTable::load()
            .unwrap()
            .created_at()
    {
        eprintln!(
            "SKIPPED: installed location.db is not the one the embedded table was built from"
        );
        return;
    }
    let table = sock_trace_ipintel::embedded::EmbeddedTable::load().unwrap();
    let mut agreed = 0;
    let addrs = public_sample(0xe3b, 20_000, 0);
    for ip in &addrs {
        let want = db
            .lookup(*ip)
            .unwrap()
            .map(|m| (m.country_code, m.asn, m.flags));
        let got = table.lookup(*ip).map(|e| (e.country_code, e.asn, e.flags));
        // A network with no attributes at all is "no data" in the table.
        let want = want.filter(|w| *w != (None, None, 0));
        assert_eq!(got, want, "{ip}");
        agreed += 1;
    }
    println!("embedded table agrees with location.db on {agreed} IPv4 addresses");
}
