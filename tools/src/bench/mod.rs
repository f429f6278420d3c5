//! `tracebus-tools bench`: a load generator for NATS-protocol servers
//! (tracebus and nats-server alike), in the spirit of `nats bench`.
//!
//! Module map:
//! - [`wire`]: scanner for the server's side of the protocol (MSG, PONG…);
//! - [`conn`]: raw TCP connection, handshake (incl. creds), read buffer;
//! - [`scenarios`]: the scenarios and their flow control;
//! - [`report`]: results, text/JSON output, the median table;
//! - [`procfs`]: server CPU time and memory from `/proc`;
//! - [`sink`]: a do-nothing server for measuring the generator itself.
//!
//! The generator runs on a current-thread tokio runtime by default: on a
//! 2-core machine one thread, pinned with `taskset`, is the configuration
//! whose cost is easiest to reason about (no cross-thread wake-ups inside the
//! generator). `--threads N` switches to a multi-thread runtime.

pub mod conn;
pub mod procfs;
pub mod report;
pub mod scenarios;
pub mod sink;
pub mod wire;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};

use crate::creds::Creds;
use conn::{Auth, Target};
use report::Report;

/// `bench` subcommands: one per scenario, plus `sink` and `summarize`.
#[derive(Debug, Subcommand)]
pub enum BenchCmd {
    /// Publishers only (default 1 publisher); rate = messages published/s.
    Pub(LoadOpts),
    /// A built-in publisher and N subscribers (default 1), measured on the
    /// subscriber side.
    Sub(LoadOpts),
    /// One publisher, one subscriber.
    Pubsub(LoadOpts),
    /// One publisher, N subscribers (default 10) that each get every message.
    Fanout(LoadOpts),
    /// N publishers (default 4), one subscriber.
    Fanin(LoadOpts),
    /// One publisher, N members (default 4) of one queue group; every message
    /// must be received exactly once in total.
    Queue(LoadOpts),
    /// Sequential request/reply: latency percentiles of round trips.
    Reqrep(LoadOpts),
    /// N idle connections (default 10,000) each with one subscription, then
    /// one publish they all receive: connect time, memory per connection.
    Conns(LoadOpts),
    /// A fake server that answers CONNECT/PING and discards messages, to
    /// measure the generator's own ceiling (`bench pub` against it).
    Sink(SinkOpts),
    /// Reads JSON result lines (from `--json` runs) and prints a Markdown
    /// table of medians comparing two targets.
    Summarize(SummarizeOpts),
}

/// The scenario a run executes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    Pub,
    Sub,
    PubSub,
    Fanout,
    Fanin,
    Queue,
    ReqRep,
    Conns,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Pub => "pub",
            Scenario::Sub => "sub",
            Scenario::PubSub => "pubsub",
            Scenario::Fanout => "fanout",
            Scenario::Fanin => "fanin",
            Scenario::Queue => "queue",
            Scenario::ReqRep => "reqrep",
            Scenario::Conns => "conns",
        }
    }

    /// Default (publishers, subscribers, messages) when not given.
    fn defaults(self) -> (usize, usize, u64) {
        match self {
            Scenario::Pub => (1, 0, 1_000_000),
            Scenario::Sub | Scenario::PubSub => (1, 1, 1_000_000),
            Scenario::Fanout => (1, 10, 200_000),
            Scenario::Fanin => (4, 1, 1_000_000),
            Scenario::Queue => (1, 4, 1_000_000),
            Scenario::ReqRep => (1, 1, 20_000),
            Scenario::Conns => (1, 0, 1),
        }
    }
}

/// Options shared by all load scenarios.
#[derive(Debug, Clone, Args)]
pub struct LoadOpts {
    /// Server URL: nats://[user:pass@|token@]host:port.
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    pub url: String,
    /// Messages to publish in total (reqrep: round trips). Default per
    /// scenario: pub/sub/pubsub/fanin/queue 1,000,000; fanout 200,000;
    /// reqrep 20,000.
    #[arg(long)]
    pub msgs: Option<u64>,
    /// Payload size in bytes.
    #[arg(long, default_value_t = 128)]
    pub size: usize,
    /// Publisher connections (messages are split evenly among them).
    #[arg(long)]
    pub pubs: Option<usize>,
    /// Subscriber connections (queue: group members).
    #[arg(long)]
    pub subs: Option<usize>,
    /// Publish round robin over N subjects `bench.<i>`; subscribers then
    /// subscribe to `bench.*`.
    #[arg(long, default_value_t = 1)]
    pub subjects: usize,
    /// Each subscriber holds W wildcard subscriptions `bench.<j>.*` and the
    /// publish subjects become `bench.<k mod W>.<k>` (k < --subjects): every
    /// message matches one of them. The routing-heavy variant.
    #[arg(long, default_value_t = 0)]
    pub sub_wildcards: usize,
    /// Idle connections for `conns`.
    #[arg(long, default_value_t = 10_000)]
    pub conns: usize,
    /// How many `conns` connections may be in their handshake at once.
    #[arg(long, default_value_t = 64)]
    pub connect_concurrency: usize,
    /// NATS creds file (user JWT + seed, or a bare user seed for nkey auth):
    /// the server's nonce is signed with the seed.
    #[arg(long)]
    pub creds: Option<PathBuf>,
    /// User name (with --password).
    #[arg(long, requires = "password")]
    pub user: Option<String>,
    #[arg(long, requires = "user")]
    pub password: Option<String>,
    /// Auth token.
    #[arg(long, conflicts_with_all = ["user", "creds"])]
    pub token: Option<String>,
    /// Print one JSON object (one line) instead of text.
    #[arg(long)]
    pub json: bool,
    /// The server's pid: report its CPU time per message (from
    /// /proc/PID/task/*/schedstat) and, for `conns`, its memory (VmRSS).
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Case name in the report (default: the scenario name).
    #[arg(long)]
    pub label: Option<String>,
    /// Name of the server under test in the report.
    #[arg(long, default_value = "server")]
    pub target_name: String,
    /// Bytes of PUB frames per write; each write ends with a PING.
    #[arg(long, default_value_t = 64 * 1024)]
    pub batch: usize,
    /// Batches a publisher may have written without their PONG.
    #[arg(long, default_value_t = 8)]
    pub window: usize,
    /// Bytes of deliveries subscribers may be behind publishers before the
    /// publishers wait (0 = no limit; the server may then cut slow consumers).
    #[arg(long, default_value_t = 8 * 1024 * 1024)]
    pub max_lag: usize,
    /// reqrep: round trips before measuring.
    #[arg(long, default_value_t = 1_000)]
    pub warmup: u64,
    /// Seconds without progress after which the run fails.
    #[arg(long, default_value_t = 10)]
    pub timeout: u64,
    /// Generator threads: 1 = current-thread runtime (default), N > 1 =
    /// multi-thread runtime with N workers.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Subscriber read buffer in bytes.
    #[arg(long, default_value_t = 256 * 1024)]
    pub read_buf: usize,
}

#[derive(Debug, Clone, Args)]
pub struct SinkOpts {
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    #[arg(long, short, default_value_t = 4222)]
    pub port: u16,
    /// Print totals every N seconds while messages arrive (0 = never).
    #[arg(long, default_value_t = 0)]
    pub report_every: u64,
}

#[derive(Debug, Clone, Args)]
pub struct SummarizeOpts {
    /// File of JSON lines written by `--json` runs.
    pub input: PathBuf,
    /// Target whose figures come first and are the numerator of ratios.
    #[arg(long, default_value = "tracebus")]
    pub a: String,
    /// The other target.
    #[arg(long, default_value = "nats-server")]
    pub b: String,
}

/// Fully resolved parameters of one run.
#[derive(Debug, Clone)]
pub struct Params {
    pub scenario: Scenario,
    pub target: Target,
    pub label: String,
    pub target_name: String,
    pub msgs: u64,
    pub size: usize,
    pub pubs: usize,
    pub subs: usize,
    pub subjects: usize,
    pub sub_wildcards: usize,
    pub conns: usize,
    pub connect_concurrency: usize,
    pub batch: usize,
    pub window: usize,
    pub max_lag: usize,
    pub warmup: u64,
    pub read_buf: usize,
    pub server_pid: Option<u32>,
}

impl Params {
    /// Applies the scenario's defaults and checks the options.
    pub fn new(scenario: Scenario, o: &LoadOpts) -> Result<Params> {
        let (pubs, subs, msgs) = scenario.defaults();
        let auth = if let Some(path) = &o.creds {
            Auth::Creds(Creds::load(path)?)
        } else if let (Some(user), Some(pass)) = (&o.user, &o.password) {
            Auth::UserPass {
                user: user.clone(),
                pass: pass.clone(),
            }
        } else if let Some(t) = &o.token {
            Auth::Token(t.clone())
        } else {
            Auth::None
        };
        let target = Target::from_url(&o.url, auth, Duration::from_secs(o.timeout.max(1)))?;
        let p = Params {
            scenario,
            target,
            label: o
                .label
                .clone()
                .unwrap_or_else(|| scenario.name().to_owned()),
            target_name: o.target_name.clone(),
            msgs: o.msgs.unwrap_or(msgs),
            size: o.size,
            pubs: o.pubs.unwrap_or(pubs),
            subs: o.subs.unwrap_or(subs),
            subjects: o.subjects.max(1),
            sub_wildcards: o.sub_wildcards,
            conns: o.conns,
            connect_concurrency: o.connect_concurrency,
            batch: o.batch.max(1),
            window: o.window.max(1),
            max_lag: o.max_lag,
            warmup: o.warmup,
            read_buf: o.read_buf.max(4096),
            server_pid: o.server_pid,
        };
        if p.pubs == 0 && scenario != Scenario::Conns {
            bail!("at least one publisher is needed");
        }
        if p.subs == 0 && !matches!(scenario, Scenario::Pub | Scenario::Conns) {
            bail!(
                "the {} scenario needs at least one subscriber",
                scenario.name()
            );
        }
        if let Some(pid) = p.server_pid {
            if !procfs::exists(pid) {
                bail!("--server-pid {pid}: no such process");
            }
        }
        Ok(p)
    }
}

/// Resolves parameters from command-line style arguments (the options after
/// the scenario name), e.g. `["--msgs", "1000", "--url", url]`; for tests and
/// embedding.
pub fn params_from_args(scenario: Scenario, args: &[&str]) -> Result<Params> {
    #[derive(clap::Parser)]
    struct Wrapper {
        #[command(flatten)]
        opts: LoadOpts,
    }
    let w = <Wrapper as clap::Parser>::try_parse_from(
        std::iter::once(scenario.name()).chain(args.iter().copied()),
    )?;
    Params::new(scenario, &w.opts)
}

/// Runs one load scenario.
pub async fn run(p: &Params) -> Result<Report> {
    match p.scenario {
        Scenario::ReqRep => scenarios::reqrep(p).await,
        Scenario::Conns => scenarios::conns(p).await,
        _ => scenarios::stream(p).await,
    }
}

/// Entry point for `tracebus-tools bench …`; returns the process exit code
/// (1 when a run finished but reported errors such as lost messages).
pub fn main(cmd: BenchCmd) -> Result<i32> {
    let (scenario, opts) = match cmd {
        BenchCmd::Sink(o) => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let every = (o.report_every > 0).then(|| Duration::from_secs(o.report_every));
            rt.block_on(sink::run(&o.host, o.port, every))?;
            return Ok(0);
        }
        BenchCmd::Summarize(o) => {
            let text = std::fs::read_to_string(&o.input)
                .with_context(|| format!("reading {}", o.input.display()))?;
            let mut reports = Vec::new();
            for (i, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let r: Report = serde_json::from_str(line)
                    .with_context(|| format!("{}:{}", o.input.display(), i + 1))?;
                reports.push(r);
            }
            print!("{}", report::summarize(&reports, &o.a, &o.b));
            return Ok(0);
        }
        BenchCmd::Pub(o) => (Scenario::Pub, o),
        BenchCmd::Sub(o) => (Scenario::Sub, o),
        BenchCmd::Pubsub(o) => (Scenario::PubSub, o),
        BenchCmd::Fanout(o) => (Scenario::Fanout, o),
        BenchCmd::Fanin(o) => (Scenario::Fanin, o),
        BenchCmd::Queue(o) => (Scenario::Queue, o),
        BenchCmd::Reqrep(o) => (Scenario::ReqRep, o),
        BenchCmd::Conns(o) => (Scenario::Conns, o),
    };
    let params = Params::new(scenario, &opts)?;
    let rt = if opts.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(opts.threads)
            .enable_all()
            .build()?
    };
    let report = rt.block_on(run(&params))?;
    if opts.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", report.to_text());
    }
    Ok(if report.errors.is_empty() { 0 } else { 1 })
}
