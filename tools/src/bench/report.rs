//! Results of one benchmark run (printed for people or as one JSON line for
//! scripts) and the median table `bench summarize` builds from many runs.
//!
//! MB/s counts payload bytes only, in units of 10^6 bytes, so the figure
//! does not depend on subject lengths and matches how nats tools count.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// Throughput of one side (all publishers, or all subscribers together).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Side {
    /// Connections on this side.
    pub clients: usize,
    pub msgs: u64,
    /// Payload bytes.
    pub bytes: u64,
    /// From this side's first to its last event (publishers: start of the
    /// first write to the PONG after the last message; subscribers: first to
    /// last delivery).
    pub elapsed_s: f64,
    pub msgs_per_sec: f64,
    pub mb_per_sec: f64,
    /// Slowest and fastest client by message rate (equal for one client).
    pub min_client_msgs_per_sec: f64,
    pub max_client_msgs_per_sec: f64,
}

impl Side {
    pub fn new(clients: usize, msgs: u64, size: usize, elapsed_s: f64) -> Side {
        let rate = per_sec(msgs as f64, elapsed_s);
        Side {
            clients,
            msgs,
            bytes: msgs * size as u64,
            elapsed_s,
            msgs_per_sec: rate,
            mb_per_sec: per_sec((msgs * size as u64) as f64 / 1e6, elapsed_s),
            min_client_msgs_per_sec: rate,
            max_client_msgs_per_sec: rate,
        }
    }
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Latency {
    pub count: u64,
    pub min_us: f64,
    pub mean_us: f64,
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
}

impl Latency {
    /// Reads the percentiles from a histogram of nanoseconds.
    pub fn from_histogram(h: &hdrhistogram::Histogram<u64>) -> Latency {
        let us = |ns: u64| ns as f64 / 1e3;
        Latency {
            count: h.len(),
            min_us: us(h.min()),
            mean_us: h.mean() / 1e3,
            p50_us: us(h.value_at_quantile(0.50)),
            p90_us: us(h.value_at_quantile(0.90)),
            p99_us: us(h.value_at_quantile(0.99)),
            p999_us: us(h.value_at_quantile(0.999)),
            max_us: us(h.max()),
        }
    }
}

/// The `conns` scenario's figures.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ConnsResult {
    pub conns: usize,
    /// From the first connect to the last PONG after CONNECT+SUB.
    pub connect_s: f64,
    pub connects_per_sec: f64,
    /// Handshake (TCP connect → PONG) latency over all connections.
    pub handshake: Latency,
    /// Server RSS before the connections and with all of them idle.
    pub rss_before_bytes: Option<u64>,
    pub rss_after_bytes: Option<u64>,
    pub rss_per_conn_bytes: Option<f64>,
    /// Server CPU spent accepting, per connection.
    pub server_cpu_ns_per_conn: Option<f64>,
    /// One publish reaching every connection: time to the last delivery.
    pub fanout_s: f64,
}

/// Everything one run reports. Missing fields read as defaults, so a script
/// can record a failed run as just `{"label":…,"target":…,"errors":[…]}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Report {
    /// Name of the case (defaults to the scenario; scripts set e.g. `fanout-1:10`).
    pub label: String,
    /// Name of the server under test (scripts set `tracebus` / `nats-server`).
    pub target: String,
    pub scenario: String,
    pub msgs: u64,
    pub size: usize,
    pub pubs: usize,
    pub subs: usize,
    pub subjects: usize,
    pub sub_wildcards: usize,
    /// Start of publishing to the last delivery (or last PONG for `pub`).
    pub elapsed_s: f64,
    /// The headline rate: messages delivered per second end to end (messages
    /// published for `pub`, requests for `reqrep`, connections for `conns`).
    pub msgs_per_sec: f64,
    pub mb_per_sec: f64,
    pub publishers: Option<Side>,
    pub subscribers: Option<Side>,
    /// Messages the subscribers should have received, and did.
    pub expected: u64,
    pub delivered: u64,
    /// Server on-CPU time during the measured phase, if `--server-pid` given.
    pub server_cpu_ns: Option<u64>,
    /// `server_cpu_ns` divided by messages delivered (by messages published
    /// when nothing is delivered, i.e. `pub`).
    pub server_cpu_ns_per_msg: Option<f64>,
    pub latency: Option<Latency>,
    pub conns: Option<ConnsResult>,
    /// The load generator's own CPU time over the same phase, per message:
    /// shows how much of a shared core the generator took.
    pub client_cpu_ns_per_msg: Option<f64>,
    /// Anything that went wrong without aborting (lost messages, bad sizes).
    pub errors: Vec<String>,
}

pub fn per_sec(n: f64, secs: f64) -> f64 {
    if secs > 0.0 {
        n / secs
    } else {
        0.0
    }
}

impl Report {
    /// A human-readable multi-line summary.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{} ({}) against {}: msgs={} size={}B pubs={} subs={} subjects={}{}",
            self.label,
            self.scenario,
            self.target,
            self.msgs,
            self.size,
            self.pubs,
            self.subs,
            self.subjects,
            if self.sub_wildcards > 0 {
                format!(" wildcard-subs/sub={}", self.sub_wildcards)
            } else {
                String::new()
            }
        );
        let side = |s: &mut String, name: &str, side: &Side| {
            let _ = writeln!(
                s,
                "  {name:<5} {:>10} msgs in {:>8.3}s  {:>12} msgs/s  {:>9.1} MB/s  ({} conn{}{})",
                side.msgs,
                side.elapsed_s,
                fmt_rate(side.msgs_per_sec),
                side.mb_per_sec,
                side.clients,
                if side.clients == 1 { "" } else { "s" },
                if side.clients > 1 {
                    format!(
                        ", per conn {}–{} msgs/s",
                        fmt_rate(side.min_client_msgs_per_sec),
                        fmt_rate(side.max_client_msgs_per_sec)
                    )
                } else {
                    String::new()
                }
            );
        };
        if let Some(p) = &self.publishers {
            side(&mut s, "pub", p);
        }
        if let Some(p) = &self.subscribers {
            side(&mut s, "sub", p);
        }
        let what = match self.scenario.as_str() {
            "pub" => "published",
            "reqrep" => "requests",
            "conns" => "connections",
            _ => "delivered",
        };
        let _ = writeln!(
            s,
            "  total {:>10} {what} in {:.3}s = {} /s, {:.1} MB/s",
            match self.scenario.as_str() {
                "pub" | "reqrep" => self.msgs,
                "conns" => self.conns.as_ref().map_or(0, |c| c.conns as u64),
                _ => self.delivered,
            },
            self.elapsed_s,
            fmt_rate(self.msgs_per_sec),
            self.mb_per_sec
        );
        if self.expected > 0 {
            let _ = writeln!(
                s,
                "  received {} of {} expected deliveries",
                self.delivered, self.expected
            );
        }
        if let Some(l) = &self.latency {
            let _ = writeln!(s, "  latency {}", fmt_latency(l));
        }
        if let Some(c) = &self.conns {
            let _ = writeln!(
                s,
                "  {} connections (CONNECT+SUB+PING) in {:.3}s = {} conn/s; handshake {}",
                c.conns,
                c.connect_s,
                fmt_rate(c.connects_per_sec),
                fmt_latency(&c.handshake)
            );
            if let (Some(b), Some(a), Some(per)) =
                (c.rss_before_bytes, c.rss_after_bytes, c.rss_per_conn_bytes)
            {
                let _ = writeln!(
                    s,
                    "  server RSS {:.1} MiB -> {:.1} MiB = {:.0} bytes per connection",
                    b as f64 / 1048576.0,
                    a as f64 / 1048576.0,
                    per
                );
            }
            if let Some(cpu) = c.server_cpu_ns_per_conn {
                let _ = writeln!(s, "  server CPU {:.0} ns per connection setup", cpu);
            }
            let _ = writeln!(
                s,
                "  one publish reached all {} in {:.3} ms",
                c.conns,
                c.fanout_s * 1e3
            );
        }
        if let (Some(ns), Some(per)) = (self.server_cpu_ns, self.server_cpu_ns_per_msg) {
            let _ = writeln!(
                s,
                "  server CPU {:.3}s = {:.0} ns per message {}",
                ns as f64 / 1e9,
                per,
                if self.scenario == "pub" {
                    "published"
                } else {
                    "delivered"
                }
            );
        }
        if let Some(per) = self.client_cpu_ns_per_msg {
            let _ = writeln!(s, "  generator CPU {per:.0} ns per message");
        }
        for e in &self.errors {
            let _ = writeln!(s, "  ERROR: {e}");
        }
        s
    }
}

fn fmt_latency(l: &Latency) -> String {
    format!(
        "(µs) p50 {:.1}  p90 {:.1}  p99 {:.1}  p99.9 {:.1}  max {:.1}  mean {:.1}  n={}",
        l.p50_us, l.p90_us, l.p99_us, l.p999_us, l.max_us, l.mean_us, l.count
    )
}

/// `1234567.8` → `1,234,568`.
pub fn fmt_rate(x: f64) -> String {
    let n = x.round() as u64;
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// Largest relative distance of any run from the median, in percent: how
/// far a single run could mislead.
fn spread(v: &[f64]) -> Option<f64> {
    let m = median(v.to_vec())?;
    if m == 0.0 {
        return None;
    }
    v.iter()
        .map(|x| ((x - m) / m).abs() * 100.0)
        .max_by(|a, b| a.total_cmp(b))
}

/// A named figure read from a report, and how to print it.
type Metric<'a> = (
    &'a str,
    &'a dyn Fn(&Report) -> Option<f64>,
    &'a dyn Fn(f64) -> String,
);

/// Builds the Markdown comparison table from many reports: runs are grouped
/// by `label` (in first-seen order) and `target`; each cell is the median
/// over the rounds. `a` is the server the ratios are computed for (a / b).
pub fn summarize(reports: &[Report], a: &str, b: &str) -> String {
    let mut order: Vec<String> = Vec::new();
    let mut by: BTreeMap<(String, String), Vec<&Report>> = BTreeMap::new();
    for r in reports {
        if !order.contains(&r.label) {
            order.push(r.label.clone());
        }
        by.entry((r.label.clone(), r.target.clone()))
            .or_default()
            .push(r);
    }
    // Failed runs (no rate) count as errors but not in the medians.
    let get = |label: &str, target: &str, f: &dyn Fn(&Report) -> Option<f64>| -> Vec<f64> {
        by.get(&(label.to_owned(), target.to_owned()))
            .map(|rs| {
                rs.iter()
                    .filter(|r| r.msgs_per_sec > 0.0)
                    .filter_map(|r| f(r))
                    .collect()
            })
            .unwrap_or_default()
    };
    let ratio = |x: Option<f64>, y: Option<f64>| match (x, y) {
        (Some(x), Some(y)) if y > 0.0 => format!("{:.2}×", x / y),
        _ => "–".to_owned(),
    };
    let cell = |v: &[f64], fmt: &dyn Fn(f64) -> String| match median(v.to_vec()) {
        Some(m) => format!("{} ±{:.0}%", fmt(m), spread(v).unwrap_or(0.0)),
        None => "–".to_owned(),
    };
    let rate = |x: f64| fmt_rate(x);
    let ns = |x: f64| format!("{x:.0}");

    let mut s = String::new();
    let _ = writeln!(
        s,
        "| case | {a} msgs/s | {b} msgs/s | ratio | {a} CPU ns/msg | {b} CPU ns/msg | CPU ratio | generator CPU ns/msg ({a} / {b} runs) | errors |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|---|");
    for label in &order {
        let ra = get(label, a, &|r| Some(r.msgs_per_sec));
        let rb = get(label, b, &|r| Some(r.msgs_per_sec));
        let ca = get(label, a, &|r| r.server_cpu_ns_per_msg);
        let cb = get(label, b, &|r| r.server_cpu_ns_per_msg);
        let errors: usize = [a, b]
            .iter()
            .filter_map(|t| by.get(&(label.clone(), (*t).to_owned())))
            .flatten()
            .map(|r| r.errors.len())
            .sum();
        let ga = median(get(label, a, &|r| r.client_cpu_ns_per_msg));
        let gb = median(get(label, b, &|r| r.client_cpu_ns_per_msg));
        let gen = match (ga, gb) {
            (Some(x), Some(y)) => format!("{x:.0} / {y:.0}"),
            _ => "–".to_owned(),
        };
        let _ = writeln!(
            s,
            "| {label} | {} | {} | {} | {} | {} | {} | {gen} | {} |",
            cell(&ra, &rate),
            cell(&rb, &rate),
            ratio(median(ra.clone()), median(rb.clone())),
            cell(&ca, &ns),
            cell(&cb, &ns),
            ratio(median(ca.clone()), median(cb.clone())),
            if errors == 0 {
                "0".to_owned()
            } else {
                format!("**{errors}**")
            }
        );
    }

    // Latency and memory rows, for the cases that have them.
    let mut extra = String::new();
    for label in &order {
        let metrics: [Metric; 6] = [
            (
                "reqrep p50 µs",
                &|r| r.latency.as_ref().map(|l| l.p50_us),
                &|x| format!("{x:.1}"),
            ),
            (
                "reqrep p99 µs",
                &|r| r.latency.as_ref().map(|l| l.p99_us),
                &|x| format!("{x:.1}"),
            ),
            (
                "reqrep p99.9 µs",
                &|r| r.latency.as_ref().map(|l| l.p999_us),
                &|x| format!("{x:.1}"),
            ),
            (
                "memory per connection (bytes)",
                &|r| r.conns.as_ref().and_then(|c| c.rss_per_conn_bytes),
                &|x| format!("{x:.0}"),
            ),
            (
                "connect time per connection µs",
                &|r| {
                    r.conns
                        .as_ref()
                        .map(|c| c.connect_s * 1e6 / c.conns.max(1) as f64)
                },
                &|x| format!("{x:.1}"),
            ),
            (
                "server CPU per connection setup µs",
                &|r| {
                    r.conns
                        .as_ref()
                        .and_then(|c| c.server_cpu_ns_per_conn)
                        .map(|n| n / 1e3)
                },
                &|x| format!("{x:.1}"),
            ),
        ];
        for (name, f, fmt) in metrics {
            let va = get(label, a, f);
            let vb = get(label, b, f);
            if va.is_empty() && vb.is_empty() {
                continue;
            }
            let _ = writeln!(
                extra,
                "| {label} | {name} | {} | {} | {} |",
                cell(&va, fmt),
                cell(&vb, fmt),
                ratio(median(va.clone()), median(vb.clone()))
            );
        }
    }
    if !extra.is_empty() {
        let _ = writeln!(s);
        let _ = writeln!(s, "| case | metric | {a} | {b} | ratio |");
        let _ = writeln!(s, "|---|---|---:|---:|---:|");
        s.push_str(&extra);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(label: &str, target: &str, rate: f64, cpu: f64) -> Report {
        Report {
            label: label.into(),
            target: target.into(),
            msgs_per_sec: rate,
            server_cpu_ns_per_msg: Some(cpu),
            ..Report::default()
        }
    }

    #[test]
    fn median_table() {
        let rs = vec![
            run("pubsub", "A", 100.0, 10.0),
            run("pubsub", "B", 50.0, 20.0),
            run("pubsub", "A", 300.0, 30.0),
            run("pubsub", "B", 60.0, 20.0),
            run("pubsub", "A", 200.0, 20.0),
            run("pubsub", "B", 70.0, 40.0),
        ];
        let t = summarize(&rs, "A", "B");
        assert!(
            t.contains(
                "| pubsub | 200 ±50% | 60 ±17% | 3.33× | 20 ±50% | 20 ±100% | 1.00× | – | 0 |"
            ),
            "{t}"
        );
    }

    #[test]
    fn rates_are_grouped() {
        assert_eq!(fmt_rate(1234567.6), "1,234,568");
        assert_eq!(fmt_rate(999.0), "999");
    }
}
