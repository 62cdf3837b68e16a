//! Address annotations ([`AddrNote`]) as text: the few words after an
//! address in a trace line, and the detailed block under the call (also
//! what `sock-trace lookup` prints). The JSON form is written by the JSON
//! printer.

use sock_trace_decode::{AddrNote, NoteFlags};

/// One short line: `US AS15169 Google LLC`, plus `DROP SBL123` when listed.
/// Non-public addresses give their class (`loopback`, `private`, ...);
/// tunnelled ones are prefixed with theirs (`6to4 DE ...`).
pub fn compact(n: &AddrNote) -> String {
    let inner = n.inner_class.unwrap_or(n.class);
    if !inner.global && n.country.is_none() && n.asn.is_none() {
        return inner.label.to_string();
    }
    let mut parts: Vec<String> = Vec::new();
    if n.class.tunnel {
        parts.push(n.class.label.to_string());
    }
    if let Some(c) = &n.country {
        parts.push(c.code.clone());
    }
    if let Some(a) = &n.asn {
        parts.push(format!("AS{}", a.number));
        if let Some(name) = &a.name {
            parts.push(name.clone());
        }
    }
    if let Some(d) = &n.drop {
        parts.push(format!("DROP {}", d.sbl));
    } else if n.flags.as_ref().is_some_and(|f| f.drop) {
        parts.push("DROP".into());
    }
    parts.join(" ")
}

/// What a trace line says after the address: the compact form when a
/// database said something (country, AS, DROP listing), else nothing.
pub fn trace_words(n: &AddrNote) -> Option<String> {
    let known = n.country.is_some() || n.asn.is_some() || n.drop.is_some();
    known.then(|| compact(n)).filter(|words| !words.is_empty())
}

/// Human-readable lines with everything known and where it came from.
pub fn detail_lines(n: &AddrNote) -> Vec<String> {
    use sock_trace_decode::NoteClassDetail;
    let mut out = Vec::new();
    let mut class_line = format!("class:    {}", n.class.label);
    match &n.class_detail {
        Some(NoteClassDetail::EmbeddedIpv4 { ipv4 }) => {
            class_line.push_str(&format!(" (embedded IPv4 {ipv4})"))
        }
        Some(NoteClassDetail::Teredo {
            server,
            client,
            client_port,
        }) => class_line.push_str(&format!(
            " (server {server}, client {client}:{client_port})"
        )),
        None => {}
    }
    out.push(class_line);
    if let Some(c) = &n.country {
        let continent = c.continent_name.as_ref().or(c.continent.as_ref());
        out.push(sourced(
            format!("country:  {}", c.code),
            [
                c.name.as_ref().map(|name| format!(", {name}")),
                continent.map(|cont| format!(" ({cont})")),
            ],
            &c.source,
        ));
    }
    if let Some(located) = &n.location {
        let loc = &located.place;
        let place: Vec<&str> = [loc.city.as_deref(), loc.region.as_deref()]
            .into_iter()
            .flatten()
            .collect();
        if !place.is_empty() {
            out.push(sourced(
                format!("location: {}", place.join("/")),
                [
                    loc.postal_code.as_ref().map(|z| format!(", postal {z}")),
                    loc.time_zone.as_ref().map(|tz| format!(", tz {tz}")),
                ],
                &located.source,
            ));
        }
        if let (Some(lat), Some(lon)) = (loc.latitude, loc.longitude) {
            out.push(format!(
                "position: {:.3}{}, {:.3}{}  https://www.openstreetmap.org/#map=10/{lat:.4}/{lon:.4}",
                lat.abs(),
                if lat >= 0.0 { 'N' } else { 'S' },
                lon.abs(),
                if lon >= 0.0 { 'E' } else { 'W' },
            ));
        }
    }
    if let Some(a) = &n.asn {
        out.push(sourced(
            format!("ASN:      AS{}", a.number),
            [
                a.name.as_ref().map(|name| format!(", {name}")),
                a.network.as_ref().map(|net| format!(", net {net}")),
            ],
            &a.source,
        ));
    } else if let Some(net) = n.country.as_ref().and_then(|c| c.network) {
        out.push(format!("network:  {net}"));
    }
    if let Some(f) = &n.flags {
        let names: Vec<&str> = flags(f).map(|(_, name)| name).collect();
        out.push(format!("flags:    {}  [{}]", names.join(", "), f.source));
    }
    if let Some(d) = &n.drop {
        out.push(format!(
            "DROP:     {} ({}) https://check.spamhaus.org/sbl/query/{}  [{}]",
            d.sbl, d.network, d.sbl, d.source
        ));
    }
    if let Some(r) = &n.registry {
        let mut fields = vec![r.prefix.as_str(), r.designation.as_str()];
        for f in [&r.date, &r.whois, &r.rdap, &r.status] {
            if !f.is_empty() {
                fields.push(f);
            }
        }
        out.push(format!("IANA:     {}  [{}]", fields.join(", "), r.source));
    }
    out
}

/// A detail line: `head`, the parts that are there, and the source.
fn sourced(head: String, parts: [Option<String>; 2], source: &str) -> String {
    let mut l = head;
    for p in parts.into_iter().flatten() {
        l.push_str(&p);
    }
    l.push_str(&format!("  [{source}]"));
    l
}

/// The flags that are set: (JSON key, words).
pub(crate) fn flags(f: &NoteFlags) -> impl Iterator<Item = (&'static str, &'static str)> {
    [
        (f.anonymous_proxy, "anonymous_proxy", "anonymous proxy"),
        (
            f.satellite_provider,
            "satellite_provider",
            "satellite provider",
        ),
        (f.anycast, "anycast", "anycast"),
        (f.drop, "drop", "hostile (drop)"),
    ]
    .into_iter()
    .filter(|(set, _, _)| *set)
    .map(|(_, key, words)| (key, words))
}
