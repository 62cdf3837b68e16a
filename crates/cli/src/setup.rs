//! From flags to configuration: the file is found and loaded (with its
//! warnings on stderr), the flags applied, and the result handed to the
//! collector ([`sock_trace_collect::Settings::resolve`], the one place that
//! turns it into capture options, outputs and profiles).

use crate::TraceFlags;
use anyhow::Result;
use sock_trace_collect::{Collector, RunFlags};
use sock_trace_config as cfg;
use sock_trace_event::Func;
#[cfg(unix)]
use std::ffi::OsString;
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
    pub run: RunFlags,
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
            overrides,
            source,
            run: RunFlags::default(),
        })
    }

    pub fn print_effective(&self) {
        match &self.source {
            Some(p) => println!("# configuration from {}", p.display()),
            None => println!("# no configuration file found: defaults"),
        }
        print!("{}", self.config.to_toml_string());
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
        format: f.format,
        color: f.color,
        timestamps: f.timestamps,
        show_pid: f.show_pid,
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
        caller_paths: f.caller_paths,
    }
}

/// The configuration resolved into what the collector needs.
fn resolve(settings: &Settings) -> Result<sock_trace_collect::Settings> {
    sock_trace_collect::Settings::resolve(
        &settings.config,
        &settings.file_config,
        &settings.overrides,
        settings.run,
    )
    .map_err(anyhow::Error::msg)
}

/// The trace area and a collector wired to every output, with processes
/// routed by their executable (per-program rules). Shared by `run` and the
/// standalone collector.
pub fn start_session(settings: &Settings) -> Result<Collector<'static>> {
    sock_trace_collect::start_session(resolve(settings)?).map_err(anyhow::Error::msg)
}

/// What `run` does with the records.
#[cfg(unix)]
pub enum Sink {
    /// Decodes and prints them as they come (`sock-trace run`).
    Trace,
    /// Stores them in a recording (`sock-trace record -o FILE`).
    Record(PathBuf),
}

/// `sock-trace run` and `sock-trace record` (on Windows: `windows::run`).
#[cfg(unix)]
pub fn run(
    settings: Settings,
    argv: &[OsString],
    backend: crate::launch::BackendChoice,
    sink: Sink,
) -> Result<i32> {
    // Kept alive for the whole run: a memfd placement is valid only while
    // this process holds it.
    let library = crate::preload_lib::place()?;
    let mut collector = match &sink {
        Sink::Trace => start_session(&settings)?,
        Sink::Record(path) => sock_trace_collect::start_recording(resolve(&settings)?, path)
            .map_err(anyhow::Error::msg)?,
    };
    let plan = crate::launch::RunPlan {
        argv,
        library: library.path().to_path_buf(),
        follow: !settings.run.no_follow && settings.config.trace.follow,
        backend,
    };
    let status = match crate::launch::run(plan, &mut collector) {
        Ok(s) => s,
        Err(e) => match e.downcast::<crate::launch::NotStarted>() {
            Ok(n) => {
                eprintln!("sock-trace: {n}");
                return Ok(n.code);
            }
            Err(e) => return Err(e),
        },
    };
    let h = collector.area().header();
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

const CUT: &str = "the recording ends without its end mark: the recorder stopped early \
                   (killed, or the disk filled); everything it wrote is shown";

/// `sock-trace print FILE`: decodes a recording with the output options of
/// `run`. A recording cut short prints everything it holds, then says
/// what is missing; the exit status is then 1.
pub fn print_recording(settings: Settings, path: &std::path::Path) -> Result<i32> {
    let to_file = !matches!(settings.config.trace.output, cfg::Output::Stderr);
    use sock_trace_collect::recording::{Ending, Recording};
    let shown = cfg::shorten(&path.display().to_string(), cfg::MAX_ECHO);
    let file = std::fs::File::open(path)
        .map_err(|e| anyhow::anyhow!("opening the recording {shown}: {e}"))?;
    // SAFETY: a read-only private mapping; a file truncated while mapped
    // could raise SIGBUS, the same risk every mapped reader takes.
    let map = unsafe { memmap2::Mmap::map(&file) }
        .map_err(|e| anyhow::anyhow!("reading the recording {shown}: {e}"))?;
    let recording = Recording::parse(&map).map_err(|e| anyhow::anyhow!("{shown}: {e}"))?;
    let mut collector =
        sock_trace_collect::start_offline(resolve(&settings)?, recording.info.clock())
            .map_err(anyhow::Error::msg)?;
    let mut records = recording.records();
    let mut batch = Vec::with_capacity(4096);
    loop {
        batch.clear();
        batch.extend(records.by_ref().take(4096));
        if batch.is_empty() {
            break;
        }
        collector.feed(&batch);
    }
    collector.finish();
    let code = match records.ending() {
        Some(Ending::Complete) | None => 0,
        Some(Ending::Cut) => {
            collector.notice(None, CUT);
            if to_file {
                eprintln!("sock-trace: warning: {CUT}");
            }
            1
        }
        Some(Ending::Damaged { at, bytes }) => {
            let text = format!(
                "the recording is damaged at byte {at}: the last {bytes} bytes could not be \
                 read as records; everything before them is shown"
            );
            collector.notice(None, &text);
            if to_file {
                eprintln!("sock-trace: warning: {text}");
            }
            1
        }
    };
    collector.print_summary();
    Ok(code)
}
