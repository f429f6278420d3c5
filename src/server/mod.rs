//! The broker: listener, registries of clients and accounts, lifecycle.
//!
//! `Server::start` binds and returns a [`ServerHandle`]; tests, benches and the
//! `tracebus` binary all run the same code path in-process.

mod account;
mod client;
mod cluster;
mod lameduck;
mod operator;
pub mod outbound;
mod route;
mod subscription;
mod system;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::auth::Authenticator;
use crate::config::{ConfigError, ExportKind, Options};
use crate::protocol::info::ServerInfo;

pub use account::{Account, GLOBAL_ACCOUNT, REPLY_PREFIX};
pub use client::{ClientShared, CloseReason};

use subscription::{ImportKind, ImportSub, SubRef};

/// The NATS protocol level tracebus implements, reported as INFO `version` so
/// clients that gate features on the server version (headers, no-responders)
/// enable them. tracebus identifies itself in the INFO `go` field.
pub const COMPAT_VERSION: &str = "2.9.10";

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The client listener could not bind.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    /// The options are inconsistent (accounts, imports, users...).
    #[error("{0}")]
    Config(#[from] ConfigError),
}

/// State shared by every task of one server.
pub(crate) struct ServerShared {
    pub(crate) opts: Options,
    info: ServerInfo,
    pub(crate) global_account: Arc<Account>,
    /// Every account by name: `$G`, the system account, the configured ones.
    accounts: AccountRegistry,
    clients: DashMap<u64, Arc<ClientShared>>,
    next_cid: AtomicU64,
    pub(crate) auth: Authenticator,
    /// Operator mode: trusted keys, resolver, JWT accounts and sessions.
    pub(crate) operator: Option<Arc<operator::OperatorState>>,
    /// Routes to the other servers (`cluster` configured).
    pub(crate) cluster: Option<Arc<cluster::Cluster>>,
    /// Lame duck mode: no new clients, INFO says `ldm`.
    pub(crate) lame_duck: std::sync::atomic::AtomicBool,
}

impl ServerShared {
    pub(crate) fn next_client_id(&self) -> u64 {
        self.next_cid.fetch_add(1, Ordering::Relaxed)
    }

    /// The account called `name`. Identities only name accounts that exist
    /// (the options were validated); `$G` stands in otherwise.
    pub(crate) fn account(&self, name: &str) -> Arc<Account> {
        match self.accounts.get(name) {
            Some(a) => a.value().clone(),
            None => {
                tracing::error!("account {name:?} does not exist; using {GLOBAL_ACCOUNT}");
                self.global_account.clone()
            }
        }
    }

    /// The account called `name`, if it exists (routes name accounts).
    pub(crate) fn find_account(&self, name: &str) -> Option<Arc<Account>> {
        self.accounts.get(name).map(|a| a.value().clone())
    }

    /// The INFO line for one new connection.
    pub(crate) fn info_line(
        &self,
        client_id: u64,
        peer: SocketAddr,
        nonce: Option<&str>,
    ) -> String {
        let mut info = self.info.clone();
        info.client_id = client_id;
        info.client_ip = peer.ip().to_string();
        info.nonce = nonce.map(str::to_owned);
        let ldm = self.lame_duck.load(Ordering::Relaxed);
        info.ldm = ldm;
        if let Some(c) = &self.cluster {
            info.cluster = Some(c.name());
            info.connect_urls = c.client_connect_urls(ldm);
        }
        let mut out = bytes::BytesMut::new();
        crate::protocol::client::write_info(&mut out, &info);
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Adds a connection to the registry unless `max_connections` is reached.
    pub(crate) fn register_client(&self, c: &Arc<ClientShared>) -> bool {
        let max = self.opts.max_connections;
        if max > 0 && self.clients.len() >= max {
            return false;
        }
        self.clients.insert(c.id, c.clone());
        true
    }

    pub(crate) fn unregister_client(&self, id: u64) {
        self.clients.remove(&id);
    }
}

/// Makes room in a connection's read buffer for the rest of a partial op that
/// starts at `pos` and, as the parser told, will occupy `need` bytes, so a large
/// payload arrives in a few reads instead of many small ones.
pub(crate) fn reserve_for_op(buf: &mut bytes::BytesMut, pos: usize, need: Option<usize>) {
    if let Some(need) = need {
        let have = buf.len() - pos;
        if need > have {
            buf.reserve(need - have);
        }
    }
}

/// A running server.
pub struct ServerHandle {
    shared: Arc<ServerShared>,
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    accept_task: JoinHandle<()>,
}

/// Entry point: `Server::start(options)`.
pub struct Server;

impl Server {
    /// Binds the client listener and starts accepting connections. The options
    /// are validated first (accounts, imports, users), so a configuration error
    /// is reported before anything listens.
    pub async fn start(opts: Options) -> Result<ServerHandle, ServerError> {
        opts.validate()?;
        let auth = Authenticator::from_options(&opts);
        let operator = operator::OperatorState::from_options(&opts)?;
        let (accounts, global_account, reply_sweep) = build_accounts(&opts);
        let port = if opts.port < 0 { 0 } else { opts.port as u16 };
        let bind = format!("{}:{}", opts.host, port);
        let listener = TcpListener::bind(&bind)
            .await
            .map_err(|source| ServerError::Bind {
                addr: bind.clone(),
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| ServerError::Bind {
            addr: bind.clone(),
            source,
        })?;

        let server_id = nkeys::KeyPair::new_server().public_key();
        let info = ServerInfo {
            server_id: server_id.clone(),
            server_name: opts
                .server_name
                .clone()
                .unwrap_or_else(|| server_id.clone()),
            version: COMPAT_VERSION.to_string(),
            proto: 1,
            go: format!("tracebus {} (rust)", env!("CARGO_PKG_VERSION")),
            host: opts.host.clone(),
            port: addr.port(),
            headers: true,
            max_payload: opts.max_payload,
            auth_required: auth.auth_required(),
            ..Default::default()
        };
        if auth.has_plaintext_secrets() {
            tracing::warn!("Plaintext passwords detected, use nkeys or bcrypt");
        }
        let cluster = match &opts.cluster {
            Some(c) => Some(Arc::new(
                cluster::bind(c, &opts, &info, addr, &accounts).await?,
            )),
            None => None,
        };
        let shared = Arc::new(ServerShared {
            auth,
            operator,
            global_account,
            accounts,
            clients: DashMap::new(),
            next_cid: AtomicU64::new(1),
            info,
            opts,
            cluster,
            lame_duck: std::sync::atomic::AtomicBool::new(false),
        });

        tracing::info!("Starting tracebus");
        tracing::info!("  Version:  {}", env!("CARGO_PKG_VERSION"));
        tracing::info!("  Server ID: {server_id}");
        tracing::info!("Listening for client connections on {addr}");
        tracing::info!("Server is ready");
        if let Some(c) = &shared.cluster {
            c.start(&shared);
        }

        let (stop, mut stopped) = watch::channel(false);
        if let Some(op) = &shared.operator {
            op.start(&shared, stop.subscribe());
        }
        if let Some(every) = reply_sweep {
            // Service reply mappings nobody answered lapse after their threshold.
            let weak = Arc::downgrade(&shared);
            let mut stopped = stop.subscribe();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                loop {
                    tokio::select! {
                        _ = stopped.changed() => break,
                        _ = tick.tick() => {
                            let Some(shared) = weak.upgrade() else { break };
                            let now = Instant::now();
                            for a in shared.accounts.iter() {
                                a.value().sweep_responses(now);
                            }
                        }
                    }
                }
            });
        }
        let accept_shared = shared.clone();
        let accept_task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stopped.changed() => break,
                    r = listener.accept() => match r {
                        Ok((stream, peer)) => {
                            tokio::spawn(client::run(accept_shared.clone(), stream, peer));
                        }
                        Err(e) => {
                            tracing::error!("error accepting client connection: {e}");
                            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                        }
                    }
                }
            }
        });
        Ok(ServerHandle {
            shared,
            addr,
            stop,
            accept_task,
        })
    }
}

impl ServerHandle {
    /// The bound client address (useful with port 0 / -1).
    pub fn client_addr(&self) -> SocketAddr {
        self.addr
    }

    /// A `nats://127.0.0.1:port` URL for clients in tests.
    pub fn client_url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.addr.port())
    }

    /// Connections currently open.
    pub fn num_clients(&self) -> usize {
        self.shared.clients.len()
    }

    /// The default account (`$G`).
    pub fn global_account(&self) -> Arc<Account> {
        self.shared.global_account.clone()
    }

    /// The account called `name` (`$G`, the system account, or a configured one).
    pub fn account(&self, name: &str) -> Option<Arc<Account>> {
        self.shared.accounts.get(name).map(|a| a.value().clone())
    }

    /// Names of every account, sorted.
    pub fn account_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .shared
            .accounts
            .iter()
            .map(|a| a.key().to_string())
            .collect();
        v.sort();
        v
    }

    /// Closes the listener, then every client (their queued bytes are still
    /// written), and waits for the connections to end.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.accept_task.await;
        tracing::info!("Initiating Shutdown...");
        if let Some(c) = &self.shared.cluster {
            c.shutdown().await;
        }
        let clients: Vec<_> = self
            .shared
            .clients
            .iter()
            .map(|e| e.value().clone())
            .collect();
        for c in &clients {
            c.kill();
        }
        for c in &clients {
            let _ =
                tokio::time::timeout(std::time::Duration::from_secs(2), c.out.wait_done()).await;
        }
        tracing::info!("Server Exiting..");
    }
}

/// Accounts by name.
type AccountRegistry = DashMap<Arc<str>, Arc<Account>>;

/// Creates `$G`, the system account and every configured account, and wires
/// the imports into the sublists:
///
/// * a stream import becomes an entry in the exporter's sublist on the imported
///   subject, forwarding into the importer;
/// * a service import becomes an entry in the importer's sublist on its local
///   subject, forwarding requests into the exporter, and the exporter gets one
///   entry on its reply space `_R_.<prefix>.>` that routes responses back.
///
/// Returns the registry, `$G`, and how often to sweep lapsed reply mappings
/// (`None` without service imports).
fn build_accounts(opts: &Options) -> (AccountRegistry, Arc<Account>, Option<Duration>) {
    let registry: AccountRegistry = DashMap::new();
    let global = Arc::new(Account::new(GLOBAL_ACCOUNT));
    registry.insert(global.name.clone(), global.clone());
    for a in &opts.accounts {
        let acc = Arc::new(Account::new(&a.name));
        registry.insert(acc.name.clone(), acc);
    }
    let sys = opts.system_account_name();
    if !registry.contains_key(sys) {
        let acc = Arc::new(Account::new(sys));
        registry.insert(acc.name.clone(), acc);
    }
    let get = |name: &str| registry.get(name).map(|a| a.value().clone());
    let mut sweep: Option<Duration> = None;
    let mut responders: Vec<Arc<Account>> = Vec::new();
    for a in &opts.accounts {
        let Some(importer) = get(&a.name) else {
            continue;
        };
        for im in &a.imports {
            // Validated: the exporter exists and exports this to the importer.
            let (Some(exporter), Ok(transform)) = (get(&im.account), im.transform()) else {
                continue;
            };
            match im.kind {
                ExportKind::Stream => {
                    let entry = ImportSub {
                        kind: ImportKind::Stream {
                            importer: Arc::downgrade(&importer),
                            transform,
                        },
                        subject: im.subject.as_bytes().into(),
                    };
                    let _ = exporter.sublist.insert(
                        im.subject.as_bytes(),
                        None,
                        SubRef::Import(Arc::new(entry)),
                    );
                }
                ExportKind::Service => {
                    let export = opts
                        .accounts
                        .iter()
                        .find(|x| x.name == im.account)
                        .and_then(|x| {
                            x.exports.iter().find(|e| {
                                e.kind == ExportKind::Service
                                    && crate::transform::is_subset(
                                        im.subject.as_bytes(),
                                        e.subject.as_bytes(),
                                    )
                                    && e.accounts
                                        .as_ref()
                                        .map_or(true, |l| l.iter().any(|n| n == &a.name))
                            })
                        });
                    let (response_type, threshold) = export.map_or(
                        (
                            Default::default(),
                            crate::config::options::DEFAULT_RESPONSE_THRESHOLD,
                        ),
                        |e| (e.response_type, e.response_threshold),
                    );
                    let local = im.local_subject();
                    let entry = ImportSub {
                        kind: ImportKind::Service {
                            exporter: Arc::downgrade(&exporter),
                            importer: Arc::downgrade(&importer),
                            importer_name: importer.name.clone(),
                            transform,
                            response_type,
                            threshold,
                        },
                        subject: local.as_bytes().into(),
                    };
                    let _ = importer.sublist.insert(
                        local.as_bytes(),
                        None,
                        SubRef::Import(Arc::new(entry)),
                    );
                    if !responders.iter().any(|r| Arc::ptr_eq(r, &exporter)) {
                        responders.push(exporter.clone());
                    }
                    let every =
                        (threshold / 2).clamp(Duration::from_millis(10), Duration::from_secs(1));
                    sweep = Some(sweep.map_or(every, |s| s.min(every)));
                }
            }
        }
    }
    for exporter in responders {
        let filter = exporter.reply_filter();
        let entry = ImportSub {
            kind: ImportKind::Responses {
                account: Arc::downgrade(&exporter),
            },
            subject: filter.clone().into(),
        };
        let _ = exporter
            .sublist
            .insert(&filter, None, SubRef::Import(Arc::new(entry)));
    }
    (registry, global, sweep)
}
