//! IP2Location BIN reader against files generated here from the documented
//! layout (no sample file is redistributable).

mod common;

use sock_trace_ipintel::ip2location::{ColumnLayout, Ip2Location};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

/// One row: start address and the field values (None = "-").
pub struct Row {
    pub from: u128,
    pub country: (&'static str, &'static str),
    pub region: &'static str,
    pub city: &'static str,
    pub lat: f32,
    pub lon: f32,
    pub zip: &'static str,
    pub tz: &'static str,
}

/// Builds a BIN file of `db_type` with the given IPv4 and IPv6 rows, with or
/// without the 16-bit index. Layout per the public description: 1-based
/// section addresses, 0-based string pointers, little-endian.
pub fn build_bin(db_type: u8, v4: &[Row], v6: &[Row], with_index: bool) -> Vec<u8> {
    let layout = ColumnLayout::for_type(db_type).unwrap();
    let columns: u8 = [
        layout.country,
        layout.region,
        layout.city,
        layout.latitude,
        layout.longitude,
        layout.zip,
        layout.timezone,
        layout.isp,
    ]
    .into_iter()
    .max()
    .unwrap();
    let header_len = 64usize;
    let index_len = 65536 * 8;
    let v4_row = columns as usize * 4;
    let v6_row = v4_row + 12;
    let v4_index_at = header_len;
    let v6_index_at = if with_index {
        v4_index_at + index_len
    } else {
        v4_index_at
    };
    let v4_at = if with_index {
        v6_index_at + index_len
    } else {
        header_len
    };
    let v6_at = v4_at + v4.len() * v4_row;
    let strings_at = v6_at + v6.len() * v6_row;
    let mut strings: Vec<u8> = Vec::new();
    let string_ptr = |s: &str, strings: &mut Vec<u8>| -> u32 {
        let p = (strings_at + strings.len()) as u32;
        strings.push(s.len() as u8);
        strings.extend_from_slice(s.as_bytes());
        p
    };
    let mut out = vec![0u8; strings_at];
    out[0] = db_type;
    out[1] = columns;
    out[2] = 24;
    out[3] = 11;
    out[4] = 1;
    let put =
        |out: &mut Vec<u8>, at: usize, v: u32| out[at..at + 4].copy_from_slice(&v.to_le_bytes());
    put(&mut out, 5, v4.len() as u32);
    put(&mut out, 9, (v4_at + 1) as u32);
    put(&mut out, 13, v6.len() as u32);
    put(&mut out, 17, (v6_at + 1) as u32);
    put(
        &mut out,
        21,
        if with_index {
            (v4_index_at + 1) as u32
        } else {
            0
        },
    );
    put(
        &mut out,
        25,
        if with_index {
            (v6_index_at + 1) as u32
        } else {
            0
        },
    );
    for (section, rows, row_size, first) in
        [(v4_at, v4, v4_row, 4usize), (v6_at, v6, v6_row, 16usize)]
    {
        for (i, r) in rows.iter().enumerate() {
            let at = section + i * row_size;
            if first == 4 {
                put(&mut out, at, r.from as u32);
            } else {
                out[at..at + 16].copy_from_slice(&r.from.to_le_bytes());
            }
            let col = |c: u8| at + first + (c as usize - 2) * 4;
            // Country: code string immediately followed by the long name.
            // The code occupies a fixed 3-byte slot (length + 2 bytes, "-"
            // padded), which is why the long name is always 3 bytes later.
            let cc = string_ptr(r.country.0, &mut strings);
            if r.country.0.len() < 2 {
                strings.push(0);
            }
            string_ptr(r.country.1, &mut strings);
            put(&mut out, col(layout.country), cc);
            for (c, s) in [
                (layout.region, r.region),
                (layout.city, r.city),
                (layout.zip, r.zip),
                (layout.timezone, r.tz),
                (layout.isp, "-"),
            ] {
                if c >= 2 {
                    let p = string_ptr(s, &mut strings);
                    put(&mut out, col(c), p);
                }
            }
            if layout.latitude >= 2 {
                put(&mut out, col(layout.latitude), r.lat.to_bits());
                put(&mut out, col(layout.longitude), r.lon.to_bits());
            }
        }
    }
    if with_index {
        for (index_at, rows, shift) in [(v4_index_at, v4, 16u32), (v6_index_at, v6, 112u32)] {
            if rows.is_empty() {
                continue;
            }
            for bucket in 0..65536u128 {
                let first = rows
                    .iter()
                    .rposition(|r| (r.from >> shift) <= bucket)
                    .unwrap_or(0);
                let last = rows
                    .iter()
                    .rposition(|r| (r.from >> shift) <= bucket)
                    .unwrap_or(0);
                put(&mut out, index_at + bucket as usize * 8, first as u32);
                put(&mut out, index_at + bucket as usize * 8 + 4, last as u32);
            }
        }
    }
    out.extend_from_slice(&strings);
    out
}

fn v4(s: &str) -> u128 {
    u128::from(u32::from(s.parse::<Ipv4Addr>().unwrap()))
}

fn v6(s: &str) -> u128 {
    u128::from(s.parse::<Ipv6Addr>().unwrap())
}

fn row(
    from: u128,
    cc: (&'static str, &'static str),
    region: &'static str,
    city: &'static str,
    lat: f32,
    lon: f32,
) -> Row {
    Row {
        from,
        country: cc,
        region,
        city,
        lat,
        lon,
        zip: "-",
        tz: "-",
    }
}

fn sample_v4() -> Vec<Row> {
    vec![
        row(0, ("-", "-"), "-", "-", 0.0, 0.0),
        row(
            v4("8.8.8.0"),
            ("US", "United States of America"),
            "California",
            "Mountain View",
            37.386,
            -122.0838,
        ),
        row(v4("8.8.9.0"), ("-", "-"), "-", "-", 0.0, 0.0),
        row(
            v4("81.2.69.0"),
            ("GB", "United Kingdom of Great Britain and Northern Ireland"),
            "England",
            "London",
            51.5085,
            -0.1257,
        ),
        row(v4("81.2.70.0"), ("-", "-"), "-", "-", 0.0, 0.0),
    ]
}

fn sample_v6() -> Vec<Row> {
    vec![
        row(0, ("-", "-"), "-", "-", 0.0, 0.0),
        row(
            v6("2a00:1450::"),
            ("IE", "Ireland"),
            "Dublin",
            "Dublin",
            53.344,
            -6.2672,
        ),
        row(v6("2a00:1451::"), ("-", "-"), "-", "-", 0.0, 0.0),
    ]
}

#[test]
fn db11_lookups_with_and_without_index() {
    for with_index in [false, true] {
        let mut v4rows = sample_v4();
        v4rows[1].zip = "94043";
        v4rows[1].tz = "-07:00";
        let bytes = build_bin(11, &v4rows, &sample_v6(), with_index);
        let db = Ip2Location::from_bytes(bytes, Path::new("gen-db11.bin")).unwrap();
        assert_eq!(db.db_type(), 11);
        assert_eq!(db.date(), (2024, 11, 1));
        let r = db.lookup("8.8.8.8".parse().unwrap()).unwrap().unwrap();
        assert_eq!(r.country_code.as_deref(), Some("US"));
        assert_eq!(r.country_name.as_deref(), Some("United States of America"));
        assert_eq!(r.place.region.as_deref(), Some("California"));
        assert_eq!(r.place.city.as_deref(), Some("Mountain View"));
        // The file stores 32-bit floats; the record widens them.
        assert_eq!(r.place.latitude, Some(f64::from(37.386f32)));
        assert_eq!(r.place.longitude, Some(f64::from(-122.0838f32)));
        assert_eq!(r.place.postal_code.as_deref(), Some("94043"));
        assert_eq!(r.place.time_zone.as_deref(), Some("-07:00"));
        assert_eq!(
            r.range,
            (
                "8.8.8.0".parse::<IpAddr>().unwrap(),
                "8.8.8.255".parse::<IpAddr>().unwrap()
            )
        );
        let r = db.lookup("81.2.69.142".parse().unwrap()).unwrap().unwrap();
        assert_eq!(
            (r.country_code.as_deref(), r.place.city.as_deref()),
            (Some("GB"), Some("London"))
        );
        // Rows with "-" give nothing.
        let r = db.lookup("9.9.9.9".parse().unwrap()).unwrap().unwrap();
        assert_eq!(
            (r.country_code, r.place.city, r.place.latitude),
            (None, None, None)
        );
        let r = db
            .lookup("255.255.255.255".parse().unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(r.country_code, None);
        let r = db
            .lookup("2a00:1450:4001::1".parse().unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(
            (r.country_code.as_deref(), r.place.city.as_deref()),
            (Some("IE"), Some("Dublin"))
        );
        let r = db.lookup("2a00:1451::1".parse().unwrap()).unwrap().unwrap();
        assert_eq!(r.country_code, None);
    }
}

#[test]
fn db1_and_db3_and_db5_layouts() {
    let db1 =
        Ip2Location::from_bytes(build_bin(1, &sample_v4(), &[], true), Path::new("db1")).unwrap();
    let r = db1.lookup("8.8.8.8".parse().unwrap()).unwrap().unwrap();
    assert_eq!(r.country_code.as_deref(), Some("US"));
    assert_eq!(
        (r.place.region, r.place.city, r.place.latitude),
        (None, None, None)
    );
    // IPv6 address in an IPv4-only file: nothing.
    assert_eq!(db1.lookup("2a00:1450::1".parse().unwrap()).unwrap(), None);

    let db3 = Ip2Location::from_bytes(
        build_bin(3, &sample_v4(), &sample_v6(), false),
        Path::new("db3"),
    )
    .unwrap();
    let r = db3.lookup("81.2.69.1".parse().unwrap()).unwrap().unwrap();
    assert_eq!(
        (
            r.place.region.as_deref(),
            r.place.city.as_deref(),
            r.place.latitude
        ),
        (Some("England"), Some("London"), None)
    );

    let db5 = Ip2Location::from_bytes(
        build_bin(5, &sample_v4(), &sample_v6(), true),
        Path::new("db5"),
    )
    .unwrap();
    let r = db5
        .lookup("2a00:1450::9".parse().unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(
        (r.place.city.as_deref(), r.place.latitude, r.place.longitude),
        (
            Some("Dublin"),
            Some(f64::from(53.344f32)),
            Some(f64::from(-6.2672f32))
        )
    );
    assert_eq!(r.place.postal_code, None);
}

#[test]
fn corrupt_headers_are_rejected() {
    let good = build_bin(5, &sample_v4(), &sample_v6(), false);
    let p = Path::new("/tmp/broken.BIN");
    let mut bad_type = good.clone();
    bad_type[0] = 99;
    let mut bad_date = good.clone();
    bad_date[3] = 13;
    let mut bad_count = good.clone();
    bad_count[5..9].copy_from_slice(&1_000_000u32.to_le_bytes());
    let mut few_columns = good.clone();
    few_columns[1] = 2;
    for (what, bytes) in [
        ("short", good[..20].to_vec()),
        ("type", bad_type),
        ("date", bad_date),
        ("count", bad_count),
        ("columns", few_columns),
    ] {
        let e = Ip2Location::from_bytes(bytes, p)
            .err()
            .unwrap_or_else(|| panic!("{what} accepted"));
        assert!(e.to_string().contains("/tmp/broken.BIN"), "{e}");
    }
    // Truncated string area: lookups fail cleanly.
    let cut = good[..good.len() - 10].to_vec();
    if let Ok(db) = Ip2Location::from_bytes(cut, p) {
        let _ = db.lookup("2a00:1450::1".parse().unwrap());
    }
}

/// Through the facade: a generated DB11 file answers country and city when
/// no MaxMind City database does, a MaxMind City answer wins where both
/// know the address, and a corrupt BIN is one problem naming the file.
#[test]
fn ip2location_answers_through_the_facade_in_its_place() {
    use sock_trace_ipintel::{Intel, SourceKind, Sources};
    let dir = std::env::temp_dir().join(format!("ip2l-facade-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bin = dir.join("IP2LOCATION-LITE-DB11.BIN");
    std::fs::write(&bin, build_bin(11, &sample_v4(), &sample_v6(), true)).unwrap();
    let broken = dir.join("IP2LOCATION-BROKEN.BIN");
    std::fs::write(&broken, b"IP2L not really").unwrap();

    let mut s = Sources::explicit_only();
    s.ip2location.push(bin.clone());
    s.ip2location.push(broken.clone());
    let mut intel = Intel::new(&s);
    let problems: Vec<String> = intel.problems().iter().map(|p| p.to_string()).collect();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("IP2LOCATION-BROKEN.BIN"),
        "{problems:?}"
    );
    assert!(intel
        .sources()
        .iter()
        .any(|src| src.kind == SourceKind::Ip2Location && src.path == bin.display().to_string()));

    let a = intel.lookup("8.8.8.8".parse().unwrap());
    let c = a.country.as_ref().expect("a country");
    assert_eq!(c.code, "US");
    assert!(
        c.source.ends_with("IP2LOCATION-LITE-DB11.BIN"),
        "{}",
        c.source
    );
    let loc = a.location.as_ref().expect("a location");
    assert_eq!(loc.place.city.as_deref(), Some("Mountain View"));
    assert_eq!(loc.place.region.as_deref(), Some("California"));
    assert!((loc.place.latitude.unwrap() - 37.386).abs() < 1e-4);
    assert!((loc.place.longitude.unwrap() + 122.0838).abs() < 1e-4);
    assert!(a.compact().starts_with("US"), "{}", a.compact());
    assert!(
        a.detailed_lines()
            .iter()
            .any(|l| l.contains("Mountain View")),
        "{:?}",
        a.detailed_lines()
    );
    let a = intel.lookup("2a00:1450:4001::1".parse().unwrap());
    assert_eq!(
        a.location.and_then(|l| l.place.city).as_deref(),
        Some("Dublin")
    );

    // With MaxMind's City test database as well, MaxMind answers the
    // address both know; IP2Location still answers the rest.
    let mut s = Sources::explicit_only();
    s.ip2location.push(bin.clone());
    s.mmdb
        .push(common::fixture("maxmind/GeoLite2-City-Test.mmdb"));
    let mut intel = Intel::new(&s);
    assert!(intel.problems().is_empty());
    let a = intel.lookup("81.2.69.142".parse().unwrap());
    let loc = a.location.as_ref().unwrap();
    assert!(
        loc.source.ends_with("GeoLite2-City-Test.mmdb"),
        "{}",
        loc.source
    );
    let a = intel.lookup("8.8.8.8".parse().unwrap());
    assert!(a
        .location
        .as_ref()
        .unwrap()
        .source
        .ends_with("IP2LOCATION-LITE-DB11.BIN"));
    std::fs::remove_dir_all(&dir).ok();
}
