use super::*;
use std::collections::HashMap;
use std::path::Path;

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
    let m: HashMap<String, OsString> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), OsString::from(v)))
        .collect();
    move |k| m.get(k).cloned()
}

fn parse_err(text: &str) -> (usize, usize, String) {
    match Config::from_str_named(text, "t.toml").unwrap_err().kind {
        ErrorKind::Parse {
            line,
            column,
            message,
            ..
        } => (line, column, message),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_commented_default_file_is_the_default() {
    assert_eq!(
        Config::from_str_named(DEFAULT_CONFIG, "default").unwrap(),
        Config::default()
    );
}

#[test]
fn empty_file_gives_defaults_and_values_parse() {
    assert_eq!(Config::from_str_named("", "x").unwrap(), Config::default());
    let c = Config::from_str_named(
        "[trace]\nformat = \"jsonl\"\ncolor = \"never\"\ntimestamps = \"delta\"\nshow_pid = \"always\"\noutput = \"/tmp/t.txt\"\n",
        "x",
    )
    .unwrap();
    assert_eq!(c.trace.format, Format::Jsonl);
    assert_eq!(c.trace.color, ColorMode::Never);
    assert_eq!(c.trace.timestamps, TimestampMode::Delta);
    assert_eq!(c.trace.show_pid, ShowPid::Always);
    assert_eq!(c.trace.output, Output::File("/tmp/t.txt".into()));
    for (text, want) in [("stdout", Output::Stdout), ("stderr", Output::Stderr)] {
        let c = Config::from_str_named(&format!("[trace]\noutput = \"{text}\""), "x").unwrap();
        assert_eq!(c.trace.output, want);
    }
}

#[test]
fn errors_point_at_line_and_column() {
    let (l, c, m) = parse_err("[trace]\nformat = \"jsn\"\n");
    assert_eq!((l, c), (2, 10));
    assert!(m.contains("jsn"), "{m}");
    let (l, c, m) = parse_err("[trace]\n\nfromat = \"text\"\n");
    assert_eq!((l, c), (3, 1));
    assert!(m.contains("fromat"), "{m}");
    let (l, c, _) = parse_err("[trace]\nmax_string = \"long\"\n");
    assert_eq!((l, c), (2, 14));
    let (l, _, _) = parse_err("[trace]\nformat = \n");
    assert_eq!(l, 2);
    let (l, c, m) = parse_err("[colors]\nerror = \"blinking red\"\n");
    assert_eq!((l, c), (2, 9));
    assert!(m.contains("blinking"), "{m}");
    let e = Config::from_str_named("[trace]\nformat = \"jsn\"\n", "/etc/x.toml").unwrap_err();
    assert!(e.to_string().starts_with("/etc/x.toml:2:10: "), "{e}");
}

#[test]
fn discovery_order() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path().join("cwd");
    let xdg = dir.path().join("xdg");
    let home = dir.path().join("home");
    std::fs::create_dir_all(cwd.clone()).unwrap();
    std::fs::create_dir_all(xdg.join("sock-trace")).unwrap();
    std::fs::create_dir_all(home.join(".config/sock-trace")).unwrap();
    let explicit = dir.path().join("explicit.toml");
    let envfile = dir.path().join("env.toml");
    for f in [
        &explicit,
        &envfile,
        &cwd.join("sock-trace.toml"),
        &xdg.join("sock-trace/config.toml"),
        &home.join(".config/sock-trace/config.toml"),
    ] {
        std::fs::write(f, "").unwrap();
    }
    let all = env_of(&[
        ("SOCK_TRACE_CONFIG", envfile.to_str().unwrap()),
        ("XDG_CONFIG_HOME", xdg.to_str().unwrap()),
        ("HOME", home.to_str().unwrap()),
    ]);
    let found = |e: Option<&Path>, env: &dyn Fn(&str) -> Option<OsString>| {
        discover(e, env, &cwd).unwrap().path
    };
    assert_eq!(found(Some(&explicit), &all), Some(explicit.clone()));
    assert_eq!(found(None, &all), Some(envfile.clone()));
    let no_env = env_of(&[
        ("XDG_CONFIG_HOME", xdg.to_str().unwrap()),
        ("HOME", home.to_str().unwrap()),
    ]);
    assert_eq!(found(None, &no_env), Some(cwd.join("sock-trace.toml")));
    std::fs::remove_file(cwd.join("sock-trace.toml")).unwrap();
    assert_eq!(
        found(None, &no_env),
        Some(xdg.join("sock-trace/config.toml"))
    );
    let home_only = env_of(&[("HOME", home.to_str().unwrap())]);
    assert_eq!(
        found(None, &home_only),
        Some(home.join(".config/sock-trace/config.toml"))
    );
    let missing = dir.path().join("nope.toml");
    assert!(discover(Some(&missing), &all, &cwd).is_err());
    let bad_env = env_of(&[("SOCK_TRACE_CONFIG", missing.to_str().unwrap())]);
    let e = discover(None, &bad_env, &cwd).unwrap_err();
    assert!(e.to_string().contains("SOCK_TRACE_CONFIG"), "{e}");
}

#[test]
fn explicit_paths_directories_and_dev_null() {
    let dir = tempfile::tempdir().unwrap();
    let none = env_of(&[]);
    let e = discover(Some(dir.path()), &none, dir.path()).unwrap_err();
    assert!(e.to_string().contains("is a directory"), "{e}");
    assert!(!e.to_string().contains("no such"), "{e}");
    let e = Config::load(dir.path()).unwrap_err();
    assert!(e.to_string().contains("is a directory"), "{e}");
    let null = Path::new("/dev/null");
    assert_eq!(
        discover(Some(null), &none, dir.path())
            .unwrap()
            .path
            .as_deref(),
        Some(null)
    );
    assert_eq!(Config::load(null).unwrap(), Config::default());
    let e = discover(Some(&dir.path().join("missing.toml")), &none, dir.path()).unwrap_err();
    assert!(
        e.to_string()
            .contains("missing.toml: no such configuration file"),
        "{e}"
    );
}

/// chown works only for root; elsewhere the owner checks are skipped.
fn chown(path: &Path, uid: u32) -> bool {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: valid C string; -1 keeps the group.
    unsafe { libc::chown(c.as_ptr(), uid, u32::MAX) == 0 }
}

#[test]
fn a_current_directory_file_is_used_only_when_it_is_safe() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path().join("checkout");
    let xdg = dir.path().join("xdg");
    std::fs::create_dir_all(&cwd).unwrap();
    std::fs::create_dir_all(xdg.join("sock-trace")).unwrap();
    let local = cwd.join("sock-trace.toml");
    std::fs::write(&local, "").unwrap();
    std::fs::write(xdg.join("sock-trace/config.toml"), "").unwrap();
    let env = env_of(&[("XDG_CONFIG_HOME", xdg.to_str().unwrap())]);
    // SAFETY: no arguments, cannot fail.
    let me = unsafe { libc::geteuid() };
    assert_eq!(untrusted_reason(&local, me), None);
    assert_eq!(
        discover(None, &env, &cwd).unwrap().path,
        Some(local.clone())
    );

    std::fs::set_permissions(&local, std::fs::Permissions::from_mode(0o666)).unwrap();
    let why = untrusted_reason(&local, me).unwrap();
    assert!(why.contains("writable by everyone"), "{why}");
    std::fs::set_permissions(&local, std::fs::Permissions::from_mode(0o664)).unwrap();
    let d = discover(None, &env, &cwd).unwrap();
    assert_eq!(d.path, Some(xdg.join("sock-trace/config.toml")));
    assert_eq!(d.skipped.len(), 1);
    assert!(
        d.skipped[0].contains("sock-trace.toml not used: it is writable by its group"),
        "{:?}",
        d.skipped
    );
    std::fs::set_permissions(&local, std::fs::Permissions::from_mode(0o644)).unwrap();

    if !chown(&local, 65534) {
        eprintln!("not root: owner checks not exercised");
        return;
    }
    let why = untrusted_reason(&local, me).unwrap();
    assert!(why.contains("owned by uid 65534"), "{why}");
    let d = discover(None, &env, &cwd).unwrap();
    assert_eq!(d.path, Some(xdg.join("sock-trace/config.toml")));
    assert!(
        d.skipped[0].contains("owned by uid 65534"),
        "{:?}",
        d.skipped
    );
    // The user's own file in someone else's directory is not safe either.
    assert!(chown(&local, me) && chown(&cwd, 65534));
    let why = untrusted_reason(&local, me).unwrap();
    assert!(why.contains("its directory is owned by uid 65534"), "{why}");
    // Root's files are trusted by everyone.
    assert!(chown(&cwd, 0) && chown(&local, 0));
    assert_eq!(untrusted_reason(&local, 4242), None);
}

#[test]
fn unknown_keys_are_skipped_one_warning_each_and_the_rest_is_kept() {
    let text = "[trace]\nformat = \"jsonl\"\nbogus = 1\n\n[callers]\ndepth = 3\nalso.dotted = [\n  1,\n  2,\n]\n\n[nonsense]\nx = 1 # c\ny = \"z\"\n\n[[fault]]\nfunctions = [\"connect\"]\nerror = \"ECONNREFUSED\"\nnht = 2\n";
    let (c, warnings) = Config::from_str_lenient(text, "t.toml").unwrap();
    assert_eq!(c.trace.format, Format::Jsonl);
    assert_eq!(c.callers.depth, 3);
    assert_eq!(c.faults.len(), 1);
    assert_eq!(c.faults[0].error.as_deref(), Some("ECONNREFUSED"));
    assert_eq!(warnings.len(), 4, "{warnings:#?}");
    for (w, start) in warnings.iter().zip([
        "t.toml:3:1: unknown key `bogus`",
        "t.toml:7:1: unknown key `also`",
        "t.toml:12:2: unknown key `nonsense`",
        "t.toml:19:1: unknown key `nht`",
    ]) {
        assert!(w.starts_with(start), "{w}");
    }
    assert!(warnings.iter().all(|w| w.ends_with("; ignored")));
    // Strict parsing (and anything that is not an unknown key) still fails.
    assert!(Config::from_str_named(text, "t.toml").is_err());
    assert!(Config::from_str_lenient("[trace]\nbogus = 1\nformat = \"jsn\"\n", "t").is_err());
}

#[test]
fn rule_errors_point_at_the_key() {
    let at = |text: &str| {
        let e = Config::from_str_named(text, "r.toml").unwrap_err();
        match e.kind {
            ErrorKind::Invalid { line, column, .. } | ErrorKind::Parse { line, column, .. } => {
                (line, column, e.to_string())
            }
            other => panic!("{other:?}"),
        }
    };
    let fault = "[[fault]]\npreset = \"refuse\"\n\n[[fault]]\nfunctions = [\"connect\"]\nerror = \"ECONNREFUSED\"\n";
    let (l, c, m) = at(&format!("{fault}nth = 0\n"));
    assert_eq!((l, c), (7, 1), "{m}");
    assert!(m.contains("nth = 0"), "{m}");
    let (l, c, m) = at(&format!("{fault}port = \"http\"\n"));
    assert_eq!((l, c), (7, 8), "{m}");
    let (l, c, m) = at(&format!("{fault}peer = \"10.0.0.0/99\"\n"));
    assert_eq!((l, c), (7, 1), "{m}");
    assert!(m.contains("prefix length 99 is more than 32"), "{m}");
    let (l, c, m) = at("[[fault]]\nfunctions = [\"connect\"]\n  error = \"0\"\n");
    assert_eq!((l, c), (3, 3), "{m}");
    let (l, _, m) = at("[[delay]]\nfunctions = [\"send\"]\nms = -5.0\n");
    assert_eq!(l, 3, "{m}");
    assert!(m.contains("-5 ms"), "{m}");
    let (l, _, m) = at("[[limit]]\nprogram = \"x\"\nrecv = \"fast\"\n");
    assert_eq!(l, 3, "{m}");
    let (l, _, m) = at("[[program]]\nmatch = \"a\"\n[[program]]\n\nmatch = \"\"\n");
    assert_eq!(l, 5, "{m}");
}

#[test]
fn ten_thousand_program_sections_are_refused_fast_and_echoes_are_cut() {
    let mut text = String::new();
    for i in 0..10_000 {
        text.push_str(&format!(
            "[[program]]\nmatch = \"prog{i}\"\ninclude = [\"connect\"]\n\n"
        ));
    }
    let t = std::time::Instant::now();
    let e = Config::from_str_lenient(&text, "many.toml").unwrap_err();
    let took = t.elapsed();
    assert!(
        e.to_string()
            .contains("10000 [[program]] sections; at most 14"),
        "{e}"
    );
    assert!(e.to_string().starts_with("many.toml:57:1: "), "{e}");
    // Only a hang guard (a 1 s bound flaked on a loaded machine): the place
    // in the message above shows the first section too many is refused.
    assert!(took < std::time::Duration::from_secs(30), "took {took:?}");

    let long = "a".repeat(10_000_000);
    let e = Config::from_str_named(
        &format!("[trace]\noutput = \"{long}\"\nformat = 3\n"),
        &long,
    )
    .unwrap_err()
    .to_string();
    assert!(e.len() < 1000, "{} bytes", e.len());
    assert!(e.contains("(10000000 bytes in all)"), "{}", &e[..300]);
    let cut = shorten("x\u{1}\ny", 2);
    assert_eq!(cut, "x\\u{1}\u{2026} (4 bytes in all)");
}

#[test]
fn globs_match_whole_names() {
    let f = FunctionFilter::new(&["*".into()], &["recv".into()]).unwrap();
    assert!(!f.matches("recv"));
    assert!(
        f.matches("recvfrom"),
        "excluding recv must not hide recvfrom"
    );
    let f = FunctionFilter::new(&["*".into()], &["recv*".into()]).unwrap();
    assert!(!f.matches("recvfrom") && !f.matches("recvmmsg") && f.matches("send"));
    let f = FunctionFilter::new(&["get*info".into()], &[]).unwrap();
    assert!(f.matches("getaddrinfo") && f.matches("getnameinfo") && !f.matches("gethostbyname"));
    assert_eq!(f.unknown_patterns(&["getaddrinfo"]), Vec::<String>::new());
    let f = FunctionFilter::new(&["conect".into()], &[]).unwrap();
    assert_eq!(
        f.unknown_patterns(&["connect", "socket"]),
        vec!["conect".to_string()]
    );
    assert!(FunctionFilter::new(&["[".into()], &[]).is_err());
}

#[test]
fn naming_a_function_overrides_the_default_exclusions() {
    let defaults = TraceConfig::default().exclude;
    let f = FunctionFilter::new(&["hton*".into(), "inet_*".into()], &defaults).unwrap();
    assert!(f.matches("htons") && f.matches("inet_pton") && !f.matches("ntohs"));
    let f = FunctionFilter::new(&["*".into()], &defaults).unwrap();
    assert!(!f.matches("htons") && !f.matches("inet_ntop") && f.matches("connect"));
    // A user's own exclusion still wins.
    let f = FunctionFilter::new(&["c*".into()], &["connect".into()]).unwrap();
    assert!(!f.matches("connect") && f.matches("close"));
    // As `-e 'hton*,inet_*'` over the default file.
    let mut c = Config::default();
    c.apply(&Overrides {
        include: Some(vec!["hton*".into(), "inet_*".into()]),
        ..Overrides::default()
    });
    let f = FunctionFilter::new(&c.trace.include, &c.trace.exclude).unwrap();
    assert!(f.matches("htonl") && f.matches("inet_ntop") && !f.matches("connect"));
}

#[test]
fn color_precedence() {
    let none = env_of(&[]);
    let force = env_of(&[("CLICOLOR_FORCE", "1")]);
    let no = env_of(&[("NO_COLOR", "1")]);
    let both = env_of(&[("NO_COLOR", "1"), ("CLICOLOR_FORCE", "1")]);
    assert!(resolve_color(None, ColorMode::Auto, true, &none));
    assert!(!resolve_color(None, ColorMode::Auto, false, &none));
    assert!(!resolve_color(None, ColorMode::Auto, true, &no));
    assert!(resolve_color(None, ColorMode::Auto, false, &force));
    assert!(resolve_color(None, ColorMode::Never, false, &both));
    assert!(resolve_color(
        Some(ColorMode::Always),
        ColorMode::Never,
        false,
        &no
    ));
    assert!(!resolve_color(
        Some(ColorMode::Never),
        ColorMode::Always,
        true,
        &force
    ));
    assert!(!resolve_color(
        None,
        ColorMode::Auto,
        false,
        &env_of(&[("CLICOLOR_FORCE", "0")])
    ));
}

#[test]
fn overrides_and_round_trip() {
    let mut c = Config::default();
    c.apply(&Overrides {
        format: Some(Format::Jsonl),
        include: Some(vec!["connect".into()]),
        exclude: vec!["close".into()],
        max_string: Some(10),
        ..Overrides::default()
    });
    assert_eq!(c.trace.format, Format::Jsonl);
    assert_eq!(c.trace.include, vec!["connect".to_string()]);
    assert!(
        c.trace.exclude.contains(&"close".to_string())
            && c.trace.exclude.contains(&"hton*".to_string())
    );
    let text = c.to_toml_string();
    assert_eq!(Config::from_str_named(&text, "round-trip").unwrap(), c);
}

#[test]
fn styles() {
    let s = Style::parse("bold bright red on blue")
        .unwrap()
        .to_anstyle();
    assert_eq!(s.render().to_string(), "\x1b[1m\x1b[91m\x1b[44m");
    assert_eq!(
        Style::parse("none").unwrap().to_anstyle(),
        anstyle::Style::new()
    );
    assert!(Style::parse("color(208)").is_ok() && Style::parse("#ff8800").is_ok());
    assert!(Style::parse("sparkly").is_err());
}

#[test]
fn function_families_in_rules_are_the_function_tables_columns() {
    use sock_trace_event::Func::*;
    let set = |p: &str| {
        let m = actions::functions(&[p.to_string()]).expect(p);
        let mut v: Vec<_> = sock_trace_event::Func::ALL
            .iter()
            .filter(|f| m.contains(**f))
            .copied()
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        set("@send"),
        [Send, Sendto, Sendmsg, Sendmmsg, Write, Writev, Sendfile]
    );
    assert_eq!(
        set("@recv"),
        [Recv, Recvfrom, Recvmsg, Recvmmsg, Read, Readv]
    );
    assert_eq!(
        set("@poll"),
        [Select, Pselect, Poll, Ppoll, EpollWait, EpollPwait]
    );
    assert_eq!(set("@accept"), [Accept, Accept4]);
    assert_eq!(
        set("@resolve"),
        [Getaddrinfo, Gethostbyname, Gethostbyname2]
    );
    assert!(actions::functions(&["@nope".to_string()]).is_err());
}
