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
mod spans;
mod style;

pub use actions::{
    parse_delay, parse_inject, parse_limit, parse_peer, DelayRule, FaultRule, Filter, LimitRule,
    Rate,
};
/// Declared once, by the printers that act on them.
pub use sock_trace_print::{Choice, ColorMode, Format, PathStyle, ShowPid, TimestampMode};
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
        if let Some(v) = &r.include {
            self.trace.include = v.clone();
        }
        if let Some(v) = &r.exclude {
            self.trace.exclude = v.clone();
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

    /// Parses a file. Errors name the file, line and column; an unknown
    /// key is an error too (see [`Config::load_lenient`]).
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Config::from_str_named(&read_config(path)?, &path.display().to_string())
    }

    /// Parses a file, keeping every valid key: each unknown key is left
    /// out and named in a warning (`file:line:col: unknown key ...`).
    /// Any other error (a bad value, bad syntax) fails the whole file.
    pub fn load_lenient(path: &Path) -> Result<(Config, Vec<String>), ConfigError> {
        Config::from_str_lenient(&read_config(path)?, &path.display().to_string())
    }

    /// Parses text; `name` is used in error messages. Unknown keys are errors.
    pub fn from_str_named(text: &str, name: &str) -> Result<Config, ConfigError> {
        Config::parse_text(text, name, false).map(|(c, _)| c)
    }

    /// As [`Config::load_lenient`], from text.
    pub fn from_str_lenient(text: &str, name: &str) -> Result<(Config, Vec<String>), ConfigError> {
        Config::parse_text(text, name, true)
    }

    fn parse_text(
        text: &str,
        name: &str,
        skip_unknown: bool,
    ) -> Result<(Config, Vec<String>), ConfigError> {
        let file = shorten(name, MAX_ECHO);
        let parse_error = |text: &str, e: toml::de::Error| {
            let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((0, 0));
            ConfigError {
                kind: ErrorKind::Parse {
                    file: file.clone(),
                    line,
                    column,
                    message: shorten(e.message(), MAX_MESSAGE),
                },
            }
        };
        // Unknown keys: each is blanked out of a copy of the text (so
        // that every position stays the same) and the copy parsed again.
        let mut work = std::borrow::Cow::Borrowed(text);
        let mut warnings = Vec::new();
        let config: Config = loop {
            let e = match toml::from_str(&work) {
                Ok(c) => break c,
                Err(e) => e,
            };
            let unknown = e.message().starts_with("unknown field `");
            let span = e.span();
            let blanked = match (
                skip_unknown && unknown && warnings.len() < MAX_UNKNOWN_KEYS,
                span.clone(),
            ) {
                (true, Some(span)) => spans::Doc::parse(&work)
                    .and_then(|d| d.entry_at(span.start))
                    .map(|ranges| spans::blank(&work, &ranges)),
                _ => None,
            };
            let Some(blanked) = blanked else {
                return Err(parse_error(&work, e));
            };
            let (line, column) = line_col(&work, span.map_or(0, |s| s.start));
            let message = e.message().replacen("unknown field", "unknown key", 1);
            warnings.push(format!(
                "{file}:{line}:{column}: {}; ignored",
                shorten(message.trim_end(), MAX_MESSAGE)
            ));
            work = std::borrow::Cow::Owned(blanked);
        };
        let text: &str = &work;
        let invalid = |(line, column): (usize, usize), message: String| ConfigError {
            kind: ErrorKind::Invalid {
                file: file.clone(),
                line,
                column,
                message: shorten(&message, MAX_MESSAGE),
            },
        };
        // The place of the n-th `[[program]]` header, for messages.
        let section_at = |n: usize| {
            text.match_indices("[[program]]")
                .nth(n)
                .map(|(at, _)| line_col(text, at))
                .unwrap_or((0, 0))
        };
        // Checked first: everything below is per section.
        if config.programs.len() > MAX_PROGRAM_RULES {
            return Err(invalid(
                section_at(MAX_PROGRAM_RULES),
                format!(
                    "{} [[program]] sections; at most {MAX_PROGRAM_RULES} are supported",
                    config.programs.len()
                ),
            ));
        }
        // Patterns are checked here too, so a bad glob is reported at load.
        let named = |mut e: ConfigError| {
            if let ErrorKind::Pattern { file: f, .. } = &mut e.kind {
                *f = Some(file.clone());
            }
            e
        };
        FunctionFilter::new(&config.trace.include, &config.trace.exclude).map_err(named)?;
        ModuleFilter::new(&config.callers.skip).map_err(named)?;
        for r in &config.programs {
            let include = r.include.as_ref().unwrap_or(&config.trace.include);
            let exclude = r.exclude.as_ref().unwrap_or(&config.trace.exclude);
            FunctionFilter::new(include, exclude).map_err(named)?;
            if let Some(skip) = &r.caller_skip {
                ModuleFilter::new(skip).map_err(named)?;
            }
        }
        // Delays, faults and limits: reported at the key that is wrong
        // (or the section's header when no key is).
        let doc = std::cell::OnceCell::new();
        let place = |section: &str, n: usize, key: Option<&str>| {
            doc.get_or_init(|| spans::Doc::parse(text))
                .as_ref()
                .and_then(|d| d.section_key(section, n, key))
                .or_else(|| {
                    text.match_indices(&format!("[[{section}]]"))
                        .nth(n)
                        .map(|(at, _)| at)
                })
                .map(|at| line_col(text, at))
                .unwrap_or((0, 0))
        };
        let checks = config
            .delays
            .iter()
            .enumerate()
            .map(|(n, d)| ("delay", n, d.check()))
            .chain(
                config
                    .faults
                    .iter()
                    .enumerate()
                    .map(|(n, f)| ("fault", n, f.check())),
            )
            .chain(
                config
                    .limits
                    .iter()
                    .enumerate()
                    .map(|(n, l)| ("limit", n, l.check())),
            );
        for (section, n, result) in checks {
            if let Err(e) = result {
                return Err(invalid(
                    place(section, n, e.key),
                    format!("[[{section}]]: {}", e.message),
                ));
            }
        }
        if let Err(message) = config.action_rules() {
            return Err(invalid((0, 0), message));
        }
        for (i, r) in config.programs.iter().enumerate() {
            if r.pattern.is_empty() || r.pattern.len() > MAX_PROGRAM_PATTERN {
                return Err(invalid(
                    place("program", i, Some("match")),
                    format!(
                        "[[program]] match = {:?}: a pattern needs 1 to {MAX_PROGRAM_PATTERN} bytes",
                        shorten(&r.pattern, 40)
                    ),
                ));
            }
        }
        Ok((config, warnings))
    }

    pub fn apply(&mut self, o: &Overrides) {
        /// The override, when the command line gave one.
        fn set<T: Clone>(slot: &mut T, v: &Option<T>) {
            if let Some(v) = v {
                *slot = v.clone();
            }
        }
        let t = &mut self.trace;
        set(&mut t.output, &o.output);
        set(&mut t.format, &o.format);
        set(&mut t.color, &o.color);
        set(&mut t.timestamps, &o.timestamps);
        set(&mut t.show_pid, &o.show_pid);
        set(&mut t.show_duration, &o.show_duration);
        set(&mut t.follow, &o.follow);
        set(&mut t.include, &o.include);
        t.exclude.extend(o.exclude.iter().cloned());
        set(&mut t.max_string, &o.max_string);
        set(&mut t.max_data, &o.max_data);
        set(&mut t.summary, &o.summary);
        set(&mut t.dump_data, &o.dump_data);
        if o.pcap.is_some() {
            t.pcap.clone_from(&o.pcap);
        }
        set(&mut self.callers.depth, &o.caller_depth);
        self.callers.skip.extend(o.caller_skip.iter().cloned());
        set(&mut self.callers.paths, &o.caller_paths);
        set(&mut self.annotate.enabled, &o.annotate);
        set(&mut self.annotate.detail, &o.annotate_detail);
        self.delays.extend(o.delays.iter().cloned());
        self.faults.extend(o.faults.iter().cloned());
        self.limits.extend(o.limits.iter().cloned());
    }

    /// The effective configuration as TOML.
    pub fn to_toml_string(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }
}

/// Longest file name or value echoed in a message, in characters.
pub const MAX_ECHO: usize = 200;
/// Longest message from the TOML parser (which may quote the file).
const MAX_MESSAGE: usize = 400;
/// Unknown keys skipped with a warning before the file counts as broken.
const MAX_UNKNOWN_KEYS: usize = 32;

/// `s` fit for a one-line message: control characters escaped, and cut
/// to `max` characters with an ellipsis and the full length.
pub fn shorten(s: &str, max: usize) -> String {
    let mut out = String::new();
    for (shown, c) in s.chars().enumerate() {
        if shown >= max {
            out.push_str(&format!("\u{2026} ({} bytes in all)", s.len()));
            return out;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// The text of a configuration file (`/dev/null` and pipes included).
fn read_config(path: &Path) -> Result<String, ConfigError> {
    let io = |message: String| ConfigError {
        kind: ErrorKind::Io {
            path: path.to_path_buf(),
            message,
        },
    };
    if path.is_dir() {
        return Err(io("is a directory, not a configuration file".into()));
    }
    let bytes = std::fs::read(path).map_err(|e| io(e.to_string()))?;
    String::from_utf8(bytes).map_err(|e| {
        let (line, column) = line_col(
            &String::from_utf8_lossy(e.as_bytes()),
            e.utf8_error().valid_up_to(),
        );
        io(format!("{line}:{column}: not UTF-8 text"))
    })
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(offset, |nl| offset - nl - 1) + 1;
    (line, col)
}

/// The file [`discover`] found, and the files it passed over.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Discovery {
    pub path: Option<PathBuf>,
    /// One line per file that was there but not used, with the reason
    /// (a `./sock-trace.toml` that is not the user's).
    pub skipped: Vec<String>,
}

/// Finds the configuration file: `explicit`, then `$SOCK_TRACE_CONFIG`,
/// `./sock-trace.toml`, `$XDG_CONFIG_HOME/sock-trace/config.toml` (default
/// `$HOME/.config`), `/etc/sock-trace/config.toml`. An explicit path or
/// variable that names a missing file or a directory is an error; the
/// rest are optional. `./sock-trace.toml` is used only when it is safe
/// ([`untrusted_reason`] with the effective uid); otherwise it is named in
/// [`Discovery::skipped`] and the search goes on.
pub fn discover(
    explicit: Option<&Path>,
    env: &dyn Fn(&str) -> Option<OsString>,
    cwd: &Path,
) -> Result<Discovery, ConfigError> {
    let named = |p: PathBuf, origin: &'static str| -> Result<Discovery, ConfigError> {
        match std::fs::metadata(&p) {
            Ok(m) if m.is_dir() => Err(ConfigError {
                kind: ErrorKind::Io {
                    path: p,
                    message: format!(
                        "is a directory, not a configuration file (named by {origin})"
                    ),
                },
            }),
            // Regular files, and also /dev/null, pipes (`<(...)`): read as text.
            Ok(_) => Ok(Discovery {
                path: Some(p),
                skipped: Vec::new(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(ConfigError {
                kind: ErrorKind::Missing { path: p, origin },
            }),
            Err(e) => Err(ConfigError {
                kind: ErrorKind::Io {
                    path: p,
                    message: format!("{e} (named by {origin})"),
                },
            }),
        }
    };
    if let Some(p) = explicit {
        return named(p.to_path_buf(), "--config");
    }
    if let Some(p) = env("SOCK_TRACE_CONFIG").filter(|v| !v.is_empty()) {
        return named(PathBuf::from(p), "$SOCK_TRACE_CONFIG");
    }
    let mut found = Discovery::default();
    let local = cwd.join("sock-trace.toml");
    if local.is_file() {
        // SAFETY: geteuid cannot fail.
        #[cfg(unix)]
        let euid = unsafe { libc::geteuid() };
        #[cfg(not(unix))]
        let euid = 0;
        match untrusted_reason(&local, euid) {
            None => {
                found.path = Some(local);
                return Ok(found);
            }
            Some(why) => found.skipped.push(format!(
                "{} not used: {why}",
                shorten(&local.display().to_string(), MAX_ECHO)
            )),
        }
    }
    let mut candidates = Vec::new();
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
    found.path = candidates.into_iter().find(|p| p.is_file());
    Ok(found)
}

/// Why a configuration file found in the current directory must not be
/// used by the user `euid`, as git's `safe.directory` reasons: the file
/// and its directory must belong to that user or to root, and the file
/// must not be writable by its group or by everyone (nor the directory by
/// everyone, unless it is sticky like /tmp). `None`: it may be used.
#[cfg(not(unix))]
pub fn untrusted_reason(_path: &Path, _euid: u32) -> Option<String> {
    // Windows: owners and ACLs are not checked yet (README, "Windows").
    None
}

#[cfg(unix)]
pub fn untrusted_reason(path: &Path, euid: u32) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let trusted = |uid: u32| uid == euid || uid == 0;
    let m = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => return Some(format!("cannot be examined ({e})")),
    };
    if !trusted(m.uid()) {
        return Some(format!(
            "it is owned by uid {}, not by you (uid {euid}) or root",
            m.uid()
        ));
    }
    if m.mode() & 0o022 != 0 {
        let who = if m.mode() & 0o002 != 0 {
            "everyone"
        } else {
            "its group"
        };
        return Some(format!(
            "it is writable by {who} (mode {:04o})",
            m.mode() & 0o7777
        ));
    }
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    match std::fs::metadata(dir) {
        Ok(d) if !trusted(d.uid()) => Some(format!(
            "its directory is owned by uid {}, not by you (uid {euid}) or root",
            d.uid()
        )),
        Ok(d) if d.mode() & 0o002 != 0 && d.mode() & 0o1000 == 0 => Some(format!(
            "its directory is writable by everyone (mode {:04o})",
            d.mode() & 0o7777
        )),
        Ok(_) => None,
        Err(e) => Some(format!("its directory cannot be examined ({e})")),
    }
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

/// The exclude patterns of the default configuration: the byte-order and
/// `inet_*` helpers, off unless asked for.
pub const DEFAULT_EXCLUDE: &[&str] = &["hton*", "ntoh*", "inet_*"];

/// Function selection from include and exclude patterns: exact names or
/// globs (`*`, `?`, `[...]`) matched against the whole name. Unlike
/// wsock-trace's prefix match, excluding `recv` does not hide `recvfrom`.
/// The default exclusions ([`DEFAULT_EXCLUDE`]) hide only functions that
/// no include pattern names: `include = ["hton*"]` traces `htons`, while
/// `include = ["*"]` names nothing in particular and leaves them hidden.
#[derive(Clone, Debug)]
pub struct FunctionFilter {
    include: globset::GlobSet,
    /// Include patterns other than a bare `*`.
    named: globset::GlobSet,
    exclude: globset::GlobSet,
    default_exclude: globset::GlobSet,
    patterns: Vec<String>,
}

impl FunctionFilter {
    pub fn new(include: &[String], exclude: &[String]) -> Result<FunctionFilter, ConfigError> {
        let build = |pats: &mut dyn Iterator<Item = &String>| {
            let mut b = globset::GlobSetBuilder::new();
            for p in pats {
                let g = globset::GlobBuilder::new(p.trim())
                    .literal_separator(true)
                    .build()
                    .map_err(|e| ConfigError {
                        kind: ErrorKind::Pattern {
                            file: None,
                            what: "function",
                            pattern: p.clone(),
                            message: e.kind().to_string(),
                        },
                    })?;
                b.add(g);
            }
            b.build().map_err(|e| ConfigError {
                kind: ErrorKind::Pattern {
                    file: None,
                    what: "function",
                    pattern: String::new(),
                    message: e.to_string(),
                },
            })
        };
        let is_default = |p: &&String| DEFAULT_EXCLUDE.contains(&p.trim());
        Ok(FunctionFilter {
            include: build(&mut include.iter())?,
            named: build(
                &mut include
                    .iter()
                    .filter(|p| p.trim().chars().any(|c| c != '*')),
            )?,
            exclude: build(&mut exclude.iter().filter(|p| !is_default(p)))?,
            default_exclude: build(&mut exclude.iter().filter(is_default))?,
            patterns: include.iter().chain(exclude).cloned().collect(),
        })
    }

    pub fn matches(&self, name: &str) -> bool {
        let hidden_by_default = self.default_exclude.is_match(name) && !self.named.is_match(name);
        self.include.is_match(name) && !self.exclude.is_match(name) && !hidden_by_default
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
        /// "function" or "object".
        what: &'static str,
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
            ErrorKind::Io { path, message } => write!(
                f,
                "{}: {}",
                shorten(&path.display().to_string(), MAX_ECHO),
                shorten(message, MAX_MESSAGE)
            ),
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
                shorten(&path.display().to_string(), MAX_ECHO)
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
                what,
                pattern,
                message,
            } => {
                let pattern = shorten(pattern, MAX_ECHO);
                match file {
                    Some(file) => write!(f, "{file}: bad {what} pattern `{pattern}`: {message}"),
                    None => write!(f, "bad {what} pattern `{pattern}`: {message}"),
                }
            }
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
                    what: "object",
                    pattern: p.clone(),
                    message: e.kind().to_string(),
                },
            })?;
            b.add(g);
        }
        let set = b.build().map_err(|e| ConfigError {
            kind: ErrorKind::Pattern {
                file: None,
                what: "object",
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
