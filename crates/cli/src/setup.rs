//! From flags and configuration to a running trace: the one place that
//! maps settings onto the capture options, the printer and the output.

use crate::{ColorArg, FormatArg, ShowPidArg, TimestampArg, TraceFlags};
use anyhow::{Context, Result};
use sock_trace_collect::{Area, Collector};
use sock_trace_config as cfg;
use sock_trace_event::ring::{CaptureOptions, Geometry, CAPTURE_NO_FOLLOW, CAPTURE_SELFTEST_PANIC};
use sock_trace_event::{Func, FuncMask};
use sock_trace_print as print;
use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

pub struct Settings {
    pub config: cfg::Config,
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

impl Settings {
    /// Loads the configuration (discovery order in docs/CONFIG.md) and
    /// applies the flags. With `lenient`, a broken file is reported once
    /// and the defaults are used, so the program still runs.
    pub fn load(flags: &TraceFlags, lenient: bool) -> Result<Settings> {
        let env = |k: &str| std::env::var_os(k);
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        let discovered = cfg::discover(flags.config.as_deref(), &env, &cwd);
        let (mut config, source) = match discovered {
            Ok(Some(path)) => match cfg::Config::load(&path) {
                Ok(c) => (c, Some(path)),
                Err(e) if lenient => {
                    eprintln!("sock-trace: warning: {e}; using the default configuration");
                    (cfg::Config::default(), Some(path))
                }
                Err(e) => return Err(e.into()),
            },
            Ok(None) => (cfg::Config::default(), None),
            Err(e) if lenient => {
                eprintln!("sock-trace: warning: {e}; using the default configuration");
                (cfg::Config::default(), None)
            }
            Err(e) => return Err(e.into()),
        };
        let overrides = overrides(flags);
        config.apply(&overrides);
        let filter = cfg::FunctionFilter::new(&config.trace.include, &config.trace.exclude)?;
        for p in filter.unknown_patterns(&known_functions()) {
            eprintln!("sock-trace: warning: `{p}` matches no traceable function");
        }
        Ok(Settings {
            config,
            source,
            color_flag: overrides.color,
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
        let filter =
            cfg::FunctionFilter::new(&self.config.trace.include, &self.config.trace.exclude)?;
        let mut enabled = FuncMask::empty();
        for f in Func::ALL {
            if f.family() == sock_trace_event::Family::Meta || filter.matches(f.name()) {
                enabled.insert(*f);
            }
        }
        let mut flags = 0;
        if self.no_follow || !self.config.trace.follow {
            flags |= CAPTURE_NO_FOLLOW;
        }
        if self.selftest_panic {
            flags |= CAPTURE_SELFTEST_PANIC;
        }
        Ok(CaptureOptions {
            enabled,
            max_data: self.config.trace.max_data.min(u32::MAX as usize) as u32,
            caller_depth: 0,
            flags,
            _reserved: [0; 13],
        })
    }

    /// Opens the trace output and says whether it is a terminal.
    pub fn open_output(&self) -> Result<(Box<dyn Write>, bool)> {
        Ok(match &self.config.trace.output {
            cfg::Output::Stderr => (Box::new(std::io::stderr()), std::io::stderr().is_terminal()),
            cfg::Output::Stdout => (Box::new(std::io::stdout()), std::io::stdout().is_terminal()),
            cfg::Output::File(p) => {
                let f = std::fs::OpenOptions::new()
                    .create(true)
                    .write(true)
                    .truncate(true)
                    .open(p)
                    .with_context(|| format!("opening the trace output {}", p.display()))?;
                (
                    Box::new(std::io::BufWriter::with_capacity(256 * 1024, f)),
                    false,
                )
            }
        })
    }

    pub fn printer(&self, is_terminal: bool, area: &Area) -> Box<dyn print::Printer> {
        let h = area.shm().header();
        let clock = print::Clock {
            start_mono_ns: h.start_mono_ns,
            realtime_offset_ns: h.realtime_offset_ns,
        };
        let t = &self.config.trace;
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
                    palette: palette(&self.config.colors),
                    max_string: t.max_string,
                    clock,
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
    }
}

/// `sock-trace run`.
pub fn run(settings: Settings, argv: &[OsString]) -> Result<i32> {
    let capture = settings.capture_options()?;
    let library = crate::preload_lib::path()?;
    let area = Area::create(Geometry::DEFAULT, capture).context("creating the trace area")?;
    let (out, is_terminal) = settings.open_output()?;
    let printer = settings.printer(is_terminal, &area);
    let mut collector = Collector::new(*area.shm(), printer, out);
    let status = crate::launch::run(
        crate::launch::RunPlan { argv, library },
        &area,
        &mut collector,
    )?;
    let h = area.shm().header();
    if h.processes.load(std::sync::atomic::Ordering::Relaxed) == 0 {
        eprintln!(
            "sock-trace: warning: no process loaded the tracer, so nothing was traced \
             (a static or setuid program, or one that clears LD_PRELOAD from its environment)"
        );
    }
    collector.notice(None, &crate::launch::describe_status(status));
    Ok(crate::launch::exit_code(status))
}
