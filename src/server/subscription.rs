//! What an account's sublist stores.
//!
//! The sublist stores [`SubRef`] handles: mostly a client's subscription, whose
//! match hands the publisher's task direct access to the subscriber's outbound
//! queue (delivery needs no lookup by id), and, for accounts with imports, an
//! [`ImportSub`] that forwards matching messages into another account. Accounts
//! without imports never see the second kind, and a publish only pays for an
//! import when its subject matches it (nats-server's "shadow subscription" idea).

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::auth::Permissions;
use crate::config::ResponseType;
use crate::transform::SubjectTransform;

use super::account::Account;
use super::client::ClientShared;
use super::route::RouteSub;

/// One SUB of one connection.
pub struct Subscription {
    /// The subscribing connection (its outbound queue and delivery flags).
    pub client: Arc<ClientShared>,
    /// The account whose sublist holds this subscription (weak: the sublist
    /// holds the subscription).
    pub account: Weak<Account>,
    /// Set for a wildcard subscription of a connection with subscribe deny
    /// rules: messages on denied subjects are withheld from it at delivery.
    pub deny: Option<Arc<Permissions>>,
    /// The subscription id the client chose; echoed in every MSG.
    pub sid: Box<[u8]>,
    /// The subject filter, possibly with wildcards.
    pub subject: Box<[u8]>,
    /// Queue group name, if any.
    pub queue: Option<Box<[u8]>>,
    /// Auto-unsubscribe after this many messages (0 = never).
    max: AtomicU64,
    delivered: AtomicU64,
    closed: AtomicBool,
}

/// What a delivery attempt concluded about the subscription's auto-unsubscribe limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Deliver; the limit is not reached.
    Deliver,
    /// Deliver, and this is the last message: remove the subscription afterwards.
    DeliverLast,
    /// Do not deliver: closed or over the limit.
    Refuse,
}

impl Subscription {
    /// A new live subscription.
    pub fn new(
        client: Arc<ClientShared>,
        account: &Arc<Account>,
        sid: &[u8],
        subject: &[u8],
        queue: Option<&[u8]>,
    ) -> Self {
        Subscription {
            client,
            account: Arc::downgrade(account),
            deny: None,
            sid: sid.into(),
            subject: subject.into(),
            queue: queue.map(Into::into),
            max: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            closed: AtomicBool::new(false),
        }
    }

    /// Decides whether one more message may be delivered, counting it if so.
    #[inline]
    pub fn admit(&self) -> Admit {
        if self.closed.load(Ordering::Relaxed) {
            return Admit::Refuse;
        }
        let max = self.max.load(Ordering::Relaxed);
        if max == 0 {
            // Counted even without a limit, because a later `UNSUB <sid> <max>`
            // compares against what was already delivered. A plain load+store
            // instead of a locked add keeps the common case cheap (perf showed the
            // locked add as a hot spot); two publishers delivering to the same
            // subscription at the same instant may count one message once, which
            // only matters to an UNSUB max racing with those very deliveries.
            let n = self.delivered.load(Ordering::Relaxed);
            self.delivered.store(n + 1, Ordering::Relaxed);
            return Admit::Deliver;
        }
        let n = self.delivered.fetch_add(1, Ordering::Relaxed) + 1;
        match n.cmp(&max) {
            std::cmp::Ordering::Less => Admit::Deliver,
            std::cmp::Ordering::Equal => Admit::DeliverLast,
            std::cmp::Ordering::Greater => Admit::Refuse,
        }
    }

    /// Sets the auto-unsubscribe limit; returns true if it is already reached.
    pub fn set_max(&self, max: u64) -> bool {
        self.max.store(max, Ordering::Relaxed);
        max > 0 && self.delivered.load(Ordering::Relaxed) >= max
    }

    /// Marks the subscription dead so concurrent publishers skip it.
    /// Returns true the first time only, so removal from the sublist happens once.
    pub fn close(&self) -> bool {
        !self.closed.swap(true, Ordering::AcqRel)
    }

    /// Has this subscription been closed?
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }
}

/// What an import entry does with a message that matches it.
pub enum ImportKind {
    /// In the exporter's sublist, on the imported subject: the message goes to
    /// the importer's subscribers under the transformed subject.
    Stream {
        /// The importing account.
        importer: Weak<Account>,
        /// Exporter's subject → importer's subject.
        transform: SubjectTransform,
    },
    /// In the importer's sublist, on the local request subject: the request goes
    /// to the exporter under the exporter's subject, with a reply subject that
    /// routes responses back.
    Service {
        /// The exporting account.
        exporter: Weak<Account>,
        /// The importing account (where responses go back to).
        importer: Weak<Account>,
        /// The importing account's name (for the `Nats-Request-Info` header).
        importer_name: Arc<str>,
        /// Importer's local subject → exporter's subject.
        transform: SubjectTransform,
        /// How many responses a request gets.
        response_type: ResponseType,
        /// How long an unanswered reply mapping lives.
        threshold: Duration,
    },
    /// In an exporter's sublist, on its `_R_.<prefix>.>` reply space: a
    /// response to a mapped reply subject goes back to the requester.
    Responses {
        /// The exporting account itself (weak: it holds this entry).
        account: Weak<Account>,
    },
}

/// An import's entry in a sublist.
pub struct ImportSub {
    /// What to do with a matching message.
    pub kind: ImportKind,
    /// The filter it is stored under.
    pub subject: Box<[u8]>,
}

/// Sublist handle: identity is the allocation, so the same filter subscribed twice
/// by one client is two entries, and removal removes exactly this one.
#[derive(Clone)]
pub enum SubRef {
    /// A client's subscription.
    Client(Arc<Subscription>),
    /// An import (never in a queue group).
    Import(Arc<ImportSub>),
    /// Interest of a server at the other end of a route (`RS+`).
    Route(Arc<RouteSub>),
}

impl SubRef {
    fn addr(&self) -> usize {
        match self {
            SubRef::Client(s) => Arc::as_ptr(s) as *const u8 as usize,
            SubRef::Import(i) => Arc::as_ptr(i) as *const u8 as usize,
            SubRef::Route(r) => Arc::as_ptr(r) as *const u8 as usize,
        }
    }

    /// The client subscription, if this is one.
    pub fn as_client(&self) -> Option<&Arc<Subscription>> {
        match self {
            SubRef::Client(s) => Some(s),
            SubRef::Import(_) | SubRef::Route(_) => None,
        }
    }
}

impl PartialEq for SubRef {
    fn eq(&self, other: &Self) -> bool {
        self.addr() == other.addr()
    }
}
impl Eq for SubRef {}
impl Hash for SubRef {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.addr().hash(state)
    }
}
