//! Per-user permissions, with nats-server 2.9's semantics (checked by experiment):
//!
//! * Publish: with an `allow` list the subject must match one of its filters;
//!   a subject matching a `deny` filter is refused even if allowed. A refused
//!   publish is answered `-ERR 'Permissions Violation for Publish to "<subj>"'`
//!   and dropped; the connection stays open.
//! * Subscribe: the SUB filter is checked with its wildcard tokens taken
//!   literally, so `allow: "foo.>"` permits `SUB foo.*` but `allow: "foo.bar"`
//!   does not, and `deny: "foo.secret"` does not refuse `SUB foo.*`. Such a
//!   wildcard subscription is accepted, but messages on denied subjects are not
//!   delivered to it ([`Permissions::delivery_denied`]).
//! * Queue rules: an entry `"subject queue"` concerns only queue subscriptions
//!   whose queue name matches `queue` (which may itself use wildcards); an entry
//!   without a queue concerns plain and queue subscriptions alike.
//! * `allow_responses`: a user may publish to the reply subject of a message it
//!   received, at most `max` times and within `expires`; with no explicit
//!   publish allow list, it may publish nowhere else (the options layer turns
//!   the missing list into an empty one).
//!
//! Publish verdicts are cached per connection ([`PublishVerdicts`]), so a
//! steady-state publisher pays one hash lookup and no allocation.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::config::{PermissionsOptions, ResponsePermissionOptions, SubjectPermissionOptions};
use crate::subject::{has_wildcard, subject_matches};

/// One allow or deny entry: a subject filter and, for subscriptions, an
/// optional queue-name pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    subject: Box<[u8]>,
    queue: Option<Box<[u8]>>,
}

impl Rule {
    fn parse(entry: &str) -> Rule {
        let mut parts = entry.split_whitespace();
        let subject = parts.next().unwrap_or("").as_bytes().into();
        let queue = parts.next().map(|q| q.as_bytes().into());
        Rule { subject, queue }
    }

    /// Does the rule concern this subscription (or, with `queue: None` and a
    /// literal subject, this publish)?
    fn covers(&self, subject: &[u8], queue: Option<&[u8]>) -> bool {
        if !subject_matches(&self.subject, subject) {
            return false;
        }
        match (&self.queue, queue) {
            (None, _) => true,
            (Some(pattern), Some(q)) => subject_matches(pattern, q),
            (Some(_), None) => false,
        }
    }
}

/// Allow and deny lists for one direction.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rules {
    /// `None` allows everything that is not denied.
    allow: Option<Vec<Rule>>,
    deny: Vec<Rule>,
}

impl Rules {
    fn from_options(o: &SubjectPermissionOptions) -> Rules {
        Rules {
            allow: o
                .allow
                .as_ref()
                .map(|list| list.iter().map(|s| Rule::parse(s)).collect()),
            deny: o.deny.iter().map(|s| Rule::parse(s)).collect(),
        }
    }

    fn allows(&self, subject: &[u8], queue: Option<&[u8]>) -> bool {
        let allowed = match &self.allow {
            None => true,
            Some(list) => list.iter().any(|r| r.covers(subject, queue)),
        };
        allowed && !self.deny.iter().any(|r| r.covers(subject, queue))
    }
}

/// `allow_responses` limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseLimits {
    /// Responses per received request; `None` = unlimited.
    pub max: Option<u64>,
    /// How long after receiving the request responses are allowed.
    pub expires: Duration,
}

impl From<&ResponsePermissionOptions> for ResponseLimits {
    fn from(o: &ResponsePermissionOptions) -> Self {
        ResponseLimits {
            max: o.max,
            expires: o.expires,
        }
    }
}

/// The permissions of one authenticated identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permissions {
    publish: Option<Rules>,
    subscribe: Option<Rules>,
    responses: Option<ResponseLimits>,
}

impl Permissions {
    /// Compiles configured permissions (already validated by the options layer).
    pub fn from_options(o: &PermissionsOptions) -> Permissions {
        Permissions {
            publish: o.publish.as_ref().map(Rules::from_options),
            subscribe: o.subscribe.as_ref().map(Rules::from_options),
            responses: o.allow_responses.as_ref().map(ResponseLimits::from),
        }
    }

    /// Whether publishing needs checking at all (otherwise every subject is allowed).
    pub fn restricts_publish(&self) -> bool {
        self.publish.is_some()
    }

    /// The static publish verdict for a subject (reply tracking aside).
    pub fn publish_allowed(&self, subject: &[u8]) -> bool {
        self.publish
            .as_ref()
            .map_or(true, |r| r.allows(subject, None))
    }

    /// May the connection subscribe to `subject` (in `queue`)?
    pub fn subscribe_allowed(&self, subject: &[u8], queue: Option<&[u8]>) -> bool {
        self.subscribe
            .as_ref()
            .map_or(true, |r| r.allows(subject, queue))
    }

    /// Does a subscription to `filter` need the delivery-time deny check? Only
    /// wildcard filters can overlap a deny rule without being refused by it.
    pub fn needs_delivery_check(&self, filter: &[u8]) -> bool {
        self.subscribe.as_ref().is_some_and(|r| !r.deny.is_empty()) && has_wildcard(filter)
    }

    /// Must a message on the literal `subject` be withheld from a subscription
    /// (in `queue`) of this identity? True when a subscribe deny rule covers it.
    pub fn delivery_denied(&self, subject: &[u8], queue: Option<&[u8]>) -> bool {
        self.subscribe
            .as_ref()
            .is_some_and(|r| r.deny.iter().any(|d| d.covers(subject, queue)))
    }

    /// `allow_responses`, if granted.
    pub fn responses(&self) -> Option<ResponseLimits> {
        self.responses
    }
}

/// Entries in a connection's publish verdict cache before it is thinned.
pub const PUBLISH_CACHE_ENTRIES: usize = 1024;

/// A per-connection cache of publish verdicts by subject. Lookups borrow the
/// subject (`Box<[u8]>: Borrow<[u8]>`), so a hit allocates nothing; only a new
/// subject is copied in. Bounded: when full, half of it is dropped.
pub struct PublishVerdicts {
    map: HashMap<Box<[u8]>, bool, BuildHasherDefault<FastHasher>>,
    capacity: usize,
}

impl Default for PublishVerdicts {
    fn default() -> Self {
        Self::new(PUBLISH_CACHE_ENTRIES)
    }
}

impl PublishVerdicts {
    /// A cache of at most `capacity` subjects (at least one).
    pub fn new(capacity: usize) -> Self {
        PublishVerdicts {
            map: HashMap::default(),
            capacity: capacity.max(1),
        }
    }

    /// The verdict for `subject`, computing and caching it on a miss.
    #[inline]
    pub fn check(&mut self, perms: &Permissions, subject: &[u8]) -> bool {
        if let Some(&v) = self.map.get(subject) {
            return v;
        }
        let v = perms.publish_allowed(subject);
        if self.map.len() >= self.capacity {
            let mut keep = false;
            self.map.retain(|_, _| {
                keep = !keep;
                keep
            });
        }
        self.map.insert(subject.into(), v);
        v
    }

    /// Forgets every verdict (permissions changed).
    pub fn clear(&mut self) {
        self.map.clear();
    }

    /// Cached subjects.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// An unkeyed multiplicative hasher for the verdict cache. Not flood-resistant,
/// but the cache is bounded and filled only by its own connection's publishes.
#[derive(Default, Clone, Copy)]
pub struct FastHasher(u64);

impl Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let w = u64::from_le_bytes(c.try_into().expect("8 bytes"));
            self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(K);
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut buf = [0u8; 8];
            buf[..rest.len()].copy_from_slice(rest);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(buf)).wrapping_mul(K);
        }
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.0 = (self.0.rotate_left(5) ^ n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    #[inline]
    fn finish(&self) -> u64 {
        let h = self.0;
        (h ^ (h >> 29)).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (h >> 32)
    }
}

/// Reply subjects seen by an `allow_responses` connection. Deliveries with a
/// reply subject record it (from the publisher's task, hence the lock; only
/// connections with `allow_responses` have a tracker); the connection's own
/// publishes to a recorded subject are allowed within the limits.
pub struct ReplyTracker {
    limits: ResponseLimits,
    replies: Mutex<HashMap<Box<[u8]>, Reply>>,
}

struct Reply {
    at: Instant,
    sent: u64,
}

/// Tracked replies before expired ones are pruned on the next record.
const PRUNE_ABOVE: usize = 4096;
/// Hard bound: above this even unexpired replies are dropped (oldest first is
/// not tracked; an arbitrary half goes), so a service that never answers cannot
/// grow the map without end.
const HARD_LIMIT: usize = 65_536;

impl ReplyTracker {
    /// A tracker with these limits.
    pub fn new(limits: ResponseLimits) -> Self {
        ReplyTracker {
            limits,
            replies: Mutex::new(HashMap::new()),
        }
    }

    /// A message with reply subject `reply` was delivered to the connection.
    pub fn record(&self, reply: &[u8]) {
        let now = Instant::now();
        let mut map = self.replies.lock();
        if map.len() >= PRUNE_ABOVE && !map.contains_key(reply) {
            let expires = self.limits.expires;
            map.retain(|_, r| now.duration_since(r.at) <= expires);
            if map.len() >= HARD_LIMIT {
                let mut keep = false;
                map.retain(|_, _| {
                    keep = !keep;
                    keep
                });
            }
        }
        match map.get_mut(reply) {
            Some(r) => {
                r.at = now;
                r.sent = 0;
            }
            None => {
                map.insert(reply.into(), Reply { at: now, sent: 0 });
            }
        }
    }

    /// The connection publishes to `subject`, which its static permissions
    /// refuse: allowed if it is a tracked reply within the limits (and counted).
    pub fn try_respond(&self, subject: &[u8]) -> bool {
        let mut map = self.replies.lock();
        let Some(r) = map.get_mut(subject) else {
            return false;
        };
        if r.at.elapsed() > self.limits.expires {
            map.remove(subject);
            return false;
        }
        r.sent += 1;
        if let Some(max) = self.limits.max {
            if r.sent >= max {
                map.remove(subject);
            }
        }
        true
    }

    /// Replies currently tracked.
    pub fn len(&self) -> usize {
        self.replies.lock().len()
    }

    /// True when no reply is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SubjectPermissionOptions as Sp;

    fn sp(allow: Option<&[&str]>, deny: &[&str]) -> Option<Sp> {
        Some(Sp {
            allow: allow.map(|a| a.iter().map(|s| s.to_string()).collect()),
            deny: deny.iter().map(|s| s.to_string()).collect(),
        })
    }

    fn perms(publish: Option<Sp>, subscribe: Option<Sp>) -> Permissions {
        Permissions::from_options(&PermissionsOptions {
            publish,
            subscribe,
            allow_responses: None,
        })
    }

    #[test]
    fn publish_allow_and_deny() {
        let p = perms(sp(Some(&["foo.*", "bar.>"]), &["foo.secret"]), None);
        assert!(p.publish_allowed(b"foo.x"));
        assert!(p.publish_allowed(b"bar.a.b"));
        assert!(!p.publish_allowed(b"foo.secret"));
        assert!(!p.publish_allowed(b"baz"));
        assert!(!p.publish_allowed(b"foo.x.y"));
        // A wildcard token in a published subject is literal.
        assert!(p.publish_allowed(b"foo.*"));
        assert!(p.subscribe_allowed(b"anything", Some(b"q")));
        let open = perms(None, None);
        assert!(!open.restricts_publish());
        assert!(open.publish_allowed(b"x"));
    }

    #[test]
    fn subscribe_rules_match_nats_server() {
        let p = perms(
            None,
            sp(
                Some(&["foo.>", "q.* qq", "w.*.x", "x qq.*", "y", "z.>"]),
                &["foo.secret", "foo.*.hidden", "y qd", "z.a qd"],
            ),
        );
        let ok = |s: &str, q: Option<&str>| p.subscribe_allowed(s.as_bytes(), q.map(str::as_bytes));
        assert!(ok("foo.*", None));
        assert!(!ok("foo.secret", None));
        assert!(!ok("q.a", None));
        assert!(ok("q.a", Some("qq")));
        assert!(!ok("q.a", Some("other")));
        assert!(!ok(">", None));
        assert!(ok("foo.>", None));
        assert!(!ok("foo.*.hidden", None));
        assert!(!ok("foo.x.hidden", None));
        assert!(ok("w.*.x", None));
        assert!(ok("w.a.x", None));
        assert!(!ok("w.>", None));
        assert!(ok("q.*", Some("qq")));
        assert!(!ok("foo.secret", Some("qq")));
        assert!(ok("x", Some("qq.a")));
        assert!(!ok("x", Some("qq")));
        assert!(!ok("x", None));
        assert!(ok("y", None));
        assert!(!ok("y", Some("qd")));
        assert!(ok("y", Some("other")));
        assert!(ok("z.*", Some("qd")));
        assert!(ok("z.a", None));
        assert!(!ok("z.a", Some("qd")));
        // Delivery filtering for wildcard subscriptions.
        assert!(p.needs_delivery_check(b"foo.*"));
        assert!(!p.needs_delivery_check(b"foo.bar"));
        assert!(p.delivery_denied(b"foo.secret", None));
        assert!(p.delivery_denied(b"foo.b.hidden", None));
        assert!(!p.delivery_denied(b"foo.a", None));
        assert!(p.delivery_denied(b"z.a", Some(b"qd")));
        assert!(!p.delivery_denied(b"z.a", None));
    }

    #[test]
    fn verdict_cache_is_bounded() {
        let p = perms(sp(Some(&["a.*"]), &[]), None);
        let mut c = PublishVerdicts::new(8);
        for i in 0..100 {
            let s = format!("a.{i}");
            assert!(c.check(&p, s.as_bytes()));
            assert!(c.len() <= 8);
        }
        assert!(!c.check(&p, b"b"));
        assert!(!c.check(&p, b"b"));
        c.clear();
        assert!(c.is_empty());
    }

    #[test]
    fn reply_tracking() {
        let t = ReplyTracker::new(ResponseLimits {
            max: Some(2),
            expires: Duration::from_secs(60),
        });
        assert!(!t.try_respond(b"_INBOX.1"));
        t.record(b"_INBOX.1");
        assert!(t.try_respond(b"_INBOX.1"));
        assert!(t.try_respond(b"_INBOX.1"));
        assert!(!t.try_respond(b"_INBOX.1"));
        assert!(t.is_empty());
        let unlimited = ReplyTracker::new(ResponseLimits {
            max: None,
            expires: Duration::from_millis(20),
        });
        unlimited.record(b"r");
        for _ in 0..10 {
            assert!(unlimited.try_respond(b"r"));
        }
        std::thread::sleep(Duration::from_millis(40));
        assert!(!unlimited.try_respond(b"r"));
        for i in 0..(HARD_LIMIT + 10) {
            unlimited.record(format!("x.{i}").as_bytes());
        }
        assert!(unlimited.len() <= HARD_LIMIT);
    }
}
