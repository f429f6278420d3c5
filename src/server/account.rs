//! Accounts: the unit of isolation. Every connection is bound to exactly one
//! account and publishes/subscribes only inside that account's sublist, so two
//! teams on one broker never see each other's subjects unless an import says so.
//!
//! Imports are wired into the sublists at start-up (see `server/mod.rs`): a
//! stream import is an entry in the exporter's sublist that forwards into the
//! importer; a service import is an entry in the importer's sublist that
//! forwards requests into the exporter. Service responses come back through the
//! exporter's reply space `_R_.<prefix>.<token>`: each forwarded request gets a
//! fresh token, mapped here to the requester's account and real reply subject.
//! A mapping is removed after its response (singleton services) or when its
//! response threshold passes (streamed responses, or nobody answered).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rand::Rng;

use crate::config::ResponseType;
use crate::sublist::Sublist;

use super::subscription::SubRef;

/// Name of the account every connection joins when no accounts are configured.
pub const GLOBAL_ACCOUNT: &str = "$G";

/// First token of every service reply subject (nats-server's).
pub const REPLY_PREFIX: &str = "_R_";

/// Random characters of a reply token (the part that routes one response).
const REPLY_TOKEN_LEN: usize = 10;

static NEXT_ACCOUNT_ID: AtomicU64 = AtomicU64::new(1);

const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn random_token(len: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Where a response to one forwarded request goes.
struct ResponseRoute {
    /// The requester's account.
    to: Weak<Account>,
    /// The requester's own reply subject.
    reply: Arc<[u8]>,
    /// Remove after the first response.
    singleton: bool,
    /// When the mapping lapses.
    expires: Instant,
    /// Streamed responses extend the mapping by this much each time.
    threshold: Duration,
}

/// One account's subject space.
pub struct Account {
    /// Account name (`$G` for the default account).
    pub name: Arc<str>,
    /// Process-unique id (keys per-connection caches of foreign sublists).
    pub id: u64,
    /// All subscriptions of this account's connections, and its import entries.
    pub sublist: Sublist<SubRef>,
    clients: AtomicUsize,
    /// `_R_.<6 random characters>.`: this account's service reply space.
    reply_prefix: Box<[u8]>,
    /// Token → requester, for service requests forwarded into this account.
    responses: Mutex<HashMap<Box<[u8]>, ResponseRoute>>,
}

impl Account {
    /// A new empty account.
    pub fn new(name: &str) -> Self {
        Account {
            name: Arc::from(name),
            id: NEXT_ACCOUNT_ID.fetch_add(1, Ordering::Relaxed),
            sublist: Sublist::new(),
            clients: AtomicUsize::new(0),
            reply_prefix: format!("{REPLY_PREFIX}.{}.", random_token(6))
                .into_bytes()
                .into(),
            responses: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a connection bound to this account.
    pub fn add_client(&self) {
        self.clients.fetch_add(1, Ordering::Relaxed);
    }

    /// Uncounts a connection bound to this account.
    pub fn remove_client(&self) {
        self.clients.fetch_sub(1, Ordering::Relaxed);
    }

    /// Connections currently bound to this account.
    pub fn num_clients(&self) -> usize {
        self.clients.load(Ordering::Relaxed)
    }

    /// The filter covering this account's service reply space (`_R_.xxxxxx.>`).
    pub fn reply_filter(&self) -> Vec<u8> {
        let mut f = self.reply_prefix.to_vec();
        f.push(b'>');
        f
    }

    /// Maps a forwarded request's reply: records that responses to a fresh
    /// subject in this (the exporter's) reply space go to `reply` in `to`, and
    /// writes that subject into `out`.
    pub(crate) fn map_reply(
        &self,
        to: &Arc<Account>,
        reply: &[u8],
        response_type: ResponseType,
        threshold: Duration,
        out: &mut Vec<u8>,
    ) {
        let token = random_token(REPLY_TOKEN_LEN);
        out.clear();
        out.extend_from_slice(&self.reply_prefix);
        out.extend_from_slice(token.as_bytes());
        let route = ResponseRoute {
            to: Arc::downgrade(to),
            reply: Arc::from(reply),
            singleton: response_type == ResponseType::Singleton,
            expires: Instant::now() + threshold,
            threshold,
        };
        self.responses
            .lock()
            .insert(token.into_bytes().into_boxed_slice(), route);
    }

    /// The requester a response published on `subject` (in this account's reply
    /// space) belongs to, consuming a singleton mapping. `None` when the subject
    /// maps nothing (unknown, answered already, or expired).
    pub(crate) fn route_response(&self, subject: &[u8]) -> Option<(Arc<Account>, Arc<[u8]>)> {
        let token = subject.strip_prefix(&*self.reply_prefix)?;
        let now = Instant::now();
        let mut map = self.responses.lock();
        let route = map.get_mut(token)?;
        if route.expires <= now {
            map.remove(token);
            return None;
        }
        let found = route.to.upgrade().map(|a| (a, route.reply.clone()));
        if route.singleton || found.is_none() {
            map.remove(token);
        } else {
            route.expires = now + route.threshold;
        }
        found
    }

    /// Drops reply mappings whose threshold passed; returns how many are left.
    pub(crate) fn sweep_responses(&self, now: Instant) -> usize {
        let mut map = self.responses.lock();
        if !map.is_empty() {
            map.retain(|_, r| r.expires > now);
        }
        map.len()
    }

    /// Service reply mappings currently waiting for a response.
    pub fn pending_responses(&self) -> usize {
        self.responses.lock().len()
    }
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("name", &self.name)
            .field("clients", &self.num_clients())
            .field("subscriptions", &self.sublist.count())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_mappings() {
        let exporter = Account::new("A");
        let importer = Arc::new(Account::new("B"));
        let mut out = Vec::new();
        exporter.map_reply(
            &importer,
            b"_INBOX.1",
            ResponseType::Singleton,
            Duration::from_secs(60),
            &mut out,
        );
        assert!(out.starts_with(b"_R_."));
        assert_eq!(out.split(|&b| b == b'.').count(), 3);
        let filter = exporter.reply_filter();
        assert!(crate::subject::subject_matches(&filter, &out));
        assert_eq!(exporter.pending_responses(), 1);
        let (to, reply) = exporter.route_response(&out).unwrap();
        assert_eq!(to.name, importer.name);
        assert_eq!(&*reply, b"_INBOX.1");
        assert!(
            exporter.route_response(&out).is_none(),
            "singleton answered"
        );
        assert_eq!(exporter.pending_responses(), 0);

        exporter.map_reply(
            &importer,
            b"_INBOX.2",
            ResponseType::Stream,
            Duration::from_millis(30),
            &mut out,
        );
        assert!(exporter.route_response(&out).is_some());
        assert!(exporter.route_response(&out).is_some());
        assert_eq!(exporter.sweep_responses(Instant::now()), 1);
        std::thread::sleep(Duration::from_millis(50));
        assert!(exporter.route_response(&out).is_none(), "expired");
        exporter.map_reply(
            &importer,
            b"_INBOX.3",
            ResponseType::Singleton,
            Duration::from_millis(1),
            &mut out,
        );
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(exporter.sweep_responses(Instant::now()), 0);
        assert!(exporter.route_response(b"_R_.zzzzzz.abc").is_none());
        assert!(exporter.route_response(b"other").is_none());
    }
}
