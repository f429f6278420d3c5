//! Exports and imports between accounts on the wire: stream imports with
//! `prefix` and `to` (incl. `$1` references), no transitive re-export, service
//! imports with the request carried into the exporter and the response routed
//! back through a mapped `_R_` reply subject, singleton vs stream responses.
//! Conformance checks run against tracebus and (ignored by default)
//! nats-server from the same configuration; the reply-mapping clean-up is
//! checked on tracebus's accounts directly.

mod common;
#[path = "common/raw.rs"]
mod raw;
#[path = "auth_support/mod.rs"]
mod support;

use std::time::Duration;

use raw::{show, RawClient};
use support::ConfServer;

struct Fx {
    conf: String,
}

fn fx() -> Fx {
    fx_with_threshold("2m")
}

fn fx_with_threshold(threshold: &str) -> Fx {
    Fx {
        conf: format!(
            r#"
accounts {{
  A: {{
    users: [ {{user: a, password: p}} ]
    exports: [
      {{stream: "trace.>"}}
      {{stream: "private.>", accounts: [B]}}
      {{service: "svc.time", response_threshold: "{threshold}"}}
      {{service: "svc.stream", response_type: stream, response_threshold: "{threshold}"}}
      {{service: "svc.*"}}
    ]
  }}
  B: {{
    users: [ {{user: b, password: p}} ]
    imports: [
      {{stream: {{account: A, subject: "trace.>"}}, prefix: "a"}}
      {{stream: {{account: A, subject: "private.>"}}}}
      {{service: {{account: A, subject: "svc.time"}}, to: "time"}}
      {{service: {{account: A, subject: "svc.stream"}}, to: "st"}}
      {{service: {{account: A, subject: "svc.*"}}}}
    ]
    exports: [ {{stream: "a.trace.>"}} ]
  }}
  C: {{
    users: [ {{user: c, password: p}} ]
    imports: [
      {{stream: {{account: A, subject: "trace.x.>"}}, to: "t.x.>"}}
      {{stream: {{account: A, subject: "trace.*.y"}}, to: "m.$1"}}
      {{stream: {{account: B, subject: "a.trace.>"}}, prefix: "fromb"}}
    ]
  }}
}}
"#
        ),
    }
}

async fn user(s: &ConfServer, name: &str, subs: &[&str]) -> RawClient {
    let mut c = s
        .login(&format!(r#""user":"{name}","pass":"p","headers":true"#))
        .await;
    for (i, subject) in subs.iter().enumerate() {
        c.send(format!("SUB {subject} {}\r\n", i + 1)).await;
    }
    c.ping_pong().await;
    c
}

/// Everything up to the PONG of a PING barrier.
async fn drain(c: &mut RawClient) -> String {
    c.send("PING\r\n").await;
    let got = c.read_until(b"PONG\r\n").await;
    String::from_utf8_lossy(&got[..got.len() - 6]).into_owned()
}

async fn check_stream_imports(s: &ConfServer, _fx: &Fx) {
    let mut a = user(s, "a", &["trace.>"]).await;
    let mut b = user(s, "b", &["a.>", "trace.>", "private.>"]).await;
    let mut c = user(s, "c", &[">"]).await;
    a.send("PUB trace.x.y 2\r\nhi\r\nPUB private.p 2\r\npp\r\n")
        .await;
    a.ping_pong_after(b"MSG trace.x.y 1 2\r\nhi\r\n").await;
    // B: under the prefix, and the restricted export it may import.
    b.ping_pong_after(b"MSG a.trace.x.y 1 2\r\nhi\r\nMSG private.p 3 2\r\npp\r\n")
        .await;
    // C: one delivery per matching import (`to` and `$1`), and nothing of
    // what B re-exports from its own import (no transitive streams).
    let got = drain(&mut c).await;
    assert_eq!(got.matches("MSG ").count(), 2, "{got}");
    assert!(got.contains("MSG m.x 1 2\r\nhi\r\n"), "{got}");
    assert!(got.contains("MSG t.x.y 1 2\r\nhi\r\n"), "{got}");

    // Nothing flows back: B's and C's own publishes stay in their accounts.
    b.send("PUB trace.x.y 2\r\nbb\r\n").await;
    b.ping_pong_after(b"MSG trace.x.y 2 2\r\nbb\r\n").await;
    c.send("PUB trace.x.y 2\r\ncc\r\n").await;
    c.ping_pong_after(b"MSG trace.x.y 1 2\r\ncc\r\n").await;
    a.ping_pong().await;
    // A's subjects outside the exports do not leak.
    a.send("PUB other.z 1\r\no\r\n").await;
    a.ping_pong().await;
    b.ping_pong().await;
    c.ping_pong().await;
}
conf_conformance!(
    check_stream_imports,
    stream_imports_tracebus,
    stream_imports_nats_server,
    fx()
);

/// Reads one HMSG or MSG and returns (subject, sid, reply, headers, payload).
async fn read_msg(c: &mut RawClient) -> (String, String, Option<String>, String, String) {
    let line = c.read_line().await;
    let text = String::from_utf8_lossy(&line).trim_end().to_string();
    let f: Vec<&str> = text.split(' ').collect();
    let (hdr, total, reply) = match f[0] {
        "HMSG" if f.len() == 6 => (f[4].parse().unwrap(), f[5].parse().unwrap(), Some(f[3])),
        "HMSG" => (f[3].parse().unwrap(), f[4].parse().unwrap(), None),
        "MSG" if f.len() == 5 => (0usize, f[4].parse().unwrap(), Some(f[3])),
        "MSG" => (0, f[3].parse().unwrap(), None),
        _ => panic!("expected a message, got {}", show(&line)),
    };
    let mut body = Vec::new();
    while body.len() < total + 2 {
        body.extend(c.read_line().await);
    }
    let headers = String::from_utf8_lossy(&body[..hdr]).into_owned();
    let payload = String::from_utf8_lossy(&body[hdr..total]).into_owned();
    (
        f[1].to_string(),
        f[2].to_string(),
        reply.map(str::to_string),
        headers,
        payload,
    )
}

fn assert_mapped_reply(reply: &str) {
    let tokens: Vec<&str> = reply.split('.').collect();
    assert_eq!(tokens.len(), 3, "mapped reply {reply}");
    assert_eq!(tokens[0], "_R_", "mapped reply {reply}");
    assert!(
        !reply.contains("INBOX"),
        "the requester's inbox must not leak: {reply}"
    );
}

async fn check_service_import(s: &ConfServer, _fx: &Fx) {
    let mut a = user(s, "a", &["svc.time"]).await;
    let mut b = user(s, "b", &["_INBOX.>"]).await;
    b.send("PUB time _INBOX.r1 2\r\nrq\r\n").await;
    b.ping_pong().await;
    let (subject, sid, reply, headers, payload) = read_msg(&mut a).await;
    assert_eq!(
        (subject.as_str(), sid.as_str(), payload.as_str()),
        ("svc.time", "1", "rq")
    );
    let reply = reply.expect("a reply subject");
    assert_mapped_reply(&reply);
    // nats-server tells the responder who asked.
    assert!(
        headers.starts_with("NATS/1.0\r\nNats-Request-Info: {\"acc\":\"B\",\"rtt\":"),
        "{headers:?}"
    );
    assert!(headers.ends_with("}\r\n\r\n"), "{headers:?}");
    // Singleton: the first response reaches the requester, a second does not.
    a.send(format!("PUB {reply} 3\r\nrs1\r\nPUB {reply} 3\r\nrs2\r\n"))
        .await;
    a.ping_pong().await;
    b.ping_pong_after(b"MSG _INBOX.r1 1 3\r\nrs1\r\n").await;

    // Stream responses: every response reaches the requester.
    let mut a2 = user(s, "a", &["svc.stream"]).await;
    b.send("PUB st _INBOX.r2 2\r\nrq\r\n").await;
    b.ping_pong().await;
    let (subject, _, reply, _, _) = read_msg(&mut a2).await;
    assert_eq!(subject, "svc.stream");
    let reply = reply.unwrap();
    a2.send(format!("PUB {reply} 3\r\nrs1\r\nPUB {reply} 3\r\nrs2\r\n"))
        .await;
    a2.ping_pong().await;
    b.ping_pong_after(b"MSG _INBOX.r2 1 3\r\nrs1\r\nMSG _INBOX.r2 1 3\r\nrs2\r\n")
        .await;

    // A responder without headers gets a plain MSG; a request without reply
    // arrives without one.
    let mut plain = s.login(r#""user":"a","pass":"p""#).await;
    plain.send("SUB svc.zz 1\r\n").await;
    plain.ping_pong().await;
    b.send("PUB svc.zz _INBOX.r3 2\r\nrq\r\nPUB svc.zz 2\r\nnr\r\n")
        .await;
    b.ping_pong().await;
    let line = plain.read_line().await;
    let text = String::from_utf8_lossy(&line).to_string();
    assert!(text.starts_with("MSG svc.zz 1 _R_."), "{text}");
    plain.expect(b"rq\r\nMSG svc.zz 1 2\r\nnr\r\n").await;
    a.ping_pong().await;
}
conf_conformance!(
    check_service_import,
    service_import_request_reply_tracebus,
    service_import_request_reply_nats_server,
    fx()
);

async fn check_service_headers_kept(s: &ConfServer, _fx: &Fx) {
    let mut a = user(s, "a", &["svc.h"]).await;
    let mut b = user(s, "b", &[]).await;
    b.send("HPUB svc.h _INBOX.h 20 22\r\nNATS/1.0\r\nX-A: 1\r\n\r\nhi\r\n")
        .await;
    b.ping_pong().await;
    let (_, _, _, headers, payload) = read_msg(&mut a).await;
    assert!(
        headers.starts_with("NATS/1.0\r\nX-A: 1\r\nNats-Request-Info: {\"acc\":\"B\""),
        "{headers:?}"
    );
    assert_eq!(payload, "hi");
}
conf_conformance!(
    check_service_headers_kept,
    service_import_keeps_headers_tracebus,
    service_import_keeps_headers_nats_server,
    fx()
);

// ------------------------------------------------------------------ tracebus internals

async fn tracebus(fx: Fx) -> ConfServer {
    ConfServer::start(raw::Kind::Tracebus, &fx.conf).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reply_mapping_is_removed_after_the_response() {
    let s = tracebus(fx()).await;
    let exporter = s.handle().unwrap().account("A").unwrap();
    let mut a = user(&s, "a", &["svc.time"]).await;
    let mut b = user(&s, "b", &["_INBOX.>"]).await;
    for i in 0..20 {
        b.send(format!("PUB time _INBOX.{i} 1\r\nq\r\n")).await;
    }
    b.ping_pong().await;
    let mut replies = Vec::new();
    for _ in 0..20 {
        replies.push(read_msg(&mut a).await.2.unwrap());
    }
    assert_eq!(exporter.pending_responses(), 20);
    for r in &replies {
        a.send(format!("PUB {r} 1\r\nr\r\n")).await;
    }
    a.ping_pong().await;
    assert_eq!(
        exporter.pending_responses(),
        0,
        "singleton mappings end with the response"
    );
    let got = drain(&mut b).await;
    assert_eq!(got.matches("MSG _INBOX.").count(), 20);
    // An old mapped reply leads nowhere any more.
    a.send(format!("PUB {} 1\r\nx\r\n", replies[0])).await;
    a.ping_pong().await;
    assert_eq!(drain(&mut b).await, "");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unanswered_and_streamed_mappings_expire() {
    let s = tracebus(fx_with_threshold("200ms")).await;
    let exporter = s.handle().unwrap().account("A").unwrap();
    let mut a = user(&s, "a", &["svc.time", "svc.stream"]).await;
    let mut b = user(&s, "b", &["_INBOX.>"]).await;
    b.send("PUB time _INBOX.u 1\r\nq\r\nPUB st _INBOX.s 1\r\nq\r\n")
        .await;
    b.ping_pong().await;
    let _ = read_msg(&mut a).await;
    let (_, _, reply, _, _) = read_msg(&mut a).await;
    let stream_reply = reply.unwrap();
    a.send(format!("PUB {stream_reply} 1\r\n1\r\n")).await;
    a.ping_pong().await;
    assert_eq!(exporter.pending_responses(), 2);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while exporter.pending_responses() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "mappings never expired"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    a.send(format!("PUB {stream_reply} 1\r\n2\r\n")).await;
    a.ping_pong().await;
    assert_eq!(drain(&mut b).await, "MSG _INBOX.s 1 1\r\n1\r\n");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_from_queue_responders_and_many_requesters() {
    let s = tracebus(fx()).await;
    let mut responders = Vec::new();
    for _ in 0..3 {
        let mut r = s.login(r#""user":"a","pass":"p""#).await;
        r.send("SUB svc.time workers 1\r\n").await;
        r.ping_pong().await;
        responders.push(r);
    }
    let mut requesters = Vec::new();
    for i in 0..4 {
        let mut b = user(&s, "b", &[&format!("_INBOX.{i}.>")]).await;
        for j in 0..5 {
            b.send(format!("PUB time _INBOX.{i}.{j} 1\r\nq\r\n")).await;
        }
        b.ping_pong().await;
        requesters.push(b);
    }
    // Each request reached exactly one responder; each answers.
    let mut total = 0;
    for r in &mut responders {
        let got = drain(r).await;
        for line in got.lines().filter(|l| l.starts_with("MSG svc.time")) {
            let reply = line.split(' ').nth(3).unwrap();
            r.send(format!("PUB {reply} 1\r\nr\r\n")).await;
            total += 1;
        }
        r.ping_pong().await;
    }
    assert_eq!(total, 20);
    for (i, b) in requesters.iter_mut().enumerate() {
        let got = drain(b).await;
        for j in 0..5 {
            assert!(
                got.contains(&format!("MSG _INBOX.{i}.{j} 1 1\r\nr\r\n")),
                "{got}"
            );
        }
        assert_eq!(got.matches("MSG").count(), 5, "{got}");
    }
    assert_eq!(
        s.handle()
            .unwrap()
            .account("A")
            .unwrap()
            .pending_responses(),
        0
    );
    s.stop().await;
}

fn wildcard_fx() -> Fx {
    Fx {
        conf: r#"
accounts {
  A: { users: [{user: a, password: p}], exports: [ {service: "svc.*.*"}, {stream: "s.*.>"} ] }
  B: {
    users: [{user: b, password: p}]
    imports: [
      {service: {account: A, subject: "svc.*.*"}, to: "q.*.*"}
      {stream: {account: A, subject: "s.*.>"}, to: "t.$1.>"}
    ]
  }
}
"#
        .into(),
    }
}

async fn check_wildcard_mappings(s: &ConfServer, _fx: &Fx) {
    let mut a = user(s, "a", &[">"]).await;
    let mut b = user(s, "b", &["t.>"]).await;
    // Service: the importer's q.x.y is the exporter's svc.x.y.
    b.send("PUB q.x.y 1\r\nz\r\n").await;
    b.ping_pong().await;
    let (subject, _, reply, _, payload) = read_msg(&mut a).await;
    assert_eq!(
        (subject.as_str(), reply, payload.as_str()),
        ("svc.x.y", None, "z")
    );
    // Stream: s.k.l.m arrives as t.k.l.m.
    a.send("PUB s.k.l.m 1\r\nw\r\n").await;
    a.ping_pong_after(b"MSG s.k.l.m 1 1\r\nw\r\n").await;
    b.ping_pong_after(b"MSG t.k.l.m 1 1\r\nw\r\n").await;
}
conf_conformance!(
    check_wildcard_mappings,
    wildcard_mappings_tracebus,
    wildcard_mappings_nats_server,
    wildcard_fx()
);
