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
