//! The shipped multi-team configuration (`conf/teams.conf`) runs: every user
//! of every team connects with its kind of credential (plain password, bcrypt
//! password, nkey) through async-nats, each team sees its own traces only,
//! shared traces arrive under the importer's subjects, control requests reach
//! tracers that answer through `allow_responses`, and service imports (single
//! and streamed responses) cross accounts. The same scenario runs against
//! nats-server (ignored by default) to show the file means the same there.

mod common;
#[path = "common/raw.rs"]
mod raw;
#[path = "auth_support/mod.rs"]
mod support;

use std::path::Path;
use std::time::Duration;

use async_nats::{Client, ConnectOptions, Subscriber};
use futures::StreamExt;
use raw::Kind;
use support::ConfServer;

const WAIT: Duration = Duration::from_secs(10);

fn conf_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("conf/teams.conf")
}

/// The file without its `port:` line (the harness picks a free port).
fn conf_text() -> String {
    std::fs::read_to_string(conf_path())
        .unwrap()
        .lines()
        .filter(|l| !l.trim_start().starts_with("port:"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The demo nkey seed of a team, from the file's comment block.
fn seed(team: &str) -> String {
    let text = std::fs::read_to_string(conf_path()).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("#   {team}-viewer:")))
        .unwrap_or_else(|| panic!("no demo credentials for {team}"));
    line.split("nkey seed ").nth(1).unwrap().trim().to_string()
}

/// A client and the `-ERR` texts the server sent it.
struct Conn {
    client: Client,
    errors: tokio::sync::Mutex<tokio::sync::mpsc::UnboundedReceiver<String>>,
}

impl std::ops::Deref for Conn {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

struct Team {
    tracer: Conn,
    viewer: Conn,
    service: Conn,
}

async fn conn(url: &str, opts: ConnectOptions, what: &str) -> Conn {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let client = opts
        .event_callback(move |event| {
            let tx = tx.clone();
            async move {
                if let async_nats::Event::ServerError(e) = event {
                    let _ = tx.send(e.to_string());
                }
            }
        })
        .connect(url)
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    Conn {
        client,
        errors: tokio::sync::Mutex::new(rx),
    }
}

async fn team(url: &str, name: &str) -> Team {
    let tracer = conn(
        url,
        ConnectOptions::with_user_and_password(
            format!("{name}-tracer"),
            format!("{name}-tracer-pw"),
        ),
        "tracer (plain password)",
    )
    .await;
    let viewer = conn(
        url,
        ConnectOptions::with_user_and_password(
            format!("{name}-viewer"),
            format!("{name}-viewer-pw"),
        ),
        "viewer (bcrypt password)",
    )
    .await;
    let service = conn(url, ConnectOptions::with_nkey(seed(name)), "nkey user").await;
    Team {
        tracer,
        viewer,
        service,
    }
}

/// Proves the server processed every earlier op of `c` (async-nats's flush
/// only writes the client's buffer out). Publishing to `zz.sync` is refused to
/// every restricted user of the file, and the `-ERR` is the round trip; an
/// unrestricted user gets its own message back instead.
async fn round_trip(c: &Conn) {
    let inbox = c.new_inbox();
    let mut sub = c.subscribe(inbox.clone()).await.unwrap();
    c.publish(inbox, "sync".into()).await.unwrap();
    c.publish("zz.sync", "sync".into()).await.unwrap();
    c.flush().await.unwrap();
    let mut errors = c.errors.lock().await;
    let deadline = tokio::time::sleep(WAIT);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            m = sub.next() => {
                assert_eq!(m.unwrap().payload, "sync");
                return;
            }
            // The refusals of the inbox SUB/PUB (if any) come first; the
            // one for zz.sync is the last thing the server answers.
            e = errors.recv() => if e.unwrap().contains("zz.sync") {
                return;
            },
            _ = &mut deadline => panic!("no round trip"),
        }
    }
}

/// The next `-ERR` the server sent to `c`.
async fn next_error(c: &Conn) -> String {
    let mut errors = c.errors.lock().await;
    tokio::time::timeout(WAIT, errors.recv())
        .await
        .expect("an -ERR arrives")
        .unwrap()
}

/// The next message that is not a [`round_trip`] probe.
async fn next_real(sub: &mut Subscriber, wait: Duration) -> Option<async_nats::Message> {
    loop {
        match tokio::time::timeout(wait, sub.next()).await {
            Ok(Some(m)) if m.payload == "sync" => continue,
            Ok(m) => return m,
            Err(_) => return None,
        }
    }
}

async fn expect(sub: &mut Subscriber, subject: &str, payload: &str) {
    let m = next_real(sub, WAIT)
        .await
        .unwrap_or_else(|| panic!("nothing arrived, expected {subject}"));
    assert_eq!(m.subject.as_str(), subject);
    assert_eq!(m.payload, payload.as_bytes());
}

async fn expect_nothing(sub: &mut Subscriber, what: &str) {
    let got = next_real(sub, Duration::from_millis(200)).await;
    assert!(got.is_none(), "{what}: unexpected {got:?}");
}

async fn scenario(url: &str) {
    let checkout = team(url, "checkout").await;
    let payments = team(url, "payments").await;
    let search = team(url, "search").await;

    // Who watches what.
    let mut checkout_traces = checkout.viewer.subscribe("trace.checkout.>").await.unwrap();
    let mut payments_traces = payments.viewer.subscribe("trace.payments.>").await.unwrap();
    let mut payments_sees_checkout = payments
        .viewer
        .subscribe("checkout.trace.checkout.>")
        .await
        .unwrap();
    let mut search_sees_payments = search.viewer.subscribe("payments.>").await.unwrap();
    // Full access inside each account: the nkey users watch everything.
    let mut checkout_all = checkout.service.subscribe(">").await.unwrap();
    let mut search_all = search.service.subscribe("search.>").await.unwrap();
    for c in [
        &checkout.viewer,
        &payments.viewer,
        &search.viewer,
        &checkout.service,
        &search.service,
    ] {
        round_trip(c).await;
    }

    // CHECKOUT's traces: its viewer, and PAYMENTS under "checkout.".
    checkout
        .tracer
        .publish("trace.checkout.web1.42.log", "co-1".into())
        .await
        .unwrap();
    round_trip(&checkout.tracer).await;
    expect(&mut checkout_traces, "trace.checkout.web1.42.log", "co-1").await;
    expect(&mut checkout_all, "trace.checkout.web1.42.log", "co-1").await;
    expect(
        &mut payments_sees_checkout,
        "checkout.trace.checkout.web1.42.log",
        "co-1",
    )
    .await;
    expect_nothing(&mut search_sees_payments, "SEARCH must not see CHECKOUT").await;

    // PAYMENTS' traces: its viewer, and SEARCH under "payments.".
    payments
        .tracer
        .publish("trace.payments.api.7.funclog", "pay-1".into())
        .await
        .unwrap();
    round_trip(&payments.tracer).await;
    expect(
        &mut payments_traces,
        "trace.payments.api.7.funclog",
        "pay-1",
    )
    .await;
    expect(&mut search_sees_payments, "payments.api.7.funclog", "pay-1").await;
    expect_nothing(&mut checkout_traces, "CHECKOUT must not see PAYMENTS").await;
    expect_nothing(&mut checkout_all, "CHECKOUT must not see PAYMENTS").await;

    // A tracer may not publish outside its team's trace subjects; the message
    // is dropped (and the connection stays usable).
    checkout
        .tracer
        .publish("trace.payments.fake.1.log", "forged".into())
        .await
        .unwrap();
    let e = next_error(&checkout.tracer).await;
    assert!(
        e.contains("Permissions Violation for Publish to \"trace.payments.fake.1.log\""),
        "{e}"
    );
    expect_nothing(&mut payments_traces, "a forged trace").await;
    expect_nothing(&mut checkout_all, "a refused publish").await;

    // A control request from the viewer to its tracer, answered through
    // allow_responses.
    let mut ctl = checkout
        .tracer
        .subscribe("trace.ctl.checkout.>")
        .await
        .unwrap();
    round_trip(&checkout.tracer).await;
    let tracer = checkout.tracer.client.clone();
    let answer = tokio::spawn(async move {
        let req = tokio::time::timeout(WAIT, ctl.next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(req.subject.as_str(), "trace.ctl.checkout.web1.42");
        tracer
            .publish(req.reply.unwrap(), "started".into())
            .await
            .unwrap();
        tracer.flush().await.unwrap();
    });
    let resp = tokio::time::timeout(
        WAIT,
        checkout
            .viewer
            .request("trace.ctl.checkout.web1.42", "start".into()),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(resp.payload, "started");
    answer.await.unwrap();
    // Drain what the nkey user saw of that exchange.
    while next_real(&mut checkout_all, Duration::from_millis(100))
        .await
        .is_some()
    {}

    // CHECKOUT calls PAYMENTS' card lookup as "lookup.card".
    let mut lookups = payments
        .service
        .subscribe("payments.lookup.card")
        .await
        .unwrap();
    round_trip(&payments.service).await;
    let svc = payments.service.client.clone();
    let server_side = tokio::spawn(async move {
        let req = tokio::time::timeout(WAIT, lookups.next())
            .await
            .unwrap()
            .unwrap();
        let reply = req.reply.unwrap();
        assert!(reply.starts_with("_R_."), "mapped reply: {reply}");
        svc.publish(
            reply,
            format!("card ok: {}", String::from_utf8_lossy(&req.payload)).into(),
        )
        .await
        .unwrap();
        svc.flush().await.unwrap();
    });
    let resp = tokio::time::timeout(WAIT, checkout.viewer.request("lookup.card", "4242".into()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resp.payload, "card ok: 4242");
    server_side.await.unwrap();

    // SEARCH streams three answers per query.
    let mut queries = search.service.subscribe("search.query").await.unwrap();
    round_trip(&search.service).await;
    let inbox = checkout.viewer.new_inbox();
    let mut answers = checkout.viewer.subscribe(inbox.clone()).await.unwrap();
    checkout
        .viewer
        .publish_with_reply("search", inbox, "needle".into())
        .await
        .unwrap();
    checkout.viewer.flush().await.unwrap();
    let q = tokio::time::timeout(WAIT, queries.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(q.payload, "needle");
    let reply = q.reply.unwrap();
    for i in 0..3 {
        search
            .service
            .publish(reply.clone(), format!("hit {i}").into())
            .await
            .unwrap();
    }
    search.service.flush().await.unwrap();
    for i in 0..3 {
        let m = tokio::time::timeout(WAIT, answers.next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(m.payload, format!("hit {i}").as_bytes());
    }
    // The service's own subscription saw the query only (its answers go to
    // the mapped reply, outside search.>).
    expect(&mut search_all, "search.query", "needle").await;
    expect_nothing(&mut search_all, "search.>").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn teams_conf_runs_with_every_auth_kind_and_sharing() {
    let opts = tracebus::config::Options::from_file(&conf_path()).unwrap();
    assert_eq!(opts.accounts.len(), 3);
    let s = ConfServer::start(Kind::Tracebus, &conf_text()).await;
    let handle = s.handle().unwrap();
    assert_eq!(
        handle.account_names(),
        ["$G", "$SYS", "CHECKOUT", "PAYMENTS", "SEARCH"]
    );
    scenario(&format!("nats://{}", s.addr())).await;
    for team in ["CHECKOUT", "PAYMENTS", "SEARCH"] {
        assert_eq!(handle.account(team).unwrap().num_clients(), 3, "{team}");
    }
    assert_eq!(handle.account("$SYS").unwrap().num_clients(), 0);
    // Every singleton reply mapping ended with its response.
    assert_eq!(handle.account("PAYMENTS").unwrap().pending_responses(), 0);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs nats-server"]
async fn teams_conf_scenario_nats_server() {
    let s = ConfServer::start(Kind::NatsServer, &conf_text()).await;
    scenario(&format!("nats://{}", s.addr())).await;
    s.stop().await;
}

#[test]
fn teams_conf_checks_with_the_binary() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tracebus"))
        .arg("-c")
        .arg(conf_path())
        .arg("-t")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("is valid"), "{text}");
}
