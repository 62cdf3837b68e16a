//! Builds the preload library (a separate cdylib crate) and hands its path
//! to the CLI, which embeds it with `include_bytes!`. This is what makes
//! `cargo install --path crates/cli` and `cargo run -- run ...` give one
//! working artifact with no second build step.
//!
//! The nested cargo uses its own target directory (the outer build holds
//! the lock on the workspace's) and always builds the library optimised:
//! the code that runs inside traced programs is never a debug build.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let workspace = manifest_dir.join("../..");
    for dir in ["crates/preload", "crates/event"] {
        println!("cargo:rerun-if-changed={}", workspace.join(dir).display());
    }
    println!(
        "cargo:rerun-if-changed={}",
        workspace.join("Cargo.lock").display()
    );
    println!("cargo:rerun-if-env-changed=SOCK_TRACE_PRELOAD_OVERRIDE");
    // sock-trace.exe carries no preload library (Windows programs load
    // sock_trace.dll, built by `cargo xtask windows`).
    if env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("windows") {
        return;
    }

    // Escape hatch for packagers who build the library themselves.
    if let Ok(path) = env::var("SOCK_TRACE_PRELOAD_OVERRIDE") {
        let bytes = std::fs::read(&path).expect("reading SOCK_TRACE_PRELOAD_OVERRIDE");
        println!("cargo:rustc-env=SOCK_TRACE_PRELOAD_SO={path}");
        println!(
            "cargo:rustc-env=SOCK_TRACE_PRELOAD_HASH={:016x}",
            content_hash(&bytes)
        );
        return;
    }

    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    // Shared between profiles of the same build tree so a debug and a
    // release CLI do not compile the library twice.
    let target_dir = out
        .ancestors()
        .nth(4)
        .map(|t| t.join("sock-trace-preload"))
        .unwrap_or_else(|| out.join("preload-target"));
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--package",
            "sock-trace-preload",
            "--manifest-path",
        ])
        .arg(workspace.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET_DIR")
        .env("CARGO_ENCODED_RUSTFLAGS", "-Cforce-frame-pointers=yes")
        // Every traced process maps this file: keep it small. Symbols stay
        // (the dynamic ones are the hooks), debug info goes.
        .env("CARGO_PROFILE_RELEASE_DEBUG", "0")
        .env("CARGO_PROFILE_RELEASE_STRIP", "debuginfo")
        .status()
        .expect("running cargo to build the preload library");
    assert!(status.success(), "building the preload library failed");
    let so = target_dir.join("release/libsock_trace.so");
    assert!(so.exists(), "{} was not produced", so.display());
    println!("cargo:rustc-env=SOCK_TRACE_PRELOAD_SO={}", so.display());
    // Hashed here rather than at every start of the CLI (milliseconds for
    // a few MB, on the start-up path of every traced run).
    let bytes = std::fs::read(&so).expect("reading the preload library");
    println!(
        "cargo:rustc-env=SOCK_TRACE_PRELOAD_HASH={:016x}",
        content_hash(&bytes)
    );
}

/// FNV-1a; only distinguishes builds, not a security measure.
fn content_hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}
