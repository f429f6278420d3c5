//! Raw-socket helpers for protocol conformance tests.
//!
//! * [`Target`] starts the server under test from one [`Settings`] value: either an
//!   in-process tracebus (through `tests/common/mod.rs`) or a `nats-server` child process
//!   configured the same way, so the very same byte-level checks run against both.
//! * [`RawClient`] is a bare TCP client: it sends exact bytes and compares exact bytes,
//!   with a timeout on every read so that a misbehaving server fails a test instead of
//!   hanging it.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::io::{ErrorKind, Read as _};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;

use crate::common;

/// Default bound for any single expectation (a read, a write, a close).
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// Which server a conformance check runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Tracebus,
    NatsServer,
}

/// Server settings shared by both targets. `None` keeps the server's default.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    pub max_payload: Option<u64>,
    pub max_control_line: Option<u64>,
    pub max_connections: Option<u64>,
    pub max_subscriptions: Option<u64>,
    pub max_pending: Option<u64>,
    pub write_deadline: Option<Duration>,
    pub ping_interval: Option<Duration>,
    pub ping_max: Option<u32>,
    pub user: Option<String>,
    pub password: Option<String>,
    pub token: Option<String>,
    pub auth_timeout: Option<Duration>,
}

impl Settings {
    /// True when the settings make the server require authentication.
    pub fn auth_required(&self) -> bool {
        self.user.is_some() || self.token.is_some()
    }

    /// The settings as a nats-server configuration file.
    pub fn nats_conf(&self, log_file: &std::path::Path) -> String {
        let mut c = String::new();
        c.push_str("listen: \"127.0.0.1:-1\"\n");
        let _ = writeln!(c, "log_file: {}", quote(&log_file.to_string_lossy()));
        if let Some(v) = self.max_payload {
            let _ = writeln!(c, "max_payload: {v}");
        }
        if let Some(v) = self.max_control_line {
            let _ = writeln!(c, "max_control_line: {v}");
        }
        if let Some(v) = self.max_connections {
            let _ = writeln!(c, "max_connections: {v}");
        }
        if let Some(v) = self.max_subscriptions {
            let _ = writeln!(c, "max_subscriptions: {v}");
        }
        if let Some(v) = self.max_pending {
            let _ = writeln!(c, "max_pending: {v}");
        }
        if let Some(d) = self.write_deadline {
            let _ = writeln!(c, "write_deadline: \"{}ms\"", d.as_millis());
        }
        if let Some(d) = self.ping_interval {
            let _ = writeln!(c, "ping_interval: \"{}ms\"", d.as_millis());
        }
        if let Some(v) = self.ping_max {
            let _ = writeln!(c, "ping_max: {v}");
        }
        if self.auth_required() || self.auth_timeout.is_some() {
            c.push_str("authorization {\n");
            if let Some(u) = &self.user {
                let _ = writeln!(c, "  user: {}", quote(u));
            }
            if let Some(p) = &self.password {
                let _ = writeln!(c, "  password: {}", quote(p));
            }
            if let Some(t) = &self.token {
                let _ = writeln!(c, "  token: {}", quote(t));
            }
            if let Some(d) = self.auth_timeout {
                let _ = writeln!(c, "  timeout: {}", d.as_secs_f64());
            }
            c.push_str("}\n");
        }
        c
    }

    /// The settings applied to tracebus' options (whatever integer types its fields use).
    #[allow(clippy::useless_conversion, clippy::unnecessary_fallible_conversions)]
    pub fn tracebus_options(&self) -> tracebus::config::Options {
        let mut o = common::test_options();
        if let Some(v) = self.max_payload {
            o.max_payload = v.try_into().expect("max_payload fits");
        }
        if let Some(v) = self.max_control_line {
            o.max_control_line = v.try_into().expect("max_control_line fits");
        }
        if let Some(v) = self.max_connections {
            o.max_connections = v.try_into().expect("max_connections fits");
        }
        if let Some(v) = self.max_subscriptions {
            o.max_subscriptions = v.try_into().expect("max_subscriptions fits");
        }
        if let Some(v) = self.max_pending {
            o.max_pending = v.try_into().expect("max_pending fits");
        }
        if let Some(d) = self.write_deadline {
            o.write_deadline = d;
        }
        if let Some(d) = self.ping_interval {
            o.ping_interval = d;
        }
        if let Some(v) = self.ping_max {
            o.ping_max = v;
        }
        if let Some(u) = &self.user {
            o.authorization.user = Some(u.clone());
        }
        if let Some(p) = &self.password {
            o.authorization.password = Some(p.clone());
        }
        if let Some(t) = &self.token {
            o.authorization.token = Some(t.clone());
        }
        if let Some(d) = self.auth_timeout {
            o.authorization.timeout = d;
        }
        o
    }
}

/// A double-quoted conf string (JSON escaping is accepted by the conf format).
fn quote(s: &str) -> String {
    serde_json::to_string(s).expect("string encodes")
}

fn to_addr(a: impl ToSocketAddrs) -> SocketAddr {
    a.to_socket_addrs()
        .expect("server address resolves")
        .next()
        .expect("server address present")
}

/// A running server under test.
pub struct Target {
    pub kind: Kind,
    pub settings: Settings,
    addr: SocketAddr,
    inner: Inner,
}

enum Inner {
    Tracebus(Option<tracebus::server::ServerHandle>),
    Nats(NatsChild),
}

struct NatsChild {
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for NatsChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The nats-server binary: `$NATS_SERVER`, else `nats-server` on PATH, else /usr/sbin.
pub fn nats_server_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("NATS_SERVER") {
        return PathBuf::from(p);
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let cand = dir.join("nats-server");
            if cand.is_file() {
                return cand;
            }
        }
    }
    PathBuf::from("/usr/sbin/nats-server")
}

impl Target {
    pub async fn start(kind: Kind, settings: Settings) -> Target {
        match kind {
            Kind::Tracebus => {
                let handle = common::start(settings.tracebus_options()).await;
                let addr = to_addr(handle.client_addr());
                Target {
                    kind,
                    settings,
                    addr,
                    inner: Inner::Tracebus(Some(handle)),
                }
            }
            Kind::NatsServer => Self::start_nats(settings).await,
        }
    }

    async fn start_nats(settings: Settings) -> Target {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("nats.log");
        let conf = dir.path().join("nats.conf");
        std::fs::write(&conf, settings.nats_conf(&log)).expect("write conf");
        let bin = nats_server_bin();
        let child = Command::new(&bin)
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let mut nc = NatsChild {
            child,
            log,
            _dir: dir,
        };
        // The port is chosen by the server (-1); it is read back from the log.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = std::fs::read_to_string(&nc.log).unwrap_or_default();
            let port = text
                .lines()
                .find_map(|l| l.split("Listening for client connections on ").nth(1))
                .and_then(|hp| hp.trim().rsplit(':').next())
                .and_then(|p| p.parse::<u16>().ok());
            if let (Some(port), true) = (port, text.contains("Server is ready")) {
                let addr = SocketAddr::from(([127, 0, 0, 1], port));
                return Target {
                    kind: Kind::NatsServer,
                    settings,
                    addr,
                    inner: Inner::Nats(nc),
                };
            }
            if let Ok(Some(status)) = nc.child.try_wait() {
                let mut err = String::new();
                if let Some(mut e) = nc.child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                panic!("nats-server exited ({status}): {err}\nlog:\n{text}");
            }
            if Instant::now() > deadline {
                panic!("nats-server did not become ready; log:\n{text}");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The client listener address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The nats-server log so far (empty for tracebus); handy in failure messages.
    pub fn log(&self) -> String {
        match &self.inner {
            Inner::Nats(nc) => std::fs::read_to_string(&nc.log).unwrap_or_default(),
            Inner::Tracebus(_) => String::new(),
        }
    }

    /// Connects and reads the INFO line.
    pub async fn client(&self) -> RawClient {
        RawClient::connect(self.addr).await
    }

    /// Connects, reads INFO, and sends `CONNECT {"verbose":false}` (no reply expected).
    pub async fn quiet_client(&self) -> RawClient {
        let mut c = self.client().await;
        c.send(b"CONNECT {\"verbose\":false}\r\n").await;
        c
    }

    /// Connects without reading anything.
    pub async fn raw(&self) -> RawClient {
        RawClient::connect_raw(self.addr).await
    }

    pub async fn stop(mut self) {
        if let Inner::Tracebus(h) = &mut self.inner {
            if let Some(h) = h.take() {
                #[allow(unused_mut)]
                let mut h = h;
                #[allow(clippy::let_unit_value)]
                let _ = h.shutdown().await;
            }
        }
        // nats-server: killed by NatsChild's Drop.
    }
}

/// Printable form of protocol bytes for assertion messages.
pub fn show(bytes: &[u8]) -> String {
    const MAX: usize = 800;
    let mut s = String::new();
    for &b in bytes.iter().take(MAX) {
        s.extend(std::ascii::escape_default(b).map(char::from));
    }
    if bytes.len() > MAX {
        let _ = write!(s, "... ({} bytes total)", bytes.len());
    }
    s
}

/// What [`RawClient::drain_until_closed`] saw.
#[derive(Debug)]
pub struct Drained {
    pub bytes: usize,
    pub closed: bool,
    pub found_needle: bool,
}

/// A bare NATS client over TCP.
pub struct RawClient {
    stream: TcpStream,
    buf: Vec<u8>,
    eof: bool,
    /// The raw INFO line including its CRLF (empty when connected with `connect_raw`).
    pub info_line: Vec<u8>,
    /// The parsed INFO JSON (Null when connected with `connect_raw`).
    pub info: Value,
}

impl RawClient {
    /// Connects and reads (and parses) the INFO line.
    pub async fn connect(addr: SocketAddr) -> RawClient {
        let mut c = Self::connect_raw(addr).await;
        c.read_info().await;
        c
    }

    /// Connects with a small receive buffer (for slow consumers), then reads INFO.
    pub async fn connect_with_recv_buffer(addr: SocketAddr, size: u32) -> RawClient {
        let sock = TcpSocket::new_v4().expect("socket");
        sock.set_recv_buffer_size(size).expect("SO_RCVBUF");
        let stream = tokio::time::timeout(IO_TIMEOUT, sock.connect(addr))
            .await
            .expect("connect timed out")
            .expect("connect");
        let mut c = Self::from_stream(stream);
        c.read_info().await;
        c
    }

    /// Connects without reading anything.
    pub async fn connect_raw(addr: SocketAddr) -> RawClient {
        let stream = tokio::time::timeout(IO_TIMEOUT, TcpStream::connect(addr))
            .await
            .expect("connect timed out")
            .expect("connect");
        Self::from_stream(stream)
    }

    fn from_stream(stream: TcpStream) -> RawClient {
        stream.set_nodelay(true).expect("nodelay");
        RawClient {
            stream,
            buf: Vec::new(),
            eof: false,
            info_line: Vec::new(),
            info: Value::Null,
        }
    }

    /// Reads the INFO line and parses its JSON.
    pub async fn read_info(&mut self) -> &Value {
        let line = self.read_line().await;
        assert!(
            line.starts_with(b"INFO "),
            "first line is not INFO: {}",
            show(&line)
        );
        let body = &line[5..line.len() - 2];
        self.info = serde_json::from_slice(body)
            .unwrap_or_else(|e| panic!("INFO JSON does not parse ({e}): {}", show(&line)));
        self.info_line = line;
        &self.info
    }

    /// Reads more bytes into the buffer. Ok(0) means EOF (a reset counts as EOF too).
    async fn fill(&mut self, deadline: Instant) -> Result<usize, ()> {
        if self.eof {
            return Ok(0);
        }
        self.buf.reserve(64 * 1024);
        match tokio::time::timeout_at(deadline, self.stream.read_buf(&mut self.buf)).await {
            Err(_) => Err(()),
            Ok(Ok(0)) => {
                self.eof = true;
                Ok(0)
            }
            Ok(Ok(n)) => Ok(n),
            Ok(Err(e)) if is_closed_err(&e) => {
                self.eof = true;
                Ok(0)
            }
            Ok(Err(e)) => panic!("read error: {e}"),
        }
    }

    /// Sends bytes and flushes.
    pub async fn send(&mut self, data: impl AsRef<[u8]>) {
        if let Err(e) = self.try_send(data.as_ref(), IO_TIMEOUT).await {
            panic!("send failed: {e}");
        }
    }

    /// Sends bytes with a timeout, reporting failure instead of panicking.
    pub async fn try_send(&mut self, data: &[u8], timeout: Duration) -> Result<(), String> {
        let fut = async {
            self.stream.write_all(data).await?;
            self.stream.flush().await
        };
        match tokio::time::timeout(timeout, fut).await {
            Err(_) => Err(format!(
                "write of {} bytes timed out after {timeout:?}",
                data.len()
            )),
            Ok(Err(e)) => Err(format!("write error: {e}")),
            Ok(Ok(())) => Ok(()),
        }
    }

    /// Sends one byte per write, flushing and pausing briefly after each.
    pub async fn send_bytewise(&mut self, data: &[u8]) {
        for b in data {
            self.send([*b]).await;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Reads one line including its terminating `\n`.
    pub async fn read_line(&mut self) -> Vec<u8> {
        self.read_line_within(IO_TIMEOUT).await
    }

    pub async fn read_line_within(&mut self, timeout: Duration) -> Vec<u8> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                return self.buf.drain(..=i).collect();
            }
            match self.fill(deadline).await {
                Ok(0) => panic!(
                    "connection closed before a full line; got: {}",
                    show(&self.buf)
                ),
                Ok(_) => {}
                Err(()) => panic!("timed out waiting for a line; got: {}", show(&self.buf)),
            }
        }
    }

    /// Reads exactly `expected.len()` bytes and asserts they equal `expected`.
    /// Fails early as soon as the bytes diverge.
    pub async fn expect(&mut self, expected: impl AsRef<[u8]>) {
        let expected = expected.as_ref();
        let deadline = Instant::now() + IO_TIMEOUT;
        loop {
            let n = self.buf.len().min(expected.len());
            if self.buf[..n] != expected[..n] {
                panic!(
                    "unexpected bytes\n  expected: {}\n  got:      {}",
                    show(expected),
                    show(&self.buf)
                );
            }
            if n == expected.len() {
                self.buf.drain(..n);
                return;
            }
            match self.fill(deadline).await {
                Ok(0) => panic!(
                    "connection closed\n  expected: {}\n  got:      {}<EOF>",
                    show(expected),
                    show(&self.buf)
                ),
                Ok(_) => {}
                Err(()) => panic!(
                    "timed out\n  expected: {}\n  got:      {}",
                    show(expected),
                    show(&self.buf)
                ),
            }
        }
    }

    /// Reads until `suffix` has been seen at the end of the data; returns all of it.
    pub async fn read_until(&mut self, suffix: &[u8]) -> Vec<u8> {
        let deadline = Instant::now() + IO_TIMEOUT;
        loop {
            if let Some(i) = find(&self.buf, suffix) {
                return self.buf.drain(..i + suffix.len()).collect();
            }
            match self.fill(deadline).await {
                Ok(0) => panic!("closed before {}; got: {}", show(suffix), show(&self.buf)),
                Ok(_) => {}
                Err(()) => panic!(
                    "timed out waiting for {}; got: {}",
                    show(suffix),
                    show(&self.buf)
                ),
            }
        }
    }

    /// Reads until the server closes the connection; returns what came before the close.
    pub async fn expect_closed(&mut self) -> Vec<u8> {
        self.expect_closed_within(IO_TIMEOUT).await
    }

    pub async fn expect_closed_within(&mut self, timeout: Duration) -> Vec<u8> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.fill(deadline).await {
                Ok(0) => return std::mem::take(&mut self.buf),
                Ok(_) => {}
                Err(()) => panic!(
                    "connection still open after {timeout:?}; received: {}",
                    show(&self.buf)
                ),
            }
        }
    }

    /// Asserts the server sends exactly `expected` and then closes the connection.
    pub async fn expect_then_closed(&mut self, expected: impl AsRef<[u8]>) {
        let expected = expected.as_ref();
        let got = self.expect_closed().await;
        assert_eq!(
            show(&got),
            show(expected),
            "bytes before close differ (left: got, right: expected)"
        );
    }

    /// `PING` → exactly `PONG`: proves the connection is open and everything sent before
    /// has been processed (and everything it produced for this client was written first).
    pub async fn ping_pong(&mut self) {
        self.send(b"PING\r\n").await;
        self.expect(b"PONG\r\n").await;
    }

    /// PING barrier, expecting exactly `expected` to arrive before the PONG.
    pub async fn ping_pong_after(&mut self, expected: &[u8]) {
        self.send(b"PING\r\n").await;
        let mut all = expected.to_vec();
        all.extend_from_slice(b"PONG\r\n");
        self.expect(all).await;
    }

    /// Reads whole lines until `PONG`, answering any server `PING` on the way. Returns the
    /// number of server PINGs seen. Any other line fails the test.
    pub async fn await_pong_answering_pings(&mut self, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        let mut pings = 0;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.read_line_within(left).await;
            match &line[..] {
                b"PONG\r\n" => return pings,
                b"PING\r\n" => {
                    pings += 1;
                    self.send(b"PONG\r\n").await;
                }
                other => panic!("expected PONG (or PING), got {}", show(other)),
            }
        }
    }

    /// Reads and discards everything until the connection closes or `timeout` passes,
    /// counting bytes and looking for `needle` (across read boundaries).
    pub async fn drain_until_closed(&mut self, timeout: Duration, needle: &[u8]) -> Drained {
        let deadline = Instant::now() + timeout;
        let mut total = self.buf.len();
        let mut found = find(&self.buf, needle).is_some();
        let keep = needle.len().saturating_sub(1);
        loop {
            // Keep only a tail long enough for a needle spanning two reads.
            let cut = self.buf.len().saturating_sub(keep);
            self.buf.drain(..cut);
            match self.fill(deadline).await {
                Ok(0) => {
                    return Drained {
                        bytes: total,
                        closed: true,
                        found_needle: found,
                    }
                }
                Ok(n) => {
                    total += n;
                    found = found || find(&self.buf, needle).is_some();
                }
                Err(()) => {
                    return Drained {
                        bytes: total,
                        closed: false,
                        found_needle: found,
                    }
                }
            }
        }
    }

    /// The INFO field `key` (panics when absent).
    pub fn info_field(&self, key: &str) -> &Value {
        self.info
            .get(key)
            .unwrap_or_else(|| panic!("INFO has no {key:?}: {}", show(&self.info_line)))
    }
}

fn is_closed_err(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe
    )
}

/// First index of `needle` in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}
