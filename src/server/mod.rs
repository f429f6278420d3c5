//! The broker: listener, registries of clients and accounts, lifecycle.
//!
//! `Server::start` binds and returns a [`ServerHandle`]; tests, benches and the
//! `tracebus` binary all run the same code path in-process.

mod account;
mod auth;
mod client;
mod outbound;
mod subscription;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use dashmap::DashMap;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::Options;
use crate::protocol::connect::ConnectInfo;
use crate::protocol::info::ServerInfo;

pub use account::{Account, GLOBAL_ACCOUNT};
pub use client::{ClientShared, CloseReason};

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
}

/// State shared by every task of one server.
pub(crate) struct ServerShared {
    pub(crate) opts: Options,
    info: ServerInfo,
    pub(crate) global_account: Arc<Account>,
    clients: DashMap<u64, Arc<ClientShared>>,
    next_cid: AtomicU64,
    auth: auth::SimpleAuth,
}

impl ServerShared {
    pub(crate) fn next_client_id(&self) -> u64 {
        self.next_cid.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn auth_required(&self) -> bool {
        self.auth.required()
    }

    pub(crate) fn authenticate(&self, info: &ConnectInfo) -> Result<(), auth::AuthError> {
        self.auth.check(info)
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
    /// Binds the client listener and starts accepting connections.
    pub async fn start(opts: Options) -> Result<ServerHandle, ServerError> {
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
            auth_required: auth::SimpleAuth::from_options(&opts).required(),
            ..Default::default()
        };
        let shared = Arc::new(ServerShared {
            auth: auth::SimpleAuth::from_options(&opts),
            global_account: Arc::new(Account::new(GLOBAL_ACCOUNT)),
            clients: DashMap::new(),
            next_cid: AtomicU64::new(1),
            info,
            opts,
        });

        tracing::info!("Starting tracebus");
        tracing::info!("  Version:  {}", env!("CARGO_PKG_VERSION"));
        tracing::info!("  Server ID: {server_id}");
        tracing::info!("Listening for client connections on {addr}");
        tracing::info!("Server is ready");

        let (stop, mut stopped) = watch::channel(false);
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

    /// Closes the listener, then every client (their queued bytes are still
    /// written), and waits for the connections to end.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.accept_task.await;
        tracing::info!("Initiating Shutdown...");
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
