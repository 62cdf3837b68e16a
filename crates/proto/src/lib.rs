//! One-line protocol hints for traced transfers.
//!
//! sock-trace records the first bytes a program sends or receives. This
//! crate turns them into a short summary for the trace output, such as
//!
//! - `DNS query A example.com (id 0x1a2b)`,
//! - `DNS response NOERROR www.example.com: CNAME example.com, A 192.0.2.1 (id 0x1a2b)`,
//! - `HTTP GET /index.html HTTP/1.1 Host: localhost:8000`, `HTTP 200 OK (text/html, 13 bytes)`,
//! - `TLS ClientHello SNI=example.com ALPN=h2,http/1.1 (TLS 1.3)`,
//!   `TLS ServerHello TLS 1.2, ALPN h2, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`
//!   (a TLS 1.3 ServerHello carries no ALPN: 1.3 sends it encrypted),
//!
//! or nothing when the bytes are not recognised.
//!
//! # Types
//!
//! - [`hint`] is the whole interface: transport, ports, direction, bytes in;
//!   an optional string out.
//! - [`Transport`] says whether the bytes are a TCP stream prefix or one
//!   UDP datagram; DNS over TCP carries a two-byte length first, so the
//!   same bytes mean different things.
//! - [`MAX_HINT_LEN`] bounds every hint (longer ones end in `...`).
//!
//! The API sketch also had a `Hint(String)` newtype; it was dropped
//! because it added no invariant the `String` lacks and the printer wants
//! the string anyway.
//!
//! ```
//! use sock_trace_proto::{hint, Transport};
//!
//! let req = b"GET /index.html HTTP/1.1\r\nHost: localhost:8000\r\n\r\n";
//! assert_eq!(
//!     hint(Transport::Tcp, 51000, 8000, true, req).as_deref(),
//!     Some("HTTP GET /index.html HTTP/1.1 Host: localhost:8000")
//! );
//! assert_eq!(hint(Transport::Tcp, 51000, 8000, true, b"\x00\x01garbage"), None);
//! ```
//!
//! # Recognition
//!
//! TLS and HTTP are recognised by content alone (a handshake record header;
//! a known method or `HTTP/1.x` status line), so they are found on any
//! port. DNS is decoded leniently when either port is 53 (DNS), 5353
//! (mDNS) or 5355 (LLMNR); on other ports only a message that parses
//! completely as a one-question standard query or response counts, so
//! random binary data is not passed off as DNS.
//!
//! Input may be cut anywhere (it is a prefix of a transfer): decoders show
//! what they could read, and every read is bounds-checked. Bytes from the
//! wire are escaped (`\xNN`, `\\`), so a hint is always printable ASCII.
//! Nothing here panics on any input; the tests feed random and truncated
//! data, and `fuzz/` has a cargo-fuzz target.

#![forbid(unsafe_code)]

mod dns;
mod http;
mod text;
mod tls;

pub use text::MAX_HINT_LEN;

/// How the bytes travelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// A prefix of a TCP byte stream.
    Tcp,
    /// One whole (or truncated) UDP datagram.
    Udp,
}

const DNS_PORTS: [u16; 3] = [53, 5353, 5355];

/// A one-line summary of `bytes`, the start of a transfer between
/// `local_port` and `peer_port`, or `None` if no decoder recognises it.
///
/// `outgoing` is true when the traced program sent the bytes. The
/// protocols decoded so far all say themselves whether a message is a
/// request or a reply, so it does not change the result today; it is part
/// of the signature for protocols that do not (and so callers need not
/// change when one is added).
pub fn hint(
    transport: Transport,
    local_port: u16,
    peer_port: u16,
    outgoing: bool,
    bytes: &[u8],
) -> Option<String> {
    let _ = outgoing;
    let dns_port = DNS_PORTS.contains(&local_port) || DNS_PORTS.contains(&peer_port);
    let confidence = if dns_port {
        dns::Confidence::Port
    } else {
        dns::Confidence::Content
    };
    let s = match transport {
        Transport::Udp => dns::decode(bytes, confidence),
        Transport::Tcp => tls::decode(bytes)
            .or_else(|| http::decode(bytes))
            .or_else(|| dns_over_tcp(bytes, confidence)),
    }?;
    Some(text::bounded(s))
}

/// DNS over TCP (RFC 1035 4.2.2, RFC 7766): a two-byte length, then the
/// message. Only the first message of the prefix is decoded.
fn dns_over_tcp(bytes: &[u8], confidence: dns::Confidence) -> Option<String> {
    let len = usize::from(u16::from_be_bytes([*bytes.first()?, *bytes.get(1)?]));
    let rest = bytes.get(2..)?;
    let msg = match confidence {
        // Off the DNS ports the length must match exactly: one message.
        dns::Confidence::Content if rest.len() != len => return None,
        _ => &rest[..rest.len().min(len)],
    };
    dns::decode(msg, confidence)
}
