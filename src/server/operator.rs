//! Operator mode in the server: accounts loaded from verified JWTs through
//! the resolver, their imports wired into the sublists, connected users
//! tracked per account so that account updates (revocations, limits,
//! signing keys, permissions) reach them, and expirations enforced.
//!
//! Accounts are loaded on first use (a user connects, an import names them)
//! and are then kept; an account's name in the server is its public key. A
//! claim update (see `system.rs`) replaces an account's claims: its imports
//! and those of the accounts importing from it are rewired, and every
//! connected user of it is re-evaluated the way nats-server 2.9 does it:
//!
//! * over the new `conn` limit: the newest connections stay, the older ones
//!   are closed with `-ERR 'maximum account active connections exceeded'`;
//! * a bearer user where bearer tokens are now disallowed: `Authorization
//!   Violation`; a revoked user: `User Authentication Revoked`;
//! * a user whose signing key was removed (or whose scope changed): closed
//!   without an `-ERR`;
//! * everyone else gets the new limits (`subs`, `payload`) and, unlike
//!   nats-server, the new default permissions at once (nats-server applies
//!   them at the next connect).
//!
//! Nothing here runs on the message path: a connection reads its session's
//! state only when the session signals a change.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dashmap::DashMap;
use parking_lot::{Mutex, ReentrantMutex, RwLock};
use tokio::sync::{watch, Notify};
use tokio::time::Instant;

use crate::auth::jwt_users::{
    authorize_user, decode_user, min_limit, user_account, verify_activation, AccountError,
    AccountInfo, Trust, UserError, UserGrant,
};
use crate::auth::resolver::{ResolveError, Resolver};
use crate::auth::Permissions;
use crate::config::{ConfigError, ErrorKind, Options};
use crate::jwt::{self, ExportType, JwtError, NO_LIMIT};
use crate::protocol::connect::ConnectInfo;
use crate::transform::{is_subset, SubjectTransform};

use super::account::Account;
use super::subscription::{ImportKind, ImportSub, SubRef};
use super::ServerShared;

/// How often expirations and service reply mappings are checked.
const MAINTENANCE_TICK: Duration = Duration::from_millis(250);

/// Operator-mode state of one server.
pub(crate) struct OperatorState {
    pub(crate) trust: Trust,
    pub(crate) resolver: Resolver,
    /// The system account's public key, if any.
    pub(crate) system_account: Option<String>,
    /// Loaded accounts by public key.
    accounts: DashMap<String, Arc<JwtAccount>>,
    /// Serializes loading (re-entrant: loading an account loads the accounts
    /// it imports from).
    load_lock: ReentrantMutex<()>,
    /// Sequence number of system messages (the `seq` of answers).
    pub(crate) seq: AtomicU64,
}

/// What closes a session's connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SessionClose {
    /// Send `-ERR '<text>'`, then close.
    Err(&'static str),
    /// Close without an `-ERR` (the reason is only logged).
    Silent(&'static str),
}

/// The parts of a session an account update changes.
#[derive(Debug, Clone)]
pub(crate) struct SessionState {
    /// Permissions in effect.
    pub(crate) permissions: Option<Arc<Permissions>>,
    /// Largest payload accepted from this connection.
    pub(crate) max_payload: usize,
    /// Most subscriptions (`None`: unlimited).
    pub(crate) max_subs: Option<usize>,
    /// Set when the connection must close.
    pub(crate) close: Option<SessionClose>,
    /// Bumped on every change.
    pub(crate) generation: u64,
}

/// One connected JWT user: shared by its connection and its account.
pub(crate) struct Session {
    /// The connection's id.
    pub(crate) cid: u64,
    /// What the user was granted at CONNECT.
    pub(crate) grant: UserGrant,
    /// Set once the first PONG after CONNECT went out.
    pub(crate) first_pong: AtomicBool,
    account: Weak<JwtAccount>,
    state: Mutex<SessionState>,
    notify: Notify,
}

impl Session {
    /// The current state (cheap clone).
    pub(crate) fn state(&self) -> SessionState {
        self.state.lock().clone()
    }

    /// Asks the connection to close.
    pub(crate) fn close(&self, why: SessionClose) {
        let mut st = self.state.lock();
        if st.close.is_none() {
            st.close = Some(why);
            st.generation += 1;
        }
        drop(st);
        self.notify.notify_one();
    }

    fn set(
        &self,
        permissions: Option<Arc<Permissions>>,
        max_payload: usize,
        max_subs: Option<usize>,
    ) {
        let mut st = self.state.lock();
        st.permissions = permissions;
        st.max_payload = max_payload;
        st.max_subs = max_subs;
        st.generation += 1;
        drop(st);
        self.notify.notify_one();
    }

    /// Resolves when the session changed (a timer task closes it when its
    /// deadline passes, so the connection's loop arms no timer of its own).
    pub(crate) async fn event(&self) {
        self.notify.notified().await
    }

    /// Takes the session out of its account (connection closed).
    pub(crate) fn detach(&self) {
        if let Some(a) = self.account.upgrade() {
            a.sessions.lock().remove(&self.cid);
        }
    }
}

/// An import entry installed on behalf of an importing account.
struct Wired {
    /// The account whose sublist holds the entry.
    holder: Weak<Account>,
    subject: Box<[u8]>,
    entry: SubRef,
}

/// A sublist entry to install: (holder account, filter, entry).
type Planned = (Arc<Account>, Box<[u8]>, SubRef);

#[derive(Default)]
struct Wiring {
    installed: Vec<Wired>,
    /// Earliest `exp` of an activation in use (0: none); rewired then.
    next_check: i64,
}

/// A loaded account.
pub(crate) struct JwtAccount {
    pub(crate) account: Arc<Account>,
    info: RwLock<Arc<AccountInfo>>,
    sessions: Mutex<HashMap<u64, Arc<Session>>>,
    wiring: Mutex<Wiring>,
    /// The exporter-side entry that routes service responses is installed.
    responses: AtomicBool,
    /// The account JWT expired and its users were closed.
    expired: AtomicBool,
}

impl JwtAccount {
    /// The claims in effect.
    pub(crate) fn info(&self) -> Arc<AccountInfo> {
        self.info.read().clone()
    }

    fn is_expired(&self, now: i64) -> bool {
        let exp = self.info().exp();
        self.expired.load(Ordering::Relaxed) || (exp > 0 && now > exp)
    }
}

fn resolve_err(e: ResolveError) -> String {
    e.to_string()
}

/// The unix-seconds `t` as a tokio instant.
fn instant_at(t: i64) -> Instant {
    let at = UNIX_EPOCH + Duration::from_secs(t.max(0) as u64);
    match at.duration_since(SystemTime::now()) {
        Ok(d) => Instant::now() + d,
        Err(_) => Instant::now(),
    }
}

/// Runs blocking work (resolver I/O, loading accounts) without stalling
/// the other tasks of a multi-threaded runtime.
pub(crate) fn run_blocking<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// nats-server's texts for the JWT errors claim updates report.
pub(crate) fn jwt_error_text(e: &JwtError) -> String {
    match e {
        JwtError::Malformed(m) if m.contains("3 dot-separated") => "expected 3 chunks".into(),
        JwtError::BadSignature { .. } => "claim failed V2 signature verification".into(),
        other => other.to_string(),
    }
}

impl OperatorState {
    /// Builds the operator state from validated options; `None` outside
    /// operator mode. Preloads are verified and stored, those that are
    /// expired, not trusted or not valid with a warning: like nats-server,
    /// the server starts and refuses their users (with the reason in the
    /// log). A full resolver leaves untrusted and invalid ones out of its
    /// directory, where they could replace a good JWT.
    pub(crate) fn from_options(o: &Options) -> Result<Option<Arc<OperatorState>>, ConfigError> {
        let t = &o.trust;
        if !t.is_operator_mode() {
            return Ok(None);
        }
        let trust = Trust::from_options(t);
        let resolver_opts = t.effective_resolver().ok_or_else(|| {
            ConfigError::new(ErrorKind::Invalid, "operator mode needs a resolver")
        })?;
        let resolver = Resolver::from_options(&resolver_opts)
            .map_err(|e| ConfigError::new(ErrorKind::Invalid, e.to_string()))?;
        if let Resolver::Url(u) = &resolver {
            run_blocking(|| u.check())
                .map_err(|e| ConfigError::new(ErrorKind::Invalid, e.to_string()))?;
        }
        for p in &t.preload {
            match trust.verify_account(&p.jwt, Some(&p.account), Some(jwt::now_unix())) {
                Ok(_) => {}
                Err(AccountError::Expired) => {
                    tracing::warn!(
                        "resolver_preload: account JWT for {} has expired",
                        p.account
                    )
                }
                Err(e) if resolver.is_full() => {
                    tracing::warn!("resolver_preload: account {} left out: {e}", p.account);
                    continue;
                }
                Err(e) => {
                    tracing::warn!("resolver_preload: account {}: {e}", p.account)
                }
            }
            let stored = if resolver.is_full() {
                resolver.store_if_newer(&p.account, &p.jwt)
            } else {
                resolver.store(&p.account, &p.jwt).map(|_| true)
            };
            stored.map_err(|e| {
                ConfigError::new(
                    ErrorKind::Invalid,
                    format!("resolver_preload: account {}: {e}", p.account),
                )
            })?;
        }
        let system_account = o
            .system_account
            .clone()
            .or_else(|| t.operator_system_account().map(str::to_owned));
        for op in &t.operators {
            tracing::info!(
                "Trusted Operator {:?} ({}), {} signing key(s)",
                op.claims.name,
                op.claims.sub,
                op.claims.operator().map_or(0, |x| x.signing_keys.len())
            );
        }
        match &resolver_opts {
            crate::config::ResolverOptions::Full(d) => tracing::info!(
                "Managing all jwt in exclusive directory {}",
                d.dir.display()
            ),
            crate::config::ResolverOptions::Url(u) => {
                tracing::info!("Account resolver: URL {u}")
            }
            crate::config::ResolverOptions::Memory => {
                tracing::info!("Account resolver: MEMORY ({} preloaded)", t.preload.len())
            }
        }
        Ok(Some(Arc::new(OperatorState {
            trust,
            resolver,
            system_account,
            accounts: DashMap::new(),
            load_lock: ReentrantMutex::new(()),
            seq: AtomicU64::new(0),
        })))
    }

    /// Loads the system account (if it resolves) and starts the system
    /// request handlers and the maintenance task.
    pub(crate) fn start(self: &Arc<Self>, server: &Arc<ServerShared>, stop: watch::Receiver<bool>) {
        if let Some(sys) = &self.system_account {
            let op = self.clone();
            let s = server.clone();
            let sys2 = sys.clone();
            let loaded = run_blocking(move || op.lookup(&s, &sys2));
            if let Err(e) = loaded {
                tracing::warn!("system account {sys}: {e}");
            }
            super::system::start(server, self, sys, stop.clone());
        }
        let weak = Arc::downgrade(server);
        let op = self.clone();
        let mut stop = stop;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(MAINTENANCE_TICK);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = stop.changed() => break,
                    _ = tick.tick() => {
                        let Some(server) = weak.upgrade() else { break };
                        op.maintain(&server);
                    }
                }
            }
        });
    }

    /// Account expirations, activation expirations, service reply mappings.
    fn maintain(&self, server: &Arc<ServerShared>) {
        let now = jwt::now_unix();
        let entries: Vec<Arc<JwtAccount>> =
            self.accounts.iter().map(|e| e.value().clone()).collect();
        let clock = std::time::Instant::now();
        for e in entries {
            e.account.sweep_responses(clock);
            let exp = e.info().exp();
            if exp > 0 && now > exp && !e.expired.swap(true, Ordering::AcqRel) {
                tracing::info!(
                    "account {} JWT expired; closing its connections",
                    e.account.name
                );
                for s in e.sessions.lock().values() {
                    s.close(SessionClose::Err("Account Authentication Expired"));
                }
            }
            let next = e.wiring.lock().next_check;
            if next > 0 && now >= next {
                self.wire_imports(server, &e);
            }
        }
    }

    /// The loaded account `key`, loading (and verifying) it if needed.
    /// Blocks on resolver I/O: call it off the async workers.
    pub(crate) fn lookup(
        &self,
        server: &ServerShared,
        key: &str,
    ) -> Result<Arc<JwtAccount>, String> {
        let now = jwt::now_unix();
        if let Some(e) = self.get(key) {
            if !e.is_expired(now) {
                return Ok(e);
            }
            // Expired: maybe the resolver has a newer JWT (nats-server
            // refetches expired accounts too).
            if let Ok(token) = self.resolver.fetch(key) {
                if token != e.info().jwt {
                    if let Ok(claims) = self.trust.verify_account(&token, Some(key), Some(now)) {
                        self.apply(server, &e, Arc::new(AccountInfo::new(&token, claims)));
                        return Ok(e);
                    }
                }
            }
            return Err("Account JWT has expired".into());
        }
        let _guard = self.load_lock.lock();
        if let Some(e) = self.get(key) {
            return Ok(e);
        }
        let token = self.resolver.fetch(key).map_err(resolve_err)?;
        let claims = self
            .trust
            .verify_account(&token, Some(key), Some(now))
            .map_err(|e| e.to_string())?;
        let info = Arc::new(AccountInfo::new(&token, claims));
        // Atomic get-or-insert: a route may have registered it (remote
        // interest) before any local user.
        let account = server
            .accounts
            .entry(Arc::from(key))
            .or_insert_with(|| Arc::new(Account::new(key)))
            .value()
            .clone();
        let entry = Arc::new(JwtAccount {
            account,
            info: RwLock::new(info.clone()),
            sessions: Mutex::new(HashMap::new()),
            wiring: Mutex::new(Wiring::default()),
            responses: AtomicBool::new(false),
            expired: AtomicBool::new(false),
        });
        self.accounts.insert(key.to_owned(), entry.clone());
        tracing::debug!("account {key} ({:?}) loaded", info.name);
        self.wire_imports(server, &entry);
        self.rewire_importers_of(server, key);
        Ok(entry)
    }

    fn get(&self, key: &str) -> Option<Arc<JwtAccount>> {
        self.accounts.get(key).map(|e| e.value().clone())
    }

    /// CONNECT with a user JWT: the user's account (loaded if needed) and
    /// what the user is granted.
    pub(crate) fn authenticate(
        &self,
        server: &ServerShared,
        connect: &ConnectInfo,
        nonce: &str,
        peer: std::net::IpAddr,
    ) -> Result<(Arc<JwtAccount>, UserGrant), UserError> {
        let token = connect
            .jwt
            .as_deref()
            .filter(|t| !t.is_empty())
            .ok_or(UserError::NoJwt)?;
        let now = jwt::now_unix();
        let user = decode_user(token, now)?;
        let key = user_account(&user).to_owned();
        let entry = self
            .lookup(server, &key)
            .map_err(|reason| UserError::Account {
                account: key.clone(),
                reason,
            })?;
        let info = entry.info();
        if entry.is_expired(now) {
            return Err(UserError::Account {
                account: key,
                reason: "Account JWT has expired".into(),
            });
        }
        let grant = authorize_user(&user, &info, connect, nonce, peer)?;
        Ok((entry, grant))
    }

    /// Registers a connected user with its account and computes its
    /// permissions and limits.
    pub(crate) fn open_session(
        &self,
        entry: &Arc<JwtAccount>,
        cid: u64,
        grant: UserGrant,
        opts: &Options,
    ) -> Arc<Session> {
        let info = entry.info();
        let (max_payload, max_subs) = effective_limits(&grant, &info, opts);
        let permissions = grant.permissions_in(&info).unwrap_or(None);
        let mut deadline = (grant.exp > 0).then(|| instant_at(grant.exp));
        if let Some(w) = grant.window_ends {
            let end = Instant::now() + w;
            deadline = Some(deadline.map_or(end, |d| d.min(end)));
        }
        let session = Arc::new(Session {
            cid,
            grant,
            first_pong: AtomicBool::new(false),
            account: Arc::downgrade(entry),
            state: Mutex::new(SessionState {
                permissions,
                max_payload,
                max_subs,
                close: None,
                generation: 0,
            }),
            notify: Notify::new(),
        });
        entry.sessions.lock().insert(cid, session.clone());
        if let Some(d) = deadline {
            let weak = Arc::downgrade(&session);
            tokio::spawn(async move {
                tokio::time::sleep_until(d).await;
                if let Some(s) = weak.upgrade() {
                    s.close(SessionClose::Err("User Authentication Expired"));
                }
            });
        }
        session
    }

    /// Replaces an account's claims and re-evaluates everything that
    /// depends on them.
    fn apply(&self, server: &ServerShared, entry: &Arc<JwtAccount>, new: Arc<AccountInfo>) {
        let old = std::mem::replace(&mut *entry.info.write(), new.clone());
        entry.expired.store(false, Ordering::Release);
        self.wire_imports(server, entry);
        self.rewire_importers_of(server, &new.key);
        let mut sessions: Vec<Arc<Session>> = entry.sessions.lock().values().cloned().collect();
        let conn = new.limits.conn;
        if conn != NO_LIMIT && sessions.len() as i64 > conn {
            // The newest connections stay, as in nats-server.
            sessions.sort_by_key(|s| std::cmp::Reverse(s.cid));
        }
        for (i, s) in sessions.iter().enumerate() {
            if conn != NO_LIMIT && i as i64 >= conn {
                s.close(SessionClose::Err(
                    "maximum account active connections exceeded",
                ));
                continue;
            }
            if !new.keeps_signer(&s.grant.issuer, &old) {
                s.close(SessionClose::Silent("signing key removed or changed"));
                continue;
            }
            if s.grant.bearer && new.limits.disallow_bearer {
                s.close(SessionClose::Err("Authorization Violation"));
                continue;
            }
            if new.is_revoked(&s.grant.user, s.grant.iat) {
                s.close(SessionClose::Err("User Authentication Revoked"));
                continue;
            }
            let (payload, subs) = effective_limits(&s.grant, &new, &server.opts);
            match s.grant.permissions_in(&new) {
                Some(p) => s.set(p, payload, subs),
                None => s.close(SessionClose::Silent("scoped signing key removed")),
            }
        }
        tracing::info!("account {} ({:?}) updated", new.key, new.name);
    }

    /// Rewires the imports of every loaded account that imports from `key`
    /// (other than `key` itself).
    fn rewire_importers_of(&self, server: &ServerShared, key: &str) {
        let importers: Vec<Arc<JwtAccount>> = self
            .accounts
            .iter()
            .filter(|e| e.key() != key)
            .filter(|e| {
                e.value()
                    .info()
                    .account()
                    .imports
                    .iter()
                    .any(|i| i.account == key)
            })
            .map(|e| e.value().clone())
            .collect();
        for e in importers {
            self.wire_imports(server, &e);
        }
    }

    /// (Re)installs an account's imports: removes the entries it had, then
    /// adds one per usable import. An import is skipped (and logged) when its
    /// exporter cannot be loaded, does not export the subject, or the export
    /// is private and the activation token is missing, invalid, expired or
    /// revoked.
    fn wire_imports(&self, server: &ServerShared, entry: &Arc<JwtAccount>) {
        let info = entry.info();
        let now = jwt::now_unix();
        // Plan first (loading exporters may rewire this account re-entrantly),
        // then swap the entries under the lock.
        let mut plan: Vec<Planned> = Vec::new();
        let mut next_check = 0i64;
        for im in &info.account().imports {
            match self.plan_import(server, entry, &info, im, now) {
                Ok((mut entries, exp)) => {
                    plan.append(&mut entries);
                    if exp > 0 && (next_check == 0 || exp < next_check) {
                        next_check = exp + 1;
                    }
                }
                Err(why) => tracing::warn!(
                    "account {}: {} import {:?} from {} not installed: {why}",
                    info.key,
                    im.kind,
                    im.subject,
                    im.account
                ),
            }
        }
        let mut w = entry.wiring.lock();
        for old in w.installed.drain(..) {
            if let Some(holder) = old.holder.upgrade() {
                let _ = holder.sublist.remove(&old.subject, None, &old.entry);
            }
        }
        for (holder, subject, sub) in plan {
            if holder.sublist.insert(&subject, None, sub.clone()).is_ok() {
                w.installed.push(Wired {
                    holder: Arc::downgrade(&holder),
                    subject,
                    entry: sub,
                });
            }
        }
        w.next_check = next_check;
    }

    /// The sublist entries one import needs, and the `exp` of its activation.
    fn plan_import(
        &self,
        server: &ServerShared,
        entry: &Arc<JwtAccount>,
        info: &AccountInfo,
        im: &jwt::Import,
        now: i64,
    ) -> Result<(Vec<Planned>, i64), String> {
        if im.account == info.key {
            return Err("an account cannot import from itself".into());
        }
        let exporter = self.lookup(server, &im.account)?;
        let einfo = exporter.info();
        let export = einfo
            .account()
            .exports
            .iter()
            .find(|e| e.kind == im.kind && is_subset(im.subject.as_bytes(), e.subject.as_bytes()))
            .ok_or_else(|| format!("{} does not export it", im.account))?;
        let mut exp = 0;
        if export.token_req {
            if im.token.is_empty() {
                return Err("the export is private and the import has no activation token".into());
            }
            exp = verify_activation(
                &im.token,
                &einfo,
                export,
                &info.key,
                &im.subject,
                im.kind,
                now,
            )
            .map_err(|e| format!("activation token: {e}"))?;
        }
        if export.account_token_position > 0 {
            let pos = export.account_token_position as usize;
            if im.subject.split('.').nth(pos - 1) != Some(info.key.as_str()) {
                return Err(format!(
                    "token {pos} of the subject must be the importing account's key"
                ));
            }
        }
        let mut out = Vec::new();
        match im.kind {
            ExportType::Stream => {
                let transform = if !im.local_subject.is_empty() {
                    SubjectTransform::new(&im.subject, &im.local_subject)
                } else if !im.to.is_empty() {
                    SubjectTransform::with_prefix(&im.subject, &im.to)
                } else {
                    SubjectTransform::identity(&im.subject)
                }
                .map_err(|e| e.to_string())?;
                let sub = SubRef::Import(Arc::new(ImportSub {
                    kind: ImportKind::Stream {
                        importer: Arc::downgrade(&entry.account),
                        transform,
                    },
                    subject: im.subject.as_bytes().into(),
                }));
                out.push((exporter.account.clone(), im.subject.as_bytes().into(), sub));
            }
            ExportType::Service => {
                let (local, remote) = if !im.local_subject.is_empty() {
                    (im.local_subject.as_str(), im.subject.as_str())
                } else if !im.to.is_empty() {
                    (im.subject.as_str(), im.to.as_str())
                } else {
                    (im.subject.as_str(), im.subject.as_str())
                };
                let transform = SubjectTransform::new(local, remote).map_err(|e| e.to_string())?;
                let response_type = match export.response_type {
                    Some(jwt::ResponseType::Stream) => crate::config::ResponseType::Stream,
                    Some(jwt::ResponseType::Chunked) => crate::config::ResponseType::Chunked,
                    _ => crate::config::ResponseType::Singleton,
                };
                let threshold = if export.response_threshold > 0 {
                    Duration::from_nanos(export.response_threshold as u64)
                } else {
                    crate::config::options::DEFAULT_RESPONSE_THRESHOLD
                };
                let sub = SubRef::Import(Arc::new(ImportSub {
                    kind: ImportKind::Service {
                        exporter: Arc::downgrade(&exporter.account),
                        importer: Arc::downgrade(&entry.account),
                        importer_name: entry.account.name.clone(),
                        transform,
                        response_type,
                        threshold,
                    },
                    subject: local.as_bytes().into(),
                }));
                out.push((entry.account.clone(), local.as_bytes().into(), sub));
                if !exporter.responses.swap(true, Ordering::AcqRel) {
                    let filter = exporter.account.reply_filter();
                    let responses = SubRef::Import(Arc::new(ImportSub {
                        kind: ImportKind::Responses {
                            account: Arc::downgrade(&exporter.account),
                        },
                        subject: filter.clone().into(),
                    }));
                    let _ = exporter.account.sublist.insert(&filter, None, responses);
                    // Responses from other nodes' responders come back here.
                    if let Some(c) = &server.cluster {
                        c.local_interest(&exporter.account.name, &filter, None, 1);
                    }
                }
            }
            ExportType::Unknown => return Err("import has no type".into()),
        }
        Ok((out, exp))
    }

    /// A claim update for `key` (`None`: take the key from the JWT, as
    /// `$SYS.REQ.CLAIMS.UPDATE` does). Returns the account the answer names
    /// and either the success message or (message, error).
    pub(crate) fn claim_update(
        &self,
        server: &ServerShared,
        key: Option<&str>,
        token: &str,
    ) -> (String, Result<&'static str, (&'static str, String)>) {
        let token = token.trim();
        if self.resolver.is_full() {
            self.full_update(server, key, token)
        } else {
            self.memory_update(server, key.unwrap_or(""), token)
        }
    }

    /// The full (directory) resolver's rules: store what validates, then
    /// apply it to the loaded account.
    fn full_update(
        &self,
        server: &ServerShared,
        key: Option<&str>,
        token: &str,
    ) -> (String, Result<&'static str, (&'static str, String)>) {
        const ERR: &str = "jwt update resulted in error";
        let claims = match jwt::decode_ignoring_time(token) {
            Ok((_, c)) if c.account().is_some() => c,
            Ok(_) => return ("n/a".into(), Err((ERR, "not an account claim".into()))),
            Err(e) => return ("n/a".into(), Err((ERR, jwt_error_text(&e)))),
        };
        let sub = claims.sub.clone();
        let validation = match self.trust.verify_account(token, None, None) {
            Ok(_) => Ok(()),
            Err(AccountError::Invalid(errors)) => Err((
                "jwt validation failed",
                format!("validation errors: [{}]", errors.join(" ")),
            )),
            Err(AccountError::StrictIssuer) => {
                Err((ERR, "operator requires issuer to be a signing key".into()))
            }
            // nats-server stores JWTs of untrusted issuers (and only refuses
            // them when they are used); tracebus refuses them here so a
            // stray token cannot replace a good one.
            Err(AccountError::Untrusted(_)) => Err((ERR, "account validation failed".into())),
            Err(e) => Err((ERR, e.to_string())),
        };
        let answer_key = key.unwrap_or(&sub).to_owned();
        if let Some(k) = key {
            if let Err(e) = validation {
                return (sub, Err(e));
            }
            if k != sub {
                return (
                    k.into(),
                    Err((ERR, "subject does not match jwt content".into())),
                );
            }
        } else if let Err(e) = validation {
            return (sub, Err(e));
        }
        if let Err(e) = self.resolver.store(&sub, token) {
            return (answer_key, Err((ERR, e.to_string())));
        }
        if let Some(entry) = self.get(&sub) {
            if entry.info().jwt != token {
                match self
                    .trust
                    .verify_account(token, Some(&sub), Some(jwt::now_unix()))
                {
                    Ok(c) => self.apply(server, &entry, Arc::new(AccountInfo::new(token, c))),
                    Err(e) => tracing::error!(
                        "DirResolver - Update for account {sub:?} resulted in error {e}"
                    ),
                }
            }
        } else {
            // Accounts waiting for this exporter get their imports now.
            self.rewire_importers_of(server, &sub);
        }
        tracing::debug!("jwt updated - {sub}");
        (answer_key, Ok("jwt updated"))
    }

    /// MEMORY and URL resolvers: only loaded accounts are updated.
    fn memory_update(
        &self,
        server: &ServerShared,
        key: &str,
        token: &str,
    ) -> (String, Result<&'static str, (&'static str, String)>) {
        const ERR: &str = "jwt update resulted in error";
        let claims = match jwt::decode_ignoring_time(token) {
            Ok((_, c)) if c.account().is_some() => c,
            Ok(_) => return (key.into(), Err((ERR, "not an account claim".into()))),
            Err(e) => return (key.into(), Err((ERR, jwt_error_text(&e)))),
        };
        if claims.sub != key {
            return (
                key.into(),
                Err((ERR, "subject does not match jwt content".into())),
            );
        }
        let Some(entry) = self.get(key) else {
            return (key.into(), Ok("jwt update skipped"));
        };
        if entry.info().jwt == token {
            return (key.into(), Ok("jwt updated"));
        }
        match self
            .trust
            .verify_account(token, Some(key), Some(jwt::now_unix()))
        {
            Ok(c) => {
                if matches!(self.resolver, Resolver::Memory(_)) {
                    let _ = self.resolver.store(key, token);
                }
                self.apply(server, &entry, Arc::new(AccountInfo::new(token, c)));
                (key.into(), Ok("jwt updated"))
            }
            Err(e) => {
                tracing::debug!("jwt update for {key} refused: {e}");
                (key.into(), Err((ERR, "account validation failed".into())))
            }
        }
    }
}

/// Largest payload and most subscriptions for a user: the smallest of the
/// user's (or its scope's), the account's and the server's limits, as
/// nats-server computes them (0 is a limit, −1 none).
pub(crate) fn effective_limits(
    grant: &UserGrant,
    info: &AccountInfo,
    opts: &Options,
) -> (usize, Option<usize>) {
    let payload = min_limit(
        min_limit(grant.payload, info.limits.payload),
        opts.max_payload as i64,
    );
    let server_subs = if opts.max_subscriptions == 0 {
        NO_LIMIT
    } else {
        opts.max_subscriptions as i64
    };
    let subs = min_limit(min_limit(grant.subs, info.limits.subs), server_subs);
    (
        payload.max(0) as usize,
        (subs >= 0).then_some(subs as usize),
    )
}
