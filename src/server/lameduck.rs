//! Lame duck mode: drain a server so its clients move to the other nodes
//! before it stops (SIGUSR2, or `tracebus --signal ldm=<pid>`).
//!
//! As nats-server 2.9 does it: the client listener closes at once (new
//! clients are refused); routes get our INFO with `"ldm":true` so the other
//! nodes stop advertising our client URLs; clients that speak protocol >= 1 get
//! an INFO with `"ldm":true` and the other nodes' `connect_urls`; after
//! `lame_duck_grace_period` the remaining clients are closed one at a time,
//! spread over the rest of `lame_duck_duration` (the interval is the remaining
//! duration divided by the number of clients, at most 1 s, each sleep a random
//! value between half the interval and the interval). Routes stay up until the
//! caller shuts the server down, so traffic in flight still drains.
//!
//! Unlike nats-server, a client is closed gracefully: its socket is shut for
//! writing (it sees the end of the stream and reconnects to another node) and
//! what it had already sent is still read and routed until it closes its side,
//! so a publisher moving to another node loses nothing on the way.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::client::ClientShared;
use super::cluster::send_async_info_to_clients;
use super::ServerHandle;

/// Longest pause between two client closes (nats-server's cap).
const MAX_CLOSE_INTERVAL: Duration = Duration::from_secs(1);
/// Shortest pause; more clients than fit are closed in batches.
const MIN_CLOSE_INTERVAL: Duration = Duration::from_millis(1);

impl ServerHandle {
    /// Runs lame duck mode and returns once every client is closed; then call
    /// [`ServerHandle::shutdown`]. Returns at once when called again. Dropping
    /// the future stops closing clients (the listener stays closed).
    pub async fn lame_duck(&self) {
        let shared = &self.shared;
        if shared.lame_duck.swap(true, Ordering::SeqCst) {
            return;
        }
        tracing::info!("Entering lame duck mode, stop accepting new clients");
        self.accept_task.abort();
        // The listener is dropped with the task; wait until it is (bounded).
        for _ in 0..100 {
            if self.accept_task.is_finished() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let clients: Vec<Arc<ClientShared>> =
            shared.clients.iter().map(|c| c.value().clone()).collect();
        if let Some(c) = &shared.cluster {
            c.enter_lame_duck();
        }
        send_async_info_to_clients(shared);
        if clients.is_empty() {
            return;
        }
        let grace = shared.opts.lame_duck_grace_period;
        tokio::time::sleep(grace).await;
        tracing::info!("Closing existing clients");
        let plan = ClosePlan::new(
            shared.opts.lame_duck_duration.saturating_sub(grace),
            clients.len(),
        );
        for (i, c) in clients.iter().enumerate() {
            // Graceful: the client sees the close and reconnects elsewhere,
            // and what it published meanwhile is still read and routed.
            c.drain();
            if i + 1 == clients.len() {
                break;
            }
            if i % plan.batch == 0 {
                tokio::time::sleep(plan.pause()).await;
            }
        }
    }

    /// Whether lame duck mode was entered.
    pub fn is_lame_duck(&self) -> bool {
        self.shared.lame_duck.load(Ordering::Relaxed)
    }
}

/// How closes are spread: `batch` clients per pause of about `interval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ClosePlan {
    interval: Duration,
    batch: usize,
}

impl ClosePlan {
    fn new(spread: Duration, clients: usize) -> ClosePlan {
        let spread = if spread.is_zero() {
            Duration::from_secs(1)
        } else {
            spread
        };
        let n = clients.max(1);
        let interval = spread / u32::try_from(n).unwrap_or(u32::MAX);
        if interval < MIN_CLOSE_INTERVAL {
            let slots = (spread.as_millis() as usize).max(1);
            ClosePlan {
                interval: MIN_CLOSE_INTERVAL,
                batch: n.div_ceil(slots),
            }
        } else {
            ClosePlan {
                interval: interval.min(MAX_CLOSE_INTERVAL),
                batch: 1,
            }
        }
    }

    /// A random pause between half the interval and the interval.
    fn pause(&self) -> Duration {
        let max = self.interval.as_nanos() as u64;
        let v = fastrand::u64(max / 2..=max);
        Duration::from_nanos(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_plan() {
        let p = ClosePlan::new(Duration::from_secs(110), 10);
        assert_eq!(p.interval, Duration::from_secs(1));
        assert_eq!(p.batch, 1);
        let p = ClosePlan::new(Duration::from_secs(2), 4);
        assert_eq!(p.interval, Duration::from_millis(500));
        let p = ClosePlan::new(Duration::from_secs(1), 10_000);
        assert_eq!(p.interval, Duration::from_millis(1));
        assert_eq!(p.batch, 10);
        for _ in 0..100 {
            let d = ClosePlan::new(Duration::from_secs(2), 4).pause();
            assert!(d >= Duration::from_millis(250) && d <= Duration::from_millis(500));
        }
    }
}
