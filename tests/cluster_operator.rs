//! Operator mode (JWT accounts) across a cluster: accounts load on first use
//! on each node, interest of an account a node has not loaded yet is kept,
//! accounts stay isolated across routes, and service imports answer across
//! nodes.

mod cluster_support;
mod common;
#[path = "operator_support/mod.rs"]
mod op;
#[path = "common/raw.rs"]
mod raw;
#[path = "auth_support/mod.rs"]
mod support;

use std::time::Duration;

use cluster_support::*;
use futures::StreamExt;
use op::{Chain, Creds};
use tracebus::config::{parse_str, Options};
use tracebus::jwt::{self, ExportType};
use tracebus::server::ServerHandle;

async fn next_msg(sub: &mut async_nats::Subscriber) -> async_nats::Message {
    tokio::time::timeout(WAIT, sub.next())
        .await
        .expect("message in time")
        .expect("subscription open")
}

fn options(name: &str, conf: &str, routes: &[String]) -> Options {
    let map = parse_str(conf, std::path::Path::new("op.conf")).unwrap();
    let mut o = Options::from_map(&map).unwrap();
    let base = node_options(name, routes);
    o.host = base.host;
    o.port = base.port;
    o.server_name = base.server_name;
    o.cluster = base.cluster;
    o
}

async fn user(node: &ServerHandle, creds: &Creds) -> async_nats::Client {
    async_nats::ConnectOptions::with_credentials(&creds.file_text())
        .unwrap()
        .connect(node.client_url())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_accounts_work_and_stay_isolated_across_nodes() {
    let mut chain = Chain::new();
    let acme = chain.add_account("acme", |a| {
        a.exports.push(jwt::Export {
            name: "echo".into(),
            subject: "svc.echo".into(),
            kind: ExportType::Service,
            ..Default::default()
        });
    });
    let exporter = acme.clone();
    let beta = chain.add_account("beta", move |a| {
        a.imports.push(jwt::Import {
            name: "echo".into(),
            subject: "svc.echo".into(),
            account: exporter,
            kind: ExportType::Service,
            ..Default::default()
        });
    });
    let conf = chain.conf_memory();
    let n1 = start(options("o1", &conf, &[])).await;
    let n2 = start(options("o2", &conf, &[n1.route_url().unwrap()])).await;
    let nodes = vec![n1, n2];
    wait_full_mesh(&nodes).await;

    let acme_user = chain.user(&acme, "ann", |_| {});
    let beta_user = chain.user(&beta, "bob", |_| {});

    // acme subscribes on node 1 before any acme user touched node 2: node 2
    // keeps the interest all the same.
    let a1 = user(&nodes[0], &acme_user).await;
    let mut a_sub = a1.subscribe("trace.x").await.unwrap();
    a1.flush().await.unwrap();
    wait_until("acme interest on node 2", || subs_in(&nodes[1], &acme) >= 1).await;
    let b1 = user(&nodes[0], &beta_user).await;
    let mut b_sub = b1.subscribe("trace.x").await.unwrap();
    b1.flush().await.unwrap();

    let a2 = user(&nodes[1], &acme_user).await;
    let b2 = user(&nodes[1], &beta_user).await;
    b2.publish("trace.x", "beta's".into()).await.unwrap();
    a2.publish("trace.x", "acme's".into()).await.unwrap();
    assert_eq!(&next_msg(&mut a_sub).await.payload[..], b"acme's");
    assert_eq!(&next_msg(&mut b_sub).await.payload[..], b"beta's");
    a2.publish("trace.x", "acme again".into()).await.unwrap();
    assert_eq!(&next_msg(&mut a_sub).await.payload[..], b"acme again");
    if let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(100), b_sub.next()).await {
        panic!("beta saw {:?}", m.payload);
    }

    // beta requests acme's service from node 2; the responder is on node 1.
    let before = subs_in(&nodes[1], &acme);
    let mut svc = a1.subscribe("svc.echo").await.unwrap();
    a1.flush().await.unwrap();
    wait_until("service interest on node 2", || {
        subs_in(&nodes[1], &acme) > before
    })
    .await;
    let responder = {
        let a1 = a1.clone();
        tokio::spawn(async move {
            let m = next_msg(&mut svc).await;
            a1.publish(m.reply.unwrap(), m.payload).await.unwrap();
            a1.flush().await.unwrap();
        })
    };
    let resp = tokio::time::timeout(WAIT, async {
        loop {
            match b2.request("svc.echo", "ping".into()).await {
                Ok(r) => return r,
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(&resp.payload[..], b"ping");
    responder.await.unwrap();
    for n in nodes {
        n.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_updates_pushed_to_one_node_reach_every_node() {
    let mut chain = Chain::new();
    let acme = chain.add_account("acme", |_| {});
    let conf = chain.conf_memory();
    let n1 = start(options("u1", &conf, &[])).await;
    let n2 = start(options("u2", &conf, &[n1.route_url().unwrap()])).await;
    let nodes = vec![n1, n2];
    wait_full_mesh(&nodes).await;
    // Both nodes serve claim updates (2 subjects each with a MEMORY resolver)
    // and know of each other's.
    for n in &nodes {
        wait_until("claim update subjects", || subs_in(n, &chain.sys_key) == 4).await;
    }
    // bob of acme is connected to node 2 only.
    let bob = chain.user(&acme, "bob", |_| {});
    let bob_client = async_nats::ConnectOptions::with_credentials(&bob.file_text())
        .unwrap()
        .max_reconnects(1)
        .connect(nodes[1].client_url())
        .await
        .unwrap();
    bob_client.flush().await.unwrap();

    // The system user pushes acme with bob revoked to node 1.
    let now = jwt::now_unix();
    let bob_key = bob.public_key();
    chain.edit(&acme, |c| c.account_mut().unwrap().revoke(bob_key, now));
    let sys = user(&nodes[0], &chain.sys_user()).await;
    let inbox = sys.new_inbox();
    let mut replies = sys.subscribe(inbox.clone()).await.unwrap();
    sys.publish_with_reply(
        format!("$SYS.REQ.ACCOUNT.{acme}.CLAIMS.UPDATE"),
        inbox,
        chain.account_jwt(&acme).into(),
    )
    .await
    .unwrap();
    let mut servers = std::collections::HashSet::new();
    for _ in 0..2 {
        let m = next_msg(&mut replies).await;
        let v: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
        assert_eq!(v["data"]["code"], 200, "{v}");
        servers.insert(v["server"]["id"].as_str().unwrap().to_string());
    }
    assert_eq!(servers.len(), 2, "both nodes applied the update");
    // Node 2 closed bob.
    wait_until_async("bob disconnected", || {
        let c = bob_client.clone();
        async move { c.connection_state() != async_nats::connection::State::Connected }
    })
    .await;
    for n in nodes {
        n.shutdown().await;
    }
}
