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

/// A nats-server child process (killed on drop).
pub struct NatsServer {
    child: std::process::Child,
    pub client_port: u16,
    pub route_port: u16,
    pub log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl NatsServer {
    pub fn client_url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.client_port)
    }

    pub fn route_url(&self) -> String {
        format!("nats-route://127.0.0.1:{}", self.route_port)
    }

    /// Starts nats-server in cluster `C1` with `routes`, plus `extra`
    /// configuration text; waits until it is ready.
    pub fn start(name: &str, routes: &[String], extra: &str) -> NatsServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("nats.log");
        let route_port = proc::free_port();
        let routes = routes
            .iter()
            .map(|r| format!("\"{r}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let conf = format!(
            "listen: \"127.0.0.1:-1\"\nserver_name: {name}\nlog_file: \"{}\"\n{extra}\ncluster {{\n  name: C1\n  listen: \"127.0.0.1:{route_port}\"\n  routes: [{routes}]\n}}\n",
            log.display()
        );
        let path = dir.path().join("nats.conf");
        std::fs::write(&path, conf).unwrap();
        let bin = nats_server_bin();
        let child = std::process::Command::new(&bin)
            .arg("-c")
            .arg(&path)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let mut ns = NatsServer {
            child,
            client_port: 0,
            route_port,
            log,
            _dir: dir,
        };
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let text = std::fs::read_to_string(&ns.log).unwrap_or_default();
            let port = text
                .lines()
                .find_map(|l| l.split("Listening for client connections on ").nth(1))
                .and_then(|hp| hp.trim().rsplit(':').next())
                .and_then(|p| p.parse::<u16>().ok());
            if let (Some(port), true) = (port, text.contains("Listening for route connections")) {
                ns.client_port = port;
                return ns;
            }
            if let Ok(Some(status)) = ns.child.try_wait() {
                panic!("nats-server exited ({status}): {text}");
            }
            assert!(
                std::time::Instant::now() < deadline,
                "nats-server not ready: {text}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// The nats-server binary: `$NATS_SERVER`, else `nats-server` on PATH, else
/// /usr/sbin/nats-server.
pub fn nats_server_bin() -> std::path::PathBuf {
    if let Some(p) = std::env::var_os("NATS_SERVER") {
        return p.into();
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let cand = dir.join("nats-server");
            if cand.is_file() {
                return cand;
            }
        }
    }
    "/usr/sbin/nats-server".into()
}
