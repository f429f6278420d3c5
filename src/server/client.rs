//! One client connection's life: INFO, CONNECT and auth, the read loop driving the
//! pure parser, delivery into other connections' outbound queues, the ping timer,
//! and teardown.
//!
//! The read loop owns everything that only this connection touches (its subscription
//! map, its match cache, its list of subscribers to wake) so the hot path takes no
//! lock but the subscriber's outbound lock for the memcpy.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::{Instant, MissedTickBehavior};

use crate::auth::{Identity, Permissions, PublishVerdicts, ReplyTracker};
use crate::protocol::client::{
    parse, write_err, write_hmsg, write_msg, ClientOp, Limits, ParseError, Parsed,
    NO_RESPONDERS_HDR, OK, PING, PONG,
};
use crate::protocol::connect::{parse_connect, ConnectInfo};
use crate::protocol::info::parse_info;
use crate::subject::{is_valid_literal_subject, is_valid_queue, is_valid_subject, subject_matches};
use crate::sublist::{LocalMatchCache, MatchResult};

use super::account::Account;
use super::cluster::{pick_route_member, RouteTargets};
use super::outbound::{Outbound, OutboundFailure, Queued};
use super::subscription::{Admit, ImportKind, ImportSub, SubRef, Subscription};
use super::ServerShared;

mod jwt;

/// Read buffer size; grows for payloads larger than this.
const READ_CAPACITY: usize = 64 * 1024;
/// Entries kept in the per-connection match cache.
const LOCAL_CACHE_ENTRIES: usize = 256;
/// Delay of the first PING when `ping_interval` is longer.
const FIRST_PING_INTERVAL: Duration = Duration::from_secs(2);
/// Bound on how long teardown waits for queued bytes (e.g. a final -ERR) to leave.
const FINAL_FLUSH_WAIT: Duration = Duration::from_secs(2);
/// How long a connection closed by lame duck mode keeps reading what its
/// client sent before it saw the close.
const DRAIN_WAIT: Duration = Duration::from_secs(2);
/// Entries in each per-connection cache of another account's sublist (imports).
const FOREIGN_CACHE_ENTRIES: usize = 64;
/// How many account hops one message may take through imports (service imports
/// of service imports, responses back along them). Stream imports end a chain:
/// what arrives through one is never passed on, as in nats-server.
const MAX_IMPORT_DEPTH: usize = 4;

/// The part of a connection that other tasks touch: its outbound queue (publishers
/// deliver into it) and a kill switch (shutdown, lame duck).
pub struct ClientShared {
    /// Server-unique connection id (INFO `client_id`).
    pub id: u64,
    /// Queue of bytes for this connection's socket.
    pub out: Outbound,
    /// Whether this connection accepts HMSG (CONNECT `headers`).
    headers: AtomicBool,
    /// Set when the connection's user has `allow_responses`: deliveries with a
    /// reply subject are recorded here so the user may answer them.
    replies: OnceLock<ReplyTracker>,
    /// Set (to the client's address) once its CONNECT said protocol >= 1: it
    /// gets asynchronous INFO updates (cluster URLs, lame duck mode).
    pub(crate) async_info: OnceLock<SocketAddr>,
    kill: Notify,
    killed: AtomicBool,
    /// Closing for lame duck mode: stop writing, keep reading (see `drain`).
    draining: AtomicBool,
}

impl ClientShared {
    pub(crate) fn new(id: u64, max_pending: usize) -> Self {
        ClientShared {
            id,
            out: Outbound::new(max_pending),
            headers: AtomicBool::new(false),
            replies: OnceLock::new(),
            async_info: OnceLock::new(),
            kill: Notify::new(),
            killed: AtomicBool::new(false),
            draining: AtomicBool::new(false),
        }
    }

    /// Asks the connection to close (server shutdown). Queued bytes are still written.
    pub fn kill(&self) {
        self.killed.store(true, Ordering::Release);
        self.kill.notify_one();
    }

    /// Closes the connection the graceful way (lame duck mode): queued bytes
    /// are written and the socket is shut for writing, so the client sees the
    /// end of the stream and reconnects elsewhere; what it sent before it
    /// noticed is still read and processed (published messages are not lost)
    /// until it closes its side or `DRAIN_WAIT` passes.
    pub fn drain(&self) {
        self.draining.store(true, Ordering::Release);
        self.kill.notify_one();
    }

    #[inline]
    fn wants_headers(&self) -> bool {
        self.headers.load(Ordering::Relaxed)
    }
}

/// Why a connection ended; logged at debug level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    ClientClosed,
    ReadError,
    ProtocolViolation,
    MaxPayloadExceeded,
    MaxControlLineExceeded,
    AuthenticationViolation,
    AuthenticationTimeout,
    StaleConnection,
    SlowConsumerPendingBytes,
    SlowConsumerWriteDeadline,
    WriteError,
    MaxConnectionsExceeded,
    ServerShutdown,
}

/// A failure that ends the connection, optionally after an `-ERR`.
struct Close {
    err: Option<&'static str>,
    reason: CloseReason,
}

impl Close {
    fn with_err(err: &'static str, reason: CloseReason) -> Self {
        Close {
            err: Some(err),
            reason,
        }
    }

    /// nats-server closes on some protocol errors without any `-ERR`.
    fn silent(reason: CloseReason) -> Self {
        Close { err: None, reason }
    }

    /// Every authentication failure looks the same to the client.
    fn auth_violation() -> Self {
        Close::with_err(
            "Authorization Violation",
            CloseReason::AuthenticationViolation,
        )
    }
}

/// Entry point for an accepted socket.
pub(crate) async fn run(server: Arc<ServerShared>, stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let id = server.next_client_id();
    let shared = Arc::new(ClientShared::new(id, server.opts.max_pending));
    let (mut reader, writer) = stream.into_split();

    let flusher = {
        let shared = shared.clone();
        let deadline = server.opts.write_deadline;
        tokio::spawn(async move { shared.out.run_flusher(writer, deadline).await })
    };

    let nonce = server.auth.needs_nonce().then(crate::auth::nkey::new_nonce);
    let info = server.info_line(id, peer, nonce.as_deref());
    shared.out.send_now(info.as_bytes());

    if !server.register_client(&shared) {
        shared
            .out
            .send_now(&err_line("maximum connections exceeded"));
        shared.out.close();
        tracing::debug!(
            "{peer} - cid:{id} - closed: {:?}",
            CloseReason::MaxConnectionsExceeded
        );
        let _ = tokio::time::timeout(FINAL_FLUSH_WAIT, flusher).await;
        return;
    }
    tracing::debug!("{peer} - cid:{id} - client connection created");

    // Until it authenticates, a connection sits in $G without subscriptions;
    // with no authentication configured it stays there.
    let account = server.global_account.clone();
    account.add_client();
    let bound = !server.auth.configured();
    let mut conn = Conn {
        server: server.clone(),
        shared: shared.clone(),
        account,
        perms: None,
        pub_verdicts: PublishVerdicts::default(),
        who: Arc::from("anonymous"),
        nonce,
        bound,
        peer,
        subs: HashMap::new(),
        cache: LocalMatchCache::new(LOCAL_CACHE_ENTRIES),
        foreign: HashMap::new(),
        scratch: Vec::new(),
        to_wake: Vec::new(),
        to_remove: Vec::new(),
        routes: RouteTargets::default(),
        opts: ConnectInfo::default(),
        session: None,
        session_gen: 0,
        connected: false,
        pings_out: 0,
        ping_sent: None,
        rtt: None,
        trace: server.opts.trace,
        limits: Limits {
            max_control_line: server.opts.max_control_line,
            max_payload: server.opts.max_payload,
        },
    };

    let reason = conn.read_loop(&mut reader).await;
    conn.teardown(reason);
    drop(conn);
    server.unregister_client(id);
    let _ = tokio::time::timeout(FINAL_FLUSH_WAIT, flusher).await;
}

pub(crate) fn err_line(text: &str) -> Vec<u8> {
    let mut b = BytesMut::with_capacity(text.len() + 10);
    write_err(&mut b, text);
    b.to_vec()
}

/// Reusable buffers for one import hop (a renamed subject, a mapped reply, a
/// request's headers), so forwarding does not allocate in the steady state.
#[derive(Default)]
struct Scratch {
    subject: Vec<u8>,
    reply: Vec<u8>,
    headers: Vec<u8>,
}

/// State owned by the connection's read task.
struct Conn {
    server: Arc<ServerShared>,
    shared: Arc<ClientShared>,
    /// The account the connection is bound to.
    account: Arc<Account>,
    /// Its user's permissions (`None`: unrestricted).
    perms: Option<Arc<Permissions>>,
    /// Publish verdicts by subject, when `perms` restrict publishing.
    pub_verdicts: PublishVerdicts,
    /// Who the connection authenticated as, for logs.
    who: Arc<str>,
    /// The nonce sent in INFO (nkey users configured).
    nonce: Option<String>,
    /// Bound to its final account and permissions (authenticated, or no
    /// authentication configured, or implicitly the `no_auth_user`).
    bound: bool,
    peer: SocketAddr,
    subs: HashMap<Box<[u8]>, Arc<Subscription>>,
    cache: LocalMatchCache<SubRef>,
    /// Match caches of other accounts' sublists, by account id (imports).
    foreign: HashMap<u64, LocalMatchCache<SubRef>>,
    /// One set of buffers per import depth.
    scratch: Vec<Scratch>,
    /// Subscribers whose flusher must be woken at the end of this read batch.
    to_wake: Vec<Arc<ClientShared>>,
    /// Subscriptions that reached their auto-unsubscribe limit during this batch.
    to_remove: Vec<Arc<Subscription>>,
    /// Routed copies of the message being fanned out, and routes to wake.
    routes: RouteTargets,
    opts: ConnectInfo,
    /// Operator mode: the JWT user's session (account updates, expiry).
    session: Option<Arc<super::operator::Session>>,
    /// The session generation last applied.
    session_gen: u64,
    connected: bool,
    pings_out: u32,
    /// When the oldest unanswered PING went out (for the RTT).
    ping_sent: Option<Instant>,
    /// Round-trip time measured by the last PING/PONG.
    rtt: Option<Duration>,
    trace: bool,
    limits: Limits,
}

impl Conn {
    async fn read_loop(&mut self, reader: &mut tokio::net::tcp::OwnedReadHalf) -> CloseReason {
        let opts = &self.server.opts;
        let mut buf = BytesMut::with_capacity(READ_CAPACITY);
        let ping_interval = opts.ping_interval;
        // Like nats-server, the first PING goes out early (to learn the RTT soon),
        // then one every ping_interval.
        let first_ping = ping_interval.min(FIRST_PING_INTERVAL);
        let mut ping = tokio::time::interval_at(Instant::now() + first_ping, ping_interval);
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let auth_deadline = if self.bound {
            None
        } else {
            Some(Instant::now() + opts.authorization.timeout)
        };
        let auth_sleep = tokio::time::sleep_until(auth_deadline.unwrap_or_else(Instant::now));
        tokio::pin!(auth_sleep);
        let mut draining = false;
        let drain_sleep = tokio::time::sleep_until(Instant::now());
        tokio::pin!(drain_sleep);

        loop {
            if buf.capacity() - buf.len() < 4096 {
                buf.reserve(READ_CAPACITY);
            }
            let awaiting_auth = auth_deadline.is_some() && !self.bound;
            tokio::select! {
                biased;
                _ = self.shared.kill.notified() => {
                    if !draining
                        && self.shared.draining.load(Ordering::Acquire)
                        && !self.shared.killed.load(Ordering::Acquire)
                    {
                        // Lame duck: the flusher writes what is queued and shuts
                        // the socket for writing; keep reading until the client
                        // closes its side.
                        draining = true;
                        self.shared.out.close();
                        drain_sleep.as_mut().reset(Instant::now() + DRAIN_WAIT);
                        continue;
                    }
                    return CloseReason::ServerShutdown;
                }
                _ = &mut drain_sleep, if draining => return CloseReason::ServerShutdown,
                _ = self.shared.out.wait_done(), if !draining => {
                    return match self.shared.out.failure() {
                        Some(OutboundFailure::SlowConsumerPending) => CloseReason::SlowConsumerPendingBytes,
                        Some(OutboundFailure::SlowConsumerDeadline) => CloseReason::SlowConsumerWriteDeadline,
                        _ => CloseReason::WriteError,
                    };
                }
                _ = jwt::session_event(self.session.clone()) => {
                    if let Err(close) = self.on_session_event() {
                        return self.close_with(close);
                    }
                }
                _ = &mut auth_sleep, if awaiting_auth => {
                    return self.close_with(Close::with_err("Authentication Timeout", CloseReason::AuthenticationTimeout));
                }
                _ = ping.tick() => {
                    if self.pings_out + 1 > self.server.opts.ping_max {
                        return self.close_with(Close::with_err("Stale Connection", CloseReason::StaleConnection));
                    }
                    self.pings_out += 1;
                    if self.ping_sent.is_none() {
                        self.ping_sent = Some(Instant::now());
                    }
                    self.shared.out.send_now(PING);
                }
                r = reader.read_buf(&mut buf) => {
                    match r {
                        Ok(0) if draining => return CloseReason::ServerShutdown,
                        Ok(0) => return CloseReason::ClientClosed,
                        Err(_) => return CloseReason::ReadError,
                        Ok(_) => {}
                    }
                    let result = self.process(&mut buf);
                    self.end_batch();
                    if let Err(close) = result {
                        return self.close_with(close);
                    }
                }
            }
            if self.shared.killed.load(Ordering::Acquire) {
                return CloseReason::ServerShutdown;
            }
        }
    }

    /// Parses and handles every complete op in `buf`, leaving a partial op in place.
    fn process(&mut self, buf: &mut BytesMut) -> Result<(), Close> {
        let mut pos = 0;
        let result = loop {
            if !self.connected && self.server.auth.auth_required() {
                // nats-server decides on the first byte: anything but a CONNECT
                // before authenticating is a violation, garbage included.
                if let Some(&b) = buf.get(pos) {
                    if b != b'C' && b != b'c' {
                        break Err(Close::auth_violation());
                    }
                }
            }
            match parse(&buf[pos..], &self.limits) {
                Ok(Parsed::Op { op, consumed }) => {
                    if let Err(e) = self.handle(op) {
                        break Err(e);
                    }
                    pos += consumed;
                }
                Ok(Parsed::Incomplete { need }) => {
                    super::reserve_for_op(buf, pos, need);
                    break Ok(());
                }
                Err(e) => break Err(self.parse_failure(&e, &buf[pos..])),
            }
        };
        buf.advance(pos);
        result
    }

    fn parse_failure(&self, e: &ParseError, rest: &[u8]) -> Close {
        let snip = &rest[..rest.len().min(64)];
        tracing::debug!(
            "{} - cid:{} - protocol error: {e} (near {:?})",
            self.peer,
            self.shared.id,
            String::from_utf8_lossy(snip)
        );
        let reason = match e {
            ParseError::MaxPayload { .. } => CloseReason::MaxPayloadExceeded,
            ParseError::MaxControlLine => CloseReason::MaxControlLineExceeded,
            _ => CloseReason::ProtocolViolation,
        };
        Close {
            err: e.err_text(),
            reason,
        }
    }

    fn close_with(&mut self, close: Close) -> CloseReason {
        if let Some(text) = close.err {
            self.shared.out.send_now(&err_line(text));
        }
        close.reason
    }

    /// Handles one op. Errors end the connection; non-fatal errors are sent here.
    fn handle(&mut self, op: ClientOp<'_>) -> Result<(), Close> {
        if self.trace {
            self.trace_op(&op);
        }
        if !self.bound && !matches!(op, ClientOp::Connect(_)) {
            // With `no_auth_user`, INFO does not require auth and a client may
            // start without CONNECT: it is that user (nats-server does the same).
            match self.server.auth.implicit_identity() {
                Some(id) if !self.server.auth.auth_required() => {
                    let id = id.clone();
                    self.bind(id);
                }
                _ => return Err(Close::auth_violation()),
            }
        }
        match op {
            // nats-server acknowledges a publish before delivering it.
            ClientOp::Pub {
                subject,
                reply,
                payload,
            } => self.client_publish(subject, reply, None, payload),
            ClientOp::HPub {
                subject,
                reply,
                headers,
                payload,
            } => {
                if !self.opts.headers {
                    // nats-server refuses HPUB from a client that did not agree to headers.
                    return Err(Close::silent(CloseReason::ProtocolViolation));
                }
                let headers = (!headers.is_empty()).then_some(headers);
                self.client_publish(subject, reply, headers, payload);
            }
            ClientOp::Sub {
                subject,
                queue,
                sid,
            } => self.subscribe(subject, queue, sid),
            ClientOp::Unsub { sid, max } => {
                self.unsubscribe(sid, max);
                self.ok();
            }
            ClientOp::Ping => {
                self.shared.out.send_now(PONG);
                self.jwt_after_pong();
            }
            ClientOp::Pong => {
                self.pings_out = 0;
                if let Some(sent) = self.ping_sent.take() {
                    self.rtt = Some(sent.elapsed());
                }
            }
            ClientOp::Connect(json) => self.connect(json)?,
            ClientOp::Info(json) => {
                if parse_info(json).is_err() {
                    return Err(Close::silent(CloseReason::ProtocolViolation));
                }
            }
            ClientOp::Ok => {}
            // A client has no business sending -ERR; nats-server drops it silently.
            ClientOp::Err(_) => return Err(Close::silent(CloseReason::ProtocolViolation)),
        }
        Ok(())
    }

    fn trace_op(&self, op: &ClientOp<'_>) {
        let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let text = match op {
            ClientOp::Pub {
                subject,
                reply,
                payload,
            } => format!(
                "PUB {} {}{}",
                s(subject),
                reply.map(|r| s(r) + " ").unwrap_or_default(),
                payload.len()
            ),
            ClientOp::HPub {
                subject,
                reply,
                headers,
                payload,
            } => format!(
                "HPUB {} {}{} {}",
                s(subject),
                reply.map(|r| s(r) + " ").unwrap_or_default(),
                headers.len(),
                headers.len() + payload.len()
            ),
            ClientOp::Sub {
                subject,
                queue,
                sid,
            } => format!(
                "SUB {} {}{}",
                s(subject),
                queue.map(|q| s(q) + " ").unwrap_or_default(),
                s(sid)
            ),
            ClientOp::Unsub { sid, max } => format!(
                "UNSUB {}{}",
                s(sid),
                max.map(|m| format!(" {m}")).unwrap_or_default()
            ),
            ClientOp::Connect(json) => format!("CONNECT {}", redact_connect(json)),
            ClientOp::Ping => "PING".into(),
            ClientOp::Pong => "PONG".into(),
            ClientOp::Info(_) => "INFO".into(),
            ClientOp::Ok => "+OK".into(),
            ClientOp::Err(e) => format!("-ERR {}", s(e)),
        };
        tracing::trace!("{} - cid:{} - <<- [{text}]", self.peer, self.shared.id);
    }

    #[inline]
    fn ok(&self) {
        if self.opts.verbose {
            self.shared.out.send_now(OK);
        }
    }

    fn connect(&mut self, json: &[u8]) -> Result<(), Close> {
        let info = match parse_connect(json) {
            Ok(info) => info,
            Err(e) => {
                tracing::debug!("{} - cid:{} - bad CONNECT: {e}", self.peer, self.shared.id);
                return Err(Close {
                    err: e.err_text(),
                    reason: CloseReason::ProtocolViolation,
                });
            }
        };
        if self.server.operator.is_some() && !self.connected {
            self.jwt_connect(&info)?;
        } else if self.server.auth.configured() && !self.connected {
            let auth = &self.server.auth;
            let nonce = self.nonce.as_deref();
            let result = if auth.may_be_slow() {
                run_blocking(|| auth.authenticate(&info, nonce))
            } else {
                auth.authenticate(&info, nonce)
            };
            match result {
                Ok(id) => self.bind(id),
                Err(why) => return Err(self.refuse_login(&why)),
            }
        }
        if let Err(e) = info.validate() {
            tracing::debug!("{} - cid:{} - bad CONNECT: {e}", self.peer, self.shared.id);
            return Err(Close {
                err: e.err_text(),
                reason: CloseReason::ProtocolViolation,
            });
        }
        self.shared.headers.store(info.headers, Ordering::Relaxed);
        self.opts = info;
        self.connected = true;
        if self.opts.protocol >= 1 {
            let _ = self.shared.async_info.set(self.peer);
        }
        self.ok();
        Ok(())
    }

    /// Binds the connection to an identity's account and permissions. A
    /// connection that already holds subscriptions (bound implicitly as the
    /// `no_auth_user`, then authenticated as someone else) takes them along,
    /// each checked against the new permissions.
    fn bind(&mut self, id: Identity) {
        let account = self.server.account(&id.account);
        let moved = self.bound
            && (!Arc::ptr_eq(&account, &self.account) || !same_perms(&self.perms, &id.permissions));
        let old: Vec<(Box<[u8]>, Arc<Subscription>)> = if moved {
            self.subs.drain().collect()
        } else {
            Vec::new()
        };
        for (_, sub) in &old {
            self.remove_sub(sub);
        }
        if !Arc::ptr_eq(&account, &self.account) {
            self.account.remove_client();
            account.add_client();
            self.account = account;
        }
        if let Some(limits) = id.permissions.as_ref().and_then(|p| p.responses()) {
            // Set once; a later rebinding keeps the first tracker (its limits).
            let _ = self.shared.replies.set(ReplyTracker::new(limits));
        }
        self.perms = id.permissions;
        self.pub_verdicts.clear();
        self.who = id.label;
        self.bound = true;
        for (sid, sub) in old {
            let saved = self.opts.verbose;
            self.opts.verbose = false;
            self.subscribe(&sub.subject, sub.queue.as_deref(), &sid);
            self.opts.verbose = saved;
        }
    }

    /// Sends a non-closing `-ERR` and logs the violation.
    fn permission_violation(&self, what: &str, text: String) {
        tracing::error!(
            "{} - cid:{} - {what} Violation - {}, {}",
            self.peer,
            self.shared.id,
            self.who,
            &text["Permissions Violation for ".len()..]
        );
        self.shared.out.send_now(&err_line(&text));
    }

    /// The publish permission check (cached verdicts; `allow_responses` replies).
    /// Sends the `-ERR` itself when refused.
    #[inline]
    fn publish_permitted(&mut self, subject: &[u8]) -> bool {
        let Some(perms) = &self.perms else {
            return true;
        };
        if !perms.restricts_publish() || self.pub_verdicts.check(perms, subject) {
            return true;
        }
        if let Some(tracker) = self.shared.replies.get() {
            if tracker.try_respond(subject) {
                return true;
            }
        }
        self.permission_violation(
            "Publish",
            format!(
                "Permissions Violation for Publish to \"{}\"",
                String::from_utf8_lossy(subject)
            ),
        );
        false
    }

    /// Reply subjects in the server's reserved reply spaces (service import
    /// replies `_R_.`, JetStream acks `$JS.ACK.`) may not be set by clients:
    /// like nats-server, the message is refused with a non-closing `-ERR`.
    #[inline]
    fn reply_permitted(&self, reply: Option<&[u8]>) -> bool {
        let Some(reply) = reply else {
            return true;
        };
        let reserved = reply.starts_with(b"_R_.")
            || (reply.len() > b"$JS.ACK.".len() && reply.starts_with(b"$JS.ACK."));
        if reserved {
            self.permission_violation(
                "Publish",
                format!(
                    "Permissions Violation for Publish with Reply of \"{}\"",
                    String::from_utf8_lossy(reply)
                ),
            );
        }
        !reserved
    }

    fn subscribe(&mut self, subject: &[u8], queue: Option<&[u8]>, sid: &[u8]) {
        if !is_valid_subject(subject) || queue.is_some_and(|q| !is_valid_queue(q)) {
            self.shared.out.send_now(&err_line("Invalid Subject"));
            return;
        }
        if let Some(perms) = &self.perms {
            if !perms.subscribe_allowed(subject, queue) {
                let mut text = format!(
                    "Permissions Violation for Subscription to \"{}\"",
                    String::from_utf8_lossy(subject)
                );
                if let Some(q) = queue {
                    text.push_str(&format!(" using queue \"{}\"", String::from_utf8_lossy(q)));
                }
                self.permission_violation("Subscription", text);
                return;
            }
        }
        if let Some(existing) = self.subs.get(sid) {
            if !existing.is_closed() {
                // nats-server ignores a SUB that reuses a live sid.
                self.ok();
                return;
            }
        }
        if self.jwt_subs_full() {
            self.shared
                .out
                .send_now(&err_line("maximum subscriptions exceeded"));
            return;
        }
        let max = self.server.opts.max_subscriptions;
        if max > 0 && self.live_subs() >= max {
            self.shared
                .out
                .send_now(&err_line("maximum subscriptions exceeded"));
            return;
        }
        let mut sub = Subscription::new(self.shared.clone(), &self.account, sid, subject, queue);
        if let Some(perms) = &self.perms {
            if perms.needs_delivery_check(subject) {
                sub.deny = Some(perms.clone());
            }
        }
        let sub = Arc::new(sub);
        if self
            .account
            .sublist
            .insert(subject, queue, SubRef::Client(sub.clone()))
            .is_err()
        {
            self.shared.out.send_now(&err_line("Invalid Subject"));
            return;
        }
        if let Some(cluster) = &self.server.cluster {
            cluster.local_interest(&self.account.name, subject, queue, 1);
        }
        self.subs.insert(sid.into(), sub);
        self.ok();
    }

    fn live_subs(&mut self) -> usize {
        self.subs.retain(|_, s| !s.is_closed());
        self.subs.len()
    }

    fn unsubscribe(&mut self, sid: &[u8], max: Option<u64>) {
        let Some(sub) = self.subs.get(sid) else {
            return;
        };
        match max {
            Some(n) if n > 0 => {
                if sub.set_max(n) {
                    if let Some(sub) = self.subs.remove(sid) {
                        self.remove_sub(&sub);
                    }
                }
            }
            _ => {
                if let Some(sub) = self.subs.remove(sid) {
                    self.remove_sub(&sub);
                }
            }
        }
    }

    fn remove_sub(&self, sub: &Arc<Subscription>) {
        remove_from_account(&self.server, sub);
    }

    /// Pedantic clients are told about a wildcard or malformed publish subject;
    /// like nats-server, the message is still delivered.
    fn check_publish_subject(&self, subject: &[u8]) {
        if self.opts.pedantic && !is_valid_literal_subject(subject) {
            self.shared
                .out
                .send_now(&err_line("Invalid Publish Subject"));
        }
    }

    /// A PUB or HPUB from the client: the pedantic subject warning, permission
    /// checks, the verbose `+OK` (before delivery, as nats-server orders it),
    /// then delivery.
    fn client_publish(
        &mut self,
        subject: &[u8],
        reply: Option<&[u8]>,
        headers: Option<&[u8]>,
        payload: &[u8],
    ) {
        self.check_publish_subject(subject);
        if self.publish_permitted(subject) && self.reply_permitted(reply) {
            self.ok();
            self.publish(subject, reply, headers, payload);
        }
    }

    /// Logs why a CONNECT was refused (never the secret) and closes with the
    /// one answer every authentication failure gets.
    fn refuse_login(&self, why: &dyn std::fmt::Display) -> Close {
        tracing::error!(
            "{} - cid:{} - authentication error - {why}",
            self.peer,
            self.shared.id
        );
        Close::auth_violation()
    }

    /// The hot path: match and fan out one message in the connection's account.
    fn publish(
        &mut self,
        subject: &[u8],
        reply: Option<&[u8]>,
        headers: Option<&[u8]>,
        payload: &[u8],
    ) {
        // The cache is moved out for the duration so the result can be borrowed
        // (no reference-count traffic per message) while fan-out mutates `self`.
        // Moving it is a memcpy; the placeholder never allocates, and an import
        // back into this account meanwhile just asks the sublist directly.
        let mut cache = std::mem::replace(&mut self.cache, LocalMatchCache::new(0));
        let result = cache.get_ref(&self.account.sublist, subject);
        if result.is_empty() {
            if let Some(reply) = reply {
                if self.opts.no_responders {
                    self.no_responders(reply);
                }
            }
        } else {
            self.fan_out(result, subject, reply, headers, payload, 0);
        }
        self.cache = cache;
    }

    /// The interest in `subject` in another account's sublist, through this
    /// connection's cache of that sublist.
    fn match_in(&mut self, account: &Account, subject: &[u8]) -> Arc<MatchResult<SubRef>> {
        if account.id == self.account.id {
            return self.cache.get(&account.sublist, subject);
        }
        self.foreign
            .entry(account.id)
            .or_insert_with(|| LocalMatchCache::new(FOREIGN_CACHE_ENTRIES))
            .get(&account.sublist, subject)
    }

    /// Delivers to every plain subscriber and one member per queue group, and
    /// runs the imports the subject matched. `depth` counts import hops; what
    /// arrived through a stream import (`clients_only`) goes to subscribers only.
    #[allow(clippy::too_many_arguments)]
    fn fan_out(
        &mut self,
        result: &MatchResult<SubRef>,
        subject: &[u8],
        reply: Option<&[u8]>,
        headers: Option<&[u8]>,
        payload: &[u8],
        depth: usize,
    ) {
        self.fan_out_inner(result, subject, reply, headers, payload, depth, false);
    }

    #[allow(clippy::too_many_arguments)]
    fn fan_out_inner(
        &mut self,
        result: &MatchResult<SubRef>,
        subject: &[u8],
        reply: Option<&[u8]>,
        headers: Option<&[u8]>,
        payload: &[u8],
        depth: usize,
        clients_only: bool,
    ) {
        let echo = self.opts.echo;
        // Routed copies of this (account, subject) are collected above `mark`
        // (one RMSG per route) and written at the end.
        let mark = self.routes.mark();
        for entry in &result.plain {
            match entry {
                SubRef::Client(sub) => {
                    if !echo && Arc::ptr_eq(&sub.client, &self.shared) {
                        continue;
                    }
                    self.deliver(sub, subject, reply, headers, payload);
                }
                SubRef::Import(import) => {
                    if !clients_only && depth < MAX_IMPORT_DEPTH {
                        self.forward(import, subject, reply, headers, payload, depth);
                    }
                }
                SubRef::Route(route) => self.routes.add(mark, route, None),
            }
        }
        for (gi, group) in result.queues.iter().enumerate() {
            let n = group.members.len();
            if n == 0 {
                continue;
            }
            let start = fastrand::usize(..n);
            let mut delivered = false;
            for i in 0..n {
                let Some(sub) = group.members[(start + i) % n].as_client() else {
                    continue;
                };
                if !echo && Arc::ptr_eq(&sub.client, &self.shared) {
                    continue;
                }
                if self.deliver(sub, subject, reply, headers, payload) {
                    delivered = true;
                    break;
                }
            }
            // No local member took it: one route gets it, by queue weight.
            if !delivered {
                if let Some(route) = pick_route_member(&group.members) {
                    self.routes.add(mark, route, Some(gi));
                }
            }
        }
        self.routes
            .flush(mark, result, subject, reply, headers, payload);
    }

    /// Carries a message across an import into another account.
    fn forward(
        &mut self,
        import: &ImportSub,
        subject: &[u8],
        reply: Option<&[u8]>,
        headers: Option<&[u8]>,
        payload: &[u8],
        depth: usize,
    ) {
        while self.scratch.len() <= depth {
            self.scratch.push(Scratch::default());
        }
        let mut buf = std::mem::take(&mut self.scratch[depth]);
        match &import.kind {
            ImportKind::Stream {
                importer,
                transform,
            } => {
                if let Some(target) = importer.upgrade() {
                    transform.apply(subject, &mut buf.subject);
                    let result = self.match_in(&target, &buf.subject);
                    if !result.is_empty() {
                        self.fan_out_inner(
                            &result,
                            &buf.subject,
                            reply,
                            headers,
                            payload,
                            depth + 1,
                            true,
                        );
                    }
                }
            }
            ImportKind::Service {
                exporter,
                importer,
                importer_name,
                transform,
                response_type,
                threshold,
            } => {
                if let Some(target) = exporter.upgrade() {
                    transform.apply(subject, &mut buf.subject);
                    let mapped = match (reply, importer.upgrade()) {
                        (Some(r), Some(requester)) => {
                            target.map_reply(
                                &requester,
                                r,
                                *response_type,
                                *threshold,
                                &mut buf.reply,
                            );
                            Some(&buf.reply[..])
                        }
                        _ => None,
                    };
                    request_info_headers(&mut buf.headers, headers, importer_name, self.rtt);
                    let result = self.match_in(&target, &buf.subject);
                    if !result.is_empty() {
                        self.fan_out(
                            &result,
                            &buf.subject,
                            mapped,
                            Some(&buf.headers),
                            payload,
                            depth + 1,
                        );
                    }
                }
            }
            ImportKind::Responses { account } => {
                if let Some((to, orig)) = account.upgrade().and_then(|a| a.route_response(subject))
                {
                    let result = self.match_in(&to, &orig);
                    if !result.is_empty() {
                        self.fan_out(&result, &orig, None, headers, payload, depth + 1);
                    }
                }
            }
        }
        self.scratch[depth] = buf;
    }

    /// Writes one MSG/HMSG into a subscriber's queue (see [`deliver_to`]).
    #[inline]
    fn deliver(
        &mut self,
        sub: &Arc<Subscription>,
        subject: &[u8],
        reply: Option<&[u8]>,
        headers: Option<&[u8]>,
        payload: &[u8],
    ) -> bool {
        deliver_to(
            sub,
            subject,
            reply,
            headers,
            payload,
            &mut self.to_wake,
            &mut self.to_remove,
        )
    }

    /// Answers a request nobody can serve with the 503 status message, sent to
    /// the requester's own subscription that matches the reply subject.
    fn no_responders(&mut self, reply: &[u8]) {
        let Some(sub) = self
            .subs
            .values()
            .find(|s| !s.is_closed() && subject_matches(&s.subject, reply))
            .cloned()
        else {
            return;
        };
        self.deliver(&sub, reply, None, Some(NO_RESPONDERS_HDR), b"");
    }

    /// End of a read batch: one wake-up per touched subscriber, and removal of
    /// subscriptions that hit their auto-unsubscribe limit.
    fn end_batch(&mut self) {
        for c in self.to_wake.drain(..) {
            c.out.wake();
        }
        for sub in std::mem::take(&mut self.to_remove) {
            remove_from_account(&self.server, &sub);
        }
        self.routes.wake();
    }

    fn teardown(&mut self, reason: CloseReason) {
        tracing::debug!(
            "{} - cid:{} - client closed: {reason:?}",
            self.peer,
            self.shared.id
        );
        if matches!(
            reason,
            CloseReason::SlowConsumerPendingBytes | CloseReason::SlowConsumerWriteDeadline
        ) {
            tracing::info!(
                "{} - cid:{} - slow consumer detected ({reason:?}), name {:?}, account {}",
                self.peer,
                self.shared.id,
                self.opts.name.as_deref().unwrap_or(""),
                self.account.name
            );
        }
        for (_, sub) in self.subs.drain() {
            remove_from_account(&self.server, &sub);
        }
        self.jwt_teardown();
        self.account.remove_client();
        self.shared.out.close();
    }
}

/// Writes one MSG/HMSG into a subscriber's queue. Returns false if the
/// subscription refused it (closed, past its auto-unsubscribe limit, or the
/// subject is denied to its user).
/// Shared by client and route readers: `to_wake` collects subscribers
/// whose flusher must be woken at the end of the batch, `to_remove` those
/// that reached their auto-unsubscribe limit.
#[inline]
pub(crate) fn deliver_to(
    sub: &Arc<Subscription>,
    subject: &[u8],
    reply: Option<&[u8]>,
    headers: Option<&[u8]>,
    payload: &[u8],
    to_wake: &mut Vec<Arc<ClientShared>>,
    to_remove: &mut Vec<Arc<Subscription>>,
) -> bool {
    if let Some(perms) = &sub.deny {
        if perms.delivery_denied(subject, sub.queue.as_deref()) {
            return false;
        }
    }
    let admit = sub.admit();
    if admit == Admit::Refuse {
        return false;
    }
    let client = &sub.client;
    if let (Some(r), Some(tracker)) = (reply, client.replies.get()) {
        tracker.record(r);
    }
    let headers = headers.filter(|_| client.wants_headers());
    let len = 48
        + subject.len()
        + sub.sid.len()
        + reply.map_or(0, <[u8]>::len)
        + headers.map_or(0, <[u8]>::len)
        + payload.len();
    let queued = client.out.queue_with(len, |out| match headers {
        Some(h) => write_hmsg(out, subject, &sub.sid, reply, h, payload),
        None => write_msg(out, subject, &sub.sid, reply, payload),
    });
    match queued {
        Queued::NeedsFlush => to_wake.push(client.clone()),
        Queued::Pending => {}
        Queued::Dropped => {
            if client.out.failure().is_some() {
                // Newly slow: make sure its flusher sees the failure and the
                // owning task tears it down.
                client.out.wake();
            }
        }
    }
    if admit == Admit::DeliverLast {
        to_remove.push(sub.clone());
    }
    true
}

/// Closes a subscription and takes it out of its account's sublist (once),
/// telling the cluster when the last local interest in its subject goes.
pub(crate) fn remove_from_account(server: &ServerShared, sub: &Arc<Subscription>) {
    if sub.close() {
        if let Some(account) = sub.account.upgrade() {
            if account
                .sublist
                .remove(
                    &sub.subject,
                    sub.queue.as_deref(),
                    &SubRef::Client(sub.clone()),
                )
                .is_ok()
            {
                if let Some(cluster) = &server.cluster {
                    cluster.local_interest(&account.name, &sub.subject, sub.queue.as_deref(), -1);
                }
            }
        }
    }
}

fn same_perms(a: &Option<Arc<Permissions>>, b: &Option<Arc<Permissions>>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(x), Some(y)) => Arc::ptr_eq(x, y) || x == y,
        _ => false,
    }
}

/// The headers of a request forwarded through a service import: the original
/// ones (if any) plus `Nats-Request-Info: {"acc":"<importer>","rtt":<ns>}`, as
/// nats-server adds. Written into `out` (reused between requests).
fn request_info_headers(
    out: &mut Vec<u8>,
    original: Option<&[u8]>,
    account: &str,
    rtt: Option<Duration>,
) {
    use std::io::Write as _;
    out.clear();
    match original {
        // Drop the blank line that ends the block, append, end it again.
        Some(h) if h.ends_with(b"\r\n\r\n") => out.extend_from_slice(&h[..h.len() - 2]),
        _ => out.extend_from_slice(b"NATS/1.0\r\n"),
    }
    let rtt = rtt.map_or(0, |d| d.as_nanos());
    let _ = write!(out, "Nats-Request-Info: {{\"acc\":");
    // The account name is a config key; JSON-escape it all the same.
    let _ = serde_json::to_writer(&mut *out, account);
    let _ = write!(out, ",\"rtt\":{rtt}}}\r\n\r\n");
}

/// Runs a slow, CPU-bound check (bcrypt) without stalling the other tasks of
/// a multi-threaded runtime.
fn run_blocking<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// CONNECT JSON for trace logs with the secrets blanked.
fn redact_connect(json: &[u8]) -> String {
    match serde_json::from_slice::<serde_json::Value>(json) {
        Ok(mut v) => {
            if let Some(obj) = v.as_object_mut() {
                for key in ["pass", "auth_token", "sig", "jwt"] {
                    if let Some(field) = obj.get_mut(key) {
                        *field = serde_json::Value::String("[REDACTED]".into());
                    }
                }
            }
            v.to_string()
        }
        Err(_) => String::from_utf8_lossy(json).into_owned(),
    }
}
