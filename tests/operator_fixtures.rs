//! Interop in operator mode: the chain minted by the official NATS JWT
//! library (`tests/fixtures/jwt`, see its README) runs a server. The
//! fixture users connect — with async-nats from a creds file, and on the
//! raw protocol — and get exactly the permissions their tokens grant; the
//! fixtures that must fail (expired, not yet valid, untrusted) fail. Every
//! check runs against tracebus and, ignored by default, nats-server 2.9.10
//! started from the same configuration.

mod common;
#[path = "operator_support/mod.rs"]
mod op;
#[path = "common/raw.rs"]
mod raw;
#[path = "auth_support/mod.rs"]
mod support;

use std::path::PathBuf;
use std::time::Duration;

use futures::StreamExt;
use op::{auth_violation, jwt_connect, login, refused, Creds};
use support::{err, ConfServer};
use tracebus::jwt::{self, Claims, Nats};

const SYS: &str = "ACBZYMUJAUI4AYDFAVHWRBDJH4GTWPVZQELWSOV3WK2SW5WB6WF2XHYL";
const ACME: &str = "AAFNG4ZZLDMPJMEWSQK7BKCX2IFY7YBZHZF4KJYPRLN5MRTA7SV6CNLQ";
const BETA: &str = "ADV2N3W47MGSU4C64QKLI2VOFYYCINU2GRIAM3BFBINZJI64B75CXUIQ";

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/jwt")
}

fn read(name: &str) -> String {
    let p = dir().join(name);
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .trim()
        .to_owned()
}

/// A fixture user: its JWT file and seed file.
fn fixture_user(jwt_file: &str, seed_file: &str) -> Creds {
    Creds {
        jwt: read(jwt_file),
        seed: read(seed_file),
    }
}

/// A user minted here (may publish anywhere, so the account's default
/// permissions do not apply) in a fixture account, signed with the
/// account's fixture seed.
fn local_user(account_seed: &str, name: &str) -> Creds {
    let kp = jwt::seed_key_pair(&read(account_seed)).unwrap().0;
    let ukp = jwt::KeyType::User.generate();
    let c = Claims::new(
        ukp.public_key(),
        name,
        Nats::User(jwt::User {
            perms: jwt::UserPermissionLimits {
                publish: jwt::Permission {
                    allow: vec![">".into()],
                    deny: vec![],
                },
                ..jwt::UserPermissionLimits::unlimited()
            },
            ..Default::default()
        }),
    );
    Creds {
        jwt: jwt::encode(&c, &kp).unwrap(),
        seed: ukp.seed().unwrap(),
    }
}

struct Fx {
    conf: String,
}

/// The official operator JWT as a file, MEMORY resolver with the official
/// SYS, acme and beta JWTs.
fn fixtures() -> Fx {
    Fx {
        conf: format!(
            "operator: {:?}\nsystem_account: {SYS}\nresolver: MEMORY\nresolver_preload: {{\n  {SYS}: {}\n  {ACME}: {}\n  {BETA}: {}\n}}\n",
            dir().join("operator.jwt").display().to_string(),
            read("sys.jwt"),
            read("acme.jwt"),
            read("beta.jwt"),
        ),
    }
}

async fn official_tokens(s: &ConfServer, _fx: &Fx) {
    // The system user from its creds file, through async-nats.
    let url = format!("nats://{}", s.addr());
    let sys = async_nats::ConnectOptions::with_credentials_file(dir().join("sys-user.creds"))
        .await
        .unwrap()
        .connection_timeout(Duration::from_secs(3))
        .connect(&url)
        .await
        .unwrap_or_else(|e| panic!("sys-user.creds refused: {e}\n{}", s.log()));
    let mut sub = sys.subscribe("ping.>").await.unwrap();
    sys.flush().await.unwrap();
    let mut got = None;
    for _ in 0..50 {
        sys.publish("ping.1", "hello".into()).await.unwrap();
        sys.flush().await.unwrap();
        if let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(100), sub.next()).await {
            got = Some(m);
            break;
        }
    }
    assert_eq!(&got.expect("round trip").payload[..], b"hello");

    // bob: a bearer token signed by acme's plain signing key; no
    // signature needed, acme's default permissions apply.
    let bob = fixture_user("bob.jwt", "bob.nk");
    let mut b = s.client().await;
    b.send(jwt_connect(&b, &bob, false, "")).await;
    b.ping_pong().await;
    b.send("SUB acme.x 1\r\nPUB acme.x 2\r\nhi\r\n").await;
    b.ping_pong_after(b"MSG acme.x 1 2\r\nhi\r\n").await;
    b.send("PUB other 0\r\n\r\n").await;
    b.ping_pong_after(&err("Permissions Violation for Publish to \"other\""))
        .await;

    // carol: signed by acme's scoped key; the "monitor" template applies.
    let carol = fixture_user("carol.jwt", "carol.nk");
    let mut c = login(s, &carol).await;
    c.send("PUB metrics.cpu 0\r\n\r\nSUB _INBOX.x 1\r\n").await;
    c.ping_pong().await;
    c.send("PUB acme.x 0\r\n\r\n").await;
    c.ping_pong_after(&err("Permissions Violation for Publish to \"acme.x\""))
        .await;
    c.send("SUB acme.x 2\r\n").await;
    c.ping_pong_after(&err("Permissions Violation for Subscription to \"acme.x\""))
        .await;

    // alice: src 127.0.0.1/32 and a window 08:00-17:30 Europe/Berlin.
    let alice_creds = jwt::parse_creds(&read("alice.creds")).unwrap();
    let alice = Creds {
        jwt: alice_creds.jwt,
        seed: alice_creds.seed,
    };
    let (_, ac) = jwt::decode(&alice.jwt, jwt::now_unix()).unwrap();
    let u = ac.user().unwrap();
    let open = tracebus::auth::times::window_remaining(&u.perms.times, &u.perms.times_location)
        .is_some_and(|left| left > Duration::from_secs(2));
    if open {
        let mut a = login(s, &alice).await;
        a.send("PUB acme.admin.x 0\r\n\r\n").await;
        a.ping_pong_after(&err(
            "Permissions Violation for Publish to \"acme.admin.x\"",
        ))
        .await;
        a.send("PUB orders.new 0\r\n\r\n").await;
        a.ping_pong().await;
    } else if tracebus::auth::times::window_remaining(&u.perms.times, &u.perms.times_location)
        .is_none()
    {
        assert_eq!(refused(s, &alice).await, auth_violation(), "outside times");
    }

    // Fixtures that must not get in.
    let v = auth_violation();
    assert_eq!(
        refused(s, &fixture_user("dave-expired.jwt", "dave.nk")).await,
        v
    );
    assert_eq!(
        refused(s, &fixture_user("dave-not-yet.jwt", "dave.nk")).await,
        v
    );
    assert_eq!(
        refused(s, &fixture_user("rogue-user.jwt", "carol.nk")).await,
        v
    );
}
conf_conformance!(
    official_tokens,
    official_tokens_tracebus,
    official_tokens_nats_server,
    fixtures()
);

/// acme's imports from beta, as the official library wrote them: a stream
/// with a local subject and a private service with beta's activation token.
async fn official_imports(s: &ConfServer, _fx: &Fx) {
    let mut a = login(s, &local_user("acme.nk", "acme-user")).await;
    let mut b = login(s, &local_user("beta.nk", "beta-user")).await;
    a.send("SUB feed.> 1\r\n").await;
    a.ping_pong().await;
    b.send("SUB beta.help.> 7\r\n").await;
    b.ping_pong().await;
    b.send("PUB beta.feed.news 2\r\nhi\r\n").await;
    b.ping_pong().await;
    a.expect("MSG feed.news 1 2\r\nhi\r\n").await;
    a.send("SUB _INBOX.a 2\r\nPUB help.me _INBOX.a 1\r\n?\r\n")
        .await;
    a.ping_pong().await;
    let line = String::from_utf8_lossy(&b.read_line().await).to_string();
    let parts: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(&parts[..3], &["MSG", "beta.help.me", "7"], "{line}");
    b.expect("?\r\n").await;
    b.send(format!("PUB {} 2\r\nok\r\n", parts[3])).await;
    b.ping_pong().await;
    a.expect("MSG _INBOX.a 2 2\r\nok\r\n").await;
}
conf_conformance!(
    official_imports,
    official_imports_tracebus,
    official_imports_nats_server,
    fixtures()
);
