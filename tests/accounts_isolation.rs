//! Account isolation with the official client (async-nats): users of two
//! accounts on the same subjects see only their own traffic, and a randomized
//! run over several accounts with stream imports checks every delivery
//! against a model of "own account, or an import that maps it" — any other
//! delivery (a cross-account leak) or any missing one fails the test.

mod common;
#[path = "common/raw.rs"]
mod raw;
#[path = "auth_support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::time::Duration;

use async_nats::ConnectOptions;
use futures::StreamExt;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tracebus::config::{
    AccountOptions, ExportKind, ExportOptions, ImportOptions, Options, UserOptions,
};
use tracebus::server::ServerHandle;
use tracebus::subject::subject_matches;

const WAIT: Duration = Duration::from_secs(10);

fn user(name: &str) -> UserOptions {
    UserOptions {
        user: Some(name.into()),
        password: Some(format!("{name}-pw")),
        ..Default::default()
    }
}

/// A round trip through the server: async-nats's `flush` only writes out the
/// client's buffer, so it does not prove the server has processed earlier SUBs.
/// Publishing to a private subject and receiving the echo does (one connection's
/// ops are processed in order).
async fn round_trip(client: &async_nats::Client) {
    let subject = format!("zz.barrier.{}", rand::random::<u64>());
    let mut sub = client.subscribe(subject.clone()).await.unwrap();
    client.publish(subject, "barrier".into()).await.unwrap();
    client.flush().await.unwrap();
    let m = tokio::time::timeout(WAIT, sub.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.payload, "barrier");
}

/// The next message that is not a [`round_trip`] barrier, if one comes in `wait`.
async fn next_real(
    sub: &mut async_nats::Subscriber,
    wait: Duration,
) -> Option<async_nats::Message> {
    loop {
        match tokio::time::timeout(wait, sub.next()).await {
            Ok(Some(m)) if m.payload == "barrier" => continue,
            Ok(m) => return m,
            Err(_) => return None,
        }
    }
}

async fn connect(server: &ServerHandle, name: &str) -> async_nats::Client {
    ConnectOptions::with_user_and_password(name.into(), format!("{name}-pw"))
        .connect(server.client_url())
        .await
        .unwrap_or_else(|e| panic!("{name} connects: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_accounts_same_subjects_see_only_their_own() {
    let mut a = AccountOptions::new("TEAM_A");
    a.users = vec![user("a1"), user("a2")];
    let mut b = AccountOptions::new("TEAM_B");
    b.users = vec![user("b1"), user("b2")];
    let mut opts = common::test_options();
    opts.accounts = vec![a, b];
    let server = common::start(opts).await;

    let a1 = connect(&server, "a1").await;
    let a2 = connect(&server, "a2").await;
    let b1 = connect(&server, "b1").await;
    let b2 = connect(&server, "b2").await;
    let mut subs = Vec::new();
    for c in [&a1, &a2, &b1, &b2] {
        subs.push((
            c.subscribe("trace.checkout.>").await.unwrap(),
            c.subscribe(">").await.unwrap(),
            c.queue_subscribe("trace.*.h.1.log", "q".into())
                .await
                .unwrap(),
        ));
        round_trip(c).await;
    }
    for i in 0..10 {
        a1.publish("trace.checkout.h.1.log", format!("A{i}").into())
            .await
            .unwrap();
        b2.publish("trace.checkout.h.1.log", format!("B{i}").into())
            .await
            .unwrap();
    }
    a1.flush().await.unwrap();
    b2.flush().await.unwrap();

    for (idx, (lit, all, _q)) in subs.iter_mut().enumerate() {
        let own = if idx < 2 { 'A' } else { 'B' };
        for sub in [lit, all] {
            for i in 0..10 {
                let m = next_real(sub, WAIT).await.expect("message arrives");
                assert_eq!(m.payload, format!("{own}{i}").as_bytes(), "client {idx}");
            }
        }
    }
    // The queue group exists in both accounts with the same name: each
    // account's group gets its own account's 10 messages once.
    let mut per_account = [0usize; 2];
    for (idx, (_, _, q)) in subs.iter_mut().enumerate() {
        let own = if idx < 2 { b'A' } else { b'B' };
        while let Some(m) = next_real(q, Duration::from_millis(300)).await {
            assert_eq!(
                m.payload[0], own,
                "queue member {idx} got another account's message"
            );
            per_account[idx / 2] += 1;
        }
    }
    assert_eq!(per_account, [10, 10]);
    // Nothing else is pending anywhere.
    for (idx, (lit, all, _)) in subs.iter_mut().enumerate() {
        for sub in [lit, all] {
            let extra = next_real(sub, Duration::from_millis(100)).await;
            assert!(extra.is_none(), "client {idx}: unexpected {extra:?}");
        }
    }
    assert_eq!(server.account("TEAM_A").unwrap().num_clients(), 2);
    assert_eq!(server.account("TEAM_B").unwrap().num_clients(), 2);
    server.shutdown().await;
}

// ------------------------------------------------------------------ randomized

/// A stream import in the model: messages published in `from` on subjects
/// matching `filter` reach `to` as `prefix.<subject>`.
struct Import {
    from: usize,
    to: usize,
    filter: &'static str,
    prefix: &'static str,
}

const ACCOUNTS: usize = 4;
const TOKENS: &[&str] = &["a", "b", "c", "t0", "x"];

fn imports() -> Vec<Import> {
    vec![
        Import {
            from: 0,
            to: 1,
            filter: "a.>",
            prefix: "t0",
        },
        Import {
            from: 0,
            to: 2,
            filter: "*.b",
            prefix: "x",
        },
        // T3 takes everything T1 publishes, but not what T1 itself imports.
        Import {
            from: 1,
            to: 3,
            filter: ">",
            prefix: "t1",
        },
    ]
}

fn options() -> Options {
    let mut opts = common::test_options();
    for n in 0..ACCOUNTS {
        let mut a = AccountOptions::new(&format!("T{n}"));
        a.users = (0..2).map(|c| user(&format!("u{n}{c}"))).collect();
        a.exports = vec![ExportOptions {
            kind: ExportKind::Stream,
            subject: ">".into(),
            accounts: None,
            response_type: Default::default(),
            response_threshold: Duration::from_secs(120),
            pos: None,
        }];
        opts.accounts.push(a);
    }
    for im in imports() {
        opts.accounts[im.to].imports.push(ImportOptions {
            kind: ExportKind::Stream,
            account: format!("T{}", im.from),
            subject: im.filter.into(),
            to: None,
            prefix: Some(im.prefix.into()),
            pos: None,
        });
    }
    opts
}

/// The same accounts as configuration text (for nats-server and for
/// tracebus's config reader).
fn conf_text() -> String {
    let mut c = String::from("accounts {\n");
    for n in 0..ACCOUNTS {
        c.push_str(&format!(
            "  T{n}: {{\n    users: [ {{user: u{n}0, password: u{n}0-pw}}, {{user: u{n}1, password: u{n}1-pw}} ]\n    exports: [ {{stream: \">\"}} ]\n    imports: [\n"
        ));
        for im in imports().iter().filter(|im| im.to == n) {
            c.push_str(&format!(
                "      {{stream: {{account: T{}, subject: \"{}\"}}, prefix: {}}}\n",
                im.from, im.filter, im.prefix
            ));
        }
        c.push_str("    ]\n  }\n");
    }
    c.push_str("}\n");
    c
}

fn random_subject(rng: &mut StdRng) -> String {
    let n = rng.gen_range(1..=3);
    (0..n)
        .map(|_| TOKENS[rng.gen_range(0..TOKENS.len())])
        .collect::<Vec<_>>()
        .join(".")
}

fn random_filter(rng: &mut StdRng) -> String {
    let n = rng.gen_range(1..=4);
    let mut toks: Vec<&str> = Vec::new();
    for i in 0..n {
        let r = rng.gen_range(0..10);
        if r == 0 && i + 1 == n {
            toks.push(">");
        } else if r < 3 {
            toks.push("*");
        } else {
            toks.push(TOKENS[rng.gen_range(0..TOKENS.len())]);
        }
    }
    toks.join(".")
}

/// Where a message published in `account` on `subject` must arrive:
/// (account, subject as delivered).
fn model(account: usize, subject: &str) -> Vec<(usize, String)> {
    let mut out = vec![(account, subject.to_string())];
    for im in imports() {
        if im.from == account && subject_matches(im.filter.as_bytes(), subject.as_bytes()) {
            out.push((im.to, format!("{}.{subject}", im.prefix)));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn randomized_isolation_across_accounts_and_imports() {
    let server = common::start(options()).await;
    randomized(&server.client_url(), Some(&server)).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn randomized_isolation_from_config_text() {
    let s = support::ConfServer::start(raw::Kind::Tracebus, &conf_text()).await;
    randomized(&format!("nats://{}", s.addr()), s.handle()).await;
    s.stop().await;
}

/// The same run against nats-server: checks the model itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs nats-server"]
async fn randomized_isolation_nats_server() {
    let s = support::ConfServer::start(raw::Kind::NatsServer, &conf_text()).await;
    randomized(&format!("nats://{}", s.addr()), None).await;
    s.stop().await;
}

async fn connect_url(url: &str, name: &str) -> async_nats::Client {
    ConnectOptions::with_user_and_password(name.into(), format!("{name}-pw"))
        .connect(url)
        .await
        .unwrap_or_else(|e| panic!("{name} connects: {e}"))
}

async fn randomized(url: &str, server: Option<&ServerHandle>) {
    let seed: u64 = std::env::var("ISOLATION_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::thread_rng().gen());
    eprintln!("randomized isolation: ISOLATION_SEED={seed}");
    let mut rng = StdRng::seed_from_u64(seed);

    // Two connections per account, four random subscriptions each.
    let mut clients: Vec<(usize, async_nats::Client)> = Vec::new();
    for n in 0..ACCOUNTS {
        for c in 0..2 {
            clients.push((n, connect_url(url, &format!("u{n}{c}")).await));
        }
    }
    struct Sub {
        account: usize,
        filter: String,
        sub: async_nats::Subscriber,
        got: Vec<(String, String)>,
        want: Vec<(String, String)>,
    }
    let mut subs: Vec<Sub> = Vec::new();
    for (account, client) in &clients {
        for _ in 0..4 {
            let filter = random_filter(&mut rng);
            let sub = client.subscribe(filter.clone()).await.unwrap();
            subs.push(Sub {
                account: *account,
                filter,
                sub,
                got: Vec::new(),
                want: Vec::new(),
            });
        }
        round_trip(client).await;
    }

    // Random publishes; the payload names the publisher's account.
    let mut published = vec![0usize; clients.len()];
    for id in 0..1000 {
        let (account, client) = &clients[rng.gen_range(0..clients.len())];
        let subject = random_subject(&mut rng);
        let payload = format!(
            "T{account}#{id}#{}",
            clients
                .iter()
                .position(|(_, c2)| std::ptr::eq(c2, client))
                .unwrap()
        );
        for (to, delivered) in model(*account, &subject) {
            for s in subs.iter_mut().filter(|s| s.account == to) {
                if subject_matches(s.filter.as_bytes(), delivered.as_bytes()) {
                    s.want.push((delivered.clone(), payload.clone()));
                }
            }
        }
        published[clients
            .iter()
            .position(|(_, c2)| std::ptr::eq(c2, client))
            .unwrap()] += 1;
        client.publish(subject, payload.into()).await.unwrap();
    }
    for (_, c) in &clients {
        c.flush().await.unwrap();
    }

    let mut deliveries = 0;
    let deadline = tokio::time::Instant::now() + WAIT;
    for s in &mut subs {
        while s.got.len() < s.want.len() {
            let Ok(m) = tokio::time::timeout_at(deadline, s.sub.next()).await else {
                break;
            };
            let m = m.unwrap();
            if m.payload == "barrier" {
                continue;
            }
            s.got.push((
                m.subject.to_string(),
                String::from_utf8_lossy(&m.payload).into_owned(),
            ));
        }
        deliveries += s.got.len();
    }
    // Let any stray delivery arrive, then compare exactly.
    tokio::time::sleep(Duration::from_millis(200)).await;
    for s in &mut subs {
        while let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(10), s.sub.next()).await
        {
            if m.payload == "barrier" {
                continue;
            }
            s.got.push((
                m.subject.to_string(),
                String::from_utf8_lossy(&m.payload).into_owned(),
            ));
        }
        // Every delivery must come from the subscriber's own account or
        // through an import into it.
        for (subject, payload) in &s.got {
            let from: usize = payload[1..payload.find('#').unwrap()].parse().unwrap();
            let legit = from == s.account
                || imports().iter().any(|im| {
                    im.from == from
                        && im.to == s.account
                        && subject.starts_with(&format!("{}.", im.prefix))
                });
            assert!(
                legit,
                "seed {seed}: LEAK: T{} sub {:?} got {subject} {payload}",
                s.account, s.filter
            );
        }
    }
    let mut bad = Vec::new();
    for s in &subs {
        let mut got = s.got.clone();
        let mut want = s.want.clone();
        got.sort();
        want.sort();
        if got != want {
            let missing: Vec<_> = want.iter().filter(|w| !got.contains(w)).collect();
            let extra: Vec<_> = got.iter().filter(|g| !want.contains(g)).collect();
            bad.push(format!(
                "T{} sub {:?}: {} of {} delivered; missing {missing:?}; extra {extra:?}",
                s.account,
                s.filter,
                got.len(),
                want.len()
            ));
        }
    }
    if !bad.is_empty() {
        for (i, (a, c)) in clients.iter().enumerate() {
            let st = c.statistics();
            bad.push(format!(
                "client {i} (T{a}): in_messages {} out_messages {} published {}",
                st.in_messages.load(std::sync::atomic::Ordering::Relaxed),
                st.out_messages.load(std::sync::atomic::Ordering::Relaxed),
                published[i]
            ));
        }
        for (i, s) in subs.iter().enumerate() {
            bad.push(format!(
                "sub {i} T{} {:?}: got {} want {}",
                s.account,
                s.filter,
                s.got.len(),
                s.want.len()
            ));
        }
    }
    assert!(bad.is_empty(), "seed {seed}:\n{}", bad.join("\n"));
    eprintln!("randomized isolation: {deliveries} deliveries checked");
    let mut per_account: HashMap<usize, usize> = HashMap::new();
    for (a, _) in &clients {
        *per_account.entry(*a).or_default() += 1;
    }
    if let Some(server) = server {
        for (a, n) in per_account {
            assert_eq!(server.account(&format!("T{a}")).unwrap().num_clients(), n);
        }
    }
}
