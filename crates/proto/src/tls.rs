//! TLS ClientHello and ServerHello (RFC 8446 section 4.1; SNI RFC 6066,
//! ALPN RFC 7301), read from the first handshake record.

use std::fmt::Write as _;

use crate::text::{push_escaped, Reader};

const HANDSHAKE: u8 = 22;
const CLIENT_HELLO: u8 = 1;
const SERVER_HELLO: u8 = 2;
const EXT_SERVER_NAME: u16 = 0;
const EXT_ALPN: u16 = 16;
const EXT_SUPPORTED_VERSIONS: u16 = 43;

/// Protocol names listed before the rest are elided.
const MAX_ALPN: usize = 6;

pub(crate) fn decode(bytes: &[u8]) -> Option<String> {
    let mut rec = Reader::new(bytes);
    if rec.u8()? != HANDSHAKE || rec.u8()? != 3 || rec.u8()? > 4 {
        return None;
    }
    let rec_len = usize::from(rec.u16()?);
    // The hello may continue in a later record or transfer; parse what is
    // here and let each field read fail softly.
    let (body, _) = rec.take_upto(rec_len);
    let mut hs = Reader::new(body);
    let kind = hs.u8()?;
    let len = hs
        .u8()
        .zip(hs.u16())
        .map(|(hi, lo)| (usize::from(hi) << 16) | usize::from(lo))?;
    let (msg, _) = hs.take_upto(len);
    match kind {
        CLIENT_HELLO => Some(client_hello(msg)),
        SERVER_HELLO => Some(server_hello(msg)),
        _ => None,
    }
}

fn client_hello(msg: &[u8]) -> String {
    let mut r = Reader::new(msg);
    let mut sni = None;
    let mut alpn = Vec::new();
    let mut version = None;
    let cut;
    let fields = (|| {
        let legacy = r.u16()?;
        version = Some(legacy);
        r.take(32)?; // random
        let sid = usize::from(r.u8()?);
        r.take(sid)?;
        let suites = usize::from(r.u16()?);
        r.take(suites)?;
        let comp = usize::from(r.u8()?);
        r.take(comp)?;
        r.u16()
    })();
    if let Some(ext_len) = fields {
        let (exts, short) = r.take_upto(usize::from(ext_len));
        cut = short;
        for (ty, data) in extensions(exts) {
            match ty {
                EXT_SERVER_NAME => sni = server_name(data),
                EXT_ALPN => alpn = protocols(data),
                EXT_SUPPORTED_VERSIONS => {
                    // Client form: a length byte, then versions.
                    let mut v = Reader::new(data);
                    let n = usize::from(v.u8().unwrap_or(0));
                    let (list, _) = v.take_upto(n);
                    let best = list
                        .chunks_exact(2)
                        .map(|c| u16::from_be_bytes([c[0], c[1]]))
                        .filter(|&x| !is_grease(x))
                        .max();
                    if best.is_some() {
                        version = best;
                    }
                }
                _ => {}
            }
        }
    } else {
        cut = true;
    }
    let mut out = String::from("TLS ClientHello");
    if let Some(name) = sni {
        out.push_str(" SNI=");
        push_escaped(&mut out, name);
    }
    if !alpn.is_empty() {
        out.push_str(" ALPN=");
        push_list(&mut out, &alpn, ",");
    }
    if let Some(v) = version {
        let _ = write!(out, " ({})", version_name(v));
    }
    if cut {
        out.push_str(" ...");
    }
    out
}

fn server_hello(msg: &[u8]) -> String {
    let mut r = Reader::new(msg);
    let mut version = None;
    let mut suite = None;
    let mut alpn = Vec::new();
    let fields = (|| {
        version = Some(r.u16()?);
        r.take(32)?;
        let sid = usize::from(r.u8()?);
        r.take(sid)?;
        suite = Some(r.u16()?);
        r.u8()?; // compression
        r.u16()
    })();
    if let Some(ext_len) = fields {
        let (exts, _) = r.take_upto(usize::from(ext_len));
        for (ty, data) in extensions(exts) {
            match ty {
                // Server form: the single selected version.
                EXT_SUPPORTED_VERSIONS if data.len() == 2 => {
                    version = Some(u16::from_be_bytes([data[0], data[1]]))
                }
                EXT_ALPN => alpn = protocols(data),
                _ => {}
            }
        }
    }
    let mut out = String::from("TLS ServerHello");
    if let Some(v) = version {
        let _ = write!(out, " {}", version_name(v));
    }
    if let Some(p) = alpn.first() {
        out.push_str(", ALPN ");
        push_escaped(&mut out, p);
    }
    if let Some(s) = suite {
        out.push_str(", ");
        out.push_str(&suite_name(s));
    }
    out
}

/// (type, data) of each complete extension; stops at the first that runs
/// past the available bytes.
fn extensions(exts: &[u8]) -> Vec<(u16, &[u8])> {
    let mut r = Reader::new(exts);
    let mut v = Vec::new();
    while let (Some(ty), Some(len)) = (r.u16(), r.u16()) {
        match r.take(usize::from(len)) {
            Some(data) => v.push((ty, data)),
            None => break,
        }
    }
    v
}

/// First host_name entry of a server_name extension.
fn server_name(data: &[u8]) -> Option<&[u8]> {
    let mut r = Reader::new(data);
    let list_len = usize::from(r.u16()?);
    let mut list = Reader::new(r.take(list_len)?);
    while list.remaining() > 0 {
        let kind = list.u8()?;
        let n = usize::from(list.u16()?);
        let name = list.take(n)?;
        if kind == 0 {
            return Some(name);
        }
    }
    None
}

/// ALPN protocol names, in the order listed.
fn protocols(data: &[u8]) -> Vec<&[u8]> {
    let mut r = Reader::new(data);
    let mut v = Vec::new();
    let Some(list_len) = r.u16() else {
        return v;
    };
    let (list, _) = r.take_upto(usize::from(list_len));
    let mut l = Reader::new(list);
    while let Some(n) = l.u8() {
        match l.take(usize::from(n)) {
            Some(p) => v.push(p),
            None => break,
        }
    }
    v
}

fn push_list(out: &mut String, items: &[&[u8]], sep: &str) {
    for (i, p) in items.iter().take(MAX_ALPN).enumerate() {
        if i > 0 {
            out.push_str(sep);
        }
        push_escaped(out, p);
    }
    if items.len() > MAX_ALPN {
        let _ = write!(out, "{sep}+{}", items.len() - MAX_ALPN);
    }
}

/// GREASE values (RFC 8701) are 0x?a?a with both bytes equal; clients send
/// them to keep servers tolerant, so they say nothing about the version.
fn is_grease(v: u16) -> bool {
    let [hi, lo] = v.to_be_bytes();
    hi == lo && hi & 0x0f == 0x0a
}

fn version_name(v: u16) -> String {
    match v {
        0x0300 => "SSL 3.0".into(),
        0x0301 => "TLS 1.0".into(),
        0x0302 => "TLS 1.1".into(),
        0x0303 => "TLS 1.2".into(),
        0x0304 => "TLS 1.3".into(),
        _ => format!("version 0x{v:04x}"),
    }
}

fn suite_name(s: u16) -> String {
    match s {
        0x1301 => "TLS_AES_128_GCM_SHA256".into(),
        0x1302 => "TLS_AES_256_GCM_SHA384".into(),
        0x1303 => "TLS_CHACHA20_POLY1305_SHA256".into(),
        0xc02b => "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256".into(),
        0xc02c => "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384".into(),
        0xc02f => "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".into(),
        0xc030 => "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384".into(),
        0xcca8 => "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256".into(),
        0xcca9 => "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256".into(),
        _ => format!("cipher 0x{s:04x}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grease() {
        assert!(is_grease(0x0a0a));
        assert!(is_grease(0xfafa));
        assert!(!is_grease(0x0304));
        assert!(!is_grease(0x0a1a));
    }

    #[test]
    fn not_a_handshake() {
        assert_eq!(decode(&[23, 3, 3, 0, 1, 0]), None);
        assert_eq!(decode(&[22, 3, 1]), None);
        assert_eq!(decode(&[22, 3, 1, 0, 4, 9, 0, 0, 0]), None);
    }
}
