//! Account resolvers: where operator mode finds account JWTs by public key.
//!
//! * [`Resolver::Memory`] (`resolver: MEMORY`): the `resolver_preload` JWTs.
//! * [`Resolver::Url`] (`resolver: URL("http://host/path/")`): `GET
//!   <url><account public key>`, a 200 answer's body is the JWT. Plain HTTP/1.1
//!   over a blocking socket with a timeout (no TLS); `Content-Length`,
//!   chunked and read-to-close bodies are understood.
//! * [`Resolver::Dir`] (`resolver { type: full, dir: ... }`): one
//!   `<account public key>.jwt` file per account in a directory, written by
//!   claim updates pushed through the system account.
//!
//! Everything here blocks (file or socket I/O, bounded by the timeout); the
//! server calls it off the async workers. Whether a JWT is *trusted* is not
//! decided here: callers verify what they get.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use parking_lot::RwLock;

use crate::config::{DirResolverOptions, ResolverOptions};
use crate::jwt::{self, KeyType};

/// Largest HTTP answer read from a URL resolver (a JWT is at most 1 MiB).
const MAX_HTTP_RESPONSE: usize = (1 << 20) + 64 * 1024;

/// Why an account JWT could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// The key is not an account public key.
    #[error("will only fetch valid account keys")]
    BadKey,
    /// The resolver has no JWT for the account.
    #[error("account JWT not found")]
    NotFound(String),
    /// The URL resolver's request failed.
    #[error("could not fetch <{url:?}>: {reason}")]
    Fetch {
        /// The URL requested.
        url: String,
        /// What went wrong (status line, I/O error).
        reason: String,
    },
    /// Reading or writing the JWT directory failed.
    #[error("{0}")]
    Io(String),
    /// The resolver cannot store JWTs (URL resolver).
    #[error("store operation not supported for URL Resolver")]
    ReadOnly,
}

/// A memory resolver: preloaded JWTs, replaced by updates.
#[derive(Debug, Default)]
pub struct MemoryResolver {
    jwts: RwLock<HashMap<String, String>>,
}

/// A URL resolver.
#[derive(Debug)]
pub struct UrlResolver {
    base: String,
    timeout: Duration,
}

/// A directory (full) resolver.
#[derive(Debug)]
pub struct DirResolver {
    dir: PathBuf,
    opts: DirResolverOptions,
}

/// One of the three resolvers.
#[derive(Debug)]
pub enum Resolver {
    /// `MEMORY`.
    Memory(MemoryResolver),
    /// `URL(...)`.
    Url(UrlResolver),
    /// `{ type: full }`.
    Dir(DirResolver),
}

impl Resolver {
    /// Builds the resolver; a full resolver's directory is created if
    /// missing (mode 0750, like nats-server's).
    pub fn from_options(r: &ResolverOptions) -> Result<Resolver, ResolveError> {
        Ok(match r {
            ResolverOptions::Memory => Resolver::Memory(MemoryResolver::default()),
            ResolverOptions::Url(u) => Resolver::Url(UrlResolver {
                base: u.clone(),
                timeout: crate::config::trust::DEFAULT_ACCOUNT_FETCH_TIMEOUT,
            }),
            ResolverOptions::Full(d) => {
                create_dir(&d.dir).map_err(|e| {
                    ResolveError::Io(format!("resolver dir {}: {e}", d.dir.display()))
                })?;
                Resolver::Dir(DirResolver {
                    dir: d.dir.clone(),
                    opts: d.clone(),
                })
            }
        })
    }

    /// `MEMORY`, `URL` or `full`, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Resolver::Memory(_) => "MEMORY",
            Resolver::Url(_) => "URL",
            Resolver::Dir(_) => "full",
        }
    }

    /// Does this resolver own its JWTs (claim updates are stored, and
    /// `$SYS.REQ.CLAIMS.UPDATE`/`LOOKUP`/`LIST` are answered)? Only `full`.
    pub fn is_full(&self) -> bool {
        matches!(self, Resolver::Dir(_))
    }

    /// The full resolver's settings.
    pub fn dir_options(&self) -> Option<&DirResolverOptions> {
        match self {
            Resolver::Dir(d) => Some(&d.opts),
            _ => None,
        }
    }

    /// The JWT of `account`. Blocks for up to the URL resolver's timeout.
    pub fn fetch(&self, account: &str) -> Result<String, ResolveError> {
        if !jwt::is_public_key(account, KeyType::Account) {
            return Err(ResolveError::BadKey);
        }
        match self {
            Resolver::Memory(m) => m
                .jwts
                .read()
                .get(account)
                .cloned()
                .ok_or_else(|| ResolveError::NotFound(account.to_owned())),
            Resolver::Url(u) => u.fetch(account),
            Resolver::Dir(d) => d.load(account),
        }
    }

    /// Stores `token` as `account`'s JWT, replacing what was there.
    pub fn store(&self, account: &str, token: &str) -> Result<(), ResolveError> {
        if !jwt::is_public_key(account, KeyType::Account) {
            return Err(ResolveError::BadKey);
        }
        match self {
            Resolver::Memory(m) => {
                m.jwts.write().insert(account.to_owned(), token.to_owned());
                Ok(())
            }
            Resolver::Url(_) => Err(ResolveError::ReadOnly),
            Resolver::Dir(d) => d.save(account, token),
        }
    }

    /// Stores `token` unless the resolver already holds a JWT for `account`
    /// issued later (how preloads meet a directory that outlived a restart).
    pub fn store_if_newer(&self, account: &str, token: &str) -> Result<bool, ResolveError> {
        if let Ok(old) = self.fetch(account) {
            if old.trim() == token.trim() {
                return Ok(false);
            }
            let iat = |t: &str| jwt::decode_ignoring_time(t).map(|(_, c)| c.iat).ok();
            if let (Some(old_iat), Some(new_iat)) = (iat(&old), iat(token)) {
                if old_iat > new_iat {
                    return Ok(false);
                }
            }
        }
        self.store(account, token).map(|_| true)
    }

    /// Public keys of every stored account (full resolver; empty otherwise).
    pub fn list(&self) -> Vec<String> {
        match self {
            Resolver::Dir(d) => d.list(),
            Resolver::Memory(m) => {
                let mut v: Vec<String> = m.jwts.read().keys().cloned().collect();
                v.sort();
                v
            }
            Resolver::Url(_) => Vec::new(),
        }
    }

    /// Deletes `account`'s JWT (full resolver with `allow_delete`).
    pub fn delete(&self, account: &str) -> Result<(), ResolveError> {
        match self {
            Resolver::Dir(d) => d.delete(account),
            Resolver::Memory(m) => {
                m.jwts.write().remove(account);
                Ok(())
            }
            Resolver::Url(_) => Err(ResolveError::ReadOnly),
        }
    }
}

fn create_dir(dir: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o750);
    }
    b.create(dir)
}

impl DirResolver {
    fn path(&self, account: &str) -> PathBuf {
        self.dir.join(format!("{account}.jwt"))
    }

    fn load(&self, account: &str) -> Result<String, ResolveError> {
        match std::fs::read_to_string(self.path(account)) {
            Ok(t) => Ok(t.trim().to_owned()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(ResolveError::NotFound(account.to_owned()))
            }
            Err(e) => Err(ResolveError::Io(format!(
                "reading {}: {e}",
                self.path(account).display()
            ))),
        }
    }

    /// Writes through a temporary file and a rename, so a reader never sees
    /// half a JWT. Files are 0640, as nats-server writes them.
    fn save(&self, account: &str, token: &str) -> Result<(), ResolveError> {
        let path = self.path(account);
        let tmp = self.dir.join(format!(".{account}.jwt.tmp"));
        let io = |e: std::io::Error| ResolveError::Io(format!("writing {}: {e}", path.display()));
        {
            let mut o = std::fs::OpenOptions::new();
            o.write(true).create(true).truncate(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                o.mode(0o640);
            }
            let mut f = o.open(&tmp).map_err(io)?;
            f.write_all(token.trim().as_bytes()).map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        std::fs::rename(&tmp, &path).map_err(io)
    }

    fn list(&self) -> Vec<String> {
        let Ok(rd) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut v: Vec<String> = rd
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let key = name.strip_suffix(".jwt")?.to_owned();
                jwt::is_public_key(&key, KeyType::Account).then_some(key)
            })
            .collect();
        v.sort();
        v
    }

    fn delete(&self, account: &str) -> Result<(), ResolveError> {
        match std::fs::remove_file(self.path(account)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(ResolveError::Io(format!("deleting {account}: {e}"))),
        }
    }
}

impl UrlResolver {
    /// nats-server fetches the base URL when it starts and refuses to run
    /// unless that answers 200.
    pub fn check(&self) -> Result<(), ResolveError> {
        self.get(&self.base).map(|_| ())
    }

    fn fetch(&self, account: &str) -> Result<String, ResolveError> {
        self.get(&format!("{}{account}", self.base))
    }

    fn get(&self, url: &str) -> Result<String, ResolveError> {
        let fail = |reason: String| ResolveError::Fetch {
            url: url.to_owned(),
            reason,
        };
        let (status, body) = http_get(url, self.timeout).map_err(fail)?;
        if status != 200 {
            return Err(fail(status_text(status)));
        }
        String::from_utf8(body)
            .map(|s| s.trim().to_owned())
            .map_err(|_| fail("the answer is not text".into()))
    }
}

/// `404 Not Found`, as Go's `resp.Status` reads.
fn status_text(code: u16) -> String {
    let phrase = match code {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "",
    };
    format!("{code} {phrase}").trim_end().to_owned()
}

/// `GET url` over HTTP/1.1: (status code, body). The whole exchange,
/// connect included, must finish within `timeout`.
pub fn http_get(url: &str, timeout: Duration) -> Result<(u16, Vec<u8>), String> {
    let deadline = Instant::now() + timeout;
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| "only http:// URLs are supported".to_string())?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let has_port = authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| !p.contains(']') && !p.is_empty());
    let target = if has_port {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    let addr = target
        .to_socket_addrs()
        .map_err(|e| e.to_string())?
        .next()
        .ok_or_else(|| format!("no address for {authority}"))?;
    let remaining = |d: Instant| {
        d.checked_duration_since(Instant::now())
            .filter(|r| !r.is_zero())
            .ok_or_else(|| "timed out".to_string())
    };
    let mut s =
        TcpStream::connect_timeout(&addr, remaining(deadline)?).map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(remaining(deadline)?))
        .map_err(|e| e.to_string())?;
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: tracebus\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        s.set_read_timeout(Some(remaining(deadline)?))
            .map_err(|e| e.to_string())?;
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if buf.len() > MAX_HTTP_RESPONSE {
                    return Err("answer too large".into());
                }
                if let Some(done) = complete_response(&buf) {
                    return done;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err("timed out".into())
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    match complete_response(&buf) {
        Some(r) => r,
        None => parse_response(&buf, true).unwrap_or_else(|| Err("incomplete answer".into())),
    }
}

/// The parsed response once `buf` holds all of it (by `Content-Length` or
/// the final chunk); `None` while more is needed.
fn complete_response(buf: &[u8]) -> Option<Result<(u16, Vec<u8>), String>> {
    parse_response(buf, false)
}

fn parse_response(buf: &[u8], at_eof: bool) -> Option<Result<(u16, Vec<u8>), String>> {
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buf[..head_end]);
    let body = &buf[head_end + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.split_whitespace();
    let version = parts.next().unwrap_or("");
    let Some(status) = parts.next().and_then(|c| c.parse::<u16>().ok()) else {
        return Some(Err(format!("bad status line {status_line:?}")));
    };
    if !version.starts_with("HTTP/1.") {
        return Some(Err(format!("bad status line {status_line:?}")));
    }
    let mut length: Option<usize> = None;
    let mut chunked = false;
    for l in lines {
        let Some((k, v)) = l.split_once(':') else {
            continue;
        };
        let v = v.trim();
        if k.eq_ignore_ascii_case("content-length") {
            length = v.parse().ok();
        } else if k.eq_ignore_ascii_case("transfer-encoding")
            && v.to_ascii_lowercase().contains("chunked")
        {
            chunked = true;
        }
    }
    if chunked {
        return dechunk(body).map(|b| Ok((status, b)));
    }
    match length {
        Some(n) if body.len() >= n => Some(Ok((status, body[..n].to_vec()))),
        Some(_) => at_eof.then(|| Err("answer shorter than its Content-Length".into())),
        None => at_eof.then(|| Ok((status, body.to_vec()))),
    }
}

/// Decodes a complete chunked body; `None` until the last chunk arrived.
fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n")?;
        let size_text = String::from_utf8_lossy(&b[..eol]);
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).ok()?;
        b = &b[eol + 2..];
        if size == 0 {
            return Some(out);
        }
        if b.len() < size + 2 {
            return None;
        }
        out.extend_from_slice(&b[..size]);
        b = &b[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses() {
        let r = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcdef", false);
        assert_eq!(r, Some(Ok((200, b"abc".to_vec()))));
        assert_eq!(
            parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc", false),
            None
        );
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n";
        assert_eq!(
            parse_response(chunked, false),
            Some(Ok((200, b"abcde".to_vec())))
        );
        assert_eq!(
            parse_response(b"HTTP/1.0 404 Not Found\r\n\r\nnope", true),
            Some(Ok((404, b"nope".to_vec())))
        );
        assert!(matches!(parse_response(b"FOO\r\n\r\n", true), Some(Err(_))));
    }

    #[test]
    fn memory_and_dir() {
        let acct = KeyType::Account.generate().public_key();
        let m = Resolver::from_options(&ResolverOptions::Memory).unwrap();
        assert!(matches!(m.fetch(&acct), Err(ResolveError::NotFound(_))));
        assert_eq!(m.fetch("nope"), Err(ResolveError::BadKey));
        m.store(&acct, "jwt").unwrap();
        assert_eq!(m.fetch(&acct).unwrap(), "jwt");

        let dir = std::env::temp_dir().join(format!("tracebus-resolver-{}", std::process::id()));
        let d = Resolver::from_options(&ResolverOptions::Full(DirResolverOptions {
            dir: dir.clone(),
            allow_delete: true,
            interval: Duration::from_secs(60),
            limit: 0,
            timeout: Duration::from_secs(1),
        }))
        .unwrap();
        assert!(d.is_full());
        assert!(matches!(d.fetch(&acct), Err(ResolveError::NotFound(_))));
        d.store(&acct, "a.b.c\n").unwrap();
        assert_eq!(d.fetch(&acct).unwrap(), "a.b.c");
        assert_eq!(d.list(), vec![acct.clone()]);
        d.delete(&acct).unwrap();
        assert!(d.list().is_empty());
        let _ = std::fs::remove_dir_all(dir);
    }
}
