//! Smoke tests of the load generator against an in-process tracebus and the
//! built-in sink: they check message *counts* (what each scenario promises to
//! verify), never timing.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tracebus::config::Options;
use tracebus::server::{Server, ServerHandle};
use tracebus_tools::bench::{params_from_args, run, sink, Scenario};

async fn start_server() -> ServerHandle {
    let opts = Options {
        host: "127.0.0.1".into(),
        port: 0,
        ..Options::default()
    };
    Server::start(opts).await.expect("server starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pubsub_delivers_every_message_once() {
    let server = start_server().await;
    let url = server.client_url();
    let p = params_from_args(
        Scenario::PubSub,
        &["--url", &url, "--msgs", "20000", "--size", "100"],
    )
    .unwrap();
    let r = run(&p).await.unwrap();
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.expected, 20_000);
    assert_eq!(r.delivered, 20_000);
    assert_eq!(r.publishers.as_ref().unwrap().msgs, 20_000);
    assert_eq!(r.subscribers.as_ref().unwrap().bytes, 20_000 * 100);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_members_share_messages_exactly_once_in_total() {
    let server = start_server().await;
    let url = server.client_url();
    let p = params_from_args(
        Scenario::Queue,
        &["--url", &url, "--msgs", "20000", "--subs", "4"],
    )
    .unwrap();
    let r = run(&p).await.unwrap();
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.expected, 20_000);
    assert_eq!(r.delivered, 20_000);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanout_over_wildcard_subjects_reaches_every_subscriber() {
    let server = start_server().await;
    let url = server.client_url();
    let args = [
        "--url",
        &url,
        "--msgs",
        "5000",
        "--subs",
        "3",
        "--subjects",
        "50",
        "--sub-wildcards",
        "20",
    ];
    let p = params_from_args(Scenario::Fanout, &args).unwrap();
    let r = run(&p).await.unwrap();
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.delivered, 15_000);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reqrep_and_conns_complete() {
    let server = start_server().await;
    let url = server.client_url();
    let pid = std::process::id().to_string();
    let p = params_from_args(
        Scenario::ReqRep,
        &[
            "--url",
            &url,
            "--msgs",
            "200",
            "--warmup",
            "10",
            "--server-pid",
            &pid,
        ],
    )
    .unwrap();
    let r = run(&p).await.unwrap();
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.latency.unwrap().count, 200);
    let p = params_from_args(
        Scenario::Conns,
        &["--url", &url, "--conns", "200", "--server-pid", &pid],
    )
    .unwrap();
    let r = run(&p).await.unwrap();
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.delivered, 200);
    assert!(r.conns.unwrap().rss_per_conn_bytes.is_some());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sink_swallows_exactly_what_pub_sends() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("nats://{}", listener.local_addr().unwrap());
    let stats = Arc::new(sink::SinkStats::default());
    let serving = tokio::spawn(sink::serve(listener, stats.clone()));
    let p = params_from_args(
        Scenario::Pub,
        &["--url", &url, "--msgs", "30000", "--pubs", "2"],
    )
    .unwrap();
    let r = run(&p).await.unwrap();
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    // Every publisher waited for the PONG after its last batch, so the sink
    // has parsed everything by now.
    assert_eq!(stats.msgs.load(Ordering::Relaxed), 30_000);
    assert_eq!(stats.bytes.load(Ordering::Relaxed), 30_000 * 128);
    serving.abort();
}
