//! A raw NATS client connection for the load generator: TCP, the INFO /
//! CONNECT / PING handshake, and a read buffer that yields server ops
//! without allocating.
//!
//! Why not a NATS client library: a general client copies each message into
//! its own allocation, routes it through channels and flushes on its own
//! schedule, which on a 2-core machine makes the *generator* the bottleneck.
//! Here every connection is driven directly by the task that owns it: writes
//! are whole pre-built batches and reads are scanned in place.

use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tracebus::protocol::{parse_info, ServerInfo};

use super::wire::{scan, Scan, ServerOp, WireError};
use crate::creds::Creds;

/// How a connection authenticates.
#[derive(Debug, Clone, Default)]
pub enum Auth {
    #[default]
    None,
    UserPass {
        user: String,
        pass: String,
    },
    Token(String),
    /// JWT + seed from a creds file (or just a seed for nkey users).
    Creds(Creds),
}

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct Target {
    /// `host:port`.
    pub addr: String,
    pub auth: Auth,
    /// How long the handshake and any single wait may take before the run is
    /// declared stalled.
    pub timeout: Duration,
}

impl Target {
    /// Parses `nats://[user:pass@|token@]host:port` (scheme optional, port
    /// 4222 by default). Credentials in the URL are used unless `auth` is set.
    pub fn from_url(url: &str, auth: Auth, timeout: Duration) -> Result<Target> {
        let rest = url
            .strip_prefix("nats://")
            .or_else(|| url.strip_prefix("tcp://"))
            .unwrap_or(url);
        let rest = rest.trim_end_matches('/');
        let (userinfo, hostport) = match rest.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, rest),
        };
        let auth = match (auth, userinfo) {
            (Auth::None, Some(u)) => match u.split_once(':') {
                Some((user, pass)) => Auth::UserPass {
                    user: user.to_owned(),
                    pass: pass.to_owned(),
                },
                None => Auth::Token(u.to_owned()),
            },
            (auth, _) => auth,
        };
        if hostport.is_empty() {
            bail!("no host in URL {url:?}");
        }
        let addr = if hostport
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        {
            hostport.to_owned()
        } else {
            format!("{hostport}:4222")
        };
        Ok(Target {
            addr,
            auth,
            timeout,
        })
    }
}

/// A growable read buffer holding unconsumed server bytes.
///
/// Ops are scanned in place; the consumed prefix is dropped by moving the
/// (short) unfinished tail to the front only when the free space at the end
/// gets small, so a steady stream costs one `read` per buffer fill and no
/// per-message copying.
pub struct ReadBuf {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Full length of the op at `start`, once its control line is known.
    need: Option<usize>,
}

impl ReadBuf {
    pub fn new(capacity: usize) -> ReadBuf {
        ReadBuf {
            buf: vec![0; capacity.max(64)],
            start: 0,
            end: 0,
            need: None,
        }
    }

    /// The next complete op, or `None` if more bytes must be read first.
    #[inline]
    pub fn next_op(&mut self) -> Result<Option<ServerOp<'_>>, WireError> {
        match scan(&self.buf[self.start..self.end])? {
            Scan::Op { op, consumed } => {
                self.start += consumed;
                Ok(Some(op))
            }
            Scan::Incomplete { need } => {
                self.need = need;
                Ok(None)
            }
        }
    }

    /// Reads at least one byte from `r` (call after `next_op` said `None`).
    pub async fn fill<R: AsyncRead + Unpin>(&mut self, r: &mut R) -> Result<usize> {
        self.make_room();
        let n = r.read(&mut self.buf[self.end..]).await?;
        if n == 0 {
            bail!("server closed the connection");
        }
        self.end += n;
        Ok(n)
    }

    /// Reads what is available right now without waiting; `Ok(0)` if nothing.
    pub fn try_fill(&mut self, stream: &TcpStream) -> Result<usize> {
        self.make_room();
        match stream.try_read(&mut self.buf[self.end..]) {
            Ok(0) => bail!("server closed the connection"),
            Ok(n) => {
                self.end += n;
                Ok(n)
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(0),
            Err(e) => Err(e.into()),
        }
    }

    fn make_room(&mut self) {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        let pending = self.end - self.start;
        let need = self.need.take().unwrap_or(0).max(pending + 1);
        if need > self.buf.len() {
            // A message larger than the buffer: grow once to fit it.
            let mut bigger = vec![0; need.next_power_of_two()];
            bigger[..pending].copy_from_slice(&self.buf[self.start..self.end]);
            self.buf = bigger;
            self.start = 0;
            self.end = pending;
        } else if self.start > 0
            && (self.buf.len() - self.end < self.buf.len() / 4
                || self.buf.len() - self.start < need)
        {
            self.buf.copy_within(self.start..self.end, 0);
            self.start = 0;
            self.end = pending;
        }
    }
}

/// One handshaken connection. Fields are public so a task can read from
/// `rbuf` while writing to `stream` (disjoint borrows).
pub struct Conn {
    pub stream: TcpStream,
    pub rbuf: ReadBuf,
    pub info: ServerInfo,
    pub timeout: Duration,
}

impl Conn {
    /// Connects, reads INFO, sends CONNECT (+ auth) and waits for the PONG
    /// to our PING, so the server has accepted us when this returns.
    pub async fn connect(target: &Target, name: &str, read_buf: usize) -> Result<Conn> {
        tokio::time::timeout(target.timeout, Self::handshake(target, name, read_buf))
            .await
            .map_err(|_| anyhow!("handshake with {} timed out", target.addr))?
    }

    async fn handshake(target: &Target, name: &str, read_buf: usize) -> Result<Conn> {
        let stream = TcpStream::connect(&target.addr)
            .await
            .with_context(|| format!("connecting to {}", target.addr))?;
        stream.set_nodelay(true)?;
        let mut conn = Conn {
            stream,
            rbuf: ReadBuf::new(read_buf),
            info: ServerInfo::default(),
            timeout: target.timeout,
        };
        conn.info = loop {
            if let Some(op) = conn.rbuf.next_op()? {
                match op {
                    ServerOp::Info(json) => break parse_info(json).context("server INFO")?,
                    other => bail!("expected INFO, got {other:?}"),
                }
            }
            conn.rbuf.fill(&mut conn.stream).await?;
        };
        let mut line = b"CONNECT ".to_vec();
        line.extend_from_slice(&connect_json(
            &target.auth,
            name,
            conn.info.nonce.as_deref(),
        )?);
        line.extend_from_slice(b"\r\nPING\r\n");
        conn.stream.write_all(&line).await?;
        conn.wait_pong().await?;
        Ok(conn)
    }

    /// Sends `PING` and waits for its `PONG`: every op written before has
    /// then been processed by the server (e.g. SUBs are registered).
    pub async fn ping_pong(&mut self) -> Result<()> {
        self.stream.write_all(b"PING\r\n").await?;
        self.wait_pong().await
    }

    /// Reads until a `PONG`, answering server PINGs; any message in between
    /// is an error (used only while setting up).
    async fn wait_pong(&mut self) -> Result<()> {
        loop {
            let mut ping = false;
            while let Some(op) = self.rbuf.next_op()? {
                match op {
                    ServerOp::Pong => return Ok(()),
                    ServerOp::Ping => ping = true,
                    ServerOp::Ok | ServerOp::Info(_) => {}
                    ServerOp::Err(e) => bail!("server error: {}", String::from_utf8_lossy(e)),
                    ServerOp::Msg { .. } | ServerOp::HMsg { .. } => {
                        bail!("unexpected message during setup")
                    }
                }
            }
            if ping {
                self.stream.write_all(b"PONG\r\n").await?;
            }
            self.fill_timeout().await?;
        }
    }

    /// `fill` bounded by the stall timeout.
    pub async fn fill_timeout(&mut self) -> Result<usize> {
        tokio::time::timeout(self.timeout, self.rbuf.fill(&mut self.stream))
            .await
            .map_err(|_| anyhow!("no data from server for {:?}", self.timeout))?
    }

    /// Sends the SUBs (sids 1..) in large writes, then waits until the server
    /// has registered them.
    pub async fn subscribe(&mut self, subjects: &[String], queue: Option<&str>) -> Result<()> {
        let mut out = Vec::with_capacity(64 * 1024);
        for (i, subject) in subjects.iter().enumerate() {
            out.extend_from_slice(b"SUB ");
            out.extend_from_slice(subject.as_bytes());
            if let Some(q) = queue {
                out.push(b' ');
                out.extend_from_slice(q.as_bytes());
            }
            out.extend_from_slice(format!(" {}\r\n", i + 1).as_bytes());
            if out.len() >= 60 * 1024 {
                self.stream.write_all(&out).await?;
                out.clear();
            }
        }
        self.stream.write_all(&out).await?;
        self.ping_pong().await
    }
}

/// The CONNECT JSON. `echo:false` because no benchmark connection wants its
/// own messages back; `headers:true` like current clients; `verbose` and
/// `pedantic` off so the server sends no `+OK` per op.
pub fn connect_json(auth: &Auth, name: &str, nonce: Option<&str>) -> Result<Vec<u8>> {
    let mut v = serde_json::json!({
        "verbose": false,
        "pedantic": false,
        "tls_required": false,
        "name": name,
        "lang": "rust-tracebus-bench",
        "version": env!("CARGO_PKG_VERSION"),
        "protocol": 1,
        "echo": false,
        "headers": true,
        "no_responders": false,
    });
    let m = v.as_object_mut().expect("object");
    match auth {
        Auth::None => {}
        Auth::UserPass { user, pass } => {
            m.insert("user".into(), user.as_str().into());
            m.insert("pass".into(), pass.as_str().into());
        }
        Auth::Token(t) => {
            m.insert("auth_token".into(), t.as_str().into());
        }
        Auth::Creds(c) => {
            let nonce = nonce.ok_or_else(|| {
                anyhow!("server sent no nonce; it does not expect nkey/JWT authentication")
            })?;
            m.insert("sig".into(), c.sign_nonce(nonce)?.into());
            match &c.jwt {
                Some(jwt) => m.insert("jwt".into(), jwt.as_str().into()),
                None => m.insert("nkey".into(), c.public_key()?.into()),
            };
        }
    }
    Ok(serde_json::to_vec(&v)?)
}

/// Builds one `PUB <subject> [reply] <len>\r\n<payload>\r\n` frame.
pub fn pub_frame(subject: &str, reply: Option<&str>, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(subject.len() + payload.len() + 32);
    f.extend_from_slice(b"PUB ");
    f.extend_from_slice(subject.as_bytes());
    if let Some(r) = reply {
        f.push(b' ');
        f.extend_from_slice(r.as_bytes());
    }
    f.extend_from_slice(format!(" {}\r\n", payload.len()).as_bytes());
    f.extend_from_slice(payload);
    f.extend_from_slice(b"\r\n");
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let t = Duration::from_secs(1);
        let a = Target::from_url("nats://127.0.0.1:4333", Auth::None, t).unwrap();
        assert_eq!(a.addr, "127.0.0.1:4333");
        assert!(matches!(a.auth, Auth::None));
        let b = Target::from_url("nats://u:p@localhost", Auth::None, t).unwrap();
        assert_eq!(b.addr, "localhost:4222");
        assert!(matches!(b.auth, Auth::UserPass { .. }));
        let c = Target::from_url("s3cr3t@127.0.0.1:1/", Auth::None, t).unwrap();
        assert!(matches!(c.auth, Auth::Token(ref s) if s == "s3cr3t"));
    }

    #[test]
    fn read_buf_handles_ops_split_across_reads_and_large_messages() {
        let mut wire = Vec::new();
        for i in 0..100 {
            wire.extend_from_slice(format!("MSG a {i} 3\r\nxyz\r\n").as_bytes());
        }
        let big = vec![b'x'; 1000];
        wire.extend_from_slice(b"MSG big 1 1000\r\n");
        wire.extend_from_slice(&big);
        wire.extend_from_slice(b"\r\nPONG\r\n");
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            // A reader that hands out 7 bytes at a time.
            let mut src = tokio_test_reader(wire, 7);
            let mut rb = ReadBuf::new(64);
            let (mut msgs, mut bytes, mut pong) = (0, 0, false);
            while !pong {
                while let Some(op) = rb.next_op().unwrap() {
                    match op {
                        ServerOp::Pong => pong = true,
                        op => {
                            msgs += 1;
                            bytes += op.payload_len();
                        }
                    }
                }
                if !pong {
                    rb.fill(&mut src).await.unwrap();
                }
            }
            assert_eq!(msgs, 101);
            assert_eq!(bytes, 300 + 1000);
        });
    }

    /// An `AsyncRead` over `data` that returns at most `chunk` bytes per read.
    fn tokio_test_reader(data: Vec<u8>, chunk: usize) -> impl AsyncRead + Unpin {
        struct Chunked(std::io::Cursor<Vec<u8>>, usize);
        impl AsyncRead for Chunked {
            fn poll_read(
                mut self: std::pin::Pin<&mut Self>,
                _: &mut std::task::Context<'_>,
                buf: &mut tokio::io::ReadBuf<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                let n = self.1.min(buf.remaining());
                let mut tmp = vec![0; n];
                let got = std::io::Read::read(&mut self.0, &mut tmp)?;
                buf.put_slice(&tmp[..got]);
                std::task::Poll::Ready(Ok(()))
            }
        }
        Chunked(std::io::Cursor::new(data), chunk)
    }
}
