//! The nats-server configuration format, typed options and command-line merge.
//!
//! Expectations about syntax and units were checked against nats-server 2.9.10
//! (`nats-server -c file -t`, and `/varz` for the resulting values).

use std::path::{Path, PathBuf};
use std::time::Duration;

use tempfile::TempDir;
use tracebus::config::{
    parse_file, parse_str, AuthOptions, Cli, ConfigError, ErrorKind, Map, Options, Value,
};

fn write(dir: &TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&path, text).unwrap();
    path
}

fn parse(text: &str) -> Map {
    parse_str(text, Path::new("test.conf")).unwrap_or_else(|e| panic!("{e}"))
}

fn parse_err(text: &str) -> ConfigError {
    parse_str(text, Path::new("test.conf")).expect_err("parse should fail")
}

fn opts(text: &str) -> Options {
    Options::from_map(&parse(text)).unwrap_or_else(|e| panic!("{e}"))
}

/// Options errors (parse or typed) for `text` written to `x.conf` in a temp dir;
/// returns the error and the file's path for message checks.
fn file_err(text: &str) -> (ConfigError, PathBuf, TempDir) {
    let dir = TempDir::new().unwrap();
    let path = write(&dir, "x.conf", text);
    let err = Options::from_file(&path).expect_err("loading should fail");
    (err, path, dir)
}

fn get<'m>(map: &'m Map, key: &str) -> &'m Value {
    &map.get(key)
        .unwrap_or_else(|| panic!("missing key {key}"))
        .value
}

fn s(v: &str) -> Value {
    Value::String(v.to_string())
}

// ---------------------------------------------------------------- syntax

#[test]
fn three_separators() {
    let m = parse("a: 1\nb = 2\nc 3\nd:4\ne=5\nf :6\n");
    for (k, v) in [("a", 1), ("b", 2), ("c", 3), ("d", 4), ("e", 5), ("f", 6)] {
        assert_eq!(get(&m, k), &Value::Integer(v), "{k}");
    }
}

#[test]
fn trailing_terminators_and_several_entries_per_line() {
    let m = parse("a: 1,\nb = 2;\nc: x; d = y, e z\nf: 7;;\n;\n");
    assert_eq!(get(&m, "a"), &Value::Integer(1));
    assert_eq!(get(&m, "b"), &Value::Integer(2));
    assert_eq!(get(&m, "c"), &s("x"));
    assert_eq!(get(&m, "d"), &s("y"));
    assert_eq!(get(&m, "e"), &s("z"));
    assert_eq!(get(&m, "f"), &Value::Integer(7));
}

#[test]
fn blocks_with_and_without_separator() {
    let m = parse(
        "a { x: 1 }\nb: { x: 2 }\nc = { x: 3 }\nd{x: 4}\ne {\n  x: 5\n  f {\n    y = 6\n  }\n}\n",
    );
    for (k, v) in [("a", 1), ("b", 2), ("c", 3), ("d", 4), ("e", 5)] {
        let block = get(&m, k).as_map().unwrap();
        assert_eq!(get(block, "x"), &Value::Integer(v), "{k}");
    }
    let f = get(get(&m, "e").as_map().unwrap(), "f").as_map().unwrap();
    assert_eq!(get(f, "y"), &Value::Integer(6));
}

#[test]
fn blocks_keep_entry_order() {
    let m = parse("z: 1\na: 2\nm: 3\n");
    let keys: Vec<&str> = m.entries.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["z", "a", "m"]);
}

#[test]
fn arrays_comma_and_newline_separated() {
    let m = parse(
        "a: [1, 2, 3]\nb: [\n  x\n  y, z\n  # comment\n  \"q\" // another\n]\nc: [1, 2,]\nd: []\ne: [[1, 2], {k: v}]\n",
    );
    let ints = |v: &Value| -> Vec<Value> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|i| i.value.clone())
            .collect()
    };
    assert_eq!(
        ints(get(&m, "a")),
        [Value::Integer(1), Value::Integer(2), Value::Integer(3)]
    );
    assert_eq!(ints(get(&m, "b")), [s("x"), s("y"), s("z"), s("q")]);
    assert_eq!(ints(get(&m, "c")).len(), 2);
    assert!(ints(get(&m, "d")).is_empty());
    let e = get(&m, "e").as_array().unwrap();
    assert_eq!(e[0].value.as_array().unwrap().len(), 2);
    assert_eq!(get(e[1].value.as_map().unwrap(), "k"), &s("v"));
    // Array elements carry their own position.
    let b = get(&m, "b").as_array().unwrap();
    assert_eq!((b[1].pos.line, b[1].pos.col), (4, 3));
}

#[test]
fn arrays_need_separators() {
    assert_eq!(parse_err("a: [1 2]\n").kind, ErrorKind::Syntax);
    assert_eq!(parse_err("a: [1,,2]\n").kind, ErrorKind::Syntax);
}

#[test]
fn both_comment_styles() {
    let m = parse(
        "# hash comment\n// slash comment\na: 1 # trailing hash\nb: 2 // trailing slashes\n  # indented\nc {\n  # in block\n  d: 3 // in block\n}\n",
    );
    assert_eq!(get(&m, "a"), &Value::Integer(1));
    assert_eq!(get(&m, "b"), &Value::Integer(2));
    assert_eq!(get(get(&m, "c").as_map().unwrap(), "d"), &Value::Integer(3));
    assert_eq!(m.len(), 3);
}

#[test]
fn quoted_and_bare_strings() {
    let m = parse(concat!(
        "a: 0.0.0.0\n",
        "b: nats-route://user:pw@host:6222\n",
        "c: \"with spaces, and; separators # not a comment\"\n",
        "d: 'single quoted'\n",
        "e: a{b\n",
        "f: 1.2.3\n",
        "g: \"\"\n",
        "h: 3secret\n",
        "\"quoted key\": 1\n",
        "'single key' = 2\n",
    ));
    assert_eq!(get(&m, "a"), &s("0.0.0.0"));
    assert_eq!(get(&m, "b"), &s("nats-route://user:pw@host:6222"));
    assert_eq!(
        get(&m, "c"),
        &s("with spaces, and; separators # not a comment")
    );
    assert_eq!(get(&m, "d"), &s("single quoted"));
    assert_eq!(get(&m, "e"), &s("a{b"));
    assert_eq!(get(&m, "f"), &s("1.2.3"));
    assert_eq!(get(&m, "g"), &s(""));
    assert_eq!(get(&m, "h"), &s("3secret"));
    assert_eq!(get(&m, "quoted key"), &Value::Integer(1));
    assert_eq!(get(&m, "single key"), &Value::Integer(2));
}

#[test]
fn string_escapes() {
    let m = parse(
        r#"a: "tab\tnl\ncr\rq\"bs\\hex\x41\xc3\xa9"
b: 'raw\t\x41'
"#,
    );
    assert_eq!(get(&m, "a"), &s("tab\tnl\ncr\rq\"bs\\hexAé"));
    assert_eq!(get(&m, "b"), &s(r"raw\t\x41"));
    let e = parse_err("a: \"bad \\q escape\"\n");
    assert_eq!(e.kind, ErrorKind::Syntax);
    assert!(e.message.contains("\\q"), "{e}");
    assert_eq!(parse_err("a: \"\\x4\"\n").kind, ErrorKind::Syntax);
}

#[test]
fn block_strings() {
    let m = parse("a (\n  line one\n  line two\n)\nb: 1\n");
    assert_eq!(get(&m, "a"), &s("\n  line one\n  line two\n"));
    assert_eq!(get(&m, "b"), &Value::Integer(1));
}

#[test]
fn integers_floats_and_units_in_both_bases() {
    let m = parse(concat!(
        "a: 42\nb: -7\nc: 0.5\nd: -1.25\n",
        "k1: 1k\nk2: 1K\nk3: 1kb\nk4: 1KB\nk5: 1Ki\nk6: 1KiB\n",
        "m1: 1m\nm2: 1M\nm3: 1mb\nm4: 1MB\nm5: 2MiB\n",
        "g1: 1g\ng2: 1G\ng3: 1gb\ng4: 1GB\n",
        "t1: 1T\nt2: 1TB\n",
    ));
    let i = |k: &str| get(&m, k).as_i64().unwrap_or_else(|| panic!("{k}"));
    assert_eq!(i("a"), 42);
    assert_eq!(i("b"), -7);
    assert_eq!(get(&m, "c"), &Value::Float(0.5));
    assert_eq!(get(&m, "d"), &Value::Float(-1.25));
    for k in ["k1", "k2"] {
        assert_eq!(i(k), 1_000, "{k}");
    }
    for k in ["k3", "k4", "k5", "k6"] {
        assert_eq!(i(k), 1_024, "{k}");
    }
    for k in ["m1", "m2"] {
        assert_eq!(i(k), 1_000_000, "{k}");
    }
    for k in ["m3", "m4"] {
        assert_eq!(i(k), 1_048_576, "{k}");
    }
    assert_eq!(i("m5"), 2 * 1_048_576);
    for k in ["g1", "g2"] {
        assert_eq!(i(k), 1_000_000_000, "{k}");
    }
    for k in ["g3", "g4"] {
        assert_eq!(i(k), 1 << 30, "{k}");
    }
    assert_eq!(i("t1"), 1_000_000_000_000);
    assert_eq!(i("t2"), 1 << 40);
}

#[test]
fn unit_sizes_reach_options() {
    let o = opts("max_payload: 2MB\nmax_pending: 100M\nmax_control_line: 1KB\n");
    assert_eq!(o.max_payload, 2 * 1_048_576);
    assert_eq!(o.max_pending, 100_000_000);
    assert_eq!(o.max_control_line, 1024);
}

#[test]
fn boolean_forms() {
    let m = parse("a: true\nb: FALSE\nc: yes\nd: No\ne: on\nf: OFF\ng: True\nh: \"true\"\n");
    for (k, v) in [
        ("a", true),
        ("b", false),
        ("c", true),
        ("d", false),
        ("e", true),
        ("f", false),
        ("g", true),
    ] {
        assert_eq!(get(&m, k), &Value::Bool(v), "{k}");
    }
    assert_eq!(get(&m, "h"), &s("true"));
    let o = opts("debug: yes\ntrace: on\nlogtime: off\n");
    assert!(o.debug && o.trace && !o.logtime);
}

#[test]
fn durations() {
    let o = opts("write_deadline: \"30s\"\nping_interval: \"1h30m\"\n");
    assert_eq!(o.write_deadline, Duration::from_secs(30));
    assert_eq!(o.ping_interval, Duration::from_secs(5400));
    let o = opts("write_deadline: \"500ms\"\nping_interval: \"1.5s\"\n");
    assert_eq!(o.write_deadline, Duration::from_millis(500));
    assert_eq!(o.ping_interval, Duration::from_millis(1500));
    // Plain numbers are seconds.
    let o = opts("write_deadline: 5\nping_interval: 0.25\n");
    assert_eq!(o.write_deadline, Duration::from_secs(5));
    assert_eq!(o.ping_interval, Duration::from_millis(250));
    // Unquoted `2m` is a size (2,000,000), not a duration: quote durations.
    let o = opts("write_deadline: 2m\n");
    assert_eq!(o.write_deadline, Duration::from_secs(2_000_000));
}

#[test]
fn authorization_block() {
    let o = opts("authorization {\n  user: alice\n  pass: \"s3cret\"\n  timeout: 0.5\n}\n");
    assert_eq!(
        o.authorization,
        AuthOptions {
            user: Some("alice".into()),
            password: Some("s3cret".into()),
            token: None,
            timeout: Duration::from_millis(500),
            ..AuthOptions::default()
        }
    );
    let o = opts("authorization: { token: \"t0k\", timeout: \"3s\" }\n");
    assert_eq!(o.authorization.token.as_deref(), Some("t0k"));
    assert_eq!(o.authorization.timeout, Duration::from_secs(3));
    let o = opts("authorization { username: bob, password: pw }\n");
    assert_eq!(o.authorization.user.as_deref(), Some("bob"));
}

#[test]
fn every_option_and_alias() {
    let o = opts(concat!(
        "net: 127.0.0.1\nport: 4333\nserver_name: n1\n",
        "max_conn: 10\nmax_subs: 20\nping_max: 5\n",
        "logfile: /tmp/t.log\npidfile: /tmp/t.pid\n",
    ));
    assert_eq!(o.host, "127.0.0.1");
    assert_eq!(o.port, 4333);
    assert_eq!(o.server_name.as_deref(), Some("n1"));
    assert_eq!(o.max_connections, 10);
    assert_eq!(o.max_subscriptions, 20);
    assert_eq!(o.ping_max, 5);
    assert_eq!(o.log_file, Some(PathBuf::from("/tmp/t.log")));
    assert_eq!(o.pid_file, Some(PathBuf::from("/tmp/t.pid")));
    let o = opts("host: h\nmax_connections: 11\nmax_subscriptions: 21\nlog_file: a\npid_file: b\n");
    assert_eq!(
        (o.host.as_str(), o.max_connections, o.max_subscriptions),
        ("h", 11, 21)
    );
    // Keys are case-insensitive, as in nats-server.
    assert_eq!(opts("PORT: 5\n").port, 5);
}

#[test]
fn listen_forms() {
    let o = opts("listen: 127.0.0.1:4333\n");
    assert_eq!((o.host.as_str(), o.port), ("127.0.0.1", 4333));
    let o = opts("listen: \":4334\"\n");
    assert_eq!((o.host.as_str(), o.port), ("0.0.0.0", 4334));
    let o = opts("listen: 4335\n");
    assert_eq!((o.host.as_str(), o.port), ("0.0.0.0", 4335));
    let o = opts("listen: \"[::1]:4336\"\n");
    assert_eq!((o.host.as_str(), o.port), ("::1", 4336));
    for bad in [
        "listen: \"nohost\"\n",
        "listen: \"h:abc\"\n",
        "listen: \"::1\"\n",
    ] {
        let e = Options::from_map(&parse(bad)).unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadValue, "{bad}");
    }
}

#[test]
fn zero_means_default_like_nats_server() {
    let o = opts("max_payload: 0\nmax_connections: 0\nping_max: 0\nwrite_deadline: \"0s\"\n");
    let d = Options::default();
    assert_eq!(o.max_payload, d.max_payload);
    assert_eq!(o.max_connections, d.max_connections);
    assert_eq!(o.ping_max, d.ping_max);
    assert_eq!(o.write_deadline, d.write_deadline);
}

#[test]
fn last_repeated_key_wins() {
    assert_eq!(opts("port: 1\nport: 2\n").port, 2);
    // A repeated block replaces, it does not merge.
    let o = opts("authorization { user: a, password: b }\nauthorization { token: t }\n");
    assert_eq!(o.authorization.user, None);
    assert_eq!(o.authorization.token.as_deref(), Some("t"));
}

#[test]
fn json_style_file() {
    let o = opts(
        "{\n  \"port\": 4444,\n  \"authorization\": {\"user\": \"u\", \"password\": \"p\"}\n}\n",
    );
    assert_eq!(o.port, 4444);
    assert_eq!(o.authorization.user.as_deref(), Some("u"));
}

// ---------------------------------------------------------------- includes

#[test]
fn include_relative_to_including_file_and_nested() {
    let dir = TempDir::new().unwrap();
    write(
        &dir,
        "sub/limits.conf",
        "max_payload: 2KB\ninclude \"deeper/name.conf\"\n",
    );
    write(&dir, "sub/deeper/name.conf", "server_name: from-nested\n");
    write(&dir, "sub/auth.conf", "user: u\npassword: p\n");
    let main = write(
        &dir,
        "main.conf",
        "port: 4333\ninclude ./sub/limits.conf\nauthorization {\n  include 'sub/auth.conf'\n  timeout: 1\n}\n",
    );
    let o = Options::from_file(&main).unwrap();
    assert_eq!(o.port, 4333);
    assert_eq!(o.max_payload, 2048);
    assert_eq!(o.server_name.as_deref(), Some("from-nested"));
    assert_eq!(o.authorization.user.as_deref(), Some("u"));
    assert_eq!(o.authorization.password.as_deref(), Some("p"));
    assert_eq!(o.config_file, Some(main));
}

#[test]
fn include_works_from_another_working_directory() {
    let dir = TempDir::new().unwrap();
    write(&dir, "inc.conf", "port: 4999\n");
    let main = write(&dir, "main.conf", "include inc.conf\n");
    // Absolute origin, relative include: resolved against the origin's directory.
    let m = parse_file(&main).unwrap();
    assert_eq!(get(&m, "port"), &Value::Integer(4999));
}

#[test]
fn included_keys_are_positioned_in_their_own_file() {
    let dir = TempDir::new().unwrap();
    let inc = write(&dir, "inc.conf", "port: 1\n\n  bogus: 2\n");
    let main = write(&dir, "main.conf", "include inc.conf\n");
    let e = Options::from_file(&main).unwrap_err();
    assert_eq!(e.kind, ErrorKind::UnknownKey);
    assert_eq!(e.file(), Some(inc.as_path()));
    assert_eq!(e.line(), Some(3));
    assert_eq!(
        e.to_string(),
        format!("{}:3:3: unknown config key \"bogus\"", inc.display())
    );
}

#[test]
fn syntax_error_in_included_file() {
    let dir = TempDir::new().unwrap();
    let inc = write(&dir, "inc.conf", "a: 1\nb: \"open\n");
    let main = write(&dir, "main.conf", "\ninclude inc.conf\n");
    let e = Options::from_file(&main).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Syntax);
    assert_eq!(e.file(), Some(inc.as_path()));
    assert_eq!(e.line(), Some(2));
    assert!(
        e.to_string()
            .contains(&format!("included from {}:2:1", main.display())),
        "{e}"
    );
}

#[test]
fn missing_include_file() {
    let (e, path, _dir) = file_err("port: 1\n\ninclude ./nothere.conf\n");
    assert_eq!(e.kind, ErrorKind::Include);
    assert_eq!(e.line(), Some(3));
    let text = e.to_string();
    assert!(
        text.starts_with(&format!(
            "{}:3:1: cannot read include file \"./nothere.conf\"",
            path.display()
        )),
        "{text}"
    );
}

#[test]
fn include_cycle_is_an_error() {
    let dir = TempDir::new().unwrap();
    write(&dir, "a.conf", "include b.conf\n");
    write(&dir, "b.conf", "include a.conf\n");
    let e = Options::from_file(&dir.path().join("a.conf")).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Include);
    assert!(e.message.contains("cycle"), "{e}");
}

#[test]
fn included_file_does_not_see_includer_variables_but_includer_sees_its_keys() {
    let dir = TempDir::new().unwrap();
    write(&dir, "vars.conf", "PORT_VAR = 4555\n");
    let main = write(&dir, "main.conf", "include vars.conf\nport: $PORT_VAR\n");
    assert_eq!(Options::from_file(&main).unwrap().port, 4555);

    write(&dir, "uses.conf", "port: $TRACEBUS_TEST_SCOPED_ONLY\n");
    let main = write(
        &dir,
        "main2.conf",
        "TRACEBUS_TEST_SCOPED_ONLY = 1\ninclude uses.conf\n",
    );
    let e = Options::from_file(&main).unwrap_err();
    assert_eq!(e.kind, ErrorKind::UndefinedVariable);
}

// ---------------------------------------------------------------- variables

#[test]
fn variables_defined_in_file() {
    let o = opts(concat!(
        "PORT = 4777\n",
        "SECRET: \"pw\"\n",
        "port: $PORT\n",
        "authorization {\n",
        "  WHO = \"alice\"\n",
        "  user: $WHO\n",
        "  password: $SECRET\n",
        "}\n",
    ));
    assert_eq!(o.port, 4777);
    assert_eq!(o.authorization.user.as_deref(), Some("alice"));
    assert_eq!(o.authorization.password.as_deref(), Some("pw"));
}

#[test]
fn variables_are_block_scoped_and_case_sensitive() {
    let e = parse_err("a { INNER = 1 }\nport: $INNER\n");
    assert_eq!(e.kind, ErrorKind::UndefinedVariable);
    assert_eq!(e.line(), Some(2));
    let e = parse_err("tracebus_case_var = 1\nport: $TRACEBUS_CASE_VAR\n");
    assert_eq!(e.kind, ErrorKind::UndefinedVariable);
    // Must be defined above the reference.
    let e = parse_err("port: $TRACEBUS_LATER\nTRACEBUS_LATER = 1\n");
    assert_eq!(e.kind, ErrorKind::UndefinedVariable);
}

#[test]
fn an_option_used_as_a_variable_still_applies() {
    // nats-server 2.9.10 (checked via /varz): both end up 2048.
    let o = opts("max_payload: 2KB\nmax_control_line: $max_payload\n");
    assert_eq!((o.max_payload, o.max_control_line), (2048, 2048));
    // A used variable inside a block is not an unknown key either.
    let o = opts("authorization {\n  WHO = bob\n  user: $WHO\n}\n");
    assert_eq!(o.authorization.user.as_deref(), Some("bob"));
    // But a used variable does not hide errors inside its own block.
    let e = Options::from_map(&parse(
        "authorization { bogus: 1 }\nserver_name: $authorization\n",
    ))
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::UnknownKey);
}

#[test]
fn quoted_dollar_is_a_plain_string() {
    let m = parse("V = 1\na: \"$V\"\n");
    assert_eq!(get(&m, "a"), &s("$V"));
}

#[test]
fn unused_variable_is_an_unknown_key() {
    let e = Options::from_map(&parse("UNUSED = 1\nport: 4\n")).unwrap_err();
    assert_eq!(e.kind, ErrorKind::UnknownKey);
    assert!(e.message.contains("UNUSED"), "{e}");
}

#[test]
fn environment_fallback() {
    std::env::set_var("TRACEBUS_TEST_ENV_PORT", "4888");
    std::env::set_var("TRACEBUS_TEST_ENV_NAME", "\"quoted name\"");
    std::env::set_var("TRACEBUS_TEST_ENV_SIZE", "2KB");
    let o = opts(
        "port: $TRACEBUS_TEST_ENV_PORT\nserver_name: $TRACEBUS_TEST_ENV_NAME\nmax_payload: $TRACEBUS_TEST_ENV_SIZE\n",
    );
    assert_eq!(o.port, 4888);
    assert_eq!(o.server_name.as_deref(), Some("quoted name"));
    assert_eq!(o.max_payload, 2048);

    // A file variable wins over the environment.
    let o = opts("TRACEBUS_TEST_ENV_PORT = 4999\nport: $TRACEBUS_TEST_ENV_PORT\n");
    assert_eq!(o.port, 4999);

    std::env::set_var("TRACEBUS_TEST_ENV_BAD", "two words");
    let e = parse_err("a: 1\nb: $TRACEBUS_TEST_ENV_BAD\n");
    assert_eq!(e.kind, ErrorKind::BadValue);
    assert_eq!(e.line(), Some(2));
}

#[test]
fn undefined_variable_names_file_and_line() {
    let (e, path, _dir) =
        file_err("port: 1\nauthorization {\n  token: $TRACEBUS_SURELY_UNDEFINED\n}\n");
    assert_eq!(e.kind, ErrorKind::UndefinedVariable);
    assert_eq!(e.line(), Some(3));
    assert!(
        e.to_string().starts_with(&format!(
            "{}:3:10: variable reference $TRACEBUS_SURELY_UNDEFINED is undefined",
            path.display()
        )),
        "{e}"
    );
}

// ---------------------------------------------------------------- errors

#[test]
fn unknown_key_error_message() {
    let (e, path, _dir) = file_err("port: 4222\n\nmax_paylod: 1MB\n");
    assert_eq!(e.kind, ErrorKind::UnknownKey);
    assert_eq!(
        e.to_string(),
        format!("{}:3:1: unknown config key \"max_paylod\"", path.display())
    );
}

#[test]
fn unknown_key_in_block() {
    let (e, path, _dir) = file_err("authorization {\n  user: a\n   bogus: 1\n}\n");
    assert_eq!(e.kind, ErrorKind::UnknownKey);
    assert_eq!(
        e.to_string(),
        format!(
            "{}:3:4: unknown config key \"bogus\" in the \"authorization\" block",
            path.display()
        )
    );
}

#[test]
fn not_yet_supported_keys() {
    for key in ["http", "http_port", "monitor_port"] {
        let (e, path, _dir) = file_err(&format!("port: 1\n{key}: 1\n"));
        assert_eq!(e.kind, ErrorKind::Unsupported, "{key}");
        assert_eq!(
            e.to_string(),
            format!(
                "{}:2:1: config key \"{key}\" is not supported yet",
                path.display()
            )
        );
    }
    let (e, _, _dir) = file_err("accounts { A: { jetstream: enabled } }\n");
    assert_eq!(e.kind, ErrorKind::Unsupported);
}

#[test]
fn bad_values() {
    let cases = [
        ("max_payload: -1\n", "must not be negative"),
        ("max_pending: -5k\n", "must not be negative"),
        ("port: 65536\n", "out of range"),
        ("port: -2\n", "out of range"),
        ("max_payload: 3GB\nmax_pending: 4GB\n", "too big"),
        ("write_deadline: \"xyz\"\n", "invalid duration"),
        ("write_deadline: \"10\"\n", "missing unit"),
        ("ping_interval: \"-1s\"\n", "negative"),
        ("write_deadline: -3\n", "must not be negative"),
        ("authorization { timeout: \"abc\" }\n", "invalid duration"),
    ];
    for (text, needle) in cases {
        let (e, path, _dir) = file_err(text);
        assert_eq!(e.kind, ErrorKind::BadValue, "{text}: {e}");
        assert_eq!(e.file(), Some(path.as_path()), "{text}");
        assert_eq!(e.line(), Some(1), "{text}");
        assert!(e.message.contains(needle), "{text}: {e}");
    }
    let (e, path, _dir) = file_err("\nmax_payload: 1x\n");
    assert_eq!(e.kind, ErrorKind::BadType);
    assert!(
        e.to_string().starts_with(&format!(
            "{}:2:1: \"max_payload\" must be an integer",
            path.display()
        )),
        "{e}"
    );
}

#[test]
fn bad_types() {
    let cases = [
        (
            "max_payload: \"abc\"\n",
            "\"max_payload\" must be an integer",
            "string \"abc\"",
        ),
        ("port: \"4222\"\n", "\"port\" must be an integer", "string"),
        ("port: 4.5\n", "\"port\" must be an integer", "float"),
        ("debug: 1\n", "\"debug\" must be a boolean", "integer 1"),
        ("debug: \"true\"\n", "\"debug\" must be a boolean", "string"),
        (
            "server_name: 123\n",
            "\"server_name\" must be a string",
            "quote the value",
        ),
        ("host: [a]\n", "\"host\" must be a string", "array"),
        (
            "authorization: 5\n",
            "\"authorization\" must be a block",
            "integer",
        ),
        (
            "authorization { user: {} }\n",
            "\"authorization.user\" must be a string",
            "block",
        ),
        (
            "write_deadline: true\n",
            "\"write_deadline\" must be a duration",
            "boolean",
        ),
    ];
    for (text, needle, got) in cases {
        let (e, _path, _dir) = file_err(text);
        assert_eq!(e.kind, ErrorKind::BadType, "{text}: {e}");
        assert_eq!(e.line(), Some(1), "{text}");
        assert!(e.message.contains(needle), "{text}: {e}");
        assert!(e.message.contains(got), "{text}: {e}");
    }
}

#[test]
fn conflicting_options() {
    let (e, _, _dir) = file_err("authorization { user: a, token: b }\n");
    assert_eq!(e.kind, ErrorKind::Invalid);
    assert_eq!(e.line(), Some(1));
    let (e, _, _dir) = file_err("max_payload: 2MB\nmax_pending: 1MB\n");
    assert_eq!(e.kind, ErrorKind::Invalid);
    assert_eq!(
        e.message,
        "max_payload (2097152) cannot be higher than max_pending (1048576)"
    );
}

#[test]
fn unterminated_string_points_at_its_opening() {
    let (e, path, _dir) = file_err("port: 1\nserver_name: \"never closed\nport: 2\n");
    assert_eq!(e.kind, ErrorKind::Syntax);
    assert!(
        e.to_string()
            .starts_with(&format!("{}:2:14: unterminated string", path.display())),
        "{e}"
    );
    let e = parse_err("a: 'open\n");
    assert_eq!((e.kind, e.line()), (ErrorKind::Syntax, Some(1)));
}

#[test]
fn unterminated_block_and_array() {
    let (e, path, _dir) = file_err("port: 1\nauthorization {\n  user: a\n");
    assert_eq!(e.kind, ErrorKind::Syntax);
    assert!(
        e.to_string()
            .starts_with(&format!("{}:2:15: unterminated block", path.display())),
        "{e}"
    );
    let e = parse_err("a: [1,\n2\n");
    assert_eq!((e.kind, e.line()), (ErrorKind::Syntax, Some(1)));
    assert!(e.message.contains("unterminated array"), "{e}");
    let e = parse_err("a (\n text\n");
    assert_eq!((e.kind, e.line()), (ErrorKind::Syntax, Some(1)));
}

#[test]
fn other_syntax_errors_have_lines() {
    for (text, line) in [
        ("a: 1\nb:\n", 2),
        ("a: 1\nb: 2 3\n", 2),
        ("a: 1\n}\n", 2),
        ("a: 1\n]\n", 2),
        ("a: 1\n\ninclude\n", 3),
        ("a: 99999999999999999999\n", 1),
    ] {
        let e = parse_err(text);
        assert_eq!(e.line(), Some(line), "{text:?}: {e}");
    }
}

#[test]
fn missing_config_file() {
    let e = Options::from_file(Path::new("/nonexistent/tracebus.conf")).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Io);
    assert!(e.to_string().contains("/nonexistent/tracebus.conf"), "{e}");
}

// ---------------------------------------------------------------- shipped example

#[test]
fn shipped_example_config_loads_and_sets_defaults() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("conf/tracebus.conf");
    let o = Options::from_file(&path).unwrap_or_else(|e| panic!("{e}"));
    let expected = Options {
        config_file: Some(path.clone()),
        ..Options::default()
    };
    assert_eq!(o, expected);
}

// ---------------------------------------------------------------- command line

fn cli(args: &[&str]) -> Cli {
    let mut all = vec!["tracebus"];
    all.extend_from_slice(args);
    Cli::try_parse_args(all).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn flags_override_file_values() {
    let dir = TempDir::new().unwrap();
    let conf = write(
        &dir,
        "s.conf",
        "port: 4333\nhost: 127.0.0.1\nserver_name: file-name\nmax_payload: 2KB\nlogtime: false\n",
    );
    let conf_s = conf.to_str().unwrap();
    let o = cli(&["-c", conf_s, "-p", "5000"]).into_options().unwrap();
    assert_eq!(o.port, 5000);
    // Values the flags do not touch stay as the file set them.
    assert_eq!(o.host, "127.0.0.1");
    assert_eq!(o.max_payload, 2048);
    assert_eq!(o.server_name.as_deref(), Some("file-name"));
    assert!(!o.logtime);
    assert_eq!(o.config_file.as_deref(), Some(conf.as_path()));

    let o = cli(&[
        "--config",
        conf_s,
        "-a",
        "10.0.0.1",
        "--name",
        "flag-name",
        "-T",
        "-l",
        "/tmp/x.log",
        "-P",
        "/tmp/x.pid",
    ])
    .into_options()
    .unwrap();
    assert_eq!(o.host, "10.0.0.1");
    assert_eq!(o.server_name.as_deref(), Some("flag-name"));
    assert!(o.logtime);
    assert_eq!(o.log_file, Some(PathBuf::from("/tmp/x.log")));
    assert_eq!(o.pid_file, Some(PathBuf::from("/tmp/x.pid")));
}

#[test]
fn flag_aliases() {
    assert_eq!(cli(&["--addr", "h1"]).host.as_deref(), Some("h1"));
    assert_eq!(cli(&["--net", "h2"]).host.as_deref(), Some("h2"));
    assert_eq!(cli(&["-n", "a"]).server_name.as_deref(), Some("a"));
    assert_eq!(
        cli(&["--server_name", "b"]).server_name.as_deref(),
        Some("b")
    );
    assert_eq!(cli(&["--port=7"]).port, Some(7));
    assert_eq!(cli(&["-port", "8"]).port, Some(8));
    assert!(cli(&["-t"]).test_config);
}

#[test]
fn debug_trace_combined_flags() {
    let o = cli(&["-DV"]).into_options().unwrap();
    assert!(o.debug && o.trace);
    let o = cli(&["-VD"]).into_options().unwrap();
    assert!(o.debug && o.trace);
    let o = cli(&["-D"]).into_options().unwrap();
    assert!(o.debug && !o.trace);
    let o = cli(&["--trace"]).into_options().unwrap();
    assert!(!o.debug && o.trace);
}

#[test]
fn auth_flags() {
    let o = cli(&["--user", "u", "--pass", "p"]).into_options().unwrap();
    assert_eq!(o.authorization.user.as_deref(), Some("u"));
    assert_eq!(o.authorization.password.as_deref(), Some("p"));
    // --auth replaces a user/password from the file.
    let dir = TempDir::new().unwrap();
    let conf = write(&dir, "a.conf", "authorization { user: fu, password: fp }\n");
    let o = cli(&["-c", conf.to_str().unwrap(), "--auth", "tok"])
        .into_options()
        .unwrap();
    assert_eq!(o.authorization.token.as_deref(), Some("tok"));
    assert_eq!(o.authorization.user, None);
}

#[test]
fn cli_reports_config_errors() {
    let (_, path, _dir) = file_err("bogus: 1\n");
    let e = cli(&["-c", path.to_str().unwrap()])
        .into_options()
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::UnknownKey);
    assert!(Cli::try_parse_args(["tracebus", "--nope"]).is_err());
    assert!(Cli::try_parse_args(["tracebus", "-p", "abc"]).is_err());
}
