//! The scenarios: a streaming engine shared by `pub`, `sub`, `pubsub`,
//! `fanout`, `fanin` and `queue`; and the two special ones, `reqrep`
//! (sequential round trips) and `conns` (many idle connections).
//!
//! # Flow control
//! A benchmark that lets publishers write as fast as the kernel accepts does
//! not measure throughput: it measures how big the server's buffers are until
//! it declares the subscribers slow consumers and drops them. Two bounds keep
//! the run in the steady state a real deployment sees:
//! - each publisher ends every batch with a `PING` and lets at most
//!   `window` batches go unanswered, so it never gets further ahead of the
//!   server than `window × batch` bytes;
//! - with subscribers in this process, publishers also wait while the
//!   deliveries still owed to them exceed `max_lag` bytes, so no subscriber's
//!   backlog on the server can approach nats' 64 MiB slow-consumer limit.
//!
//! Neither bound is per message: the costs are one `PING`/`PONG` per batch
//! and one atomic add and wake-up check per read.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use hdrhistogram::Histogram;
use tokio::io::AsyncWriteExt;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::conn::{pub_frame, Conn};
use super::procfs;
use super::report::{per_sec, ConnsResult, Latency, Report, Side};
use super::wire::{msg_reply, ServerOp};
use super::{Params, Scenario};

/// Queue group name used by the `queue` scenario.
const QUEUE: &str = "bench-q";

/// Counters shared by publishers, subscribers and the coordinator.
#[derive(Default)]
struct Progress {
    /// Messages written by all publishers.
    published: AtomicU64,
    /// Messages received by all subscribers.
    received: AtomicU64,
    /// Signalled after every subscriber read that counted messages.
    notify: Notify,
}

impl Progress {
    /// Waits until `done()` holds, failing if nothing is received for
    /// `stall`. Uses `enable()` before checking so no wake-up is lost.
    async fn wait_until(&self, stall: Duration, done: impl Fn(&Self) -> bool) -> Result<()> {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if done(self) {
                return Ok(());
            }
            let before = self.received.load(Ordering::Relaxed);
            if tokio::time::timeout(stall, notified).await.is_err()
                && self.received.load(Ordering::Relaxed) == before
            {
                bail!(
                    "stalled: no delivery for {stall:?} ({} published, {} received)",
                    self.published.load(Ordering::Relaxed),
                    self.received.load(Ordering::Relaxed)
                );
            }
        }
    }
}

/// One subscriber's counters, kept in atomics because subscriber tasks are
/// aborted (not joined) once the expected total has arrived: a queue member
/// cannot know on its own that it is done.
#[derive(Default)]
struct SubStats {
    msgs: AtomicU64,
    /// Nanoseconds after the run's base instant of the first and last read
    /// that carried messages (0 = none yet).
    first_ns: AtomicU64,
    last_ns: AtomicU64,
    /// Messages whose payload length was not `--size`.
    bad_size: AtomicU64,
}

/// What the publishers send to and the subscribers subscribe to.
///
/// - one subject: `bench.0`, subscribed literally;
/// - `--subjects N`: round robin over `bench.0 … bench.N-1`, subscribers on
///   `bench.*` (every message crosses a wildcard match);
/// - `--sub-wildcards W`: each subscriber holds `bench.<j>.*` for j < W and
///   the publish subjects are `bench.<k mod W>.<k>` for k < N, so each
///   message matches exactly one of a subscriber's W subscriptions while the
///   server's sublist holds W × subs entries — the routing-heavy case.
pub fn subjects(subjects: usize, sub_wildcards: usize) -> (Vec<String>, Vec<String>) {
    let n = subjects.max(1);
    if sub_wildcards > 0 {
        let pubs = (0..n)
            .map(|k| format!("bench.{}.{k}", k % sub_wildcards))
            .collect();
        let subs = (0..sub_wildcards).map(|j| format!("bench.{j}.*")).collect();
        (pubs, subs)
    } else if n == 1 {
        (vec!["bench.0".into()], vec!["bench.0".into()])
    } else {
        (
            (0..n).map(|k| format!("bench.{k}")).collect(),
            vec!["bench.*".into()],
        )
    }
}

/// A deterministic payload (not all one byte, so nothing can compress or
/// special-case it).
fn payload(size: usize) -> Vec<u8> {
    (0..size).map(|i| b'a' + (i % 26) as u8).collect()
}

fn report_base(p: &Params) -> Report {
    Report {
        label: p.label.clone(),
        target: p.target_name.clone(),
        scenario: p.scenario.name().to_owned(),
        msgs: p.msgs,
        size: p.size,
        pubs: p.pubs,
        subs: p.subs,
        subjects: p.subjects,
        sub_wildcards: p.sub_wildcards,
        ..Report::default()
    }
}

fn server_cpu(p: &Params) -> Result<Option<u64>> {
    p.server_pid.map(procfs::cpu_ns).transpose()
}

/// CPU snapshots of the server (if its pid is known) and of this process.
struct CpuMark {
    server: Option<u64>,
    client: Option<u64>,
}

impl CpuMark {
    fn take(p: &Params) -> Result<CpuMark> {
        Ok(CpuMark {
            server: server_cpu(p)?,
            client: procfs::cpu_ns(std::process::id()).ok(),
        })
    }

    /// Fills the report's CPU fields for the phase from `self` to `end`.
    fn record(&self, end: &CpuMark, msgs: u64, r: &mut Report) {
        // The sums cover live threads only, so a thread that exits during the
        // phase can make the second reading smaller; the figure is then unknown
        // rather than a wrapped-around number.
        if let Some(d) = cpu_delta(self.server, end.server) {
            r.server_cpu_ns = Some(d);
            r.server_cpu_ns_per_msg = Some(d as f64 / msgs.max(1) as f64);
        }
        if let Some(d) = cpu_delta(self.client, end.client) {
            r.client_cpu_ns_per_msg = Some(d as f64 / msgs.max(1) as f64);
        }
    }
}

/// CPU nanoseconds between two readings, if both exist and did not go down.
fn cpu_delta(start: Option<u64>, end: Option<u64>) -> Option<u64> {
    end?.checked_sub(start?)
}

/// Runs `pub`, `sub`, `pubsub`, `fanout`, `fanin` or `queue`.
pub async fn stream(p: &Params) -> Result<Report> {
    let queue = p.scenario == Scenario::Queue;
    let (pub_subjects, sub_subjects) = subjects(p.subjects, p.sub_wildcards);
    let pub_subjects = Arc::new(pub_subjects);
    let body = Arc::new(payload(p.size));

    // Set-up (not measured): subscribers first, each PONG proving its SUBs
    // are registered, then publishers.
    let mut sub_conns = Vec::with_capacity(p.subs);
    for i in 0..p.subs {
        let mut c = Conn::connect(&p.target, &format!("bench-sub-{i}"), p.read_buf).await?;
        c.subscribe(&sub_subjects, queue.then_some(QUEUE)).await?;
        sub_conns.push(c);
    }
    let mut pub_conns = Vec::with_capacity(p.pubs);
    for i in 0..p.pubs {
        pub_conns.push(Conn::connect(&p.target, &format!("bench-pub-{i}"), 4096).await?);
    }
    if let Some(c) = pub_conns.first() {
        let max = c.info.max_payload;
        if max > 0 && p.size > max {
            bail!("--size {} exceeds the server's max_payload {max}", p.size);
        }
    }

    // Deliveries owed per published message.
    let fan: u64 = match (p.subs, queue) {
        (0, _) => 0,
        (_, true) => 1,
        (n, false) => n as u64,
    };
    let expected = p.msgs * fan;
    let lag_limit = (fan > 0 && p.max_lag > 0).then(|| (p.max_lag / (p.size + 48)).max(64) as u64);

    let progress = Arc::new(Progress::default());
    let base = Instant::now();
    let mut sub_stats = Vec::with_capacity(p.subs);
    let mut sub_tasks: Vec<JoinHandle<Result<()>>> = Vec::with_capacity(p.subs);
    for conn in sub_conns {
        let stats = Arc::new(SubStats::default());
        sub_stats.push(stats.clone());
        let progress = progress.clone();
        let size = p.size;
        sub_tasks.push(tokio::spawn(subscriber(conn, stats, progress, base, size)));
    }

    // Measured phase.
    let cpu0 = CpuMark::take(p)?;
    let t0 = Instant::now();
    let mut pub_tasks = Vec::with_capacity(p.pubs);
    for (i, conn) in pub_conns.into_iter().enumerate() {
        let share = p.msgs / p.pubs as u64 + u64::from((i as u64) < p.msgs % p.pubs as u64);
        let job = PubJob {
            msgs: share,
            subjects: pub_subjects.clone(),
            first_subject: i,
            payload: body.clone(),
            batch: p.batch,
            window: p.window,
            fan,
            lag_limit,
        };
        pub_tasks.push(tokio::spawn(publisher(conn, job, progress.clone())));
    }
    let mut pub_elapsed = Vec::with_capacity(p.pubs);
    let mut errors = Vec::new();
    for t in pub_tasks {
        match t.await? {
            Ok(d) => pub_elapsed.push(d),
            Err(e) => errors.push(format!("publisher: {e:#}")),
        }
    }
    let pub_end = t0.elapsed();
    if fan > 0 {
        if let Err(e) = progress
            .wait_until(p.target.timeout, |pr| {
                pr.received.load(Ordering::Relaxed) >= expected
            })
            .await
        {
            errors.push(format!("{e:#}"));
        }
    }
    let cpu1 = CpuMark::take(p)?;
    for t in &sub_tasks {
        t.abort();
    }
    for t in sub_tasks {
        // Aborted tasks end in a JoinError; only a task that failed on its
        // own has something to say.
        if let Ok(Err(e)) = t.await {
            errors.push(format!("subscriber: {e:#}"));
        }
    }

    // Figures.
    let mut r = report_base(p);
    r.expected = expected;
    let published = p.msgs.min(progress.published.load(Ordering::Relaxed));
    if p.pubs > 0 {
        let mut side = Side::new(p.pubs, published, p.size, pub_end.as_secs_f64());
        let rates: Vec<f64> = pub_elapsed
            .iter()
            .map(|d| per_sec(published as f64 / p.pubs as f64, d.as_secs_f64()))
            .collect();
        side.min_client_msgs_per_sec = rates.iter().copied().fold(f64::INFINITY, f64::min);
        side.max_client_msgs_per_sec = rates.iter().copied().fold(0.0, f64::max);
        r.publishers = Some(side);
    }
    let t0_ns = (t0 - base).as_nanos() as u64;
    let mut last_delivery_ns = t0_ns;
    if p.subs > 0 {
        let delivered: u64 = sub_stats
            .iter()
            .map(|s| s.msgs.load(Ordering::Relaxed))
            .sum();
        let first = sub_stats
            .iter()
            .map(|s| s.first_ns.load(Ordering::Relaxed))
            .filter(|&n| n > 0)
            .min()
            .unwrap_or(0);
        last_delivery_ns = sub_stats
            .iter()
            .map(|s| s.last_ns.load(Ordering::Relaxed))
            .max()
            .unwrap_or(t0_ns);
        let secs = last_delivery_ns.saturating_sub(first) as f64 / 1e9;
        let mut side = Side::new(p.subs, delivered, p.size, secs);
        let rates: Vec<f64> = sub_stats
            .iter()
            .map(|s| {
                let span = s
                    .last_ns
                    .load(Ordering::Relaxed)
                    .saturating_sub(s.first_ns.load(Ordering::Relaxed));
                per_sec(s.msgs.load(Ordering::Relaxed) as f64, span as f64 / 1e9)
            })
            .collect();
        side.min_client_msgs_per_sec = rates.iter().copied().fold(f64::INFINITY, f64::min);
        side.max_client_msgs_per_sec = rates.iter().copied().fold(0.0, f64::max);
        r.subscribers = Some(side);
        r.delivered = delivered;
        let bad: u64 = sub_stats
            .iter()
            .map(|s| s.bad_size.load(Ordering::Relaxed))
            .sum();
        if bad > 0 {
            errors.push(format!(
                "{bad} messages had a payload size other than {}",
                p.size
            ));
        }
        if delivered != expected {
            errors.push(format!(
                "received {delivered} messages, expected {expected}"
            ));
        }
    }
    // Headline: end to end, from the first write to the last delivery (or to
    // the publishers' last PONG when nobody subscribes).
    let end_ns = if p.subs == 0 {
        t0_ns + pub_end.as_nanos() as u64
    } else {
        last_delivery_ns
    };
    r.elapsed_s = (end_ns - t0_ns) as f64 / 1e9;
    let counted = if p.subs == 0 { published } else { r.delivered };
    r.msgs_per_sec = per_sec(counted as f64, r.elapsed_s);
    r.mb_per_sec = per_sec((counted * p.size as u64) as f64 / 1e6, r.elapsed_s);
    cpu0.record(&cpu1, counted, &mut r);
    r.errors = errors;
    Ok(r)
}

/// One publisher's share of the work.
struct PubJob {
    msgs: u64,
    subjects: Arc<Vec<String>>,
    first_subject: usize,
    payload: Arc<Vec<u8>>,
    batch: usize,
    window: usize,
    fan: u64,
    lag_limit: Option<u64>,
}

/// Writes `job.msgs` PUBs in batches of about `job.batch` bytes, each batch
/// followed by a PING; returns the time until the last batch's PONG, when
/// the server has processed every message.
async fn publisher(mut conn: Conn, job: PubJob, progress: Arc<Progress>) -> Result<Duration> {
    let frames: Vec<Vec<u8>> = job
        .subjects
        .iter()
        .map(|s| pub_frame(s, None, &job.payload))
        .collect();
    let longest = frames.iter().map(Vec::len).max().unwrap_or(0);
    let mut out = Vec::with_capacity(job.batch + longest + 8);
    let mut k = job.first_subject % frames.len();
    let mut sent = 0u64;
    let mut unanswered = 0usize;
    let start = Instant::now();
    while sent < job.msgs {
        out.clear();
        let mut n = 0u64;
        while sent + n < job.msgs && out.len() < job.batch {
            out.extend_from_slice(&frames[k]);
            k += 1;
            if k == frames.len() {
                k = 0;
            }
            n += 1;
        }
        out.extend_from_slice(b"PING\r\n");
        conn.stream.write_all(&out).await?;
        sent += n;
        unanswered += 1;
        progress.published.fetch_add(n, Ordering::Relaxed);

        // Collect the PONGs that are already here, then wait only if the
        // window is full.
        conn.rbuf.try_fill(&conn.stream)?;
        unanswered -= pongs(&mut conn).await?;
        while unanswered > job.window {
            conn.fill_timeout().await?;
            unanswered -= pongs(&mut conn).await?;
        }
        if let Some(limit) = job.lag_limit {
            let fan = job.fan;
            progress
                .wait_until(conn.timeout, |pr| {
                    let owed = pr.published.load(Ordering::Relaxed) * fan;
                    owed.saturating_sub(pr.received.load(Ordering::Relaxed)) <= limit
                })
                .await?;
        }
    }
    while unanswered > 0 {
        conn.fill_timeout().await?;
        unanswered -= pongs(&mut conn).await?;
    }
    Ok(start.elapsed())
}

/// Consumes buffered ops on a publisher connection and returns how many
/// were PONGs (answering server PINGs on the way).
async fn pongs(conn: &mut Conn) -> Result<usize> {
    let mut n = 0;
    let mut ping = false;
    while let Some(op) = conn.rbuf.next_op()? {
        match op {
            ServerOp::Pong => n += 1,
            ServerOp::Ping => ping = true,
            ServerOp::Err(e) => bail!("server error: {}", String::from_utf8_lossy(e)),
            _ => {}
        }
    }
    if ping {
        conn.stream.write_all(b"PONG\r\n").await?;
    }
    Ok(n)
}

/// Counts deliveries until aborted. Per read it does one clock read, two
/// atomic stores and one wake-up; per message only the scan.
async fn subscriber(
    mut conn: Conn,
    stats: Arc<SubStats>,
    progress: Arc<Progress>,
    base: Instant,
    size: usize,
) -> Result<()> {
    loop {
        let mut n = 0u64;
        let mut bad = 0u64;
        let mut ping = false;
        while let Some(op) = conn.rbuf.next_op()? {
            match op {
                ServerOp::Msg { .. } | ServerOp::HMsg { .. } => {
                    n += 1;
                    bad += u64::from(op.payload_len() != size);
                }
                ServerOp::Ping => ping = true,
                ServerOp::Err(e) => bail!("server error: {}", String::from_utf8_lossy(e)),
                ServerOp::Pong | ServerOp::Ok | ServerOp::Info(_) => {}
            }
        }
        if n > 0 {
            let now = base.elapsed().as_nanos() as u64;
            if stats.first_ns.load(Ordering::Relaxed) == 0 {
                stats.first_ns.store(now, Ordering::Relaxed);
            }
            stats.last_ns.store(now, Ordering::Relaxed);
            stats.msgs.fetch_add(n, Ordering::Relaxed);
            if bad > 0 {
                stats.bad_size.fetch_add(bad, Ordering::Relaxed);
            }
            progress.received.fetch_add(n, Ordering::Relaxed);
            progress.notify.notify_waiters();
        }
        if ping {
            conn.stream.write_all(b"PONG\r\n").await?;
        }
        // No timeout here: an idle subscriber is normal (e.g. a queue member
        // that got nothing); the coordinator detects stalls.
        conn.rbuf.fill(&mut conn.stream).await?;
    }
}

/// `reqrep`: one responder connection, one requester that sends a request
/// and waits for its reply before sending the next. Each round trip crosses
/// the server twice, so it measures the server's per-message latency with
/// nothing queued.
pub async fn reqrep(p: &Params) -> Result<Report> {
    const SUBJECT: &str = "bench.req";
    const INBOX: &str = "_INBOX.bench.reply";
    let body = payload(p.size);

    let mut responder = Conn::connect(&p.target, "bench-responder", p.read_buf).await?;
    responder.subscribe(&[SUBJECT.to_owned()], None).await?;
    let mut requester = Conn::connect(&p.target, "bench-requester", p.read_buf).await?;
    requester.subscribe(&[INBOX.to_owned()], None).await?;
    let responder_task = tokio::spawn(respond(responder, body.clone()));

    let request = pub_frame(SUBJECT, Some(INBOX), &body);
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)?;
    let mut bad = 0u64;
    // Warm-up round trips (not recorded) fill caches and let both runtimes
    // settle; they are not in the CPU figure either.
    for _ in 0..p.warmup {
        round_trip(&mut requester, &request, p.size).await?;
    }
    let cpu0 = CpuMark::take(p)?;
    let t0 = Instant::now();
    for _ in 0..p.msgs {
        let t = Instant::now();
        bad += u64::from(!round_trip(&mut requester, &request, p.size).await?);
        hist.record((t.elapsed().as_nanos() as u64).max(1))?;
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let cpu1 = CpuMark::take(p)?;
    responder_task.abort();

    let mut r = report_base(p);
    r.pubs = 1;
    r.subs = 1;
    r.elapsed_s = elapsed;
    r.msgs_per_sec = per_sec(p.msgs as f64, elapsed);
    r.mb_per_sec = per_sec((2 * p.msgs * p.size as u64) as f64 / 1e6, elapsed);
    // Each round trip delivers two messages (request and reply).
    r.expected = 2 * p.msgs;
    r.delivered = 2 * p.msgs;
    r.latency = Some(Latency::from_histogram(&hist));
    cpu0.record(&cpu1, 2 * p.msgs, &mut r);
    if bad > 0 {
        r.errors.push(format!("{bad} replies had the wrong size"));
    }
    Ok(r)
}

/// Sends one request and waits for one reply; says whether its size was right.
async fn round_trip(conn: &mut Conn, request: &[u8], size: usize) -> Result<bool> {
    conn.stream.write_all(request).await?;
    loop {
        let mut ping = false;
        while let Some(op) = conn.rbuf.next_op()? {
            match op {
                ServerOp::Msg { .. } | ServerOp::HMsg { .. } => {
                    let ok = op.payload_len() == size;
                    if ping {
                        conn.stream.write_all(b"PONG\r\n").await?;
                    }
                    return Ok(ok);
                }
                ServerOp::Ping => ping = true,
                ServerOp::Err(e) => bail!("server error: {}", String::from_utf8_lossy(e)),
                _ => {}
            }
        }
        if ping {
            conn.stream.write_all(b"PONG\r\n").await?;
        }
        conn.fill_timeout().await?;
    }
}

/// Answers every request with a message of the same payload to its reply
/// subject; all replies produced by one read go out in one write.
async fn respond(mut conn: Conn, body: Vec<u8>) -> Result<()> {
    let mut out = Vec::with_capacity(4096);
    let len = body.len().to_string();
    loop {
        out.clear();
        while let Some(op) = conn.rbuf.next_op()? {
            match op {
                ServerOp::Msg { args, .. } | ServerOp::HMsg { args, .. } => {
                    let hmsg = matches!(op, ServerOp::HMsg { .. });
                    let Some(reply) = msg_reply(args, hmsg) else {
                        continue;
                    };
                    out.extend_from_slice(b"PUB ");
                    out.extend_from_slice(reply);
                    out.push(b' ');
                    out.extend_from_slice(len.as_bytes());
                    out.extend_from_slice(b"\r\n");
                    out.extend_from_slice(&body);
                    out.extend_from_slice(b"\r\n");
                }
                ServerOp::Ping => out.extend_from_slice(b"PONG\r\n"),
                ServerOp::Err(e) => bail!("server error: {}", String::from_utf8_lossy(e)),
                _ => {}
            }
        }
        if !out.is_empty() {
            conn.stream.write_all(&out).await?;
        }
        conn.rbuf.fill(&mut conn.stream).await?;
    }
}

/// `conns`: opens `--conns` connections that each subscribe to one subject
/// and then sit idle; measures connect time, the server's resident memory
/// per connection, and one publish reaching all of them.
pub async fn conns(p: &Params) -> Result<Report> {
    const SUBJECT: &str = "bench.conns";
    let limit = procfs::raise_nofile_limit();
    if limit < p.conns as u64 + 64 {
        bail!(
            "open-file limit {limit} is too low for {} connections; raise it (ulimit -n)",
            p.conns
        );
    }
    let mut publisher = Conn::connect(&p.target, "bench-conns-pub", 4096).await?;
    // Let the server settle before the baseline (it may still be lazily
    // allocating from its own start).
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss0 = p.server_pid.map(procfs::rss_bytes).transpose()?;
    let cpu0 = server_cpu(p)?;

    let ready = Arc::new(Progress::default());
    let delivered = Arc::new(Progress::default());
    let go = Arc::new(tokio::sync::Semaphore::new(p.connect_concurrency.max(1)));
    let handshakes = Arc::new(std::sync::Mutex::new(Histogram::<u64>::new_with_bounds(
        1,
        60_000_000_000,
        3,
    )?));
    let t0 = Instant::now();
    let mut tasks = Vec::with_capacity(p.conns);
    for i in 0..p.conns {
        let target = p.target.clone();
        let (ready, delivered, go, handshakes) = (
            ready.clone(),
            delivered.clone(),
            go.clone(),
            handshakes.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let permit = go.acquire_owned().await?;
            let t = Instant::now();
            let mut c = Conn::connect(&target, &format!("bench-idle-{i}"), 1024).await?;
            c.subscribe(&[SUBJECT.to_owned()], None).await?;
            let ns = t.elapsed().as_nanos() as u64;
            drop(permit);
            handshakes.lock().expect("not poisoned").record(ns.max(1))?;
            ready.received.fetch_add(1, Ordering::Relaxed);
            ready.notify.notify_waiters();
            // Idle until the one message arrives (no timeout: idling is the point).
            'idle: loop {
                let mut ping = false;
                while let Some(op) = c.rbuf.next_op()? {
                    match op {
                        ServerOp::Msg { .. } | ServerOp::HMsg { .. } => break 'idle,
                        ServerOp::Ping => ping = true,
                        ServerOp::Err(e) => {
                            bail!("server error: {}", String::from_utf8_lossy(e))
                        }
                        _ => {}
                    }
                }
                if ping {
                    c.stream.write_all(b"PONG\r\n").await?;
                }
                c.rbuf.fill(&mut c.stream).await?;
            }
            delivered.received.fetch_add(1, Ordering::Relaxed);
            delivered.notify.notify_waiters();
            // Keep the socket open until the coordinator is done.
            std::future::pending::<()>().await;
            Ok::<(), anyhow::Error>(())
        }));
    }
    let n = p.conns as u64;
    let mut errors = Vec::new();
    let connected = ready
        .wait_until(p.target.timeout, |pr| {
            pr.received.load(Ordering::Relaxed) >= n
        })
        .await;
    let connect_s = t0.elapsed().as_secs_f64();
    if let Err(e) = connected {
        // Report what failed (a task error says more than the stall).
        for t in &tasks {
            t.abort();
        }
        for t in tasks {
            if let Ok(Err(e)) = t.await {
                bail!("connection failed: {e:#}");
            }
        }
        bail!("connections did not complete: {e:#}");
    }
    let cpu1 = server_cpu(p)?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss1 = p.server_pid.map(procfs::rss_bytes).transpose()?;

    let t1 = Instant::now();
    publisher
        .stream
        .write_all(&pub_frame(SUBJECT, None, &payload(p.size)))
        .await?;
    if let Err(e) = delivered
        .wait_until(p.target.timeout, |pr| {
            pr.received.load(Ordering::Relaxed) >= n
        })
        .await
    {
        errors.push(format!("{e:#}"));
    }
    let fanout_s = t1.elapsed().as_secs_f64();
    let got = delivered.received.load(Ordering::Relaxed);
    let cpu2 = server_cpu(p)?;
    for t in &tasks {
        t.abort();
    }
    drop(publisher);
    for t in tasks {
        if let Ok(Err(e)) = t.await {
            errors.push(format!("connection: {e:#}"));
            break;
        }
    }

    let mut r = report_base(p);
    r.pubs = 1;
    r.subs = p.conns;
    r.msgs = 1;
    r.expected = n;
    r.delivered = got;
    r.elapsed_s = connect_s;
    r.msgs_per_sec = per_sec(n as f64, connect_s);
    if got != n {
        errors.push(format!("{got} of {n} connections received the message"));
    }
    if let Some(d) = cpu_delta(cpu1, cpu2) {
        r.server_cpu_ns = Some(d);
        r.server_cpu_ns_per_msg = Some(d as f64 / got.max(1) as f64);
    }
    let handshake = Latency::from_histogram(&*handshakes.lock().map_err(|_| anyhow!("poisoned"))?);
    r.conns = Some(ConnsResult {
        conns: p.conns,
        connect_s,
        connects_per_sec: r.msgs_per_sec,
        handshake,
        rss_before_bytes: rss0,
        rss_after_bytes: rss1,
        rss_per_conn_bytes: rss0
            .zip(rss1)
            .map(|(a, b)| (b as f64 - a as f64) / n.max(1) as f64),
        server_cpu_ns_per_conn: cpu_delta(cpu0, cpu1).map(|d| d as f64 / n.max(1) as f64),
        fanout_s,
    });
    r.errors = errors;
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_publish_subject_matches_exactly_one_wildcard_sub() {
        let (pubs, subs) = subjects(1000, 300);
        assert_eq!(subs.len(), 300);
        for s in &pubs {
            let hits = subs
                .iter()
                .filter(|w| {
                    let prefix = w.trim_end_matches('*');
                    s.starts_with(prefix) && !s[prefix.len()..].contains('.')
                })
                .count();
            assert_eq!(hits, 1, "{s}");
        }
        assert_eq!(
            subjects(1, 0),
            (vec!["bench.0".into()], vec!["bench.0".into()])
        );
        assert_eq!(subjects(3, 0).1, vec!["bench.*".to_owned()]);
    }
}
