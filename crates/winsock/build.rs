//! Generates, from `exports.txt`, what makes sock_trace.dll a drop-in for
//! ws2_32.dll (Windows targets only; nothing on Linux):
//!
//! - `exports.def`, passed to the linker: every ws2_32 name aliased to an
//!   internal symbol (`connect = st_connect`). A Rust `#[no_mangle] fn
//!   connect` would also capture the Rust standard library's own calls.
//! - `thunks.s`: one forwarding thunk per untraced name.
//! - `names.rs`: the names (for `GetProcAddress`) and their indices, and
//!   `HOOKED`, the indices of the traced ones: the one list the import
//!   patching of injected programs (`src/iat.rs`) redirects.
//! - `st_inject` and `st_detach`, the entry points of an injection and of
//!   `sock-trace.exe attach`'s detach (`src/iat.rs`), are exported too
//!   (not in the import library: programs never call them).
//!
//! `cargo xtask windows` makes the import library from the same list.

use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=exports.txt");
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("windows") {
        return;
    }
    let list = std::fs::read_to_string("exports.txt").expect("exports.txt");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    let mut def = String::from("EXPORTS\n");
    let mut asm = String::new();
    let mut names = String::new();
    let mut count = 0usize;
    let mut hooked = String::new();
    for line in list.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split_whitespace();
        let name = words.next().expect("a name");
        let kind = words.next().unwrap_or("forward");
        match kind {
            "data" => {
                writeln!(def, "    {name} = st_{name} DATA").unwrap();
                continue;
            }
            "hook" => {
                writeln!(def, "    {name} = st_{name}").unwrap();
                write!(hooked, "{count}, ").unwrap();
            }
            "forward" => {
                writeln!(def, "    {name} = st_fwd_{name}").unwrap();
                // The fast path jumps through the resolved pointer; the
                // first call resolves it (st_fwd_slow keeps the argument
                // registers). r10 is volatile and not an argument register
                // in the Windows x64 convention.
                write!(
                    asm,
                    ".globl st_fwd_{name}\n.p2align 4\nst_fwd_{name}:\n    \
                     mov rax, qword ptr [rip + ST_REAL + {off}]\n    \
                     test rax, rax\n    jz .Lst_slow_{name}\n    jmp rax\n\
                     .Lst_slow_{name}:\n    mov r10d, {count}\n    jmp st_fwd_slow\n",
                    off = count * 8
                )
                .unwrap();
            }
            other => panic!("exports.txt: unknown kind {other:?} for {name}"),
        }
        writeln!(names, "    b\"{name}\\0\",").unwrap();
        count += 1;
    }
    let mut idx = String::new();
    let mut i = 0;
    for line in list.lines() {
        let mut w = line.split_whitespace();
        let (Some(name), kind) = (w.next(), w.next()) else {
            continue;
        };
        if name.starts_with('#') || kind == Some("data") {
            continue;
        }
        writeln!(
            idx,
            "#[allow(non_upper_case_globals, dead_code)]\npub const I_{name}: usize = {i};"
        )
        .unwrap();
        i += 1;
    }
    def.push_str("    st_inject\n    st_detach\n");
    let rs = format!(
        "/// ws2_32 names, NUL-terminated, by index.\npub static NAMES: [&[u8]; {count}] = [\n{names}];\n{idx}\
         /// The indices in `NAMES` of the traced names.\n#[allow(dead_code)]\npub static HOOKED: &[usize] = &[{hooked}];\n"
    );
    std::fs::write(out.join("exports.def"), def).unwrap();
    std::fs::write(out.join("thunks.s"), asm).unwrap();
    std::fs::write(out.join("names.rs"), rs).unwrap();
    println!(
        "cargo:rustc-cdylib-link-arg={}",
        out.join("exports.def").display()
    );
}
