//! Account resolvers and operator-mode configuration: the URL resolver
//! against a small HTTP server in the test (tracebus and, ignored,
//! nats-server), the full resolver's directory across a restart, and the
//! configuration errors of operator mode.

mod common;
#[path = "operator_support/mod.rs"]
mod op;
#[path = "common/raw.rs"]
mod raw;
#[path = "auth_support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use op::{assert_updated, auth_violation, login, push, refused, Chain};
use support::ConfServer;
use tracebus::config::{ErrorKind, Options};

/// An HTTP/1.1 server answering `GET /jwt/v1/accounts/<key>` from a map,
/// 404 otherwise, and 200 for the base URL; alternately with
/// Content-Length and chunked bodies.
struct JwtServer {
    port: u16,
    jwts: Arc<Mutex<HashMap<String, String>>>,
    hits: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl JwtServer {
    fn start() -> JwtServer {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        l.set_nonblocking(true).unwrap();
        let jwts: Arc<Mutex<HashMap<String, String>>> = Default::default();
        let hits = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (j, h, st) = (jwts.clone(), hits.clone(), stop.clone());
        std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                let Ok((s, _)) = l.accept() else {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                    continue;
                };
                s.set_nonblocking(false).unwrap();
                let n = h.fetch_add(1, Ordering::Relaxed);
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut line = String::new();
                let _ = r.read_line(&mut line);
                loop {
                    let mut h = String::new();
                    if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                        break;
                    }
                }
                let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
                let key = path.strip_prefix("/jwt/v1/accounts/").unwrap_or("");
                // The base URL answers too: nats-server checks it at start-up.
                let found = if key.is_empty() {
                    Some(String::new())
                } else {
                    j.lock().unwrap().get(key).cloned()
                };
                let mut s = s;
                let resp = match found {
                    Some(t) if n % 2 == 0 => format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/jwt\r\nContent-Length: {}\r\n\r\n{t}",
                        t.len()
                    ),
                    Some(t) => {
                        let (a, b) = t.split_at(t.len() / 2);
                        format!(
                            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
                            a.len(),
                            b.len()
                        )
                    }
                    None => "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found".into(),
                };
                let _ = s.write_all(resp.as_bytes());
            }
        });
        JwtServer {
            port,
            jwts,
            hits,
            stop,
        }
    }
}

impl Drop for JwtServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

struct UrlFx {
    conf: String,
    chain: Chain,
    acme: String,
    http: JwtServer,
}

fn url_fx() -> UrlFx {
    let mut chain = Chain::new();
    let acme = chain.add_account("acme", |_| {});
    let http = JwtServer::start();
    for a in &chain.accounts {
        http.jwts
            .lock()
            .unwrap()
            .insert(a.key(), chain.account_jwt(&a.key()));
    }
    let conf = format!(
        "operator: {}\nsystem_account: {}\nresolver: URL(\"http://127.0.0.1:{}/jwt/v1/accounts/\")\n",
        chain.operator_jwt, chain.sys_key, http.port
    );
    UrlFx {
        conf,
        chain,
        acme,
        http,
    }
}

async fn url_resolver(s: &ConfServer, fx: &UrlFx) {
    assert!(
        fx.http.hits.load(Ordering::Relaxed) >= 1,
        "base URL checked"
    );
    let alice = fx.chain.user(&fx.acme, "alice", |_| {});
    let mut a = login(s, &alice).await;
    a.send("SUB x 1\r\nPUB x 1\r\n!\r\n").await;
    a.ping_pong_after(b"MSG x 1 1\r\n!\r\n").await;
    // Loaded once, then served from memory.
    let before = fx.http.hits.load(Ordering::Relaxed);
    login(s, &alice).await;
    assert_eq!(fx.http.hits.load(Ordering::Relaxed), before);
    // An account the URL does not know (404).
    let mut other = fx.chain.clone();
    let nowhere = other.add_account("nowhere", |_| {});
    let u = other.user(&nowhere, "u", |_| {});
    assert_eq!(refused(s, &u).await, auth_violation());
    // Updates reach loaded accounts through the system account.
    assert_updated(&push(s, &fx.chain, &fx.acme).await, &fx.acme, "jwt updated");
}
conf_conformance!(
    url_resolver,
    url_resolver_tracebus,
    url_resolver_nats_server,
    url_fx()
);

/// A full resolver keeps pushed accounts in its directory: after a
/// restart, an account that is not preloaded still works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_resolver_directory_survives_restart() {
    let mut chain = Chain::new();
    let acme = chain.add_account("acme", |_| {});
    let dir = tempfile::tempdir().unwrap();
    let jwt_dir = dir.path().join("jwt");
    let conf = chain.conf_full(&jwt_dir);
    let s = ConfServer::start(raw::Kind::Tracebus, &conf).await;
    let late = chain.add_account("late", |_| {});
    let answer = push(&s, &chain, &late).await;
    assert_updated(&answer, &late, "jwt updated");
    assert!(jwt_dir.join(format!("{late}.jwt")).exists());
    assert!(
        jwt_dir.join(format!("{acme}.jwt")).exists(),
        "preloads are stored"
    );
    s.stop().await;
    let s = ConfServer::start(raw::Kind::Tracebus, &conf).await;
    let u = chain.user(&late, "u", |_| {});
    login(&s, &u).await;
    s.stop().await;
}

fn conf_err(text: &str) -> tracebus::config::ConfigError {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.conf");
    std::fs::write(&p, text).unwrap();
    Options::from_file(&p).expect_err(text)
}

#[test]
fn operator_config_errors() {
    let chain = Chain::new();
    let op = format!("operator: {}\n", chain.operator_jwt);
    let e = conf_err(&format!(
        "{op}resolver: MEMORY\nauthorization {{ users: [{{user: a, password: b}}] }}\n"
    ));
    assert_eq!(
        e.message,
        "operators do not allow users to be configured directly"
    );
    let e = conf_err(&format!("{op}resolver: MEMORY\naccounts {{ A: {{}} }}\n"));
    assert_eq!(
        e.message,
        "operators do not allow Accounts to be configured directly"
    );
    let e = conf_err(&format!(
        "{op}resolver: MEMORY\nsystem_account: {}\n",
        tracebus::jwt::KeyType::Account.generate().public_key()
    ));
    assert_eq!(
        e.message,
        "system_account in config and operator JWT must be identical"
    );
    let e = conf_err(&op);
    assert!(e.message.contains("needs a resolver"), "{e}");
    let e = conf_err(&format!(
        "{op}resolver: URL(\"https://example.com/jwt/\")\n"
    ));
    assert_eq!(e.kind, ErrorKind::Unsupported, "{e}");
    let e = conf_err(&format!("{op}resolver: LDAP\n"));
    assert!(e.message.contains("unknown resolver"), "{e}");
    let e = conf_err(&format!("{op}resolver: {{ type: full }}\n"));
    assert!(e.message.contains("needs \"dir\""), "{e}");
    let e = conf_err(&format!("{op}resolver: {{ type: cache, dir: x }}\n"));
    assert_eq!(e.kind, ErrorKind::Unsupported, "{e}");
    let e = conf_err("operator: eyJhbGciOiJub25lIn0.e30.x\nresolver: MEMORY\n");
    assert!(e.message.contains("invalid operator JWT"), "{e}");
    let e = conf_err("trusted_keys: [ \"ABAD\" ]\nresolver: MEMORY\n");
    assert!(e.message.contains("not a valid operator public key"), "{e}");
    let e = conf_err("resolver: MEMORY\n");
    assert!(e.message.contains("need operator mode"), "{e}");
    let e = conf_err(&format!(
        "{op}resolver: MEMORY\nresolver_preload: {{ ABAD: x }}\n"
    ));
    assert!(e.message.contains("not a valid account public key"), "{e}");
    // An operator JWT file next to the config, a relative path.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("op.jwt"),
        tracebus::jwt::decorate_jwt(tracebus::jwt::ClaimType::Operator, &chain.operator_jwt),
    )
    .unwrap();
    let p = dir.path().join("t.conf");
    std::fs::write(&p, "operator: op.jwt\nresolver: MEMORY\n").unwrap();
    let o = Options::from_file(&p).unwrap();
    assert_eq!(o.trust.operators.len(), 1);
    assert_eq!(o.system_account_name(), chain.sys_key);
    // trusted_keys alone, with the system account named in the file.
    let p = dir.path().join("k.conf");
    std::fs::write(
        &p,
        format!(
            "trusted_keys: [ {} ]\nsystem_account: {}\nresolver: MEMORY\n",
            chain.operator.public_key(),
            chain.sys_key
        ),
    )
    .unwrap();
    let o = Options::from_file(&p).unwrap();
    assert!(o.trust.is_operator_mode());
}

/// Preloads nats-server would start with but never trust are left out
/// (with a warning) rather than stopping start-up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_preload_does_not_stop_start_up() {
    let mut chain = Chain::new();
    let rogue = tracebus::jwt::KeyType::Account.generate();
    let claims = tracebus::jwt::Claims::new(
        rogue.public_key(),
        "rogue",
        tracebus::jwt::Nats::Account(tracebus::jwt::Account::new()),
    );
    let token =
        tracebus::jwt::encode(&claims, &tracebus::jwt::KeyType::Operator.generate()).unwrap();
    chain.extra_preload.push((rogue.public_key(), token));
    let acme = chain.add_account("acme", |_| {});
    let s = ConfServer::start(raw::Kind::Tracebus, &chain.conf_memory()).await;
    login(&s, &chain.user(&acme, "a", |_| {})).await;
    s.stop().await;
}

/// Like nats-server, a URL resolver whose base URL does not answer 200
/// stops start-up.
#[tokio::test]
async fn url_resolver_is_checked_at_start_up() {
    let chain = Chain::new();
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.conf");
    std::fs::write(
        &p,
        format!(
            "operator: {}\nresolver: URL(\"http://127.0.0.1:{port}/jwt/v1/accounts/\")\n",
            chain.operator_jwt
        ),
    )
    .unwrap();
    let mut o = Options::from_file(&p).unwrap();
    o.host = "127.0.0.1".into();
    o.port = 0;
    let e = match tracebus::server::Server::start(o).await {
        Ok(_) => panic!("started without its account server"),
        Err(e) => e.to_string(),
    };
    assert!(
        e.starts_with(&format!(
            "could not fetch <\"http://127.0.0.1:{port}/jwt/v1/accounts/\">"
        )),
        "{e}"
    );
}
