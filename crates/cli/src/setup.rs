//! From flags and configuration to a running trace: the one place that
//! maps settings onto the capture options, the printer and the output.

use crate::{ColorArg, FormatArg, PathsArg, ShowPidArg, TimestampArg, TraceFlags};
use anyhow::{Context, Result};
use sock_trace_collect::{Area, Collector, Output, Route};
use sock_trace_config as cfg;
use sock_trace_event::ring::{
    CaptureOptions, Geometry, ProgramRule, CAPTURE_ADDRESSES, CAPTURE_DISABLED, CAPTURE_NO_FOLLOW,
    CAPTURE_SELFTEST_PANIC, RULE_SETS_CALLERS, RULE_SETS_ENABLED, RULE_SETS_FUNCTIONS,
    RULE_SETS_MAX_DATA,
};
use sock_trace_event::{Func, FuncMask};
use sock_trace_print as print;
use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

pub struct Settings {
    /// The effective configuration of a process no `[[program]]` section
    /// matches: the file, then the flags.
    pub config: cfg::Config,
    /// The file as read, before the flags (per-program sections apply
    /// between the two).
    pub file_config: cfg::Config,
    pub overrides: cfg::Overrides,
    pub source: Option<PathBuf>,
    pub color_flag: Option<cfg::ColorMode>,
    pub no_follow: bool,
    pub selftest_panic: bool,
}

fn known_functions() -> Vec<&'static str> {
    Func::ALL
        .iter()
        .filter(|f| f.family() != sock_trace_event::Family::Meta)
        .map(|f| f.name())
        .collect()
}

/// How a command treats its configuration file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Load {
    /// `sock-trace run`: a named file that is missing (or a directory) is
    /// an error, before anything starts; a file whose contents are broken
    /// is reported and the program runs with the defaults. The file used
    /// is named on stderr unless `quiet`.
    Run { quiet: bool },
    /// The standalone collector: the program is already running, so every
    /// problem is reported and the defaults are used. The file is named.
    Standalone,
    /// `config`, `lookup`, `db`: every problem is an error.
    Check,
}

impl Settings {
    /// Loads the configuration as the standalone collector (`lenient`) or
    /// a checking command does; see [`Settings::load_with`].
    pub fn load(flags: &TraceFlags, lenient: bool) -> Result<Settings> {
        Settings::load_with(
            flags,
            if lenient {
                Load::Standalone
            } else {
                Load::Check
            },
        )
    }

    /// Loads the configuration (discovery order in docs/CONFIG.md) and
    /// applies the flags. Unknown keys are left out with one warning each;
    /// a `./sock-trace.toml` that is not the user's is passed over with a
    /// warning that says why.
    pub fn load_with(flags: &TraceFlags, how: Load) -> Result<Settings> {
        let env = |k: &str| std::env::var_os(k);
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        let discovered = match cfg::discover(flags.config.as_deref(), &env, &cwd) {
            Ok(d) => d,
            Err(e) if how == Load::Standalone => {
                eprintln!("sock-trace: warning: {e}; using the default configuration");
                cfg::Discovery::default()
            }
            Err(e) => return Err(e.into()),
        };
        let mut notes: Vec<String> = discovered
            .skipped
            .iter()
            .map(|s| format!("sock-trace: warning: {s}"))
            .collect();
        let (mut config, source) = match &discovered.path {
            Some(path) => match cfg::Config::load_lenient(path) {
                Ok((c, warnings)) => {
                    notes.extend(warnings.iter().map(|w| format!("sock-trace: warning: {w}")));
                    (c, Some(path.clone()))
                }
                Err(e) if how != Load::Check => {
                    notes.push(format!(
                        "sock-trace: warning: {e}; using the default configuration"
                    ));
                    (cfg::Config::default(), None)
                }
                Err(e) => return Err(e.into()),
            },
            None => (cfg::Config::default(), None),
        };
        let announce = match how {
            Load::Run { quiet } => !quiet,
            Load::Standalone => true,
            Load::Check => false,
        };
        if let (true, Some(path)) = (announce, &source) {
            eprintln!(
                "sock-trace: configuration from {}",
                cfg::shorten(&path.display().to_string(), cfg::MAX_ECHO)
            );
        }
        for n in notes {
            eprintln!("{n}");
        }
        let overrides = overrides(flags);
        let file_config = config.clone();
        config.apply(&overrides);
        let filter = cfg::FunctionFilter::new(&config.trace.include, &config.trace.exclude)?;
        cfg::ModuleFilter::new(&config.callers.skip)?;
        for p in filter.unknown_patterns(&known_functions()) {
            eprintln!(
                "sock-trace: warning: `{}` matches no traceable function",
                cfg::shorten(&p, cfg::MAX_ECHO)
            );
        }
        Ok(Settings {
            config,
            file_config,
            color_flag: overrides.color,
            overrides,
            source,
            no_follow: false,
            selftest_panic: false,
        })
    }

    pub fn print_effective(&self) {
        match &self.source {
            Some(p) => println!("# configuration from {}", p.display()),
            None => println!("# no configuration file found: defaults"),
        }
        print!("{}", self.config.to_toml_string());
    }

    pub fn capture_options(&self) -> Result<CaptureOptions> {
        self.capture_options_of(&self.config)
    }

    /// What the hooks capture for a process with configuration `c`.
    fn capture_options_of(&self, c: &cfg::Config) -> Result<CaptureOptions> {
        let filter = cfg::FunctionFilter::new(&c.trace.include, &c.trace.exclude)?;
        let mut enabled = FuncMask::empty();
        for f in Func::ALL {
            if f.family() == sock_trace_event::Family::Meta || filter.matches(f.name()) {
                enabled.insert(*f);
            }
        }
        let mut flags = 0;
        if self.no_follow || !c.trace.follow {
            flags |= CAPTURE_NO_FOLLOW;
        }
        if self.selftest_panic {
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

    /// The `[[program]]` sections as the hooks read them from the trace
    /// area: each with the complete capture settings it leads to.
    pub fn program_rules(&self) -> Result<Vec<ProgramRule>> {
        let mut rules = Vec::new();
        for r in &self.file_config.programs {
            let mut c = self.config.clone();
            c.apply_rule(r);
            let mut options = self.capture_options_of(&c)?;
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
            rules.push(rule);
        }
        Ok(rules)
    }

    /// Every output the trace needs, the main one first, and how to find a
    /// process's output from its configuration.
    pub fn outputs(&self, area: &Area) -> Result<OutputPlan> {
        let mut plan = OutputPlan {
            keys: Vec::new(),
            outputs: Vec::new(),
        };
        let mut configs = vec![self.config.clone()];
        for r in &self.file_config.programs {
            if r.output.is_some() || r.format.is_some() {
                let mut c = self.config.clone();
                c.apply_rule(r);
                configs.push(c);
            }
        }
        for c in configs {
            let key = (c.trace.output.clone(), c.trace.format);
            if plan.keys.contains(&key) {
                continue;
            }
            let (out, is_terminal) = open_output(&c.trace.output)?;
            let printer = self.printer_of(&c, is_terminal, area);
            plan.keys.push(key);
            plan.outputs.push(Output::new(printer, out));
        }
        Ok(plan)
    }
}

/// The outputs of a trace, keyed by (destination, format).
pub struct OutputPlan {
    pub keys: Vec<(cfg::Output, cfg::Format)>,
    pub outputs: Vec<Output<'static>>,
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

fn open_output(output: &cfg::Output) -> Result<(Box<dyn Write>, bool)> {
    {
        Ok(match output {
            // Buffered: the collector decides when to flush (every 20 ms at most).
            cfg::Output::Stderr => (
                Box::new(std::io::BufWriter::with_capacity(
                    64 * 1024,
                    std::io::stderr(),
                )),
                std::io::stderr().is_terminal(),
            ),
            cfg::Output::Stdout => (
                Box::new(std::io::BufWriter::with_capacity(
                    64 * 1024,
                    std::io::stdout(),
                )),
                std::io::stdout().is_terminal(),
            ),
            cfg::Output::File(p) => {
                let f = std::fs::OpenOptions::new()
                    .create(true)
                    .write(true)
                    .truncate(true)
                    .open(p)
                    .with_context(|| {
                        format!(
                            "opening the trace output {}",
                            cfg::shorten(&p.display().to_string(), cfg::MAX_ECHO)
                        )
                    })?;
                (
                    Box::new(std::io::BufWriter::with_capacity(256 * 1024, f)),
                    false,
                )
            }
        })
    }
}

impl Settings {
    fn printer_of(
        &self,
        c: &cfg::Config,
        is_terminal: bool,
        area: &Area,
    ) -> Box<dyn print::Printer> {
        let h = area.shm().header();
        let clock = print::Clock {
            start_mono_ns: h.start_mono_ns.get(),
            realtime_offset_ns: h.realtime_offset_ns.get(),
        };
        let t = &c.trace;
        match t.format {
            cfg::Format::Jsonl => Box::new(print::JsonPrinter::new(print::JsonOptions {
                clock,
                max_string: t.max_string,
            })),
            cfg::Format::Text => {
                let env = |k: &str| std::env::var_os(k);
                let color = cfg::resolve_color(self.color_flag, t.color, is_terminal, &env);
                Box::new(print::TextPrinter::new(print::TextOptions {
                    timestamps: match t.timestamps {
                        cfg::TimestampMode::None => print::TimestampMode::None,
                        cfg::TimestampMode::Absolute => print::TimestampMode::Absolute,
                        cfg::TimestampMode::Relative => print::TimestampMode::Relative,
                        cfg::TimestampMode::Delta => print::TimestampMode::Delta,
                    },
                    show_pid: match t.show_pid {
                        cfg::ShowPid::Auto => print::ShowPid::Auto,
                        cfg::ShowPid::Always => print::ShowPid::Always,
                        cfg::ShowPid::Never => print::ShowPid::Never,
                    },
                    show_duration: t.show_duration,
                    color,
                    palette: palette(&c.colors),
                    max_string: t.max_string,
                    clock,
                    hexdump: t.dump_data,
                    address_detail: c.annotate.detail,
                }))
            }
        }
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

fn overrides(f: &TraceFlags) -> cfg::Overrides {
    cfg::Overrides {
        output: f.output.clone().map(|p| {
            if p.as_os_str() == "-" {
                cfg::Output::Stdout
            } else {
                cfg::Output::File(p)
            }
        }),
        format: f.format.map(|v| match v {
            FormatArg::Text => cfg::Format::Text,
            FormatArg::Jsonl => cfg::Format::Jsonl,
        }),
        color: f.color.map(|v| match v {
            ColorArg::Auto => cfg::ColorMode::Auto,
            ColorArg::Always => cfg::ColorMode::Always,
            ColorArg::Never => cfg::ColorMode::Never,
        }),
        timestamps: f.timestamps.map(|v| match v {
            TimestampArg::None => cfg::TimestampMode::None,
            TimestampArg::Absolute => cfg::TimestampMode::Absolute,
            TimestampArg::Relative => cfg::TimestampMode::Relative,
            TimestampArg::Delta => cfg::TimestampMode::Delta,
        }),
        show_pid: f.show_pid.map(|v| match v {
            ShowPidArg::Auto => cfg::ShowPid::Auto,
            ShowPidArg::Always => cfg::ShowPid::Always,
            ShowPidArg::Never => cfg::ShowPid::Never,
        }),
        show_duration: f.no_duration.then_some(false),
        follow: None,
        include: (!f.include.is_empty()).then(|| f.include.clone()),
        exclude: f.exclude.clone(),
        max_string: f.max_string,
        max_data: f.max_data,
        caller_depth: f.caller_depth,
        caller_skip: f.caller_skip.clone(),
        summary: f.summary.then_some(true),
        dump_data: f.dump.then_some(true),
        pcap: f.pcap.clone(),
        delays: f.delay.clone(),
        faults: f.inject.clone(),
        limits: f.limit.clone(),
        annotate: f.no_annotate.then_some(false),
        annotate_detail: f.detail.then_some(true),
        caller_paths: f.caller_paths.map(|v| match v {
            PathsArg::Full => cfg::PathStyle::Full,
            PathsArg::Relative => cfg::PathStyle::Relative,
            PathsArg::Basename => cfg::PathStyle::Basename,
        }),
    }
}

/// The trace area and a collector wired to every output, with processes
/// routed by their executable (per-program rules). Shared by `run` and the
/// standalone collector.
pub fn start_session(settings: &Settings) -> Result<(Area, Collector<'static>)> {
    let capture = settings.capture_options()?;
    let rules = settings.program_rules()?;
    let actions = settings.config.action_rules().map_err(anyhow::Error::msg)?;
    let area = Area::create(Geometry::DEFAULT, capture, &rules, &actions)
        .context("creating the trace area")?;
    let mut plan = settings.outputs(&area)?;
    let mut outputs = plan.outputs.drain(..);
    let first = outputs.next().expect("the main output");
    let mut collector = Collector::from_output(*area.shm(), first);
    for o in outputs {
        collector.add_output(o);
    }
    let profiles = crate::enrich::Profiles::new(settings);
    let router_profiles = profiles.clone();
    let file_config = settings.file_config.clone();
    let overrides = settings.overrides.clone();
    let keys = plan.keys;
    collector.set_router(move |exe: &[u8], argv0: &[u8]| {
        let (c, matched) = file_config.for_program(exe, argv0, &overrides);
        let key = (c.trace.output.clone(), c.trace.format);
        Route {
            output: keys.iter().position(|k| *k == key).unwrap_or(0),
            profile: router_profiles.profile_for(&matched.matched, &c),
        }
    });
    if settings.config.trace.summary {
        collector.enable_summary();
    }
    if let Some(path) = &settings.config.trace.pcap {
        let h = area.shm().header();
        let clock = print::Clock {
            start_mono_ns: h.start_mono_ns.get(),
            realtime_offset_ns: h.realtime_offset_ns.get(),
        };
        let sink = sock_trace_collect::PcapSink::create(path, clock).with_context(|| {
            format!(
                "creating the packet capture {}",
                cfg::shorten(&path.display().to_string(), cfg::MAX_ECHO)
            )
        })?;
        collector.add_sink(Box::new(sink));
    }
    collector.set_enricher(Box::new(crate::enrich::Enrich::new(
        profiles,
        settings.config.callers.debug_dirs.clone(),
        settings
            .config
            .annotate
            .enabled
            .then(|| settings.config.databases.clone()),
    )));
    Ok((area, collector))
}

/// `sock-trace run`.
pub fn run(settings: Settings, argv: &[OsString]) -> Result<i32> {
    // Kept alive for the whole run: a memfd placement is valid only while
    // this process holds it.
    let library = crate::preload_lib::place()?;
    let (area, mut collector) = start_session(&settings)?;
    let plan = crate::launch::RunPlan {
        argv,
        library: library.path().to_path_buf(),
        follow: !settings.no_follow && settings.config.trace.follow,
    };
    let status = match crate::launch::run(plan, &area, &mut collector) {
        Ok(s) => s,
        Err(e) => match e.downcast::<crate::launch::NotStarted>() {
            Ok(n) => {
                eprintln!("sock-trace: {n}");
                return Ok(n.code);
            }
            Err(e) => return Err(e),
        },
    };
    let h = area.shm().header();
    if h.processes.load(std::sync::atomic::Ordering::Relaxed) == 0 {
        eprintln!(
            "sock-trace: warning: no process loaded the tracer, so nothing was traced \
             (a static or setuid program, or one that clears LD_PRELOAD from its environment)"
        );
    }
    collector.notice(None, &crate::launch::describe_status(status));
    collector.print_summary();
    Ok(crate::launch::exit_code(status))
}
