use super::*;
use std::collections::HashMap;

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
    assert_eq!(
        discover(Some(&explicit), &all, &cwd).unwrap(),
        Some(explicit.clone())
    );
    assert_eq!(discover(None, &all, &cwd).unwrap(), Some(envfile.clone()));
    let no_env = env_of(&[
        ("XDG_CONFIG_HOME", xdg.to_str().unwrap()),
        ("HOME", home.to_str().unwrap()),
    ]);
    assert_eq!(
        discover(None, &no_env, &cwd).unwrap(),
        Some(cwd.join("sock-trace.toml"))
    );
    std::fs::remove_file(cwd.join("sock-trace.toml")).unwrap();
    assert_eq!(
        discover(None, &no_env, &cwd).unwrap(),
        Some(xdg.join("sock-trace/config.toml"))
    );
    let home_only = env_of(&[("HOME", home.to_str().unwrap())]);
    assert_eq!(
        discover(None, &home_only, &cwd).unwrap(),
        Some(home.join(".config/sock-trace/config.toml"))
    );
    let missing = dir.path().join("nope.toml");
    assert!(discover(Some(&missing), &all, &cwd).is_err());
    let bad_env = env_of(&[("SOCK_TRACE_CONFIG", missing.to_str().unwrap())]);
    let e = discover(None, &bad_env, &cwd).unwrap_err();
    assert!(e.to_string().contains("SOCK_TRACE_CONFIG"), "{e}");
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
