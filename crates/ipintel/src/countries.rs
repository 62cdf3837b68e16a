//! Country names and continents for sources that only give a code (Tor GeoIP,
//! the embedded table, DROP). Table generated from the IPFire location
//! database (CC BY-SA 4.0) by `examples/gen-embedded.rs`.

use std::sync::OnceLock;

static TSV: &str = include_str!("../data/countries.tsv");

/// (code, continent code, name), sorted by code.
fn table() -> &'static [(&'static str, &'static str, &'static str)] {
    static TABLE: OnceLock<Vec<(&'static str, &'static str, &'static str)>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut v: Vec<_> = TSV
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let mut f = l.splitn(3, '\t');
                Some((f.next()?, f.next()?, f.next()?))
            })
            .collect();
        v.sort_by_key(|e| e.0);
        v
    })
}

fn find(code: &str) -> Option<&'static (&'static str, &'static str, &'static str)> {
    let t = table();
    t.binary_search_by(|e| e.0.cmp(code)).ok().map(|i| &t[i])
}

/// English short name for an ISO 3166 alpha-2 code (`DE` -> `Germany`).
pub fn country_name(code: &str) -> Option<&'static str> {
    find(code).map(|e| e.2)
}

/// Continent code for a country code (`DE` -> `EU`).
pub fn continent_of(code: &str) -> Option<&'static str> {
    find(code).map(|e| e.1).filter(|c| !c.is_empty())
}

/// English name of a continent code.
pub fn continent_name(code: &str) -> Option<&'static str> {
    Some(match code {
        "AF" => "Africa",
        "AN" => "Antarctica",
        "AS" => "Asia",
        "EU" => "Europe",
        "NA" => "North America",
        "OC" => "Oceania",
        "SA" => "South America",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_countries() {
        assert_eq!(super::country_name("DE"), Some("Germany"));
        assert_eq!(super::continent_of("DE"), Some("EU"));
        assert_eq!(super::country_name("AU"), Some("Australia"));
        assert_eq!(super::continent_name("OC"), Some("Oceania"));
        assert_eq!(super::country_name("Q1"), None);
    }
}
