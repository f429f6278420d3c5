//! Raw-socket conformance tests for the NATS client protocol.
//!
//! Every check runs twice: against tracebus in-process (`<name>_tracebus`) and against the
//! reference `nats-server` 2.9.x as a child process (`<name>_nats_server`, ignored by
//! default; run with `cargo test --test raw_protocol -- --include-ignored` where
//! nats-server is installed). The expected bytes are what nats-server 2.9.10 sends, so a
//! check that passes on nats-server and fails on tracebus is a tracebus bug.

mod common;
#[path = "common/raw.rs"]
mod raw;

use std::time::Duration;

use raw::{show, Kind, RawClient, Settings, Target};

/// `conformance!(check_fn, name_tracebus, name_nats_server, settings)` generates the two
/// tests that run `check_fn(&Target)` against a server started with `settings`.
macro_rules! conformance {
    ($check:ident, $tb:ident, $ns:ident) => {
        conformance!($check, $tb, $ns, Settings::default());
    };
    ($check:ident, $tb:ident, $ns:ident, $settings:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $tb() {
            let t = Target::start(Kind::Tracebus, $settings).await;
            $check(&t).await;
            t.stop().await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        #[ignore = "needs nats-server"]
        async fn $ns() {
            let t = Target::start(Kind::NatsServer, $settings).await;
            $check(&t).await;
            t.stop().await;
        }
    };
}

const QUIET: &[u8] = b"CONNECT {\"verbose\":false}\r\n";
const QUIET_HEADERS: &[u8] = b"CONNECT {\"verbose\":false,\"headers\":true}\r\n";

fn auth_user() -> Settings {
    Settings {
        user: Some("alice".into()),
        password: Some("s3cret".into()),
        auth_timeout: Some(Duration::from_millis(500)),
        ..Settings::default()
    }
}

fn auth_token() -> Settings {
    Settings {
        token: Some("tok3n".into()),
        auth_timeout: Some(Duration::from_millis(500)),
        ..Settings::default()
    }
}

fn limits() -> Settings {
    Settings {
        max_payload: Some(1024),
        max_control_line: Some(256),
        ..Settings::default()
    }
}

// ---------------------------------------------------------------------------------------
// INFO
// ---------------------------------------------------------------------------------------

fn check_info_fields(c: &RawClient, t: &Target) {
    let line = &c.info_line;
    // Exact framing: `INFO {json} \r\n` (one space before CRLF).
    assert!(line.starts_with(b"INFO {"), "INFO line: {}", show(line));
    assert!(
        line.ends_with(b"} \r\n"),
        "INFO line must end with `}} \\r\\n`: {}",
        show(line)
    );

    let id = c
        .info_field("server_id")
        .as_str()
        .expect("server_id is a string");
    assert_eq!(id.len(), 56, "server_id length: {id}");
    assert!(id.starts_with('N'), "server_id starts with N: {id}");
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b)),
        "server_id is base32: {id}"
    );
    let name = c
        .info_field("server_name")
        .as_str()
        .expect("server_name is a string");
    assert!(!name.is_empty());
    let version = c
        .info_field("version")
        .as_str()
        .expect("version is a string");
    let parts: Vec<&str> = version.split('.').collect();
    assert!(parts.len() >= 3, "version looks like x.y.z: {version}");
    assert!(
        parts[0].parse::<u32>().is_ok(),
        "version major is numeric: {version}"
    );
    assert!(c.info_field("go").is_string(), "go is a string");
    assert_eq!(c.info_field("proto").as_i64(), Some(1), "proto");
    assert_eq!(c.info_field("host").as_str(), Some("127.0.0.1"), "host");
    assert_eq!(
        c.info_field("port").as_u64(),
        Some(t.addr().port() as u64),
        "port"
    );
    assert_eq!(c.info_field("headers").as_bool(), Some(true), "headers");
    let max_payload = t.settings.max_payload.unwrap_or(1024 * 1024);
    assert_eq!(
        c.info_field("max_payload").as_u64(),
        Some(max_payload),
        "max_payload"
    );
    assert!(c.info_field("client_id").is_u64(), "client_id is a number");
    assert_eq!(
        c.info_field("client_ip").as_str(),
        Some("127.0.0.1"),
        "client_ip"
    );
    if t.settings.auth_required() {
        assert_eq!(
            c.info_field("auth_required").as_bool(),
            Some(true),
            "auth_required"
        );
    } else {
        assert!(
            c.info.get("auth_required").is_none(),
            "auth_required must be absent without auth: {}",
            show(line)
        );
    }
    assert_ne!(
        c.info.get("tls_required").and_then(|v| v.as_bool()),
        Some(true),
        "tls_required"
    );
}

async fn check_info(t: &Target) {
    let mut a = t.raw().await;
    // INFO is the very first thing the server sends, unprompted.
    a.read_info().await;
    check_info_fields(&a, t);
    let b = t.client().await;
    check_info_fields(&b, t);
    assert_eq!(
        a.info["server_id"], b.info["server_id"],
        "same server_id on every connection"
    );
    assert_ne!(
        a.info["client_id"], b.info["client_id"],
        "client_id differs per connection"
    );
    if !t.settings.auth_required() {
        a.send(QUIET).await;
        a.ping_pong().await;
    }
}
conformance!(check_info, info_tracebus, info_nats_server);
conformance!(
    check_info,
    info_with_limits_tracebus,
    info_with_limits_nats_server,
    limits()
);
conformance!(
    check_info,
    info_with_auth_tracebus,
    info_with_auth_nats_server,
    auth_user()
);
conformance!(
    check_info,
    info_with_token_tracebus,
    info_with_token_nats_server,
    auth_token()
);

// ---------------------------------------------------------------------------------------
// verbose, PING, op names, separators
// ---------------------------------------------------------------------------------------

async fn check_verbose_default_acks(t: &Target) {
    let mut c = t.client().await;
    c.send(b"CONNECT {}\r\nSUB foo 1\r\nPUB foo 2\r\nhi\r\nUNSUB 1\r\nPING\r\n")
        .await;
    c.expect(b"+OK\r\n+OK\r\n+OK\r\nMSG foo 1 2\r\nhi\r\n+OK\r\nPONG\r\n")
        .await;
    // Explicit verbose:true behaves the same; PONG is never acknowledged.
    c.send(b"CONNECT {\"verbose\":true}\r\nPONG\r\nPING\r\n")
        .await;
    c.expect(b"+OK\r\nPONG\r\n").await;
}
conformance!(
    check_verbose_default_acks,
    verbose_default_acks_tracebus,
    verbose_default_acks_nats_server
);

async fn check_verbose_false_silent(t: &Target) {
    let mut c = t.client().await;
    c.send(b"CONNECT {\"verbose\":false}\r\nSUB foo 1\r\nPUB foo 2\r\nhi\r\nUNSUB 1\r\nPING\r\n")
        .await;
    c.expect(b"MSG foo 1 2\r\nhi\r\nPONG\r\n").await;
}
conformance!(
    check_verbose_false_silent,
    verbose_false_silent_tracebus,
    verbose_false_silent_nats_server
);

async fn check_ops_before_connect(t: &Target) {
    // Without auth, ops before CONNECT work with the default (verbose) options.
    let mut c = t.client().await;
    c.send(b"PING\r\n").await;
    c.expect(b"PONG\r\n").await;
    c.send(b"SUB foo 1\r\nPUB foo 1\r\na\r\nPING\r\n").await;
    c.expect(b"+OK\r\n+OK\r\nMSG foo 1 1\r\na\r\nPONG\r\n")
        .await;
}
conformance!(
    check_ops_before_connect,
    ops_before_connect_tracebus,
    ops_before_connect_nats_server
);

async fn check_case_insensitive_ops(t: &Target) {
    let mut c = t.client().await;
    c.send(b"connect {\"verbose\":false,\"headers\":true}\r\nping\r\n")
        .await;
    c.expect(b"PONG\r\n").await;
    c.send(b"Sub foo 1\r\npUb foo 2\r\nhi\r\nhPuB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPiNg\r\n")
        .await;
    c.expect(b"MSG foo 1 2\r\nhi\r\nHMSG foo 1 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPONG\r\n")
        .await;
    c.send(b"uNsUb 1\r\nPUB foo 2\r\nhi\r\npong\r\nPING\r\n")
        .await;
    c.expect(b"PONG\r\n").await;
}
conformance!(
    check_case_insensitive_ops,
    case_insensitive_ops_tracebus,
    case_insensitive_ops_nats_server
);

async fn check_whitespace_separators(t: &Target) {
    let mut c = t.quiet_client().await;
    c.send(b"SUB\tfoo \t  1\r\nPUB  foo\t\tbar   2\r\nhi\r\nPING\r\n")
        .await;
    c.expect(b"MSG foo 1 bar 2\r\nhi\r\nPONG\r\n").await;
    c.send(b"SUB\tbar\t q\t 2\r\nPUB bar 1\r\na\r\nPING\r\n")
        .await;
    c.expect(b"MSG bar 2 1\r\na\r\nPONG\r\n").await;
    // CONNECT may be followed by tabs/spaces too.
    c.send(b"CONNECT\t {\"verbose\":false}\r\nPING\r\n").await;
    c.expect(b"PONG\r\n").await;
}
conformance!(
    check_whitespace_separators,
    whitespace_separators_tracebus,
    whitespace_separators_nats_server
);

async fn check_bare_lf_line_ending(t: &Target) {
    let mut c = t.quiet_client().await;
    c.send(b"PING\n").await;
    c.expect(b"PONG\r\n").await;
}
conformance!(
    check_bare_lf_line_ending,
    bare_lf_line_ending_tracebus,
    bare_lf_line_ending_nats_server
);

// ---------------------------------------------------------------------------------------
// PUB / MSG, HPUB / HMSG
// ---------------------------------------------------------------------------------------

async fn check_pub_msg_exact(t: &Target) {
    let mut c = t.quiet_client().await;
    c.send(b"SUB foo 1\r\nPUB foo 5\r\nhello\r\nPING\r\n").await;
    c.expect(b"MSG foo 1 5\r\nhello\r\nPONG\r\n").await;
    c.send(b"PUB foo reply.to 5\r\nhello\r\nPING\r\n").await;
    c.expect(b"MSG foo 1 reply.to 5\r\nhello\r\nPONG\r\n").await;
    // Empty payload.
    c.send(b"PUB foo 0\r\n\r\nPING\r\n").await;
    c.expect(b"MSG foo 1 0\r\n\r\nPONG\r\n").await;
    // Payload bytes are opaque: CRLF and binary inside are delivered as is.
    c.send(b"PUB foo 6\r\na\r\n\x00\xffb\r\nPING\r\n").await;
    c.expect(b"MSG foo 1 6\r\na\r\n\x00\xffb\r\nPONG\r\n").await;
    // A non-numeric sid is echoed verbatim.
    c.send(b"SUB bar abc\r\nPUB bar 1\r\nx\r\nPING\r\n").await;
    c.expect(b"MSG bar abc 1\r\nx\r\nPONG\r\n").await;

    // Across connections.
    let mut p = t.quiet_client().await;
    p.send(b"PUB foo r 3\r\nabc\r\nPING\r\n").await;
    p.expect(b"PONG\r\n").await;
    c.ping_pong_after(b"MSG foo 1 r 3\r\nabc\r\n").await;
}
conformance!(
    check_pub_msg_exact,
    pub_msg_exact_tracebus,
    pub_msg_exact_nats_server
);

async fn check_hpub_hmsg_exact(t: &Target) {
    let mut c = t.client().await;
    c.send(QUIET_HEADERS).await;
    c.send(b"SUB foo 1\r\nHPUB foo 18 20\r\nNATS/1.0\r\nA: B\r\n\r\nhi\r\nPING\r\n")
        .await;
    c.expect(b"HMSG foo 1 18 20\r\nNATS/1.0\r\nA: B\r\n\r\nhi\r\nPONG\r\n")
        .await;
    c.send(b"HPUB foo rep 18 20\r\nNATS/1.0\r\nA: B\r\n\r\nhi\r\nPING\r\n")
        .await;
    c.expect(b"HMSG foo 1 rep 18 20\r\nNATS/1.0\r\nA: B\r\n\r\nhi\r\nPONG\r\n")
        .await;
    // Headers only, no payload.
    c.send(b"HPUB foo 12 12\r\nNATS/1.0\r\n\r\n\r\nPING\r\n")
        .await;
    c.expect(b"HMSG foo 1 12 12\r\nNATS/1.0\r\n\r\n\r\nPONG\r\n")
        .await;
    // The header block is not validated: it is relayed as is.
    c.send(b"HPUB foo 6 8\r\nXX\r\n\r\nhi\r\nPING\r\n").await;
    c.expect(b"HMSG foo 1 6 8\r\nXX\r\n\r\nhi\r\nPONG\r\n")
        .await;
    // A zero-length header block is delivered as a plain MSG.
    c.send(b"HPUB foo 0 2\r\nhi\r\nPING\r\n").await;
    c.expect(b"MSG foo 1 2\r\nhi\r\nPONG\r\n").await;
    // A plain PUB to a headers-capable subscriber stays a MSG.
    c.send(b"PUB foo 2\r\nhi\r\nPING\r\n").await;
    c.expect(b"MSG foo 1 2\r\nhi\r\nPONG\r\n").await;
}
conformance!(
    check_hpub_hmsg_exact,
    hpub_hmsg_exact_tracebus,
    hpub_hmsg_exact_nats_server
);

async fn check_hpub_verbose(t: &Target) {
    let mut c = t.client().await;
    c.send(b"CONNECT {\"headers\":true}\r\nSUB foo 1\r\nHPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPING\r\n")
        .await;
    c.expect(b"+OK\r\n+OK\r\n+OK\r\nHMSG foo 1 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPONG\r\n")
        .await;
}
conformance!(
    check_hpub_verbose,
    hpub_verbose_tracebus,
    hpub_verbose_nats_server
);

async fn check_hpub_to_headers_false_subscriber(t: &Target) {
    // A subscriber that did not announce headers gets a MSG with the payload only.
    let mut s1 = t.client().await;
    s1.send(b"CONNECT {\"verbose\":false,\"headers\":false}\r\nSUB foo 1\r\nPING\r\n")
        .await;
    s1.expect(b"PONG\r\n").await;
    // ... and so does one whose CONNECT does not mention headers at all.
    let mut s2 = t.quiet_client().await;
    s2.send(b"SUB foo 7\r\nPING\r\n").await;
    s2.expect(b"PONG\r\n").await;

    let mut p = t.client().await;
    p.send(QUIET_HEADERS).await;
    p.send(b"HPUB foo 18 20\r\nNATS/1.0\r\nA: B\r\n\r\nhi\r\nHPUB foo r 12 12\r\nNATS/1.0\r\n\r\n\r\nPING\r\n")
        .await;
    p.expect(b"PONG\r\n").await;
    s1.ping_pong_after(b"MSG foo 1 2\r\nhi\r\nMSG foo 1 r 0\r\n\r\n")
        .await;
    s2.ping_pong_after(b"MSG foo 7 2\r\nhi\r\nMSG foo 7 r 0\r\n\r\n")
        .await;
}
conformance!(
    check_hpub_to_headers_false_subscriber,
    hpub_to_headers_false_subscriber_tracebus,
    hpub_to_headers_false_subscriber_nats_server
);

async fn check_hpub_without_headers_closes(t: &Target) {
    // HPUB from a connection that did not send headers:true: closed, with no -ERR.
    for connect in [
        &b"CONNECT {\"verbose\":false}\r\n"[..],
        b"CONNECT {\"verbose\":false,\"headers\":false}\r\n",
    ] {
        let mut c = t.client().await;
        c.send(connect).await;
        c.send(b"HPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPING\r\n")
            .await;
        c.expect_then_closed(b"").await;
    }
}
conformance!(
    check_hpub_without_headers_closes,
    hpub_without_headers_closes_tracebus,
    hpub_without_headers_closes_nats_server
);

// ---------------------------------------------------------------------------------------
// SUB / UNSUB / queues / echo
// ---------------------------------------------------------------------------------------

fn count(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).filter(|w| *w == needle).count()
}

async fn check_queue_groups(t: &Target) {
    let mut qa = t.quiet_client().await;
    qa.send(b"SUB work grp 1\r\nPING\r\n").await;
    qa.expect(b"PONG\r\n").await;
    let mut qb = t.quiet_client().await;
    qb.send(b"SUB work grp 2\r\nPING\r\n").await;
    qb.expect(b"PONG\r\n").await;
    let mut plain = t.quiet_client().await;
    plain.send(b"SUB work 3\r\nPING\r\n").await;
    plain.expect(b"PONG\r\n").await;

    let mut p = t.quiet_client().await;
    let mut batch = Vec::new();
    for _ in 0..20 {
        batch.extend_from_slice(b"PUB work 1\r\nx\r\n");
    }
    batch.extend_from_slice(b"PING\r\n");
    p.send(&batch).await;
    p.expect(b"PONG\r\n").await;

    qa.send(b"PING\r\n").await;
    let a = qa.read_until(b"PONG\r\n").await;
    qb.send(b"PING\r\n").await;
    let b = qb.read_until(b"PONG\r\n").await;
    plain.send(b"PING\r\n").await;
    let c = plain.read_until(b"PONG\r\n").await;
    let na = count(&a, b"MSG work 1 1\r\nx\r\n");
    let nb = count(&b, b"MSG work 2 1\r\nx\r\n");
    let nc = count(&c, b"MSG work 3 1\r\nx\r\n");
    assert_eq!(
        na + nb,
        20,
        "each message goes to exactly one queue member: {na} + {nb}"
    );
    assert_eq!(
        a.len(),
        na * 17 + 6,
        "only MSGs then PONG on qa: {}",
        show(&a)
    );
    assert_eq!(
        b.len(),
        nb * 17 + 6,
        "only MSGs then PONG on qb: {}",
        show(&b)
    );
    assert_eq!(nc, 20, "a plain subscriber gets every message");

    // A queue subscription and a plain one on the same connection both match.
    let mut c = t.quiet_client().await;
    c.send(b"SUB job q 1\r\nSUB job 2\r\nPUB job 1\r\na\r\nPING\r\n")
        .await;
    let got = c.read_until(b"PONG\r\n").await;
    let mut lines: Vec<&[u8]> = got.split_inclusive(|&b| b == b'\n').collect();
    lines.sort();
    assert_eq!(
        lines,
        vec![
            &b"MSG job 1 1\r\n"[..],
            b"MSG job 2 1\r\n",
            b"PONG\r\n",
            b"a\r\n",
            b"a\r\n"
        ],
        "got {}",
        show(&got)
    );
}
conformance!(
    check_queue_groups,
    queue_groups_tracebus,
    queue_groups_nats_server
);

async fn check_overlapping_subs(t: &Target) {
    // Each matching subscription of one connection gets its own copy.
    let mut c = t.quiet_client().await;
    c.send(b"SUB foo 1\r\nSUB foo 2\r\nSUB * 3\r\nSUB > 4\r\nPUB foo 1\r\na\r\nPING\r\n")
        .await;
    let got = c.read_until(b"PONG\r\n").await;
    let mut msgs: Vec<&[u8]> = got
        .split_inclusive(|&b| b == b'\n')
        .filter(|l| l.starts_with(b"MSG"))
        .collect();
    msgs.sort();
    assert_eq!(
        msgs,
        vec![
            &b"MSG foo 1 1\r\n"[..],
            b"MSG foo 2 1\r\n",
            b"MSG foo 3 1\r\n",
            b"MSG foo 4 1\r\n"
        ],
        "got {}",
        show(&got)
    );
    assert_eq!(got.len(), 4 * 16 + 6, "got {}", show(&got));
}
conformance!(
    check_overlapping_subs,
    overlapping_subs_tracebus,
    overlapping_subs_nats_server
);

async fn check_duplicate_sid_keeps_first(t: &Target) {
    let mut c = t.quiet_client().await;
    c.send(b"SUB foo 1\r\nSUB bar 1\r\nPUB foo 1\r\na\r\nPUB bar 1\r\nb\r\nPING\r\n")
        .await;
    c.expect(b"MSG foo 1 1\r\na\r\nPONG\r\n").await;
}
conformance!(
    check_duplicate_sid_keeps_first,
    duplicate_sid_keeps_first_tracebus,
    duplicate_sid_keeps_first_nats_server
);

async fn check_unsub(t: &Target) {
    let mut c = t.quiet_client().await;
    c.send(b"SUB foo 1\r\nPUB foo 1\r\na\r\nUNSUB 1\r\nPUB foo 1\r\nb\r\nPING\r\n")
        .await;
    c.expect(b"MSG foo 1 1\r\na\r\nPONG\r\n").await;
    // Unknown sid: silently ignored.
    c.send(b"UNSUB 99\r\nPING\r\n").await;
    c.expect(b"PONG\r\n").await;
    // Auto-unsubscribe after 2 messages.
    c.send(
        b"SUB bar 2\r\nUNSUB 2 2\r\nPUB bar 1\r\na\r\nPUB bar 1\r\nb\r\nPUB bar 1\r\nc\r\nPING\r\n",
    )
    .await;
    c.expect(b"MSG bar 2 1\r\na\r\nMSG bar 2 1\r\nb\r\nPONG\r\n")
        .await;
    // Same sid can be reused after the auto-unsubscribe.
    c.send(b"SUB bar 2\r\nPUB bar 1\r\nd\r\nPING\r\n").await;
    c.expect(b"MSG bar 2 1\r\nd\r\nPONG\r\n").await;
    // A max already reached removes the subscription at once.
    c.send(b"SUB baz 3\r\nPUB baz 1\r\na\r\nPUB baz 1\r\nb\r\nPING\r\n")
        .await;
    c.expect(b"MSG baz 3 1\r\na\r\nMSG baz 3 1\r\nb\r\nPONG\r\n")
        .await;
    c.send(b"UNSUB 3 1\r\nPUB baz 1\r\nc\r\nPING\r\n").await;
    c.expect(b"PONG\r\n").await;
    // max 0 means unsubscribe now.
    c.send(b"SUB qux 4\r\nUNSUB 4 0\r\nPUB qux 1\r\na\r\nPING\r\n")
        .await;
    c.expect(b"PONG\r\n").await;
}
conformance!(check_unsub, unsub_tracebus, unsub_nats_server);

async fn check_echo(t: &Target) {
    // echo defaults to true: a connection gets its own messages.
    let mut e = t.quiet_client().await;
    e.send(b"SUB foo 1\r\nPUB foo 1\r\na\r\nPING\r\n").await;
    e.expect(b"MSG foo 1 1\r\na\r\nPONG\r\n").await;

    let mut ne = t.client().await;
    ne.send(
        b"CONNECT {\"verbose\":false,\"echo\":false}\r\nSUB foo 1\r\nPUB foo 1\r\nb\r\nPING\r\n",
    )
    .await;
    ne.expect(b"PONG\r\n").await;
    // ... but other connections still get what it publishes, and it gets theirs.
    e.ping_pong_after(b"MSG foo 1 1\r\nb\r\n").await;
    e.send(b"PUB foo 1\r\nc\r\nPING\r\n").await;
    e.expect(b"MSG foo 1 1\r\nc\r\nPONG\r\n").await;
    ne.ping_pong_after(b"MSG foo 1 1\r\nc\r\n").await;
}
conformance!(check_echo, echo_tracebus, echo_nats_server);

// ---------------------------------------------------------------------------------------
// no responders
// ---------------------------------------------------------------------------------------

async fn check_no_responders(t: &Target) {
    let mut c = t.client().await;
    c.send(b"CONNECT {\"headers\":true,\"no_responders\":true,\"verbose\":false}\r\n")
        .await;
    c.send(b"SUB _INBOX.x.* 1\r\nPUB nobody _INBOX.x.1 0\r\n\r\nPING\r\n")
        .await;
    c.expect(b"HMSG _INBOX.x.1 1 16 16\r\nNATS/1.0 503\r\n\r\n\r\nPONG\r\n")
        .await;
    // With a responder present there is no 503.
    c.send(b"SUB somebody 2\r\nPUB somebody _INBOX.x.2 0\r\n\r\nPING\r\n")
        .await;
    c.expect(b"MSG somebody 2 _INBOX.x.2 0\r\n\r\nPONG\r\n")
        .await;

    // Without no_responders nothing comes back.
    let mut q = t.client().await;
    q.send(b"CONNECT {\"headers\":true,\"verbose\":false}\r\n")
        .await;
    q.send(b"SUB _INBOX.y.* 1\r\nPUB nobody _INBOX.y.1 0\r\n\r\nPING\r\n")
        .await;
    q.expect(b"PONG\r\n").await;
}
conformance!(
    check_no_responders,
    no_responders_tracebus,
    no_responders_nats_server
);

async fn check_no_responders_requires_headers(t: &Target) {
    let mut c = t.client().await;
    c.send(b"CONNECT {\"no_responders\":true,\"verbose\":false}\r\nPING\r\n")
        .await;
    c.expect_then_closed(b"-ERR 'no responders requires headers support'\r\n")
        .await;
}
conformance!(
    check_no_responders_requires_headers,
    no_responders_requires_headers_tracebus,
    no_responders_requires_headers_nats_server
);

// ---------------------------------------------------------------------------------------
// split reads
// ---------------------------------------------------------------------------------------

async fn check_split_reads(t: &Target) {
    let stream: &[u8] = b"CONNECT {\"verbose\":false,\"headers\":true}\r\n\
SUB split.a 1\r\n\
PUB split.a reply 12\r\nhello\r\nworld\r\n\
HPUB split.a 18 23\r\nNATS/1.0\r\nK: V\r\n\r\nhello\r\n\
PUB split.a 0\r\n\r\n\
PING\r\n";
    let expected: &[u8] = b"MSG split.a 1 reply 12\r\nhello\r\nworld\r\n\
HMSG split.a 1 18 23\r\nNATS/1.0\r\nK: V\r\n\r\nhello\r\n\
MSG split.a 1 0\r\n\r\n\
PONG\r\n";
    let mut whole = t.client().await;
    whole.send(stream).await;
    whole.expect(expected).await;
    drop(whole);

    let mut bytewise = t.client().await;
    bytewise.send_bytewise(stream).await;
    bytewise.expect(expected).await;
    bytewise.ping_pong().await;
}
conformance!(
    check_split_reads,
    split_reads_tracebus,
    split_reads_nats_server
);

// ---------------------------------------------------------------------------------------
// errors: closing
// ---------------------------------------------------------------------------------------

async fn check_unknown_op(t: &Target) {
    for bad in [&b"FOO bar\r\n"[..], b"\r\n", b"MSG foo 1 1\r\na\r\n"] {
        let mut c = t.quiet_client().await;
        c.send(bad).await;
        c.expect_then_closed(b"-ERR 'Unknown Protocol Operation'\r\n")
            .await;
    }
}
conformance!(
    check_unknown_op,
    unknown_op_tracebus,
    unknown_op_nats_server
);

async fn check_client_sends_server_ops(t: &Target) {
    // +OK and an unsolicited PONG from a client are ignored.
    let mut c = t.quiet_client().await;
    c.send(b"+OK\r\nPONG\r\nPING\r\n").await;
    c.expect(b"PONG\r\n").await;
    // -ERR from a client closes the connection without a reply.
    let mut c = t.quiet_client().await;
    c.send(b"-ERR 'x'\r\nPING\r\n").await;
    c.expect_then_closed(b"").await;
}
conformance!(
    check_client_sends_server_ops,
    client_sends_server_ops_tracebus,
    client_sends_server_ops_nats_server
);

async fn check_max_payload(t: &Target) {
    let c = t.client().await;
    assert_eq!(c.info_field("max_payload").as_u64(), Some(1024));

    // Exactly max_payload is fine.
    let mut c = t.quiet_client().await;
    let mut m = b"SUB foo 1\r\nPUB foo 1024\r\n".to_vec();
    m.extend_from_slice(&[b'x'; 1024]);
    m.extend_from_slice(b"\r\nPING\r\n");
    c.send(&m).await;
    let mut want = b"MSG foo 1 1024\r\n".to_vec();
    want.extend_from_slice(&[b'x'; 1024]);
    want.extend_from_slice(b"\r\nPONG\r\n");
    c.expect(&want).await;

    // One more is refused on the PUB line, before any payload is sent.
    let mut c = t.quiet_client().await;
    c.send(b"PUB foo 1025\r\n").await;
    c.expect_then_closed(b"-ERR 'Maximum Payload Violation'\r\n")
        .await;

    // HPUB: the total size counts.
    let mut c = t.client().await;
    c.send(QUIET_HEADERS).await;
    c.send(b"HPUB foo 12 1025\r\n").await;
    c.expect_then_closed(b"-ERR 'Maximum Payload Violation'\r\n")
        .await;
}
conformance!(
    check_max_payload,
    max_payload_tracebus,
    max_payload_nats_server,
    limits()
);

async fn check_max_control_line(t: &Target) {
    // The limit applies to the arguments after the op name: 256 is fine, 257 is not.
    let arg = |n: usize| {
        let mut a = vec![b'a'; n - 2];
        a.extend_from_slice(b" 1");
        a
    };
    let mut c = t.quiet_client().await;
    let mut m = b"PUB ".to_vec();
    m.extend(arg(256));
    m.extend_from_slice(b"\r\nx\r\nPING\r\n");
    c.send(&m).await;
    c.expect(b"PONG\r\n").await;
    let mut m = b"SUB ".to_vec();
    m.extend(arg(256));
    m.extend_from_slice(b"\r\nPING\r\n");
    c.send(&m).await;
    c.expect(b"PONG\r\n").await;

    let mut c = t.quiet_client().await;
    let mut m = b"PUB ".to_vec();
    m.extend(arg(257));
    m.extend_from_slice(b"\r\nx\r\nPING\r\n");
    c.send(&m).await;
    c.expect_then_closed(b"-ERR 'maximum control line exceeded'\r\n")
        .await;

    // Also without CRLF: a partial line longer than the limit.
    let mut c = t.quiet_client().await;
    let mut m = b"PUB ".to_vec();
    m.extend(vec![b'a'; 300]);
    c.send(&m).await;
    c.expect_then_closed(b"-ERR 'maximum control line exceeded'\r\n")
        .await;

    // CONNECT is a control line too.
    let mut c = t.client().await;
    let mut m = b"CONNECT {\"verbose\":false,\"name\":\"".to_vec();
    m.extend(vec![b'n'; 400]);
    m.extend_from_slice(b"\"}\r\nPING\r\n");
    c.send(&m).await;
    c.expect_then_closed(b"-ERR 'maximum control line exceeded'\r\n")
        .await;
}
conformance!(
    check_max_control_line,
    max_control_line_tracebus,
    max_control_line_nats_server,
    limits()
);

async fn check_bad_connect(t: &Target) {
    // Malformed JSON and wrongly typed fields: closed without a reply.
    for bad in [
        &b"CONNECT {bad\r\nPING\r\n"[..],
        b"CONNECT\r\nPING\r\n",
        b"CONNECT {\"verbose\":\"yes\"}\r\nPING\r\n",
    ] {
        let mut c = t.client().await;
        c.send(bad).await;
        let got = c.expect_closed().await;
        assert_eq!(show(&got), "", "reply to {}", show(bad));
    }
    // Unknown fields are ignored.
    let mut c = t.client().await;
    c.send(b"CONNECT {\"verbose\":false,\"unknown_field\":5}\r\nPING\r\n")
        .await;
    c.expect(b"PONG\r\n").await;
    // protocol must be 0 or 1.
    let mut c = t.client().await;
    c.send(b"CONNECT {\"protocol\":2}\r\nPING\r\n").await;
    c.expect_then_closed(b"-ERR 'invalid client protocol'\r\n")
        .await;
}
conformance!(
    check_bad_connect,
    bad_connect_tracebus,
    bad_connect_nats_server
);

async fn check_malformed_args(t: &Target) {
    // Argument errors found after the line is complete: closed without a reply.
    for bad in [
        &b"PUB foo\r\nPING\r\n"[..],
        b"PUB foo bar\r\nPING\r\n",
        b"PUB foo -1\r\nPING\r\n",
        b"PUB foo a b 1\r\nPING\r\n",
        b"PUB  1\r\nx\r\nPING\r\n",
        b"SUB foo\r\nPING\r\n",
        // A stray CR and a bare LF: the byte before the LF (the sid) is dropped.
        b"SUB foo\r1\nPING\r\n",
    ] {
        let mut c = t.quiet_client().await;
        c.send(bad).await;
        let got = c.expect_closed().await;
        assert_eq!(show(&got), "", "reply to {}", show(bad));
    }
    // Errors found by the op scanner: Unknown Protocol Operation, then closed.
    for bad in [&b"PUB foo 2\r\nabc\r\nPING\r\n"[..], b"UNSUB\r\nPING\r\n"] {
        let mut c = t.quiet_client().await;
        c.send(bad).await;
        c.expect_then_closed(b"-ERR 'Unknown Protocol Operation'\r\n")
            .await;
    }
}
conformance!(
    check_malformed_args,
    malformed_args_tracebus,
    malformed_args_nats_server
);

async fn check_max_connections(t: &Target) {
    let mut a = t.quiet_client().await;
    a.ping_pong().await;
    // The refused connection still gets a full INFO first.
    let mut b = t.client().await;
    assert!(b.info.get("server_id").is_some());
    b.expect_then_closed(b"-ERR 'maximum connections exceeded'\r\n")
        .await;
    a.ping_pong().await;
}
conformance!(
    check_max_connections,
    max_connections_tracebus,
    max_connections_nats_server,
    Settings {
        max_connections: Some(1),
        ..Settings::default()
    }
);

// ---------------------------------------------------------------------------------------
// errors: connection stays open
// ---------------------------------------------------------------------------------------

async fn check_pedantic_publish_subject(t: &Target) {
    // pedantic defaults to true: a wildcard publish subject gets -ERR, yet the message is
    // still delivered and the connection stays open.
    let mut c = t.quiet_client().await;
    c.send(b"SUB foo.* 1\r\nPUB foo.* 1\r\na\r\nPING\r\n").await;
    c.expect(b"-ERR 'Invalid Publish Subject'\r\nMSG foo.* 1 1\r\na\r\nPONG\r\n")
        .await;

    let mut c = t.client().await;
    c.send(b"CONNECT {\"verbose\":false,\"pedantic\":true}\r\nPUB foo.> 1\r\na\r\nPING\r\n")
        .await;
    c.expect(b"-ERR 'Invalid Publish Subject'\r\nPONG\r\n")
        .await;

    // verbose: the -ERR comes first, then the PUB is still acknowledged.
    let mut c = t.client().await;
    c.send(b"CONNECT {}\r\nPUB foo.* 1\r\na\r\nPING\r\n").await;
    c.expect(b"+OK\r\n-ERR 'Invalid Publish Subject'\r\n+OK\r\nPONG\r\n")
        .await;

    // pedantic:false: no error.
    let mut c = t.client().await;
    c.send(b"CONNECT {\"verbose\":false,\"pedantic\":false}\r\nSUB foo.* 1\r\nPUB foo.* 1\r\na\r\nPING\r\n").await;
    c.expect(b"MSG foo.* 1 1\r\na\r\nPONG\r\n").await;
}
conformance!(
    check_pedantic_publish_subject,
    pedantic_publish_subject_tracebus,
    pedantic_publish_subject_nats_server
);

async fn check_sub_invalid_subject(t: &Target) {
    let mut c = t.quiet_client().await;
    for bad in [&b"foo..bar"[..], b"foo.", b"foo.>.bar", b".foo"] {
        let mut m = b"SUB ".to_vec();
        m.extend_from_slice(bad);
        m.extend_from_slice(b" 1\r\nPING\r\n");
        c.send(&m).await;
        c.expect(b"-ERR 'Invalid Subject'\r\nPONG\r\n").await;
    }
    // Also with pedantic off, and with verbose on (the -ERR replaces the +OK).
    let mut c = t.client().await;
    c.send(b"CONNECT {\"pedantic\":false}\r\nSUB foo..bar 1\r\nPING\r\n")
        .await;
    c.expect(b"+OK\r\n-ERR 'Invalid Subject'\r\nPONG\r\n").await;
    // The sid was not taken.
    c.send(b"SUB foo 1\r\nPUB foo 1\r\na\r\nPING\r\n").await;
    c.expect(b"+OK\r\n+OK\r\nMSG foo 1 1\r\na\r\nPONG\r\n")
        .await;
}
conformance!(
    check_sub_invalid_subject,
    sub_invalid_subject_tracebus,
    sub_invalid_subject_nats_server
);

async fn check_max_subscriptions(t: &Target) {
    let mut c = t.quiet_client().await;
    c.send(b"SUB foo 1\r\nSUB bar 2\r\nPING\r\n").await;
    c.expect(b"-ERR 'maximum subscriptions exceeded'\r\nPONG\r\n")
        .await;
    c.send(b"PUB foo 1\r\na\r\nPUB bar 1\r\nb\r\nPING\r\n")
        .await;
    c.expect(b"MSG foo 1 1\r\na\r\nPONG\r\n").await;
    // After an UNSUB there is room again.
    c.send(b"UNSUB 1\r\nSUB bar 3\r\nPUB bar 1\r\nb\r\nPING\r\n")
        .await;
    c.expect(b"MSG bar 3 1\r\nb\r\nPONG\r\n").await;
}
conformance!(
    check_max_subscriptions,
    max_subscriptions_tracebus,
    max_subscriptions_nats_server,
    Settings {
        max_subscriptions: Some(1),
        ..Settings::default()
    }
);

// ---------------------------------------------------------------------------------------
// authentication
// ---------------------------------------------------------------------------------------

async fn check_auth_user_password(t: &Target) {
    let violation = b"-ERR 'Authorization Violation'\r\n";
    for bad in [
        &b"CONNECT {\"user\":\"alice\",\"pass\":\"wrong\",\"verbose\":false}\r\nPING\r\n"[..],
        b"CONNECT {\"user\":\"bob\",\"pass\":\"s3cret\",\"verbose\":false}\r\nPING\r\n",
        b"CONNECT {\"verbose\":false}\r\nPING\r\n",
        // Any op before CONNECT.
        b"PING\r\n",
        b"SUB foo 1\r\n",
        b"PUB foo 1\r\na\r\n",
        b"FOO\r\n",
    ] {
        let mut c = t.client().await;
        c.send(bad).await;
        let got = c.expect_closed().await;
        assert_eq!(show(&got), show(violation), "reply to {}", show(bad));
    }
    let mut c = t.client().await;
    c.send(b"CONNECT {\"user\":\"alice\",\"pass\":\"s3cret\",\"verbose\":false}\r\nPING\r\n")
        .await;
    c.expect(b"PONG\r\n").await;
    let mut v = t.client().await;
    v.send(b"CONNECT {\"user\":\"alice\",\"pass\":\"s3cret\"}\r\nPING\r\n")
        .await;
    v.expect(b"+OK\r\nPONG\r\n").await;
    // An authenticated connection outlives the auth timeout.
    tokio::time::sleep(Duration::from_millis(900)).await;
    c.send(b"PING\r\n").await;
    c.await_pong_answering_pings(raw::IO_TIMEOUT).await;
}
conformance!(
    check_auth_user_password,
    auth_user_password_tracebus,
    auth_user_password_nats_server,
    auth_user()
);

async fn check_auth_token(t: &Target) {
    for bad in [
        &b"CONNECT {\"auth_token\":\"nope\",\"verbose\":false}\r\nPING\r\n"[..],
        b"CONNECT {\"verbose\":false}\r\nPING\r\n",
        b"PING\r\n",
    ] {
        let mut c = t.client().await;
        c.send(bad).await;
        let got = c.expect_closed().await;
        assert_eq!(
            show(&got),
            show(b"-ERR 'Authorization Violation'\r\n"),
            "reply to {}",
            show(bad)
        );
    }
    let mut c = t.client().await;
    c.send(b"CONNECT {\"auth_token\":\"tok3n\",\"verbose\":false}\r\nPING\r\n")
        .await;
    c.expect(b"PONG\r\n").await;
}
conformance!(
    check_auth_token,
    auth_token_tracebus,
    auth_token_nats_server,
    auth_token()
);

async fn check_auth_timeout(t: &Target) {
    // Nothing sent at all.
    let mut c = t.client().await;
    c.expect_then_closed(b"-ERR 'Authentication Timeout'\r\n")
        .await;
    // A CONNECT that never completes.
    let mut c = t.client().await;
    c.send(b"CONNECT {").await;
    c.expect_then_closed(b"-ERR 'Authentication Timeout'\r\n")
        .await;
}
conformance!(
    check_auth_timeout,
    auth_timeout_tracebus,
    auth_timeout_nats_server,
    auth_user()
);

// ---------------------------------------------------------------------------------------
// pings: stale connections, keepalive, the early first PING
// ---------------------------------------------------------------------------------------

fn fast_pings(max: u32) -> Settings {
    Settings {
        ping_interval: Some(Duration::from_millis(200)),
        ping_max: Some(max),
        ..Settings::default()
    }
}

async fn check_stale_connection(t: &Target) {
    let mut c = t.quiet_client().await;
    c.expect_then_closed(b"PING\r\n-ERR 'Stale Connection'\r\n")
        .await;
    // The ping timer runs before CONNECT too.
    let mut c = t.client().await;
    c.expect_then_closed(b"PING\r\n-ERR 'Stale Connection'\r\n")
        .await;
}
conformance!(
    check_stale_connection,
    stale_connection_tracebus,
    stale_connection_nats_server,
    fast_pings(1)
);

async fn check_stale_connection_ping_max_2(t: &Target) {
    let mut c = t.quiet_client().await;
    c.expect_then_closed(b"PING\r\nPING\r\n-ERR 'Stale Connection'\r\n")
        .await;
}
conformance!(
    check_stale_connection_ping_max_2,
    stale_connection_ping_max_2_tracebus,
    stale_connection_ping_max_2_nats_server,
    fast_pings(2)
);

async fn check_ping_keepalive(t: &Target) {
    let mut c = t.quiet_client().await;
    for _ in 0..4 {
        let line = c.read_line().await;
        assert_eq!(show(&line), "PING\\r\\n");
        c.send(b"PONG\r\n").await;
    }
    c.send(b"PING\r\n").await;
    c.await_pong_answering_pings(raw::IO_TIMEOUT).await;
}
conformance!(
    check_ping_keepalive,
    ping_keepalive_tracebus,
    ping_keepalive_nats_server,
    fast_pings(1)
);

async fn check_first_ping_soon_after_connect(t: &Target) {
    // With the default 2-minute interval, nats-server still sends its first PING about
    // 2 s after the client connects (to measure RTT early).
    let mut c = t.quiet_client().await;
    let line = c.read_line_within(Duration::from_secs(5)).await;
    assert_eq!(show(&line), "PING\\r\\n");
    c.send(b"PONG\r\n").await;
    c.ping_pong().await;
}
conformance!(
    check_first_ping_soon_after_connect,
    first_ping_soon_after_connect_tracebus,
    first_ping_soon_after_connect_nats_server
);

// ---------------------------------------------------------------------------------------
// slow consumer
// ---------------------------------------------------------------------------------------

async fn check_slow_consumer(t: &Target) {
    let mut sub = RawClient::connect_with_recv_buffer(t.addr(), 4096).await;
    sub.send(b"CONNECT {\"verbose\":false}\r\nSUB slow 1\r\nPING\r\n")
        .await;
    sub.expect(b"PONG\r\n").await;

    let mut p = t.quiet_client().await;
    p.ping_pong().await;

    let mut msg = b"PUB slow 8192\r\n".to_vec();
    msg.extend_from_slice(&[b'x'; 8192]);
    msg.extend_from_slice(b"\r\n");
    let chunk: Vec<u8> = msg.repeat(8);
    let limit = 20 * 1024 * 1024;
    let started = tokio::time::Instant::now();
    let mut sent = 0usize;
    while sent < limit && started.elapsed() < Duration::from_secs(20) {
        if let Err(e) = p.try_send(&chunk, Duration::from_secs(15)).await {
            panic!("publisher blocked or dropped after {sent} bytes: {e}");
        }
        sent += chunk.len();
    }
    // The publisher is unaffected (a server PING may arrive meanwhile; it is answered).
    p.send(b"PING\r\n").await;
    p.await_pong_answering_pings(Duration::from_secs(15)).await;

    // The subscriber was closed, without an -ERR, well before everything was delivered.
    let d = sub
        .drain_until_closed(Duration::from_secs(10), b"-ERR")
        .await;
    assert!(
        d.closed,
        "slow consumer still open after reading {} of {sent} bytes",
        d.bytes
    );
    assert!(
        d.bytes < sent,
        "slow consumer received everything ({} bytes)",
        d.bytes
    );
    assert!(!d.found_needle, "slow consumer must not get an -ERR");
    p.send(b"PING\r\n").await;
    p.await_pong_answering_pings(raw::IO_TIMEOUT).await;
}
conformance!(
    check_slow_consumer,
    slow_consumer_tracebus,
    slow_consumer_nats_server,
    Settings {
        max_pending: Some(64 * 1024),
        max_payload: Some(8192),
        ..Settings::default()
    }
);
