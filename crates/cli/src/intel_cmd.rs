//! `sock-trace lookup` and `sock-trace db` sub-commands (drop into the CLI crate).
//!
//! Needs in the CLI crate's Cargo.toml: `clap` (features "derive"), `anyhow`,
//! `indicatif`, `serde_json`, and `sock-trace-ipintel` (default features, which
//! include `update`). Wire-up, e.g.:
//!
//! ```ignore
//! #[derive(clap::Subcommand)]
//! enum Command {
//!     /// Show everything known about addresses.
//!     Lookup(cli_intel::LookupArgs),
//!     /// List or update address databases.
//!     Db(cli_intel::DbArgs),
//!     // ...
//! }
//! // match cmd { Command::Lookup(a) => cli_intel::lookup_cmd(a, sources), Command::Db(a) => cli_intel::db_cmd(a, sources) }
//! ```

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use sock_trace_ipintel::update::{
    self, DEFAULT_DROP_V4_URL, DEFAULT_DROP_V6_URL, DEFAULT_LIBLOC_URL,
};
use sock_trace_ipintel::{Intel, Sources};
use std::io::BufRead;
use std::path::PathBuf;

/// `sock-trace lookup [--json] [ADDR...]`
#[derive(Args, Debug)]
pub struct LookupArgs {
    /// Print one JSON object per address instead of text.
    #[arg(long)]
    pub json: bool,
    /// Addresses to look up; read from standard input (one per line) when none.
    pub addrs: Vec<String>,
}

/// `sock-trace db [update ...]`
#[derive(Args, Debug)]
pub struct DbArgs {
    #[command(subcommand)]
    pub command: Option<DbCommand>,
}

#[derive(Subcommand, Debug)]
pub enum DbCommand {
    /// Download fresh databases into the data directory.
    Update(UpdateArgs),
}

#[derive(Args, Debug)]
pub struct UpdateArgs {
    /// Target directory (default: $XDG_DATA_HOME/sock-trace).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    #[arg(long, default_value = DEFAULT_LIBLOC_URL)]
    pub url_libloc: String,
    #[arg(long, default_value = DEFAULT_DROP_V4_URL)]
    pub url_drop_v4: String,
    #[arg(long, default_value = DEFAULT_DROP_V6_URL)]
    pub url_drop_v6: String,
}

fn print_problems(intel: &Intel) {
    for p in intel.problems() {
        eprintln!("warning: skipping {p}");
    }
}

/// Looks up each address; exit code 1 if any argument was not an address.
pub fn lookup_cmd(args: LookupArgs, sources: Sources) -> Result<i32> {
    let mut intel = Intel::new(&sources);
    print_problems(&intel);
    let inputs: Vec<String> = if args.addrs.is_empty() {
        std::io::stdin()
            .lock()
            .lines()
            .collect::<std::io::Result<_>>()?
    } else {
        args.addrs
    };
    let mut status = 0;
    for text in inputs.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        // `fe80::1%eth0` and `[::1]` too: the zone names an interface and
        // does not change what is known about the address.
        let Some((ip, zone)) = sock_trace_ipintel::parse_addr_zone(text) else {
            eprintln!(
                "{}: not an IP address",
                sock_trace_config::shorten(text, sock_trace_config::MAX_ECHO)
            );
            status = 1;
            continue;
        };
        let a = intel.lookup(ip);
        if args.json {
            println!("{}", serde_json::to_string(&a)?);
        } else {
            let zone = zone.map(|z| format!("%{z}")).unwrap_or_default();
            println!("{ip}{zone}: {}", a.compact());
            for line in a.detailed_lines() {
                println!("  {line}");
            }
        }
    }
    Ok(status)
}

/// Lists sources, or runs `db update`.
pub fn db_cmd(args: DbArgs, sources: Sources) -> Result<i32> {
    match args.command {
        None => db_list(sources),
        Some(DbCommand::Update(u)) => db_update(u, sources),
    }
}

fn db_list(sources: Sources) -> Result<i32> {
    let mut intel = Intel::new(&sources);
    print_problems(&intel);
    let list = intel.sources();
    if list.is_empty() {
        println!("no address databases found; run `sock-trace db update`");
    }
    let mut stale = 0;
    for s in &list {
        let age = s
            .age_days
            .map_or("age unknown".to_string(), |d| format!("{d} days old"));
        let date = s.built_date.as_deref().unwrap_or("date unknown");
        let flag = if s.stale { "  STALE" } else { "" };
        println!(
            "{:<12} {}  ({date}, {age}){flag}\n             {}",
            s.kind.label(),
            s.path,
            s.detail
        );
        stale += usize::from(s.stale);
    }
    if stale > 0 {
        eprintln!(
            "warning: {stale} source(s) older than {} days; run `sock-trace db update`",
            sources.stale_after_days
        );
    }
    Ok(0)
}

fn db_update(args: UpdateArgs, sources: Sources) -> Result<i32> {
    let dir = args
        .dir
        .or_else(|| sources.data_dir())
        .context("no data directory: set --dir, XDG_DATA_HOME or HOME")?;
    let jobs = [
        (args.url_libloc, "location.db"),
        (args.url_drop_v4, "drop_v4.json"),
        (args.url_drop_v6, "drop_v6.json"),
    ];
    let mut failures = 0;
    for (url, name) in jobs {
        let dest = dir.join(name);
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg:14} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_message(name);
        let result = update::download(&url, &dest, &mut |got, total| {
            if let Some(t) = total {
                bar.set_length(t);
            }
            bar.set_position(got);
        });
        bar.finish_and_clear();
        match result {
            Ok(size) => println!("{name}: {size} bytes -> {}", dest.display()),
            Err(e) => {
                eprintln!("{name}: {e}");
                failures += 1;
            }
        }
    }
    Ok(i32::from(failures > 0))
}
