//! The sock-trace configuration: a TOML file, found by [`discover`], parsed
//! into [`Config`] with errors that name the file, line and column, then
//! overridden by command-line flags ([`Overrides`]).
//!
//! This crate knows nothing of clap or of the tracer's internals: the CLI
//! turns its flags into an `Overrides`, and passes the names of traceable
//! functions to [`FunctionFilter::unknown_patterns`]. Every section is its
//! own struct with `#[serde(default)]`, so later sections (per-program
//! rules, address intelligence, delays) slot in without touching the rest.
//! Reference documentation: `docs/CONFIG.md`; a commented default file:
//! [`DEFAULT_CONFIG`].

mod actions;
mod style;

pub use actions::{
    parse_delay, parse_inject, parse_limit, DelayRule, FaultRule, Filter, LimitRule, Rate,
};
pub use style::Style;

use serde::{Deserialize, Serialize};
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

/// The whole configuration.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub trace: TraceConfig,
    pub callers: CallerConfig,
    pub colors: ColorConfig,
    /// `[[program]]` sections, in file order.
    #[serde(rename = "program", skip_serializing_if = "Vec::is_empty")]
    pub programs: Vec<ProgramRule>,
    /// `[[delay]]`, `[[fault]]` and `[[limit]]` sections.
    #[serde(rename = "delay", skip_serializing_if = "Vec::is_empty")]
    pub delays: Vec<DelayRule>,
    #[serde(rename = "fault", skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<FaultRule>,
    #[serde(rename = "limit", skip_serializing_if = "Vec::is_empty")]
    pub limits: Vec<LimitRule>,
    pub annotate: AnnotateConfig,
    /// Address databases (see docs/CONFIG.md and the ipintel crate).
    pub databases: sock_trace_ipintel::Sources,
}

/// `[annotate]`: what trace lines say about the addresses in them.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnnotateConfig {
    /// Country and AS after public addresses (`8.8.8.8:53 [US AS15169 ...]`).
    pub enabled: bool,
    /// Also a detailed block under the call: city, position, network,
    /// registry, DROP listing, which database answered.
    pub detail: bool,
}

impl Default for AnnotateConfig {
    fn default() -> Self {
        AnnotateConfig {
            enabled: true,
            detail: false,
        }
    }
}

/// `[callers]`: which line of the program made each call.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct CallerConfig {
    /// Frames shown per call (0: none). The first is the call site of the
    /// socket function itself; deeper frames need frame pointers.
    pub depth: u32,
    /// Module name globs (`libcurl.so*`) whose frames are passed over, so a
    /// call is attributed to the first frame outside them.
    pub skip: Vec<String>,
    /// How source paths are shown.
    pub paths: PathStyle,
    /// Where separate debug files are looked for, by build-id
    /// (`<dir>/.build-id/xx/yyyy.debug`) and by debug link.
    pub debug_dirs: Vec<PathBuf>,
}

impl Default for CallerConfig {
    fn default() -> Self {
        CallerConfig {
            depth: 1,
            skip: Vec::new(),
            paths: PathStyle::Relative,
            debug_dirs: vec![PathBuf::from("/usr/lib/debug")],
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PathStyle {
    /// As recorded in the debug information.
    Full,
    /// Relative to the working directory when below it, else full.
    #[default]
    Relative,
    /// File name only.
    Basename,
}

/// `[[program]]`: settings for the processes whose executable matches
/// `match` (a glob over the base name, or over the whole path when it
/// contains `/`). Precedence, lowest first: defaults, the `[trace]` and
/// `[callers]` sections, command-line flags, then every matching section in
/// file order (each key takes the value of the last matching section that
/// sets it; `include` and `exclude` count as one key: a section that sets
/// either replaces the function selection).
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProgramRule {
    #[serde(rename = "match")]
    pub pattern: String,
    /// `false` leaves the program untraced (its children are matched anew).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_data: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_depth: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_skip: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_paths: Option<PathStyle>,
    /// Where this program's lines go (another file than the main trace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Output>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<Format>,
}

/// Most `[[program]]` sections (the trace area carries them to every
/// traced process in a fixed-size table).
pub const MAX_PROGRAM_RULES: usize = 14;
/// Longest `match` pattern, bytes.
pub const MAX_PROGRAM_PATTERN: usize = 112;

/// `[trace]`: what to trace and how lines look.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct TraceConfig {
    pub output: Output,
    pub format: Format,
    pub color: ColorMode,
    pub timestamps: TimestampMode,
    pub show_pid: ShowPid,
    pub show_duration: bool,
    pub follow: bool,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub max_string: usize,
    pub max_data: usize,
    /// Print a per-process summary when the program ends.
    pub summary: bool,
    /// Show captured payload as hex dumps under the calls.
    pub dump_data: bool,
    /// Write the traffic of traced sockets as a pcapng file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pcap: Option<PathBuf>,
}

/// Payload bytes a hex dump captures per call when `max_data` is not set.
pub const DEFAULT_DUMP_BYTES: usize = 256;
/// Payload bytes per call with a packet capture: the most a record holds.
pub const PCAP_DATA_BYTES: usize = 60 * 1024;

impl TraceConfig {
    /// Payload bytes to capture per call, as the output needs them.
    pub fn capture_bytes(&self) -> usize {
        let mut n = self.max_data;
        if self.dump_data && n == 0 {
            n = DEFAULT_DUMP_BYTES;
        }
        if self.pcap.is_some() {
            n = PCAP_DATA_BYTES;
        }
        n
    }
}

impl Default for TraceConfig {
    fn default() -> Self {
        TraceConfig {
            output: Output::Stderr,
            format: Format::Text,
            color: ColorMode::Auto,
            timestamps: TimestampMode::None,
            show_pid: ShowPid::Auto,
            show_duration: true,
            follow: true,
            include: vec!["*".into()],
            exclude: vec!["hton*".into(), "ntoh*".into(), "inet_*".into()],
            max_string: 64,
            max_data: 0,
            summary: false,
            dump_data: false,
            pcap: None,
        }
    }
}

/// Where the trace goes: `"stderr"`, `"stdout"` or a file path.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Output {
    #[default]
    Stderr,
    Stdout,
    File(PathBuf),
}

impl Serialize for Output {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Output::Stderr => s.serialize_str("stderr"),
            Output::Stdout => s.serialize_str("stdout"),
            Output::File(p) => s.serialize_str(&p.to_string_lossy()),
        }
    }
}

impl<'de> Deserialize<'de> for Output {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(match s.as_str() {
            "stderr" => Output::Stderr,
            "stdout" | "-" => Output::Stdout,
            "" => {
                return Err(serde::de::Error::custom(
                    "output must be \"stderr\", \"stdout\" or a file path",
                ))
            }
            _ => Output::File(PathBuf::from(s)),
        })
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    #[default]
    Text,
    Jsonl,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ColorMode {
    #[default]
    Auto,
    Always,
    Never,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TimestampMode {
    #[default]
    None,
    Absolute,
    Relative,
    Delta,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ShowPid {
    #[default]
    Auto,
    Always,
    Never,
}

/// `[colors]`: one style per element of a line.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ColorConfig {
    pub function: Style,
    pub fd: Style,
    pub address: Style,
    pub constant: Style,
    pub string: Style,
    pub number: Style,
    pub error: Style,
    pub timestamp: Style,
    pub pid: Style,
    pub duration: Style,
    pub notice: Style,
    pub caller: Style,
}

impl Default for ColorConfig {
    fn default() -> Self {
        let s = |t: &str| Style::parse(t).unwrap_or_default();
        ColorConfig {
            function: s("bold"),
            fd: s("cyan"),
            address: s("green"),
            constant: s("yellow"),
            string: s("magenta"),
            number: s("none"),
            error: s("bold red"),
            timestamp: s("dim"),
            pid: s("blue"),
            duration: s("dim"),
            notice: s("italic"),
            caller: s("blue italic"),
        }
    }
}

/// Command-line overrides; `None` keeps the configured value.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Overrides {
    pub output: Option<Output>,
    pub format: Option<Format>,
    pub color: Option<ColorMode>,
    pub timestamps: Option<TimestampMode>,
    pub show_pid: Option<ShowPid>,
    pub show_duration: Option<bool>,
    pub follow: Option<bool>,
    /// Replaces the include list (`-e`).
    pub include: Option<Vec<String>>,
    /// Appended to the exclude list (`-x`).
    pub exclude: Vec<String>,
    pub max_string: Option<usize>,
    pub max_data: Option<usize>,
    pub caller_depth: Option<u32>,
    /// Appended to the caller skip list.
    pub caller_skip: Vec<String>,
    pub caller_paths: Option<PathStyle>,
    pub summary: Option<bool>,
    pub dump_data: Option<bool>,
    pub pcap: Option<PathBuf>,
    pub annotate: Option<bool>,
    pub annotate_detail: Option<bool>,
    /// Added to the configured delays, faults and limits.
    pub delays: Vec<DelayRule>,
    pub faults: Vec<FaultRule>,
    pub limits: Vec<LimitRule>,
}

/// What a set of `[[program]]` sections changes, as a merged view.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProgramSettings {
    /// Indices of the sections that matched, in order.
    pub matched: Vec<usize>,
    pub enabled: bool,
}

impl Config {
    /// Every delay, fault and limit as the hooks read them, in order:
    /// delays, then faults, then limits.
    pub fn action_rules(&self) -> Result<Vec<sock_trace_event::ring::ActionRule>, String> {
        let mut out = Vec::new();
        for (i, d) in self.delays.iter().enumerate() {
            out.extend(
                d.to_rules()
                    .map_err(|e| format!("[[delay]] #{}: {e}", i + 1))?,
            );
        }
        for (i, f) in self.faults.iter().enumerate() {
            out.extend(
                f.to_rules()
                    .map_err(|e| format!("[[fault]] #{}: {e}", i + 1))?,
            );
        }
        for (i, l) in self.limits.iter().enumerate() {
            out.extend(
                l.to_rules()
                    .map_err(|e| format!("[[limit]] #{}: {e}", i + 1))?,
            );
        }
        let max = sock_trace_event::ring::MAX_ACTIONS;
        if out.len() > max {
            return Err(format!(
                "{} delay, fault and limit rules; at most {max} are supported",
                out.len()
            ));
        }
        Ok(out)
    }

    /// The configuration for the executable at `exe`: this one with the
    /// command-line `overrides`, then every matching `[[program]]` section
    /// applied in order (a section is more specific than a flag).
    pub fn for_program(
        &self,
        exe: &[u8],
        argv0: &[u8],
        overrides: &Overrides,
    ) -> (Config, ProgramSettings) {
        let mut c = self.clone();
        c.apply(overrides);
        let mut ps = ProgramSettings {
            matched: Vec::new(),
            enabled: true,
        };
        for (i, r) in self.programs.iter().enumerate() {
            if sock_trace_event::program::program_matches(r.pattern.as_bytes(), exe, argv0) {
                ps.matched.push(i);
                c.apply_rule(r);
                if let Some(e) = r.enabled {
                    ps.enabled = e;
                }
            }
        }
        (c, ps)
    }

    /// This configuration with one `[[program]]` section applied.
    pub fn apply_rule(&mut self, r: &ProgramRule) {
        if r.include.is_some() || r.exclude.is_some() {
            let base = self.clone();
            self.trace.include = r.include.clone().unwrap_or(base.trace.include);
            self.trace.exclude = r.exclude.clone().unwrap_or(base.trace.exclude);
        }
        if let Some(v) = r.max_data {
            self.trace.max_data = v;
        }
        if let Some(v) = r.caller_depth {
            self.callers.depth = v;
        }
        if let Some(v) = &r.caller_skip {
            self.callers.skip = v.clone();
        }
        if let Some(v) = r.caller_paths {
            self.callers.paths = v;
        }
        if let Some(v) = &r.output {
            self.trace.output = v.clone();
        }
        if let Some(v) = r.format {
            self.trace.format = v;
        }
    }

    /// Parses a file. Errors name the file, line and column.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            kind: ErrorKind::Io {
                path: path.to_path_buf(),
                message: e.to_string(),
            },
        })?;
        Config::from_str_named(&text, &path.display().to_string())
    }

    /// Parses text; `name` is used in error messages.
    pub fn from_str_named(text: &str, name: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((0, 0));
            ConfigError {
                kind: ErrorKind::Parse {
                    file: name.to_string(),
                    line,
                    column,
                    message: e.message().to_string(),
                },
            }
        })?;
        // Patterns are checked here too, so a bad glob is reported at load.
        let named = |mut e: ConfigError| {
            if let ErrorKind::Pattern { file, .. } = &mut e.kind {
                *file = Some(name.to_string());
            }
            e
        };
        FunctionFilter::new(&config.trace.include, &config.trace.exclude).map_err(named)?;
        for r in &config.programs {
            let mut c = config.clone();
            c.apply_rule(r);
            FunctionFilter::new(&c.trace.include, &c.trace.exclude).map_err(named)?;
            ModuleFilter::new(&c.callers.skip).map_err(named)?;
        }
        ModuleFilter::new(&config.callers.skip).map_err(named)?;
        // The place of the n-th `[[program]]` header, for messages.
        let section_at = |n: usize| {
            text.match_indices("[[program]]")
                .nth(n)
                .map(|(at, _)| line_col(text, at))
                .unwrap_or((0, 0))
        };
        let invalid = |(line, column): (usize, usize), message: String| ConfigError {
            kind: ErrorKind::Invalid {
                file: name.to_string(),
                line,
                column,
                message,
            },
        };
        // Delays, faults and limits: reported at their section.
        for (kind, n, result) in config
            .delays
            .iter()
            .map(|d| ("[[delay]]", d.to_rules()))
            .chain(config.faults.iter().map(|f| ("[[fault]]", f.to_rules())))
            .chain(config.limits.iter().map(|l| ("[[limit]]", l.to_rules())))
            .scan(
                std::collections::HashMap::<&str, usize>::new(),
                |seen, (kind, r)| {
                    let n = seen.entry(kind).or_default();
                    *n += 1;
                    Some((kind, *n - 1, r))
                },
            )
        {
            if let Err(message) = result {
                let at = text
                    .match_indices(kind)
                    .nth(n)
                    .map(|(at, _)| line_col(text, at))
                    .unwrap_or((0, 0));
                return Err(invalid(at, format!("{kind}: {message}")));
            }
        }
        if let Err(message) = config.action_rules() {
            return Err(invalid((0, 0), message));
        }
        if config.programs.len() > MAX_PROGRAM_RULES {
            return Err(invalid(
                section_at(MAX_PROGRAM_RULES),
                format!(
                    "{} [[program]] sections; at most {MAX_PROGRAM_RULES} are supported",
                    config.programs.len()
                ),
            ));
        }
        for (i, r) in config.programs.iter().enumerate() {
            if r.pattern.is_empty() || r.pattern.len() > MAX_PROGRAM_PATTERN {
                return Err(invalid(
                    section_at(i),
                    format!(
                    "[[program]] match = {:?}: a pattern needs 1 to {MAX_PROGRAM_PATTERN} bytes",
                    r.pattern
                ),
                ));
            }
        }
        Ok(config)
    }

    pub fn apply(&mut self, o: &Overrides) {
        let t = &mut self.trace;
        if let Some(v) = &o.output {
            t.output = v.clone();
        }
        if let Some(v) = o.format {
            t.format = v;
        }
        if let Some(v) = o.color {
            t.color = v;
        }
        if let Some(v) = o.timestamps {
            t.timestamps = v;
        }
        if let Some(v) = o.show_pid {
            t.show_pid = v;
        }
        if let Some(v) = o.show_duration {
            t.show_duration = v;
        }
        if let Some(v) = o.follow {
            t.follow = v;
        }
        if let Some(v) = &o.include {
            t.include = v.clone();
        }
        t.exclude.extend(o.exclude.iter().cloned());
        if let Some(v) = o.max_string {
            t.max_string = v;
        }
        if let Some(v) = o.max_data {
            t.max_data = v;
        }
        if let Some(v) = o.caller_depth {
            self.callers.depth = v;
        }
        self.callers.skip.extend(o.caller_skip.iter().cloned());
        if let Some(v) = o.caller_paths {
            self.callers.paths = v;
        }
        if let Some(v) = o.summary {
            self.trace.summary = v;
        }
        if let Some(v) = o.dump_data {
            self.trace.dump_data = v;
        }
        if let Some(v) = &o.pcap {
            self.trace.pcap = Some(v.clone());
        }
        if let Some(v) = o.annotate {
            self.annotate.enabled = v;
        }
        if let Some(v) = o.annotate_detail {
            self.annotate.detail = v;
        }
        self.delays.extend(o.delays.iter().cloned());
        self.faults.extend(o.faults.iter().cloned());
        self.limits.extend(o.limits.iter().cloned());
    }

    /// The effective configuration as TOML.
    pub fn to_toml_string(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(offset, |nl| offset - nl - 1) + 1;
    (line, col)
}

/// Finds the configuration file: `explicit`, then `$SOCK_TRACE_CONFIG`,
/// `./sock-trace.toml`, `$XDG_CONFIG_HOME/sock-trace/config.toml` (default
/// `$HOME/.config`), `/etc/sock-trace/config.toml`. An explicit path or
/// variable that names a missing file is an error; the rest are optional.
pub fn discover(
    explicit: Option<&Path>,
    env: &dyn Fn(&str) -> Option<OsString>,
    cwd: &Path,
) -> Result<Option<PathBuf>, ConfigError> {
    if let Some(p) = explicit {
        return if p.is_file() {
            Ok(Some(p.to_path_buf()))
        } else {
            Err(ConfigError {
                kind: ErrorKind::Missing {
                    path: p.to_path_buf(),
                    origin: "--config",
                },
            })
        };
    }
    if let Some(p) = env("SOCK_TRACE_CONFIG").filter(|v| !v.is_empty()) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(Some(p))
        } else {
            Err(ConfigError {
                kind: ErrorKind::Missing {
                    path: p,
                    origin: "$SOCK_TRACE_CONFIG",
                },
            })
        };
    }
    let mut candidates = vec![cwd.join("sock-trace.toml")];
    let xdg = env("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            env("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".config"))
        });
    if let Some(x) = xdg {
        candidates.push(x.join("sock-trace/config.toml"));
    }
    candidates.push(PathBuf::from("/etc/sock-trace/config.toml"));
    Ok(candidates.into_iter().find(|p| p.is_file()))
}

/// Whether to emit colour. Precedence: an explicit `--color` flag, then
/// `CLICOLOR_FORCE` (set, not "0": always), then `NO_COLOR` (set, non-empty:
/// never), then the configured mode (`auto`: only on a terminal).
pub fn resolve_color(
    flag: Option<ColorMode>,
    configured: ColorMode,
    is_terminal: bool,
    env: &dyn Fn(&str) -> Option<OsString>,
) -> bool {
    let mode = match flag {
        Some(m) => m,
        None => {
            if env("CLICOLOR_FORCE").is_some_and(|v| !v.is_empty() && v != "0") {
                ColorMode::Always
            } else if env("NO_COLOR").is_some_and(|v| !v.is_empty()) {
                ColorMode::Never
            } else {
                configured
            }
        }
    };
    match mode {
        ColorMode::Always => true,
        ColorMode::Never => false,
        ColorMode::Auto => is_terminal,
    }
}

/// Function selection from include and exclude patterns: exact names or
/// globs (`*`, `?`, `[...]`) matched against the whole name. Unlike
/// wsock-trace's prefix match, excluding `recv` does not hide `recvfrom`.
#[derive(Clone, Debug)]
pub struct FunctionFilter {
    include: globset::GlobSet,
    exclude: globset::GlobSet,
    patterns: Vec<String>,
}

impl FunctionFilter {
    pub fn new(include: &[String], exclude: &[String]) -> Result<FunctionFilter, ConfigError> {
        let build = |pats: &[String]| {
            let mut b = globset::GlobSetBuilder::new();
            for p in pats {
                let g = globset::GlobBuilder::new(p.trim())
                    .literal_separator(true)
                    .build()
                    .map_err(|e| ConfigError {
                        kind: ErrorKind::Pattern {
                            file: None,
                            pattern: p.clone(),
                            message: e.kind().to_string(),
                        },
                    })?;
                b.add(g);
            }
            b.build().map_err(|e| ConfigError {
                kind: ErrorKind::Pattern {
                    file: None,
                    pattern: String::new(),
                    message: e.to_string(),
                },
            })
        };
        Ok(FunctionFilter {
            include: build(include)?,
            exclude: build(exclude)?,
            patterns: include.iter().chain(exclude).cloned().collect(),
        })
    }

    pub fn matches(&self, name: &str) -> bool {
        self.include.is_match(name) && !self.exclude.is_match(name)
    }

    /// Patterns that match none of `known` (typos such as `conect`).
    pub fn unknown_patterns(&self, known: &[&str]) -> Vec<String> {
        self.patterns
            .iter()
            .filter(|p| {
                let Ok(g) = globset::Glob::new(p.trim()) else {
                    return true;
                };
                let m = g.compile_matcher();
                !known.iter().any(|k| m.is_match(k))
            })
            .cloned()
            .collect()
    }
}

/// A configuration error: what went wrong and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub kind: ErrorKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    Io {
        path: PathBuf,
        message: String,
    },
    Missing {
        path: PathBuf,
        origin: &'static str,
    },
    Parse {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    Pattern {
        file: Option<String>,
        pattern: String,
        message: String,
    },
    /// Parses, but a value is out of range; `line`/`column` are 0 when the
    /// place cannot be told.
    Invalid {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ErrorKind::Io { path, message } => write!(f, "{}: {message}", path.display()),
            ErrorKind::Invalid {
                file,
                line,
                column,
                message,
            } => {
                if *line > 0 {
                    write!(f, "{file}:{line}:{column}: {message}")
                } else {
                    write!(f, "{file}: {message}")
                }
            }
            ErrorKind::Missing { path, origin } => write!(
                f,
                "{}: no such configuration file (named by {origin})",
                path.display()
            ),
            ErrorKind::Parse {
                file,
                line,
                column,
                message,
            } => {
                write!(f, "{file}:{line}:{column}: {}", message.trim_end())
            }
            ErrorKind::Pattern {
                file,
                pattern,
                message,
            } => match file {
                Some(file) => write!(f, "{file}: bad function pattern `{pattern}`: {message}"),
                None => write!(f, "bad function pattern `{pattern}`: {message}"),
            },
        }
    }
}

impl std::error::Error for ConfigError {}

/// A fully commented default configuration (`sock-trace config --default`).
pub const DEFAULT_CONFIG: &str = include_str!("default.toml");

#[cfg(test)]
mod tests;

/// Module-name globs for `[callers] skip`: matched against the file name
/// of an object (`libcurl.so.4`), or its whole path when the pattern has a
/// `/`.
#[derive(Clone, Debug)]
pub struct ModuleFilter {
    set: globset::GlobSet,
    any_path: bool,
}

impl ModuleFilter {
    pub fn new(patterns: &[String]) -> Result<ModuleFilter, ConfigError> {
        let mut b = globset::GlobSetBuilder::new();
        for p in patterns {
            let g = globset::Glob::new(p.trim()).map_err(|e| ConfigError {
                kind: ErrorKind::Pattern {
                    file: None,
                    pattern: p.clone(),
                    message: e.kind().to_string(),
                },
            })?;
            b.add(g);
        }
        let set = b.build().map_err(|e| ConfigError {
            kind: ErrorKind::Pattern {
                file: None,
                pattern: String::new(),
                message: e.to_string(),
            },
        })?;
        Ok(ModuleFilter {
            set,
            any_path: patterns.iter().any(|p| p.contains('/')),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    pub fn matches(&self, module_path: &Path) -> bool {
        let name = module_path
            .file_name()
            .map(Path::new)
            .unwrap_or(module_path);
        self.set.is_match(name) || (self.any_path && self.set.is_match(module_path))
    }
}
