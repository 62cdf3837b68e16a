//! The facade: loads every configured or discovered database once, then
//! answers [`Intel::lookup`] from the best source for each question, with a
//! per-address cache.

use crate::annotation::{
    country_info, Annotation, AsInfo, CountryInfo, DropInfo, FlagsInfo, LocationInfo, RegistryInfo,
};
use crate::class::{classify, classify_v4, ClassDetail};
use crate::countries;
use crate::drop::DropList;
use crate::embedded::EmbeddedTable;
use crate::error::IntelError;
use crate::iana::IanaRegistry;
use crate::ip2location::Ip2Location;
use crate::libloc::{
    LocDb, FLAG_ANONYMOUS_PROXY, FLAG_ANYCAST, FLAG_DROP, FLAG_SATELLITE_PROVIDER,
};
use crate::mmdb::{Mmdb, MmdbAnswer};
use crate::torgeoip::TorGeoIp;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Where to find data. Deserialisable from the tracer's config file; every
/// field is optional there.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Sources {
    /// IPFire location databases (`location.db`).
    pub libloc: Vec<PathBuf>,
    /// MaxMind DB files (GeoLite2-City/Country/ASN, dbip-*).
    pub mmdb: Vec<PathBuf>,
    /// Tor GeoIP files (`geoip`, `geoip6`).
    pub tor_geoip: Vec<PathBuf>,
    /// IP2Location `.BIN` files.
    pub ip2location: Vec<PathBuf>,
    /// Spamhaus DROP lists (text or JSON lines).
    pub drop: Vec<PathBuf>,
    /// IANA registry CSV files (IPv4 address space, IPv6 unicast assignments).
    pub iana: Vec<PathBuf>,
    /// Also look in the usual system locations and in `data_dir`.
    pub discover: bool,
    /// Fall back to the compiled-in tables (country/ASN, IANA).
    pub embedded: bool,
    /// Where `db update` stores downloads; default `$XDG_DATA_HOME/sock-trace`
    /// (or `~/.local/share/sock-trace`).
    pub data_dir: Option<PathBuf>,
    /// A source older than this many days is reported as stale.
    pub stale_after_days: u64,
}

impl Default for Sources {
    fn default() -> Self {
        Sources {
            libloc: Vec::new(),
            mmdb: Vec::new(),
            tor_geoip: Vec::new(),
            ip2location: Vec::new(),
            drop: Vec::new(),
            iana: Vec::new(),
            discover: true,
            embedded: true,
            data_dir: None,
            stale_after_days: 90,
        }
    }
}

impl Sources {
    /// No discovery, no embedded data: only what the caller adds.
    pub fn explicit_only() -> Self {
        Sources {
            discover: false,
            embedded: false,
            ..Sources::default()
        }
    }

    /// The download directory in effect.
    pub fn data_dir(&self) -> Option<PathBuf> {
        self.data_dir.clone().or_else(default_data_dir)
    }
}

/// `$XDG_DATA_HOME/sock-trace`, else `$HOME/.local/share/sock-trace`.
pub fn default_data_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))?;
    Some(base.join("sock-trace"))
}

/// The kinds of database this crate reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceKind {
    Libloc,
    Mmdb,
    TorGeoip,
    Ip2Location,
    Drop,
    Iana,
    Embedded,
}

impl SourceKind {
    pub fn label(self) -> &'static str {
        match self {
            SourceKind::Libloc => "libloc",
            SourceKind::Mmdb => "mmdb",
            SourceKind::TorGeoip => "tor-geoip",
            SourceKind::Ip2Location => "ip2location",
            SourceKind::Drop => "drop",
            SourceKind::Iana => "iana",
            SourceKind::Embedded => "embedded",
        }
    }
}

/// A loaded database, for `sock-trace db`.
#[derive(Clone, Debug, Serialize)]
pub struct SourceInfo {
    pub kind: SourceKind,
    /// File path, or `embedded`.
    pub path: String,
    /// Short description (database type, vendor, range counts).
    pub detail: String,
    /// Build time from the file itself (UNIX seconds), when it records one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub built: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub built_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_days: Option<u64>,
    pub stale: bool,
}

/// A file that could not be used: reported once, then skipped.
#[derive(Clone, Debug, Serialize)]
pub struct SourceProblem {
    pub path: PathBuf,
    pub reason: String,
}

impl std::fmt::Display for SourceProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.reason)
    }
}

/// Which columns a MaxMind file fills, from its `database_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MmdbRole {
    City,
    Country,
    Asn,
}

struct Loaded<T> {
    db: T,
    label: String,
    built: Option<u64>,
}

/// Address intelligence over all available databases.
pub struct Intel {
    libloc: Vec<Loaded<LocDb>>,
    mmdb: Vec<(MmdbRole, Loaded<Mmdb>)>,
    tor: Option<Loaded<TorGeoIp>>,
    ip2location: Vec<Loaded<Ip2Location>>,
    drop: Option<Loaded<DropList>>,
    iana: Option<(IanaRegistry, String)>,
    use_embedded: bool,
    embedded: Option<Option<EmbeddedTable>>,
    problems: Vec<SourceProblem>,
    cache: HashMap<IpAddr, Annotation>,
    stale_after_days: u64,
    /// ASN sources in order of preference (fresher build first): `true` = libloc
    /// index, `false` = mmdb index.
    asn_order: Vec<(bool, usize)>,
}

const EMBEDDED: &str = "embedded";

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn files_matching(dir: &Path, pred: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.file_name().and_then(|n| n.to_str()).is_some_and(&pred))
        .collect();
    v.sort();
    v
}

/// Adds discovered files to `sources` (explicit entries stay first).
fn discover(sources: &mut Sources) {
    let data_dir = sources.data_dir();
    let existing = |p: &str| Path::new(p).is_file().then(|| PathBuf::from(p));
    // The same file under two names (a symlink such as
    // /var/lib/location/database.db -> /usr/share/...) is loaded once.
    let add = |list: &mut Vec<PathBuf>, p: PathBuf| {
        let canon = std::fs::canonicalize(&p).unwrap_or_else(|_| p.clone());
        if !list
            .iter()
            .any(|q| std::fs::canonicalize(q).unwrap_or_else(|_| q.clone()) == canon)
        {
            list.push(p);
        }
    };
    let dd = data_dir.as_deref();
    let mut libloc: Vec<PathBuf> = dd
        .map(|d| d.join("location.db"))
        .filter(|p| p.is_file())
        .into_iter()
        .collect();
    libloc.extend(existing("/var/lib/location/database.db"));
    libloc.extend(existing("/usr/share/libloc-location/location.db"));
    for p in libloc {
        add(&mut sources.libloc, p);
    }
    let is_mmdb = |n: &str| n.ends_with(".mmdb");
    for dir in [
        dd.map(Path::to_path_buf),
        Some("/var/lib/GeoIP".into()),
        Some("/usr/share/GeoIP".into()),
    ]
    .into_iter()
    .flatten()
    {
        for p in files_matching(&dir, is_mmdb) {
            add(&mut sources.mmdb, p);
        }
    }
    if sources.tor_geoip.is_empty() {
        for p in ["/usr/share/tor/geoip", "/usr/share/tor/geoip6"] {
            if let Some(p) = existing(p) {
                add(&mut sources.tor_geoip, p);
            }
        }
    }
    if let Some(d) = dd {
        for p in files_matching(d, |n| n.to_ascii_uppercase().ends_with(".BIN")) {
            add(&mut sources.ip2location, p);
        }
        for name in ["drop_v4.json", "drop_v6.json", "drop.txt", "dropv6.txt"] {
            let p = d.join(name);
            if p.is_file() {
                add(&mut sources.drop, p);
            }
        }
        for name in [
            "ipv4-address-space.csv",
            "ipv6-unicast-address-assignments.csv",
        ] {
            let p = d.join(name);
            if p.is_file() {
                add(&mut sources.iana, p);
            }
        }
    }
    for p in files_matching(Path::new("/usr/share/ip2location"), |n| {
        n.to_ascii_uppercase().ends_with(".BIN")
    }) {
        add(&mut sources.ip2location, p);
    }
}

fn mmdb_role(db_type: &str) -> MmdbRole {
    let t = db_type.to_ascii_lowercase();
    if t.contains("asn") || t.contains("isp") {
        MmdbRole::Asn
    } else if t.contains("city") {
        MmdbRole::City
    } else {
        MmdbRole::Country
    }
}

/// A source read from any number of files into one table (Tor GeoIP, the
/// DROP lists, the IANA registry).
trait FileSet {
    fn load_file(&mut self, path: &Path) -> crate::error::Result<()>;
    fn paths(&self) -> &[PathBuf];
}

macro_rules! file_sets {
    ($($t:ty),*) => {$(
        impl FileSet for $t {
            fn load_file(&mut self, path: &Path) -> crate::error::Result<()> {
                <$t>::load_file(self, path)
            }
            fn paths(&self) -> &[PathBuf] {
                <$t>::paths(self)
            }
        }
    )*};
}

file_sets!(TorGeoIp, DropList, IanaRegistry);

/// Loads each of `paths` into `set`, noting the files that fail; returns
/// the label of what the set holds: its files joined by ` + `.
fn load_all(
    set: &mut impl FileSet,
    paths: &[PathBuf],
    note: &mut impl FnMut(IntelError, &Path),
) -> String {
    for p in paths {
        if let Err(e) = set.load_file(p) {
            note(e, p);
        }
    }
    set.paths()
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(" + ")
}

/// Opens each of `paths` with `open`, noting the files that fail; `built`
/// reads when a database was made.
fn open_each<T>(
    paths: &[PathBuf],
    open: impl Fn(&Path) -> crate::error::Result<T>,
    note: &mut impl FnMut(IntelError, &Path),
    built: impl Fn(&T) -> Option<u64>,
) -> Vec<Loaded<T>> {
    let mut loaded = Vec::new();
    for p in paths {
        match open(p) {
            Ok(db) => loaded.push(Loaded {
                built: built(&db),
                label: p.display().to_string(),
                db,
            }),
            Err(e) => note(e, p),
        }
    }
    loaded
}

/// Loads `paths` into one set (see [`load_all`]); `None` when no file
/// loaded. `built` reads when the set was made.
fn load_set<T: FileSet + Default>(
    paths: &[PathBuf],
    note: &mut impl FnMut(IntelError, &Path),
    built: impl FnOnce(&T) -> Option<u64>,
) -> Option<Loaded<T>> {
    if paths.is_empty() {
        return None;
    }
    let mut set = T::default();
    let label = load_all(&mut set, paths, note);
    (!set.paths().is_empty()).then(|| Loaded {
        built: built(&set),
        label,
        db: set,
    })
}

impl Intel {
    /// Loads everything `sources` names or discovers. Never fails: unusable
    /// files end up in [`Intel::problems`].
    pub fn new(sources: &Sources) -> Self {
        let mut sources = sources.clone();
        if sources.discover {
            discover(&mut sources);
        }
        let mut problems = Vec::new();
        let mut note = |e: IntelError, path: &Path| {
            problems.push(SourceProblem {
                path: e.path().unwrap_or(path).to_path_buf(),
                reason: e.to_string(),
            })
        };
        let mut libloc = open_each(&sources.libloc, LocDb::open, &mut note, |db| {
            Some(db.created_at())
        });
        // Newest first: it answers, older copies only fill gaps.
        libloc.sort_by_key(|l| std::cmp::Reverse(l.built));

        let mut mmdb: Vec<_> = open_each(&sources.mmdb, Mmdb::open, &mut note, |db| {
            Some(db.build_epoch())
        })
        .into_iter()
        .map(|l| (mmdb_role(l.db.database_type()), l))
        .collect();
        mmdb.sort_by_key(|(_, l)| std::cmp::Reverse(l.built));

        let tor = load_set(&sources.tor_geoip, &mut note, TorGeoIp::generated);

        let mut ip2location = open_each(&sources.ip2location, Ip2Location::open, &mut note, |db| {
            let (y, m, d) = db.date();
            crate::dates::unix_from_ymd(i64::from(y), u32::from(m), u32::from(d))
        });
        // More detailed types (more columns) first.
        ip2location.sort_by_key(|l| std::cmp::Reverse(l.db.db_type()));

        let drop = load_set(&sources.drop, &mut note, |d: &DropList| {
            d.timestamp().or_else(|| {
                d.paths()
                    .iter()
                    .filter_map(|p| std::fs::metadata(p).ok()?.modified().ok())
                    .filter_map(|t| t.duration_since(UNIX_EPOCH).ok())
                    .map(|d| d.as_secs())
                    .max()
            })
        });

        let iana = {
            let mut reg = if sources.embedded {
                IanaRegistry::embedded()
            } else {
                IanaRegistry::default()
            };
            let loaded = load_all(&mut reg, &sources.iana, &mut note);
            let lbl = if reg.paths().is_empty() {
                EMBEDDED.to_string()
            } else {
                loaded
            };
            (!reg.is_empty()).then_some((reg, lbl))
        };

        let mut asn_order: Vec<(bool, usize, Option<u64>)> = Vec::new();
        for (i, l) in libloc.iter().enumerate() {
            asn_order.push((true, i, l.built));
        }
        for (i, (role, l)) in mmdb.iter().enumerate() {
            if *role == MmdbRole::Asn {
                asn_order.push((false, i, l.built));
            }
        }
        asn_order.sort_by_key(|e| std::cmp::Reverse(e.2));

        Intel {
            libloc,
            mmdb,
            tor,
            ip2location,
            drop,
            iana,
            use_embedded: sources.embedded,
            embedded: None,
            problems,
            cache: HashMap::new(),
            stale_after_days: sources.stale_after_days,
            asn_order: asn_order.into_iter().map(|(a, b, _)| (a, b)).collect(),
        }
    }

    /// Files that could not be used, with the reason (print once at start-up).
    pub fn problems(&self) -> &[SourceProblem] {
        &self.problems
    }

    /// Loads the embedded table on first need.
    fn embedded(&mut self) -> Option<&EmbeddedTable> {
        if !self.use_embedded {
            return None;
        }
        if self.embedded.is_none() {
            let table = match EmbeddedTable::load() {
                Ok(t) => Some(t),
                Err(reason) => {
                    self.problems.push(SourceProblem {
                        path: PathBuf::from(EMBEDDED),
                        reason,
                    });
                    None
                }
            };
            self.embedded = Some(table);
        }
        self.embedded.as_ref().and_then(Option::as_ref)
    }

    /// Everything loaded, with build dates and staleness.
    pub fn sources(&mut self) -> Vec<SourceInfo> {
        let now = now_unix();
        let limit = self.stale_after_days;
        let info = |kind, path: &str, detail: String, built: Option<u64>| {
            let age_days = built.map(|b| now.saturating_sub(b) / 86_400);
            SourceInfo {
                kind,
                path: path.to_string(),
                detail,
                built,
                built_date: built.map(crate::dates::format_date),
                age_days,
                stale: age_days.is_some_and(|a| a > limit),
            }
        };
        let mut out = Vec::new();
        for l in &self.libloc {
            let detail = format!(
                "{}, licence {}",
                l.db.vendor().unwrap_or_default(),
                l.db.license().unwrap_or_default()
            );
            out.push(info(SourceKind::Libloc, &l.label, detail, l.built));
        }
        for (_, l) in &self.mmdb {
            out.push(info(
                SourceKind::Mmdb,
                &l.label,
                l.db.database_type().to_string(),
                l.built,
            ));
        }
        if let Some(t) = &self.tor {
            let (v4, v6) = t.db.counts();
            out.push(info(
                SourceKind::TorGeoip,
                &t.label,
                format!("{v4} IPv4 + {v6} IPv6 ranges"),
                t.built,
            ));
        }
        for l in &self.ip2location {
            out.push(info(
                SourceKind::Ip2Location,
                &l.label,
                format!("DB{}", l.db.db_type()),
                l.built,
            ));
        }
        if let Some(d) = &self.drop {
            out.push(info(
                SourceKind::Drop,
                &d.label,
                format!("{} networks", d.db.len()),
                d.built,
            ));
        }
        if let Some((reg, lbl)) = &self.iana {
            // The embedded copy's registry date is recorded in iana.rs.
            let built = reg
                .paths()
                .is_empty()
                .then(|| crate::dates::unix_from_ymd(2019, 12, 27))
                .flatten();
            out.push(info(
                SourceKind::Iana,
                lbl,
                format!("{} prefixes", reg.len()),
                built,
            ));
        }
        if let Some(t) = self.embedded() {
            let (v4, v6) = t.counts();
            let built = Some(t.created_at());
            out.push(info(
                SourceKind::Embedded,
                EMBEDDED,
                format!("country+ASN, {v4} IPv4 + {v6} IPv6 ranges (IPFire location data, CC BY-SA 4.0)"),
                built,
            ));
        }
        out
    }

    /// Annotation for `ip`, cached per address.
    pub fn lookup(&mut self, ip: IpAddr) -> Annotation {
        if let Some(a) = self.cache.get(&ip) {
            return a.clone();
        }
        let a = self.lookup_uncached(ip);
        self.cache.insert(ip, a.clone());
        a
    }

    /// Annotation for `ip` without touching the cache.
    pub fn lookup_uncached(&mut self, ip: IpAddr) -> Annotation {
        let c = classify(ip);
        let mut ann = Annotation::bare(ip, c.class, c.detail.clone());
        // Registry designation applies to every address (it names reserved
        // blocks too), looked up on the address as given.
        if let Some((reg, lbl)) = &self.iana {
            if let Some((network, entry)) = reg.lookup(ip) {
                ann.registry = Some(RegistryInfo {
                    network,
                    entry: entry.clone(),
                    source: lbl.clone(),
                });
            }
        }
        // Tunnelled and mapped addresses are looked up by the IPv4 address
        // they carry: that is where the peer really is.
        let target = match c.detail {
            Some(ClassDetail::EmbeddedIpv4 { ipv4 }) => {
                if !classify_v4(ipv4).looked_up() {
                    return ann;
                }
                IpAddr::V4(ipv4)
            }
            Some(ClassDetail::Teredo { client, .. }) if classify_v4(client).looked_up() => {
                IpAddr::V4(client)
            }
            _ if c.class.looked_up() => ip,
            _ => return ann,
        };
        self.fill_from_databases(&mut ann, target);
        ann
    }

    fn fill_from_databases(&mut self, ann: &mut Annotation, ip: IpAddr) {
        let mut flags: Option<FlagsInfo> = None;
        let mut problems = Vec::new();

        // 1. City-level: MaxMind City, then IP2Location with city columns.
        for (role, l) in &self.mmdb {
            if *role != MmdbRole::City || ann.location.is_some() {
                continue;
            }
            match l.db.lookup(ip) {
                Ok(Some(a)) => {
                    if ann.country.is_none() {
                        ann.country = mmdb_country(&a, &l.label);
                    }
                    if a.place.is_known() {
                        ann.location = Some(LocationInfo {
                            place: a.place,
                            source: l.label.clone(),
                        });
                    }
                    if a.anonymous_proxy || a.satellite_provider || a.anycast {
                        flags.get_or_insert(FlagsInfo {
                            anonymous_proxy: a.anonymous_proxy,
                            satellite_provider: a.satellite_provider,
                            anycast: a.anycast,
                            drop: false,
                            source: l.label.clone(),
                        });
                    }
                }
                Ok(None) => {}
                Err(e) => problems.push(e),
            }
        }
        for l in &self.ip2location {
            if ann.location.is_some() && ann.country.is_some() {
                break;
            }
            match l.db.lookup(ip) {
                Ok(Some(r)) => {
                    if let Some(code) = &r.country_code {
                        ann.country.get_or_insert_with(|| {
                            country_info(
                                code.clone(),
                                r.country_name.clone(),
                                countries::continent_of(code).map(String::from),
                                crate::ip2location::range_as_network(r.range.0, r.range.1),
                                &l.label,
                            )
                        });
                    }
                    if ann.location.is_none() && r.place.is_known() {
                        ann.location = Some(LocationInfo {
                            place: r.place,
                            source: l.label.clone(),
                        });
                    }
                }
                Ok(None) => {}
                Err(e) => problems.push(e),
            }
        }

        // 2. ASN (+ flags, + country fallback) from the freshest ASN source.
        for &(is_libloc, i) in &self.asn_order {
            if ann.asn.is_some() {
                break;
            }
            if is_libloc {
                let l = &self.libloc[i];
                match l.db.lookup(ip) {
                    Ok(Some(m)) => {
                        if let Some(number) = m.asn {
                            ann.asn = Some(AsInfo {
                                number,
                                name: l.db.as_name(number).map(|s| s.into_owned()),
                                network: Some(m.network.into()),
                                source: l.label.clone(),
                            });
                        }
                        let f = libloc_flags(m.flags, &l.label);
                        if f.any() && flags.is_none() {
                            flags = Some(f);
                        }
                    }
                    Ok(None) => {}
                    Err(e) => problems.push(e),
                }
            } else {
                let l = &self.mmdb[i].1;
                match l.db.lookup(ip) {
                    Ok(Some(a)) => {
                        if let Some(number) = a.asn {
                            ann.asn = Some(AsInfo {
                                number,
                                name: a.as_name,
                                network: a.network.map(Into::into),
                                source: l.label.clone(),
                            });
                        }
                    }
                    Ok(None) => {}
                    Err(e) => problems.push(e),
                }
            }
        }

        // 3. Country from the remaining sources, most detailed first.
        if ann.country.is_none() {
            for (role, l) in &self.mmdb {
                if *role != MmdbRole::Country {
                    continue;
                }
                if let Ok(Some(a)) = l.db.lookup(ip).map_err(|e| problems.push(e)) {
                    if let Some(country) = mmdb_country(&a, &l.label) {
                        ann.country = Some(country);
                        break;
                    }
                }
            }
        }
        if ann.country.is_none() || flags.is_none() {
            for l in &self.libloc {
                match l.db.lookup(ip) {
                    Ok(Some(m)) => {
                        if ann.country.is_none() {
                            if let Some(cc) = m.country_code {
                                let code = String::from_utf8_lossy(&cc).into_owned();
                                let rec = l.db.country(cc);
                                let known = |s: &String| !s.is_empty();
                                ann.country = Some(country_info(
                                    code,
                                    rec.as_ref().map(|r| r.name.clone()).filter(known),
                                    rec.as_ref().map(|r| r.continent.clone()).filter(known),
                                    Some(m.network),
                                    &l.label,
                                ));
                            }
                        }
                        let f = libloc_flags(m.flags, &l.label);
                        if f.any() && flags.is_none() {
                            flags = Some(f);
                        }
                        break;
                    }
                    Ok(None) => {}
                    Err(e) => problems.push(e),
                }
            }
        }
        if ann.country.is_none() {
            if let Some(t) = &self.tor {
                if let Some(cc) = t.db.lookup(ip) {
                    ann.country = Some(code_only_country(cc, &t.label));
                }
            }
        }
        // The embedded table is derived from a libloc database, so with a real
        // one loaded it has nothing to add (and is never decompressed).
        let no_real_source = self.libloc.is_empty();
        let need_embedded = no_real_source && (ann.country.is_none() || ann.asn.is_none());
        if need_embedded {
            if let Some(t) = self.embedded() {
                if let Some(e) = t.lookup(ip) {
                    if ann.country.is_none() {
                        if let Some(cc) = e.country_code {
                            ann.country = Some(code_only_country(cc, EMBEDDED));
                        }
                    }
                    if ann.asn.is_none() {
                        if let Some(number) = e.asn {
                            ann.asn = Some(AsInfo {
                                number,
                                name: t.as_name(number).map(String::from),
                                network: None,
                                source: EMBEDDED.into(),
                            });
                        }
                    }
                    if flags.is_none() && no_real_source {
                        let f = libloc_flags(e.flags, EMBEDDED);
                        if f.any() {
                            flags = Some(f);
                        }
                    }
                }
            }
        }
        ann.flags = flags;

        // 4. DROP.
        if let Some(d) = &self.drop {
            if let Some(hit) = d.db.lookup(ip) {
                ann.drop = Some(DropInfo {
                    sbl: hit.sbl,
                    network: hit.network.into(),
                    rir: hit.rir,
                    source: d.label.clone(),
                });
            }
        }
        // A file that breaks during lookups is reported once per distinct
        // message (the cache keeps repeats of one address away).
        for e in problems {
            let reason = e.to_string();
            if !self.problems.iter().any(|p| p.reason == reason) && self.problems.len() < 100 {
                self.problems.push(SourceProblem {
                    path: e.path().map(Path::to_path_buf).unwrap_or_default(),
                    reason,
                });
            }
        }
    }
}

fn code_only_country(cc: [u8; 2], source: &str) -> CountryInfo {
    let code = String::from_utf8_lossy(&cc).into_owned();
    let name = countries::country_name(&code).map(String::from);
    let continent = countries::continent_of(&code).map(String::from);
    country_info(code, name, continent, None, source)
}

/// A MaxMind answer's country, when it names one; a missing name comes
/// from the built-in list.
fn mmdb_country(a: &MmdbAnswer, source: &str) -> Option<CountryInfo> {
    let code = a.country_code.clone()?;
    let name =
        (a.country_name.clone()).or_else(|| countries::country_name(&code).map(String::from));
    Some(country_info(
        code,
        name,
        a.continent_code.clone(),
        a.network,
        source,
    ))
}

fn libloc_flags(bits: u16, source: &str) -> FlagsInfo {
    FlagsInfo {
        anonymous_proxy: bits & FLAG_ANONYMOUS_PROXY != 0,
        satellite_provider: bits & FLAG_SATELLITE_PROVIDER != 0,
        anycast: bits & FLAG_ANYCAST != 0,
        drop: bits & FLAG_DROP != 0,
        source: source.to_string(),
    }
}
