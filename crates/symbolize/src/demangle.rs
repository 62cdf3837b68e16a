//! Symbol demangling: Rust (legacy and v0) and C++ (Itanium).

/// Source language hint for [`demangle`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    /// Unknown: guess from the mangling prefix.
    Unknown,
    /// Rust (`_ZN...17h<hash>E` or `_R...`).
    Rust,
    /// C++ (Itanium ABI, `_Z...`).
    Cpp,
    /// C or another language that does not mangle.
    C,
}

impl Lang {
    pub(crate) fn from_dw(lang: Option<gimli::DwLang>) -> Lang {
        match lang {
            Some(gimli::DW_LANG_Rust) => Lang::Rust,
            Some(
                gimli::DW_LANG_C_plus_plus
                | gimli::DW_LANG_C_plus_plus_03
                | gimli::DW_LANG_C_plus_plus_11
                | gimli::DW_LANG_C_plus_plus_14,
            ) => Lang::Cpp,
            Some(
                gimli::DW_LANG_C
                | gimli::DW_LANG_C89
                | gimli::DW_LANG_C99
                | gimli::DW_LANG_C11
                | gimli::DW_LANG_C17,
            ) => Lang::C,
            _ => Lang::Unknown,
        }
    }
}

/// Does `s` look like a Rust legacy symbol (`_ZN...17h<16 hex>E`)?
fn is_rust_legacy(s: &str) -> bool {
    let Some(body) = s.strip_suffix('E') else {
        return false;
    };
    if !s.starts_with("_ZN") || body.len() < 19 {
        return false;
    }
    // Byte slicing: `body` may contain multi-byte characters.
    let hash = &body.as_bytes()[body.len() - 19..];
    hash.starts_with(b"17h") && hash[3..].iter().all(u8::is_ascii_hexdigit)
}

fn rust(s: &str) -> Option<String> {
    // `{:#}` omits the legacy hash suffix (and v0 crate disambiguators).
    rustc_demangle::try_demangle(s)
        .ok()
        .map(|d| format!("{d:#}"))
}

fn cpp(s: &str) -> Option<String> {
    let sym = cpp_demangle::Symbol::new(s).ok()?;
    let opts = cpp_demangle::DemangleOptions::new()
        .no_params()
        .no_return_type();
    sym.demangle(&opts).ok()
}

/// Demangles `name`. Returns the input unchanged when it is not mangled or
/// cannot be demangled. Never panics on malformed input (both demanglers
/// reject malformed input with an error and have recursion limits).
pub fn demangle(name: &str, lang: Lang) -> String {
    // Versioned dynamic symbols ("foo@@GLIBC_2.2.5") never reach here: the
    // symbol table reader keeps the bare name.
    let out = match lang {
        Lang::C => None,
        Lang::Rust => rust(name).or_else(|| cpp(name)),
        Lang::Cpp => cpp(name),
        Lang::Unknown => {
            if name.starts_with("_R") || is_rust_legacy(name) {
                rust(name).or_else(|| cpp(name))
            } else if name.starts_with("_Z") {
                cpp(name)
            } else {
                None
            }
        }
    };
    out.unwrap_or_else(|| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_legacy_and_v0() {
        assert_eq!(
            demangle(
                "_ZN7rsprobe3net10do_connect17h0123456789abcdefE",
                Lang::Unknown
            ),
            "rsprobe::net::do_connect"
        );
        assert_eq!(
            demangle("_RNvNtCs1234_7rsprobe3net10do_connect", Lang::Unknown),
            "rsprobe::net::do_connect"
        );
    }

    #[test]
    fn cpp_names() {
        assert_eq!(demangle("_ZN5Probe3runEv", Lang::Unknown), "Probe::run");
        assert_eq!(demangle("_ZN5ProbeD2Ev", Lang::Cpp), "Probe::~Probe");
        assert_eq!(demangle("main", Lang::Unknown), "main");
        assert_eq!(demangle("_Z", Lang::Unknown), "_Z");
        assert_eq!(demangle("_ZN5Probe3runEv", Lang::C), "_ZN5Probe3runEv");
        // garbage must not panic
        for s in [
            "_ZN\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}E",
            "_ZZZZZZZ",
            "_RNvNt",
            "_ZN17h",
            "_ZNKSt3__1",
            "\u{0}_Z",
            "_Z1",
        ] {
            let _ = demangle(s, Lang::Unknown);
            let _ = demangle(s, Lang::Rust);
        }
    }
}
