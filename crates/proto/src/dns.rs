//! DNS messages (RFC 1035; AAAA from RFC 3596, SRV RFC 2782, SVCB/HTTPS
//! RFC 9460) decoded into one line.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::text::{push_escaped, Reader};

/// A name can span at most 255 bytes on the wire, so a legitimate name
/// never needs more than ~127 pointers; real ones use one or two. The cap
/// bounds the work a hostile message can cause.
const MAX_JUMPS: usize = 16;
const MAX_NAME_LEN: usize = 255;
/// Answers shown before the rest are summarised as "+N more".
const MAX_ANSWERS: usize = 8;

/// How sure the caller is that this is DNS.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Confidence {
    /// A DNS port: decode whatever parses.
    Port,
    /// Content only: everything must parse, with no bytes left over, or
    /// random binary data would be "decoded".
    Content,
}

/// Decodes a whole message, or returns `None` if it is not plausibly DNS.
pub(crate) fn decode(msg: &[u8], confidence: Confidence) -> Option<String> {
    let mut r = Reader::new(msg);
    let id = r.u16()?;
    let flags = r.u16()?;
    let qdcount = r.u16()?;
    let ancount = r.u16()?;
    let nscount = r.u16()?;
    let arcount = r.u16()?;
    let is_response = flags & 0x8000 != 0;
    let opcode = (flags >> 11) & 0xf;
    let rcode = flags & 0xf;
    if confidence == Confidence::Content {
        // Standard queries with one question are all that is worth
        // guessing on; the Z bit must be zero (RFC 1035 4.1.1).
        if opcode != 0 || qdcount != 1 || flags & 0x0040 != 0 {
            return None;
        }
        if !is_response && (ancount != 0 || nscount != 0 || rcode != 0) {
            return None;
        }
    }
    // Even on a DNS port, an opcode beyond the assigned ones (0..=6) means
    // this is not a DNS message.
    if opcode > 6 {
        return None;
    }

    let mut questions = Vec::new();
    for _ in 0..qdcount.min(4) {
        let name = read_name(msg, &mut r)?;
        let qtype = r.u16()?;
        let _class = r.u16()?;
        questions.push((name, qtype));
    }
    if qdcount > 4 {
        // More questions than any resolver sends: keep it cheap and stop.
        if confidence == Confidence::Content {
            return None;
        }
    }

    let mut out = String::new();
    let op = match opcode {
        0 => "",
        1 => " IQUERY",
        2 => " STATUS",
        4 => " NOTIFY",
        5 => " UPDATE",
        6 => " DSO",
        _ => " OPCODE3",
    };
    if !is_response {
        let _ = write!(out, "DNS{op} query ");
        push_questions(&mut out, &questions, true);
        let _ = write!(out, " (id 0x{id:04x})");
        if confidence == Confidence::Content
            && !all_records_parse(msg, r, ancount, nscount, arcount)
        {
            return None;
        }
        return Some(out);
    }

    let _ = write!(out, "DNS{op} response {} ", rcode_name(rcode));
    push_questions(&mut out, &questions, false);
    let mut answers = Vec::new();
    let mut cut = false;
    let mut rr = r;
    for _ in 0..ancount {
        match read_record(msg, &mut rr) {
            Some(a) => answers.push(a),
            None => {
                cut = true;
                break;
            }
        }
    }
    if confidence == Confidence::Content
        && (cut || !all_records_parse(msg, rr, 0, nscount, arcount))
    {
        return None;
    }
    // OPT pseudo-records are EDNS plumbing, not answers.
    answers.retain(|a| !a.starts_with("OPT"));
    if !answers.is_empty() {
        out.push_str(": ");
        for (i, a) in answers.iter().take(MAX_ANSWERS).enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str(a);
        }
        if answers.len() > MAX_ANSWERS {
            let _ = write!(out, ", +{} more", answers.len() - MAX_ANSWERS);
        }
    }
    if cut {
        out.push_str(", ...");
    }
    let _ = write!(out, " (id 0x{id:04x})");
    Some(out)
}

/// Whether the remaining sections parse and exactly fill the message.
fn all_records_parse<'a>(msg: &'a [u8], mut r: Reader<'a>, an: u16, ns: u16, ar: u16) -> bool {
    let total = u32::from(an) + u32::from(ns) + u32::from(ar);
    for _ in 0..total {
        if read_record(msg, &mut r).is_none() {
            return false;
        }
    }
    r.remaining() == 0
}

fn push_questions(out: &mut String, questions: &[(String, u16)], with_type: bool) {
    if questions.is_empty() {
        out.push_str("(no question)");
    }
    for (i, (name, qtype)) in questions.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        if with_type {
            push_type(out, *qtype);
            out.push(' ');
        }
        out.push_str(name);
    }
}

/// One resource record as `TYPE rdata`.
fn read_record<'a>(msg: &'a [u8], r: &mut Reader<'a>) -> Option<String> {
    let _owner = read_name(msg, r)?;
    let rtype = r.u16()?;
    let _class = r.u16()?;
    let _ttl = r.u32()?;
    let rdlen = usize::from(r.u16()?);
    let rdata_start = r.pos();
    let rdata = r.take(rdlen)?;
    let mut s = String::new();
    push_type(&mut s, rtype);
    // Names inside rdata may point anywhere earlier in the message, so
    // they are read from the whole message at the rdata's offset.
    let mut at = Reader::new(msg);
    at.take(rdata_start)?;
    match rtype {
        1 if rdata.len() == 4 => {
            let _ = write!(
                s,
                " {}",
                Ipv4Addr::new(rdata[0], rdata[1], rdata[2], rdata[3])
            );
        }
        28 if rdata.len() == 16 => {
            let mut o = [0u8; 16];
            o.copy_from_slice(rdata);
            let _ = write!(s, " {}", Ipv6Addr::from(o));
        }
        2 | 5 | 12 => {
            let _ = write!(s, " {}", read_name(msg, &mut at)?);
        }
        15 => {
            let pref = at.u16()?;
            let _ = write!(s, " {pref} {}", read_name(msg, &mut at)?);
        }
        33 => {
            let (prio, weight, port) = (at.u16()?, at.u16()?, at.u16()?);
            let _ = write!(s, " {prio} {weight} {port} {}", read_name(msg, &mut at)?);
        }
        16 => {
            let mut t = Reader::new(rdata);
            if let Some(n) = t.u8() {
                let (txt, _) = t.take_upto(usize::from(n));
                s.push_str(" \"");
                push_escaped(&mut s, txt);
                s.push('"');
            }
        }
        6 => {
            let _ = write!(s, " {}", read_name(msg, &mut at)?);
        }
        _ => {
            let _ = write!(s, " ({rdlen} bytes)");
        }
    }
    Some(s)
}

/// Reads a possibly compressed name. Pointers must go strictly backwards
/// (a name can only refer to what came before it), which by itself rules
/// out loops; the jump cap bounds the work anyway.
fn read_name<'a>(msg: &'a [u8], r: &mut Reader<'a>) -> Option<String> {
    let mut name = String::new();
    let mut wire_len = 0usize;
    let mut jumps = 0;
    // Reads continue from `cur`; `r` advances only over the bytes of the
    // name at its original position.
    let mut cur = *r;
    let mut jumped = false;
    loop {
        let label_at = cur.pos();
        let len = cur.u8()?;
        match len & 0xc0 {
            0x00 => {
                if len == 0 {
                    break;
                }
                let label = cur.take(usize::from(len))?;
                wire_len += usize::from(len) + 1;
                if wire_len > MAX_NAME_LEN {
                    return None;
                }
                for &b in label {
                    match b {
                        b'.' => name.push_str("\\."),
                        _ => push_escaped(&mut name, &[b]),
                    }
                }
                name.push('.');
            }
            0xc0 => {
                let target = usize::from(u16::from_be_bytes([len & 0x3f, cur.u8()?]));
                jumps += 1;
                if jumps > MAX_JUMPS || target >= label_at {
                    return None;
                }
                if !jumped {
                    *r = cur;
                    jumped = true;
                }
                cur = Reader::new(msg);
                cur.take(target)?;
            }
            // 0x40 and 0x80 are the obsolete extended label types.
            _ => return None,
        }
    }
    if !jumped {
        *r = cur;
    }
    if name.is_empty() {
        name.push('.');
    } else {
        name.pop();
    }
    Some(name)
}

fn push_type(out: &mut String, t: u16) {
    let name = match t {
        1 => "A",
        2 => "NS",
        5 => "CNAME",
        6 => "SOA",
        12 => "PTR",
        13 => "HINFO",
        15 => "MX",
        16 => "TXT",
        28 => "AAAA",
        33 => "SRV",
        35 => "NAPTR",
        41 => "OPT",
        43 => "DS",
        46 => "RRSIG",
        47 => "NSEC",
        48 => "DNSKEY",
        64 => "SVCB",
        65 => "HTTPS",
        99 => "SPF",
        252 => "AXFR",
        255 => "ANY",
        257 => "CAA",
        _ => {
            let _ = write!(out, "TYPE{t}");
            return;
        }
    };
    out.push_str(name);
}

fn rcode_name(rcode: u16) -> String {
    match rcode {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        6 => "YXDOMAIN",
        7 => "YXRRSET",
        8 => "NXRRSET",
        9 => "NOTAUTH",
        10 => "NOTZONE",
        _ => return format!("RCODE{rcode}"),
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(qd: u16, an: u16) -> Vec<u8> {
        let mut v = vec![0x12, 0x34, 0x81, 0x80];
        v.extend_from_slice(&qd.to_be_bytes());
        v.extend_from_slice(&an.to_be_bytes());
        v.extend_from_slice(&[0, 0, 0, 0]);
        v
    }

    #[test]
    fn pointer_loop_is_rejected() {
        // Question name is a pointer to itself.
        let mut m = header(1, 0);
        m.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
        assert_eq!(decode(&m, Confidence::Port), None);
        // Two names pointing at each other: the second points forward.
        let mut m = header(1, 0);
        m.extend_from_slice(&[0xc0, 14, 0xc0, 12, 0, 1, 0, 1]);
        assert_eq!(decode(&m, Confidence::Port), None);
    }

    #[test]
    fn compressed_answer_and_escaped_label() {
        let mut m = header(1, 1);
        m.extend_from_slice(&[3, b'a', b'.', 0xff, 0, 0, 1, 0, 1]);
        m.extend_from_slice(&[0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 2, 0xc0, 12]);
        assert_eq!(
            decode(&m, Confidence::Content).unwrap(),
            "DNS response NOERROR a\\.\\xff: CNAME a\\.\\xff (id 0x1234)"
        );
    }

    #[test]
    fn overlong_name_is_rejected() {
        let mut m = header(1, 0);
        for _ in 0..5 {
            m.push(63);
            m.extend_from_slice(&[b'x'; 63]);
        }
        m.extend_from_slice(&[0, 0, 1, 0, 1]);
        assert_eq!(decode(&m, Confidence::Port), None);
    }
}
