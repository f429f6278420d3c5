//! The cluster: the route listener, soliciting configured routes, the table of
//! registered routes (one per peer server), gossip of new peers, counting of
//! local interest into `RS+`/`RS-`, the client URLs advertised in INFO, and the
//! per-publisher collector that turns remote interest into one `RMSG` per route.
//!
//! # Interest
//! Every local subscription change goes through [`Cluster::local_interest`]
//! (called on SUB/UNSUB/close, never on the publish path): a count per
//! (account, subject, queue). The first plain subscription sends
//! `RS+ <account> <subject>`, the last `RS- <account> <subject>`; a queue group
//! sends `RS+ <account> <subject> <queue> <weight>` on every change of its
//! member count and `RS- ... <queue>` when it empties, as nats-server does. The
//! counts and the route table share one lock, so a route that registers gets a
//! snapshot of the counts and every later change, in order.
//!
//! Import entries in the sublists are not announced (every node has the same
//! imports and maps accounts for its own publishers), except each exporter's
//! service reply space `_R_.<prefix>.>`, which is unique to this server: a
//! response published on another node must find its way back here.
//!
//! # Routes
//! A route registers when the peer's INFO arrives. A second connection to the
//! same server id is closed (the first stays, marked to reconnect if it closes,
//! like nats-server); a route to ourselves is closed and its URL is not dialed
//! again. When a route registers and others exist, its INFO (with `ip` set to
//! its route URL) is passed on to the others, which dial it: that completes the
//! full mesh. Configured routes are dialed until they connect and redialed
//! when they close; routes learned by gossip get `connect_retries` extra
//! attempts.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use parking_lot::Mutex;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::config::cluster::join_host_port;
use crate::config::{ClusterOptions, RouteUrl};
use crate::protocol::info::ServerInfo;
use crate::protocol::route::{
    write_gossip_info, write_rhmsg, write_rmsg, write_route_info, write_rs_minus, write_rs_plus,
    RouteConnect, RouteInfo,
};
use crate::sublist::MatchResult;

use super::outbound::Queued;
use super::route::{self, RouteConn, RouteSub};
use super::subscription::SubRef;
use super::ServerShared;

/// Dial timeout for one route connection attempt (nats-server: 1 s).
const ROUTE_DIAL_TIMEOUT: Duration = Duration::from_secs(1);
/// First delay between attempts to dial a route; doubles up to the cap.
const ROUTE_RETRY_FIRST: Duration = Duration::from_millis(100);
/// Longest delay between attempts (nats-server's fixed delay).
const ROUTE_RETRY_CAP: Duration = Duration::from_secs(1);
/// Extra delay before redialing a configured route that closed (nats-server).
const ROUTE_RECONNECT: Duration = Duration::from_secs(1);
/// How long shutdown waits for a route's queued bytes.
const SHUTDOWN_FLUSH: Duration = Duration::from_secs(2);

/// Local interest in one subject of one account.
#[derive(Default)]
struct SubjectInterest {
    plain: u32,
    queues: Vec<(Box<[u8]>, u32)>,
}

struct State {
    /// Registered routes by the peer's server id.
    routes: HashMap<String, Arc<RouteConn>>,
    /// Every route connection (registered or not), for shutdown.
    all: HashMap<u64, Arc<RouteConn>>,
    /// Local interest: account → subject → counts.
    interest: HashMap<Arc<str>, HashMap<Box<[u8]>, SubjectInterest>>,
    /// Client URLs are advertised once a first route registered (nats-server
    /// sends no `connect_urls` before).
    advertised: bool,
    /// Route URLs (`host:port`) that turned out to be this server.
    self_urls: HashSet<String>,
    /// Gossiped URLs being dialed now.
    soliciting: HashSet<String>,
}

/// The cluster side of one server.
pub(crate) struct Cluster {
    pub(crate) opts: ClusterOptions,
    pub(crate) server_id: String,
    pub(crate) server_name: String,
    name: Mutex<String>,
    dynamic: AtomicBool,
    /// The route listener's address.
    addr: SocketAddr,
    /// Host and port announced to peers.
    info_host: String,
    info_port: u16,
    /// `nats-route://` URL when `advertise` is set.
    info_ip: String,
    /// This server's client URLs (`host:port`).
    own_urls: Vec<String>,
    go: String,
    max_payload: usize,
    listener: Mutex<Option<TcpListener>>,
    accept_task: Mutex<Option<JoinHandle<()>>>,
    shutting_down: AtomicBool,
    /// This server announced lame duck mode.
    ldm: AtomicBool,
    state: Mutex<State>,
    /// Accounts with a service reply space to announce.
    reply_spaces: Mutex<Vec<(Arc<str>, Vec<u8>)>>,
}

impl Cluster {
    /// Binds the route listener. `info` is the client INFO template (server id,
    /// name, version), `client_addr` the bound client listener.
    pub(crate) async fn bind(
        opts: ClusterOptions,
        info: &ServerInfo,
        client_host: &str,
        client_addr: SocketAddr,
        max_payload: usize,
    ) -> std::io::Result<(Cluster, SocketAddr)> {
        let port = match opts.port {
            Some(p) if p > 0 => p as u16,
            _ => 0,
        };
        let listener = TcpListener::bind(join_host_port(&opts.host, port)).await?;
        let addr = listener.local_addr()?;
        let (dynamic, name) = match &opts.name {
            Some(n) => (false, n.clone()),
            None => (true, random_name()),
        };
        let (info_host, info_port, info_ip) = match opts.advertise.as_deref().and_then(parse_adv) {
            Some((h, p)) => {
                let ip = format!("nats-route://{}/", join_host_port(&h, p));
                (h, p, ip)
            }
            None => (opts.host.clone(), addr.port(), String::new()),
        };
        let own_urls = client_urls(client_host, client_addr.port());
        Ok((
            Cluster {
                server_id: info.server_id.clone(),
                server_name: info.server_name.clone(),
                name: Mutex::new(name),
                dynamic: AtomicBool::new(dynamic),
                addr,
                info_host,
                info_port,
                info_ip,
                own_urls,
                go: info.go.clone(),
                max_payload,
                listener: Mutex::new(Some(listener)),
                accept_task: Mutex::new(None),
                shutting_down: AtomicBool::new(false),
                ldm: AtomicBool::new(false),
                state: Mutex::new(State {
                    routes: HashMap::new(),
                    all: HashMap::new(),
                    interest: HashMap::new(),
                    advertised: false,
                    self_urls: HashSet::new(),
                    soliciting: HashSet::new(),
                }),
                reply_spaces: Mutex::new(Vec::new()),
                opts,
            },
            addr,
        ))
    }

    /// The route listener's address.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The cluster name (configured, generated, or adopted from a peer).
    pub(crate) fn name(&self) -> String {
        self.name.lock().clone()
    }

    /// Starts accepting routes and dialing the configured ones.
    pub(crate) fn start(self: &Arc<Self>, server: &Arc<ServerShared>) {
        tracing::info!("Cluster name is {}", self.name());
        if self.dynamic.load(Ordering::Relaxed) {
            tracing::warn!("Cluster name was dynamically generated, consider setting one");
        }
        tracing::info!(
            "Listening for route connections on {}",
            join_host_port(&self.opts.host, self.addr.port())
        );
        // Announce the service reply spaces (see the module docs).
        let spaces = std::mem::take(&mut *self.reply_spaces.lock());
        for (account, filter) in spaces {
            self.local_interest(&account, &filter, None, 1);
        }
        let Some(listener) = self.listener.lock().take() else {
            return;
        };
        let cluster = self.clone();
        let srv = server.clone();
        let task = tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, peer)) => {
                        if cluster.shutting_down.load(Ordering::Acquire) {
                            break;
                        }
                        tokio::spawn(route::run(srv.clone(), cluster.clone(), stream, peer, None));
                    }
                    Err(e) => {
                        tracing::error!("error accepting route connection: {e}");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
        });
        *self.accept_task.lock() = Some(task);
        for url in self.opts.routes.clone() {
            self.spawn_connect(server, url, true, Duration::ZERO);
        }
    }

    /// Remembers an account's service reply filter, announced at start.
    pub(crate) fn add_reply_space(&self, account: Arc<str>, filter: Vec<u8>) {
        self.reply_spaces.lock().push((account, filter));
    }

    pub(crate) fn auth_required(&self) -> bool {
        self.opts.user.is_some()
    }

    pub(crate) fn check_credentials(&self, user: &str, pass: &str) -> bool {
        match (&self.opts.user, &self.opts.password) {
            (Some(u), Some(p)) => {
                constant_time_eq(u.as_bytes(), user.as_bytes())
                    & constant_time_eq(p.as_bytes(), pass.as_bytes())
            }
            _ => true,
        }
    }

    /// Checks a peer's cluster name; a generated name gives way to a
    /// configured one (or to the larger of two generated ones), as in
    /// nats-server. `Err` is the text nats-server sends in its `-ERR`.
    pub(crate) fn check_cluster_name(
        &self,
        theirs: &str,
        their_dynamic: bool,
    ) -> Result<(), String> {
        let mut ours = self.name.lock();
        if *ours == theirs {
            return Ok(());
        }
        if self.dynamic.load(Ordering::Relaxed)
            && !theirs.is_empty()
            && (!their_dynamic || ours.as_str() < theirs)
        {
            tracing::info!("Cluster name updated to {theirs}");
            *ours = theirs.to_string();
            if !their_dynamic {
                self.dynamic.store(false, Ordering::Relaxed);
            }
            return Ok(());
        }
        Err(format!(
            "Rejecting connection, cluster name \"{theirs}\" does not match \"{ours}\""
        ))
    }

    /// Our route INFO: `INFO {...} \r\n`, with a fresh nonce on a new
    /// connection, `ldm` once in lame duck mode.
    pub(crate) fn write_own_info(&self, out: &mut BytesMut, new_conn: bool) {
        let info = self.own_info(new_conn);
        write_route_info(out, &info);
    }

    fn own_info(&self, new_conn: bool) -> RouteInfo {
        RouteInfo {
            server_id: self.server_id.clone(),
            server_name: self.server_name.clone(),
            version: super::COMPAT_VERSION.to_string(),
            proto: 2,
            go: self.go.clone(),
            host: self.info_host.clone(),
            port: self.info_port,
            headers: true,
            auth_required: self.auth_required(),
            max_payload: i32::try_from(self.max_payload).unwrap_or(i32::MAX),
            ip: self.info_ip.clone(),
            nonce: if new_conn {
                crate::auth::nkey::new_nonce()
            } else {
                String::new()
            },
            cluster: self.name(),
            cluster_dynamic: self.dynamic.load(Ordering::Relaxed),
            connect_urls: if self.opts.no_advertise {
                Vec::new()
            } else {
                self.own_urls.clone()
            },
            ldm: self.ldm.load(Ordering::Relaxed),
            ..RouteInfo::default()
        }
    }

    /// The CONNECT we send on a route we dialed.
    pub(crate) fn route_connect(&self, url: &RouteUrl) -> RouteConnect {
        RouteConnect {
            echo: true,
            verbose: false,
            pedantic: false,
            user: url.user.clone().unwrap_or_default(),
            pass: url.password.clone().unwrap_or_default(),
            tls_required: false,
            headers: true,
            name: self.server_id.clone(),
            cluster: self.name(),
            cluster_dynamic: self.dynamic.load(Ordering::Relaxed),
            ..RouteConnect::default()
        }
    }

    /// Adds a new connection to the set closed at shutdown; false when
    /// shutting down.
    pub(crate) fn track(&self, route: &Arc<RouteConn>) -> bool {
        let mut st = self.state.lock();
        if self.shutting_down.load(Ordering::Acquire) {
            return false;
        }
        st.all.insert(route.cid, route.clone());
        true
    }

    /// A route URL turned out to be this server: never dial it again.
    pub(crate) fn mark_self(&self, url: &RouteUrl) {
        self.state.lock().self_urls.insert(url.host_port());
    }

    /// Registers a route whose peer sent its first INFO. `Err` closes it.
    pub(crate) fn register(
        &self,
        server: &ServerShared,
        route: &Arc<RouteConn>,
        info: &RouteInfo,
    ) -> Result<(), &'static str> {
        let mut st = self.state.lock();
        if self.shutting_down.load(Ordering::Acquire) {
            return Err("Server Shutdown");
        }
        let mut retire_after_confirm: Option<Arc<RouteConn>> = None;
        if let Some(existing) = st.routes.get(&info.server_id).cloned() {
            // Two connections to one server (both sides dialed, or two URLs
            // for it). Both ends pick the same one: the connection dialed by
            // the server with the smaller id; if one server dialed both, the
            // one from the lower dialing port.
            let new = route.meta.lock().clone();
            let old = existing.meta.lock().clone();
            let we_prefer_ours = self.server_id < info.server_id;
            let rank = |solicited: bool, conn: &RouteConn| {
                (solicited != we_prefer_ours, conn.dialer_port(solicited))
            };
            let keep_new = rank(new.solicited, route) < rank(old.solicited, &existing);
            let (keep, drop_conn, dropped) = if keep_new {
                (route, &existing, old)
            } else {
                (&existing, route, new)
            };
            // The survivor takes over the dialed URL (so it is redialed if it
            // closes) and is marked to reconnect, like nats-server.
            {
                let mut km = keep.meta.lock();
                if (dropped.solicited && !km.solicited) || (dropped.explicit && !km.explicit) {
                    km.solicited = true;
                    km.explicit |= dropped.explicit;
                    km.url = dropped.url.clone();
                }
                km.retry = true;
            }
            tracing::debug!(
                "{} - rid:{} - duplicate route to {:?}: keeping rid:{}",
                route.peer,
                route.cid,
                info.server_id,
                keep.cid
            );
            route.set_peer(&info.server_id);
            if !keep_new {
                // The new one stands by (not used for sending, but what the
                // peer sends on it is still read) until the registered one
                // answers a PING: then both ends have exchanged their
                // interest on it, and the standby is shut.
                drop_conn.set_retired();
                {
                    let mut m = route.meta.lock();
                    m.remote_id = info.server_id.clone();
                    m.remote_name = info.server_name.clone();
                }
                let n = existing.ping();
                let prev = existing
                    .meta
                    .lock()
                    .retire_on_pong
                    .replace((route.clone(), n));
                if let Some((older, _)) = prev {
                    older.retire();
                }
                return Ok(());
            }
            // The new one replaces the registered one, which keeps working
            // until the new one is confirmed (see above); messages go over one
            // of them only (same peer key).
            st.routes.remove(&info.server_id);
            let prev = existing.meta.lock().retire_on_pong.take();
            if let Some((older, _)) = prev {
                older.retire();
            }
            retire_after_confirm = Some(drop_conn.clone());
        }
        if st
            .routes
            .values()
            .any(|r| r.meta.lock().remote_name == info.server_name)
        {
            tracing::error!(
                "{} - rid:{} - remote server has a duplicate name: {:?}",
                route.peer,
                route.cid,
                info.server_name
            );
            return Err("Duplicate Server Name");
        }
        let gossip_ip = if info.ip.is_empty() {
            format!(
                "nats-route://{}/",
                join_host_port(&peer_host(&info.host, route.peer.ip()), info.port)
            )
        } else {
            info.ip.clone()
        };
        route.set_peer(&info.server_id);
        {
            let mut m = route.meta.lock();
            m.remote_id = info.server_id.clone();
            m.remote_name = info.server_name.clone();
            m.connect_urls = info.connect_urls.clone();
            m.ldm = info.ldm;
            m.route_addr = RouteUrl::parse(&gossip_ip)
                .map(|u| u.host_port())
                .unwrap_or_default();
            m.registered = true;
            if m.url.is_none() {
                m.url = RouteUrl::parse(&gossip_ip).ok().map(|mut u| {
                    u.user = self.opts.user.clone();
                    u.password = self.opts.password.clone();
                    u
                });
            }
        }
        st.routes.insert(info.server_id.clone(), route.clone());

        // All current interest, before any later change (same lock).
        let mut out = BytesMut::new();
        for (account, subjects) in &st.interest {
            for (subject, i) in subjects {
                if i.plain > 0 {
                    write_rs_plus(&mut out, account.as_bytes(), subject, None);
                }
                for (q, n) in &i.queues {
                    write_rs_plus(&mut out, account.as_bytes(), subject, Some((q, *n)));
                }
            }
        }
        if !out.is_empty() {
            route.out.send_now(&out);
        }
        if let Some(old) = retire_after_confirm {
            let n = route.ping();
            route.meta.lock().retire_on_pong = Some((old, n));
        }

        // Tell the other peers about this one so they dial it.
        if st.routes.len() > 1 {
            let mut g = info.clone();
            g.nonce.clear();
            g.ip = gossip_ip;
            let mut line = BytesMut::new();
            write_gossip_info(&mut line, &g);
            for (id, r) in &st.routes {
                if *id != info.server_id {
                    r.out.send_now(&line);
                }
            }
        }
        let advertise = !self.opts.no_advertise;
        if advertise {
            st.advertised = true;
        }
        drop(st);
        tracing::debug!(
            "{} - rid:{} - registering remote route {:?} ({})",
            route.peer,
            route.cid,
            info.server_id,
            info.server_name
        );
        if advertise {
            self.send_async_info(server);
        }
        Ok(())
    }

    /// An INFO from a registered peer about itself: lame duck mode, URLs.
    pub(crate) fn peer_update(
        &self,
        server: &ServerShared,
        route: &Arc<RouteConn>,
        info: &RouteInfo,
    ) {
        let mut m = route.meta.lock();
        let mut changed = false;
        if info.ldm && !m.ldm {
            m.ldm = true;
            changed = true;
            tracing::info!(
                "{} - rid:{} - peer {} entered lame duck mode",
                route.peer,
                route.cid,
                m.remote_name
            );
        }
        if info.connect_urls != m.connect_urls {
            m.connect_urls = info.connect_urls.clone();
            changed = true;
        }
        drop(m);
        if changed && !self.opts.no_advertise {
            self.send_async_info(server);
        }
    }

    /// A gossiped INFO about another server: dial it unless connected, it is
    /// us, it is a configured route, or it is being dialed already.
    pub(crate) fn implicit_route(&self, server: &Arc<ServerShared>, info: &RouteInfo) {
        if info.server_id == self.server_id || info.server_id.is_empty() {
            return;
        }
        let Ok(mut url) = RouteUrl::parse(&info.ip) else {
            return;
        };
        let configured = join_host_port(&info.host, info.port).to_ascii_lowercase();
        if self
            .opts
            .routes
            .iter()
            .any(|r| r.host_port().to_ascii_lowercase() == configured)
        {
            return;
        }
        {
            let mut st = self.state.lock();
            if st.routes.contains_key(&info.server_id)
                || st.self_urls.contains(&url.host_port())
                || !st.soliciting.insert(url.host_port())
            {
                return;
            }
        }
        if info.auth_required {
            url.user = self.opts.user.clone();
            url.password = self.opts.password.clone();
        }
        tracing::debug!("learned route {url} ({}) by gossip", info.server_name);
        self.spawn_connect(server, url, false, Duration::ZERO);
    }

    /// Dials `url` in a task: configured routes until it works, gossiped ones
    /// `connect_retries` more times.
    fn spawn_connect(
        &self,
        server: &Arc<ServerShared>,
        url: RouteUrl,
        explicit: bool,
        delay: Duration,
    ) {
        let Some(cluster) = server.cluster.clone() else {
            return;
        };
        let server = server.clone();
        tokio::spawn(async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            cluster.connect_to_route(&server, url, explicit).await;
        });
    }

    async fn connect_to_route(
        self: &Arc<Self>,
        server: &Arc<ServerShared>,
        url: RouteUrl,
        explicit: bool,
    ) {
        let mut attempts: u32 = 0;
        let mut delay = ROUTE_RETRY_FIRST;
        let key = url.host_port();
        loop {
            if self.shutting_down.load(Ordering::Acquire)
                || self.state.lock().self_urls.contains(&key)
                || self.adopt_connected(&url, explicit)
            {
                break;
            }
            match route::dial(&url, ROUTE_DIAL_TIMEOUT).await {
                Ok(stream) => {
                    if self.shutting_down.load(Ordering::Acquire) {
                        break;
                    }
                    let peer = stream.peer_addr().unwrap_or(self.addr);
                    self.state.lock().soliciting.remove(&key);
                    route::run(
                        server.clone(),
                        self.clone(),
                        stream,
                        peer,
                        Some((url, explicit)),
                    )
                    .await;
                    return;
                }
                Err(e) => {
                    attempts += 1;
                    if attempts == 1 || attempts % 30 == 0 {
                        tracing::debug!(
                            "error trying to connect to route {url} (attempt {attempts}): {e}"
                        );
                    }
                    if !explicit && attempts > self.opts.connect_retries {
                        break;
                    }
                    tokio::time::sleep(delay + Duration::from_millis(fastrand::u64(0..50))).await;
                    delay = (delay * 2).min(ROUTE_RETRY_CAP);
                }
            }
        }
        self.state.lock().soliciting.remove(&key);
    }

    /// When a registered route already leads to the server at `url` (it
    /// dialed us first, e.g. after a restart), that route takes over the
    /// redialing duty of `url` instead of a second connection being made.
    fn adopt_connected(&self, url: &RouteUrl, explicit: bool) -> bool {
        let key = url.host_port();
        let st = self.state.lock();
        for r in st.routes.values() {
            let mut m = r.meta.lock();
            if m.route_addr == key {
                if !m.solicited || (explicit && !m.explicit) {
                    m.solicited = true;
                    m.explicit |= explicit;
                    m.url = Some(url.clone());
                }
                return true;
            }
        }
        false
    }

    /// A route connection ended: unregister it, update the client URLs, and
    /// redial if it was dialed (or marked to retry) and the peer is gone.
    pub(crate) fn route_closed(
        &self,
        server: &Arc<ServerShared>,
        _cluster: &Arc<Cluster>,
        route: &Arc<RouteConn>,
    ) {
        let meta = route.meta.lock().clone();
        if let Some((standby, _)) = &meta.retire_on_pong {
            // Not confirmed: the duplicate goes too (redialing restores one).
            standby.kill();
        }
        let mut st = self.state.lock();
        st.all.remove(&route.cid);
        let mut urls_changed = false;
        if meta.registered
            && st
                .routes
                .get(&meta.remote_id)
                .is_some_and(|r| Arc::ptr_eq(r, route))
        {
            st.routes.remove(&meta.remote_id);
            urls_changed = !meta.connect_urls.is_empty() && !meta.ldm;
        }
        let still_connected = st.routes.contains_key(&meta.remote_id);
        let is_self = meta
            .url
            .as_ref()
            .is_some_and(|u| st.self_urls.contains(&u.host_port()));
        drop(st);
        if urls_changed && !self.opts.no_advertise {
            self.send_async_info(server);
        }
        if self.shutting_down.load(Ordering::Acquire)
            || !(meta.solicited || meta.retry)
            || still_connected
            || is_self
            || meta.remote_id == self.server_id
        {
            return;
        }
        let Some(url) = meta.url else {
            return;
        };
        let explicit = meta.explicit
            && self
                .opts
                .routes
                .iter()
                .any(|r| r.host_port() == url.host_port());
        if !explicit && meta.ldm {
            // It announced it is going away; it will come back by itself.
            return;
        }
        let mut delay = Duration::from_millis(fastrand::u64(0..100));
        if explicit {
            delay += ROUTE_RECONNECT;
        }
        tracing::debug!("attempting reconnect for route {url}");
        self.spawn_connect(server, url, explicit, delay);
    }

    /// Counts a local subscription change (+1 / -1) and sends `RS+`/`RS-` to
    /// every route when the interest of this (account, subject, queue) starts,
    /// ends, or (queues) changes weight.
    pub(crate) fn local_interest(
        &self,
        account: &Arc<str>,
        subject: &[u8],
        queue: Option<&[u8]>,
        delta: i32,
    ) {
        let mut st = self.state.lock();
        let st = &mut *st;
        let subjects = match st.interest.get_mut(&**account) {
            Some(s) => s,
            None => st.interest.entry(account.clone()).or_default(),
        };
        let entry = match subjects.get_mut(subject) {
            Some(e) => e,
            None => {
                if delta < 0 {
                    return;
                }
                subjects.entry(subject.into()).or_default()
            }
        };
        let mut line = BytesMut::new();
        match queue {
            None => {
                let old = entry.plain;
                let new = old.saturating_add_signed(delta);
                entry.plain = new;
                if old == 0 && new > 0 {
                    write_rs_plus(&mut line, account.as_bytes(), subject, None);
                } else if old > 0 && new == 0 {
                    write_rs_minus(&mut line, account.as_bytes(), subject, None);
                }
            }
            Some(q) => {
                let idx = entry.queues.iter().position(|(name, _)| &**name == q);
                let old = idx.map_or(0, |i| entry.queues[i].1);
                let new = old.saturating_add_signed(delta);
                match (idx, new) {
                    (Some(i), 0) => {
                        entry.queues.swap_remove(i);
                    }
                    (Some(i), n) => entry.queues[i].1 = n,
                    (None, 0) => {}
                    (None, n) => entry.queues.push((q.into(), n)),
                }
                if new > 0 && new != old {
                    write_rs_plus(&mut line, account.as_bytes(), subject, Some((q, new)));
                } else if old > 0 && new == 0 {
                    write_rs_minus(&mut line, account.as_bytes(), subject, Some(q));
                }
            }
        }
        if entry.plain == 0 && entry.queues.is_empty() {
            subjects.remove(subject);
            if subjects.is_empty() {
                st.interest.remove(&**account);
            }
        }
        if !line.is_empty() {
            for r in st.routes.values() {
                r.out.send_now(&line);
            }
        }
    }

    /// Client URLs for INFO `connect_urls`: ours and the peers' (none before
    /// a first route, none with `no_advertise`); in lame duck mode only the
    /// peers'.
    pub(crate) fn client_connect_urls(&self, lame_duck: bool) -> Vec<String> {
        if self.opts.no_advertise {
            return Vec::new();
        }
        let st = self.state.lock();
        if !st.advertised && !lame_duck {
            return Vec::new();
        }
        let mut urls: Vec<String> = if lame_duck {
            Vec::new()
        } else {
            self.own_urls.clone()
        };
        let mut peers: Vec<(&String, &Arc<RouteConn>)> = st.routes.iter().collect();
        peers.sort_by(|a, b| a.0.cmp(b.0));
        for (_, r) in peers {
            let m = r.meta.lock();
            if m.ldm {
                continue;
            }
            for u in &m.connect_urls {
                if !urls.contains(u) {
                    urls.push(u.clone());
                }
            }
        }
        urls
    }

    /// Sends an INFO to every client that takes asynchronous INFOs.
    pub(crate) fn send_async_info(&self, server: &ServerShared) {
        send_async_info_to_clients(server);
    }

    /// Lame duck mode: routes get our INFO with `ldm:true` (they stop
    /// advertising our client URLs). Routes stay up.
    pub(crate) fn enter_lame_duck(&self) {
        self.ldm.store(true, Ordering::Relaxed);
        let mut line = BytesMut::new();
        self.write_own_info(&mut line, false);
        let st = self.state.lock();
        for r in st.routes.values() {
            r.out.send_now(&line);
        }
    }

    /// Registered routes.
    pub(crate) fn num_routes(&self) -> usize {
        self.state.lock().routes.len()
    }

    /// Server ids of the registered peers, sorted.
    pub(crate) fn peer_ids(&self) -> Vec<String> {
        let mut v: Vec<String> = self.state.lock().routes.keys().cloned().collect();
        v.sort();
        v
    }

    /// Stops accepting and dialing routes and closes every route connection
    /// (queued bytes are still written).
    pub(crate) async fn shutdown(&self) {
        self.shutting_down.store(true, Ordering::Release);
        if let Some(t) = self.accept_task.lock().take() {
            t.abort();
        }
        let all: Vec<Arc<RouteConn>> = {
            let st = self.state.lock();
            st.all.values().cloned().collect()
        };
        for r in &all {
            r.kill();
        }
        for r in &all {
            let _ = tokio::time::timeout(SHUTDOWN_FLUSH, r.out.wait_done()).await;
        }
    }
}

/// Sends an INFO (with the client's id and address, the current cluster URLs
/// and lame duck flag) to every client that said protocol >= 1.
pub(crate) fn send_async_info_to_clients(server: &ServerShared) {
    for c in server.clients.iter() {
        let c = c.value();
        if let Some(peer) = c.async_info.get() {
            let line = server.info_line(c.id, *peer, None);
            c.out.send_now(line.as_bytes());
        }
    }
}

/// The peer's host for its route URL: the host it announced, or the address
/// it connected from when it listens on every interface.
fn peer_host(announced: &str, seen: IpAddr) -> String {
    match announced.parse::<IpAddr>() {
        Ok(ip) if ip.is_unspecified() => seen.to_string(),
        Ok(_) => announced.to_string(),
        Err(_) if announced.is_empty() => seen.to_string(),
        Err(_) => announced.to_string(),
    }
}

fn parse_adv(s: &str) -> Option<(String, u16)> {
    let s = s.split_once("://").map_or(s, |(_, r)| r);
    let (h, p) = s.rsplit_once(':')?;
    let h = h.trim_start_matches('[').trim_end_matches(']');
    Some((h.to_string(), p.parse().ok()?))
}

/// A generated cluster name (22 characters, like nats-server's).
fn random_name() -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    (0..22)
        .map(|_| ALPHABET[fastrand::usize(..ALPHABET.len())] as char)
        .collect()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// This server's client URLs: the listen host, or every non-loopback
/// interface address when it listens on all of them (as nats-server).
fn client_urls(host: &str, port: u16) -> Vec<String> {
    let unspecified = host
        .parse::<IpAddr>()
        .map(|ip| ip.is_unspecified())
        .unwrap_or(host.is_empty());
    if !unspecified {
        return vec![join_host_port(host, port)];
    }
    let mut urls: Vec<String> = interface_ips()
        .into_iter()
        .filter(|ip| !ip.is_loopback() && !ip.is_unspecified())
        .filter(|ip| match ip {
            IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) != 0xfe80,
            IpAddr::V4(_) => true,
        })
        .map(|ip| join_host_port(&ip.to_string(), port))
        .collect();
    urls.dedup();
    if urls.is_empty() {
        urls.push(join_host_port("127.0.0.1", port));
    }
    urls
}

/// Addresses of the machine's network interfaces.
fn interface_ips() -> Vec<IpAddr> {
    let mut out = Vec::new();
    let mut ifap: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `ifap` with a linked list we only read and then
    // free with freeifaddrs; every pointer is checked for null before use and
    // the sockaddr is read according to its family.
    unsafe {
        if libc::getifaddrs(&mut ifap) != 0 {
            return out;
        }
        let mut p = ifap;
        while !p.is_null() {
            let ifa = &*p;
            if !ifa.ifa_addr.is_null() {
                match i32::from((*ifa.ifa_addr).sa_family) {
                    libc::AF_INET => {
                        let sa = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                        out.push(IpAddr::from(u32::from_be(sa.sin_addr.s_addr).to_be_bytes()));
                    }
                    libc::AF_INET6 => {
                        let sa = &*(ifa.ifa_addr as *const libc::sockaddr_in6);
                        out.push(IpAddr::from(sa.sin6_addr.s6_addr));
                    }
                    _ => {}
                }
            }
            p = ifa.ifa_next;
        }
        libc::freeifaddrs(ifap);
    }
    out
}

// ------------------------------------------------------------------ fan-out

/// Picks the route that gets a queue message when no local member took it:
/// among the route members with a weight, at random in proportion to the
/// weight (the number of members behind the route).
#[inline]
pub(crate) fn pick_route_member(members: &[SubRef]) -> Option<&Arc<RouteSub>> {
    let weight = |r: &RouteSub| {
        if r.route.is_retired() {
            0
        } else {
            u64::from(r.weight())
        }
    };
    let mut total: u64 = 0;
    for m in members {
        if let SubRef::Route(r) = m {
            total += weight(r);
        }
    }
    if total == 0 {
        return None;
    }
    let mut pick = fastrand::u64(..total);
    for m in members {
        if let SubRef::Route(r) = m {
            let w = weight(r);
            if pick < w {
                return Some(r);
            }
            pick -= w;
        }
    }
    None
}

/// Where one fan-out level's routed copies start (see [`RouteTargets`]).
#[derive(Clone, Copy)]
pub(crate) struct Mark {
    targets: usize,
    queues: usize,
}

/// Collects, per publish, the routes a message must go to (one entry per
/// route, with the queue groups that chose it) and writes one `RMSG`/`HMSG`
/// each. Owned by a connection's read task and reused, so the steady state
/// does not allocate. Levels nest (an import forwards into another account
/// halfway through a fan-out): each level works above its [`Mark`].
#[derive(Default)]
pub(crate) struct RouteTargets {
    targets: Vec<Arc<RouteSub>>,
    /// (index into `targets`, index into the match result's queue groups).
    queues: Vec<(usize, usize)>,
    to_wake: Vec<Arc<RouteConn>>,
}

/// Queue names of one routed message kept on the stack up to this many.
const INLINE_QUEUES: usize = 8;

impl RouteTargets {
    #[inline]
    pub(crate) fn mark(&self) -> Mark {
        Mark {
            targets: self.targets.len(),
            queues: self.queues.len(),
        }
    }

    /// Adds `sub`'s route (once per level), and the queue group `group` (an
    /// index into the result's queues) that picked it.
    #[inline]
    pub(crate) fn add(&mut self, mark: Mark, sub: &Arc<RouteSub>, group: Option<usize>) {
        if sub.route.is_retired() {
            return;
        }
        let peer = sub.route.peer_key();
        let idx = match self.targets[mark.targets..]
            .iter()
            .position(|t| t.route.peer_key() == peer)
        {
            Some(i) => mark.targets + i,
            None => {
                self.targets.push(sub.clone());
                self.targets.len() - 1
            }
        };
        if let Some(g) = group {
            self.queues.push((idx, g));
        }
    }

    /// Writes this level's routed copies and drops back to `mark`.
    #[inline]
    pub(crate) fn flush(
        &mut self,
        mark: Mark,
        result: &MatchResult<SubRef>,
        subject: &[u8],
        reply: Option<&[u8]>,
        headers: Option<&[u8]>,
        payload: &[u8],
    ) {
        if self.targets.len() == mark.targets {
            return;
        }
        for ti in mark.targets..self.targets.len() {
            let t = &self.targets[ti];
            let mut inline: [&[u8]; INLINE_QUEUES] = [&[]; INLINE_QUEUES];
            let mut n = 0;
            let mut more: Vec<&[u8]> = Vec::new();
            let mut qlen = 0;
            for &(qt, g) in &self.queues[mark.queues..] {
                if qt != ti {
                    continue;
                }
                let name: &[u8] = &result.queues[g].name;
                qlen += name.len() + 1;
                if n < INLINE_QUEUES {
                    inline[n] = name;
                    n += 1;
                } else {
                    if more.is_empty() {
                        more.extend_from_slice(&inline);
                    }
                    more.push(name);
                }
            }
            let queues: &[&[u8]] = if more.is_empty() { &inline[..n] } else { &more };
            let route = &t.route;
            let headers = headers.filter(|_| route.headers.load(Ordering::Relaxed));
            let account = t.account.as_bytes();
            let len = 64
                + account.len()
                + subject.len()
                + reply.map_or(0, <[u8]>::len)
                + qlen
                + headers.map_or(0, <[u8]>::len)
                + payload.len();
            let queued = route.out.queue_with(len, |out| match headers {
                Some(h) => write_rhmsg(out, account, subject, reply, queues, h, payload),
                None => write_rmsg(out, account, subject, reply, queues, payload),
            });
            match queued {
                Queued::NeedsFlush => self.to_wake.push(route.clone()),
                Queued::Pending => {}
                Queued::Dropped => {
                    if route.out.failure().is_some() {
                        route.out.wake();
                    }
                }
            }
        }
        self.targets.truncate(mark.targets);
        self.queues.truncate(mark.queues);
    }

    /// End of a read batch: wake the flusher of every route written to.
    #[inline]
    pub(crate) fn wake(&mut self) {
        for r in self.to_wake.drain(..) {
            r.out.wake();
        }
    }
}

/// Binds the route listener for `Server::start` and registers the service
/// reply spaces of the configured exporters (announced once routes exist).
pub(crate) async fn bind(
    copts: &ClusterOptions,
    opts: &crate::config::Options,
    info: &ServerInfo,
    client_addr: SocketAddr,
    accounts: &dashmap::DashMap<Arc<str>, Arc<super::Account>>,
) -> Result<Cluster, super::ServerError> {
    let (cluster, _) = Cluster::bind(
        copts.clone(),
        info,
        &opts.host,
        client_addr,
        opts.max_payload,
    )
    .await
    .map_err(|source| super::ServerError::Bind {
        addr: format!(
            "{} (cluster)",
            join_host_port(&copts.host, copts.port.unwrap_or(0).max(0) as u16)
        ),
        source,
    })?;
    let mut exporters: Vec<&str> = Vec::new();
    for a in &opts.accounts {
        for im in &a.imports {
            if im.kind == crate::config::ExportKind::Service
                && !exporters.contains(&im.account.as_str())
            {
                exporters.push(&im.account);
            }
        }
    }
    for name in exporters {
        if let Some(acc) = accounts.get(name) {
            cluster.add_reply_space(acc.name.clone(), acc.reply_filter());
        }
    }
    Ok(cluster)
}

impl super::ServerHandle {
    /// The route listener's address (`cluster` configured).
    pub fn cluster_addr(&self) -> Option<SocketAddr> {
        self.shared.cluster.as_ref().map(|c| c.addr())
    }

    /// `nats-route://127.0.0.1:<port>` for peers in tests.
    pub fn route_url(&self) -> Option<String> {
        self.cluster_addr()
            .map(|a| format!("nats-route://127.0.0.1:{}", a.port()))
    }

    /// This server's id (INFO `server_id`).
    pub fn server_id(&self) -> String {
        self.shared.info.server_id.clone()
    }

    /// The cluster name in use.
    pub fn cluster_name(&self) -> Option<String> {
        self.shared.cluster.as_ref().map(|c| c.name())
    }

    /// Routes currently registered (one per peer server).
    pub fn num_routes(&self) -> usize {
        self.shared.cluster.as_ref().map_or(0, |c| c.num_routes())
    }

    /// Server ids of the connected peers, sorted.
    pub fn route_peer_ids(&self) -> Vec<String> {
        self.shared
            .cluster
            .as_ref()
            .map_or_else(Vec::new, |c| c.peer_ids())
    }

    /// The client URLs this server advertises in INFO `connect_urls`.
    pub fn client_connect_urls(&self) -> Vec<String> {
        let ldm = self.shared.lame_duck.load(Ordering::Relaxed);
        self.shared
            .cluster
            .as_ref()
            .map_or_else(Vec::new, |c| c.client_connect_urls(ldm))
    }
}
