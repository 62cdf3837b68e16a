//! The configuration, resolved once into what a trace session needs: the
//! capture options and rules written into the trace area, the outputs and
//! their printers, the sinks, and the per-program profiles
//! ([`Programs::profile_for`]).
//!
//! [`Settings::resolve`] is the one place that turns a [`cfg::Config`] (the
//! file with the command-line overrides) into these plain values; the
//! collector never reads the configuration itself.

use sock_trace_config as cfg;
use sock_trace_event::ring::{
    ActionRule, CaptureOptions, ProgramRule, CAPTURE_ADDRESSES, CAPTURE_DISABLED,
    CAPTURE_NO_FOLLOW, CAPTURE_SELFTEST_PANIC, RULE_SETS_CALLERS, RULE_SETS_ENABLED,
    RULE_SETS_FUNCTIONS, RULE_SETS_MAX_DATA,
};
use sock_trace_event::{Family, Func, FuncMask};
use sock_trace_print as print;
use sock_trace_symbolize as sym;
use std::path::PathBuf;
use std::rc::Rc;

/// Everything a trace session needs, resolved from the configuration.
pub struct Settings {
    /// What the hooks capture for a process no `[[program]]` section matches.
    pub capture: CaptureOptions,
    /// The `[[program]]` sections as the hooks read them.
    pub program_rules: Vec<ProgramRule>,
    /// Delays, faults and limits as the hooks read them.
    pub actions: Vec<ActionRule>,
    /// Every output, the main one first.
    pub outputs: Vec<OutputSpec>,
    /// Chooses each process's profile from its executable.
    pub programs: Programs,
    /// Count every event for an exit summary.
    pub summary: bool,
    /// Write the traced sockets' traffic here as pcapng.
    pub pcap: Option<PathBuf>,
    /// Where separate debug files are looked for.
    pub debug_dirs: Vec<PathBuf>,
    /// Address databases, when addresses are annotated.
    pub annotate: Option<sock_trace_ipintel::Sources>,
}

/// One destination and how its printer is set up.
#[derive(Clone, Debug, PartialEq)]
pub struct OutputSpec {
    pub dest: cfg::Output,
    pub format: print::Format,
    /// `--color` as given on the command line (it beats `NO_COLOR`).
    pub color_flag: Option<print::ColorMode>,
    pub color: print::ColorMode,
    pub timestamps: print::TimestampMode,
    pub show_pid: print::ShowPid,
    pub show_duration: bool,
    pub palette: print::Palette,
    pub max_string: usize,
    pub hexdump: bool,
    pub address_detail: bool,
}

/// How one process's events are shaped and where they go, chosen once per
/// process from its executable (the matching `[[program]]` sections).
#[derive(Debug)]
pub struct Profile {
    /// Index into the session's outputs.
    pub output: usize,
    pub callers: CallerProfile,
}

/// Caller settings, as the enrich stage applies them.
#[derive(Debug)]
pub struct CallerProfile {
    /// Frames shown (0: none).
    pub depth: usize,
    /// Objects looked through when attributing a call.
    pub skip: cfg::ModuleFilter,
    pub paths: sym::PathStyle,
}

impl Default for Profile {
    /// The main output, no callers.
    fn default() -> Self {
        Profile {
            output: 0,
            callers: CallerProfile {
                depth: 0,
                skip: empty_filter(),
                paths: sym::PathStyle::Full,
            },
        }
    }
}

fn empty_filter() -> cfg::ModuleFilter {
    cfg::ModuleFilter::new(&[]).expect("empty filter")
}

/// The per-program profiles: the file's `[[program]]` sections over the
/// command-line overrides, each distinct set of matching sections resolved
/// once.
#[derive(Debug)]
pub struct Programs {
    file_config: cfg::Config,
    overrides: cfg::Overrides,
    /// (destination, format) of each output, by index.
    keys: Vec<(cfg::Output, print::Format)>,
    /// Profiles met so far, by the sections that matched; the first is the
    /// default (no section matched).
    known: Vec<(Vec<usize>, Rc<Profile>)>,
}

impl Programs {
    /// Everything to the main output, without caller frames: for a
    /// collector built without a configuration.
    pub fn single() -> Programs {
        Programs {
            file_config: cfg::Config::default(),
            overrides: cfg::Overrides::default(),
            keys: Vec::new(),
            known: vec![(Vec::new(), Rc::new(Profile::default()))],
        }
    }

    /// The profile of a process that no section matched (and of processes
    /// whose start was not seen).
    pub fn default_profile(&self) -> Rc<Profile> {
        self.known[0].1.clone()
    }

    /// The profile for the executable `exe` started as `argv0`.
    pub fn profile_for(&mut self, exe: &[u8], argv0: &[u8]) -> Rc<Profile> {
        if self.keys.is_empty() {
            return self.default_profile();
        }
        let (c, matched) = self.file_config.for_program(exe, argv0, &self.overrides);
        if let Some((_, p)) = self.known.iter().find(|(m, _)| *m == matched.matched) {
            return p.clone();
        }
        let p = Rc::new(self.profile(&c));
        self.known.push((matched.matched, p.clone()));
        p
    }

    fn profile(&self, c: &cfg::Config) -> Profile {
        let key = (c.trace.output.clone(), c.trace.format);
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
        Profile {
            output: self.keys.iter().position(|k| *k == key).unwrap_or(0),
            callers: CallerProfile {
                depth: c.callers.depth as usize,
                // Patterns were checked when the configuration was loaded.
                skip: cfg::ModuleFilter::new(&c.callers.skip).unwrap_or_else(|_| empty_filter()),
                paths: match c.callers.paths {
                    print::PathStyle::Full => sym::PathStyle::Full,
                    print::PathStyle::Relative => sym::PathStyle::RelativeTo(cwd),
                    print::PathStyle::Basename => sym::PathStyle::BaseName,
                },
            },
        }
    }
}

/// What the launcher adds to the configuration.
#[derive(Clone, Copy, Debug, Default)]
pub struct RunFlags {
    /// `--no-follow`.
    pub no_follow: bool,
    /// Test-suite only: make the tracer panic while recording connect().
    pub selftest_panic: bool,
}

impl Settings {
    /// Resolves the effective configuration `config` (the file, then the
    /// flags `overrides`), whose `[[program]]` sections come from
    /// `file_config` (the file as read).
    pub fn resolve(
        config: &cfg::Config,
        file_config: &cfg::Config,
        overrides: &cfg::Overrides,
        run: RunFlags,
    ) -> Result<Settings, String> {
        let capture = capture_options(config, run)?;
        let mut program_rules = Vec::new();
        let mut configs = vec![config.clone()];
        for r in &file_config.programs {
            let mut c = config.clone();
            c.apply_rule(r);
            program_rules.push(program_rule(r, capture_options(&c, run)?));
            if r.output.is_some() || r.format.is_some() {
                configs.push(c);
            }
        }
        let actions = config.action_rules()?;
        let mut keys = Vec::new();
        let mut outputs = Vec::new();
        for c in configs {
            let key = (c.trace.output.clone(), c.trace.format);
            if keys.contains(&key) {
                continue;
            }
            keys.push(key);
            outputs.push(output_spec(&c, overrides.color));
        }
        let mut programs = Programs {
            file_config: file_config.clone(),
            overrides: overrides.clone(),
            keys,
            known: Vec::new(),
        };
        let default = Rc::new(programs.profile(config));
        programs.known.push((Vec::new(), default));
        Ok(Settings {
            capture,
            program_rules,
            actions,
            outputs,
            programs,
            summary: config.trace.summary,
            pcap: config.trace.pcap.clone(),
            debug_dirs: config.callers.debug_dirs.clone(),
            annotate: config.annotate.enabled.then(|| config.databases.clone()),
        })
    }
}

/// What the hooks capture for a process with configuration `c`.
fn capture_options(c: &cfg::Config, run: RunFlags) -> Result<CaptureOptions, String> {
    let filter =
        cfg::FunctionFilter::new(&c.trace.include, &c.trace.exclude).map_err(|e| e.to_string())?;
    let mut enabled = FuncMask::empty();
    for f in Func::ALL {
        if f.family() == Family::Meta || filter.matches(f.name()) {
            enabled.insert(*f);
        }
    }
    let mut flags = 0;
    if run.no_follow || !c.trace.follow {
        flags |= CAPTURE_NO_FOLLOW;
    }
    if run.selftest_panic {
        flags |= CAPTURE_SELFTEST_PANIC;
    }
    if c.trace.pcap.is_some() {
        flags |= CAPTURE_ADDRESSES;
    }
    Ok(CaptureOptions {
        enabled,
        max_data: c.trace.capture_bytes().min(u32::MAX as usize) as u32,
        caller_depth: capture_depth(&c.callers),
        flags,
        _reserved: [0; 13],
    })
}

/// A `[[program]]` section as the hooks read it from the trace area, with
/// the complete capture `options` it leads to.
fn program_rule(r: &cfg::ProgramRule, mut options: CaptureOptions) -> ProgramRule {
    let mut sets = 0;
    if r.include.is_some() || r.exclude.is_some() {
        sets |= RULE_SETS_FUNCTIONS;
    }
    if r.max_data.is_some() {
        sets |= RULE_SETS_MAX_DATA;
    }
    if r.caller_depth.is_some() || r.caller_skip.is_some() {
        sets |= RULE_SETS_CALLERS;
    }
    if let Some(enabled) = r.enabled {
        sets |= RULE_SETS_ENABLED;
        if !enabled {
            options.flags |= CAPTURE_DISABLED;
        }
    }
    let mut rule = ProgramRule {
        sets,
        options,
        ..ProgramRule::default()
    };
    let pat = r.pattern.as_bytes();
    let n = pat.len().min(rule.pattern.len());
    rule.pattern[..n].copy_from_slice(&pat[..n]);
    rule.pattern_len = n as u32;
    rule
}

/// Frames the hooks capture for caller settings `c`: with modules to skip,
/// a few more than shown, so that there is something left after skipping.
fn capture_depth(c: &cfg::CallerConfig) -> u32 {
    const MAX_FRAMES: u32 = 16;
    if c.depth == 0 {
        0
    } else if c.skip.is_empty() {
        c.depth.min(MAX_FRAMES)
    } else {
        (c.depth + 8).min(MAX_FRAMES)
    }
}

fn output_spec(c: &cfg::Config, color_flag: Option<print::ColorMode>) -> OutputSpec {
    let t = &c.trace;
    OutputSpec {
        dest: t.output.clone(),
        format: t.format,
        color_flag,
        color: t.color,
        timestamps: t.timestamps,
        show_pid: t.show_pid,
        show_duration: t.show_duration,
        palette: palette(&c.colors),
        max_string: t.max_string,
        hexdump: t.dump_data,
        address_detail: c.annotate.detail,
    }
}

fn palette(c: &cfg::ColorConfig) -> print::Palette {
    print::Palette {
        function: c.function.to_anstyle(),
        fd: c.fd.to_anstyle(),
        address: c.address.to_anstyle(),
        constant: c.constant.to_anstyle(),
        string: c.string.to_anstyle(),
        number: c.number.to_anstyle(),
        error: c.error.to_anstyle(),
        timestamp: c.timestamp.to_anstyle(),
        pid: c.pid.to_anstyle(),
        duration: c.duration.to_anstyle(),
        notice: c.notice.to_anstyle(),
        caller: c.caller.to_anstyle(),
    }
}
