//! Operator mode on a connection: the JWT CONNECT, the session that carries
//! account updates and expiry to the connection, and nats-server's INFO with
//! the user's `max_payload` after the first PONG.
//!
//! A child module of `client.rs` so it can work on the connection's state;
//! the trust decisions live in `auth::jwt_users`, the accounts in
//! `server::operator`.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::auth::Identity;
use crate::protocol::connect::ConnectInfo;

use super::super::operator::{run_blocking, Session, SessionClose};
use super::{Close, CloseReason, Conn};

/// Resolves when the connection's session changed or ran out; never
/// without a session.
pub(super) async fn session_event(session: Option<Arc<Session>>) {
    match session {
        Some(s) => s.event().await,
        None => std::future::pending().await,
    }
}

impl Conn {
    /// CONNECT in operator mode: verify the user JWT and its chain, bind the
    /// connection to the user's account, apply the account's connection
    /// limit, and open the session that keeps the connection in step with
    /// its account.
    pub(super) fn jwt_connect(&mut self, info: &ConnectInfo) -> Result<(), Close> {
        let Some(op) = self.server.operator.clone() else {
            return Ok(());
        };
        let nonce = self.nonce.clone().unwrap_or_default();
        let peer = self.peer.ip();
        let server = self.server.clone();
        let result = run_blocking(|| op.authenticate(&server, info, &nonce, peer));
        let (entry, grant) = match result {
            Ok(x) => x,
            Err(why) => return Err(self.refuse_login(&why)),
        };
        let account_info = entry.info();
        let label = if grant.name.is_empty() {
            format!("user {}", grant.user)
        } else {
            format!("user {} ({:?})", grant.user, grant.name)
        };
        tracing::debug!(
            "{} - cid:{} - Authenticated JWT: {label} signed with {} by account {} ({:?})",
            self.peer,
            self.shared.id,
            grant.issuer,
            account_info.key,
            account_info.name
        );
        let permissions = grant.permissions_in(&account_info).unwrap_or(None);
        self.bind(Identity {
            account: entry.account.name.clone(),
            permissions,
            label: Arc::from(label),
        });
        // Counted after joining, so two racing CONNECTs cannot both slip in.
        let conn = account_info.limits.conn;
        if conn >= 0 && self.account.num_clients() as i64 > conn {
            tracing::error!(
                "{} - cid:{} - maximum account active connections exceeded",
                self.peer,
                self.shared.id
            );
            return Err(Close::with_err(
                "maximum account active connections exceeded",
                CloseReason::MaxConnectionsExceeded,
            ));
        }
        let session = op.open_session(&entry, self.shared.id, grant, &self.server.opts);
        let st = session.state();
        self.limits.max_payload = st.max_payload;
        self.session_gen = st.generation;
        self.session = Some(session);
        if st.max_subs == Some(0) {
            // nats-server closes a connection that starts at its limit.
            return Err(Close::with_err(
                "maximum subscriptions exceeded",
                CloseReason::ProtocolViolation,
            ));
        }
        Ok(())
    }

    /// Applies what changed in the session: closes the connection when told
    /// to (revoked, expired, over a limit...), or takes the new permissions
    /// and limits.
    pub(super) fn on_session_event(&mut self) -> Result<(), Close> {
        let Some(session) = self.session.clone() else {
            return Ok(());
        };
        let st = session.state();
        if let Some(close) = st.close {
            return Err(match close {
                SessionClose::Err(text) => {
                    tracing::debug!("{} - cid:{} - {text}", self.peer, self.shared.id);
                    let reason = if text.starts_with("maximum account") {
                        CloseReason::MaxConnectionsExceeded
                    } else {
                        CloseReason::AuthenticationViolation
                    };
                    Close::with_err(text, reason)
                }
                SessionClose::Silent(why) => {
                    tracing::debug!("{} - cid:{} - closed: {why}", self.peer, self.shared.id);
                    Close::silent(CloseReason::AuthenticationViolation)
                }
            });
        }
        if st.generation == self.session_gen {
            return Ok(());
        }
        self.session_gen = st.generation;
        if !super::same_perms(&self.perms, &st.permissions) {
            if let Some(limits) = st.permissions.as_ref().and_then(|p| p.responses()) {
                let _ = self
                    .shared
                    .replies
                    .set(crate::auth::ReplyTracker::new(limits));
            }
            self.perms = st.permissions.clone();
            self.pub_verdicts.clear();
        }
        self.limits.max_payload = st.max_payload;
        if let Some(max) = st.max_subs {
            if self.live_subs() >= max {
                tracing::error!(
                    "{} - cid:{} - maximum subscriptions exceeded",
                    self.peer,
                    self.shared.id
                );
                return Err(Close::with_err(
                    "maximum subscriptions exceeded",
                    CloseReason::ProtocolViolation,
                ));
            }
        }
        Ok(())
    }

    /// Is the session's subscription limit reached? (The caller answers
    /// `-ERR 'maximum subscriptions exceeded'` and keeps the connection.)
    pub(super) fn jwt_subs_full(&mut self) -> bool {
        let Some(max) = self.session.as_ref().and_then(|s| s.state().max_subs) else {
            return false;
        };
        self.live_subs() >= max
    }

    /// After the first PONG following CONNECT, a protocol-1 client whose
    /// payload limit differs from the server's gets an INFO with its own
    /// `max_payload` (what nats-server sends).
    pub(super) fn jwt_after_pong(&mut self) {
        let Some(session) = &self.session else {
            return;
        };
        if self.opts.protocol < 1 || session.first_pong.swap(true, Ordering::AcqRel) {
            return;
        }
        if self.limits.max_payload == self.server.opts.max_payload {
            return;
        }
        let mut info = self.server.info.clone();
        info.client_id = self.shared.id;
        info.client_ip = self.peer.ip().to_string();
        info.nonce = None;
        info.max_payload = self.limits.max_payload;
        let mut out = bytes::BytesMut::new();
        crate::protocol::client::write_info(&mut out, &info);
        self.shared.out.send_now(&out);
    }

    /// The connection closed: leave the account's list of sessions.
    pub(super) fn jwt_teardown(&mut self) {
        if let Some(s) = self.session.take() {
            s.detach();
        }
    }
}
