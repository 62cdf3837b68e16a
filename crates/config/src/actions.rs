//! `[[delay]]`, `[[fault]]` and `[[limit]]`: bending the traced program's
//! calls, and the command-line forms of the same (`--delay`, `--inject`,
//! `--limit`). Each section becomes one or more
//! [`sock_trace_event::ring::ActionRule`]s for the hooks.

use serde::{Deserialize, Serialize};
use sock_trace_event::ring::{
    ActionRule, ACTION_AFTER, ACTION_DELAY, ACTION_FAMILY, ACTION_FAULT, ACTION_LIMIT, ACTION_PEER,
    ACTION_PORT, ACTION_PROGRAM, ACTION_SHORT, MAX_ACTION_PROGRAM,
};
use sock_trace_event::{Family, Func, FuncMask};
use std::net::IpAddr;

/// `[[delay]]`: wait before (or after) the named calls.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DelayRule {
    /// Names, globs, or families: `@send`, `@recv`, `@connect`, `@accept`,
    /// `@poll`, `@resolve`.
    pub functions: Vec<String>,
    /// A fixed delay in milliseconds...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ms: Option<f64>,
    /// ...or a uniform random one between these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_ms: Option<f64>,
    /// After the real call instead of before it.
    #[serde(default)]
    pub after: bool,
    #[serde(flatten)]
    pub filter: Filter,
}

/// `[[fault]]`: make the named calls fail (without making them).
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// A ready-made case: `no-ipv6`, `dns-again`, `dns-nxdomain`,
    /// `refuse`, `reset`, `short-writes`, `eintr`. Sets `functions` and
    /// `error` (both can still be given to narrow or change them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub functions: Vec<String>,
    /// `ECONNREFUSED`, a number, `EAI_AGAIN` (getaddrinfo, getnameinfo),
    /// `TRY_AGAIN` (gethostby*).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Instead of an error: move only half the bytes (send family).
    #[serde(default)]
    pub short: bool,
    /// Only the n-th matching call (1-based).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nth: Option<u32>,
    /// Every n-th matching call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<u32>,
    /// Each matching call with this probability (0..1), from `seed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// For socket(): only this address family (`AF_INET6`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    #[serde(flatten)]
    pub filter: Filter,
}

/// `[[limit]]`: pace transfers to a rate, per socket and direction.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LimitRule {
    /// Bytes per second sent (`"100k"`, `"2m"`, or a number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send: Option<Rate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recv: Option<Rate>,
    #[serde(flatten)]
    pub filter: Filter,
}

/// Which calls a rule applies to, beyond their function.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
pub struct Filter {
    /// Peer address or network (`127.0.0.1`, `10.0.0.0/8`, `::1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
    /// Peer port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Program glob, as in `[[program]]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program: Option<String>,
}

/// A byte rate: a number, or a string with a k/m/g suffix (powers of 1000).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Rate {
    Number(u64),
    Text(String),
}

impl Rate {
    pub fn bytes_per_sec(&self) -> Result<u64, String> {
        match self {
            Rate::Number(n) => Ok(*n),
            Rate::Text(t) => parse_rate(t),
        }
    }
}

fn parse_rate(t: &str) -> Result<u64, String> {
    let t = t.trim().to_ascii_lowercase();
    let t = t.strip_suffix("/s").unwrap_or(&t);
    let t = t.strip_suffix('b').unwrap_or(t);
    let (digits, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1_000),
        Some('m') => (&t[..t.len() - 1], 1_000_000),
        Some('g') => (&t[..t.len() - 1], 1_000_000_000),
        _ => (t, 1),
    };
    let v: f64 = digits
        .trim()
        .parse()
        .map_err(|_| format!("`{t}` is not a rate (bytes per second, e.g. 100k)"))?;
    if !(v > 0.0) {
        return Err(format!("rate `{t}` must be positive"));
    }
    Ok((v * mult as f64) as u64)
}

/// The functions `patterns` name: names, globs, or `@family`.
pub fn functions(patterns: &[String]) -> Result<FuncMask, String> {
    let mut mask = FuncMask::empty();
    for p in patterns {
        let p = p.trim();
        let family: Option<&[Func]> = match p {
            "@send" => Some(&[
                Func::Send,
                Func::Sendto,
                Func::Sendmsg,
                Func::Sendmmsg,
                Func::Write,
                Func::Writev,
                Func::Sendfile,
            ]),
            "@recv" => Some(&[
                Func::Recv,
                Func::Recvfrom,
                Func::Recvmsg,
                Func::Recvmmsg,
                Func::Read,
                Func::Readv,
            ]),
            "@connect" => Some(&[Func::Connect]),
            "@accept" => Some(&[Func::Accept, Func::Accept4]),
            "@poll" => Some(&[
                Func::Select,
                Func::Pselect,
                Func::Poll,
                Func::Ppoll,
                Func::EpollWait,
                Func::EpollPwait,
            ]),
            "@resolve" => Some(&[Func::Getaddrinfo, Func::Gethostbyname, Func::Gethostbyname2]),
            _ if p.starts_with('@') => {
                return Err(format!(
                "unknown function family `{p}` (@send, @recv, @connect, @accept, @poll, @resolve)"
            ))
            }
            _ => None,
        };
        if let Some(fs) = family {
            fs.iter().for_each(|f| mask.insert(*f));
            continue;
        }
        let glob = globset::Glob::new(p)
            .map_err(|e| format!("`{p}`: {}", e.kind()))?
            .compile_matcher();
        let mut any = false;
        for f in Func::ALL
            .iter()
            .filter(|f| f.family() != Family::Meta && ACTABLE.contains(f))
        {
            if glob.is_match(f.name()) {
                mask.insert(*f);
                any = true;
            }
        }
        if !any {
            return Err(format!(
                "`{p}` names no function that delays and faults apply to ({})",
                ACTABLE
                    .iter()
                    .map(|f| f.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    Ok(mask)
}

/// The hooks that apply action rules.
pub const ACTABLE: &[Func] = &[
    Func::Socket,
    Func::Connect,
    Func::Bind,
    Func::Accept,
    Func::Accept4,
    Func::Send,
    Func::Sendto,
    Func::Sendmsg,
    Func::Sendmmsg,
    Func::Write,
    Func::Writev,
    Func::Sendfile,
    Func::Recv,
    Func::Recvfrom,
    Func::Recvmsg,
    Func::Recvmmsg,
    Func::Read,
    Func::Readv,
    Func::Select,
    Func::Pselect,
    Func::Poll,
    Func::Ppoll,
    Func::EpollWait,
    Func::EpollPwait,
    Func::Getaddrinfo,
    Func::Gethostbyname,
    Func::Gethostbyname2,
];

impl Filter {
    fn apply(&self, r: &mut ActionRule) -> Result<(), String> {
        if let Some(peer) = &self.peer {
            let (addr, prefix) = match peer.split_once('/') {
                Some((a, p)) => (
                    a,
                    Some(
                        p.parse::<u32>()
                            .map_err(|_| format!("`{peer}`: bad prefix length"))?,
                    ),
                ),
                None => (peer.as_str(), None),
            };
            let ip: IpAddr = addr
                .trim()
                .parse()
                .map_err(|_| format!("`{peer}` is not an address or network"))?;
            match ip {
                IpAddr::V4(v4) => {
                    r.family = libc::AF_INET as u16;
                    r.addr[..4].copy_from_slice(&v4.octets());
                    r.prefix = prefix.unwrap_or(32).min(32);
                }
                IpAddr::V6(v6) => {
                    r.family = libc::AF_INET6 as u16;
                    r.addr.copy_from_slice(&v6.octets());
                    r.prefix = prefix.unwrap_or(128).min(128);
                }
            }
            r.flags |= ACTION_PEER;
        }
        if let Some(port) = self.port {
            r.port = port;
            r.flags |= ACTION_PORT;
        }
        if let Some(p) = &self.program {
            if p.is_empty() || p.len() > MAX_ACTION_PROGRAM {
                return Err(format!(
                    "program pattern `{p}` needs 1 to {MAX_ACTION_PROGRAM} bytes"
                ));
            }
            r.program[..p.len()].copy_from_slice(p.as_bytes());
            r.program_len = p.len() as u32;
            r.flags |= ACTION_PROGRAM;
        }
        Ok(())
    }
}

fn ms_to_ns(ms: f64) -> Result<u64, String> {
    if !(ms >= 0.0) || ms > 3_600_000.0 {
        return Err(format!("delay {ms} ms is out of range (0 to one hour)"));
    }
    Ok((ms * 1e6).round() as u64)
}

impl DelayRule {
    pub fn to_rules(&self) -> Result<Vec<ActionRule>, String> {
        let (min, max) = match (self.ms, self.min_ms, self.max_ms) {
            (Some(ms), None, None) => (ms, ms),
            (None, Some(a), Some(b)) if a <= b => (a, b),
            (None, Some(_), Some(_)) => return Err("min_ms is larger than max_ms".into()),
            _ => return Err("a delay needs either `ms` or both `min_ms` and `max_ms`".into()),
        };
        let mut r = ActionRule {
            funcs: functions(&self.functions)?,
            kind: ACTION_DELAY,
            min_ns: ms_to_ns(min)?,
            max_ns: ms_to_ns(max)?,
            seed: 0x0de1_a7,
            ..ActionRule::default()
        };
        if self.after {
            r.flags |= ACTION_AFTER;
        }
        self.filter.apply(&mut r)?;
        Ok(vec![r])
    }
}

impl LimitRule {
    pub fn to_rules(&self) -> Result<Vec<ActionRule>, String> {
        let mut out = Vec::new();
        for (rate, funcs) in [(&self.send, "@send"), (&self.recv, "@recv")] {
            if let Some(rate) = rate {
                let mut r = ActionRule {
                    funcs: functions(&[funcs.to_string()])?,
                    kind: ACTION_LIMIT,
                    bytes_per_sec: rate.bytes_per_sec()?,
                    ..ActionRule::default()
                };
                self.filter.apply(&mut r)?;
                out.push(r);
            }
        }
        if out.is_empty() {
            return Err("a limit needs `send` or `recv` (bytes per second)".into());
        }
        Ok(out)
    }
}

/// How a failure is reported, by the function's convention.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Space {
    Errno,
    Eai,
    HErrno,
}

fn space_of(f: Func) -> Space {
    match f {
        Func::Getaddrinfo | Func::Getnameinfo => Space::Eai,
        Func::Gethostbyname
        | Func::Gethostbyname2
        | Func::Gethostbyaddr
        | Func::GethostbynameR
        | Func::Gethostbyname2R
        | Func::GethostbyaddrR => Space::HErrno,
        _ => Space::Errno,
    }
}

/// (return value, error) of a failure named `name` in `space`.
fn failure(space: Space, name: &str) -> Result<(i64, i32), String> {
    let table: &[(i32, &str, &str)] = match space {
        Space::Errno => sock_trace_xlat::errno::ERRNO,
        Space::Eai => sock_trace_xlat::errno::EAI,
        Space::HErrno => sock_trace_xlat::errno::H_ERRNO,
    };
    let code = match name.trim().parse::<i32>() {
        Ok(n) => n,
        Err(_) => table
            .iter()
            .find(|(_, n, _)| n.eq_ignore_ascii_case(name.trim()))
            .map(|(v, _, _)| *v)
            .ok_or_else(|| {
                let what = match space {
                    Space::Errno => "an errno name (ECONNREFUSED ...)",
                    Space::Eai => "an EAI_* code for getaddrinfo/getnameinfo",
                    Space::HErrno => "an h_errno name for gethostby* (HOST_NOT_FOUND, TRY_AGAIN, NO_RECOVERY, NO_DATA)",
                };
                format!("`{name}` is not {what}")
            })?,
    };
    Ok(match space {
        Space::Errno => (-1, code),
        // getaddrinfo returns the code itself; errno stays as it was.
        Space::Eai => (code as i64, 0),
        Space::HErrno => (0, code),
    })
}

/// (functions, error per space) of a preset.
fn preset(
    name: &str,
) -> Result<(Vec<&'static str>, &'static str, Option<&'static str>, bool), String> {
    // (functions, errno-space error, h_errno/EAI error, short)
    Ok(match name {
        "no-ipv6" => (vec!["socket"], "EAFNOSUPPORT", None, false),
        "dns-again" | "dns-fail" => (vec!["getaddrinfo", "gethostbyname", "gethostbyname2"], "", Some("AGAIN"), false),
        "dns-nxdomain" => (vec!["getaddrinfo", "gethostbyname", "gethostbyname2"], "", Some("NONAME"), false),
        "refuse" => (vec!["connect"], "ECONNREFUSED", None, false),
        "reset" => (vec!["@recv"], "ECONNRESET", None, false),
        "short-writes" => (vec!["@send"], "", None, true),
        "eintr" => (vec!["@send", "@recv", "@poll"], "EINTR", None, false),
        _ => {
            return Err(format!(
                "unknown preset `{name}` (no-ipv6, dns-again, dns-nxdomain, refuse, reset, short-writes, eintr)"
            ))
        }
    })
}

impl FaultRule {
    pub fn to_rules(&self) -> Result<Vec<ActionRule>, String> {
        let mut functions_list = self.functions.clone();
        let mut error = self.error.clone();
        let mut short = self.short;
        let mut resolver_error: Option<&str> = None;
        let mut family = self.family.clone();
        if let Some(p) = &self.preset {
            let (fs, err, res_err, sh) = preset(p)?;
            if functions_list.is_empty() {
                functions_list = fs.iter().map(|s| s.to_string()).collect();
            }
            if error.is_none() && !err.is_empty() {
                error = Some(err.to_string());
            }
            resolver_error = res_err;
            short |= sh;
            if p == "no-ipv6" && family.is_none() {
                family = Some("AF_INET6".into());
            }
        }
        if functions_list.is_empty() {
            return Err("a fault needs `functions` (or a `preset`)".into());
        }
        if !short && error.is_none() && resolver_error.is_none() {
            return Err("a fault needs `error` (or `short = true`, or a `preset`)".into());
        }
        let mask = functions(&functions_list)?;
        let mut base = ActionRule {
            kind: if short { ACTION_SHORT } else { ACTION_FAULT },
            nth: self.nth.unwrap_or(0),
            every: self.every.unwrap_or(0),
            seed: self.seed.unwrap_or(1),
            ..ActionRule::default()
        };
        if let Some(p) = self.probability {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("probability {p} is not between 0 and 1"));
            }
            // 1.0 means always: no draw at all.
            base.chance = if p >= 1.0 {
                0
            } else {
                ((p * 4_294_967_296.0) as u64).max(1) as u32
            };
        }
        if let Some(fam) = &family {
            let v = sock_trace_xlat::AF
                .value_of(fam.trim())
                .ok_or_else(|| format!("`{fam}` is not an address family"))?;
            base.family = v as u16;
            base.flags |= ACTION_FAMILY;
        }
        self.filter.apply(&mut base)?;
        if family.is_some() && self.filter.peer.is_some() {
            return Err("`family` (for socket) and `peer` cannot be combined".into());
        }
        // One rule per error convention among the functions named.
        let mut out = Vec::new();
        for space in [Space::Errno, Space::Eai, Space::HErrno] {
            let mut funcs = FuncMask::empty();
            for f in Func::ALL
                .iter()
                .filter(|f| mask.contains(**f) && space_of(**f) == space)
            {
                funcs.insert(*f);
            }
            if funcs == FuncMask::empty() {
                continue;
            }
            let mut r = base;
            r.funcs = funcs;
            if !short {
                let name = match (space, resolver_error, &error) {
                    (Space::Eai, Some(e), None) => format!("EAI_{e}"),
                    (Space::HErrno, Some("AGAIN"), None) => "TRY_AGAIN".into(),
                    (Space::HErrno, Some(_), None) => "HOST_NOT_FOUND".into(),
                    (_, _, Some(e)) => e.clone(),
                    _ => return Err("a fault needs `error`".into()),
                };
                (r.ret, r.error) = failure(space, &name)?;
            }
            out.push(r);
        }
        Ok(out)
    }
}

/// `--inject SPEC`: `PRESET[:OPTS]` or `FUNCS=ERROR[:OPTS]`, with OPTS
/// among `nth=N`, `every=N`, `p=0.25`, `seed=N`, `peer=NET`, `port=N`,
/// `program=GLOB`, `short`. FUNCS is comma-free: `connect`, `recv*`, `@send`.
pub fn parse_inject(spec: &str) -> Result<FaultRule, String> {
    let mut parts = spec.split(':');
    let head = parts.next().unwrap_or_default();
    let mut rule = FaultRule::default();
    match head.split_once('=') {
        Some((funcs, err)) => {
            rule.functions = funcs.split('+').map(str::to_string).collect();
            if err == "short" {
                rule.short = true;
            } else {
                rule.error = Some(err.to_string());
            }
        }
        None => rule.preset = Some(head.to_string()),
    }
    for opt in parts {
        let (k, v) = opt.split_once('=').unwrap_or((opt, ""));
        let num = |v: &str| {
            v.parse::<u64>()
                .map_err(|_| format!("`{opt}`: not a number"))
        };
        match k {
            "nth" => rule.nth = Some(num(v)? as u32),
            "every" => rule.every = Some(num(v)? as u32),
            "p" | "probability" => {
                rule.probability = Some(
                    v.parse()
                        .map_err(|_| format!("`{opt}`: not a probability"))?,
                )
            }
            "seed" => rule.seed = Some(num(v)?),
            "peer" => rule.filter.peer = Some(v.to_string()),
            "port" => rule.filter.port = Some(num(v)? as u16),
            "program" => rule.filter.program = Some(v.to_string()),
            "family" => rule.family = Some(v.to_string()),
            "short" => rule.short = true,
            _ => return Err(format!("unknown option `{k}` in `{spec}`")),
        }
    }
    rule.to_rules()?;
    Ok(rule)
}

/// `--delay SPEC`: `FUNCS=MS[-MS][:after][:peer=NET][:port=N][:program=GLOB]`.
pub fn parse_delay(spec: &str) -> Result<DelayRule, String> {
    let mut parts = spec.split(':');
    let head = parts.next().unwrap_or_default();
    let (funcs, ms) = head
        .split_once('=')
        .ok_or_else(|| format!("`{spec}`: expected FUNCS=MS or FUNCS=MIN-MAX"))?;
    let mut rule = DelayRule {
        functions: funcs.split('+').map(str::to_string).collect(),
        ..DelayRule::default()
    };
    let ms = ms.trim_end_matches("ms");
    let num = |v: &str| {
        v.trim()
            .parse::<f64>()
            .map_err(|_| format!("`{v}` is not a number of milliseconds"))
    };
    match ms.split_once('-') {
        Some((a, b)) => {
            rule.min_ms = Some(num(a)?);
            rule.max_ms = Some(num(b)?);
        }
        None => rule.ms = Some(num(ms)?),
    }
    for opt in parts {
        let (k, v) = opt.split_once('=').unwrap_or((opt, ""));
        match k {
            "after" => rule.after = true,
            "peer" => rule.filter.peer = Some(v.to_string()),
            "port" => {
                rule.filter.port = Some(v.parse().map_err(|_| format!("`{opt}`: not a port"))?)
            }
            "program" => rule.filter.program = Some(v.to_string()),
            _ => return Err(format!("unknown option `{k}` in `{spec}`")),
        }
    }
    rule.to_rules()?;
    Ok(rule)
}

/// `--limit SPEC`: `send=RATE`, `recv=RATE`, or both (`send=100k,recv=1m`
/// as two flags or joined with `+`), with `:peer=`, `:port=`, `:program=`.
pub fn parse_limit(spec: &str) -> Result<LimitRule, String> {
    let mut parts = spec.split(':');
    let head = parts.next().unwrap_or_default();
    let mut rule = LimitRule::default();
    for item in head.split('+') {
        match item.split_once('=') {
            Some(("send", v)) => rule.send = Some(Rate::Text(v.to_string())),
            Some(("recv", v)) => rule.recv = Some(Rate::Text(v.to_string())),
            _ => return Err(format!("`{item}`: expected send=RATE or recv=RATE")),
        }
    }
    for opt in parts {
        let (k, v) = opt.split_once('=').unwrap_or((opt, ""));
        match k {
            "peer" => rule.filter.peer = Some(v.to_string()),
            "port" => {
                rule.filter.port = Some(v.parse().map_err(|_| format!("`{opt}`: not a port"))?)
            }
            "program" => rule.filter.program = Some(v.to_string()),
            _ => return Err(format!("unknown option `{k}` in `{spec}`")),
        }
    }
    rule.to_rules()?;
    Ok(rule)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_expand_by_error_convention() {
        let r = parse_inject("dns-again").unwrap().to_rules().unwrap();
        assert_eq!(r.len(), 2);
        assert!(r[0].funcs.contains(Func::Getaddrinfo));
        assert_eq!(
            (r[0].ret, r[0].error),
            (-3, 0),
            "EAI_AGAIN is returned, errno untouched"
        );
        assert!(r[1].funcs.contains(Func::Gethostbyname));
        assert_eq!(
            (r[1].ret, r[1].error),
            (0, 2),
            "NULL with h_errno TRY_AGAIN"
        );
        let r = parse_inject("no-ipv6").unwrap().to_rules().unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!((r[0].ret, r[0].error), (-1, libc::EAFNOSUPPORT));
        assert_eq!(r[0].family, libc::AF_INET6 as u16);
        assert_ne!(r[0].flags & ACTION_FAMILY, 0);
    }

    #[test]
    fn specs_parse_with_options() {
        let r = parse_inject("connect=ECONNREFUSED:nth=2:peer=127.0.0.0/8:port=80")
            .unwrap()
            .to_rules()
            .unwrap();
        assert_eq!(r[0].nth, 2);
        assert_eq!(r[0].error, libc::ECONNREFUSED);
        assert_eq!(r[0].prefix, 8);
        assert_eq!(r[0].port, 80);
        let r = parse_inject("recv*=104:p=0.5:seed=9")
            .unwrap()
            .to_rules()
            .unwrap();
        assert!(r[0].funcs.contains(Func::Recvfrom));
        assert_eq!(r[0].chance, 1 << 31);
        assert!(parse_inject("connect=EBOGUS")
            .unwrap_err()
            .contains("EBOGUS"));
        assert!(parse_inject("frobnicate")
            .unwrap_err()
            .contains("unknown preset"));
        assert!(
            parse_inject("getaddrinfo=ECONNREFUSED").is_err(),
            "getaddrinfo fails with EAI codes"
        );
        let d = parse_delay("@recv=10-20:after")
            .unwrap()
            .to_rules()
            .unwrap();
        assert_eq!((d[0].min_ns, d[0].max_ns), (10_000_000, 20_000_000));
        assert_ne!(d[0].flags & ACTION_AFTER, 0);
        let l = parse_limit("send=100k+recv=2m")
            .unwrap()
            .to_rules()
            .unwrap();
        assert_eq!(
            l.iter().map(|r| r.bytes_per_sec).collect::<Vec<_>>(),
            vec![100_000, 2_000_000]
        );
        assert!(parse_limit("send=fast").is_err());
    }
}
