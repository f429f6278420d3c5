//! Authentication on the wire: every auth mode accepted with the right
//! credentials and refused with wrong ones, with the exact bytes nats-server
//! 2.9.10 sends. Each check runs against tracebus (`*_tracebus`) and, ignored
//! by default, against nats-server (`*_nats_server`) started from the same
//! configuration text.

mod common;
#[path = "common/raw.rs"]
mod raw;
#[path = "auth_support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use base64::Engine;
use support::{bcrypt_hash, connect_line, err, nkey_connect, nkey_user, ConfServer};

const VIOLATION: &str = "Authorization Violation";

/// Configuration text plus the secrets the checks need.
struct Fx {
    conf: String,
    seed: String,
    public: String,
}

/// Two accounts; users with a plain password, a bcrypt password and an nkey.
fn accounts_fx() -> Fx {
    let (seed, public) = nkey_user();
    let conf = format!(
        r#"
authorization {{ timeout: 1 }}
accounts {{
  A: {{ users: [ {{user: a, password: pa}}, {{user: ab, password: "{hash}"}}, {{nkey: {public}}} ] }}
  B: {{ users: [ {{user: b, password: pb}} ] }}
}}
"#,
        hash = bcrypt_hash("pb-secret")
    );
    Fx { conf, seed, public }
}

fn token_fx(token: &str) -> Fx {
    Fx {
        conf: format!("authorization {{ token: \"{token}\", timeout: 1 }}\n"),
        seed: String::new(),
        public: String::new(),
    }
}

fn single_user_bcrypt_fx() -> Fx {
    Fx {
        conf: format!(
            "authorization {{ user: solo, password: \"{}\", timeout: 1 }}\n",
            bcrypt_hash("s3cret")
        ),
        seed: String::new(),
        public: String::new(),
    }
}

fn users_list_fx() -> Fx {
    Fx {
        conf: "authorization { users: [ {user: u1, password: p1}, {user: u2, password: p2} ] }\n"
            .into(),
        seed: String::new(),
        public: String::new(),
    }
}

fn no_auth_user_fx() -> Fx {
    Fx {
        conf: r#"
authorization { timeout: 1 }
accounts {
  A: { users: [ {user: a, password: pa} ] }
  B: { users: [ {user: b, password: pb} ] }
}
no_auth_user: a
"#
        .into(),
        seed: String::new(),
        public: String::new(),
    }
}

async fn refused(s: &ConfServer, fields: &str) {
    let mut c = s.client().await;
    c.send(connect_line(fields)).await;
    c.expect_then_closed(err(VIOLATION)).await;
}

// ------------------------------------------------------------------ INFO

async fn check_info_with_nkeys(s: &ConfServer, _fx: &Fx) {
    let a = s.client().await;
    let b = s.client().await;
    assert_eq!(a.info_field("auth_required").as_bool(), Some(true));
    let na = a.info_field("nonce").as_str().unwrap().to_string();
    let nb = b.info_field("nonce").as_str().unwrap().to_string();
    assert_eq!(na.len(), 15, "nonce: 11 bytes base64url: {na}");
    assert!(base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&na)
        .is_ok());
    assert_ne!(na, nb, "a fresh nonce per connection");
}
conf_conformance!(
    check_info_with_nkeys,
    info_nonce_with_nkey_users_tracebus,
    info_nonce_with_nkey_users_nats_server,
    accounts_fx()
);

async fn check_info_without_nkeys(s: &ConfServer, _fx: &Fx) {
    let c = s.client().await;
    assert_eq!(c.info_field("auth_required").as_bool(), Some(true));
    assert!(c.info.get("nonce").is_none(), "no nonce without nkey users");
}
conf_conformance!(
    check_info_without_nkeys,
    info_no_nonce_with_password_users_tracebus,
    info_no_nonce_with_password_users_nats_server,
    users_list_fx()
);
conf_conformance!(
    check_info_without_nkeys,
    info_no_nonce_with_token_tracebus,
    info_no_nonce_with_token_nats_server,
    token_fx("t0k")
);

// ------------------------------------------------------------------ users and passwords

async fn check_passwords(s: &ConfServer, _fx: &Fx) {
    s.login(r#""user":"a","pass":"pa""#).await;
    s.login(r#""user":"b","pass":"pb""#).await;
    refused(s, r#""user":"a","pass":"pb""#).await;
    refused(s, r#""user":"a","pass":"""#).await;
    refused(s, r#""user":"a""#).await;
    refused(s, r#""user":"zz","pass":"pa""#).await;
    refused(s, r#""pass":"pa""#).await;
    refused(s, "").await;
    refused(s, r#""auth_token":"pa""#).await;
}
conf_conformance!(
    check_passwords,
    passwords_in_accounts_tracebus,
    passwords_in_accounts_nats_server,
    accounts_fx()
);

async fn check_bcrypt_user(s: &ConfServer, _fx: &Fx) {
    s.login(r#""user":"ab","pass":"pb-secret""#).await;
    refused(s, r#""user":"ab","pass":"pb-secreT""#).await;
    refused(s, r#""user":"ab","pass":"""#).await;
}
conf_conformance!(
    check_bcrypt_user,
    bcrypt_password_tracebus,
    bcrypt_password_nats_server,
    accounts_fx()
);

async fn check_bcrypt_hash_is_not_the_password(s: &ConfServer, _fx: &Fx) {
    // Sending the stored hash itself must not work.
    let conf = &_fx.conf;
    let hash = conf.split('"').find(|p| p.starts_with("$2")).unwrap();
    refused(s, &format!(r#""user":"ab","pass":"{hash}""#)).await;
}
conf_conformance!(
    check_bcrypt_hash_is_not_the_password,
    bcrypt_hash_refused_tracebus,
    bcrypt_hash_refused_nats_server,
    accounts_fx()
);

async fn check_users_list(s: &ConfServer, _fx: &Fx) {
    s.login(r#""user":"u1","pass":"p1""#).await;
    s.login(r#""user":"u2","pass":"p2""#).await;
    refused(s, r#""user":"u1","pass":"p2""#).await;
    refused(s, "").await;
}
conf_conformance!(
    check_users_list,
    authorization_users_list_tracebus,
    authorization_users_list_nats_server,
    users_list_fx()
);

async fn check_single_user_bcrypt(s: &ConfServer, _fx: &Fx) {
    s.login(r#""user":"solo","pass":"s3cret""#).await;
    refused(s, r#""user":"solo","pass":"s3cre""#).await;
    refused(s, r#""user":"other","pass":"s3cret""#).await;
}
conf_conformance!(
    check_single_user_bcrypt,
    single_user_bcrypt_tracebus,
    single_user_bcrypt_nats_server,
    single_user_bcrypt_fx()
);

// ------------------------------------------------------------------ tokens

async fn check_plain_token(s: &ConfServer, _fx: &Fx) {
    s.login(r#""auth_token":"t0k""#).await;
    refused(s, r#""auth_token":"t0K""#).await;
    refused(s, r#""auth_token":"""#).await;
    refused(s, r#""user":"t0k","pass":"t0k""#).await;
}
conf_conformance!(
    check_plain_token,
    plain_token_tracebus,
    plain_token_nats_server,
    token_fx("t0k")
);

fn bcrypt_token_fx() -> Fx {
    token_fx(&bcrypt_hash("tok-secret"))
}

async fn check_bcrypt_token(s: &ConfServer, fx: &Fx) {
    s.login(r#""auth_token":"tok-secret""#).await;
    refused(s, r#""auth_token":"tok-secreT""#).await;
    let hash = fx.conf.split('"').find(|p| p.starts_with("$2")).unwrap();
    refused(s, &format!(r#""auth_token":"{hash}""#)).await;
}
conf_conformance!(
    check_bcrypt_token,
    bcrypt_token_tracebus,
    bcrypt_token_nats_server,
    bcrypt_token_fx()
);

// ------------------------------------------------------------------ nkeys

async fn check_nkey_challenge(s: &ConfServer, fx: &Fx) {
    s.login_nkey(&fx.seed, "").await;
    // Standard base64 (with padding) is accepted too.
    let mut c = s.client().await;
    let nonce = c.info_field("nonce").as_str().unwrap().to_string();
    let kp = nkeys::KeyPair::from_seed(&fx.seed).unwrap();
    let std_sig =
        base64::engine::general_purpose::STANDARD.encode(kp.sign(nonce.as_bytes()).unwrap());
    c.send(connect_line(&format!(
        r#""nkey":"{}","sig":"{std_sig}""#,
        fx.public
    )))
    .await;
    c.ping_pong().await;
    // The nkey wins over a user/password in the same CONNECT.
    s.login_nkey(&fx.seed, r#""user":"b","pass":"wrong""#).await;
}
conf_conformance!(
    check_nkey_challenge,
    nkey_challenge_tracebus,
    nkey_challenge_nats_server,
    accounts_fx()
);

async fn check_nkey_refusals(s: &ConfServer, fx: &Fx) {
    // Signature of another connection's nonce.
    let other = s.client().await;
    let stale = nkey_connect(&other, &fx.seed, "");
    let mut c = s.client().await;
    c.send(stale).await;
    c.expect_then_closed(err(VIOLATION)).await;
    // No signature.
    refused(s, &format!(r#""nkey":"{}""#, fx.public)).await;
    // Garbage signature.
    refused(s, &format!(r#""nkey":"{}","sig":"AAAA""#, fx.public)).await;
    // Signed by another key.
    let (other_seed, _) = nkey_user();
    let mut c = s.client().await;
    let line = nkey_connect(&c, &other_seed, "").replace(
        &nkeys::KeyPair::from_seed(&other_seed).unwrap().public_key(),
        &fx.public,
    );
    c.send(line).await;
    c.expect_then_closed(err(VIOLATION)).await;
    // A key that is not configured, even with a valid signature, and even
    // with a valid user/password alongside.
    let mut c = s.client().await;
    let line = nkey_connect(&c, &other_seed, r#""user":"a","pass":"pa""#);
    c.send(line).await;
    c.expect_then_closed(err(VIOLATION)).await;
}
conf_conformance!(
    check_nkey_refusals,
    nkey_refusals_tracebus,
    nkey_refusals_nats_server,
    accounts_fx()
);

// ------------------------------------------------------------------ timeout, order

async fn check_auth_timeout(s: &ConfServer, _fx: &Fx) {
    let mut c = s.client().await;
    let t0 = Instant::now();
    let got = c.expect_closed_within(Duration::from_secs(4)).await;
    assert_eq!(raw::show(&got), raw::show(&err("Authentication Timeout")));
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_millis(800) && waited < Duration::from_millis(2500),
        "timeout after {waited:?}, configured 1s"
    );
}
conf_conformance!(
    check_auth_timeout,
    auth_timeout_tracebus,
    auth_timeout_nats_server,
    accounts_fx()
);
conf_conformance!(
    check_auth_timeout,
    auth_timeout_token_tracebus,
    auth_timeout_token_nats_server,
    token_fx("t0k")
);

async fn check_op_before_connect(s: &ConfServer, _fx: &Fx) {
    for op in ["PING\r\n", "SUB foo 1\r\n", "PUB foo 0\r\n\r\n"] {
        let mut c = s.client().await;
        c.send(op).await;
        c.expect_then_closed(err(VIOLATION)).await;
    }
}
conf_conformance!(
    check_op_before_connect,
    op_before_connect_tracebus,
    op_before_connect_nats_server,
    accounts_fx()
);

async fn check_verbose_connect_ack(s: &ConfServer, _fx: &Fx) {
    let mut c = s.client().await;
    c.send("CONNECT {\"verbose\":true,\"user\":\"a\",\"pass\":\"pa\"}\r\nPING\r\n")
        .await;
    c.expect(b"+OK\r\nPONG\r\n").await;
}
conf_conformance!(
    check_verbose_connect_ack,
    verbose_connect_ack_tracebus,
    verbose_connect_ack_nats_server,
    accounts_fx()
);

// ------------------------------------------------------------------ no_auth_user

async fn check_no_auth_user(s: &ConfServer, _fx: &Fx) {
    let c = s.client().await;
    assert!(
        c.info.get("auth_required").is_none(),
        "no_auth_user: INFO does not require auth: {}",
        raw::show(&c.info_line)
    );
    // No credentials: the no_auth_user, in account A.
    let mut anon = s.login("").await;
    anon.send("SUB t 1\r\n").await;
    anon.ping_pong().await;
    let mut a = s.login(r#""user":"a","pass":"pa""#).await;
    let mut b = s.login(r#""user":"b","pass":"pb""#).await;
    b.send("PUB t 2\r\nbb\r\n").await;
    b.ping_pong().await;
    a.send("PUB t 2\r\naa\r\n").await;
    a.ping_pong().await;
    anon.ping_pong_after(b"MSG t 1 2\r\naa\r\n").await;
    // Wrong credentials are still refused.
    refused(s, r#""user":"a","pass":"nope""#).await;
    refused(s, r#""user":"zz","pass":"x""#).await;
    refused(s, r#""auth_token":"x""#).await;
}
conf_conformance!(
    check_no_auth_user,
    no_auth_user_tracebus,
    no_auth_user_nats_server,
    no_auth_user_fx()
);

async fn check_no_auth_user_without_connect(s: &ConfServer, _fx: &Fx) {
    // Ops before CONNECT are the no_auth_user's (account A).
    let mut early = s.client().await;
    early.send("SUB t 1\r\nPING\r\n").await;
    early.expect(b"+OK\r\nPONG\r\n").await;
    let mut b = s.login(r#""user":"b","pass":"pb""#).await;
    b.send("PUB t 2\r\nbb\r\n").await;
    b.ping_pong().await;
    let mut a = s.login(r#""user":"a","pass":"pa""#).await;
    a.send("PUB t 2\r\naa\r\n").await;
    a.ping_pong().await;
    early.ping_pong_after(b"MSG t 1 2\r\naa\r\n").await;
    // Such a client is not timed out; one that says nothing is.
    let mut idle = s.client().await;
    let got = idle.expect_closed_within(Duration::from_secs(4)).await;
    assert_eq!(raw::show(&got), raw::show(&err("Authentication Timeout")));
    early.ping_pong().await;
}
conf_conformance!(
    check_no_auth_user_without_connect,
    no_auth_user_without_connect_tracebus,
    no_auth_user_without_connect_nats_server,
    no_auth_user_fx()
);

/// tracebus only (a deliberate difference): a client that started without
/// CONNECT under `no_auth_user` and then logs in as a user of another account
/// takes its subscriptions along; nats-server would leave them in the first
/// account while the connection publishes in the second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_connect_moves_subscriptions_to_the_new_account() {
    let s = ConfServer::start(raw::Kind::Tracebus, &no_auth_user_fx().conf).await;
    let mut c = s.client().await;
    c.send("SUB t 1\r\nPING\r\n").await;
    c.expect(b"+OK\r\nPONG\r\n").await;
    c.send(connect_line(r#""user":"b","pass":"pb""#)).await;
    c.ping_pong().await;
    let mut a = s.login(r#""user":"a","pass":"pa""#).await;
    a.send("PUB t 2\r\naa\r\n").await;
    a.ping_pong().await;
    let mut b = s.login(r#""user":"b","pass":"pb""#).await;
    b.send("PUB t 2\r\nbb\r\n").await;
    b.ping_pong().await;
    c.ping_pong_after(b"MSG t 1 2\r\nbb\r\n").await;
    let h = s.handle().unwrap();
    assert_eq!(h.account("A").unwrap().sublist.count(), 0);
    assert_eq!(h.account("B").unwrap().sublist.count(), 1);
    s.stop().await;
}
