//! A subscription as stored in an account's sublist.
//!
//! The sublist stores `SubRef` handles; a match hands the publisher's task direct
//! access to the subscriber's outbound queue, so delivery needs no lookup by id.

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use super::client::ClientShared;

/// One SUB of one connection.
pub struct Subscription {
    /// The subscribing connection (its outbound queue and delivery flags).
    pub client: Arc<ClientShared>,
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
        sid: &[u8],
        subject: &[u8],
        queue: Option<&[u8]>,
    ) -> Self {
        Subscription {
            client,
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
        // Counted even without a limit: a later `UNSUB <sid> <max>` compares
        // against what was already delivered.
        let n = self.delivered.fetch_add(1, Ordering::Relaxed) + 1;
        let max = self.max.load(Ordering::Relaxed);
        if max == 0 {
            return Admit::Deliver;
        }
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

/// Sublist handle: identity is the allocation, so the same filter subscribed twice
/// by one client is two entries, and removal removes exactly this one.
#[derive(Clone)]
pub struct SubRef(pub Arc<Subscription>);

impl PartialEq for SubRef {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}
impl Eq for SubRef {}
impl Hash for SubRef {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (Arc::as_ptr(&self.0) as usize).hash(state)
    }
}
impl std::ops::Deref for SubRef {
    type Target = Subscription;
    fn deref(&self) -> &Subscription {
        &self.0
    }
}
