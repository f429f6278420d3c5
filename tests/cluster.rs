//! Three tracebus nodes on loopback, in-process: routes, gossip, interest
//! propagation, wildcards, queue groups, unsubscribe, restarts, duplicates,
//! accounts (and imports) across nodes, client URLs in INFO.

mod cluster_support;

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
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

/// Nothing more arrives within a short while (used after a barrier message
/// proved that everything sent before it was processed).
async fn assert_empty(sub: &mut async_nats::Subscriber) {
    if let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(50), sub.next()).await {
        panic!("unexpected message on {}: {:?}", m.subject, m.payload);
    }
}

async fn shutdown_all(nodes: Vec<ServerHandle>) {
    for n in nodes {
        n.shutdown().await;
    }
}

/// Waits until `node` holds `n` entries (local and remote) in `acc`.
async fn wait_subs(node: &ServerHandle, acc: &str, n: usize) {
    wait_until(&format!("{n} subscriptions in {acc}"), || {
        subs_in(node, acc) == n
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriber_on_node1_receives_from_node3() {
    let nodes = mesh(3).await;
    let c1 = client(&nodes[0]).await;
    let c3 = client(&nodes[2]).await;
    let mut sub = c1.subscribe("trace.app.host.1.log").await.unwrap();
    c1.flush().await.unwrap();
    wait_subs(&nodes[2], "$G", 1).await;
    c3.publish("trace.app.host.1.log", "hello".into())
        .await
        .unwrap();
    let m = next_msg(&mut sub).await;
    assert_eq!(&m.payload[..], b"hello");
    // Replies and headers cross too.
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Trace-Kind", "funclog");
    c3.publish_with_reply_and_headers("trace.app.host.1.log", "r.1", headers, "x".into())
        .await
        .unwrap();
    let m = next_msg(&mut sub).await;
    assert_eq!(m.reply.as_deref(), Some("r.1"));
    assert_eq!(
        m.headers.unwrap().get("Trace-Kind").map(|v| v.as_str()),
        Some("funclog")
    );
    shutdown_all(nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node3_configured_with_node1_only_reaches_full_mesh() {
    let nodes = mesh(3).await;
    let ids: Vec<String> = nodes.iter().map(|n| n.server_id()).collect();
    for (i, n) in nodes.iter().enumerate() {
        let mut want: Vec<String> = ids
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, id)| id.clone())
            .collect();
        want.sort();
        assert_eq!(n.route_peer_ids(), want, "node {}", i + 1);
    }
    // Nodes 2 and 3 only know each other through node 1's gossip, and talk
    // directly: node 1 never forwards route to route.
    let c2 = client(&nodes[1]).await;
    let c3 = client(&nodes[2]).await;
    let mut sub = c2.subscribe("direct").await.unwrap();
    c2.flush().await.unwrap();
    wait_subs(&nodes[2], "$G", 1).await;
    c3.publish("direct", "x".into()).await.unwrap();
    assert_eq!(&next_msg(&mut sub).await.payload[..], b"x");
    shutdown_all(nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wildcards_across_nodes_and_one_copy_per_route() {
    let nodes = mesh(3).await;
    let c2 = client(&nodes[1]).await;
    let c3 = client(&nodes[2]).await;
    let mut funclog = c2.subscribe("trace.checkout.*.*.funclog").await.unwrap();
    let mut all = c2.subscribe("trace.checkout.>").await.unwrap();
    let mut other_app = c2.subscribe("trace.billing.>").await.unwrap();
    c2.flush().await.unwrap();
    wait_subs(&nodes[2], "$G", 3).await;

    c3.publish("trace.checkout.h1.42.funclog", "f".into())
        .await
        .unwrap();
    c3.publish("trace.checkout.h1.42.log", "l".into())
        .await
        .unwrap();
    c3.publish("trace.other.h1.42.log", "o".into())
        .await
        .unwrap();
    c3.publish("trace.billing.h.1.log", "b".into())
        .await
        .unwrap();

    assert_eq!(&next_msg(&mut funclog).await.payload[..], b"f");
    assert_eq!(&next_msg(&mut all).await.payload[..], b"f");
    assert_eq!(&next_msg(&mut all).await.payload[..], b"l");
    // trace.billing arrived after everything before it on the same route.
    assert_eq!(&next_msg(&mut other_app).await.payload[..], b"b");
    assert_empty(&mut funclog).await;
    assert_empty(&mut all).await;
    shutdown_all(nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_group_across_nodes_delivers_exactly_once() {
    let nodes = mesh(3).await;
    let c1 = client(&nodes[0]).await;
    let c2 = client(&nodes[1]).await;
    let c3 = client(&nodes[2]).await;
    // Members on nodes 2 and 3 only; the publisher is on node 1.
    let q2a = c2
        .queue_subscribe("work.>", "viewers".into())
        .await
        .unwrap();
    let q2b = c2
        .queue_subscribe("work.>", "viewers".into())
        .await
        .unwrap();
    let q3 = c3
        .queue_subscribe("work.*", "viewers".into())
        .await
        .unwrap();
    // A plain subscriber sees everything alongside the group.
    let mut plain = c3.subscribe("work.>").await.unwrap();
    c2.flush().await.unwrap();
    c3.flush().await.unwrap();
    wait_subs(&nodes[0], "$G", 3).await;

    const N: usize = 300;
    for i in 0..N {
        c1.publish(format!("work.{i}"), i.to_string().into())
            .await
            .unwrap();
    }
    c1.flush().await.unwrap();
    for i in 0..N {
        let m = next_msg(&mut plain).await;
        assert_eq!(m.subject.as_str(), format!("work.{i}"));
    }
    let mut seen = HashSet::new();
    let mut per_member = Vec::new();
    for mut q in [q2a, q2b, q3] {
        let mut count = 0;
        while let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(300), q.next()).await {
            assert!(
                seen.insert(m.subject.to_string()),
                "duplicate {}",
                m.subject
            );
            count += 1;
        }
        per_member.push(count);
    }
    assert_eq!(seen.len(), N, "every message exactly once: {per_member:?}");
    assert!(per_member[2] > 0, "node 3 got a share: {per_member:?}");
    assert!(per_member[0] + per_member[1] > 0, "node 2 got a share");

    // A local member is preferred: a member on node 1 takes everything
    // published on node 1.
    let mut local = c1
        .queue_subscribe("work.>", "viewers".into())
        .await
        .unwrap();
    c1.flush().await.unwrap();
    for i in 0..50 {
        c1.publish(format!("work.{i}"), "x".into()).await.unwrap();
    }
    for _ in 0..50 {
        next_msg(&mut local).await;
    }
    shutdown_all(nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsubscribe_stops_cross_route_delivery() {
    let nodes = mesh(3).await;
    let c1 = client(&nodes[0]).await;
    let c2 = client(&nodes[1]).await;
    let mut sub = c1.subscribe("metrics.cpu").await.unwrap();
    let mut barrier = c1.subscribe("barrier").await.unwrap();
    c1.flush().await.unwrap();
    wait_subs(&nodes[1], "$G", 2).await;
    c2.publish("metrics.cpu", "1".into()).await.unwrap();
    assert_eq!(&next_msg(&mut sub).await.payload[..], b"1");

    sub.unsubscribe().await.unwrap();
    c1.flush().await.unwrap();
    wait_subs(&nodes[1], "$G", 1).await;
    c2.publish("metrics.cpu", "2".into()).await.unwrap();
    c2.publish("barrier", "b".into()).await.unwrap();
    next_msg(&mut barrier).await;
    // Nothing was routed for metrics.cpu any more: node 1 holds no route
    // interest from node 2 and node 2 none from node 1.
    assert_eq!(subs_in(&nodes[0], "$G"), 1);
    assert_eq!(subs_in(&nodes[2], "$G"), 1);
    shutdown_all(nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_disconnect_withdraws_interest_everywhere() {
    let nodes = mesh(3).await;
    let c1 = client(&nodes[0]).await;
    let _a = c1.subscribe("a").await.unwrap();
    let _b = c1.queue_subscribe("b", "g".into()).await.unwrap();
    c1.flush().await.unwrap();
    wait_subs(&nodes[1], "$G", 2).await;
    wait_subs(&nodes[2], "$G", 2).await;
    drop(_a);
    drop(_b);
    drop(c1);
    wait_subs(&nodes[1], "$G", 0).await;
    wait_subs(&nodes[2], "$G", 0).await;
    shutdown_all(nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_node_rejoins_and_interest_is_reestablished() {
    let mut nodes = mesh(3).await;
    let seed = nodes[0].route_url().unwrap();
    let c1 = client(&nodes[0]).await;
    let mut on1 = c1.subscribe("logs.node1").await.unwrap();
    c1.flush().await.unwrap();
    wait_subs(&nodes[2], "$G", 1).await;

    // Restart node 3 (a new server id, new ports, configured with node 1).
    let old = nodes.pop().unwrap();
    old.shutdown().await;
    wait_until("routes to old node 3 gone", || {
        nodes.iter().all(|n| n.num_routes() == 1)
    })
    .await;
    nodes.push(start(node_options("n3", std::slice::from_ref(&seed))).await);
    wait_full_mesh(&nodes).await;

    // Node 1's interest reached the new node 3 ...
    wait_subs(&nodes[2], "$G", 1).await;
    let c3 = client(&nodes[2]).await;
    c3.publish("logs.node1", "after restart".into())
        .await
        .unwrap();
    assert_eq!(&next_msg(&mut on1).await.payload[..], b"after restart");
    // ... and the new node 3's interest reaches node 2.
    let mut on3 = c3.subscribe("logs.node3").await.unwrap();
    c3.flush().await.unwrap();
    wait_subs(&nodes[1], "$G", 2).await;
    let c2 = client(&nodes[1]).await;
    c2.publish("logs.node3", "hi".into()).await.unwrap();
    assert_eq!(&next_msg(&mut on3).await.payload[..], b"hi");

    // Restart node 1, the seed: nodes 2 and 3 keep their direct route and
    // node 1 comes back on the same route port.
    let port1 = nodes[0].cluster_addr().unwrap().port();
    let first = nodes.remove(0);
    drop(on1);
    drop(c1);
    first.shutdown().await;
    let mut o = node_options("n1", &[]);
    o.cluster.as_mut().unwrap().port = Some(i32::from(port1));
    nodes.insert(0, start(o).await);
    wait_full_mesh(&nodes).await;
    let c1 = client(&nodes[0]).await;
    let mut again = c1.subscribe("logs.node1").await.unwrap();
    c1.flush().await.unwrap();
    wait_subs(&nodes[1], "$G", 2).await;
    c2.publish("logs.node1", "back".into()).await.unwrap();
    assert_eq!(&next_msg(&mut again).await.payload[..], b"back");
    shutdown_all(nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_routes_resolve_to_one() {
    // Both nodes dial each other, and node 2 has two URLs for node 1.
    let p1 = free_port();
    let p2 = free_port();
    let url = |p: u16| format!("nats-route://127.0.0.1:{p}");
    let mut o1 = node_options("d1", &[url(p2)]);
    o1.cluster.as_mut().unwrap().port = Some(i32::from(p1));
    let mut o2 = node_options("d2", &[url(p1), format!("nats-route://localhost:{p1}")]);
    o2.cluster.as_mut().unwrap().port = Some(i32::from(p2));
    let (n1, n2) = tokio::join!(start(o1), start(o2));
    let nodes = vec![n1, n2];
    wait_full_mesh(&nodes).await;
    // Settled: stays at one route each for a while (retries included).
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(nodes.iter().all(|n| n.num_routes() <= 1));
    }
    wait_full_mesh(&nodes).await;
    let c1 = client(&nodes[0]).await;
    let c2 = client(&nodes[1]).await;
    let mut sub = c1.subscribe("dup").await.unwrap();
    let mut barrier = c1.subscribe("barrier").await.unwrap();
    c1.flush().await.unwrap();
    wait_subs(&nodes[1], "$G", 2).await;
    c2.publish("dup", "once".into()).await.unwrap();
    c2.publish("barrier", "b".into()).await.unwrap();
    next_msg(&mut barrier).await;
    assert_eq!(&next_msg(&mut sub).await.payload[..], b"once");
    assert_empty(&mut sub).await;
    shutdown_all(nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_to_itself_is_dropped() {
    let port = free_port();
    let mut o = node_options("self", &[format!("nats-route://127.0.0.1:{port}")]);
    o.cluster.as_mut().unwrap().port = Some(i32::from(port));
    let n = start(o).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(n.num_routes(), 0);
    n.shutdown().await;
}

/// A free TCP port on 127.0.0.1 (bound and released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Options from configuration text plus the test cluster settings.
fn conf_options(name: &str, text: &str, routes: &[String]) -> Options {
    let map = parse_str(text, std::path::Path::new("test.conf")).unwrap();
    let mut o = Options::from_map(&map).unwrap();
    let base = node_options(name, routes);
    o.host = base.host;
    o.port = base.port;
    o.server_name = base.server_name;
    o.cluster = base.cluster;
    o
}

const TEAMS: &str = r#"
accounts {
  A: { users: [ {user: a, password: a} ]
       exports: [ {service: "svc.>"}, {stream: "events.>"} ] }
  B: { users: [ {user: b, password: b} ]
       imports: [ {service: {account: A, subject: "svc.>"}},
                  {stream: {account: A, subject: "events.>"}, prefix: "from_a"} ] }
}
"#;

async fn user(node: &ServerHandle, u: &str) -> async_nats::Client {
    async_nats::ConnectOptions::with_user_and_password(u.into(), u.into())
        .connect(node.client_url())
        .await
        .unwrap()
}

async fn team_mesh() -> Vec<ServerHandle> {
    let first = start(conf_options("t1", TEAMS, &[])).await;
    let seed = first.route_url().unwrap();
    let mut nodes = vec![first];
    for i in 2..=3 {
        nodes.push(
            start(conf_options(
                &format!("t{i}"),
                TEAMS,
                std::slice::from_ref(&seed),
            ))
            .await,
        );
    }
    wait_full_mesh(&nodes).await;
    // Settled: A holds its stream export entry, its own service reply space
    // and the two other nodes' (announced over the routes); B its import.
    for n in &nodes {
        wait_subs(n, "A", 4).await;
        wait_subs(n, "B", 1).await;
    }
    nodes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_are_isolated_across_nodes() {
    let nodes = team_mesh().await;
    let a1 = user(&nodes[0], "a").await;
    let b1 = user(&nodes[0], "b").await;
    let a3 = user(&nodes[2], "a").await;
    let b3 = user(&nodes[2], "b").await;
    // Imports and the other nodes' service reply spaces are entries too.
    let base_a = subs_in(&nodes[2], "A");
    let base_b = subs_in(&nodes[2], "B");
    let mut a_sub = a1.subscribe("trace.x").await.unwrap();
    let mut b_sub = b1.subscribe("trace.x").await.unwrap();
    a1.flush().await.unwrap();
    b1.flush().await.unwrap();
    wait_subs(&nodes[2], "A", base_a + 1).await;
    wait_subs(&nodes[2], "B", base_b + 1).await;
    a3.publish("trace.x", "for A".into()).await.unwrap();
    b3.publish("trace.x", "for B".into()).await.unwrap();
    assert_eq!(&next_msg(&mut a_sub).await.payload[..], b"for A");
    assert_eq!(&next_msg(&mut b_sub).await.payload[..], b"for B");
    // A's second message after B's proves B's did not reach A.
    a3.publish("trace.x", "A again".into()).await.unwrap();
    assert_eq!(&next_msg(&mut a_sub).await.payload[..], b"A again");
    assert_empty(&mut b_sub).await;
    // $G sees nothing either.
    assert_eq!(subs_in(&nodes[2], "$G"), 0);
    shutdown_all(nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_work_across_nodes() {
    let nodes = team_mesh().await;
    // Stream import: A publishes on node 1, B subscribes (prefixed) on node 3.
    let b3 = user(&nodes[2], "b").await;
    let base_b = subs_in(&nodes[0], "B");
    let mut stream = b3.subscribe("from_a.events.>").await.unwrap();
    b3.flush().await.unwrap();
    wait_subs(&nodes[0], "B", base_b + 1).await;
    let a1 = user(&nodes[0], "a").await;
    a1.publish("events.deploy", "v2".into()).await.unwrap();
    let m = next_msg(&mut stream).await;
    assert_eq!(m.subject.as_str(), "from_a.events.deploy");

    // Service import: B requests on node 3, A's responder is on node 2.
    let a2 = user(&nodes[1], "a").await;
    let base_a = subs_in(&nodes[2], "A");
    let mut svc = a2.subscribe("svc.echo").await.unwrap();
    a2.flush().await.unwrap();
    wait_subs(&nodes[2], "A", base_a + 1).await;
    let responder = tokio::spawn(async move {
        let m = next_msg(&mut svc).await;
        let reply = m.reply.unwrap();
        assert!(reply.starts_with("_R_."), "{reply}");
        a2.publish(reply, m.payload).await.unwrap();
        a2.flush().await.unwrap();
    });
    let resp = tokio::time::timeout(WAIT, b3.request("svc.echo", "ping".into()))
        .await
        .expect("response in time")
        .expect("response");
    assert_eq!(&resp.payload[..], b"ping");
    responder.await.unwrap();
    shutdown_all(nodes).await;
}

/// Reads one `INFO` line from a raw client (skipping PONGs).
fn read_info(r: &mut BufReader<std::net::TcpStream>) -> serde_json::Value {
    loop {
        let mut line = String::new();
        r.read_line(&mut line).expect("read");
        assert!(!line.is_empty(), "connection closed");
        if let Some(json) = line.strip_prefix("INFO ") {
            return serde_json::from_str(json.trim_end()).unwrap();
        }
    }
}

fn urls(info: &serde_json::Value) -> Vec<String> {
    let mut v: Vec<String> = info["connect_urls"]
        .as_array()
        .map(|a| a.iter().map(|u| u.as_str().unwrap().to_string()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_see_every_node_in_connect_urls_and_get_updates() {
    let nodes = mesh(3).await;
    let mut all: Vec<String> = nodes
        .iter()
        .map(|n| format!("127.0.0.1:{}", n.client_addr().port()))
        .collect();
    all.sort();
    let port = nodes[0].client_addr().port();
    let (info, mut r) = tokio::task::spawn_blocking(move || {
        let s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let info = read_info(&mut r);
        let mut w = s;
        w.write_all(b"CONNECT {\"protocol\":1,\"verbose\":false}\r\nPING\r\n")
            .unwrap();
        (info, r)
    })
    .await
    .unwrap();
    assert_eq!(info["cluster"], "C1");
    assert_eq!(urls(&info), all);

    // Node 3 leaves: an async INFO drops its URL.
    let mut nodes = nodes;
    let gone = nodes.pop().unwrap();
    let gone_url = format!("127.0.0.1:{}", gone.client_addr().port());
    gone.shutdown().await;
    let update = tokio::task::spawn_blocking(move || read_info(&mut r))
        .await
        .unwrap();
    let left: Vec<String> = all.iter().filter(|u| **u != gone_url).cloned().collect();
    assert_eq!(urls(&update), left);
    assert!(update["client_id"].as_u64().unwrap() > 0);
    shutdown_all(nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_advertise_keeps_connect_urls_out_of_info() {
    let mut o1 = node_options("a1", &[]);
    o1.cluster.as_mut().unwrap().no_advertise = true;
    let n1 = start(o1).await;
    let n2 = start(node_options("a2", &[n1.route_url().unwrap()])).await;
    let nodes = vec![n1, n2];
    wait_full_mesh(&nodes).await;
    assert!(nodes[0].client_connect_urls().is_empty());
    // Node 2 advertises itself but not node 1 (which did not tell it).
    assert_eq!(
        nodes[1].client_connect_urls(),
        vec![format!("127.0.0.1:{}", nodes[1].client_addr().port())]
    );
    shutdown_all(nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_authorization_is_enforced() {
    let mut o1 = node_options("s1", &[]);
    {
        let c = o1.cluster.as_mut().unwrap();
        c.user = Some("ruser".into());
        c.password = Some("rpass".into());
    }
    let n1 = start(o1).await;
    let port = n1.cluster_addr().unwrap().port();
    // Without credentials: refused.
    let bad = start(node_options(
        "s2",
        &[format!("nats-route://127.0.0.1:{port}")],
    ))
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(n1.num_routes(), 0);
    bad.shutdown().await;
    // With them: accepted; a third node learns of both by gossip and uses
    // the cluster credentials for the gossiped route.
    let mut o3 = node_options(
        "s3",
        &[format!("nats-route://ruser:rpass@127.0.0.1:{port}")],
    );
    {
        let c = o3.cluster.as_mut().unwrap();
        c.user = Some("ruser".into());
        c.password = Some("rpass".into());
    }
    let mut o4 = o3.clone();
    o4.server_name = Some("s4".into());
    let n3 = start(o3).await;
    let n4 = start(o4).await;
    let nodes = vec![n1, n3, n4];
    wait_full_mesh(&nodes).await;
    shutdown_all(nodes).await;
}
