//! A refused CONNECT is logged with the client's address and the reason, and
//! never with the secret it sent. (Its own test binary: it installs a global
//! log subscriber that captures everything.)

mod common;
#[path = "common/log_capture.rs"]
mod log_capture;

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use log_capture::logged;

/// Sends `connect` and returns (local address, everything read until close).
async fn attempt(port: u16, connect: &str) -> (String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let local = s.local_addr().unwrap().to_string();
    s.write_all(connect.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    (local, String::from_utf8_lossy(&out).into_owned())
}

/// The "authentication error" line about the client at `addr`.
async fn error_line(addr: &str) -> String {
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
async fn refused_connect_is_logged_without_the_secret() {
    log_capture::install();
    let mut opts = common::test_options();
    opts.authorization.users = vec![tracebus::config::UserOptions {
        user: Some("alice".into()),
        password: Some("correct-horse".into()),
        ..Default::default()
    }];
    let server = common::start(opts).await;
    let port = server.client_addr().port();

    let (local, got) = attempt(
        port,
        "CONNECT {\"user\":\"alice\",\"pass\":\"Sup3rSecretGuess\"}\r\n",
    )
    .await;
    assert!(got.ends_with("-ERR 'Authorization Violation'\r\n"), "{got}");
    let line = error_line(&local).await;
    assert!(
        line.contains("alice") && line.contains("wrong password"),
        "{line}"
    );

    let (local, _) = attempt(
        port,
        "CONNECT {\"user\":\"mallory\",\"pass\":\"Sup3rSecretGuess\"}\r\n",
    )
    .await;
    let line = error_line(&local).await;
    assert!(
        line.contains("mallory") && line.contains("not a configured user"),
        "{line}"
    );

    let (local, _) = attempt(port, "CONNECT {\"auth_token\":\"Sup3rSecretGuess\"}\r\n").await;
    let line = error_line(&local).await;
    assert!(line.contains("token"), "{line}");

    assert!(
        !logged().contains("Sup3rSecretGuess") && !logged().contains("correct-horse"),
        "a secret reached the log:\n{}",
        logged()
    );
    server.shutdown().await;
}
