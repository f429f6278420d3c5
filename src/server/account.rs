//! Accounts: the unit of isolation. Every connection is bound to exactly one
//! account and publishes/subscribes only inside that account's sublist, so two
//! teams on one broker never see each other's subjects unless an import says so.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::sublist::Sublist;

use super::subscription::SubRef;

/// Name of the account every connection joins when no accounts are configured.
pub const GLOBAL_ACCOUNT: &str = "$G";

/// One account's subject space.
pub struct Account {
    /// Account name (`$G` for the default account).
    pub name: Arc<str>,
    /// All subscriptions of this account's connections.
    pub sublist: Sublist<SubRef>,
    clients: AtomicUsize,
}

impl Account {
    /// A new empty account.
    pub fn new(name: &str) -> Self {
        Account {
            name: Arc::from(name),
            sublist: Sublist::new(),
            clients: AtomicUsize::new(0),
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
