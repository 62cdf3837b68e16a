//! `cargo xtask windows`: builds every Windows artifact into
//! `target/windows/` on a Debian 12 machine, getting what it needs first.
//!
//! 1. MinGW (linker, `dlltool`, test programs) and Wine (running them):
//!    `apt-get install --no-install-recommends gcc-mingw-w64-x86-64 wine64`
//!    when missing (as root; otherwise it prints the command).
//! 2. A Rust compiler that can target `x86_64-pc-windows-gnu`: rustup's
//!    cannot here (no target download), Debian's `rustc-web` 1.96 can with
//!    `-Zbuild-std`, but installing it removes Debian's `rustc`. So its
//!    packages are downloaded (`apt-get download`) and unpacked into
//!    `target/windows-toolchain/` (kept for the next run), and rustup's
//!    `cargo` drives the unpacked `rustc` (shared/docs/windows-toolchain.md,
//!    "Route B").
//! 3. `cargo build --release --target x86_64-pc-windows-gnu
//!    -Zbuild-std=std,panic_abort` of the DLL and the collector, in a target
//!    directory of its own (`target/windows-build/`) so that the Linux
//!    build's artifacts and fingerprints are never touched.
//! 4. `target/windows/`: `sock_trace.dll`, `libsock_trace.dll.a` (MinGW
//!    import library, from `sock_trace.def`), `sock-trace.exe`, and the
//!    test-only `bcryptprimitives.dll` (Wine 8 lacks `ProcessPrng`, which
//!    Rust's std imports) and `inj_std.exe` (a std::net program the
//!    injection tests trace; built with the same std, seconds).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const TARGET: &str = "x86_64-pc-windows-gnu";
const MINGW_GCC: &str = "x86_64-w64-mingw32-gcc";
const WINE: &str = "/usr/lib/wine/wine64";
const APT_TOOLS: &[&str] = &["gcc-mingw-w64-x86-64", "wine64"];
/// Debian 12's rustc-web packages (Rust 1.96 with its library sources).
const RUST_DEBS: &[&str] = &[
    "rustc-web",
    "cargo-web",
    "libstd-rust-web-1.96",
    "libstd-rust-web-dev",
    "rust-web-src",
    "libllvm22",
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("windows") => windows(&args[1..]),
        _ => Err("usage: cargo xtask windows [--no-apt]\n\
                  builds sock_trace.dll, its import library and sock-trace.exe into target/windows/"
            .to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits in the workspace")
        .to_path_buf()
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let shown = format!("{cmd:?}");
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run {shown}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{shown} failed ({status})"))
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.trim_ascii() == b"0")
        .unwrap_or(false)
}

fn windows(args: &[String]) -> Result<(), String> {
    let no_apt = args.iter().any(|a| a == "--no-apt");
    let started = std::time::Instant::now();
    let root = workspace_root();
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    ensure_tools(no_apt)?;
    let toolchain = ensure_rustc(&target_dir.join("windows-toolchain"), no_apt)?;
    let out = target_dir.join("windows");
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    build(&root, &target_dir, &toolchain)?;
    let built = target_dir
        .join("windows-build")
        .join(TARGET)
        .join("release");
    copy(
        &built.join("sock_trace_winsock.dll"),
        &out.join("sock_trace.dll"),
    )?;
    copy(&built.join("sock-trace.exe"), &out.join("sock-trace.exe"))?;
    copy(
        &built.join("examples").join("inj_std.exe"),
        &out.join("inj_std.exe"),
    )?;
    import_library(&root, &out)?;
    process_prng_stub(&out)?;
    eprintln!(
        "xtask: Windows artifacts in {} ({:.0} s)",
        out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// MinGW and Wine from Debian, installed when missing.
fn ensure_tools(no_apt: bool) -> Result<(), String> {
    let have = |p: &str| {
        Path::new(p).exists()
            || Command::new("sh")
                .args(["-c", &format!("command -v {p}")])
                .output()
                .is_ok_and(|o| o.status.success())
    };
    if have(MINGW_GCC) && have(WINE) && have("x86_64-w64-mingw32-dlltool") {
        return Ok(());
    }
    let cmd = format!(
        "apt-get install -y --no-install-recommends {}",
        APT_TOOLS.join(" ")
    );
    if no_apt || !is_root() {
        return Err(format!("MinGW or Wine is missing; as root run: {cmd}"));
    }
    eprintln!("xtask: {cmd}");
    run(Command::new("apt-get")
        .args(["install", "-y", "-q", "--no-install-recommends"])
        .args(APT_TOOLS)
        .env("DEBIAN_FRONTEND", "noninteractive"))
}

/// The unpacked rustc-web toolchain: its root (`usr/bin/rustc` inside).
fn ensure_rustc(cache: &Path, no_apt: bool) -> Result<PathBuf, String> {
    let root = cache.join("root");
    let done = cache.join("complete");
    if done.exists() && root.join("usr/bin/rustc").exists() {
        return Ok(root);
    }
    if no_apt {
        return Err(format!(
            "no Windows-capable rustc in {}; run without --no-apt (needs apt-get download of {})",
            cache.display(),
            RUST_DEBS.join(" ")
        ));
    }
    let debs = cache.join("debs");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&debs).map_err(|e| format!("{}: {e}", debs.display()))?;
    eprintln!(
        "xtask: downloading Debian's rustc-web into {} (about 144 MB)",
        debs.display()
    );
    run(Command::new("apt-get")
        .arg("download")
        .args(RUST_DEBS)
        .current_dir(&debs))
    .map_err(|e| format!("{e}\n(if apt does not know rustc-web, run `apt-get update` first)"))?;
    let entries = std::fs::read_dir(&debs).map_err(|e| e.to_string())?;
    for e in entries.flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "deb") {
            run(Command::new("dpkg-deb").arg("-x").arg(&p).arg(&root))?;
        }
    }
    if !root.join("usr/bin/rustc").exists() {
        return Err(format!(
            "{} has no usr/bin/rustc after unpacking",
            root.display()
        ));
    }
    std::fs::write(&done, b"").map_err(|e| e.to_string())?;
    Ok(root)
}

/// Builds the DLL and the collector for Windows with rustup's cargo and
/// the unpacked rustc, then the test-only std::net program (a second
/// invocation: naming an example would select only it).
fn build(root: &Path, target_dir: &Path, toolchain: &Path) -> Result<(), String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let libdir = toolchain.join("usr/lib/x86_64-linux-gnu");
    let targets: [&[&str]; 2] = [
        &["-p", "sock-trace-winsock", "-p", "sock-trace"],
        &["-p", "sock-trace-winsock", "--example", "inj_std"],
    ];
    for which in targets {
        let mut cmd = Command::new(&cargo);
        cmd.current_dir(root)
            .args(["build", "--release", "--target", TARGET])
            .args(["-Zbuild-std=std,panic_abort"])
            .args(which)
            .arg("--target-dir")
            .arg(target_dir.join("windows-build"))
            .env("RUSTC", toolchain.join("usr/bin/rustc"))
            .env("RUSTDOC", toolchain.join("usr/bin/rustdoc"))
            .env("RUSTC_BOOTSTRAP", "1")
            .env("LD_LIBRARY_PATH", &libdir)
            .env("CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER", MINGW_GCC)
            // What the outer `cargo xtask` set for itself must not leak
            // into the inner build.
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("RUSTC_WRAPPER")
            .env_remove("CARGO_TARGET_DIR");
        run(&mut cmd)?;
    }
    Ok(())
}

fn copy(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::copy(from, to)
        .map(|_| ())
        .map_err(|e| format!("copying {} to {}: {e}", from.display(), to.display()))
}

/// `sock_trace.def` (the export list, also what an MSVC `lib /def:` takes)
/// and the MinGW import library made from it.
fn import_library(root: &Path, out: &Path) -> Result<(), String> {
    let list = std::fs::read_to_string(root.join("crates/winsock/exports.txt"))
        .map_err(|e| format!("crates/winsock/exports.txt: {e}"))?;
    let mut def = String::from("LIBRARY sock_trace.dll\nEXPORTS\n");
    for line in list.lines() {
        let mut w = line.split_whitespace();
        let Some(name) = w.next().filter(|n| !n.starts_with('#')) else {
            continue;
        };
        if w.next() == Some("data") {
            def.push_str(&format!("    {name} DATA\n"));
        } else {
            def.push_str(&format!("    {name}\n"));
        }
    }
    let def_path = out.join("sock_trace.def");
    std::fs::write(&def_path, def).map_err(|e| e.to_string())?;
    run(Command::new("x86_64-w64-mingw32-dlltool")
        .arg("--input-def")
        .arg(&def_path)
        .args(["--dllname", "sock_trace.dll", "--output-lib"])
        .arg(out.join("libsock_trace.dll.a")))
}

/// Test-only: Wine 8 has no `bcryptprimitives.dll`, whose `ProcessPrng`
/// Rust's std (≥ 1.78) imports; without it sock-trace.exe exits with
/// code 53 before `main`. Put next to the executables (and in the test
/// prefixes), never shipped.
fn process_prng_stub(out: &Path) -> Result<(), String> {
    let src = out.join("bcryptprimitives-stub.c");
    std::fs::write(
        &src,
        "/* Test-only ProcessPrng for Wine 8 (see xtask/src/main.rs). */\n\
         #include <windows.h>\n\
         BOOLEAN WINAPI SystemFunction036(PVOID, ULONG);\n\
         __declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE p, SIZE_T n) {\n\
         \x20 while (n) { ULONG k = n > 0x7fffffff ? 0x7fffffff : (ULONG)n;\n\
         \x20   if (!SystemFunction036(p, k)) return FALSE; p += k; n -= k; }\n\
         \x20 return TRUE; }\n",
    )
    .map_err(|e| e.to_string())?;
    run(Command::new(MINGW_GCC)
        .args(["-shared", "-O2", "-o"])
        .arg(out.join("bcryptprimitives.dll"))
        .arg(&src)
        .arg("-ladvapi32"))
}
