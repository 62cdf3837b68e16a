//! `[[delay]]`, `[[fault]]` and `[[limit]]`: bending the traced program's
//! calls, and the command-line forms of the same (`--delay`, `--inject`,
//! `--limit`). Each section becomes one or more
//! [`sock_trace_event::ring::ActionRule`]s for the hooks.
//!
//! The filter keys (`peer`, `port`, `program`) are written out in each
//! section rather than shared through `#[serde(flatten)]`: a flattened
//! struct is deserialised from a buffered copy without positions, and its
//! errors pointed at the section header instead of the key.

use serde::{Deserialize, Serialize};
use sock_trace_event::func::Direction;
use sock_trace_event::ring::{
    ActionRule, ACTION_AFTER, ACTION_DELAY, ACTION_FAMILY, ACTION_FAULT, ACTION_LIMIT, ACTION_PEER,
    ACTION_PORT, ACTION_PROGRAM, ACTION_SHORT, MAX_ACTION_PROGRAM,
};
use sock_trace_event::{Family, Func, FuncMask};
use std::net::IpAddr;

/// An error in a rule and the key it is about, so that a message about a
/// file can point at that key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RuleError {
    pub key: Option<&'static str>,
    pub message: String,
}

fn at(key: &'static str) -> impl Fn(String) -> RuleError {
    move |message| RuleError {
        key: Some(key),
        message,
    }
}

fn general(message: impl Into<String>) -> RuleError {
    RuleError {
        key: None,
        message: message.into(),
    }
}

/// Declares a rule section: its own keys, then the filter keys every
/// section ends with (`peer`, `port`, `program`; written into each struct,
/// not flattened, see above), and the methods that read those.
macro_rules! rule_section {
    ($(#[$attr:meta])* pub struct $name:ident { $($keys:tt)* }) => {
        $(#[$attr])*
        pub struct $name {
            $($keys)*
            /// Peer address or network (`127.0.0.1`, `10.0.0.0/8`, `::1`, `[::1]`).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub peer: Option<String>,
            /// Peer port.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub port: Option<u16>,
            /// Program glob, as in `[[program]]`.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub program: Option<String>,
        }

        impl $name {
            pub fn to_rules(&self) -> Result<Vec<ActionRule>, String> {
                self.check().map_err(|e| e.message)
            }

            fn filter(&self) -> Filter<'_> {
                Filter {
                    peer: self.peer.as_deref(),
                    port: self.port,
                    program: self.program.as_deref(),
                }
            }

            /// A filter option of the command-line form (`peer=`, `port=`,
            /// `program=`); any other key is unknown in `spec`, whose
            /// options are `known`.
            fn filter_option(
                &mut self,
                key: &str,
                value: String,
                spec: &str,
                known: &str,
            ) -> Result<(), String> {
                match key {
                    "peer" => self.peer = Some(value),
                    "port" => self.port = Some(count(key, &value, "not a port (0 to 65535)")?),
                    "program" => self.program = Some(value),
                    _ => {
                        return Err(format!(
                            "unknown option `{}` in `{}` ({known})",
                            crate::shorten(key, 40),
                            shown(spec)
                        ))
                    }
                }
                Ok(())
            }
        }
    };
}

rule_section! {
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
    }
}

rule_section! {
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
    }
}

rule_section! {
    /// `[[limit]]`: pace transfers to a rate, per socket and direction.
    #[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct LimitRule {
        /// Bytes per second sent (`"100k"`, `"2m"`, or a number).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub send: Option<Rate>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub recv: Option<Rate>,
    }
}

/// Which calls a rule applies to, beyond their function.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Filter<'a> {
    pub peer: Option<&'a str>,
    pub port: Option<u16>,
    pub program: Option<&'a str>,
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
            Rate::Number(0) => Err("rate 0 must be positive".into()),
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
    let shown = crate::shorten(t, 40);
    let v: f64 = digits
        .trim()
        .parse()
        .map_err(|_| format!("`{shown}` is not a rate (bytes per second, e.g. 100k)"))?;
    let positive = v.is_finite() && v > 0.0;
    if !positive || v * mult as f64 >= u64::MAX as f64 {
        return Err(format!("rate `{shown}` must be a positive number"));
    }
    Ok(((v * mult as f64) as u64).max(1))
}

/// The functions `patterns` name: names, globs, or `@family`.
pub fn functions(patterns: &[String]) -> Result<FuncMask, String> {
    let mut mask = FuncMask::empty();
    for p in patterns {
        let p = p.trim();
        // The byte movers and the waits are columns of the function
        // table (family, blocking), not lists kept here.
        let family: Option<fn(&Func) -> bool> = match p {
            "@send" => Some(|f| f.direction() == Direction::Sends),
            "@recv" => Some(|f| f.direction() == Direction::Receives),
            "@connect" => Some(|f| *f == Func::Connect),
            "@accept" => Some(|f| matches!(f, Func::Accept | Func::Accept4)),
            "@poll" => Some(|f| f.family() == Family::Poll && f.may_block()),
            "@resolve" => Some(|f| {
                matches!(
                    f,
                    Func::Getaddrinfo | Func::Gethostbyname | Func::Gethostbyname2
                )
            }),
            _ if p.starts_with('@') => {
                return Err(format!(
                "unknown function family `{}` (@send, @recv, @connect, @accept, @poll, @resolve)",
                crate::shorten(p, 60)
            ))
            }
            _ => None,
        };
        if let Some(member) = family {
            Func::ALL
                .iter()
                .filter(|f| member(f))
                .for_each(|f| mask.insert(*f));
            continue;
        }
        let shown = crate::shorten(p, 60);
        let glob = globset::Glob::new(p)
            .map_err(|e| format!("`{shown}`: {}", e.kind()))?
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
                "`{shown}` names no function that delays and faults apply to ({})",
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

impl Filter<'_> {
    fn apply(&self, r: &mut ActionRule) -> Result<(), RuleError> {
        if let Some(peer) = self.peer {
            let (ip, prefix) = parse_peer(peer).map_err(at("peer"))?;
            match ip {
                IpAddr::V4(v4) => {
                    r.family = libc::AF_INET as u16;
                    r.addr[..4].copy_from_slice(&v4.octets());
                }
                IpAddr::V6(v6) => {
                    r.family = libc::AF_INET6 as u16;
                    r.addr.copy_from_slice(&v6.octets());
                }
            }
            r.prefix = prefix;
            r.flags |= ACTION_PEER;
        }
        if let Some(port) = self.port {
            r.port = port;
            r.flags |= ACTION_PORT;
        }
        if let Some(p) = self.program {
            if p.is_empty() || p.len() > MAX_ACTION_PROGRAM {
                return Err(at("program")(format!(
                    "program pattern `{}` needs 1 to {MAX_ACTION_PROGRAM} bytes",
                    crate::shorten(p, 80)
                )));
            }
            r.program[..p.len()].copy_from_slice(p.as_bytes());
            r.program_len = p.len() as u32;
            r.flags |= ACTION_PROGRAM;
        }
        Ok(())
    }
}

/// A peer address or network: `10.0.0.0/8`, `::1`, `[::1]`,
/// `[2001:db8::]/32`, `2001:db8::/32`, `fe80::1%eth0`. Returns the address
/// and the prefix length. A zone id is accepted and not compared: the
/// hooks match the address and prefix only.
pub fn parse_peer(peer: &str) -> Result<(IpAddr, u32), String> {
    let shown = crate::shorten(peer, 80);
    let text = peer.trim();
    let (addr, prefix) = match text.rsplit_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (text, None),
    };
    let (ip, _zone) = sock_trace_ipintel::parse_addr_zone(addr).ok_or_else(|| {
            format!("`{shown}` is not an address or network (10.0.0.0/8, ::1, [2001:db8::]/32, fe80::1%eth0)")
        })?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        None => max,
        Some(p) => {
            let n: u32 = p.trim().parse().map_err(|_| {
                format!(
                    "`{shown}`: `{}` is not a prefix length",
                    crate::shorten(p, 20)
                )
            })?;
            if n > max {
                return Err(format!(
                    "`{shown}`: prefix length {n} is more than {max}, the length of an {} address",
                    if ip.is_ipv4() { "IPv4" } else { "IPv6" }
                ));
            }
            n
        }
    };
    Ok((ip, prefix))
}

fn ms_to_ns(ms: f64) -> Result<u64, String> {
    if !(ms >= 0.0) || ms > 3_600_000.0 {
        return Err(format!("delay {ms} ms is out of range (0 to one hour)"));
    }
    Ok((ms * 1e6).round() as u64)
}

impl DelayRule {
    pub(crate) fn check(&self) -> Result<Vec<ActionRule>, RuleError> {
        let (min, max) = match (self.ms, self.min_ms, self.max_ms) {
            (Some(ms), None, None) => {
                let ns = ms_to_ns(ms).map_err(at("ms"))?;
                (ns, ns)
            }
            (None, Some(a), Some(b)) => {
                let (a, b) = (
                    ms_to_ns(a).map_err(at("min_ms"))?,
                    ms_to_ns(b).map_err(at("max_ms"))?,
                );
                if a > b {
                    return Err(at("min_ms")("min_ms is larger than max_ms".into()));
                }
                (a, b)
            }
            (Some(_), _, _) => {
                return Err(at("ms")(
                    "a delay needs either `ms` or both `min_ms` and `max_ms`, not both".into(),
                ))
            }
            _ => {
                return Err(general(
                    "a delay needs either `ms` or both `min_ms` and `max_ms`",
                ))
            }
        };
        let mut r = ActionRule {
            funcs: functions(&self.functions).map_err(at("functions"))?,
            kind: ACTION_DELAY,
            min_ns: min,
            max_ns: max,
            seed: 0x0de1_a7,
            ..ActionRule::default()
        };
        if self.after {
            r.flags |= ACTION_AFTER;
        }
        self.filter().apply(&mut r)?;
        Ok(vec![r])
    }
}

impl LimitRule {
    pub(crate) fn check(&self) -> Result<Vec<ActionRule>, RuleError> {
        let mut out = Vec::new();
        for (rate, funcs, key) in [(&self.send, "@send", "send"), (&self.recv, "@recv", "recv")] {
            if let Some(rate) = rate {
                let mut r = ActionRule {
                    funcs: functions(&[funcs.to_string()]).map_err(at(key))?,
                    kind: ACTION_LIMIT,
                    bytes_per_sec: rate.bytes_per_sec().map_err(at(key))?,
                    ..ActionRule::default()
                };
                self.filter().apply(&mut r)?;
                out.push(r);
            }
        }
        if out.is_empty() {
            return Err(general("a limit needs `send` or `recv` (bytes per second)"));
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

/// Largest errno the kernel returns (MAX_ERRNO).
const MAX_ERRNO: i32 = 4095;

/// (return value, error) of a failure named `name` in `space`.
fn failure(space: Space, name: &str) -> Result<(i64, i32), String> {
    let table: &[(i32, &str, &str)] = match space {
        Space::Errno => sock_trace_xlat::errno::ERRNO,
        Space::Eai => sock_trace_xlat::errno::EAI,
        Space::HErrno => sock_trace_xlat::errno::H_ERRNO,
    };
    let shown = crate::shorten(name.trim(), 40);
    let code = match name.trim().parse::<i64>() {
            Ok(n) => {
                let ok = match space {
                    Space::Errno => (1..=MAX_ERRNO as i64).contains(&n),
                    // Numbers of the other conventions must be codes that exist.
                    Space::Eai | Space::HErrno => table.iter().any(|(v, _, _)| *v as i64 == n),
                };
                if !ok {
                    return Err(match space {
                        Space::Errno => format!(
                            "`{shown}` is not an errno: a number from 1 to {MAX_ERRNO}, or a name (ECONNREFUSED ...)"
                        ),
                        Space::Eai => format!("`{shown}` is not an EAI_* code for getaddrinfo/getnameinfo"),
                        Space::HErrno => format!(
                            "`{shown}` is not an h_errno code for gethostby* (1 to 4, or HOST_NOT_FOUND, TRY_AGAIN, NO_RECOVERY, NO_DATA)"
                        ),
                    });
                }
                n as i32
            }
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
                    format!("`{shown}` is not {what}")
                })?,
        };
    Ok(match space {
        Space::Errno => (-1, code),
        // getaddrinfo returns the code itself; errno stays as it was.
        Space::Eai => (code as i64, 0),
        Space::HErrno => (0, code),
    })
}

/// A preset: what it fails, how, and how often when the rule says nothing
/// about how often.
struct Preset {
    functions: &'static [&'static str],
    /// errno-space error ("" when none).
    error: &'static str,
    /// EAI/h_errno error for the resolver functions.
    resolver: Option<&'static str>,
    short: bool,
    /// Default probability; `None`: every matching call.
    probability: Option<f64>,
}

const PRESETS: &str = "no-ipv6, dns-again, dns-nxdomain, refuse, reset, short-writes, eintr";

fn preset(name: &str) -> Result<Preset, String> {
    const RESOLVE: &[&str] = &["getaddrinfo", "gethostbyname", "gethostbyname2"];
    let p = |functions, error, resolver, short, probability| Preset {
        functions,
        error,
        resolver,
        short,
        probability,
    };
    Ok(match name {
        // Programs fall back to IPv4, give up, or write the rest: every call.
        "no-ipv6" => p(&["socket"], "EAFNOSUPPORT", None, false, None),
        "dns-again" | "dns-fail" => p(RESOLVE, "", Some("AGAIN"), false, None),
        "dns-nxdomain" => p(RESOLVE, "", Some("NONAME"), false, None),
        "refuse" => p(&["connect"], "ECONNREFUSED", None, false, None),
        "reset" => p(&["@recv"], "ECONNRESET", None, false, None),
        "short-writes" => p(&["@send"], "", None, true, None),
        // Programs retry an interrupted call at once: failing every call
        // would spin them forever (wget did, 20 s and 322 MB of trace).
        "eintr" => p(
            &["@send", "@recv", "@poll"],
            "EINTR",
            None,
            false,
            Some(0.1),
        ),
        _ => {
            return Err(format!(
                "unknown preset `{}` ({PRESETS})",
                crate::shorten(name, 40)
            ))
        }
    })
}

impl FaultRule {
    pub(crate) fn check(&self) -> Result<Vec<ActionRule>, RuleError> {
        let mut functions_list = self.functions.clone();
        let mut error = self.error.clone();
        let mut short = self.short;
        let mut resolver_error: Option<&str> = None;
        let mut family = self.family.clone();
        let mut probability = self.probability;
        if let Some(p) = &self.preset {
            let ps = preset(p).map_err(at("preset"))?;
            if functions_list.is_empty() {
                functions_list = ps.functions.iter().map(|s| s.to_string()).collect();
            }
            if error.is_none() && !ps.error.is_empty() {
                error = Some(ps.error.to_string());
            }
            resolver_error = ps.resolver;
            short |= ps.short;
            if p == "no-ipv6" && family.is_none() {
                family = Some("AF_INET6".into());
            }
            if self.nth.is_none() && self.every.is_none() && probability.is_none() {
                probability = ps.probability;
            }
        }
        if functions_list.is_empty() {
            return Err(general("a fault needs `functions` (or a `preset`)"));
        }
        if !short && error.is_none() && resolver_error.is_none() {
            return Err(general(
                "a fault needs `error` (or `short = true`, or a `preset`)",
            ));
        }
        let key_of_functions = if self.functions.is_empty() {
            "preset"
        } else {
            "functions"
        };
        let mask = functions(&functions_list).map_err(at(key_of_functions))?;
        if self.nth == Some(0) {
            return Err(at("nth")(
                "nth = 0: calls are counted from 1 (nth = 1 is the first call)".into(),
            ));
        }
        if self.every == Some(0) {
            return Err(at("every")(
                "every = 0 matches no call: every = 1 is every call, 2 every other one".into(),
            ));
        }
        let mut base = ActionRule {
            kind: if short { ACTION_SHORT } else { ACTION_FAULT },
            nth: self.nth.unwrap_or(0),
            every: self.every.unwrap_or(0),
            seed: self.seed.unwrap_or(1),
            ..ActionRule::default()
        };
        if let Some(p) = probability {
            if !(0.0..=1.0).contains(&p) {
                return Err(at("probability")(format!(
                    "probability {p} is not between 0 and 1"
                )));
            }
            if p == 0.0 {
                return Err(at("probability")(
                    "probability 0 matches no call (1 is every call)".into(),
                ));
            }
            // 1.0 means always: no draw at all.
            base.chance = if p >= 1.0 {
                0
            } else {
                ((p * 4_294_967_296.0) as u64).max(1) as u32
            };
        }
        if let Some(fam) = &family {
            let v = sock_trace_xlat::AF.value_of(fam.trim()).ok_or_else(|| {
                at("family")(format!(
                    "`{}` is not an address family",
                    crate::shorten(fam, 40)
                ))
            })?;
            base.family = v as u16;
            base.flags |= ACTION_FAMILY;
        }
        if family.is_some() && self.peer.is_some() {
            return Err(at("peer")(
                "`family` (for socket) and `peer` cannot be combined".into(),
            ));
        }
        self.filter().apply(&mut base)?;
        let error_key = if self.error.is_some() {
            "error"
        } else {
            "preset"
        };
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
                    _ => return Err(general("a fault needs `error`")),
                };
                (r.ret, r.error) = failure(space, &name).map_err(at(error_key))?;
            }
            out.push(r);
        }
        Ok(out)
    }
}

/// The options after the head of a command-line rule, `key=value` or a
/// bare word, separated by `:`. A `peer=` value may itself hold colons:
/// `peer=[::1]`, `peer=[2001:db8::]/32`, or unbracketed `peer=::1` and
/// `peer=2001:db8::/32` (its pieces run up to the next `key=` or flag).
fn options(rest: Option<&str>, flags: &[&str]) -> Vec<(String, String)> {
    let Some(rest) = rest else {
        return Vec::new();
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < parts.len() {
        let part = parts[i];
        i += 1;
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        let mut value = v.to_string();
        if k == "peer" {
            if value.starts_with('[') {
                while !value.contains(']') && i < parts.len() {
                    value.push(':');
                    value.push_str(parts[i]);
                    i += 1;
                }
            } else {
                while i < parts.len() && !parts[i].contains('=') && !flags.contains(&parts[i]) {
                    value.push(':');
                    value.push_str(parts[i]);
                    i += 1;
                }
            }
        }
        out.push((k.to_string(), value));
    }
    out
}

/// A command-line rule's head and what follows its first `:`.
fn head_and_options(spec: &str) -> (&str, Option<&str>) {
    match spec.split_once(':') {
        Some((h, r)) => (h, Some(r)),
        None => (spec, None),
    }
}

fn shown(spec: &str) -> String {
    crate::shorten(spec, 120)
}

/// A whole number option of a command-line rule.
fn count<T: std::str::FromStr>(key: &str, v: &str, what: &str) -> Result<T, String> {
    v.trim()
        .parse::<T>()
        .map_err(|_| format!("`{key}={}`: {what}", crate::shorten(v, 40)))
}

/// `--inject SPEC`: `PRESET[:OPTS]` or `FUNCS=ERROR[:OPTS]`, with OPTS
/// among `nth=N`, `every=N`, `p=0.25`, `seed=N`, `peer=NET`, `port=N`,
/// `program=GLOB`, `family=AF`, `short`. FUNCS is comma-free: `connect`,
/// `recv*`, `@send`, joined with `+`.
pub fn parse_inject(spec: &str) -> Result<FaultRule, String> {
    let (head, rest) = head_and_options(spec);
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
    for (k, v) in options(rest, &["short"]) {
        match k.as_str() {
            "nth" => rule.nth = Some(count(&k, &v, "not a call number (1, 2, ...)")?),
            "every" => rule.every = Some(count(&k, &v, "not a whole number (1, 2, ...)")?),
            "p" | "probability" => {
                rule.probability = Some(count(&k, &v, "not a probability (0 to 1)")?)
            }
            "seed" => rule.seed = Some(count(&k, &v, "not a whole number")?),
            "family" => rule.family = Some(v),
            "short" => rule.short = true,
            _ => rule.filter_option(
                &k,
                v,
                spec,
                "nth, every, p, seed, peer, port, program, family, short",
            )?,
        }
    }
    rule.to_rules()?;
    Ok(rule)
}

/// `--delay SPEC`: `FUNCS=MS[-MS][:after][:peer=NET][:port=N][:program=GLOB]`.
pub fn parse_delay(spec: &str) -> Result<DelayRule, String> {
    let (head, rest) = head_and_options(spec);
    let (funcs, ms) = head
        .split_once('=')
        .ok_or_else(|| format!("`{}`: expected FUNCS=MS or FUNCS=MIN-MAX", shown(spec)))?;
    let mut rule = DelayRule {
        functions: funcs.split('+').map(str::to_string).collect(),
        ..DelayRule::default()
    };
    let ms = ms.trim();
    let ms = ms.strip_suffix("ms").unwrap_or(ms);
    let num = |v: &str| {
        v.trim().parse::<f64>().map_err(|_| {
            format!(
                "`{}` is not a number of milliseconds",
                crate::shorten(v.trim(), 40)
            )
        })
    };
    // `-5` is one (negative) number; `10-50` a range. A `-` that starts
    // the value, or follows an exponent's `e`, is a sign.
    let dash = ms
        .char_indices()
        .skip(1)
        .find(|&(i, c)| c == '-' && !ms[..i].ends_with(['e', 'E']))
        .map(|(i, _)| i);
    match dash {
        Some(i) => {
            rule.min_ms = Some(num(&ms[..i])?);
            rule.max_ms = Some(num(&ms[i + 1..])?);
        }
        None => rule.ms = Some(num(ms)?),
    }
    for (k, v) in options(rest, &["after"]) {
        match k.as_str() {
            "after" => rule.after = true,
            _ => rule.filter_option(&k, v, spec, "after, peer, port, program")?,
        }
    }
    rule.to_rules()?;
    Ok(rule)
}

/// `--limit SPEC`: `send=RATE`, `recv=RATE`, or both (`send=100k,recv=1m`
/// as two flags or joined with `+`), with `:peer=`, `:port=`, `:program=`.
pub fn parse_limit(spec: &str) -> Result<LimitRule, String> {
    let (head, rest) = head_and_options(spec);
    let mut rule = LimitRule::default();
    for item in head.split('+') {
        match item.split_once('=') {
            Some(("send", v)) => rule.send = Some(Rate::Text(v.to_string())),
            Some(("recv", v)) => rule.recv = Some(Rate::Text(v.to_string())),
            _ => {
                return Err(format!(
                    "`{}`: expected send=RATE or recv=RATE",
                    crate::shorten(item, 60)
                ))
            }
        }
    }
    for (k, v) in options(rest, &[]) {
        rule.filter_option(&k, v, spec, "peer, port, program")?;
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

    #[test]
    fn ipv6_peers_on_the_command_line() {
        let peer = |spec: &str| {
            let r = parse_inject(spec).unwrap_or_else(|e| panic!("{spec}: {e}"));
            let a = r.to_rules().unwrap()[0];
            (
                std::net::Ipv6Addr::from(a.addr).to_string(),
                a.prefix,
                a.family,
                r.nth,
            )
        };
        let v6 = libc::AF_INET6 as u16;
        for (spec, addr, prefix) in [
            ("connect=ECONNREFUSED:peer=::1", "::1", 128),
            ("connect=ECONNREFUSED:peer=[::1]", "::1", 128),
            (
                "connect=ECONNREFUSED:peer=[2001:db8::]/32",
                "2001:db8::",
                32,
            ),
            ("connect=ECONNREFUSED:peer=2001:db8::/32", "2001:db8::", 32),
            ("connect=ECONNREFUSED:peer=fe80::1%lo", "fe80::1", 128),
            ("connect=ECONNREFUSED:peer=[fe80::1%2]/64", "fe80::1", 64),
        ] {
            let (a, p, f, _) = peer(spec);
            assert_eq!((a.as_str(), p, f), (addr, prefix, v6), "{spec}");
        }
        // Options after an unbracketed address still parse.
        let (a, p, _, nth) = peer("connect=ECONNREFUSED:peer=::1:nth=2");
        assert_eq!((a.as_str(), p, nth), ("::1", 128, Some(2)));
        let r = parse_inject("connect=ECONNREFUSED:peer=2001:db8::/48:port=443:short").unwrap();
        assert_eq!(
            (r.peer.as_deref(), r.port, r.short),
            (Some("2001:db8::/48"), Some(443), true)
        );
        let d = parse_delay("connect=5:peer=[::1]:after").unwrap();
        assert_eq!((d.peer.as_deref(), d.after), (Some("[::1]"), true));
        let l = parse_limit("recv=1m:peer=::1:port=80").unwrap();
        assert_eq!((l.peer.as_deref(), l.port), (Some("::1"), Some(80)));
        let e = parse_inject("connect=ECONNREFUSED:peer=::1:bogus=1").unwrap_err();
        assert!(e.contains("unknown option `bogus`"), "{e}");
    }

    #[test]
    fn nonsense_is_refused_naming_the_value() {
        for (spec, want) in [
            ("connect=0", "`0` is not an errno: a number from 1 to 4095"),
            ("connect=-1", "`-1` is not an errno"),
            ("connect=99999", "`99999` is not an errno"),
            (
                "connect=ECONNREFUSED:nth=0",
                "nth = 0: calls are counted from 1",
            ),
            ("connect=ECONNREFUSED:every=0", "every = 0 matches no call"),
            ("connect=ECONNREFUSED:nth=-3", "`nth=-3`: not a call number"),
            ("connect=ECONNREFUSED:nth=99999999999", "`nth=99999999999`"),
            (
                "connect=ECONNREFUSED:p=2",
                "probability 2 is not between 0 and 1",
            ),
            (
                "connect=ECONNREFUSED:peer=10.0.0.0/99",
                "`10.0.0.0/99`: prefix length 99 is more than 32",
            ),
            (
                "connect=ECONNREFUSED:peer=::1/200",
                "prefix length 200 is more than 128",
            ),
            (
                "connect=ECONNREFUSED:peer=10.0.0.0/x",
                "`x` is not a prefix length",
            ),
            (
                "connect=ECONNREFUSED:peer=example.com",
                "`example.com` is not an address",
            ),
            (
                "connect=ECONNREFUSED:port=70000",
                "`port=70000`: not a port",
            ),
            ("getaddrinfo=0", "`0` is not an EAI_* code"),
            ("gethostbyname=9", "`9` is not an h_errno code"),
        ] {
            let e = parse_inject(spec).unwrap_err();
            assert!(e.contains(want), "{spec}: {e}");
        }
        assert_eq!(
            parse_inject("connect=111").unwrap().to_rules().unwrap()[0].error,
            111
        );
        for (spec, want) in [
            ("send*=-5", "delay -5 ms is out of range"),
            ("send*=10--5", "delay -5 ms is out of range"),
            ("send*=abc", "`abc` is not a number of milliseconds"),
            ("send*=50-10", "min_ms is larger than max_ms"),
            ("send*=1e9", "out of range"),
        ] {
            let e = parse_delay(spec).unwrap_err();
            assert!(e.contains(want), "{spec}: {e}");
        }
        let d = parse_delay("send*=1e1-2e1").unwrap().to_rules().unwrap();
        assert_eq!((d[0].min_ns, d[0].max_ns), (10_000_000, 20_000_000));
        assert!(parse_limit("recv=0").unwrap_err().contains("positive"));
        let long = "x".repeat(100_000);
        let e = parse_inject(&format!("connect={long}")).unwrap_err();
        assert!(e.len() < 300, "{} bytes", e.len());
    }

    #[test]
    fn a_bare_eintr_fails_one_call_in_ten_other_presets_every_call() {
        let r = parse_inject("eintr").unwrap().to_rules().unwrap();
        assert!(r
            .iter()
            .all(|r| r.chance == (0.1f64 * 4_294_967_296.0) as u32));
        assert_eq!(r[0].error, libc::EINTR);
        // Saying how often replaces the default rate.
        let r = parse_inject("eintr:nth=3").unwrap().to_rules().unwrap();
        assert_eq!((r[0].chance, r[0].nth), (0, 3));
        let r = parse_inject("eintr:p=1").unwrap().to_rules().unwrap();
        assert_eq!(r[0].chance, 0);
        for p in [
            "refuse",
            "reset",
            "no-ipv6",
            "dns-again",
            "dns-nxdomain",
            "short-writes",
        ] {
            let r = parse_inject(p).unwrap().to_rules().unwrap();
            assert!(
                r.iter()
                    .all(|r| r.chance == 0 && r.nth == 0 && r.every == 0),
                "{p}"
            );
        }
    }
}
