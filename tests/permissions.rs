//! Publish and subscribe permissions on the wire, with nats-server 2.9.10's
//! exact bytes: allow and deny lists (deny wins), queue rules, wildcard
//! subscriptions overlapping a deny, `allow_responses` with `max` and
//! `expires`, and default permissions per account and in `authorization`.
//! Each check runs against tracebus and (ignored by default) nats-server.

mod common;
#[path = "common/raw.rs"]
mod raw;
#[path = "auth_support/mod.rs"]
mod support;

use std::time::Duration;

use raw::RawClient;
use support::{err, ConfServer};

struct Fx {
    conf: String,
}

fn fx() -> Fx {
    Fx {
        conf: r#"
authorization {
  default_permissions: { publish: "g.>" }
  users: [
    {user: g, password: p}
    {user: g2, password: p, permissions: {publish: "g2"}}
  ]
}
accounts {
  A: { users: [
    {user: p1, password: p, permissions: {
      publish: {allow: ["foo.*", "bar.>"], deny: ["foo.secret"]}
      subscribe: {allow: ["foo.>", "q.* qq", "w.*.x", "x qq.*", "y", "z.>"],
                  deny: ["foo.secret", "foo.*.hidden", "y qd", "z.a qd"]}
    }}
    {user: svc, password: p, permissions: {subscribe: "req", allow_responses: true}}
    {user: svc2, password: p, permissions: {
      subscribe: "req2", publish: "ok.>", allow_responses: {max: 2, expires: "1s"}
    }}
    {user: pub, password: p}
  ]}
  B: {
    default_permissions: { publish: "b.>" }
    users: [
      {user: b, password: p}
      {user: b2, password: p, permissions: {subscribe: "x"}}
    ]
  }
}
"#
        .into(),
    }
}

fn pub_err(subject: &str) -> Vec<u8> {
    err(&format!(
        "Permissions Violation for Publish to \"{subject}\""
    ))
}

fn sub_err(subject: &str, queue: Option<&str>) -> Vec<u8> {
    match queue {
        None => err(&format!(
            "Permissions Violation for Subscription to \"{subject}\""
        )),
        Some(q) => err(&format!(
            "Permissions Violation for Subscription to \"{subject}\" using queue \"{q}\""
        )),
    }
}

/// A verbose connection as `user`.
async fn verbose(s: &ConfServer, user: &str) -> RawClient {
    let mut c = s.client().await;
    c.send(format!(
        "CONNECT {{\"verbose\":true,\"pedantic\":false,\"headers\":true,\"user\":\"{user}\",\"pass\":\"p\"}}\r\n"
    ))
    .await;
    c.expect(b"+OK\r\n").await;
    c
}

async fn quiet(s: &ConfServer, user: &str) -> RawClient {
    s.login(&format!(r#""user":"{user}","pass":"p""#)).await
}

/// Sends `op` and expects exactly `reply` before the PONG of a PING barrier.
async fn step(c: &mut RawClient, op: &str, reply: &[u8]) {
    c.send(op).await;
    c.ping_pong_after(reply).await;
}

async fn check_publish(s: &ConfServer, _fx: &Fx) {
    let mut watcher = quiet(s, "pub").await;
    watcher.send("SUB > 1\r\n").await;
    watcher.ping_pong().await;
    let mut c = verbose(s, "p1").await;
    step(&mut c, "PUB foo.x 1\r\na\r\n", b"+OK\r\n").await;
    step(&mut c, "PUB foo.secret 1\r\nb\r\n", &pub_err("foo.secret")).await;
    step(&mut c, "PUB baz 1\r\nc\r\n", &pub_err("baz")).await;
    step(&mut c, "PUB bar.a.b 1\r\nd\r\n", b"+OK\r\n").await;
    step(&mut c, "PUB foo.x.y 1\r\ne\r\n", &pub_err("foo.x.y")).await;
    // Repeated: answered the same way from the verdict cache.
    step(&mut c, "PUB foo.secret 1\r\nb\r\n", &pub_err("foo.secret")).await;
    step(
        &mut c,
        "HPUB baz 12 13\r\nNATS/1.0\r\n\r\nc\r\n",
        &pub_err("baz"),
    )
    .await;
    // Denied messages were dropped; allowed ones delivered.
    watcher
        .ping_pong_after(b"MSG foo.x 1 1\r\na\r\nMSG bar.a.b 1 1\r\nd\r\n")
        .await;
}
conf_conformance!(
    check_publish,
    publish_allow_deny_tracebus,
    publish_allow_deny_nats_server,
    fx()
);

async fn check_subscribe(s: &ConfServer, _fx: &Fx) {
    let mut c = verbose(s, "p1").await;
    // (op, None if allowed, or the refused subject and queue)
    type Case<'a> = (&'a str, Option<(&'a str, Option<&'a str>)>);
    let cases: &[Case] = &[
        ("SUB foo.* 1\r\n", None),
        ("SUB foo.secret 2\r\n", Some(("foo.secret", None))),
        ("SUB q.a 3\r\n", Some(("q.a", None))),
        ("SUB q.a qq 4\r\n", None),
        ("SUB q.a other 5\r\n", Some(("q.a", Some("other")))),
        ("SUB > 6\r\n", Some((">", None))),
        ("SUB foo.> 7\r\n", None),
        ("SUB foo.*.hidden 8\r\n", Some(("foo.*.hidden", None))),
        ("SUB w.*.x 9\r\n", None),
        ("SUB w.a.x 10\r\n", None),
        ("SUB w.> 11\r\n", Some(("w.>", None))),
        ("SUB q.* qq 12\r\n", None),
        ("SUB foo.x.hidden 13\r\n", Some(("foo.x.hidden", None))),
        ("SUB foo.secret qq 14\r\n", Some(("foo.secret", Some("qq")))),
        ("SUB x qq.a 15\r\n", None),
        ("SUB x qq 16\r\n", Some(("x", Some("qq")))),
        ("SUB x 17\r\n", Some(("x", None))),
        ("SUB y 18\r\n", None),
        ("SUB y qd 19\r\n", Some(("y", Some("qd")))),
        ("SUB y other 20\r\n", None),
        ("SUB z.* qd 21\r\n", None),
        ("SUB z.a 22\r\n", None),
        ("SUB z.a qd 23\r\n", Some(("z.a", Some("qd")))),
    ];
    for (op, denied) in cases {
        let want = match denied {
            None => b"+OK\r\n".to_vec(),
            Some((subj, q)) => sub_err(subj, *q),
        };
        step(&mut c, op, &want).await;
    }
}
conf_conformance!(
    check_subscribe,
    subscribe_allow_deny_queues_tracebus,
    subscribe_allow_deny_queues_nats_server,
    fx()
);

async fn check_wildcard_sub_under_deny(s: &ConfServer, _fx: &Fx) {
    // A wildcard subscription overlapping a deny rule is accepted, but the
    // denied subjects are not delivered to it.
    let mut c = quiet(s, "p1").await;
    c.send("SUB foo.* 1\r\nSUB foo.> 2\r\n").await;
    c.ping_pong().await;
    let mut p = quiet(s, "pub").await;
    p.send("PUB foo.a 1\r\n1\r\nPUB foo.secret 1\r\n2\r\nPUB foo.b.hidden 1\r\n3\r\nPUB foo.x.y 1\r\n4\r\n")
        .await;
    p.ping_pong().await;
    let got = c.read_until(b"MSG foo.x.y 2 1\r\n4\r\n").await;
    let text = String::from_utf8_lossy(&got);
    assert!(
        !text.contains("secret") && !text.contains("hidden"),
        "{text}"
    );
    assert!(text.contains("MSG foo.a 1 1\r\n1\r\n") && text.contains("MSG foo.a 2 1\r\n1\r\n"));
    c.ping_pong().await;
}
conf_conformance!(
    check_wildcard_sub_under_deny,
    wildcard_sub_overlapping_deny_tracebus,
    wildcard_sub_overlapping_deny_nats_server,
    fx()
);

async fn check_allow_responses_default(s: &ConfServer, _fx: &Fx) {
    let mut svc = verbose(s, "svc").await;
    step(&mut svc, "SUB req 1\r\n", b"+OK\r\n").await;
    // Without a publish allow list, allow_responses denies everything else.
    step(&mut svc, "PUB foo 0\r\n\r\n", &pub_err("foo")).await;
    step(&mut svc, "PUB _INBOX.1 0\r\n\r\n", &pub_err("_INBOX.1")).await;
    let mut r = quiet(s, "pub").await;
    r.send("SUB _INBOX.> 1\r\nPUB req _INBOX.1 2\r\nrq\r\n")
        .await;
    r.ping_pong().await;
    svc.expect(b"MSG req 1 _INBOX.1 2\r\nrq\r\n").await;
    // One response (max defaults to 1), then refused.
    step(&mut svc, "PUB _INBOX.1 1\r\na\r\n", b"+OK\r\n").await;
    step(&mut svc, "PUB _INBOX.1 1\r\nb\r\n", &pub_err("_INBOX.1")).await;
    r.ping_pong_after(b"MSG _INBOX.1 1 1\r\na\r\n").await;
}
conf_conformance!(
    check_allow_responses_default,
    allow_responses_true_tracebus,
    allow_responses_true_nats_server,
    fx()
);

async fn check_allow_responses_max_expires(s: &ConfServer, _fx: &Fx) {
    let mut svc = verbose(s, "svc2").await;
    step(&mut svc, "SUB req2 1\r\n", b"+OK\r\n").await;
    let mut r = quiet(s, "pub").await;
    r.send("SUB _INBOX.> 1\r\nPUB req2 _INBOX.2 0\r\n\r\n")
        .await;
    r.ping_pong().await;
    svc.expect(b"MSG req2 1 _INBOX.2 0\r\n\r\n").await;
    step(&mut svc, "PUB _INBOX.2 1\r\na\r\n", b"+OK\r\n").await;
    step(&mut svc, "PUB _INBOX.2 1\r\nb\r\n", b"+OK\r\n").await;
    step(&mut svc, "PUB _INBOX.2 1\r\nc\r\n", &pub_err("_INBOX.2")).await;
    r.ping_pong_after(b"MSG _INBOX.2 1 1\r\na\r\nMSG _INBOX.2 1 1\r\nb\r\n")
        .await;
    // The explicit publish allow list still works.
    step(&mut svc, "PUB ok.x 0\r\n\r\n", b"+OK\r\n").await;
    step(&mut svc, "PUB nope 0\r\n\r\n", &pub_err("nope")).await;
    // After `expires`, a pending reply may no longer be answered.
    r.send("PUB req2 _INBOX.3 0\r\n\r\n").await;
    r.ping_pong().await;
    svc.expect(b"MSG req2 1 _INBOX.3 0\r\n\r\n").await;
    tokio::time::sleep(Duration::from_millis(1300)).await;
    svc.send("PUB _INBOX.3 1\r\na\r\nPING\r\n").await;
    // A server PING may come first after the pause; skip it.
    let mut got = Vec::new();
    while !got.ends_with(b"PONG\r\n") {
        let line = svc.read_line().await;
        if line != b"PING\r\n" {
            got.extend_from_slice(&line);
        }
    }
    let mut want = pub_err("_INBOX.3");
    want.extend_from_slice(b"PONG\r\n");
    assert_eq!(raw::show(&got), raw::show(&want));
}
conf_conformance!(
    check_allow_responses_max_expires,
    allow_responses_max_expires_tracebus,
    allow_responses_max_expires_nats_server,
    fx()
);

async fn check_default_permissions(s: &ConfServer, _fx: &Fx) {
    // (user, [(subject, allowed)], SUB y allowed)
    type Row<'a> = (&'a str, &'a [(&'a str, bool)], bool);
    let table: &[Row] = &[
        // authorization.default_permissions apply to authorization users...
        (
            "g",
            &[("g.x", true), ("g2", false), ("b.x", false), ("zzz", false)],
            true,
        ),
        // ...that have no permissions of their own.
        (
            "g2",
            &[("g.x", false), ("g2", true), ("b.x", false), ("zzz", false)],
            true,
        ),
        // They do not apply to account users.
        (
            "pub",
            &[("g.x", true), ("g2", true), ("b.x", true), ("zzz", true)],
            true,
        ),
        // An account's default_permissions apply to its users without their own.
        (
            "b",
            &[("g.x", false), ("g2", false), ("b.x", true), ("zzz", false)],
            true,
        ),
        (
            "b2",
            &[("g.x", true), ("g2", true), ("b.x", true), ("zzz", true)],
            false,
        ),
    ];
    for (user, pubs, sub_ok) in table {
        let mut c = verbose(s, user).await;
        for (subject, allowed) in *pubs {
            let want = if *allowed {
                b"+OK\r\n".to_vec()
            } else {
                pub_err(subject)
            };
            step(&mut c, &format!("PUB {subject} 0\r\n\r\n"), &want).await;
        }
        let want = if *sub_ok {
            b"+OK\r\n".to_vec()
        } else {
            sub_err("y", None)
        };
        step(&mut c, "SUB y 1\r\n", &want).await;
    }
}
conf_conformance!(
    check_default_permissions,
    default_permissions_tracebus,
    default_permissions_nats_server,
    fx()
);

async fn check_reserved_reply_subjects(s: &ConfServer, _fx: &Fx) {
    // Clients may not set reply subjects in the server's reply spaces.
    let mut watcher = quiet(s, "pub").await;
    watcher.send("SUB foo 1\r\n").await;
    watcher.ping_pong().await;
    let mut c = verbose(s, "pub").await;
    let reply_err = |r: &str| {
        err(&format!(
            "Permissions Violation for Publish with Reply of \"{r}\""
        ))
    };
    step(&mut c, "PUB foo _R_.x 0\r\n\r\n", &reply_err("_R_.x")).await;
    step(&mut c, "PUB foo _R_. 0\r\n\r\n", &reply_err("_R_.")).await;
    step(
        &mut c,
        "PUB foo $JS.ACK.x.y 0\r\n\r\n",
        &reply_err("$JS.ACK.x.y"),
    )
    .await;
    step(
        &mut c,
        "HPUB foo _R_.z 12 12\r\nNATS/1.0\r\n\r\n\r\n",
        &reply_err("_R_.z"),
    )
    .await;
    // Look-alikes are fine.
    for ok in [
        "_R_",
        "_R_x.y",
        "_r_.x",
        "$JS.ACK",
        "$JS.ACK.",
        "$JS.ACKX.y",
        "_INBOX.x",
    ] {
        step(&mut c, &format!("PUB foo {ok} 0\r\n\r\n"), b"+OK\r\n").await;
    }
    let got = {
        watcher.send("PING\r\n").await;
        watcher.read_until(b"PONG\r\n").await
    };
    let text = String::from_utf8_lossy(&got);
    assert_eq!(text.matches("MSG foo 1 ").count(), 7, "{text}");
    assert!(
        !text.contains("_R_.") && !text.contains("$JS.ACK.x"),
        "{text}"
    );
    // The publish permission is checked first, the reply after.
    let mut p1 = verbose(s, "p1").await;
    step(&mut p1, "PUB baz _R_.x 0\r\n\r\n", &pub_err("baz")).await;
    step(&mut p1, "PUB foo.a _R_.x 0\r\n\r\n", &reply_err("_R_.x")).await;
}
conf_conformance!(
    check_reserved_reply_subjects,
    reserved_reply_subjects_tracebus,
    reserved_reply_subjects_nats_server,
    fx()
);
