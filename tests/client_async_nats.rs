//! End-to-end behaviour with the official Rust client, `async-nats`, against an
//! in-process tracebus on 127.0.0.1 over real TCP.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use async_nats::{ConnectOptions, HeaderMap};
use bytes::Bytes;
use futures::StreamExt;

/// Upper bound for waiting on a message that must arrive. Generous: it only
/// bounds a failing test, it never decides a passing one.
const WAIT: Duration = Duration::from_secs(10);

async fn next(sub: &mut async_nats::Subscriber) -> async_nats::Message {
    tokio::time::timeout(WAIT, sub.next())
        .await
        .expect("message arrives in time")
        .expect("subscription still open")
}

/// A round trip through the server on `c`: when it returns, the server has
/// processed everything `c` sent before (async-nats' `flush` only waits for the
/// socket write). A request nobody serves comes back as no-responders.
async fn sync(c: &async_nats::Client) {
    let r = tokio::time::timeout(WAIT, c.request("tracebus.test.sync", Bytes::new()))
        .await
        .expect("sync round trip in time");
    match r {
        Err(e) if e.kind() == async_nats::RequestErrorKind::NoResponders => {}
        other => panic!("sync round trip: {other:?}"),
    }
}

/// Asserts nothing more is queued on `sub` after a full round trip through the
/// server on `client` (it orders after every earlier delivery to that connection).
async fn assert_no_more(client: &async_nats::Client, sub: &mut async_nats::Subscriber) {
    sync(client).await;
    // Only meaningful when `client` is the subscribing connection: the round trip
    // then orders after every delivery to it.
    let got = tokio::time::timeout(Duration::from_millis(200), sub.next()).await;
    assert!(got.is_err(), "unexpected extra message: {got:?}");
}

#[tokio::test]
async fn pub_sub_literal_and_wildcards() {
    let server = common::start_default().await;
    let sub_client = async_nats::connect(server.client_url()).await.unwrap();
    let mut lit = sub_client.subscribe("trace.checkout.log").await.unwrap();
    let mut star = sub_client.subscribe("trace.*.log").await.unwrap();
    let mut full = sub_client.subscribe("trace.>").await.unwrap();
    sync(&sub_client).await;

    let publisher = async_nats::connect(server.client_url()).await.unwrap();
    publisher
        .publish("trace.checkout.log", "a".into())
        .await
        .unwrap();
    publisher
        .publish("trace.checkout.host1.funclog", "b".into())
        .await
        .unwrap();
    publisher
        .publish("other.subject", "c".into())
        .await
        .unwrap();
    sync(&publisher).await;

    assert_eq!(next(&mut lit).await.payload, Bytes::from("a"));
    assert_eq!(next(&mut star).await.payload, Bytes::from("a"));
    let m1 = next(&mut full).await;
    let m2 = next(&mut full).await;
    assert_eq!(m1.subject.as_str(), "trace.checkout.log");
    assert_eq!(m2.subject.as_str(), "trace.checkout.host1.funclog");
    assert_eq!(m2.payload, Bytes::from("b"));
    assert_no_more(&sub_client, &mut lit).await;
    assert_no_more(&sub_client, &mut star).await;
    assert_no_more(&sub_client, &mut full).await;
    server.shutdown().await;
}

#[tokio::test]
async fn queue_group_delivers_each_message_once_and_spreads_load() {
    let server = common::start_default().await;
    let members = 4;
    let total = 2000usize;
    let mut clients = Vec::new();
    let mut subs = Vec::new();
    for _ in 0..members {
        let c = async_nats::connect(server.client_url()).await.unwrap();
        subs.push(
            c.queue_subscribe("work.items", "workers".into())
                .await
                .unwrap(),
        );
        sync(&c).await;
        clients.push(c);
    }
    // A plain subscriber on the same subject gets everything besides the group.
    let watcher = async_nats::connect(server.client_url()).await.unwrap();
    let mut all = watcher.subscribe("work.items").await.unwrap();
    sync(&watcher).await;

    let publisher = async_nats::connect(server.client_url()).await.unwrap();
    for i in 0..total {
        publisher
            .publish("work.items", i.to_string().into())
            .await
            .unwrap();
    }
    sync(&publisher).await;

    for _ in 0..total {
        next(&mut all).await;
    }
    // Collect from members until every message is accounted for.
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut per_member = vec![0usize; members];
    let mut streams = futures::stream::select_all(
        subs.into_iter()
            .enumerate()
            .map(|(i, s)| s.map(move |m| (i, m))),
    );
    while seen.len() < total {
        let (i, m) = tokio::time::timeout(WAIT, streams.next())
            .await
            .expect("queue message in time")
            .expect("stream open");
        *seen
            .entry(String::from_utf8(m.payload.to_vec()).unwrap())
            .or_default() += 1;
        per_member[i] += 1;
    }
    for c in &clients {
        sync(c).await;
    }
    // No duplicates: nothing further arrives after all were seen once.
    let extra = tokio::time::timeout(Duration::from_millis(300), streams.next()).await;
    assert!(extra.is_err(), "a queue message was delivered twice");
    assert!(seen.values().all(|&n| n == 1));
    // Random choice spreads the load: every member gets a fair share (expected
    // 500 each; 250 is many standard deviations away).
    for (i, n) in per_member.iter().enumerate() {
        assert!(
            *n > total / members / 2,
            "member {i} got only {n} of {total}"
        );
    }
    server.shutdown().await;
}

#[tokio::test]
async fn unsubscribe_and_auto_unsubscribe_after_n() {
    let server = common::start_default().await;
    let client = async_nats::connect(server.client_url()).await.unwrap();
    let mut gone = client.subscribe("a").await.unwrap();
    let mut limited = client.subscribe("a").await.unwrap();
    limited.unsubscribe_after(3).await.unwrap();
    gone.unsubscribe().await.unwrap();
    let mut control = client.subscribe("a").await.unwrap();
    sync(&client).await;

    for i in 0..5 {
        client.publish("a", format!("{i}").into()).await.unwrap();
    }
    sync(&client).await;
    for i in 0..5 {
        assert_eq!(
            next(&mut control).await.payload,
            Bytes::from(format!("{i}"))
        );
    }
    for i in 0..3 {
        assert_eq!(
            next(&mut limited).await.payload,
            Bytes::from(format!("{i}"))
        );
    }
    // The limited subscription ends after its third message.
    let end = tokio::time::timeout(WAIT, limited.next()).await.unwrap();
    assert!(
        end.is_none(),
        "auto-unsubscribed subscription yielded {end:?}"
    );
    assert!(tokio::time::timeout(WAIT, gone.next())
        .await
        .unwrap()
        .is_none());
    // The server no longer holds the two removed subscriptions.
    assert_eq!(server.global_account().sublist.matches(b"a").plain.len(), 1);
    server.shutdown().await;
}

#[tokio::test]
async fn headers_round_trip() {
    let server = common::start_default().await;
    let client = async_nats::connect(server.client_url()).await.unwrap();
    let mut sub = client.subscribe("h").await.unwrap();
    sync(&client).await;
    let mut headers = HeaderMap::new();
    headers.insert("Trace-Id", "abc123");
    headers.append("Multi", "one");
    headers.append("Multi", "two");
    client
        .publish_with_headers("h", headers, "body".into())
        .await
        .unwrap();
    sync(&client).await;
    let m = next(&mut sub).await;
    let h = m.headers.expect("headers delivered");
    assert_eq!(h.get("Trace-Id").map(|v| v.as_str()), Some("abc123"));
    let multi: Vec<&str> = h.get_all("Multi").map(|v| v.as_str()).collect();
    assert_eq!(multi, vec!["one", "two"]);
    assert_eq!(m.payload, Bytes::from("body"));
    server.shutdown().await;
}

#[tokio::test]
async fn request_reply_and_no_responders() {
    let server = common::start_default().await;
    let service = async_nats::connect(server.client_url()).await.unwrap();
    let mut requests = service.subscribe("svc.echo").await.unwrap();
    sync(&service).await;
    let responder = service.clone();
    let task = tokio::spawn(async move {
        while let Some(req) = requests.next().await {
            if let Some(reply) = req.reply {
                let mut body = b"re:".to_vec();
                body.extend_from_slice(&req.payload);
                responder.publish(reply, body.into()).await.unwrap();
            }
        }
    });

    let client = async_nats::connect(server.client_url()).await.unwrap();
    for i in 0..20 {
        let resp = tokio::time::timeout(WAIT, client.request("svc.echo", format!("{i}").into()))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(resp.payload, Bytes::from(format!("re:{i}")));
    }

    let err = tokio::time::timeout(WAIT, client.request("svc.nobody", "x".into()))
        .await
        .unwrap()
        .expect_err("no responders");
    assert_eq!(err.kind(), async_nats::RequestErrorKind::NoResponders);
    task.abort();
    server.shutdown().await;
}

#[tokio::test]
async fn echo_false_suppresses_own_messages() {
    let server = common::start_default().await;
    let quiet = ConnectOptions::new()
        .no_echo()
        .connect(server.client_url())
        .await
        .unwrap();
    let mut own = quiet.subscribe("e").await.unwrap();
    let loud = async_nats::connect(server.client_url()).await.unwrap();
    let mut echoed = loud.subscribe("e").await.unwrap();
    sync(&quiet).await;
    sync(&loud).await;

    quiet.publish("e", "from-quiet".into()).await.unwrap();
    loud.publish("e", "from-loud".into()).await.unwrap();
    sync(&quiet).await;
    sync(&loud).await;

    // The no-echo client sees the other client's message but not its own.
    assert_eq!(next(&mut own).await.payload, Bytes::from("from-loud"));
    assert_no_more(&quiet, &mut own).await;
    // The echoing client sees both, its own included.
    let mut got = vec![
        next(&mut echoed).await.payload,
        next(&mut echoed).await.payload,
    ];
    got.sort();
    assert_eq!(
        got,
        vec![Bytes::from("from-loud"), Bytes::from("from-quiet")]
    );
    server.shutdown().await;
}

#[tokio::test]
async fn hundred_thousand_messages_arrive_in_order() {
    let server = common::start_default().await;
    let sub_client = async_nats::connect(server.client_url()).await.unwrap();
    let mut sub = sub_client.subscribe("seq").await.unwrap();
    sync(&sub_client).await;
    let publisher = async_nats::connect(server.client_url()).await.unwrap();
    let n = 100_000u32;
    let producer = tokio::spawn(async move {
        for i in 0..n {
            publisher
                .publish("seq", Bytes::copy_from_slice(&i.to_be_bytes()))
                .await
                .unwrap();
        }
        sync(&publisher).await;
    });
    for i in 0..n {
        let m = next(&mut sub).await;
        assert_eq!(
            m.payload.as_ref(),
            &i.to_be_bytes(),
            "message {i} out of order"
        );
    }
    producer.await.unwrap();
    server.shutdown().await;
}

#[tokio::test]
async fn payload_at_max_payload_is_delivered() {
    let mut opts = common::test_options();
    opts.max_payload = 64 * 1024;
    let server = common::start(opts).await;
    let client = async_nats::connect(server.client_url()).await.unwrap();
    assert_eq!(client.server_info().max_payload, 64 * 1024);
    let mut sub = client.subscribe("big").await.unwrap();
    sync(&client).await;
    let payload: Vec<u8> = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
    client.publish("big", payload.clone().into()).await.unwrap();
    sync(&client).await;
    assert_eq!(next(&mut sub).await.payload.as_ref(), payload.as_slice());
    server.shutdown().await;
}

#[tokio::test]
async fn user_password_and_token_auth() {
    let mut opts = common::test_options();
    opts.authorization.user = Some("tracer".into());
    opts.authorization.password = Some("s3cret".into());
    let server = common::start(opts).await;
    let ok = ConnectOptions::new()
        .user_and_password("tracer".into(), "s3cret".into())
        .connect(server.client_url())
        .await;
    assert!(ok.is_ok(), "right password refused: {:?}", ok.err());
    let bad = ConnectOptions::new()
        .user_and_password("tracer".into(), "wrong".into())
        .connect(server.client_url())
        .await;
    assert!(bad.is_err(), "wrong password accepted");
    server.shutdown().await;

    let mut opts = common::test_options();
    opts.authorization.token = Some("t0ken".into());
    let server = common::start(opts).await;
    let ok = ConnectOptions::with_token("t0ken".into())
        .connect(server.client_url())
        .await;
    assert!(ok.is_ok(), "right token refused: {:?}", ok.err());
    let bad = ConnectOptions::with_token("nope".into())
        .connect(server.client_url())
        .await;
    assert!(bad.is_err(), "wrong token accepted");
    server.shutdown().await;
}

#[tokio::test]
async fn shutdown_closes_clients_and_listener() {
    let server = common::start_default().await;
    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let client = ConnectOptions::new()
        .event_callback(move |e| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(e);
            }
        })
        .connect(server.client_url())
        .await
        .unwrap();
    sync(&client).await;
    assert_eq!(server.num_clients(), 1);
    let addr = server.client_addr();
    server.shutdown().await;
    // The listener is gone: a new TCP connection is refused.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    // The connected client is told its connection ended.
    loop {
        let e = tokio::time::timeout(WAIT, events.recv())
            .await
            .expect("client notices the shutdown")
            .expect("event channel open");
        if matches!(e, async_nats::Event::Disconnected) {
            break;
        }
    }
}
