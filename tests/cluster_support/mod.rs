//! Helpers for cluster tests: in-process nodes on 127.0.0.1 with random
//! ports, waiting for routes and interest, raw clients.
#![allow(dead_code)]

pub mod proc;

use std::future::Future;
use std::time::Duration;

use tracebus::config::{ClusterOptions, Options, RouteUrl};
use tracebus::server::{Server, ServerHandle};

/// Bound for waits; a passing test returns as soon as the condition holds.
pub const WAIT: Duration = Duration::from_secs(20);

/// Options for one node: loopback, random client and route ports, cluster
/// `C1`, routes to `routes`.
pub fn node_options(name: &str, routes: &[String]) -> Options {
    Options {
        host: "127.0.0.1".into(),
        port: 0,
        server_name: Some(name.into()),
        cluster: Some(ClusterOptions {
            name: Some("C1".into()),
            host: "127.0.0.1".into(),
            port: Some(-1),
            routes: routes
                .iter()
                .map(|r| RouteUrl::parse(r).expect("route url"))
                .collect(),
            ..ClusterOptions::default()
        }),
        ..Options::default()
    }
}

/// Starts a node.
pub async fn start(opts: Options) -> ServerHandle {
    Server::start(opts).await.expect("node starts")
}

/// Waits until `cond` holds, polling; panics with `what` after [`WAIT`].
pub async fn wait_until<F: FnMut() -> bool>(what: &str, mut cond: F) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits until the async `cond` holds.
pub async fn wait_until_async<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    while !cond().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Starts a full mesh of `n` nodes: node 1 alone, every other node
/// configured with node 1 only (gossip completes the mesh). Waits for it.
pub async fn mesh(n: usize) -> Vec<ServerHandle> {
    let first = start(node_options("n1", &[])).await;
    let seed = first.route_url().unwrap();
    let mut nodes = vec![first];
    for i in 2..=n {
        nodes.push(start(node_options(&format!("n{i}"), std::slice::from_ref(&seed))).await);
    }
    wait_full_mesh(&nodes).await;
    nodes
}

/// Waits until every node has a route to every other.
pub async fn wait_full_mesh(nodes: &[ServerHandle]) {
    let n = nodes.len();
    wait_until("full mesh", || {
        nodes.iter().all(|s| s.num_routes() == n - 1)
    })
    .await;
}

/// Number of remote-interest entries (route subscriptions) `node` holds in
/// account `acc`: the sublist count minus local ones is not observable, so
/// the tests wait on message flow instead where they can.
pub fn subs_in(node: &ServerHandle, acc: &str) -> usize {
    node.account(acc).map_or(0, |a| a.sublist.count())
}

/// An async-nats client to `node`.
pub async fn client(node: &ServerHandle) -> async_nats::Client {
    async_nats::connect(node.client_url())
        .await
        .expect("connect")
}
