//! The hot path stays allocation-free with permissions and imports (DESIGN.md
//! §3): a publisher whose publish permissions are checked (cached verdicts), a
//! wildcard subscriber whose subscribe deny rules are checked at delivery, and
//! a message crossing a stream import into another account must not allocate
//! per message once warmed up. (Own test binary: a counting global allocator.)

#[path = "common/alloc_counter.rs"]
mod alloc_counter;
mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use tracebus::config::{
    AccountOptions, ExportKind, ExportOptions, ImportOptions, Options, PermissionsOptions,
    SubjectPermissionOptions, UserOptions,
};

const PAYLOAD: usize = 128;

fn rules(allow: &[&str], deny: &[&str]) -> Option<SubjectPermissionOptions> {
    Some(SubjectPermissionOptions {
        allow: Some(allow.iter().map(|s| s.to_string()).collect()),
        deny: deny.iter().map(|s| s.to_string()).collect(),
    })
}

fn user(name: &str, permissions: Option<PermissionsOptions>) -> UserOptions {
    UserOptions {
        user: Some(name.into()),
        password: Some("pw".into()),
        permissions,
        ..Default::default()
    }
}

fn options() -> Options {
    let mut a = AccountOptions::new("A");
    a.users = vec![
        // Publishes under an allow list with a deny rule.
        user(
            "tracer",
            Some(PermissionsOptions {
                publish: rules(&["trace.>"], &["trace.secret.>"]),
                ..Default::default()
            }),
        ),
        // Subscribes with a wildcard that overlaps a deny rule.
        user(
            "viewer",
            Some(PermissionsOptions {
                subscribe: rules(&["trace.>"], &["trace.*.secret"]),
                ..Default::default()
            }),
        ),
    ];
    a.exports = vec![ExportOptions {
        kind: ExportKind::Stream,
        subject: "trace.>".into(),
        accounts: None,
        response_type: Default::default(),
        response_threshold: Duration::from_secs(120),
        pos: None,
    }];
    let mut b = AccountOptions::new("B");
    b.users = vec![user("other", None)];
    b.imports = vec![ImportOptions {
        kind: ExportKind::Stream,
        account: "A".into(),
        subject: "trace.>".into(),
        to: None,
        prefix: Some("a".into()),
        pos: None,
    }];
    let mut o = common::test_options();
    o.accounts = vec![a, b];
    o
}

fn connect(port: u16, user: &str, sub: Option<&str>) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut proto = format!(
        "CONNECT {{\"verbose\":false,\"pedantic\":false,\"user\":\"{user}\",\"pass\":\"pw\"}}\r\n"
    )
    .into_bytes();
    if let Some(subject) = sub {
        proto.extend_from_slice(format!("SUB {subject} 1\r\n").as_bytes());
    }
    proto.extend_from_slice(b"PING\r\n");
    s.write_all(&proto).unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !seen.ends_with(b"PONG\r\n") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "server closed: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    assert!(
        !String::from_utf8_lossy(&seen).contains("-ERR"),
        "{}",
        String::from_utf8_lossy(&seen)
    );
    s
}

/// A batch cycling through a few subjects (as a tracer does), built once.
fn batch(count: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..count {
        let subject = format!("trace.app.h{}.log", i % 4);
        out.extend_from_slice(format!("PUB {subject} {PAYLOAD}\r\n").as_bytes());
        out.extend(std::iter::repeat(b'x').take(PAYLOAD));
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Bytes one subscriber receives per batch message: `MSG <subject> 1 128`.
fn delivered_len(prefix: &str) -> usize {
    format!("MSG {prefix}trace.app.h0.log 1 {PAYLOAD}\r\n").len() + PAYLOAD + 2
}

fn relay(publisher: &mut TcpStream, subs: &mut [(TcpStream, usize)], batch: &[u8], batches: usize) {
    let readers: Vec<_> = subs
        .iter_mut()
        .map(|(s, expected)| {
            let mut s = s.try_clone().unwrap();
            let expected = *expected * batches;
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 256 * 1024];
                let mut got = 0usize;
                while got < expected {
                    let n = s.read(&mut buf).expect("subscriber read");
                    assert!(n > 0, "subscriber closed after {got} of {expected} bytes");
                    got += n;
                }
                assert_eq!(got, expected);
            })
        })
        .collect();
    for _ in 0..batches {
        publisher.write_all(batch).unwrap();
    }
    for r in readers {
        r.join().unwrap();
    }
}

#[test]
fn permissions_and_stream_imports_do_not_allocate_per_message() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = rt.block_on(common::start(options()));
    let port = server.client_addr().port();
    let viewer = connect(port, "viewer", Some("trace.*.*.log"));
    let importer = connect(port, "other", Some("a.trace.>"));
    let mut tracer = connect(port, "tracer", None);

    let per_batch = 500;
    let b = batch(per_batch);
    let mut subs = vec![
        (viewer, per_batch * delivered_len("")),
        (importer, per_batch * delivered_len("a.")),
    ];
    relay(&mut tracer, &mut subs, &b, 40);

    let batches = 200;
    let messages = batches * per_batch;
    let ((), allocs) =
        alloc_counter::count_allocations(|| relay(&mut tracer, &mut subs, &b, batches));
    eprintln!("{allocs} heap allocations while relaying {messages} messages to 2 accounts");
    assert!(
        allocs < messages / 100,
        "{allocs} allocations for {messages} messages"
    );
    drop(subs);
    drop(tracer);
    rt.block_on(server.shutdown());
}
