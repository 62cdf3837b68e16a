//! `sock-trace`: trace the socket calls of unmodified programs.
//!
//! This crate is the only one that knows the command line. It turns flags
//! into a [`sock_trace_config::Overrides`], loads the configuration, and
//! drives the other crates: it creates the trace area and starts the
//! program (`run`), prints the configuration (`config`), or acts as the
//! collector that the preload library starts on its own when it is used
//! without the launcher (`collect`, hidden).

#[cfg(unix)]
mod attach;
#[cfg(unix)]
mod handover;
mod intel_cmd;
#[cfg(unix)]
mod launch;
#[cfg(unix)]
mod preload_lib;
mod setup;
#[cfg(unix)]
mod standalone;
#[cfg(windows)]
mod windows;

use anyhow::Result;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand};
use sock_trace_print::{Choice, ColorMode, Format, PathStyle, ShowPid, TimestampMode};
use std::ffi::OsString;
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "sock-trace", version, about = "Trace the socket calls of unmodified programs", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a program and trace its socket calls (and those of its children).
    Run(RunArgs),
    /// Run a program and store its raw trace in the file `-o FILE`, to decode later with
    /// `sock-trace print` (the least a busy program is held back).
    #[cfg(unix)]
    Record(RunArgs),
    /// Print a recording made by `sock-trace record`, with the output options of `run`.
    Print(PrintArgs),
    /// Trace a running process (its threads, and its children from then on)
    /// until it exits or Ctrl-C; then detach and leave it running.
    Attach(AttachArgs),
    /// Print the effective configuration, or a commented default file.
    Config(ConfigArgs),
    /// Print the path of the preload library, for `LD_PRELOAD=... CMD`.
    #[cfg(unix)]
    PreloadPath,
    /// Show everything known about IP addresses (country, AS, DROP, registry, class).
    Lookup(LookupCmd),
    /// List the address databases found, their dates and age; `db update` downloads fresh ones.
    Db(DbCmd),
    /// Collector started by the preload library in standalone mode.
    #[command(hide = true)]
    #[cfg(unix)]
    Collect(standalone::CollectArgs),
    /// The system-call tracer that takes processes over from the preload
    /// library (started by `run --backend auto`).
    #[command(hide = true, name = "__handover")]
    #[cfg(unix)]
    Handover(handover::HandoverArgs),
}

#[derive(Args, Clone, Default)]
pub struct TraceFlags {
    /// Configuration file (default: discovered, see `sock-trace config`).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Write the trace to FILE instead of stderr.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_parser = choice::<Format>())]
    pub format: Option<Format>,
    /// When to colour the output.
    #[arg(long, value_parser = choice::<ColorMode>(), value_name = "WHEN")]
    pub color: Option<ColorMode>,
    /// Timestamp on each line.
    #[arg(short = 't', long, value_parser = choice::<TimestampMode>(), value_name = "MODE")]
    pub timestamps: Option<TimestampMode>,
    /// Show pid/tid on each line.
    #[arg(long, value_parser = choice::<ShowPid>(), value_name = "WHEN")]
    pub show_pid: Option<ShowPid>,
    /// Do not show how long blocking calls took.
    #[arg(long)]
    pub no_duration: bool,
    /// Trace only these functions (comma-separated names or globs); replaces the configured list.
    #[arg(
        short = 'e',
        long = "trace",
        value_name = "FUNCS",
        value_delimiter = ','
    )]
    pub include: Vec<String>,
    /// Also exclude these functions (comma-separated names or globs).
    #[arg(short = 'x', long, value_name = "FUNCS", value_delimiter = ',')]
    pub exclude: Vec<String>,
    /// Longest string shown before it is cut.
    #[arg(short = 's', long, value_name = "N")]
    pub max_string: Option<usize>,
    /// Payload bytes captured per send/receive call.
    #[arg(long, value_name = "N")]
    pub max_data: Option<usize>,
    /// Caller frames shown per call (0: none).
    #[arg(long, value_name = "N")]
    pub caller_depth: Option<u32>,
    /// Objects to look through when attributing a call (globs, e.g. 'libcurl.so*').
    #[arg(long, value_name = "GLOBS", value_delimiter = ',')]
    pub caller_skip: Vec<String>,
    /// How source paths of callers are shown.
    #[arg(long, value_parser = choice::<PathStyle>(), value_name = "STYLE")]
    pub caller_paths: Option<PathStyle>,
    /// Print a summary per process when the program ends (calls, errors, time, bytes per peer).
    #[arg(long)]
    pub summary: bool,
    /// Hex-dump the payload of send and receive calls under each call.
    #[arg(long)]
    pub dump: bool,
    /// Write the traced sockets' traffic to FILE as pcapng (for Wireshark / tshark).
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,
    /// Delay calls: FUNCS=MS or FUNCS=MIN-MAX, options :after :peer=NET :port=N :program=GLOB (repeatable).
    #[arg(long, value_name = "SPEC", value_parser = sock_trace_config::parse_delay)]
    pub delay: Vec<sock_trace_config::DelayRule>,
    /// Make calls fail: a preset (no-ipv6, dns-again, dns-nxdomain, refuse, reset, short-writes, eintr)
    /// or FUNCS=ERROR (an errno name or 1-4095), options :nth=N :every=N :p=P :seed=N :peer=NET
    /// :port=N :program=GLOB (repeatable). A bare preset fails every matching call, except eintr:
    /// one call in ten (p=0.1), since programs retry it at once. NET: 10.0.0.0/8, ::1, [::1],
    /// 2001:db8::/32, [2001:db8::]/32, fe80::1%eth0.
    #[arg(long, value_name = "SPEC", value_parser = sock_trace_config::parse_inject)]
    pub inject: Vec<sock_trace_config::FaultRule>,
    /// Do not annotate addresses with country and AS.
    #[arg(long)]
    pub no_annotate: bool,
    /// Show everything known about public addresses under each call.
    #[arg(long)]
    pub detail: bool,
    /// Limit bandwidth per socket: send=RATE and/or recv=RATE (100k, 2m; bytes per second), joined with +.
    #[arg(long, value_name = "SPEC", value_parser = sock_trace_config::parse_limit)]
    pub limit: Vec<sock_trace_config::LimitRule>,
}

#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    flags: TraceFlags,
    /// Do not trace child processes.
    #[arg(long)]
    no_follow: bool,
    /// Which capture backend traces the program: `preload` (the preload
    /// library, inside dynamically linked C-library programs), `syscall`
    /// (ptrace + seccomp at the system-call boundary, for static, Go and
    /// musl programs; x86_64), or `auto`, which picks by the program's ELF.
    #[arg(long, value_enum, default_value = "auto", value_name = "BACKEND")]
    #[cfg(unix)]
    backend: launch::BackendChoice,
    /// Do not name the configuration file on stderr (warnings still show).
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Test-suite only: make the tracer panic while recording connect().
    #[arg(long, hide = true)]
    selftest_panic: bool,
    /// The program and its arguments.
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "CMD"
    )]
    command: Vec<OsString>,
}

#[derive(Args)]
struct PrintArgs {
    /// The recording (`sock-trace record -o FILE`).
    #[arg(value_name = "RECORDING")]
    recording: PathBuf,
    /// Where the trace goes (`-o`), its format, filters, callers, annotation, summary, pcap.
    #[command(flatten)]
    flags: TraceFlags,
}

#[derive(Args)]
struct AttachArgs {
    #[command(flatten)]
    flags: TraceFlags,
    /// Do not name the configuration file on stderr.
    #[arg(short = 'q', long)]
    quiet: bool,
    /// The process to trace.
    pid: u32,
}

#[derive(Args)]
struct LookupCmd {
    #[command(flatten)]
    args: intel_cmd::LookupArgs,
    /// Configuration file (for [databases]).
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
}

#[derive(Args)]
struct DbCmd {
    #[command(flatten)]
    args: intel_cmd::DbArgs,
    /// Configuration file (for [databases]).
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
}

#[derive(Args)]
struct ConfigArgs {
    /// Print a fully commented default configuration file.
    #[arg(long)]
    default: bool,
    #[command(flatten)]
    flags: TraceFlags,
}

/// Parses one of the names of a [`Choice`] (the same words as in the
/// configuration file), listing them in the help and in errors.
fn choice<T: Choice + Clone + Send + Sync>() -> impl TypedValueParser<Value = T> {
    PossibleValuesParser::new(T::ALL.iter().map(|(name, _)| *name))
        .map(|name| T::from_name(&name).expect("one of the possible values"))
}

fn main() {
    // Reset SIGPIPE so `sock-trace config | head` ends quietly.
    // SAFETY: plain signal call at start-up.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL)
    };
    let cli = Cli::parse();
    let code = match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sock-trace: error: {e:#}");
            2
        }
    };
    std::process::exit(code);
}

/// A reader that goes away (`sock-trace run ... 2>&1 | head`) must not
/// kill the collector: the traced program would lose its consumer. The
/// printer notices EPIPE and stops writing instead.
fn ignore_sigpipe() {
    // SAFETY: plain signal call before any thread is started.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN)
    };
}

/// The `[databases]` of the configuration file `config` (or the one found).
fn databases(config: Option<PathBuf>) -> Result<sock_trace_ipintel::Sources> {
    let flags = TraceFlags {
        config,
        ..TraceFlags::default()
    };
    Ok(setup::Settings::load(&flags, false)?.config.databases)
}

/// The settings of `run` and `record`.
fn run_settings(args: &RunArgs) -> Result<setup::Settings> {
    let mut settings =
        setup::Settings::load_with(&args.flags, setup::Load::Run { quiet: args.quiet })?;
    if args.no_follow {
        settings.run.no_follow = true;
    }
    settings.run.selftest_panic = args.selftest_panic;
    Ok(settings)
}

fn dispatch(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Run(args) => {
            ignore_sigpipe();
            let settings = run_settings(&args)?;
            #[cfg(unix)]
            return setup::run(settings, &args.command, args.backend, setup::Sink::Trace);
            #[cfg(windows)]
            return windows::run(settings, &args.command);
        }
        #[cfg(unix)]
        Command::Record(args) => {
            let Some(path) = args.flags.output.clone() else {
                anyhow::bail!("`sock-trace record` needs `-o FILE`: where the recording goes");
            };
            ignore_sigpipe();
            let settings = run_settings(&args)?;
            setup::run(
                settings,
                &args.command,
                args.backend,
                setup::Sink::Record(path),
            )
        }
        Command::Print(args) => {
            ignore_sigpipe();
            let settings = setup::Settings::load(&args.flags, false)?;
            setup::print_recording(settings, &args.recording)
        }
        Command::Attach(args) => {
            ignore_sigpipe();
            let settings =
                setup::Settings::load_with(&args.flags, setup::Load::Run { quiet: args.quiet })?;
            #[cfg(unix)]
            return attach::attach(settings, args.pid);
            #[cfg(windows)]
            return windows::attach(settings, args.pid);
        }
        Command::Config(args) => {
            if args.default {
                print!("{}", sock_trace_config::DEFAULT_CONFIG);
                return Ok(0);
            }
            let settings = setup::Settings::load(&args.flags, false)?;
            settings.print_effective();
            Ok(0)
        }
        Command::Lookup(c) => intel_cmd::lookup_cmd(c.args, databases(c.config)?),
        Command::Db(c) => intel_cmd::db_cmd(c.args, databases(c.config)?),
        #[cfg(unix)]
        Command::PreloadPath => {
            println!("{}", preload_lib::path()?.display());
            Ok(0)
        }
        #[cfg(unix)]
        Command::Collect(args) => {
            ignore_sigpipe();
            standalone::collect(args)
        }
        #[cfg(unix)]
        Command::Handover(args) => handover::run(args),
    }
}
