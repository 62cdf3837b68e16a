//! HTTP/1.x request and status lines (RFC 9112), recognised by content so
//! servers on any port are covered.

use crate::text::{escaped, push_escaped};

/// Methods we accept as the start of a request. A fixed list (rather than
/// "any token") keeps arbitrary text protocols from posing as HTTP.
const METHODS: &[&str] = &[
    "GET",
    "HEAD",
    "POST",
    "PUT",
    "DELETE",
    "CONNECT",
    "OPTIONS",
    "TRACE",
    "PATCH",
    "PROPFIND",
    "PROPPATCH",
    "MKCOL",
    "COPY",
    "MOVE",
    "LOCK",
    "UNLOCK",
    "REPORT",
    "SEARCH",
];

/// Headers are searched only this far into the data, so a large body
/// prefix costs nothing.
const HEADER_SCAN: usize = 8192;

pub(crate) fn decode(bytes: &[u8]) -> Option<String> {
    if bytes.starts_with(b"HTTP/1.") {
        return response(bytes);
    }
    request(bytes)
}

/// The first line, without its terminator, and whether the terminator was
/// seen (it may lie beyond the bytes we were given).
fn first_line(bytes: &[u8]) -> (&[u8], bool) {
    match bytes.iter().position(|&b| b == b'\n') {
        Some(i) => {
            let line = &bytes[..i];
            (line.strip_suffix(b"\r").unwrap_or(line), true)
        }
        None => (bytes, false),
    }
}

fn request(bytes: &[u8]) -> Option<String> {
    let sp = bytes.iter().take(10).position(|&b| b == b' ')?;
    let method = std::str::from_utf8(&bytes[..sp]).ok()?;
    if !METHODS.contains(&method) {
        return None;
    }
    let (line, complete) = first_line(bytes);
    let rest = line.get(sp + 1..)?;
    let (target, version) = match rest.iter().rposition(|&b| b == b' ') {
        Some(i) if rest[i + 1..].starts_with(b"HTTP/1.") => (&rest[..i], Some(&rest[i + 1..])),
        _ if complete => return None, // a whole line, but not HTTP/1.x
        _ => (rest, None),            // cut inside the line: show what we have
    };
    if target.is_empty() || target.contains(&b' ') {
        return None;
    }
    let mut out = format!("HTTP {method} ");
    push_escaped(&mut out, target);
    if let Some(v) = version {
        out.push(' ');
        push_escaped(&mut out, v);
    }
    if let Some(host) = header(bytes, b"host") {
        out.push_str(" Host: ");
        push_escaped(&mut out, host);
    }
    Some(out)
}

fn response(bytes: &[u8]) -> Option<String> {
    let (line, _) = first_line(bytes);
    // "HTTP/1.x" SP 3DIGIT [SP reason]
    let code = line.get(9..12)?;
    if line.get(8) != Some(&b' ') || !code.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut out = format!("HTTP {}", escaped(code));
    if let Some(reason) = line.get(13..).filter(|r| !r.is_empty()) {
        out.push(' ');
        push_escaped(&mut out, reason);
    }
    let ctype = header(bytes, b"content-type");
    let clen = header(bytes, b"content-length");
    if ctype.is_some() || clen.is_some() {
        out.push_str(" (");
        if let Some(t) = ctype {
            push_escaped(&mut out, t);
        }
        if let Some(l) = clen {
            if ctype.is_some() {
                out.push_str(", ");
            }
            push_escaped(&mut out, l);
            out.push_str(" bytes");
        }
        out.push(')');
    }
    Some(out)
}

/// Value of the first header named `name` (lower case), if it lies within
/// the scanned prefix and before the blank line that ends the headers.
fn header<'a>(bytes: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let head = &bytes[..bytes.len().min(HEADER_SCAN)];
    let mut lines = head.split(|&b| b == b'\n');
    lines.next(); // request or status line
    for line in lines {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        if line[..colon].eq_ignore_ascii_case(name) {
            return Some(trim(&line[colon + 1..]));
        }
    }
    None
}

fn trim(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    &v[start..end.max(start)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_cut_mid_line() {
        assert_eq!(
            decode(b"GET /very/long/pa").unwrap(),
            "HTTP GET /very/long/pa"
        );
        assert_eq!(decode(b"GET / FTP/1.0\r\n"), None);
        assert_eq!(decode(b"GETTER / HTTP/1.1\r\n"), None);
    }

    #[test]
    fn status_line_variants() {
        assert_eq!(
            decode(b"HTTP/1.1 204 No Content\r\n\r\n").unwrap(),
            "HTTP 204 No Content"
        );
        assert_eq!(decode(b"HTTP/1.1 200").unwrap(), "HTTP 200");
        assert_eq!(decode(b"HTTP/1.1 2x0 OK\r\n"), None);
    }
}
