//! Interop (b): an operator, accounts and users made with `tracebus-tools`
//! are accepted by nats-server 2.9 in operator mode, and what they should
//! not be allowed is refused. Needs `nats-server` (set `NATS_SERVER` or
//! install it at /usr/sbin/nats-server), hence `#[ignore]`; CI runs the
//! ignored tests with nats-server installed.

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

struct NatsServer {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl NatsServer {
    /// Starts nats-server with `conf` plus a random loopback port.
    fn start(conf: &str) -> NatsServer {
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let path = dir.path().join("server.conf");
        std::fs::write(&path, format!("{conf}\nhost: 127.0.0.1\nport: {port}\n")).unwrap();
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
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("nats-server not found (set NATS_SERVER)");
        let s = NatsServer {
            child,
            port,
            _dir: dir,
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
        std::fs::read_to_string(self._dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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

#[tokio::test]
#[ignore = "needs nats-server"]
async fn tools_made_chain_is_accepted_by_nats_server() {
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
    let server = NatsServer::start(&conf);

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

#[tokio::test]
#[ignore = "needs nats-server"]
async fn nats_server_refuses_what_the_operator_did_not_sign() {
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
    let server = NatsServer::start(&conf);

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

#[tokio::test]
#[ignore = "needs nats-server"]
async fn push_updates_a_full_resolver() {
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
    let server = NatsServer::start(&conf);

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
