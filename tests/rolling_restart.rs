//! Rolling restart of a three-node cluster of `tracebus` processes while an
//! async-nats publisher sends numbered messages at a fixed rate and a
//! subscriber counts them. Each node in turn is put in lame duck mode
//! (`tracebus --signal ldm=<pid file>`), exits by itself and is started again
//! with the same configuration. Delivery must resume after every step; the
//! messages lost and duplicated are reported (run with `--nocapture`).
//!
//! Also checks that the three-node example in conf/ is valid.

mod cluster_support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cluster_support::proc::{free_port, Proc, BIN};
use cluster_support::WAIT;
use futures::StreamExt;

/// Messages per second from the publisher.
const RATE: u64 = 500;

struct Node {
    conf: PathBuf,
    pid_file: PathBuf,
    client_port: u16,
    proc: Option<Proc>,
}

impl Node {
    fn start(&mut self) {
        let mut p = Proc::spawn(&["-c", self.conf.to_str().unwrap()]);
        p.wait_line("Server is ready");
        self.proc = Some(p);
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.client_port)
    }
}

/// The `connect_urls` a new client of `port` is told, if it can connect.
fn advertised(port: u16) -> Option<Vec<String>> {
    use std::io::{BufRead, BufReader};
    let s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).ok()?;
    let v: serde_json::Value = serde_json::from_str(line.strip_prefix("INFO ")?.trim_end()).ok()?;
    Some(
        v["connect_urls"]
            .as_array()
            .map(|a| a.iter().map(|u| u.as_str().unwrap().to_string()).collect())
            .unwrap_or_default(),
    )
}

/// Waits until every node tells clients about all three nodes: the routes
/// between all of them are up.
async fn wait_full_mesh(nodes: &[Node]) {
    let deadline = Instant::now() + WAIT;
    loop {
        let ok = nodes
            .iter()
            .all(|n| advertised(n.client_port).is_some_and(|u| u.len() == nodes.len()));
        if ok {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "cluster did not form a full mesh"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn write_confs(dir: &Path) -> Vec<Node> {
    let route_ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let routes: Vec<String> = route_ports
        .iter()
        .map(|p| format!("nats-route://127.0.0.1:{p}"))
        .collect();
    (0..3)
        .map(|i| {
            let client_port = free_port();
            let pid_file = dir.join(format!("n{i}.pid"));
            let conf = dir.join(format!("n{i}.conf"));
            std::fs::write(
                &conf,
                format!(
                    "server_name: n{i}\nlisten: 127.0.0.1:{client_port}\npid_file: \"{}\"\n\
                     lame_duck_grace_period: \"500ms\"\nlame_duck_duration: \"2s\"\n\
                     cluster {{\n  name: rolling\n  listen: 127.0.0.1:{}\n  routes: [{}]\n}}\n",
                    pid_file.display(),
                    route_ports[i],
                    routes.join(", ")
                ),
            )
            .unwrap();
            Node {
                conf,
                pid_file,
                client_port,
                proc: None,
            }
        })
        .collect()
}

/// What the subscriber saw: message number → copies.
type Seen = Arc<Mutex<HashMap<u64, u32>>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_restart_keeps_tracers_and_viewers_working() {
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = write_confs(dir.path());
    for n in nodes.iter_mut() {
        n.start();
    }
    wait_full_mesh(&nodes).await;
    let urls: Vec<String> = nodes.iter().map(Node::url).collect();

    // The viewer starts on node 1 and the tracer on node 3 (their lists in
    // opposite orders), so every restart moves one of them or the route
    // between them.
    let sub_client = async_nats::ConnectOptions::new()
        .retain_servers_order()
        .connect(urls.clone())
        .await
        .unwrap();
    let mut rev = urls.clone();
    rev.reverse();
    let pub_client = async_nats::ConnectOptions::new()
        .retain_servers_order()
        .connect(rev)
        .await
        .unwrap();
    let mut sub = sub_client.subscribe("trace.app.host.1.log").await.unwrap();
    sub_client.flush().await.unwrap();

    let seen: Seen = Arc::default();
    let last_seen = Arc::new(AtomicU64::new(0));
    let probes = Arc::new(AtomicU64::new(0));
    let viewer = {
        let probes = probes.clone();
        let seen = seen.clone();
        let last_seen = last_seen.clone();
        tokio::spawn(async move {
            while let Some(m) = sub.next().await {
                let n: u64 = std::str::from_utf8(&m.payload).unwrap().parse().unwrap();
                if n == 0 {
                    // A probe from before the count started.
                    probes.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                *seen.lock().unwrap().entry(n).or_default() += 1;
                last_seen.fetch_max(n, Ordering::Relaxed);
            }
        })
    };
    // Wait until the subscription reached the publisher's node.
    let deadline = Instant::now() + WAIT;
    while probes.load(Ordering::Relaxed) == 0 {
        pub_client
            .publish("trace.app.host.1.log", "0".into())
            .await
            .unwrap();
        pub_client.flush().await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(Instant::now() < deadline, "no delivery before the restarts");
    }

    let sent = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let tracer = {
        let sent = sent.clone();
        let stop = stop.clone();
        let client = pub_client.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / RATE));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                n += 1;
                client
                    .publish("trace.app.host.1.log", n.to_string().into())
                    .await
                    .unwrap();
                sent.store(n, Ordering::Relaxed);
            }
        })
    };

    // Steady state first.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for i in 0..nodes.len() {
        let started = Instant::now();
        let out = std::process::Command::new(BIN)
            .arg("--signal")
            .arg(format!("ldm={}", nodes[i].pid_file.display()))
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let mut p = nodes[i].proc.take().unwrap();
        let status = tokio::task::spawn_blocking(move || {
            let s = p.wait_exit();
            (s, p)
        })
        .await
        .unwrap();
        assert!(status.0.success(), "node {i} exit: {:?}", status.0);
        let drained = started.elapsed();
        nodes[i].start();
        wait_full_mesh(&nodes).await;
        // Delivery resumes: a message sent after the node came back arrives.
        let mark = sent.load(Ordering::Relaxed);
        let deadline = Instant::now() + WAIT;
        while last_seen.load(Ordering::Relaxed) <= mark {
            assert!(
                Instant::now() < deadline,
                "delivery did not resume after restarting node {}",
                i + 1
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        eprintln!(
            "node {} drained in {:?}, back and meshed after {:?}",
            i + 1,
            drained,
            started.elapsed()
        );
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    tracer.await.unwrap();
    pub_client.flush().await.unwrap();
    let total = sent.load(Ordering::Relaxed);
    // Let everything in flight arrive.
    let deadline = Instant::now() + Duration::from_secs(5);
    while last_seen.load(Ordering::Relaxed) < total && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    viewer.abort();

    let seen = seen.lock().unwrap();
    let received: u64 = seen.values().map(|&c| u64::from(c)).sum();
    let unique = seen.keys().filter(|&&n| n >= 1 && n <= total).count() as u64;
    let lost = total - unique;
    let duplicated = received - unique;
    let mut gaps: Vec<(u64, u64)> = Vec::new();
    let mut n = 1;
    while n <= total {
        if !seen.contains_key(&n) {
            let start = n;
            while n <= total && !seen.contains_key(&n) {
                n += 1;
            }
            gaps.push((start, n - 1));
        }
        n += 1;
    }
    eprintln!(
        "rolling restart of 3 nodes at {RATE} msg/s: sent {total}, received {received}, lost {lost} ({:.3}%), duplicated {duplicated}; gaps {gaps:?}",
        100.0 * lost as f64 / total as f64
    );
    assert!(total > 0);
    // No message arrives twice, and the losses stay a small fraction.
    assert_eq!(duplicated, 0, "duplicates");
    assert!(
        lost * 20 < total,
        "lost {lost} of {total} messages in the rolling restart"
    );
    for n in nodes.iter_mut() {
        if let Some(p) = &n.proc {
            p.signal(libc::SIGTERM);
        }
        if let Some(mut p) = n.proc.take() {
            assert!(p.wait_exit().success());
        }
    }
}

#[test]
fn example_cluster_configs_are_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut route_ports = Vec::new();
    for (i, n) in ["a", "b", "c"].iter().enumerate() {
        let path = root.join(format!("conf/cluster-{n}.conf"));
        let o = tracebus::config::Options::from_file(&path).unwrap();
        assert_eq!(o.port, 4222 + i as i32);
        let c = o.cluster.expect("cluster block");
        assert_eq!(c.name.as_deref(), Some("tracebus"));
        assert_eq!(c.routes.len(), 3);
        route_ports.push(c.port.unwrap());
        assert!(o.lame_duck_grace_period < o.lame_duck_duration);
    }
    assert_eq!(route_ports, [6222, 6223, 6224]);
}
