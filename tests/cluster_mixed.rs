//! Mixed clusters: tracebus nodes and nats-server 2.9.10 in one cluster.
//! Messages and interest flow both ways, queue groups deliver exactly once,
//! gossip from either kind completes the mesh, accounts stay isolated.
//!
//! These need nats-server (`$NATS_SERVER`, PATH or /usr/sbin): run with
//! `cargo test -- --include-ignored`.

mod cluster_support;

use std::collections::HashSet;
use std::time::Duration;

use cluster_support::*;
use futures::StreamExt;
use tracebus::config::{parse_str, Options};
use tracebus::server::ServerHandle;

async fn next_msg(sub: &mut async_nats::Subscriber) -> async_nats::Message {
    tokio::time::timeout(WAIT, sub.next())
        .await
        .expect("message in time")
        .expect("subscription open")
}

async fn connect(url: String) -> async_nats::Client {
    async_nats::connect(url).await.expect("connect")
}

/// Publishes `probe` messages on `subject` until `sub` sees one: interest
/// has crossed the cluster (nats-server's side is not observable otherwise).
async fn until_flowing(pubc: &async_nats::Client, subject: &str, sub: &mut async_nats::Subscriber) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        pubc.publish(subject.to_string(), "probe".into())
            .await
            .unwrap();
        pubc.flush().await.unwrap();
        if let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(100), sub.next()).await {
            // Drain probes still in flight.
            while let Ok(Some(_)) =
                tokio::time::timeout(Duration::from_millis(100), sub.next()).await
            {}
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no flow on {subject}"
        );
    }
}

/// tracebus seed, nats-server and a second tracebus both configured with the
/// seed only: gossip completes the mesh.
async fn mixed_mesh() -> (ServerHandle, NatsServer, ServerHandle) {
    let t1 = start(node_options("t1", &[])).await;
    let seed = t1.route_url().unwrap();
    let ns = NatsServer::start("ns", std::slice::from_ref(&seed), "");
    let t2 = start(node_options("t2", &[seed])).await;
    wait_until("mixed full mesh", || {
        t1.num_routes() == 2 && t2.num_routes() == 2
    })
    .await;
    (t1, ns, t2)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs nats-server"]
async fn messages_and_interest_flow_both_ways() {
    let (t1, ns, t2) = mixed_mesh().await;
    let ct1 = connect(t1.client_url()).await;
    let cns = connect(ns.client_url()).await;
    let ct2 = connect(t2.client_url()).await;

    // nats-server subscriber, tracebus publisher.
    let mut on_ns = cns.subscribe("trace.svc.*.*.log").await.unwrap();
    cns.flush().await.unwrap();
    wait_until("interest from nats-server", || subs_in(&t2, "$G") == 1).await;
    ct2.publish("trace.svc.h.1.log", "to ns".into())
        .await
        .unwrap();
    assert_eq!(&next_msg(&mut on_ns).await.payload[..], b"to ns");

    // tracebus subscriber, nats-server publisher (with headers and reply).
    let mut on_t1 = ct1.subscribe("trace.>").await.unwrap();
    ct1.flush().await.unwrap();
    until_flowing(&cns, "trace.probe", &mut on_t1).await;
    let mut h = async_nats::HeaderMap::new();
    h.insert("K", "v");
    cns.publish_with_reply_and_headers("trace.x", "r.1", h, "to t1".into())
        .await
        .unwrap();
    let m = next_msg(&mut on_t1).await;
    assert_eq!(&m.payload[..], b"to t1");
    assert_eq!(m.reply.as_deref(), Some("r.1"));
    assert_eq!(m.headers.unwrap().get("K").map(|v| v.as_str()), Some("v"));

    // Request/reply across kinds.
    let mut svc = ct2.subscribe("svc.echo").await.unwrap();
    ct2.flush().await.unwrap();
    let responder = {
        let ct2 = ct2.clone();
        tokio::spawn(async move {
            let m = next_msg(&mut svc).await;
            ct2.publish(m.reply.unwrap(), m.payload).await.unwrap();
            ct2.flush().await.unwrap();
        })
    };
    let resp = tokio::time::timeout(WAIT, async {
        loop {
            match cns.request("svc.echo", "ping".into()).await {
                Ok(r) => return r,
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(&resp.payload[..], b"ping");
    responder.await.unwrap();

    // Unsubscribing on nats-server withdraws its interest from tracebus.
    let before = subs_in(&t2, "$G");
    on_ns.unsubscribe().await.unwrap();
    cns.flush().await.unwrap();
    wait_until("nats-server withdrew", || subs_in(&t2, "$G") == before - 1).await;
    t1.shutdown().await;
    t2.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs nats-server"]
async fn queue_groups_deliver_exactly_once_across_kinds() {
    let (t1, ns, t2) = mixed_mesh().await;
    let ct1 = connect(t1.client_url()).await;
    let cns = connect(ns.client_url()).await;
    let ct2 = connect(t2.client_url()).await;
    let members = vec![
        ct2.queue_subscribe("jobs.*", "workers".into())
            .await
            .unwrap(),
        cns.queue_subscribe("jobs.*", "workers".into())
            .await
            .unwrap(),
        cns.queue_subscribe("jobs.>", "workers".into())
            .await
            .unwrap(),
    ];
    let mut probe = ct2.subscribe("jobs.probe").await.unwrap();
    ct2.flush().await.unwrap();
    cns.flush().await.unwrap();
    // Interest of both member nodes reached t1 (the publisher's node): one
    // entry per (route, subject, group) and the probe.
    wait_until("queue interest at t1", || subs_in(&t1, "$G") == 4).await;
    until_flowing(&cns, "jobs.probe", &mut probe).await;
    drop(probe);

    // Published on tracebus t1 (no local member): routed to one node per
    // message; and published on nats-server.
    const N: usize = 200;
    for i in 0..N {
        ct1.publish(format!("jobs.{i}"), "t".into()).await.unwrap();
        cns.publish(format!("jobs.{i}"), "n".into()).await.unwrap();
    }
    ct1.flush().await.unwrap();
    cns.flush().await.unwrap();
    let mut seen = HashSet::new();
    let mut per = Vec::new();
    for mut m in members {
        let mut count = 0;
        while let Ok(Some(msg)) = tokio::time::timeout(Duration::from_millis(500), m.next()).await {
            if msg.subject.as_str() == "jobs.probe" {
                continue;
            }
            let key = (msg.subject.to_string(), msg.payload.clone());
            assert!(seen.insert(key), "duplicate {}", msg.subject);
            count += 1;
        }
        per.push(count);
    }
    assert_eq!(seen.len(), 2 * N, "exactly once in total: {per:?}");
    assert!(
        per[0] > 0 && per[1] + per[2] > 0,
        "both kinds got work: {per:?}"
    );
    t1.shutdown().await;
    t2.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs nats-server"]
async fn nats_server_seed_gossips_tracebus_nodes_into_a_mesh() {
    let ns = NatsServer::start("seed", &[], "");
    let t1 = start(node_options("t1", &[ns.route_url()])).await;
    let t2 = start(node_options("t2", &[ns.route_url()])).await;
    wait_until("mesh through nats-server gossip", || {
        t1.num_routes() == 2 && t2.num_routes() == 2
    })
    .await;
    let c1 = connect(t1.client_url()).await;
    let c2 = connect(t2.client_url()).await;
    let mut sub = c1.subscribe("direct").await.unwrap();
    c1.flush().await.unwrap();
    wait_until("interest at t2", || subs_in(&t2, "$G") == 1).await;
    c2.publish("direct", "x".into()).await.unwrap();
    assert_eq!(&next_msg(&mut sub).await.payload[..], b"x");
    // Clients of tracebus learn every node's URL, nats-server's included.
    let urls = t1.client_connect_urls();
    assert!(
        urls.contains(&format!("127.0.0.1:{}", ns.client_port)),
        "{urls:?}"
    );
    assert_eq!(urls.len(), 3, "{urls:?}");
    t1.shutdown().await;
    t2.shutdown().await;
}

const TEAMS: &str = "accounts {\n  A: { users: [ {user: a, password: a} ] }\n  B: { users: [ {user: b, password: b} ] }\n}\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs nats-server"]
async fn accounts_stay_isolated_with_nats_server() {
    let mut o =
        Options::from_map(&parse_str(TEAMS, std::path::Path::new("t.conf")).unwrap()).unwrap();
    let base = node_options("ta", &[]);
    o.host = base.host;
    o.port = base.port;
    o.server_name = base.server_name;
    o.cluster = base.cluster;
    let t = start(o).await;
    let ns = NatsServer::start("na", &[t.route_url().unwrap()], TEAMS);
    wait_until("route", || t.num_routes() == 1).await;
    let user = |u: &str, url: String| {
        let u = u.to_string();
        async move {
            async_nats::ConnectOptions::with_user_and_password(u.clone(), u)
                .connect(url)
                .await
                .unwrap()
        }
    };
    let a_ns = user("a", ns.client_url()).await;
    let b_ns = user("b", ns.client_url()).await;
    let a_t = user("a", t.client_url()).await;
    let b_t = user("b", t.client_url()).await;
    let mut a_sub = a_ns.subscribe("x").await.unwrap();
    let mut b_sub = b_ns.subscribe("x").await.unwrap();
    a_ns.flush().await.unwrap();
    b_ns.flush().await.unwrap();
    wait_until("A and B interest", || {
        subs_in(&t, "A") == 1 && subs_in(&t, "B") == 1
    })
    .await;
    b_t.publish("x", "for B".into()).await.unwrap();
    a_t.publish("x", "for A".into()).await.unwrap();
    assert_eq!(&next_msg(&mut a_sub).await.payload[..], b"for A");
    assert_eq!(&next_msg(&mut b_sub).await.payload[..], b"for B");
    a_t.publish("x", "A again".into()).await.unwrap();
    assert_eq!(&next_msg(&mut a_sub).await.payload[..], b"A again");
    if let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(200), b_sub.next()).await {
        panic!("B saw {:?}", m.payload);
    }
    // And the other way: B on tracebus hears only B from nats-server.
    let mut b_on_t = b_t.subscribe("y").await.unwrap();
    b_t.flush().await.unwrap();
    until_flowing(&b_ns, "y", &mut b_on_t).await;
    a_ns.publish("y", "A's".into()).await.unwrap();
    b_ns.publish("y", "B's".into()).await.unwrap();
    assert_eq!(&next_msg(&mut b_on_t).await.payload[..], b"B's");
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs nats-server"]
async fn tracebus_lame_duck_is_seen_by_nats_server() {
    let mut o = node_options("tl", &[]);
    o.lame_duck_duration = Duration::from_secs(2);
    o.lame_duck_grace_period = Duration::from_secs(1);
    let t = start(o).await;
    let ns = NatsServer::start("nl", &[t.route_url().unwrap()], "");
    wait_until("route", || t.num_routes() == 1).await;
    // A nats-server client learns tracebus' URL, then loses it on ldm.
    let t_url = format!("127.0.0.1:{}", t.client_addr().port());
    let info_urls = |ns: &NatsServer| -> Vec<String> {
        use std::io::{BufRead, BufReader};
        let s = std::net::TcpStream::connect(("127.0.0.1", ns.client_port)).unwrap();
        let mut line = String::new();
        BufReader::new(s).read_line(&mut line).unwrap();
        let v: serde_json::Value =
            serde_json::from_str(line.trim_start_matches("INFO ").trim_end()).unwrap();
        v["connect_urls"]
            .as_array()
            .map(|a| a.iter().map(|u| u.as_str().unwrap().to_string()).collect())
            .unwrap_or_default()
    };
    wait_until("nats-server advertises tracebus", || {
        info_urls(&ns).contains(&t_url)
    })
    .await;
    t.lame_duck().await;
    wait_until("nats-server drops the lame duck", || {
        !info_urls(&ns).contains(&t_url)
    })
    .await;
    t.shutdown().await;
}
