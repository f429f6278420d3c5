//! Operator mode: every refused CONNECT answers `Authorization Violation`
//! and logs why, with the client's address — never a seed, a signature or
//! a whole JWT. (Its own test binary: it installs a global log subscriber.)

mod common;
#[path = "common/log_capture.rs"]
mod log_capture;
#[path = "operator_support/mod.rs"]
mod op;
#[path = "common/raw.rs"]
mod raw;
#[path = "auth_support/mod.rs"]
mod support;

use std::time::Duration;

use base64::Engine;
use op::{Chain, Creds};
use raw::{show, Kind};
use support::ConfServer;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tracebus::jwt::{self, KeyType};

use log_capture::logged;

/// Connects as `creds`, returns (local address, what came before the close).
async fn attempt(s: &ConfServer, creds: &Creds, sign: bool) -> (String, String) {
    let stream = TcpStream::connect(s.addr()).await.unwrap();
    let local = stream.local_addr().unwrap().to_string();
    let mut r = BufReader::new(stream);
    let mut info = String::new();
    r.read_line(&mut info).await.unwrap();
    let v: serde_json::Value = serde_json::from_str(info[5..].trim()).unwrap();
    let nonce = v["nonce"].as_str().unwrap();
    let kp = jwt::nkeys::KeyPair::from_seed(&creds.seed).unwrap();
    let sig =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(kp.sign(nonce.as_bytes()).unwrap());
    let connect = if sign {
        format!(
            "CONNECT {{\"verbose\":false,\"jwt\":\"{}\",\"sig\":\"{sig}\"}}\r\nPING\r\n",
            creds.jwt
        )
    } else {
        format!(
            "CONNECT {{\"verbose\":false,\"jwt\":\"{}\"}}\r\nPING\r\n",
            creds.jwt
        )
    };
    r.get_mut().write_all(connect.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), r.read_to_end(&mut out)).await;
    (local, show(&out))
}

/// Expects `creds` to be refused with `expect` in the logged reason.
async fn check(s: &ConfServer, creds: &Creds, sign: bool, expect: &str, secrets: &mut Vec<String>) {
    secrets.push(creds.seed.clone());
    secrets.push(creds.jwt.clone());
    let (addr, got) = attempt(s, creds, sign).await;
    assert_eq!(got, show(b"-ERR 'Authorization Violation'\r\n"), "{expect}");
    let line = reason(&addr).await;
    assert!(line.contains(expect), "{expect:?} not in {line}");
}

/// The "authentication error" line about the client at `addr`.
async fn reason(addr: &str) -> String {
    for _ in 0..100 {
        if let Some(l) = logged()
            .lines()
            .find(|l| l.contains(addr) && l.contains("authentication error"))
        {
            return l.to_string();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no authentication error logged for {addr}:\n{}", logged());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_logged_with_their_reason() {
    log_capture::install();
    let mut chain = Chain::new();
    let acme = chain.add_account("acme", |_| {});
    let beta = chain.add_account("beta", |a| a.limits.disallow_bearer = true);
    // An account signed by an operator nobody trusts, preloaded anyway,
    // and a user of it.
    let rogue = KeyType::Account.generate();
    let rogue_claims = jwt::Claims::new(
        rogue.public_key(),
        "rogue",
        jwt::Nats::Account(jwt::Account::new()),
    );
    let rogue_jwt = jwt::encode(&rogue_claims, &KeyType::Operator.generate()).unwrap();
    chain.extra_preload.push((rogue.public_key(), rogue_jwt));
    let rogue_user = {
        let ukp = KeyType::User.generate();
        let c = jwt::Claims::new(ukp.public_key(), "r", jwt::Nats::User(Default::default()));
        Creds {
            jwt: jwt::encode(&c, &rogue).unwrap(),
            seed: ukp.seed().unwrap(),
        }
    };
    let revoked = chain.user(&acme, "eve", |_| {});
    let now = jwt::now_unix();
    chain.edit(&acme, |c| {
        c.account_mut().unwrap().revoke(revoked.public_key(), now)
    });
    let s = ConfServer::start(Kind::Tracebus, &chain.conf_memory()).await;
    let mut secrets = Vec::new();
    let sec = &mut secrets;
    check(&s, &revoked, true, "has been revoked", sec).await;
    let alice = chain.user(&acme, "alice", |_| {});
    check(
        &s,
        &alice,
        false,
        "nonce signature not verified: signature missing",
        sec,
    )
    .await;
    let stranger = KeyType::Account.generate();
    let forged = chain.user_signed_by(&acme, &stranger, "x", |_| {});
    check(&s, &forged, true, "is not account", sec).await;
    let old = chain.user(&acme, "old", |c| c.exp = now - 5);
    check(&s, &old, true, "user JWT has expired", sec).await;
    let bearer = chain.user(&beta, "b", |c| {
        c.user_mut().unwrap().perms.bearer_token = true
    });
    check(
        &s,
        &bearer,
        false,
        "account does not allow bearer tokens",
        sec,
    )
    .await;
    let tampered = {
        let u = chain.user(&acme, "mallory", |_| {});
        let mut parts: Vec<String> = u.jwt.split('.').map(str::to_owned).collect();
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut payload: serde_json::Value =
            serde_json::from_slice(&b64.decode(&parts[1]).unwrap()).unwrap();
        payload["name"] = serde_json::json!("root");
        parts[1] = b64.encode(serde_json::to_vec(&payload).unwrap());
        Creds {
            jwt: parts.join("."),
            seed: u.seed,
        }
    };
    check(&s, &tampered, true, "does not verify against issuer", sec).await;
    check(&s, &rogue_user, true, "is not a trusted operator key", sec).await;
    let mut other = chain.clone();
    let gone = other.add_account("gone", |_| {});
    let orphan = other.user(&gone, "g", |_| {});
    check(&s, &orphan, true, "account JWT not found", sec).await;
    let all = logged();
    for secret in &secrets {
        assert!(
            !all.contains(secret.as_str()),
            "a seed or JWT reached the log"
        );
    }
    s.stop().await;
}
