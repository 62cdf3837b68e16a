//! Warm lookups of random public IPv4 addresses, per reader.
//! Real databases are used when installed (see install-data.sh); otherwise
//! the fixtures.

use criterion::{criterion_group, criterion_main, Criterion};
use sock_trace_ipintel::net::XorShift;
use sock_trace_ipintel::{
    drop::DropList, embedded::EmbeddedTable, iana::IanaRegistry, libloc::LocDb, mmdb::Mmdb,
    torgeoip::TorGeoIp,
};
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

fn addrs() -> Vec<IpAddr> {
    let mut rng = XorShift(42);
    (0..4096)
        .map(|_| IpAddr::V4(Ipv4Addr::from(rng.next_u64() as u32)))
        .collect()
}

fn first_existing(paths: &[&'static str]) -> Option<&'static Path> {
    paths.iter().map(|p| Path::new(*p)).find(|p| p.is_file())
}

/// Cycles through the sample so every iteration looks up a new address.
fn cycle(addrs: &[IpAddr]) -> impl FnMut() -> IpAddr + '_ {
    let mut i = 0usize;
    move || {
        i = (i + 1) & 4095;
        addrs[i]
    }
}

fn bench(c: &mut Criterion) {
    let addrs = addrs();
    if let Some(p) = first_existing(&[
        "/usr/share/libloc-location/location.db",
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/testdata/libloc/tiny.db"
        ),
    ]) {
        let db = LocDb::open(p).unwrap();
        c.bench_function("libloc lookup", |b| {
            let mut next = cycle(&addrs);
            b.iter(|| black_box(db.lookup(next()).ok()))
        });
        c.bench_function("libloc lookup + AS name", |b| {
            let mut next = cycle(&addrs);
            b.iter(|| {
                black_box(
                    db.lookup(next())
                        .ok()
                        .flatten()
                        .and_then(|m| db.as_name(m.asn?).map(|s| s.len())),
                )
            })
        });
    }
    let city = Mmdb::open(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/testdata/maxmind/GeoLite2-City-Test.mmdb"
    )))
    .unwrap();
    c.bench_function("mmdb (City test db) lookup", |b| {
        let mut next = cycle(&addrs);
        b.iter(|| black_box(city.lookup(next()).ok()))
    });
    if let Some(p) = first_existing(&[
        "/usr/share/tor/geoip",
        "/opt/sock-trace-testdata/tor/usr/share/tor/geoip",
    ]) {
        let mut t = TorGeoIp::default();
        t.load_file(p).unwrap();
        c.bench_function("tor geoip lookup", |b| {
            let mut next = cycle(&addrs);
            b.iter(|| black_box(t.lookup(next())))
        });
    }
    let emb = EmbeddedTable::load().unwrap();
    c.bench_function("embedded lookup", |b| {
        let mut next = cycle(&addrs);
        b.iter(|| black_box(emb.lookup(next())))
    });
    let iana = IanaRegistry::embedded();
    c.bench_function("iana lookup", |b| {
        let mut next = cycle(&addrs);
        b.iter(|| black_box(iana.lookup(next()).is_some()))
    });
    let mut drop = DropList::default();
    let mut rng = XorShift(7);
    let text: String = (0..1500)
        .map(|_| {
            format!(
                "{}/{} ; SBL{}\n",
                Ipv4Addr::from(rng.next_u64() as u32 & 0xffff_f000),
                20 + rng.next_u64() % 5,
                rng.next_u64() % 1_000_000
            )
        })
        .collect();
    drop.load_text(&text, Path::new("bench")).unwrap();
    c.bench_function("drop lookup (1500 entries)", |b| {
        let mut next = cycle(&addrs);
        b.iter(|| black_box(drop.lookup(next())))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).warm_up_time(std::time::Duration::from_millis(500)).measurement_time(std::time::Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
