//! Interop (b): an operator, accounts and users made with `tracebus-tools`
//! are accepted by tracebus and by nats-server 2.9 in operator mode (the
//! same configuration and the same creds files), and what they should not
//! be allowed is refused. The nats-server variants need `nats-server` (set
//! `NATS_SERVER` or install it at /usr/sbin/nats-server), hence `#[ignore]`;
//! CI runs the ignored tests with nats-server installed.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;

struct Tools {
    store: PathBuf,
}

impl Tools {
    fn new(store: &Path) -> Tools {
        Tools {
            store: store.to_owned(),
        }
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_tracebus-tools"))
            .args(args)
            .env("TRACEBUS_STORE", &self.store)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Writes a user's creds file next to the store and returns its path.
    fn creds(&self, user: &str, account: &str) -> PathBuf {
        let p = self.store.join(format!("{account}-{user}.creds"));
        self.ok(&[
            "user",
            "creds",
            user,
            "-a",
            account,
            "-o",
            p.to_str().unwrap(),
        ]);
        p
    }
}

/// Which server a scenario runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Tracebus,
    NatsServer,
}

/// A server started from a configuration text plus a random loopback port.
struct Server {
    child: Option<Child>,
    _tracebus: Option<tracebus::server::ServerHandle>,
    port: u16,
    dir: tempfile::TempDir,
}

impl Server {
    async fn start(kind: Kind, conf: &str) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.conf");
        std::fs::write(&path, conf).unwrap();
        Self::start_file(kind, &path, dir).await
    }

    /// Starts from a configuration file as it is, on 127.0.0.1 and a
    /// random port (set by the command line for nats-server).
    async fn start_file(kind: Kind, path: &Path, dir: tempfile::TempDir) -> Server {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if kind == Kind::Tracebus {
            let mut opts = tracebus::config::Options::from_file(path)
                .unwrap_or_else(|e| panic!("tracebus refuses {}: {e}", path.display()));
            opts.host = "127.0.0.1".into();
            opts.port = i32::from(port);
            let handle = tracebus::server::Server::start(opts)
                .await
                .unwrap_or_else(|e| panic!("tracebus does not start: {e}"));
            return Server {
                child: None,
                _tracebus: Some(handle),
                port,
                dir,
            };
        }
        let bin = std::env::var("NATS_SERVER").unwrap_or_else(|_| {
            if Path::new("/usr/sbin/nats-server").exists() {
                "/usr/sbin/nats-server".into()
            } else {
                "nats-server".into()
            }
        });
        let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
        let child = Command::new(bin)
            .arg("-c")
            .arg(path)
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("nats-server not found (set NATS_SERVER)");
        let s = Server {
            child: Some(child),
            _tracebus: None,
            port,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nats-server did not start: {}",
                s.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        s
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

async fn connect(url: &str, creds: &Path) -> Result<async_nats::Client, String> {
    async_nats::ConnectOptions::with_credentials_file(creds)
        .await
        .map_err(|e| e.to_string())?
        .connection_timeout(Duration::from_secs(3))
        .connect(url)
        .await
        .map_err(|e| e.to_string())
}

/// Subscribes with `sub`, publishes with `publ` until the message
/// arrives (async-nats' flush does not wait for the server to have seen the
/// SUB, so the first publish may overtake it).
async fn round_trip(sub: &async_nats::Client, publ: &async_nats::Client, subject: &str) {
    let mut s = sub.subscribe(subject.to_owned()).await.unwrap();
    sub.flush().await.unwrap();
    for _ in 0..50 {
        publ.publish(subject.to_owned(), "hello".into())
            .await
            .unwrap();
        publ.flush().await.unwrap();
        if let Ok(Some(msg)) = tokio::time::timeout(Duration::from_millis(100), s.next()).await {
            assert_eq!(&msg.payload[..], b"hello");
            return;
        }
    }
    panic!("no message on {subject} within 5s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs nats-server"]
async fn tools_made_chain_is_accepted_by_nats_server() {
    tools_made_chain_is_accepted(Kind::NatsServer).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_made_chain_is_accepted_by_tracebus() {
    tools_made_chain_is_accepted(Kind::Tracebus).await;
}

async fn tools_made_chain_is_accepted(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let t = Tools::new(dir.path());
    t.ok(&["operator", "init", "op", "--signing-key"]);
    t.ok(&["account", "add", "acme", "--conn", "10"]);
    t.ok(&["account", "edit", "acme", "--add-signing-key"]);
    t.ok(&[
        "user",
        "add",
        "alice",
        "-a",
        "acme",
        "--allow-pub",
        "acme.>",
        "--allow-sub",
        "acme.>",
        "--allow-sub",
        "_INBOX.>",
        "--expiry",
        "1h",
    ]);
    // bob is signed by the account signing key (issuer_account).
    let acme = std::fs::read_to_string(dir.path().join("op/accounts/acme/account.jwt")).unwrap();
    let (_, acme) = tracebus::jwt::decode(acme.trim(), tracebus::jwt::now_unix()).unwrap();
    let sk = acme.account().unwrap().signing_keys[0].key().to_owned();
    t.ok(&["user", "add", "bob", "-a", "acme", "--signing-key", &sk]);
    t.ok(&["user", "add", "carol", "-a", "acme", "--bearer"]);
    // A private service export and an import of it with a minted activation.
    t.ok(&[
        "account",
        "edit",
        "acme",
        "--add-export",
        "acme.svc.>",
        "--service",
        "--private",
    ]);
    t.ok(&["account", "add", "beta"]);
    t.ok(&[
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
    t.ok(&["user", "add", "dan", "-a", "beta"]);
    let conf = t.ok(&["generate", "config"]);
    let server = Server::start(kind, &conf).await;

    let alice = connect(&server.url(), &t.creds("alice", "acme"))
        .await
        .unwrap_or_else(|e| panic!("alice refused: {e}\n{}", server.log()));
    let bob = connect(&server.url(), &t.creds("bob", "acme"))
        .await
        .unwrap_or_else(|e| panic!("bob refused: {e}\n{}", server.log()));
    let carol = connect(&server.url(), &t.creds("carol", "acme"))
        .await
        .unwrap_or_else(|e| panic!("carol refused: {e}\n{}", server.log()));
    round_trip(&alice, &bob, "acme.orders").await;
    round_trip(&bob, &alice, "acme.orders").await;
    round_trip(&carol, &bob, "anything.goes").await;

    // alice's permissions are enforced: once bob's subscription is known
    // to be live, her publish outside acme.> is dropped and carol's is not.
    let mut s = bob.subscribe("other.x").await.unwrap();
    bob.flush().await.unwrap();
    loop {
        carol.publish("other.x", "warmup".into()).await.unwrap();
        carol.flush().await.unwrap();
        if let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(100), s.next()).await {
            break;
        }
    }
    while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(200), s.next()).await {}
    alice.publish("other.x", "no".into()).await.unwrap();
    alice.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    carol.publish("other.x", "yes".into()).await.unwrap();
    carol.flush().await.unwrap();
    let msg = tokio::time::timeout(Duration::from_secs(5), s.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        &msg.payload[..],
        b"yes",
        "publish outside alice's permissions was delivered"
    );

    // dan (account beta) calls acme's private service through the import.
    let dan = connect(&server.url(), &t.creds("dan", "beta"))
        .await
        .unwrap_or_else(|e| panic!("dan refused: {e}\n{}", server.log()));
    let mut svc = bob.subscribe("acme.svc.help").await.unwrap();
    bob.flush().await.unwrap();
    let responder = bob.clone();
    tokio::spawn(async move {
        while let Some(m) = svc.next().await {
            if let Some(r) = m.reply {
                responder.publish(r, "helped".into()).await.unwrap();
                responder.flush().await.unwrap();
            }
        }
    });
    let mut answer = None;
    for _ in 0..50 {
        match tokio::time::timeout(Duration::from_millis(200), dan.request("help", "?".into()))
            .await
        {
            Ok(Ok(m)) => {
                answer = Some(m);
                break;
            }
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    let answer = answer.unwrap_or_else(|| panic!("no answer through the import\n{}", server.log()));
    assert_eq!(&answer.payload[..], b"helped");

    // The system user can reach the system account.
    let sys = connect(&server.url(), &t.creds("sys", "SYS"))
        .await
        .unwrap_or_else(|e| panic!("sys refused: {e}\n{}", server.log()));
    sys.flush().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs nats-server"]
async fn nats_server_refuses_what_the_operator_did_not_sign() {
    refuses_what_the_operator_did_not_sign(Kind::NatsServer).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracebus_refuses_what_the_operator_did_not_sign() {
    refuses_what_the_operator_did_not_sign(Kind::Tracebus).await;
}

async fn refuses_what_the_operator_did_not_sign(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let t = Tools::new(&dir.path().join("good"));
    t.ok(&["operator", "init", "op"]);
    t.ok(&["account", "add", "acme"]);
    t.ok(&["user", "add", "alice", "-a", "acme"]);
    t.ok(&["user", "add", "eve", "-a", "acme"]);
    t.ok(&["user", "add", "brief", "-a", "acme", "--expiry", "2s"]);

    // A second operator's account and user: signed, but not by our operator.
    let rogue = Tools::new(&dir.path().join("rogue"));
    rogue.ok(&["operator", "init", "evil"]);
    rogue.ok(&["account", "add", "acme"]);
    rogue.ok(&["user", "add", "mallory", "-a", "acme"]);
    let mallory = rogue.creds("mallory", "acme");

    t.ok(&["user", "revoke", "eve", "-a", "acme"]);
    let conf = t.ok(&["generate", "config"]);
    let server = Server::start(kind, &conf).await;

    let alice = t.creds("alice", "acme");
    connect(&server.url(), &alice)
        .await
        .unwrap_or_else(|e| panic!("alice refused: {e}\n{}", server.log()));

    let err = connect(&server.url(), &mallory)
        .await
        .expect_err("user of an account the operator did not sign must be refused");
    assert!(err.to_lowercase().contains("authorization"), "{err}");

    // A user JWT that claims a trusted account as issuer but was signed by
    // another key does not verify.
    let alice_text = std::fs::read_to_string(&alice).unwrap();
    let alice_creds = tracebus::jwt::parse_creds(&alice_text).unwrap();
    let (_, mut forged) =
        tracebus::jwt::decode(&alice_creds.jwt, tracebus::jwt::now_unix()).unwrap();
    let other = tracebus::jwt::KeyType::Account.generate();
    forged.name = "forged".into();
    let token = tracebus::jwt::encode(&forged, &other).unwrap();
    // Splice the real account as issuer: the signature no longer matches.
    let (h, p, s) = {
        let mut it = token.split('.');
        (it.next().unwrap(), it.next().unwrap(), it.next().unwrap())
    };
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut v: serde_json::Value = serde_json::from_slice(&b64.decode(p).unwrap()).unwrap();
    v["iss"] = serde_json::Value::String(forged.iss.clone());
    let spliced = format!("{h}.{}.{s}", b64.encode(serde_json::to_vec(&v).unwrap()));
    let forged_path = dir.path().join("forged.creds");
    std::fs::write(
        &forged_path,
        tracebus::jwt::format_creds(&spliced, &alice_creds.seed),
    )
    .unwrap();
    assert!(connect(&server.url(), &forged_path).await.is_err());

    // Revoked and expired users are refused too.
    let err = connect(&server.url(), &t.creds("eve", "acme"))
        .await
        .expect_err("revoked user must be refused");
    assert!(
        err.to_lowercase().contains("authorization") || err.contains("revoked"),
        "{err}"
    );
    tokio::time::sleep(Duration::from_millis(3100)).await;
    assert!(
        connect(&server.url(), &t.creds("brief", "acme"))
            .await
            .is_err(),
        "expired user must be refused"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs nats-server"]
async fn push_updates_a_full_resolver_of_nats_server() {
    push_updates_a_full_resolver(Kind::NatsServer).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_updates_a_full_resolver_of_tracebus() {
    push_updates_a_full_resolver(Kind::Tracebus).await;
}

async fn push_updates_a_full_resolver(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let t = Tools::new(&dir.path().join("store"));
    t.ok(&["operator", "init", "op"]);
    let jwt_dir = dir.path().join("jwt");
    let conf = t.ok(&[
        "generate",
        "config",
        "--full-resolver",
        jwt_dir.to_str().unwrap(),
    ]);
    let server = Server::start(kind, &conf).await;

    // An account created after the server started is unknown to it...
    t.ok(&["account", "add", "late"]);
    t.ok(&["user", "add", "u", "-a", "late"]);
    let creds = t.creds("u", "late");
    assert!(connect(&server.url(), &creds).await.is_err());

    // ...until it is pushed.
    let out = t.ok(&["push", "--server", &server.url(), "--account", "late"]);
    assert!(out.contains("pushed account \"late\""), "{out}");
    assert!(out.contains("200"), "{out}");
    let c = connect(&server.url(), &creds)
        .await
        .unwrap_or_else(|e| panic!("pushed account's user refused: {e}\n{}", server.log()));
    round_trip(&c, &c, "late.x").await;

    // Revoke and push: the user can no longer connect.
    t.ok(&["user", "revoke", "u", "-a", "late"]);
    let out = t.ok(&["push", "--server", &server.url(), "--all"]);
    assert!(out.contains("pushed account \"late\""), "{out}");
    // The server may take a moment to apply the update.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if connect(&server.url(), &creds).await.is_err() {
            break;
        }
        assert!(Instant::now() < deadline, "revoked user still accepted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The README's operator walkthrough with `conf/operator.conf` as
/// committed: an operator, two team accounts, a tracer and a viewer, the
/// trust settings generated next to the conf, then traces flow on each
/// server in `kinds` with the same creds files.
async fn readme_walkthrough(kinds: &[Kind]) {
    let dir = tempfile::tempdir().unwrap();
    let t = Tools::new(&dir.path().join("store"));
    t.ok(&["operator", "init", "tracebus-op", "--signing-key"]);
    t.ok(&["account", "add", "checkout"]);
    t.ok(&["account", "add", "payments"]);
    t.ok(&[
        "user",
        "add",
        "tracer",
        "--account",
        "checkout",
        "--allow-pub",
        "trace.checkout.>",
        "--allow-sub",
        "trace.ctl.checkout.>",
    ]);
    t.ok(&[
        "user",
        "add",
        "viewer",
        "--account",
        "checkout",
        "--allow-sub",
        "trace.checkout.>",
        "--allow-sub",
        "_INBOX.>",
        "--allow-pub",
        "trace.ctl.checkout.>",
    ]);
    t.ok(&["user", "add", "viewer", "--account", "payments"]);
    let conf_dir = dir.path().join("conf");
    std::fs::create_dir(&conf_dir).unwrap();
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../conf/operator.conf");
    std::fs::copy(&committed, conf_dir.join("operator.conf")).unwrap();
    let jwt_dir = dir.path().join("jwt");
    t.ok(&[
        "generate",
        "config",
        "--full-resolver",
        jwt_dir.to_str().unwrap(),
        "-o",
        conf_dir.join("operator-trust.conf").to_str().unwrap(),
    ]);
    let tracer = t.creds("tracer", "checkout");
    let viewer = t.creds("viewer", "checkout");
    let other_team = t.creds("viewer", "payments");
    for &kind in kinds {
        let server = Server::start_file(
            kind,
            &conf_dir.join("operator.conf"),
            tempfile::tempdir().unwrap(),
        )
        .await;
        let who = |e: String| format!("{kind:?}: {e}\n{}", server.log());
        let tr = connect(&server.url(), &tracer)
            .await
            .unwrap_or_else(|e| panic!("tracer refused by {}", who(e)));
        let vw = connect(&server.url(), &viewer)
            .await
            .unwrap_or_else(|e| panic!("viewer refused by {}", who(e)));
        let pay = connect(&server.url(), &other_team)
            .await
            .unwrap_or_else(|e| panic!("payments viewer refused by {}", who(e)));
        let mut elsewhere = pay.subscribe("trace.>").await.unwrap();
        pay.flush().await.unwrap();
        round_trip(&vw, &tr, "trace.checkout.host1.4242.log").await;
        // The viewer steers tracers; the tracer hears it.
        round_trip(&tr, &vw, "trace.ctl.checkout.host1.4242").await;
        // Another team's account sees none of it.
        assert!(
            tokio::time::timeout(Duration::from_millis(200), elsewhere.next())
                .await
                .is_err(),
            "{kind:?}: payments saw checkout's traces"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_walkthrough_on_tracebus() {
    readme_walkthrough(&[Kind::Tracebus]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs nats-server"]
async fn readme_walkthrough_same_creds_on_tracebus_and_nats_server() {
    readme_walkthrough(&[Kind::Tracebus, Kind::NatsServer]).await;
}
