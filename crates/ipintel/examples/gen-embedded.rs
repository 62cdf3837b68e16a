//! Builds the compiled-in fallback table `data/embedded.bin` and the country
//! name table `data/countries.tsv` from an IPFire location database.
//!
//! Usage (build without the `embedded` feature, since its input is the output):
//!   cargo run --release --no-default-features --example gen-embedded -- \
//!       /usr/share/libloc-location/location.db data
//!
//! The data is CC BY-SA 4.0 (IPFire Project); see INTEL.md for attribution.
//! File layout (little-endian) is documented in `src/embedded.rs`.

use sock_trace_ipintel::libloc::LocDb;
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

const V4_LO: u128 = 0xffffu128 << 32;
const V4_HI: u128 = V4_LO | 0xffff_ffff;
const GAP: u32 = u32::MAX;

/// Accumulates flattened ranges (start, value), merging equal neighbours.
struct Flat(Vec<(u128, u32)>);

impl Flat {
    fn emit(&mut self, start: u128, value: u32) {
        // A child network starting where its parent starts replaces it.
        if self.0.last().is_some_and(|l| l.0 == start) {
            self.0.pop();
        }
        if let Some(&(_, last)) = self.0.last() {
            if last == value {
                return;
            }
        }
        self.0.push((start, value));
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let db_path = args
        .get(1)
        .map(String::as_str)
        .unwrap_or("/usr/share/libloc-location/location.db");
    let out_dir = Path::new(args.get(2).map(String::as_str).unwrap_or("data"));
    let db = LocDb::open(Path::new(db_path))?;

    // Distinct (country, flags, asn) tuples; ranges point into this table.
    let mut tuples: Vec<([u8; 2], u16, u32)> = Vec::new();
    let mut tuple_ids: HashMap<([u8; 2], u16, u32), u32> = HashMap::new();
    let mut nets: Vec<(u128, u128, u32)> = Vec::new();
    db.for_each_network(|m| {
        let key = match m.network.addr {
            std::net::IpAddr::V4(v4) => V4_LO | u128::from(u32::from(v4)),
            std::net::IpAddr::V6(v6) => u128::from(v6),
        };
        let len = u32::from(m.network.prefix) + if m.network.addr.is_ipv4() { 96 } else { 0 };
        let end = if len == 0 {
            u128::MAX
        } else {
            key | (u128::MAX >> len)
        };
        // Only what the fallback needs: country, ASN, flags.
        let t = (
            m.country_code.unwrap_or([0, 0]),
            m.flags,
            m.asn.unwrap_or(0),
        );
        let next = tuples.len() as u32;
        let id = *tuple_ids.entry(t).or_insert_with(|| {
            tuples.push(t);
            next
        });
        nets.push((key, end, id));
    })?;

    // Flatten nested networks (pre-order: parents before children) into
    // non-overlapping ranges where the most specific network wins.
    let mut flat = Flat(Vec::new());
    let mut stack: Vec<(u128, u32)> = Vec::new();
    let mut cursor: Option<u128> = Some(0); // None = past u128::MAX
    for &(start, end, id) in &nets {
        while let Some(&(top_end, top_val)) = stack.last() {
            if top_end >= start {
                break;
            }
            if let Some(c) = cursor {
                if c <= top_end {
                    flat.emit(c, top_val);
                }
            }
            cursor = top_end.checked_add(1);
            stack.pop();
        }
        if let Some(c) = cursor {
            if c < start {
                flat.emit(c, stack.last().map_or(GAP, |t| t.1));
            }
        }
        flat.emit(start, id);
        cursor = Some(start);
        stack.push((end, id));
    }
    while let Some((top_end, top_val)) = stack.pop() {
        if let Some(c) = cursor {
            if c <= top_end {
                flat.emit(c, top_val);
            }
        }
        cursor = top_end.checked_add(1);
    }
    if let Some(c) = cursor {
        flat.emit(c, GAP);
    }
    // Re-merge (emit() only merges with the last pushed, which suffices), then split.
    let mut v4: Vec<(u32, u32)> = Vec::new();
    let mut v6: Vec<(u128, u32)> = Vec::new();
    let ranges = &flat.0;
    for (i, &(start, value)) in ranges.iter().enumerate() {
        let end = ranges.get(i + 1).map_or(u128::MAX, |r| r.0 - 1);
        // IPv4 part.
        if end >= V4_LO && start <= V4_HI {
            let s = start.max(V4_LO);
            if v4.last().map(|l| l.1) != Some(value) {
                v4.push(((s - V4_LO) as u32, value));
            }
        }
        if v6.last().map(|l| l.1) != Some(value) {
            v6.push((start, value));
        }
    }
    let v6_low_bits_used = v6.iter().filter(|r| r.0 as u64 != 0).count();
    // IPv6 starts are stored as their top 64 bits when no boundary needs more;
    // libloc networks are /64 or shorter in practice. Finer ones get rounded up.
    eprintln!(
        "networks {} tuples {} v4 ranges {} v6 ranges {} (v6 starts below /64: {})",
        nets.len(),
        tuples.len(),
        v4.len(),
        v6.len(),
        v6_low_bits_used
    );

    let ases = db.autonomous_systems();
    let mut pool: Vec<u8> = Vec::new();
    let mut out: Vec<u8> = Vec::new();
    out.extend_from_slice(b"STIPEMB1");
    out.extend_from_slice(&db.created_at().to_le_bytes());
    out.extend_from_slice(&(tuples.len() as u32).to_le_bytes());
    for (cc, flags, asn) in &tuples {
        out.extend_from_slice(cc);
        out.extend_from_slice(&flags.to_le_bytes());
        out.extend_from_slice(&asn.to_le_bytes());
    }
    out.extend_from_slice(&(v4.len() as u32).to_le_bytes());
    for (s, _) in &v4 {
        out.extend_from_slice(&s.to_le_bytes());
    }
    for (_, v) in &v4 {
        out.extend_from_slice(&v.to_le_bytes());
    }
    // Drop IPv6 boundaries inside a /64 (keep the first), so starts fit 64 bits.
    let mut v6_64: Vec<(u64, u32)> = Vec::new();
    for &(s, v) in &v6 {
        let top = (s >> 64) as u64;
        match v6_64.last_mut() {
            Some(last) if last.0 == top => {}
            _ => v6_64.push((top, v)),
        }
    }
    out.extend_from_slice(&(v6_64.len() as u32).to_le_bytes());
    for (s, _) in &v6_64 {
        out.extend_from_slice(&s.to_le_bytes());
    }
    for (_, v) in &v6_64 {
        out.extend_from_slice(&v.to_le_bytes());
    }
    let mut as_records = Vec::new();
    for (n, name) in &ases {
        as_records.push((*n, pool.len() as u32));
        pool.extend_from_slice(name.as_bytes());
        pool.push(0);
    }
    as_records.sort();
    out.extend_from_slice(&(as_records.len() as u32).to_le_bytes());
    for (n, off) in &as_records {
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(&off.to_le_bytes());
    }
    out.extend_from_slice(&(pool.len() as u32).to_le_bytes());
    out.extend_from_slice(&pool);
    std::fs::write(out_dir.join("embedded.bin"), &out)?;
    eprintln!(
        "embedded.bin: {} bytes, {} ASes",
        out.len(),
        as_records.len()
    );

    let mut tsv = std::fs::File::create(out_dir.join("countries.tsv"))?;
    writeln!(
        tsv,
        "# code\tcontinent\tname  (from the IPFire location database, CC BY-SA 4.0)"
    )?;
    for c in db.countries() {
        writeln!(tsv, "{}\t{}\t{}", c.code, c.continent, c.name)?;
    }
    Ok(())
}
