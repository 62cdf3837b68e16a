//! Address intelligence for sock-trace: what is known about one IP address.
//!
//! The tracer builds one [`Intel`] from a [`Sources`] configuration and calls
//! [`Intel::lookup`] for every peer address; the returned [`Annotation`] is
//! printed with [`Annotation::compact`] (one short line) or
//! [`Annotation::detailed_lines`], or serialised with serde.
//!
//! Roles of the types:
//!
//! * [`Sources`] — plain, serde-deserialisable configuration: explicit file
//!   paths per database kind, whether to discover files at the usual Linux
//!   locations, and whether to fall back to compiled-in data.
//! * [`Intel`] — the facade. Loads every database once (broken files become
//!   [`SourceProblem`]s and are skipped), picks the best source per question
//!   (city from MaxMind City or IP2Location, ASN from the fresher of libloc
//!   and GeoLite2-ASN, country from the most detailed source), caches answers
//!   per address, and lists what it loaded with [`Intel::sources`].
//! * [`Annotation`] — the answer: address class, country, location, AS,
//!   flags, DROP listing and IANA designation, each part naming its source.
//! * [`class`] — classification computed from the address alone (loopback,
//!   RFC 1918, CGNAT, documentation, 6to4, Teredo, ...).
//! * Readers, one module per format, each usable on its own and each
//!   bounds-checked so that corrupt input gives an [`IntelError`] naming the
//!   file instead of a panic: [`libloc`] (IPFire `location.db`), [`mmdb`]
//!   (MaxMind DB), [`torgeoip`] (Tor `geoip`/`geoip6`), [`ip2location`]
//!   (IP2Location `.BIN`), [`drop`] (Spamhaus DROP), [`iana`] (IANA registry
//!   CSV), and [`embedded`] (the compiled-in country/ASN fallback).
//! * [`update`] (feature `update`) — downloads a database, decompresses
//!   `.xz`, checks that the matching reader opens it, and replaces the old
//!   file atomically.

pub mod annotation;
pub mod class;
pub mod countries;
pub mod dates;
pub mod drop;
pub mod embedded;
pub mod error;
pub mod iana;
mod intel;
pub mod ip2location;
pub mod libloc;
pub mod mmdb;
pub mod net;
pub mod torgeoip;
#[cfg(feature = "update")]
pub mod update;

pub use annotation::{
    Annotation, AsInfo, CountryInfo, DropInfo, FlagsInfo, LocationInfo, RegistryInfo,
};
pub use class::{classify, AddressClass, ClassDetail, Classification};
pub use error::IntelError;
pub use intel::{default_data_dir, Intel, SourceInfo, SourceKind, SourceProblem, Sources};
pub use net::{parse_addr_zone, IpNetwork};
pub use sock_trace_decode::Place;
