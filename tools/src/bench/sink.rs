//! `bench sink`: a stand-in server that speaks just enough NATS for a
//! publisher (INFO on accept, PONG for PING) and throws every message away.
//!
//! Running `bench pub` against it measures the load generator's own ceiling:
//! the rate at which it can produce PUB frames when the "server" costs
//! almost nothing. The sink parses with the broker's own parser
//! (`tracebus::protocol::client::parse`), so what it accepts is exactly what
//! tracebus accepts, and it counts what it swallowed so a run can be checked.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Result};
use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tracebus::protocol::client::{parse, write_info, ClientOp, Limits, Parsed};
use tracebus::protocol::ServerInfo;

/// Totals across all sink connections.
#[derive(Default)]
pub struct SinkStats {
    pub msgs: AtomicU64,
    pub bytes: AtomicU64,
    pub conns: AtomicU64,
}

/// Listens on `host:port` and serves connections until the process is
/// stopped, printing a line of totals every `report_every` while messages
/// flow (never if `None`).
pub async fn run(host: &str, port: u16, report_every: Option<Duration>) -> Result<()> {
    let listener = TcpListener::bind((host, port)).await?;
    let addr = listener.local_addr()?;
    eprintln!("sink listening on {addr}");
    let stats = Arc::new(SinkStats::default());
    if let Some(every) = report_every {
        let stats = stats.clone();
        tokio::spawn(async move {
            let mut last = 0;
            loop {
                tokio::time::sleep(every).await;
                let n = stats.msgs.load(Ordering::Relaxed);
                if n != last {
                    eprintln!(
                        "sink: {n} msgs, {} payload bytes, {} connections so far",
                        stats.bytes.load(Ordering::Relaxed),
                        stats.conns.load(Ordering::Relaxed)
                    );
                    last = n;
                }
            }
        });
    }
    serve(listener, stats).await
}

/// Accept loop (separate from `run` so tests can bind port 0 themselves).
pub async fn serve(listener: TcpListener, stats: Arc<SinkStats>) -> Result<()> {
    let port = listener.local_addr()?.port();
    loop {
        let (stream, _) = listener.accept().await?;
        stats.conns.fetch_add(1, Ordering::Relaxed);
        let stats = stats.clone();
        tokio::spawn(async move {
            // A client going away is the normal end of a sink connection.
            let _ = connection(stream, port, stats).await;
        });
    }
}

async fn connection(mut stream: TcpStream, port: u16, stats: Arc<SinkStats>) -> Result<()> {
    stream.set_nodelay(true)?;
    let info = ServerInfo {
        server_id: "SINK".into(),
        server_name: "tracebus-bench-sink".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        proto: 1,
        go: "none".into(),
        host: "127.0.0.1".into(),
        port,
        headers: true,
        max_payload: Limits::default().max_payload,
        ..ServerInfo::default()
    };
    let mut out = BytesMut::new();
    write_info(&mut out, &info);
    stream.write_all(&out).await?;

    let limits = Limits::default();
    let mut buf = BytesMut::with_capacity(256 * 1024);
    loop {
        let (mut msgs, mut bytes, mut pongs) = (0u64, 0u64, 0usize);
        let mut used = 0;
        loop {
            match parse(&buf[used..], &limits) {
                Ok(Parsed::Op { op, consumed }) => {
                    used += consumed;
                    match op {
                        ClientOp::Pub { payload, .. } | ClientOp::HPub { payload, .. } => {
                            msgs += 1;
                            bytes += payload.len() as u64;
                        }
                        ClientOp::Ping => pongs += 1,
                        _ => {}
                    }
                }
                Ok(Parsed::Incomplete { need }) => {
                    if let Some(need) = need {
                        buf.reserve(need.saturating_sub(buf.len() - used));
                    }
                    break;
                }
                Err(e) => bail!("protocol error: {e}"),
            }
        }
        let _ = buf.split_to(used);
        stats.msgs.fetch_add(msgs, Ordering::Relaxed);
        stats.bytes.fetch_add(bytes, Ordering::Relaxed);
        if pongs > 0 {
            out.clear();
            for _ in 0..pongs {
                out.extend_from_slice(b"PONG\r\n");
            }
            stream.write_all(&out).await?;
        }
        if buf.capacity() - buf.len() < 16 * 1024 {
            buf.reserve(64 * 1024);
        }
        if stream.read_buf(&mut buf).await? == 0 {
            return Ok(());
        }
    }
}
