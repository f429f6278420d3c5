//! Accounts, users, permissions, exports and imports in the configuration:
//! what is read, and every bad case refused at start-up with the file and the
//! line to fix (nats-server refuses the same cases, often with less detail).

mod common;

use std::path::PathBuf;
use std::time::Duration;

use tempfile::TempDir;
use tracebus::config::{ErrorKind, ExportKind, Options, ResponseType};
use tracebus::server::{Server, ServerError};

const NKEY: &str = "UAROOULXPVG46QFKXHAZWEYDWCMMV76FDHVV556MEGGZFT4XLZEPVETC";

fn write(text: &str) -> (TempDir, PathBuf) {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("teams.conf");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

fn load(text: &str) -> Options {
    let (_dir, path) = write(text);
    Options::from_file(&path).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// Asserts `text` is refused with an error at `line` whose message contains
/// every `needle`.
fn refused(text: &str, line: usize, needles: &[&str]) {
    let (_dir, path) = write(text);
    let e = Options::from_file(&path).expect_err(text);
    let shown = e.to_string();
    assert_eq!(e.file(), Some(path.as_path()), "{shown}");
    assert_eq!(e.line(), Some(line), "{shown}");
    assert!(
        shown.starts_with(&format!("{}:{line}:", path.display())),
        "{shown}"
    );
    for n in needles {
        assert!(shown.contains(n), "{shown:?} should mention {n:?}");
    }
}

#[test]
fn reads_accounts_users_permissions_exports_imports() {
    let o = load(&format!(
        r#"
authorization {{
  timeout: 3
  default_permissions: {{ publish: "g.>" }}
  users: [ {{user: g, password: gp}} ]
}}
accounts {{
  A: {{
    users: [
      {{user: a, password: "$2a$10$abcdefghijklmnopqrstuuJv3u7H5Yk3m4ZJx9bJQJ1e1S1B8wQe"}}
      {{nkey: {NKEY}, permissions: {{
        pub: {{allow: ["x.>"], deny: "x.secret"}}
        sub: ["x.*", "y.* workers"]
        allow_responses: {{max: 3, expires: "5s"}}
      }}}}
    ]
    exports: [
      {{stream: "trace.>"}}
      {{service: "svc.*", response_type: stream, response_threshold: "3s", accounts: [B]}}
    ]
    default_permissions: {{ subscribe: "a.>" }}
  }}
  B: {{
    imports: [
      {{stream: {{account: A, subject: "trace.web.>"}}, prefix: "a"}}
      {{service: {{account: A, subject: "svc.time"}}, to: "time"}}
    ]
  }}
}}
no_auth_user: g
system_account: A
"#
    ));
    assert_eq!(o.authorization.timeout, Duration::from_secs(3));
    assert_eq!(o.authorization.users.len(), 1);
    assert!(o.authorization.default_permissions.is_some());
    assert_eq!(o.accounts.len(), 2);
    let a = &o.accounts[0];
    assert_eq!(a.name, "A");
    assert_eq!(a.users[0].user.as_deref(), Some("a"));
    assert_eq!(a.users[1].nkey.as_deref(), Some(NKEY));
    let p = a.users[1].permissions.as_ref().unwrap();
    let publish = p.publish.as_ref().unwrap();
    assert_eq!(publish.allow.as_deref(), Some(&["x.>".to_string()][..]));
    assert_eq!(publish.deny, ["x.secret"]);
    let subscribe = p.subscribe.as_ref().unwrap();
    assert_eq!(
        subscribe.allow.as_deref(),
        Some(&["x.*".to_string(), "y.* workers".to_string()][..])
    );
    let resp = p.allow_responses.unwrap();
    assert_eq!(resp.max, Some(3));
    assert_eq!(resp.expires, Duration::from_secs(5));
    assert_eq!(a.exports.len(), 2);
    assert_eq!(a.exports[1].kind, ExportKind::Service);
    assert_eq!(a.exports[1].response_type, ResponseType::Stream);
    assert_eq!(a.exports[1].response_threshold, Duration::from_secs(3));
    assert_eq!(
        a.exports[1].accounts.as_deref(),
        Some(&["B".to_string()][..])
    );
    let b = &o.accounts[1];
    assert_eq!(b.imports[0].prefix.as_deref(), Some("a"));
    assert_eq!(b.imports[0].local_subject(), "a.trace.web.>");
    assert_eq!(b.imports[1].to.as_deref(), Some("time"));
    assert_eq!(o.no_auth_user.as_deref(), Some("g"));
    assert_eq!(o.system_account_name(), "A");
    assert_eq!(Options::default().system_account_name(), "$SYS");
}

#[test]
fn allow_responses_defaults_and_list_form() {
    let o = load(
        r#"
accounts: [ A, B ]
authorization { users: [
  {user: s, password: p, permissions: {subscribe: "req", allow_responses: true}}
  {user: t, password: p, permissions: {allow_responses: {max: -1}}}
  {user: u, password: p, permissions: {allow_responses: {max: 0}}}
] }
"#,
    );
    assert_eq!(o.accounts.len(), 2);
    let perms = |i: usize| o.authorization.users[i].permissions.clone().unwrap();
    let s = perms(0);
    assert_eq!(s.allow_responses.unwrap().max, Some(1));
    assert_eq!(s.allow_responses.unwrap().expires, Duration::from_secs(120));
    // Responses on, no publish allow list: publishing is allowed nowhere else.
    assert_eq!(s.publish.unwrap().allow, Some(vec![]));
    assert_eq!(perms(1).allow_responses.unwrap().max, None);
    assert_eq!(perms(2).allow_responses.unwrap().max, Some(1));
}

#[test]
fn unknown_account_in_import() {
    refused(
        "accounts {\n  A: {\n    imports: [\n      {stream: {account: Z, subject: \"x\"}}\n    ]\n  }\n}\n",
        4,
        &["account \"A\"", "stream import \"x\"", "account \"Z\" is not defined"],
    );
}

#[test]
fn import_of_a_subject_not_exported() {
    refused(
        "accounts {\n  A: { exports: [{stream: \"y\"}] }\n  B: { imports: [ {stream: {account: A, subject: \"x\"}} ] }\n}\n",
        3,
        &["\"A\" exports no stream covering \"x\""],
    );
    // Wider than the export.
    refused(
        "accounts {\n  A: { exports: [{stream: \"x.y\"}] }\n  B: {\n imports: [ {stream: {account: A, subject: \"x.>\"}} ] }\n}\n",
        4,
        &["exports no stream covering \"x.>\""],
    );
    // A service is not a stream.
    refused(
        "accounts {\n  A: { exports: [{service: \"x\"}] }\n  B: { imports: [ {stream: {account: A, subject: \"x\"}} ] }\n}\n",
        3,
        &["exports no stream covering \"x\" (it exports it as a service)"],
    );
    refused(
        "accounts {\n  A: { exports: [{stream: \"x\"}] }\n  B: { imports: [ {service: {account: A, subject: \"x\"}} ] }\n}\n",
        3,
        &["exports no service covering \"x\" (it exports it as a stream)"],
    );
    // A narrower import of a wildcard export is fine.
    load("accounts {\n  A: { exports: [{stream: \"x.>\"}] }\n  B: { imports: [ {stream: {account: A, subject: \"x.y\"}} ] }\n}\n");
}

#[test]
fn export_restricted_to_other_accounts() {
    refused(
        "accounts {\n  A: { exports: [{stream: \"x\", accounts: [C]}] }\n  B: { imports: [ {stream: {account: A, subject: \"x\"}} ] }\n  C: {}\n}\n",
        3,
        &["account \"B\"", "not authorized", "only to \"C\""],
    );
    load("accounts {\n  A: { exports: [{stream: \"x\", accounts: [C]}] }\n  C: { imports: [ {stream: {account: A, subject: \"x\"}} ] }\n}\n");
    refused(
        "accounts {\n  A: {\n    exports: [{stream: \"x\", accounts: [ZZ]}]\n  }\n}\n",
        3,
        &["names account \"ZZ\", which is not defined"],
    );
}

#[test]
fn a_user_in_two_accounts() {
    refused(
        "accounts {\n  A: { users: [{user: a, password: p}] }\n  B: { users: [{user: a, password: q}] }\n}\n",
        3,
        &["duplicate user \"a\""],
    );
    refused(
        "authorization { users: [{user: a, password: p}] }\naccounts {\n  A: { users: [{user: a, password: q}] }\n}\n",
        3,
        &["duplicate user \"a\""],
    );
    refused(
        &format!("accounts {{\n  A: {{ users: [{{nkey: {NKEY}}}] }}\n  B: {{ users: [{{nkey: {NKEY}}}] }}\n}}\n"),
        3,
        &["duplicate nkey"],
    );
}

#[test]
fn malformed_nkeys() {
    for bad in [
        "UBAD",
        // A seed, not a public key.
        "SUAMJKE6JDI2S6P7TUVO6FRKD2VVIHIUELNPFHYZIYJPYSLFUSSE4BCSKM",
        // An account key, not a user key.
        "ADLR3BN5J5EFMAC4AKNRRCSCAP5M56XKMQUYUUWDI4ACYGSWGLFH6T3O",
        // A user key with a broken checksum.
        "UAROOULXPVG46QFKXHAZWEYDWCMMV76FDHVV556MEGGZFT4XLZEPVETD",
    ] {
        refused(
            &format!("accounts {{\n  A: {{ users: [\n    {{nkey: {bad}}}\n  ] }}\n}}\n"),
            3,
            &[bad, "not a valid public nkey for a user"],
        );
    }
    refused(
        &format!("accounts {{\n  A: {{ users: [{{nkey: {NKEY}, password: x}}] }}\n}}\n"),
        2,
        &["nkey users do not take a user name or a password"],
    );
}

#[test]
fn no_auth_user_and_system_account_must_exist() {
    refused(
        "accounts { A: { users: [{user: a, password: p}] } }\nno_auth_user: zz\n",
        2,
        &["no_auth_user \"zz\" is not a user"],
    );
    refused("port: 1\nno_auth_user: zz\n", 2, &["no users are defined"]);
    refused(
        "accounts { A: {} }\nsystem_account: ZZ\n",
        2,
        &["system_account \"ZZ\" is not defined"],
    );
    load("system_account: \"$SYS\"\n");
}

#[test]
fn import_forms() {
    refused(
        "accounts {\n  A: { exports: [{stream: \"x.>\"}] }\n  B: { imports: [ {stream: {account: A, subject: \"x.>\"}, prefix: p, to: \"q.>\"} ] }\n}\n",
        3,
        &["\"prefix\" or a \"to\", not both"],
    );
    refused(
        "accounts {\n  A: { exports: [{service: \"x\"}] }\n  B: { imports: [ {service: {account: A, subject: \"x\"}, prefix: p} ] }\n}\n",
        3,
        &["service import takes \"to\""],
    );
    refused(
        "accounts {\n  A: { exports: [{stream: \"x.>\"}] }\n  B: { imports: [ {stream: {account: A, subject: \"x.>\"}, to: \"q.*\"} ] }\n}\n",
        3,
        &["cannot map \"x.>\" to \"q.*\""],
    );
    refused(
        "accounts {\n  A: { exports: [{stream: \"s.>\"}] }\n  B: { imports: [\n {stream: {account: A, subject: \"s.>\"}, prefix: p}\n {stream: {account: A, subject: \"s.>\"}, prefix: q}\n ] }\n}\n",
        5,
        &["imported twice"],
    );
    refused(
        "accounts {\n  A: { imports: [ {stream: {subject: \"x\"}} ] }\n}\n",
        2,
        &["needs an \"account\" and a \"subject\""],
    );
    refused(
        "accounts {\n  A: { imports: [ {stream: {account: A, subject: \"x..y\"}} ] }\n}\n",
        2,
        &["\"x..y\" is not a valid subject"],
    );
}

#[test]
fn auth_methods_do_not_mix() {
    refused(
        "authorization { token: t }\naccounts {\n  A: { users: [{user: a, password: p}] }\n}\n",
        3,
        &["cannot have both a token and users in accounts"],
    );
    refused(
        "authorization { user: u, password: p }\naccounts {\n  A: { users: [{user: a, password: p}] }\n}\n",
        3,
        &["single user/password and users in accounts"],
    );
    refused(
        "authorization {\n  user: u, password: p\n  users: [{user: a, password: p}]\n}\n",
        1,
        &["single user/password and a users list"],
    );
    // A token with accounts that have no users is fine (everyone is in $G).
    load("authorization { token: t }\naccounts { A: {} }\n");
}

#[test]
fn bad_blocks_and_values() {
    refused(
        "accounts {\n  $G: {}\n}\n",
        2,
        &["\"$G\" is a reserved account"],
    );
    refused(
        "accounts {\n  A: { bogus: 1 }\n}\n",
        2,
        &["unknown config key \"bogus\" in the \"accounts.A\" block"],
    );
    refused(
        "accounts {\n  A: { users: [{user: a, password: p, bogus: 1}] }\n}\n",
        2,
        &["unknown config key \"bogus\""],
    );
    refused(
        "accounts {\n  A: { users: [{user: a, password: p,\n permissions: {bogus: 1}}] }\n}\n",
        3,
        &["unknown config key \"bogus\" in the \"permissions\" block"],
    );
    refused(
        "accounts {\n  A: { users: [{user: a, password: p,\n permissions: {publish: {allow: x, nope: y}}}] }\n}\n",
        3,
        &["only \"allow\" and \"deny\""],
    );
    refused(
        "accounts {\n  A: { users: [{user: a, password: p, permissions: {publish: \"a..b\"}}] }\n}\n",
        2,
        &["\"a..b\" is not a valid subject"],
    );
    refused(
        "accounts {\n  A: { users: [{user: a, password: p, permissions: {subscribe: \"a.* q r\"}}] }\n}\n",
        2,
        &["\"a.* q r\" is not a valid subject"],
    );
    refused(
        "accounts {\n  A: { users: [{password: p}] }\n}\n",
        2,
        &["needs a \"user\""],
    );
    refused(
        "accounts {\n  A: { exports: [{stream: x, response_type: stream}] }\n}\n",
        2,
        &["apply to service exports only"],
    );
    refused(
        "accounts {\n  A: { exports: [{service: x, response_type: bogus}] }\n}\n",
        2,
        &["unknown response type \"bogus\""],
    );
    refused(
        "accounts {\n  A: { exports: [{accounts: [B]}] }\n}\n",
        2,
        &["needs a \"stream\" or a \"service\""],
    );
    refused(
        "accounts {\n  A: { users: [{user: a, password: p, permissions: {allow_responses: 5}}] }\n}\n",
        2,
        &["a boolean or a block { max, expires }"],
    );
    // Features still to come are refused as such.
    for (text, key) in [
        (
            "accounts {\n  A: { jetstream: enabled }\n}\n",
            "accounts.A.jetstream",
        ),
        (
            "accounts {\n  A: { exports: [{service: x, latency: lat}] }\n}\n",
            "latency",
        ),
    ] {
        let (_dir, path) = write(text);
        let e = Options::from_file(&path).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unsupported, "{e}");
        assert!(
            e.to_string().contains(key) && e.to_string().contains("not supported yet"),
            "{e}"
        );
    }
}

#[tokio::test]
async fn server_start_refuses_inconsistent_options() {
    // Options built in code are checked by Server::start too.
    let mut opts = common::test_options();
    let mut b = tracebus::config::AccountOptions::new("B");
    b.imports.push(tracebus::config::ImportOptions {
        kind: ExportKind::Stream,
        account: "NOPE".into(),
        subject: "x".into(),
        to: None,
        prefix: None,
        pos: None,
    });
    opts.accounts.push(b);
    match Server::start(opts).await {
        Err(ServerError::Config(e)) => {
            assert!(
                e.to_string().contains("account \"NOPE\" is not defined"),
                "{e}"
            )
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("started with an import from an unknown account"),
    }
}

#[test]
fn binary_reports_the_file_and_line() {
    let (_dir, path) = write(
        "accounts {\n  A: { exports: [{stream: \"y\"}] }\n  B: { imports: [ {stream: {account: A, subject: \"x\"}} ] }\n}\n",
    );
    for args in [vec!["-t"], vec![]] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tracebus"))
            .arg("-c")
            .arg(&path)
            .args(&args)
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("{}:3:", path.display())) && err.contains("exports no stream"),
            "{err}"
        );
    }
}
