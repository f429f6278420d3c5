//! Shared harness for the accounts/auth/permissions/imports tests: start the
//! server under test from **configuration text** (the same text for tracebus
//! and for the reference nats-server), plus key and hash helpers.
//!
//! Include it with `#[path = "auth_support/mod.rs"] mod support;` after
//! `mod common;` and `#[path = "common/raw.rs"] mod raw;`.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;
use tokio::time::Instant;

use crate::raw::{nats_server_bin, show, Kind, RawClient};

/// A server started from a config text.
pub struct ConfServer {
    pub kind: Kind,
    addr: SocketAddr,
    handle: Option<tracebus::server::ServerHandle>,
    child: Option<Child>,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for ConfServer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl ConfServer {
    /// Starts `kind` with `conf` (which must not set `listen`/`port`).
    pub async fn start(kind: Kind, conf: &str) -> ConfServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("server.log");
        let path = dir.path().join("server.conf");
        match kind {
            Kind::Tracebus => {
                std::fs::write(&path, conf).expect("write conf");
                let mut opts = tracebus::config::Options::from_file(&path)
                    .unwrap_or_else(|e| panic!("tracebus refuses the config: {e}\n{conf}"));
                opts.host = "127.0.0.1".into();
                opts.port = 0;
                let handle = crate::common::start(opts).await;
                let addr = handle.client_addr();
                ConfServer {
                    kind,
                    addr,
                    handle: Some(handle),
                    child: None,
                    log,
                    _dir: dir,
                }
            }
            Kind::NatsServer => {
                let text = format!(
                    "listen: \"127.0.0.1:-1\"\nlog_file: {}\n{conf}",
                    serde_json::to_string(&log.to_string_lossy()).unwrap()
                );
                std::fs::write(&path, text).expect("write conf");
                let bin = nats_server_bin();
                let child = Command::new(&bin)
                    .arg("-c")
                    .arg(&path)
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
                let mut s = ConfServer {
                    kind,
                    addr: SocketAddr::from(([127, 0, 0, 1], 0)),
                    handle: None,
                    child: Some(child),
                    log,
                    _dir: dir,
                };
                let deadline = Instant::now() + Duration::from_secs(10);
                loop {
                    let text = std::fs::read_to_string(&s.log).unwrap_or_default();
                    let port = text
                        .lines()
                        .find_map(|l| l.split("Listening for client connections on ").nth(1))
                        .and_then(|hp| hp.trim().rsplit(':').next())
                        .and_then(|p| p.parse::<u16>().ok());
                    if let (Some(port), true) = (port, text.contains("Server is ready")) {
                        s.addr = SocketAddr::from(([127, 0, 0, 1], port));
                        return s;
                    }
                    if let Ok(Some(status)) = s.child.as_mut().unwrap().try_wait() {
                        let mut err = String::new();
                        if let Some(mut e) = s.child.as_mut().unwrap().stderr.take() {
                            use std::io::Read;
                            let _ = e.read_to_string(&mut err);
                        }
                        panic!("nats-server exited ({status}): {err}\nlog:\n{text}");
                    }
                    assert!(Instant::now() < deadline, "nats-server not ready:\n{text}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The in-process tracebus (None for nats-server).
    pub fn handle(&self) -> Option<&tracebus::server::ServerHandle> {
        self.handle.as_ref()
    }

    /// nats-server's log so far (empty for tracebus).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Connects and reads INFO.
    pub async fn client(&self) -> RawClient {
        RawClient::connect(self.addr).await
    }

    /// Connects and sends `CONNECT` with `fields` merged into
    /// `{"verbose":false,"pedantic":false}`, then checks the connection with a
    /// PING (so the CONNECT has been accepted).
    pub async fn login(&self, fields: &str) -> RawClient {
        let mut c = self.client().await;
        c.send(connect_line(fields)).await;
        c.ping_pong().await;
        c
    }

    /// Connects as an nkey user: signs this connection's nonce with `seed`.
    pub async fn login_nkey(&self, seed: &str, extra: &str) -> RawClient {
        let mut c = self.client().await;
        let line = nkey_connect(&c, seed, extra);
        c.send(line).await;
        c.ping_pong().await;
        c
    }

    pub async fn stop(mut self) {
        if let Some(h) = self.handle.take() {
            h.shutdown().await;
        }
    }
}

/// `CONNECT {"verbose":false,"pedantic":false,<fields>}\r\n`.
pub fn connect_line(fields: &str) -> String {
    if fields.is_empty() {
        "CONNECT {\"verbose\":false,\"pedantic\":false}\r\n".to_string()
    } else {
        format!("CONNECT {{\"verbose\":false,\"pedantic\":false,{fields}}}\r\n")
    }
}

/// The CONNECT line of an nkey user answering this connection's nonce.
pub fn nkey_connect(c: &RawClient, seed: &str, extra: &str) -> String {
    let nonce = c
        .info
        .get("nonce")
        .and_then(|n| n.as_str())
        .unwrap_or_else(|| panic!("INFO has no nonce: {}", show(&c.info_line)));
    let kp = nkeys::KeyPair::from_seed(seed).expect("seed");
    let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(kp.sign(nonce.as_bytes()).expect("sign"));
    let mut fields = format!("\"nkey\":\"{}\",\"sig\":\"{sig}\"", kp.public_key());
    if !extra.is_empty() {
        fields.push(',');
        fields.push_str(extra);
    }
    connect_line(&fields)
}

/// A new nkey user: (seed, public key).
pub fn nkey_user() -> (String, String) {
    let kp = nkeys::KeyPair::new_user();
    (kp.seed().expect("seed"), kp.public_key())
}

/// A bcrypt hash of `secret` (cost 4: fast, still accepted by nats-server).
pub fn bcrypt_hash(secret: &str) -> String {
    bcrypt::hash(secret, 4).expect("bcrypt")
}

/// `-ERR '<text>'\r\n`.
pub fn err(text: &str) -> Vec<u8> {
    format!("-ERR '{text}'\r\n").into_bytes()
}

/// Generates `<tb>` (tracebus) and `<ns>` (nats-server, ignored by default)
/// tests that run `check(&ConfServer, &fixture)` with a server started from
/// `fixture.conf`. `$fixture` is an expression evaluated once per test.
#[macro_export]
macro_rules! conf_conformance {
    ($check:ident, $tb:ident, $ns:ident, $fixture:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $tb() {
            let fx = $fixture;
            let s = $crate::support::ConfServer::start($crate::raw::Kind::Tracebus, &fx.conf).await;
            $check(&s, &fx).await;
            s.stop().await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        #[ignore = "needs nats-server"]
        async fn $ns() {
            let fx = $fixture;
            let s =
                $crate::support::ConfServer::start($crate::raw::Kind::NatsServer, &fx.conf).await;
            $check(&s, &fx).await;
            s.stop().await;
        }
    };
}
