//! One route connection's life: the handshake (INFO, CONNECT, authorization,
//! cluster name), the read loop driving the pure route parser, remote interest
//! (`RS+`/`RS-` into the account sublists as [`SubRef::Route`] entries), and the
//! delivery of routed messages (`RMSG`/`HMSG`) to local clients.
//!
//! The wire facts are those listed in [`crate::protocol::route`]; the cluster
//! as a whole (registry, gossip, interest counting, solicitation) lives in
//! [`super::cluster`].
//!
//! A message that arrives on a route is delivered to this server's client
//! subscriptions only: plain subscribers, plus one member of each queue group
//! the sender listed. It never goes out on another route (one hop), and it does
//! not run stream or service imports (the publisher's server already did the
//! account mapping and routed the result in the destination account); the one
//! import it does follow is this server's service-reply space, because a
//! response to a request forwarded here comes back addressed to it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use parking_lot::Mutex;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::{Instant, MissedTickBehavior};

use crate::config::RouteUrl;
use crate::protocol::route::{
    parse, parse_route_connect, parse_route_info, write_route_connect, Parsed, Queues, RouteInfo,
    RouteOp, RouteParseError, OK, PING, PONG, ROUTE_LIMITS,
};
use crate::subject::is_valid_subject;
use crate::sublist::{LocalMatchCache, MatchResult};

use super::account::Account;
use super::client::{deliver_to, err_line, remove_from_account, ClientShared};
use super::cluster::Cluster;
use super::outbound::{Outbound, OutboundFailure};
use super::subscription::{ImportKind, SubRef, Subscription};
use super::ServerShared;

const READ_CAPACITY: usize = 64 * 1024;
/// Per-account match caches kept by one route reader.
const ROUTE_CACHE_ENTRIES: usize = 256;
/// The first PING goes out about this long after the connection starts
/// (nats-server: about 1 s, jittered).
const FIRST_PING: Duration = Duration::from_secs(1);
/// Bound on how long teardown waits for queued bytes to leave.
const FINAL_FLUSH_WAIT: Duration = Duration::from_secs(2);
/// How long a retired duplicate route is read after it was shut for writing.
const RETIRE_DRAIN: Duration = Duration::from_secs(5);

/// What the cluster knows about one route connection, beyond its socket.
#[derive(Clone, Default)]
pub(crate) struct RouteMeta {
    /// The peer's server id (from CONNECT or INFO).
    pub remote_id: String,
    /// The peer's server name.
    pub remote_name: String,
    /// We dialed this connection.
    pub solicited: bool,
    /// It was dialed for a configured route (retried for ever).
    pub explicit: bool,
    /// Where to reconnect (the dialed URL, or the peer's advertised route URL).
    pub url: Option<RouteUrl>,
    /// Reconnect when it closes even if accepted (both sides raced).
    pub retry: bool,
    /// The peer's client URLs (INFO `connect_urls`).
    pub connect_urls: Vec<String>,
    /// The peer announced lame duck mode.
    pub ldm: bool,
    /// Registered in the cluster's route table.
    pub registered: bool,
    /// The peer's route listener as we would dial it (`host:port`).
    pub route_addr: String,
    /// A duplicate connection to the same peer, retired once this one has
    /// answered the given number of PINGs (then both ends are known to have
    /// exchanged their interest on this one).
    pub retire_on_pong: Option<(Arc<RouteConn>, u64)>,
}

/// The part of a route connection that other tasks touch: its outbound queue
/// (publishers write `RMSG` into it) and a kill switch.
pub(crate) struct RouteConn {
    /// Connection id (`rid` in logs).
    pub cid: u64,
    pub out: Outbound,
    pub peer: SocketAddr,
    /// Our end of the socket.
    pub local: SocketAddr,
    /// The peer accepts `HMSG` (its INFO/CONNECT said `headers`).
    pub headers: AtomicBool,
    /// Superseded by another connection to the same peer: publishers skip
    /// it; it is shut for writing and read until the peer closes it.
    retired: AtomicBool,
    /// Identifies the peer server (hash of its id): connections to the same
    /// peer count as one route when a message is routed.
    peer_key: AtomicU64,
    /// PINGs sent so far (timer and confirmation).
    pub pings_sent: AtomicU64,
    pub meta: Mutex<RouteMeta>,
    kill: Notify,
    killed: AtomicBool,
}

impl RouteConn {
    fn new(cid: u64, peer: SocketAddr, local: SocketAddr, max_pending: usize) -> Self {
        RouteConn {
            cid,
            out: Outbound::new(max_pending),
            peer,
            local,
            headers: AtomicBool::new(false),
            retired: AtomicBool::new(false),
            peer_key: AtomicU64::new(0),
            pings_sent: AtomicU64::new(0),
            meta: Mutex::new(RouteMeta::default()),
            kill: Notify::new(),
            killed: AtomicBool::new(false),
        }
    }

    #[inline]
    pub fn is_retired(&self) -> bool {
        self.retired.load(Ordering::Relaxed)
    }

    #[inline]
    pub fn peer_key(&self) -> u64 {
        self.peer_key.load(Ordering::Relaxed)
    }

    pub(crate) fn set_peer(&self, server_id: &str) {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        server_id.hash(&mut h);
        // 0 means "unknown".
        self.peer_key.store(h.finish() | 1, Ordering::Relaxed);
    }

    /// Stops routing messages over this connection (another one to the same
    /// peer took over).
    pub(crate) fn set_retired(&self) {
        self.retired.store(true, Ordering::Release);
    }

    /// Retires the connection and shuts it for writing once its queue is out;
    /// the reader keeps reading until the peer closes its side.
    pub(crate) fn retire(&self) {
        self.set_retired();
        self.out.close();
    }

    /// Sends a PING; returns how many have been sent on this connection.
    pub(crate) fn ping(&self) -> u64 {
        let n = self.pings_sent.fetch_add(1, Ordering::AcqRel) + 1;
        self.out.send_now(PING);
        n
    }

    /// Asks the connection to close; queued bytes are still written.
    pub fn kill(&self) {
        self.killed.store(true, Ordering::Release);
        self.kill.notify_one();
    }

    /// The port of the dialing side (ours if we dialed): both ends of the
    /// socket see the same value, which breaks ties between duplicates.
    pub fn dialer_port(&self, solicited: bool) -> u16 {
        if solicited {
            self.local.port()
        } else {
            self.peer.port()
        }
    }

    /// The peer's server id ("" before it is known).
    pub fn remote_id(&self) -> String {
        self.meta.lock().remote_id.clone()
    }
}

/// A remote server's interest, stored in an account sublist: messages matching
/// it go to `route` as `RMSG <account> ...`.
pub struct RouteSub {
    pub(crate) route: Arc<RouteConn>,
    /// The account named in the `RS+` (the `RMSG` names it again).
    pub(crate) account: Arc<str>,
    pub(crate) subject: Box<[u8]>,
    pub(crate) queue: Option<Box<[u8]>>,
    /// Queue members behind the route (0: never picked, as in nats-server).
    weight: AtomicU32,
}

impl RouteSub {
    /// Members of the queue group at the other end (0 for plain interest).
    #[inline]
    pub fn weight(&self) -> u32 {
        self.weight.load(Ordering::Relaxed)
    }
}

/// Entry point for a route connection, accepted (`solicit: None`) or dialed.
pub(crate) async fn run(
    server: Arc<ServerShared>,
    cluster: Arc<Cluster>,
    stream: TcpStream,
    peer: SocketAddr,
    solicit: Option<(RouteUrl, bool)>,
) {
    let _ = stream.set_nodelay(true);
    let cid = server.next_client_id();
    let local = stream.local_addr().unwrap_or(peer);
    let route = Arc::new(RouteConn::new(cid, peer, local, server.opts.max_pending));
    {
        let mut m = route.meta.lock();
        if let Some((url, explicit)) = &solicit {
            m.solicited = true;
            m.explicit = *explicit;
            m.url = Some(url.clone());
        }
    }
    if !cluster.track(&route) {
        // Shutting down.
        return;
    }
    let (mut reader, writer) = stream.into_split();
    let flusher = {
        let route = route.clone();
        let deadline = server.opts.write_deadline;
        tokio::spawn(async move { route.out.run_flusher(writer, deadline).await })
    };

    let mut hello = BytesMut::new();
    if let Some((url, _)) = &solicit {
        let connect = cluster.route_connect(url);
        write_route_connect(&mut hello, &connect);
    }
    cluster.write_own_info(&mut hello, true);
    route.out.send_now(&hello);
    let kind = if solicit.is_some() {
        "solicited"
    } else {
        "accepted"
    };
    tracing::info!("{peer} - rid:{cid} - Route connection created ({kind})");

    let mut conn = RouteReader {
        server: server.clone(),
        cluster: cluster.clone(),
        route: route.clone(),
        solicited: solicit.is_some(),
        connected: solicit.is_some(),
        registered: false,
        verbose: false,
        pings_out: 0,
        pongs: 0,
        remote: HashMap::new(),
        key: Vec::new(),
        accounts: HashMap::new(),
        caches: HashMap::new(),
        to_wake: Vec::new(),
        to_remove: Vec::new(),
    };
    let reason = conn.read_loop(&mut reader).await;
    conn.teardown();
    tracing::info!("{peer} - rid:{cid} - Router connection closed: {reason}");
    route.out.close();
    let _ = tokio::time::timeout(FINAL_FLUSH_WAIT, flusher).await;
    drop(conn);
    cluster.route_closed(&server, &cluster, &route);
}

/// State owned by the route's read task.
struct RouteReader {
    server: Arc<ServerShared>,
    cluster: Arc<Cluster>,
    route: Arc<RouteConn>,
    solicited: bool,
    /// CONNECT received (or not needed: we dialed).
    connected: bool,
    registered: bool,
    /// The peer asked for `+OK` after RS+, RS- and RMSG.
    verbose: bool,
    pings_out: u32,
    /// PONGs received.
    pongs: u64,
    /// Remote interest by `account subject[ queue]`.
    remote: HashMap<Box<[u8]>, Arc<RouteSub>>,
    /// Scratch for building keys of `remote`.
    key: Vec<u8>,
    /// Accounts by name as routed messages name them.
    accounts: HashMap<Box<[u8]>, Arc<Account>>,
    /// Match caches by account id.
    caches: HashMap<u64, LocalMatchCache<SubRef>>,
    to_wake: Vec<Arc<ClientShared>>,
    to_remove: Vec<Arc<Subscription>>,
}

/// Why a route ended (logged).
type Reason = &'static str;

impl RouteReader {
    async fn read_loop(&mut self, reader: &mut tokio::net::tcp::OwnedReadHalf) -> Reason {
        let mut buf = BytesMut::with_capacity(READ_CAPACITY);
        let ping_interval = self.server.opts.ping_interval;
        let jitter = Duration::from_millis(fastrand::u64(0..200));
        let first = (FIRST_PING + jitter).min(ping_interval);
        let mut ping = tokio::time::interval_at(Instant::now() + first, ping_interval);
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let auth_timeout = self.cluster.opts.auth_timeout;
        let auth_deadline = Instant::now() + auth_timeout;
        let auth_sleep = tokio::time::sleep_until(auth_deadline);
        tokio::pin!(auth_sleep);
        let mut draining = false;
        let drain_sleep = tokio::time::sleep_until(Instant::now());
        tokio::pin!(drain_sleep);
        loop {
            if buf.capacity() - buf.len() < 4096 {
                buf.reserve(READ_CAPACITY);
            }
            let awaiting_auth = !self.connected && self.cluster.auth_required();
            tokio::select! {
                biased;
                _ = self.route.kill.notified() => return "Server Shutdown",
                _ = &mut drain_sleep, if draining => return "Duplicate Route",
                _ = self.route.out.wait_done(), if !draining => {
                    if self.route.is_retired() && self.route.out.failure().is_none() {
                        // Superseded: read what the peer still sends until it
                        // closes this connection too.
                        draining = true;
                        drain_sleep.as_mut().reset(Instant::now() + RETIRE_DRAIN);
                        continue;
                    }
                    return match self.route.out.failure() {
                        Some(OutboundFailure::SlowConsumerPending) => "Slow Consumer (Pending Bytes)",
                        Some(OutboundFailure::SlowConsumerDeadline) => "Slow Consumer (Write Deadline)",
                        _ => "Write Error",
                    };
                }
                _ = &mut auth_sleep, if awaiting_auth => {
                    self.route.out.send_now(&err_line("Authentication Timeout"));
                    return "Authentication Timeout";
                }
                _ = ping.tick() => {
                    if self.pings_out + 1 > self.server.opts.ping_max {
                        self.route.out.send_now(&err_line("Stale Connection"));
                        return "Stale Connection";
                    }
                    self.pings_out += 1;
                    self.route.ping();
                }
                r = reader.read_buf(&mut buf) => {
                    match r {
                        Ok(0) => return "Client Closed",
                        Err(_) => return "Read Error",
                        Ok(_) => {}
                    }
                    let result = self.process(&mut buf);
                    self.end_batch();
                    if let Err(why) = result {
                        return why;
                    }
                }
            }
            if self.route.killed.load(Ordering::Acquire) {
                return "Server Shutdown";
            }
        }
    }

    fn process(&mut self, buf: &mut BytesMut) -> Result<(), Reason> {
        let mut pos = 0;
        let result = loop {
            match parse(&buf[pos..], &ROUTE_LIMITS) {
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
                Err(e) => break Err(self.parse_failure(&e)),
            }
        };
        buf.advance(pos);
        result
    }

    fn parse_failure(&self, e: &RouteParseError) -> Reason {
        tracing::error!(
            "{} - rid:{} - route protocol error: {e}",
            self.route.peer,
            self.route.cid
        );
        if let Some(text) = e.err_text() {
            self.route.out.send_now(&err_line(text));
        }
        "Parse Error"
    }

    fn handle(&mut self, op: RouteOp<'_>) -> Result<(), Reason> {
        if !self.connected && self.cluster.auth_required() && !matches!(op, RouteOp::Connect(_)) {
            self.route
                .out
                .send_now(&err_line("Authorization Violation"));
            return Err("Authentication Failure");
        }
        match op {
            RouteOp::Connect(json) => self.connect(json)?,
            RouteOp::Info(json) => self.info(json)?,
            RouteOp::Ping => self.route.out.send_now(PONG),
            RouteOp::Pong => {
                self.pings_out = 0;
                self.pongs += 1;
                let mut m = self.route.meta.lock();
                if m.retire_on_pong
                    .as_ref()
                    .is_some_and(|(_, n)| self.pongs >= *n)
                {
                    let (old, _) = m.retire_on_pong.take().expect("checked");
                    drop(m);
                    tracing::debug!(
                        "{} - rid:{} - retiring duplicate route rid:{}",
                        self.route.peer,
                        self.route.cid,
                        old.cid
                    );
                    old.retire();
                }
            }
            RouteOp::Ok => {}
            RouteOp::Err(text) => {
                tracing::error!(
                    "{} - rid:{} - route error from peer: {}",
                    self.route.peer,
                    self.route.cid,
                    String::from_utf8_lossy(text)
                );
                return Err("Parse Error");
            }
            RouteOp::Sub {
                account,
                subject,
                queue,
            }
            | RouteOp::LeafSub {
                account,
                subject,
                queue,
                ..
            } => {
                self.remote_sub(account, subject, queue);
                self.ok();
            }
            RouteOp::Unsub {
                account,
                subject,
                queue,
            }
            | RouteOp::LeafUnsub {
                account,
                subject,
                queue,
            } => {
                self.remote_unsub(account, subject, queue);
                self.ok();
            }
            RouteOp::Msg {
                account,
                subject,
                reply,
                queues,
                headers,
                payload,
                ..
            } => {
                let headers = headers.filter(|h| !h.is_empty());
                self.routed_msg(account, subject, reply, queues, headers, payload);
                self.ok();
            }
            RouteOp::Ignored(_) => {}
        }
        Ok(())
    }

    #[inline]
    fn ok(&self) {
        if self.verbose {
            self.route.out.send_now(OK);
        }
    }

    /// CONNECT from the soliciting side: cluster name, credentials, peer id.
    fn connect(&mut self, json: &[u8]) -> Result<(), Reason> {
        if self.solicited || self.connected {
            // nats-server ignores a repeated CONNECT; we never expect one.
            return Ok(());
        }
        // A client that dialed the route port by mistake sends `lang`.
        if let Ok(serde_json::Value::Object(m)) = serde_json::from_slice::<serde_json::Value>(json)
        {
            if m.keys().any(|k| k.eq_ignore_ascii_case("lang")) {
                self.route
                    .out
                    .send_now(&err_line("attempted to connect to route port"));
                return Err("Wrong Port");
            }
        }
        let Ok(c) = parse_route_connect(json) else {
            return Err("Protocol Violation");
        };
        if self.cluster.auth_required() && !self.cluster.check_credentials(&c.user, &c.pass) {
            tracing::error!(
                "{} - rid:{} - route authentication error",
                self.route.peer,
                self.route.cid
            );
            self.route
                .out
                .send_now(&err_line("Authorization Violation"));
            return Err("Authentication Failure");
        }
        if let Err(text) = self
            .cluster
            .check_cluster_name(&c.cluster, c.cluster_dynamic)
        {
            tracing::error!("{} - rid:{} - {text}", self.route.peer, self.route.cid);
            self.route.out.send_now(&err_line(&text));
            return Err("Cluster Name Conflict");
        }
        self.verbose = c.verbose;
        self.route.headers.store(c.headers, Ordering::Relaxed);
        self.route.meta.lock().remote_id = c.name;
        self.connected = true;
        Ok(())
    }

    fn info(&mut self, json: &[u8]) -> Result<(), Reason> {
        let Ok(info) = parse_route_info(json) else {
            return Err("Protocol Violation");
        };
        if self.registered {
            let remote_id = self.route.remote_id();
            if info.server_id == remote_id {
                self.cluster.peer_update(&self.server, &self.route, &info);
            } else {
                self.cluster.implicit_route(&self.server, &info);
            }
            return Ok(());
        }
        self.first_info(info)
    }

    fn first_info(&mut self, info: RouteInfo) -> Result<(), Reason> {
        {
            let m = self.route.meta.lock();
            if !m.remote_id.is_empty() && m.remote_id != info.server_id {
                // An INFO about another server before the peer's own: gossip.
                drop(m);
                self.cluster.implicit_route(&self.server, &info);
                return Ok(());
            }
        }
        if info.server_id == self.cluster.server_id {
            let url = self.route.meta.lock().url.clone();
            tracing::debug!(
                "{} - rid:{} - detected route to self, ignoring {}",
                self.route.peer,
                self.route.cid,
                url.as_ref().map(ToString::to_string).unwrap_or_default()
            );
            if let Some(url) = url {
                self.cluster.mark_self(&url);
            }
            return Err("Duplicate Route");
        }
        if self.solicited {
            if let Err(text) = self
                .cluster
                .check_cluster_name(&info.cluster, info.cluster_dynamic)
            {
                tracing::error!("{} - rid:{} - {text}", self.route.peer, self.route.cid);
                return Err("Cluster Name Conflict");
            }
            self.route.headers.store(info.headers, Ordering::Relaxed);
        } else if !self.route.headers.load(Ordering::Relaxed) && info.headers {
            // A peer that sent no CONNECT (no auth required) tells us in INFO.
            self.route.headers.store(true, Ordering::Relaxed);
        }
        if info.server_name == self.cluster.server_name {
            tracing::error!(
                "{} - rid:{} - remote server has a duplicate name: {:?}",
                self.route.peer,
                self.route.cid,
                info.server_name
            );
            return Err("Duplicate Server Name");
        }
        // Registered, or kept as a standby duplicate until the registered
        // connection is confirmed (either way the handshake is done).
        self.cluster.register(&self.server, &self.route, &info)?;
        self.registered = true;
        Ok(())
    }

    fn account(&mut self, name: &[u8]) -> Option<Arc<Account>> {
        if let Some(a) = self.accounts.get(name) {
            return Some(a.clone());
        }
        let text = std::str::from_utf8(name).ok()?;
        let acc = match self.server.find_account(text) {
            Some(a) => a,
            // Operator mode: accounts load on first use, and the peer's
            // clients may use one before ours do. Keep its interest in a
            // registered (empty) account, which loading it later adopts, as
            // nats-server does with non-memory resolvers.
            None if self.server.operator.is_some() && is_account_key(text) => self
                .server
                .accounts
                .entry(Arc::from(text))
                .or_insert_with(|| Arc::new(Account::new(text)))
                .value()
                .clone(),
            None => return None,
        };
        self.accounts.insert(name.into(), acc.clone());
        Some(acc)
    }

    fn remote_key(&mut self, account: &[u8], subject: &[u8], queue: Option<&[u8]>) {
        self.key.clear();
        self.key.extend_from_slice(account);
        self.key.push(b' ');
        self.key.extend_from_slice(subject);
        if let Some(q) = queue {
            self.key.push(b' ');
            self.key.extend_from_slice(q);
        }
    }

    fn remote_sub(&mut self, account: &[u8], subject: &[u8], queue: Option<(&[u8], u32)>) {
        let Some(acc) = self.account(account) else {
            tracing::debug!(
                "{} - rid:{} - unknown account {:?} for remote subject {:?}",
                self.route.peer,
                self.route.cid,
                String::from_utf8_lossy(account),
                String::from_utf8_lossy(subject)
            );
            return;
        };
        self.remote_key(account, subject, queue.map(|q| q.0));
        if let Some(existing) = self.remote.get(&self.key[..]) {
            if let Some((_, w)) = queue {
                existing.weight.store(w, Ordering::Relaxed);
            }
            return;
        }
        if !is_valid_subject(subject) {
            self.route.out.send_now(&err_line("Invalid Subscription"));
            return;
        }
        let sub = Arc::new(RouteSub {
            route: self.route.clone(),
            account: acc.name.clone(),
            subject: subject.into(),
            queue: queue.map(|q| q.0.into()),
            weight: AtomicU32::new(queue.map_or(0, |q| q.1)),
        });
        if acc
            .sublist
            .insert(subject, queue.map(|q| q.0), SubRef::Route(sub.clone()))
            .is_err()
        {
            self.route.out.send_now(&err_line("Invalid Subscription"));
            return;
        }
        self.remote.insert(self.key.as_slice().into(), sub);
    }

    fn remote_unsub(&mut self, account: &[u8], subject: &[u8], queue: Option<&[u8]>) {
        self.remote_key(account, subject, queue);
        let Some(sub) = self.remote.remove(&self.key[..]) else {
            return;
        };
        if let Some(acc) = self.account(account) {
            let _ = acc
                .sublist
                .remove(subject, queue, &SubRef::Route(sub.clone()));
        }
    }

    /// Delivers a routed message to local clients: every plain subscriber and
    /// one member of each queue group the sender listed.
    fn routed_msg(
        &mut self,
        account: &[u8],
        subject: &[u8],
        reply: Option<&[u8]>,
        queues: Queues<'_>,
        headers: Option<&[u8]>,
        payload: &[u8],
    ) {
        let Some(acc) = self.account(account) else {
            return;
        };
        let result = self
            .caches
            .entry(acc.id)
            .or_insert_with(|| LocalMatchCache::new(ROUTE_CACHE_ENTRIES))
            .get(&acc.sublist, subject);
        if result.is_empty() {
            return;
        }
        for entry in &result.plain {
            match entry {
                SubRef::Client(sub) => {
                    deliver_to(
                        sub,
                        subject,
                        reply,
                        headers,
                        payload,
                        &mut self.to_wake,
                        &mut self.to_remove,
                    );
                }
                SubRef::Import(import) => {
                    if let ImportKind::Responses { account } = &import.kind {
                        if let Some((to, orig)) =
                            account.upgrade().and_then(|a| a.route_response(subject))
                        {
                            let result = to.sublist.matches(&orig);
                            deliver_local(
                                &result,
                                &orig,
                                None,
                                headers,
                                payload,
                                None,
                                &mut self.to_wake,
                                &mut self.to_remove,
                            );
                        }
                    }
                }
                SubRef::Route(_) => {}
            }
        }
        if !queues.is_empty() {
            deliver_queues(
                &result,
                subject,
                reply,
                headers,
                payload,
                Some(queues),
                &mut self.to_wake,
                &mut self.to_remove,
            );
        }
    }

    fn end_batch(&mut self) {
        for c in self.to_wake.drain(..) {
            c.out.wake();
        }
        for sub in std::mem::take(&mut self.to_remove) {
            remove_from_account(&self.server, &sub);
        }
    }

    /// Removes every interest this route brought.
    fn teardown(&mut self) {
        for (_, sub) in self.remote.drain() {
            if let Some(acc) = self.server.find_account(&sub.account) {
                let _ = acc.sublist.remove(
                    &sub.subject,
                    sub.queue.as_deref(),
                    &SubRef::Route(sub.clone()),
                );
            }
        }
    }
}

/// Delivers to the local plain subscribers of `result` and to one local member
/// of each queue group (of the listed groups only, when `only` is set).
#[allow(clippy::too_many_arguments)]
fn deliver_local(
    result: &MatchResult<SubRef>,
    subject: &[u8],
    reply: Option<&[u8]>,
    headers: Option<&[u8]>,
    payload: &[u8],
    only: Option<Queues<'_>>,
    to_wake: &mut Vec<Arc<ClientShared>>,
    to_remove: &mut Vec<Arc<Subscription>>,
) {
    for entry in &result.plain {
        if let SubRef::Client(sub) = entry {
            deliver_to(sub, subject, reply, headers, payload, to_wake, to_remove);
        }
    }
    deliver_queues(
        result, subject, reply, headers, payload, only, to_wake, to_remove,
    );
}

#[allow(clippy::too_many_arguments)]
fn deliver_queues(
    result: &MatchResult<SubRef>,
    subject: &[u8],
    reply: Option<&[u8]>,
    headers: Option<&[u8]>,
    payload: &[u8],
    only: Option<Queues<'_>>,
    to_wake: &mut Vec<Arc<ClientShared>>,
    to_remove: &mut Vec<Arc<Subscription>>,
) {
    for group in &result.queues {
        if let Some(q) = only {
            if !q.contains(&group.name) {
                continue;
            }
        }
        let n = group.members.len();
        if n == 0 {
            continue;
        }
        let start = fastrand::usize(..n);
        for i in 0..n {
            let Some(sub) = group.members[(start + i) % n].as_client() else {
                continue;
            };
            if deliver_to(sub, subject, reply, headers, payload, to_wake, to_remove) {
                break;
            }
        }
    }
}

/// An account public key (`A...`, 56 characters, valid checksum).
fn is_account_key(s: &str) -> bool {
    s.len() == 56 && s.starts_with('A') && nkeys::KeyPair::from_public_key(s).is_ok()
}

/// Dials a route URL with a bound on the connect time.
pub(crate) async fn dial(url: &RouteUrl, timeout: Duration) -> std::io::Result<TcpStream> {
    match tokio::time::timeout(timeout, TcpStream::connect(url.host_port())).await {
        Ok(r) => r,
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "connect timed out",
        )),
    }
}
