//! Lame duck mode: new clients refused, the `ldm` INFO to clients and routes,
//! closes spread over the duration, the process exiting by itself; and the
//! `--signal` command.

mod cluster_support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cluster_support::proc::{free_port, Proc, BIN};
use cluster_support::*;

/// A raw client: INFO read, CONNECT with `protocol` sent, PONG received.
struct Raw {
    stream: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Raw {
    fn connect(port: u16, protocol: u8) -> Raw {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream.set_read_timeout(Some(WAIT)).unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut info = String::new();
        reader.read_line(&mut info).unwrap();
        assert!(info.starts_with("INFO "), "{info}");
        let mut w = stream.try_clone().unwrap();
        write!(
            w,
            "CONNECT {{\"verbose\":false,\"protocol\":{protocol}}}\r\nPING\r\n"
        )
        .unwrap();
        let mut raw = Raw { stream, reader };
        assert_eq!(raw.line().as_deref(), Some("PONG\r\n"));
        raw
    }

    /// The next line, or `None` at EOF.
    fn line(&mut self) -> Option<String> {
        let mut l = String::new();
        match self.reader.read_line(&mut l) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(l),
        }
    }

    /// Lines until the server closes the connection, and when that happened.
    fn until_closed(mut self) -> (Vec<String>, Instant) {
        let mut lines = Vec::new();
        while let Some(l) = self.line() {
            if l != "PING\r\n" {
                lines.push(l);
            } else {
                let _ = self.stream.write_all(b"PONG\r\n");
            }
        }
        (lines, Instant::now())
    }
}

fn info_json(line: &str) -> serde_json::Value {
    serde_json::from_str(line.strip_prefix("INFO ").expect("INFO").trim_end()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lame_duck_drains_clients_over_the_duration() {
    let mut oa = node_options("ldm-a", &[]);
    oa.lame_duck_duration = Duration::from_secs(3);
    oa.lame_duck_grace_period = Duration::from_secs(1);
    let a = Arc::new(start(oa).await);
    let b = start(node_options("ldm-b", &[a.route_url().unwrap()])).await;
    wait_until("route", || a.num_routes() == 1 && b.num_routes() == 1).await;
    let port = a.client_addr().port();
    let b_url = format!("127.0.0.1:{}", b.client_addr().port());

    // Three clients that take async INFOs, one that does not.
    let clients: Vec<Raw> = (0..4)
        .map(|i| Raw::connect(port, if i == 3 { 0 } else { 1 }))
        .collect();
    let readers: Vec<_> = clients
        .into_iter()
        .map(|c| std::thread::spawn(move || c.until_closed()))
        .collect();

    let started = Instant::now();
    let ldm = {
        let a = a.clone();
        tokio::spawn(async move { a.lame_duck().await })
    };
    // New clients are refused at once.
    wait_until("client listener closed", || {
        TcpStream::connect(("127.0.0.1", port)).is_err()
    })
    .await;
    assert!(a.is_lame_duck());
    // The other node stops advertising this one.
    wait_until("peer drops the lame duck's URL", || {
        b.client_connect_urls() == vec![b_url.clone()]
    })
    .await;

    tokio::time::timeout(WAIT, ldm).await.unwrap().unwrap();
    let mut closes = Vec::new();
    for (i, r) in readers.into_iter().enumerate() {
        let (lines, closed) = tokio::task::spawn_blocking(move || r.join().unwrap())
            .await
            .unwrap();
        closes.push(closed);
        if i == 3 {
            assert!(lines.is_empty(), "protocol 0 client got {lines:?}");
            continue;
        }
        assert_eq!(lines.len(), 1, "{lines:?}");
        let info = info_json(&lines[0]);
        assert_eq!(info["ldm"], true);
        // Only the other nodes' URLs.
        assert_eq!(info["connect_urls"], serde_json::json!([b_url]));
    }
    closes.sort();
    // Nobody is closed during the grace period, and the closes are spread:
    // 4 clients over the 2 s after it, at least half of 500 ms apart.
    assert!(closes[0] - started >= Duration::from_millis(900));
    assert!(
        closes[3] - closes[0] >= Duration::from_millis(500),
        "closes not spread: {:?}",
        closes.windows(2).map(|w| w[1] - w[0]).collect::<Vec<_>>()
    );
    // Routes stay up until shutdown.
    assert_eq!(a.num_routes(), 1);
    Arc::try_unwrap(a).ok().unwrap().shutdown().await;
    wait_until("route gone", || b.num_routes() == 0).await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lame_duck_without_clients_returns_at_once() {
    let n = start(node_options("empty", &[])).await;
    tokio::time::timeout(Duration::from_secs(5), n.lame_duck())
        .await
        .expect("no grace period without clients");
    n.shutdown().await;
}

fn write_conf(dir: &std::path::Path, text: &str) -> String {
    let p = dir.join("ldm.conf");
    std::fs::write(&p, text).unwrap();
    p.to_string_lossy().into_owned()
}

fn signal_cmd(args: &[&str]) -> std::process::Output {
    std::process::Command::new(BIN)
        .args(args)
        .output()
        .expect("run tracebus --signal")
}

#[test]
fn signal_ldm_drains_and_exits_by_itself_ignoring_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let pid_file = dir.path().join("tracebus.pid");
    let conf = write_conf(
        dir.path(),
        &format!(
            "listen: 127.0.0.1:{port}\npid_file: \"{}\"\nlame_duck_duration: \"2s\"\nlame_duck_grace_period: \"1s\"\n",
            pid_file.display()
        ),
    );
    let mut p = Proc::spawn(&["-c", &conf]);
    p.wait_line("Server is ready");
    let c1 = Raw::connect(port, 1);
    let c2 = Raw::connect(port, 1);
    let r1 = std::thread::spawn(move || c1.until_closed());
    let r2 = std::thread::spawn(move || c2.until_closed());

    // By pid file (as `--signal ldm=<pidfile>`).
    let out = signal_cmd(&["--signal", &format!("ldm={}", pid_file.display())]);
    assert!(out.status.success(), "{out:?}");
    p.wait_line("Entering lame duck mode");
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err() || {
            // The listener may take a moment to close.
            std::thread::sleep(Duration::from_millis(200));
            TcpStream::connect(("127.0.0.1", port)).is_err()
        }
    );
    // SIGTERM does not cut lame duck mode short.
    p.signal(libc::SIGTERM);
    p.wait_line("ignored in lame duck mode");
    assert!(p.running());
    let status = p.wait_exit();
    assert!(status.success(), "{status:?}");
    for r in [r1, r2] {
        let (lines, _) = r.join().unwrap();
        assert!(
            lines.iter().any(|l| l.contains("\"ldm\":true")),
            "{lines:?}"
        );
    }
    p.wait_line("Closing existing clients");
    p.wait_line("Server Exiting");
    assert!(!pid_file.exists(), "pid file removed");
}

#[test]
fn sigusr2_then_sigint_stops_at_once() {
    let port = free_port();
    let mut p = Proc::spawn(&["-a", "127.0.0.1", "-p", &port.to_string()]);
    p.wait_line("Server is ready");
    let c = Raw::connect(port, 1);
    p.signal(libc::SIGUSR2);
    p.wait_line("Entering lame duck mode");
    // The default grace period is 10 s; SIGINT quits now.
    p.signal(libc::SIGINT);
    let status = p.wait_exit_within(Duration::from_secs(5));
    assert!(status.success());
    drop(c);
}

#[test]
fn signal_reload_and_reopen_say_they_are_not_implemented() {
    let port = free_port();
    let mut p = Proc::spawn(&["-a", "127.0.0.1", "-p", &port.to_string()]);
    p.wait_line("Server is ready");
    let pid = p.pid().to_string();
    for (cmd, needle) in [
        ("reload", "configuration reload is not implemented"),
        ("reopen", "reopening the log file is not implemented"),
    ] {
        let out = signal_cmd(&["--signal", &format!("{cmd}={pid}")]);
        assert!(out.status.success(), "{out:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("does not implement"),
            "{out:?}"
        );
        p.wait_line(needle);
    }
    assert!(p.running(), "still serving");
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut b = [0u8; 4];
    s.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"INFO");
    // `-sl quit=<pid>` (nats-server's spelling) stops it.
    let out = signal_cmd(&["-sl", &format!("quit={pid}")]);
    assert!(out.status.success(), "{out:?}");
    assert!(p.wait_exit().success());
}

#[test]
fn signal_command_errors() {
    let out = signal_cmd(&["--signal", "bogus=1"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown signal"));
    let out = signal_cmd(&["--signal", "ldm=/nonexistent/tracebus.pid"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read pid file"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_client_sent_before_it_saw_the_close_is_still_routed() {
    let mut oa = node_options("drain-a", &[]);
    oa.lame_duck_duration = Duration::from_secs(1);
    oa.lame_duck_grace_period = Duration::from_millis(100);
    let a = Arc::new(start(oa).await);
    let b = start(node_options("drain-b", &[a.route_url().unwrap()])).await;
    wait_until("route", || a.num_routes() == 1 && b.num_routes() == 1).await;
    let viewer = async_nats::connect(b.client_url()).await.unwrap();
    let mut sub = viewer.subscribe("trace.late").await.unwrap();
    viewer.flush().await.unwrap();
    wait_until("interest at a", || subs_in(&a, "$G") == 1).await;

    // A tracer on the lame duck node keeps publishing until it reads the end
    // of the stream, then publishes once more on the half-closed socket.
    let mut tracer = Raw::connect(a.client_addr().port(), 1);
    let ldm = {
        let a = a.clone();
        tokio::spawn(async move { a.lame_duck().await })
    };
    let sent_after_close = tokio::task::spawn_blocking(move || {
        while tracer.line().is_some() {}
        tracer
            .stream
            .write_all(b"PUB trace.late 5\r\nafter\r\n")
            .is_ok()
    })
    .await
    .unwrap();
    assert!(sent_after_close);
    let m = tokio::time::timeout(WAIT, futures::StreamExt::next(&mut sub))
        .await
        .expect("routed in time")
        .unwrap();
    assert_eq!(&m.payload[..], b"after");
    ldm.await.unwrap();
    Arc::try_unwrap(a).ok().unwrap().shutdown().await;
    b.shutdown().await;
}
