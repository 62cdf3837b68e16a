//! Which per-program rule applies to a process: a pattern over the
//! executable's path, evaluated the same way inside the traced program
//! (to choose what to capture, with no allocation) and in the collector
//! (to choose how to print).
//!
//! A pattern without `/` is matched against the base name of the
//! executable and of `argv[0]` (`curl`, `python3*`, and `sh` although
//! /bin/sh is dash); one with `/` against the executable's whole path
//! (`/usr/bin/*`, `*/venv/bin/python*`). `*` matches any run of bytes
//! (including `/`), `?` one byte; everything else matches itself.

/// Whether `pattern` selects the process running `exe` (its resolved path)
/// with `argv0` (its first argument; may be empty).
pub fn program_matches(pattern: &[u8], exe: &[u8], argv0: &[u8]) -> bool {
    if pattern.contains(&b'/') {
        return glob(pattern, exe);
    }
    glob(pattern, base_name(exe)) || (!argv0.is_empty() && glob(pattern, base_name(argv0)))
}

fn base_name(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|&b| b == b'/') {
        Some(i) => &path[i + 1..],
        None => path,
    }
}

/// Iterative glob with single-star backtracking: linear in practice,
/// bounded by pattern × text in the worst case, no recursion.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == b'?' || pattern[p] == text[t]) && pattern[p] != b'*'
        {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

#[cfg(test)]
mod tests {
    fn m(pattern: &[u8], exe: &[u8]) -> bool {
        super::program_matches(pattern, exe, b"")
    }

    #[test]
    fn base_names_and_paths() {
        assert!(m(b"curl", b"/usr/bin/curl"));
        assert!(!m(b"curl", b"/usr/bin/curlx"));
        assert!(!m(b"url", b"/usr/bin/curl"));
        assert!(m(b"python3*", b"/usr/bin/python3.11"));
        assert!(m(b"/usr/bin/*", b"/usr/bin/wget"));
        assert!(!m(b"/usr/bin/*", b"/usr/local/bin/wget"));
        assert!(m(b"*/bin/w?et", b"/usr/bin/wget"));
        assert!(m(b"*", b"/anything"));
        assert!(m(b"a*b*c", b"/x/aXXbYYc"));
        assert!(!m(b"a*b*c", b"/x/aXXbYY"));
        assert!(!m(b"", b"/usr/bin/curl"));
    }

    #[test]
    fn argv0_names_count_for_base_name_patterns() {
        assert!(super::program_matches(b"sh", b"/usr/bin/dash", b"/bin/sh"));
        assert!(super::program_matches(b"sh", b"/usr/bin/dash", b"sh"));
        assert!(!super::program_matches(
            b"/bin/sh",
            b"/usr/bin/dash",
            b"/bin/sh"
        ));
    }
}
