//! The JWT/nkey commands of `tracebus-tools`, run as a user would, against
//! a temporary store: every command round-trips (add → creds → describe),
//! and bad input fails with an error that names the problem.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tracebus::jwt::{self, ClaimType, ExportType, KeyType, SigningKey, NO_LIMIT};

struct Tools {
    store: tempfile::TempDir,
}

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Tools {
    fn new() -> Tools {
        Tools {
            store: tempfile::tempdir().unwrap(),
        }
    }

    fn store(&self) -> &Path {
        self.store.path()
    }

    /// Runs the binary with `--store` pointing at the temp store (passed
    /// through the environment so every subcommand gets it).
    fn run(&self, args: &[&str]) -> Run {
        let out: Output = Command::new(env!("CARGO_BIN_EXE_tracebus-tools"))
            .args(args)
            .env("TRACEBUS_STORE", self.store())
            .output()
            .unwrap();
        Run {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn ok(&self, args: &[&str]) -> String {
        let r = self.run(args);
        assert!(r.ok, "{args:?} failed:\n{}\n{}", r.stdout, r.stderr);
        // No command but `user creds` and `keys gen --show-seed` prints a seed.
        if !matches!(args, ["user", "creds", ..]) && !args.contains(&"--show-seed") {
            assert!(
                !has_seed(&r.stdout),
                "{args:?} printed a seed:\n{}",
                r.stdout
            );
            assert!(
                !has_seed(&r.stderr),
                "{args:?} printed a seed:\n{}",
                r.stderr
            );
        }
        r.stdout
    }

    fn fails(&self, args: &[&str], needle: &str) -> String {
        let r = self.run(args);
        assert!(!r.ok, "{args:?} should fail but printed:\n{}", r.stdout);
        assert!(
            r.stderr.contains(needle),
            "{args:?}: error should mention {needle:?}, got:\n{}",
            r.stderr
        );
        r.stderr
    }

    fn op_dir(&self, op: &str) -> PathBuf {
        self.store().join(op)
    }

    fn read_jwt(&self, rel: &str) -> jwt::Claims {
        let text = std::fs::read_to_string(self.store().join(rel)).unwrap();
        jwt::decode(text.trim(), jwt::now_unix()).unwrap().1
    }
}

fn has_seed(s: &str) -> bool {
    s.split(|c: char| !c.is_ascii_alphanumeric())
        .any(|w| w.len() == 58 && w.starts_with('S') && jwt::seed_key_pair(w).is_ok())
}

#[test]
fn help_on_every_command() {
    let t = Tools::new();
    for args in [
        vec!["--help"],
        vec!["operator", "--help"],
        vec!["operator", "init", "--help"],
        vec!["account", "--help"],
        vec!["account", "add", "--help"],
        vec!["account", "edit", "--help"],
        vec!["account", "activate", "--help"],
        vec!["user", "--help"],
        vec!["user", "add", "--help"],
        vec!["user", "creds", "--help"],
        vec!["user", "revoke", "--help"],
        vec!["describe", "--help"],
        vec!["keys", "--help"],
        vec!["keys", "gen", "--help"],
        vec!["generate", "--help"],
        vec!["generate", "config", "--help"],
        vec!["push", "--help"],
        vec!["list", "--help"],
        vec!["bench", "--help"],
    ] {
        let out = t.ok(&args);
        assert!(out.contains("Usage:"), "{args:?}:\n{out}");
    }
    let out = t.ok(&["user", "add", "--help"]);
    for flag in [
        "--allow-pub",
        "--deny-sub",
        "--expiry",
        "--bearer",
        "--account",
    ] {
        assert!(out.contains(flag), "user add --help lacks {flag}");
    }
}

#[test]
fn operator_account_user_round_trip() {
    let t = Tools::new();
    let out = t.ok(&["operator", "init", "op1", "--signing-key"]);
    assert!(out.contains("created operator \"op1\" O"), "{out}");

    // Operator JWT: self-signed, one signing key, system account SYS.
    let op = t.read_jwt("op1/operator.jwt");
    assert_eq!(op.claim_type(), ClaimType::Operator);
    assert!(op.is_self_signed());
    let o = op.operator().unwrap();
    assert_eq!(o.signing_keys.len(), 1);
    let sys = t.read_jwt("op1/accounts/SYS/account.jwt");
    assert_eq!(o.system_account, sys.sub);
    // Accounts are signed with the operator signing key when there is one.
    assert_eq!(sys.iss, o.signing_keys[0]);
    let sys_user = t.read_jwt("op1/accounts/SYS/users/sys.jwt");
    assert_eq!(sys_user.iss, sys.sub);

    // Seeds are 0600 in a 0700 directory.
    let keys = t.op_dir("op1").join("keys");
    assert_eq!(
        std::fs::metadata(&keys).unwrap().permissions().mode() & 0o777,
        0o700
    );
    let mut n = 0;
    for e in std::fs::read_dir(&keys).unwrap() {
        let p = e.unwrap().path();
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600,
            "{}",
            p.display()
        );
        n += 1;
    }
    assert_eq!(n, 4, "operator, its signing key, SYS, the sys user");

    // Account with limits.
    let out = t.ok(&[
        "account",
        "add",
        "acme",
        "--conn",
        "10",
        "--payload",
        "1M",
        "--subs",
        "-1",
        "--exports",
        "5",
        "--disallow-bearer",
        "true",
        "--description",
        "ACME",
    ]);
    assert!(out.contains("created account \"acme\" A"), "{out}");
    let acme = t.read_jwt("op1/accounts/acme/account.jwt");
    let l = &acme.account().unwrap().limits;
    assert_eq!(
        (l.conn, l.payload, l.subs, l.exports),
        (10, 1 << 20, NO_LIMIT, 5)
    );
    assert_eq!((l.imports, l.data, l.leaf), (NO_LIMIT, NO_LIMIT, NO_LIMIT));
    assert!(l.disallow_bearer && l.wildcards);
    assert_eq!(acme.account().unwrap().description, "ACME");

    // Edit: limits, a private service export, a stream export, signing keys.
    t.ok(&[
        "account",
        "edit",
        "acme",
        "--conn",
        "20",
        "--add-export",
        "acme.svc.>",
        "--service",
        "--private",
    ]);
    t.ok(&[
        "account",
        "edit",
        "acme",
        "--add-export",
        "acme.feed.>",
        "--add-signing-key",
    ]);
    let acme = t.read_jwt("op1/accounts/acme/account.jwt");
    let a = acme.account().unwrap();
    assert_eq!(a.limits.conn, 20);
    assert_eq!(a.exports.len(), 2);
    let svc = a
        .exports
        .iter()
        .find(|e| e.subject == "acme.svc.>")
        .unwrap();
    assert_eq!((svc.kind, svc.token_req), (ExportType::Service, true));
    let feed = a
        .exports
        .iter()
        .find(|e| e.subject == "acme.feed.>")
        .unwrap();
    assert_eq!((feed.kind, feed.token_req), (ExportType::Stream, false));
    assert_eq!(a.signing_keys.len(), 1);
    let sk = a.signing_keys[0].key().to_owned();
    assert!(matches!(&a.signing_keys[0], SigningKey::Key(_)));
    assert!(keys.join(format!("{sk}.nk")).is_file());

    // Import from a private export in the store: the activation is minted.
    t.ok(&["account", "add", "beta"]);
    let out = t.ok(&[
        "account",
        "edit",
        "beta",
        "--add-import",
        "acme.svc.help",
        "--from",
        "acme",
        "--service",
        "--local-subject",
        "help",
    ]);
    assert!(out.contains("minted activation"), "{out}");
    t.ok(&[
        "account",
        "edit",
        "beta",
        "--add-import",
        "acme.feed.>",
        "--from",
        &acme.sub,
    ]);
    let beta = t.read_jwt("op1/accounts/beta/account.jwt");
    let b = beta.account().unwrap();
    assert_eq!(b.imports.len(), 2);
    let imp = b
        .imports
        .iter()
        .find(|i| i.subject == "acme.svc.help")
        .unwrap();
    assert_eq!(
        (imp.account.as_str(), imp.kind, imp.local_subject.as_str()),
        (acme.sub.as_str(), ExportType::Service, "help")
    );
    let (_, act) = jwt::decode(&imp.token, jwt::now_unix()).unwrap();
    assert_eq!(act.claim_type(), ClaimType::Activation);
    assert_eq!(
        (act.iss.as_str(), act.sub.as_str()),
        (acme.sub.as_str(), beta.sub.as_str())
    );
    assert_eq!(act.activation().unwrap().subject, "acme.svc.help");
    let feed_imp = b
        .imports
        .iter()
        .find(|i| i.subject == "acme.feed.>")
        .unwrap();
    assert!(feed_imp.token.is_empty());

    // Explicit activation command.
    let token = t.ok(&[
        "account",
        "activate",
        "acme",
        "--subject",
        "acme.svc.x",
        "--for",
        "beta",
        "--service",
        "--expiry",
        "7d",
    ]);
    let (_, act) = jwt::decode(token.trim(), jwt::now_unix()).unwrap();
    assert_eq!(act.sub, beta.sub);
    assert!(act.exp > jwt::now_unix());

    // User with permissions and limits.
    let out = t.ok(&[
        "user",
        "add",
        "alice",
        "--account",
        "acme",
        "--allow-pub",
        "acme.>",
        "--allow-pub",
        "_INBOX.>",
        "--allow-sub",
        "acme.>",
        "--allow-sub",
        "work.* q",
        "--deny-pub",
        "acme.admin.>",
        "--deny-sub",
        "acme.secret",
        "--allow-responses",
        "3",
        "--response-ttl",
        "5s",
        "--subs",
        "100",
        "--payload",
        "64K",
        "--src",
        "127.0.0.1/32",
        "--conn-type",
        "standard",
        "--tag",
        "Dev",
        "--expiry",
        "24h",
    ]);
    assert!(out.contains("created user \"alice\" U"), "{out}");
    let alice = t.read_jwt("op1/accounts/acme/users/alice.jwt");
    assert_eq!(alice.iss, acme.sub);
    let u = alice.user().unwrap();
    assert_eq!(u.perms.publish.allow, ["acme.>", "_INBOX.>"]);
    assert_eq!(u.perms.publish.deny, ["acme.admin.>"]);
    assert_eq!(u.perms.subscribe.allow, ["acme.>", "work.* q"]);
    assert_eq!(u.perms.subscribe.deny, ["acme.secret"]);
    let resp = u.perms.resp.unwrap();
    assert_eq!((resp.max, resp.ttl), (3, 5_000_000_000));
    assert_eq!(
        (u.perms.subs, u.perms.payload, u.perms.data),
        (100, 65536, NO_LIMIT)
    );
    assert_eq!(u.perms.src, ["127.0.0.1/32"]);
    assert_eq!(u.perms.allowed_connection_types, ["STANDARD"]);
    assert_eq!(u.tags, ["dev"]);
    assert!(!u.perms.bearer_token);
    let left = alice.exp - jwt::now_unix();
    assert!((86000..=86400).contains(&left), "exp in {left}s");

    // A user signed by the account signing key.
    t.ok(&["user", "add", "bob", "-a", "acme", "--signing-key", &sk]);
    let bob = t.read_jwt("op1/accounts/acme/users/bob.jwt");
    assert_eq!(bob.iss, sk);
    assert_eq!(bob.user().unwrap().issuer_account, acme.sub);

    // Creds to a file (0600) and to stdout; both parse and match.
    let creds_path = t.store().join("alice.creds");
    t.ok(&[
        "user",
        "creds",
        "alice",
        "--account",
        "acme",
        "-o",
        creds_path.to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::metadata(&creds_path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let text = std::fs::read_to_string(&creds_path).unwrap();
    let creds = jwt::parse_creds(&text).unwrap();
    assert_eq!(creds.key_pair().unwrap().public_key(), alice.sub);
    assert_eq!(t.ok(&["user", "creds", "alice", "--account", "acme"]), text);

    // describe: the creds file, a JWT on the command line, JSON only.
    let out = t.ok(&["describe", creds_path.to_str().unwrap()]);
    assert!(out.contains("user JWT \"alice\""), "{out}");
    assert!(out.contains("status    valid now"), "{out}");
    assert!(
        out.contains(
            "chain     ok: user ← account \"acme\" (identity key) ← operator \"op1\" (signing key)"
        ),
        "{out}"
    );
    assert!(out.contains("\"allow\""), "{out}");
    let out = t.ok(&["describe", &creds.jwt, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["sub"], alice.sub.as_str());
    assert_eq!(v["nats"]["resp"]["ttl"], 5_000_000_000i64);
    let bob_jwt =
        std::fs::read_to_string(t.store().join("op1/accounts/acme/users/bob.jwt")).unwrap();
    let out = t.ok(&["describe", bob_jwt.trim()]);
    assert!(out.contains("(signing key)"), "{out}");
    let out = t.ok(&[
        "describe",
        t.store().join("op1/operator.jwt").to_str().unwrap(),
    ]);
    assert!(
        out.contains("operator JWT \"op1\"") && out.contains("chain     ok"),
        "{out}"
    );
    let out = t.ok(&[
        "describe",
        t.store()
            .join("op1/accounts/beta/account.jwt")
            .to_str()
            .unwrap(),
    ]);
    assert!(
        out.contains("account JWT \"beta\"") && out.contains("chain     ok"),
        "{out}"
    );

    // list shows the tree.
    let out = t.ok(&["list"]);
    for s in [
        "operator op1",
        "account SYS",
        "user sys",
        "account acme",
        "user alice",
        "user bob",
        "account beta",
    ] {
        assert!(out.contains(s), "list lacks {s}:\n{out}");
    }

    // Revoke: the account gets a revocation, describe reports the user
    // revoked and fails.
    let out = t.ok(&["user", "revoke", "alice", "-a", "acme"]);
    assert!(out.contains("revoked user \"alice\""), "{out}");
    let acme2 = t.read_jwt("op1/accounts/acme/account.jwt");
    assert!(acme2.account().unwrap().is_revoked(&alice.sub, alice.iat));
    assert!(!acme2.account().unwrap().is_revoked(&bob.sub, bob.iat + 10));
    t.fails(&["describe", creds_path.to_str().unwrap()], "not valid");
    let r = t.run(&["describe", creds_path.to_str().unwrap()]);
    assert!(
        r.stdout.contains("chain     BROKEN: user is revoked"),
        "{}",
        r.stdout
    );
    assert!(t.ok(&["list"]).contains("(revoked)"));

    // Removing the signing key breaks bob's chain.
    t.ok(&["account", "edit", "acme", "--rm-signing-key", &sk]);
    assert!(!keys.join(format!("{sk}.nk")).exists());
    let r = t.run(&["describe", bob_jwt.trim()]);
    assert!(!r.ok);
    assert!(
        r.stdout.contains("BROKEN: issuer is neither"),
        "{}",
        r.stdout
    );
}

#[test]
fn generate_config_preloads_every_account() {
    let t = Tools::new();
    t.ok(&["operator", "init", "op"]);
    t.ok(&["account", "add", "a1"]);
    t.ok(&["account", "add", "a2"]);
    let out = t.ok(&["generate", "config"]);
    let op = std::fs::read_to_string(t.store().join("op/operator.jwt")).unwrap();
    assert!(out.contains(&format!("operator: {}", op.trim())), "{out}");
    let op = jwt::decode(op.trim(), jwt::now_unix()).unwrap().1;
    assert!(out.contains(&format!(
        "system_account: {}",
        op.operator().unwrap().system_account
    )));
    assert!(out.contains("resolver: MEMORY"));
    for a in ["SYS", "a1", "a2"] {
        let tok = std::fs::read_to_string(t.store().join(format!("op/accounts/{a}/account.jwt")))
            .unwrap();
        let c = jwt::decode(tok.trim(), jwt::now_unix()).unwrap().1;
        assert!(
            out.contains(&format!("  {}: {}", c.sub, tok.trim())),
            "{a} not preloaded"
        );
    }
    // Accounts are signed by the operator identity key without --signing-key.
    let a1 = t.read_jwt("op/accounts/a1/account.jwt");
    assert_eq!(a1.iss, op.sub);

    let out = t.ok(&["generate", "config", "--full-resolver", "/tmp/x"]);
    assert!(
        out.contains("type: full") && out.contains("dir: \"/tmp/x\""),
        "{out}"
    );
    let file = t.store().join("server.conf");
    t.ok(&["generate", "config", "-o", file.to_str().unwrap()]);
    assert!(std::fs::read_to_string(&file)
        .unwrap()
        .contains("resolver_preload"));
}

#[test]
fn keys_gen_every_type() {
    let t = Tools::new();
    for (kind, prefix) in [
        ("operator", 'O'),
        ("account", 'A'),
        ("user", 'U'),
        ("server", 'N'),
        ("cluster", 'C'),
    ] {
        // Default: public key on stdout, seed into the store.
        let out = t.ok(&["keys", "gen", "--type", kind]);
        let public = out.trim();
        assert!(public.starts_with(prefix), "{kind}: {public}");
        assert_eq!(
            jwt::key_type(public).unwrap(),
            KeyType::parse(kind).unwrap()
        );
        let seed_file = t.store().join("keys").join(format!("{public}.nk"));
        let seed = std::fs::read_to_string(&seed_file).unwrap();
        assert_eq!(
            jwt::seed_key_pair(seed.trim()).unwrap().0.public_key(),
            public
        );
        assert_eq!(
            std::fs::metadata(&seed_file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    // --show-seed prints both; -o writes the seed file.
    let out = t.ok(&["keys", "gen", "-t", "user", "--show-seed"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(
        jwt::seed_key_pair(lines[1]).unwrap().0.public_key(),
        lines[0]
    );
    let f = t.store().join("my.nk");
    let out = t.ok(&["keys", "gen", "-t", "account", "-o", f.to_str().unwrap()]);
    let seed = std::fs::read_to_string(&f).unwrap();
    assert_eq!(
        jwt::seed_key_pair(seed.trim()).unwrap().0.public_key(),
        out.trim()
    );
}

#[test]
fn clear_errors() {
    let t = Tools::new();
    // Nothing in the store yet.
    t.fails(&["account", "add", "a"], "no operator in store");
    t.fails(&["list"], "no operator in store");
    t.fails(&["generate", "config"], "operator init");
    t.ok(&["operator", "init", "op"]);
    t.fails(&["operator", "init", "op"], "already exists");
    t.fails(&["operator", "init", "bad/name"], "bad operator name");
    t.fails(
        &["account", "add", "a", "--operator", "nope"],
        "unknown operator \"nope\"",
    );
    t.fails(
        &["user", "add", "u", "--account", "missing"],
        "no account \"missing\"",
    );
    t.fails(
        &["user", "creds", "u", "--account", "missing"],
        "no account \"missing\"",
    );
    t.ok(&["account", "add", "a"]);
    t.fails(&["account", "add", "a"], "already exists");
    t.fails(
        &["user", "creds", "ghost", "--account", "a"],
        "no user \"ghost\" in account \"a\"",
    );
    t.fails(
        &["user", "revoke", "ghost", "--account", "a"],
        "no user \"ghost\"",
    );
    t.fails(
        &["user", "add", "u", "--account", "a", "--expiry", "tomorrow"],
        "bad expiry \"tomorrow\"",
    );
    t.fails(
        &[
            "user",
            "add",
            "u",
            "--account",
            "a",
            "--expiry",
            "2001-01-01",
        ],
        "in the past",
    );
    t.fails(
        &["account", "add", "b", "--conn", "lots"],
        "bad limit \"lots\"",
    );
    t.fails(
        &["keys", "gen", "--type", "wizard"],
        "bad key type \"wizard\"",
    );
    t.fails(
        &["account", "edit", "a", "--rm-export", "x.y"],
        "has no export \"x.y\"",
    );
    t.fails(
        &["account", "edit", "a", "--rm-signing-key", "AXXX"],
        "has no signing key",
    );
    t.fails(
        &["account", "edit", "a", "--add-import", "x", "--from", "zzz"],
        "no account \"zzz\"",
    );
    t.fails(
        &["account", "edit", "a", "--add-export", "bad subject"],
        "bad subject",
    );
    t.fails(
        &["account", "activate", "a", "--subject", "x", "--for", "SYS"],
        "no stream export covering",
    );
    t.fails(
        &["user", "add", "u", "-a", "a", "--signing-key", "AXXX"],
        "has no signing key",
    );
    t.fails(
        &["describe", "not-a-token"],
        "neither a readable file nor a JWT",
    );
    t.fails(&["describe", "a.b.c"], "malformed JWT");
    t.fails(
        &["push", "-a", "ghost", "--server", "nats://127.0.0.1:1"],
        "no account \"ghost\"",
    );
    t.fails(
        &[
            "push",
            "-a",
            "a",
            "--server",
            "nats://127.0.0.1:1",
            "--timeout",
            "1",
        ],
        "connecting to nats://127.0.0.1:1 as system user \"sys\"",
    );
    // clap rejects unknown flags and missing arguments with usage text.
    t.fails(&["user", "add", "u"], "--account");
    t.fails(&["account", "edit", "a", "--add-import", "x"], "--from");

    // Bearer users refused when the account disallows them.
    t.ok(&["account", "add", "strict", "--disallow-bearer", "true"]);
    t.fails(
        &["user", "add", "u", "-a", "strict", "--bearer"],
        "disallows bearer",
    );
    t.ok(&["user", "add", "u", "-a", "a", "--bearer"]);
    let u = t.read_jwt("op/accounts/a/users/u.jwt");
    assert!(u.user().unwrap().perms.bearer_token);

    // Two operators: the commands ask which.
    t.ok(&["operator", "init", "op2"]);
    t.fails(
        &["account", "add", "x"],
        "several operators (op, op2): pick one with --operator",
    );
    t.ok(&["account", "add", "x", "--operator", "op2"]);

    // A describe of an expired token fails and says so.
    let acct = KeyType::Account.generate();
    let mut c = jwt::Claims::new(
        KeyType::User.generate().public_key(),
        "old",
        jwt::Nats::User(Default::default()),
    );
    c.exp = 1000;
    let old = jwt::encode_at(&c, &acct, 500).unwrap();
    let r = t.run(&["describe", &old, "--operator", "op"]);
    assert!(!r.ok);
    assert!(
        r.stdout.contains("INVALID: user JWT expired at 1000"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("not verifiable against the store"),
        "{}",
        r.stdout
    );
}
