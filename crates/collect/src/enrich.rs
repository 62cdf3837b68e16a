//! The enrich stage: what the collector adds to decoded events before the
//! sinks and printers see them: callers symbolised from the traced
//! process's module map (with the process's [`CallerProfile`]: depth, skip
//! list, path style), a protocol hint from the payload, and address
//! annotations.

use crate::settings::CallerProfile;
use foldhash::{HashMap, HashMapExt};
use sock_trace_decode::{AddrNote, CallerFrame, Event, LoadedModule, SockAddr, Value};
use sock_trace_symbolize as sym;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

pub struct Enrich {
    /// Address intelligence, opened at the first public address (loading
    /// databases costs up to a quarter second; most loopback traces never
    /// need it). `None` inside when annotation is off.
    intel: Option<Lazy>,
    symbolizer: sym::Symbolizer,
    /// Per process: how many module records the map was built from.
    maps: HashMap<u32, (usize, sym::ProcessMap)>,
    /// Per process: each distinct chain of return addresses, symbolised
    /// and cut by the process's caller settings. A busy program makes its
    /// calls from a few places; symbolising and building the frames' strings
    /// for every event cost more than the rest of the event.
    chains: HashMap<u32, Chains>,
    /// The note made for each address so far: building one (class,
    /// database answers) costs microseconds, and a trace names the same
    /// few addresses over and over.
    notes: HashMap<IpAddr, AddrNote>,
}

/// Distinct addresses whose notes are kept; past it the cache starts over
/// (a scan of many addresses must not grow the collector without bound).
const NOTE_CACHE: usize = 65_536;

impl Enrich {
    pub fn new(debug_dirs: Vec<PathBuf>, annotate: Option<sock_trace_ipintel::Sources>) -> Enrich {
        Enrich {
            intel: annotate.map(Lazy::Pending),
            symbolizer: sym::Symbolizer::new(sym::Options {
                debug_dirs,
                ..sym::Options::default()
            }),
            maps: HashMap::new(),
            chains: HashMap::new(),
            notes: HashMap::new(),
        }
    }

    /// Drops what is kept for a process that is gone.
    pub fn process_exited(&mut self, pid: u32) {
        self.maps.remove(&pid);
        self.chains.remove(&pid);
    }
}

/// The symbolised chains of one process, valid for one module map and one
/// caller profile: a new object or an exec starts them over.
struct Chains {
    modules: usize,
    profile: *const CallerProfile,
    frames: HashMap<Box<[u64]>, Arc<[CallerFrame]>>,
}

/// Distinct chains kept per process; past it they start over (a program
/// that calls from ever new places must not grow the collector).
const CHAIN_CACHE: usize = 4096;

/// The symbolizer's map of process `pid`, rebuilt when new module records
/// arrived.
fn map_of<'a>(
    maps: &'a mut HashMap<u32, (usize, sym::ProcessMap)>,
    pid: u32,
    modules: &[LoadedModule],
) -> &'a sym::ProcessMap {
    let stale = maps.get(&pid).is_none_or(|(n, _)| *n != modules.len());
    if stale {
        let mut map = sym::ProcessMap::new();
        for m in modules {
            map.add_module(sym::Module {
                path: PathBuf::from(String::from_utf8_lossy(&m.path).into_owned()),
                bias: m.bias,
                segments: m
                    .segments
                    .iter()
                    .map(|&(vaddr, memsz, offset, _)| sym::Segment {
                        vaddr,
                        memsz,
                        offset,
                    })
                    .collect(),
                build_id: m.build_id.clone(),
            });
        }
        maps.insert(pid, (modules.len(), map));
    }
    &maps[&pid].1
}

impl Enrich {
    /// Adds hint, annotations and caller frames to `ev`, a call of a
    /// process with caller settings `p` and module map `modules`.
    pub fn enrich(&mut self, ev: &mut Event, modules: &[LoadedModule], p: &CallerProfile) {
        ev.hint = protocol_hint(ev);
        if let Some(lazy) = &mut self.intel {
            let mut ips = Vec::new();
            for f in ev.args.iter().chain(ev.returned.iter()) {
                collect_ips(&f.value, &mut ips);
            }
            ips.dedup();
            let notes = &mut self.notes;
            ev.annotations = ips
                .into_iter()
                .map(|ip| {
                    if let Some(n) = notes.get(&ip) {
                        return n.clone();
                    }
                    if notes.len() >= NOTE_CACHE {
                        notes.clear();
                    }
                    notes.entry(ip).or_insert_with(|| lazy.note(ip)).clone()
                })
                .collect();
        }
        if ev.callers.is_empty() {
            return;
        }
        if p.depth == 0 {
            return;
        }
        let chains = self.chains.entry(ev.pid).or_insert_with(|| Chains {
            modules: usize::MAX,
            profile: std::ptr::null(),
            frames: HashMap::new(),
        });
        if chains.modules != modules.len() || !std::ptr::eq(chains.profile, p) {
            chains.modules = modules.len();
            chains.profile = p;
            chains.frames.clear();
        }
        if let Some(frames) = chains.frames.get(ev.callers.as_slice()) {
            ev.frames = frames.clone();
            return;
        }
        if chains.frames.len() >= CHAIN_CACHE {
            chains.frames.clear();
        }
        let map = map_of(&mut self.maps, ev.pid, modules);
        let frames = self.symbolizer.symbolize_stack(map, &ev.callers);
        // Skip frames in the listed objects and a Go program's standard
        // library (the system-call backend records its whole stack); if
        // every frame is skipped, the innermost stays (a line inside
        // libcurl beats no line at all).
        let mut kept: Vec<&sym::Frame> = frames
            .iter()
            .filter(|f| !f.go_std && (p.skip.is_empty() || !p.skip.matches(&f.module)))
            .collect();
        if kept.is_empty() {
            kept = frames.iter().take(1).collect();
        }
        let frames: Arc<[CallerFrame]> = kept
            .into_iter()
            .take(p.depth)
            .map(|f| caller_frame(f, &p.paths))
            .collect();
        chains
            .frames
            .insert(ev.callers.clone().into_boxed_slice(), frames.clone());
        ev.frames = frames;
    }
}

enum Lazy {
    Pending(sock_trace_ipintel::Sources),
    Ready(Box<sock_trace_ipintel::Intel>),
}

impl Lazy {
    fn note(&mut self, ip: IpAddr) -> AddrNote {
        use sock_trace_ipintel::{classify, AddressClass, Annotation, Intel};
        let c = classify(ip);
        let annotation = if c.class.looked_up() || c.class == AddressClass::Ipv4Mapped {
            if let Lazy::Pending(sources) = self {
                let intel = Intel::new(sources);
                for p in intel.problems() {
                    eprintln!(
                        "sock-trace: warning: {}: {}; ignored",
                        p.path.display(),
                        p.reason
                    );
                }
                *self = Lazy::Ready(Box::new(intel));
            }
            match self {
                Lazy::Ready(intel) => intel.lookup(ip),
                Lazy::Pending(_) => Annotation::bare(ip, c.class, c.detail),
            }
        } else {
            Annotation::bare(ip, c.class, c.detail)
        };
        annotation.to_note()
    }
}

/// Every IP address in a value, in order.
fn collect_ips(v: &Value, out: &mut Vec<IpAddr>) {
    match v {
        Value::Addr(SockAddr::V4 { ip, .. }) => out.push((*ip).into()),
        Value::Addr(SockAddr::V6 { ip, .. }) => out.push((*ip).into()),
        Value::Ip(ip) => out.push(*ip),
        Value::List(items) => items.iter().for_each(|i| collect_ips(i, out)),
        Value::Struct(fields) => fields.iter().for_each(|f| collect_ips(&f.value, out)),
        _ => {}
    }
}

/// A one-line reading of the captured payload (DNS, HTTP, TLS hello), for
/// IP sockets whose kind the decoder knows.
fn protocol_hint(ev: &Event) -> Option<String> {
    let data = ev.data.as_ref().filter(|d| !d.shown.is_empty())?;
    let socket = ev.socket.as_ref()?;
    let transport = match socket.ty {
        libc::SOCK_STREAM => sock_trace_proto::Transport::Tcp,
        libc::SOCK_DGRAM => sock_trace_proto::Transport::Udp,
        _ => return None,
    };
    if socket.domain != libc::AF_INET && socket.domain != libc::AF_INET6 {
        return None;
    }
    let port = |a: Option<&SockAddr>| match a {
        Some(SockAddr::V4 { port, .. }) | Some(SockAddr::V6 { port, .. }) => *port,
        _ => 0,
    };
    // An address passed with the call (sendto, recvfrom) wins over the
    // connected peer.
    let explicit = ev.core.peer.as_ref();
    let peer = port(explicit.or(socket.peer.as_ref()));
    sock_trace_proto::hint(
        transport,
        port(socket.local.as_ref()),
        peer,
        data.outgoing,
        &data.shown,
    )
}

/// The frame as printed: the most precise source line (inside inlined
/// code when there is some), attributed to the physical function with the
/// return address's offset into it.
fn caller_frame(f: &sym::Frame, style: &sym::PathStyle) -> CallerFrame {
    let (file, line, column) = f.location();
    let (function, offset) = match (&f.function, f.function_offset) {
        (Some(name), Some(off)) => (Some(name.clone()), off),
        _ => (None, f.module_offset),
    };
    CallerFrame {
        addr: f.addr,
        module: f.module.display().to_string(),
        function,
        offset,
        file: file.map(|p| style.apply(p)),
        line,
        column,
    }
}
