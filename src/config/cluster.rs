//! The `cluster { ... }` block, route URLs, and the lame-duck options.
//!
//! Keys and meanings are nats-server 2.9's:
//!
//! ```text
//! cluster {
//!   name: C1                         # all nodes of one cluster share it
//!   listen: 127.0.0.1:6222           # or host: / port:  (-1 = random port)
//!   advertise: "10.0.0.1:6222"       # route address told to peers (alias cluster_advertise)
//!   no_advertise: true               # do not tell clients the other nodes' URLs
//!   connect_retries: 3               # extra attempts for routes learned by gossip
//!   routes: [ nats-route://user:pass@host:6222, ... ]
//!   authorization { user: u, password: p, timeout: 2 }
//! }
//! lame_duck_duration: "2m"
//! lame_duck_grace_period: "10s"
//! ```
//!
//! Unlike nats-server (which silently disables routing when the block has no
//! port), a `cluster` block without a listen port is an error, and
//! `lame_duck_duration` may be as short as one second (nats-server insists on
//! 30 s, which makes small deployments and tests slow).

use std::fmt;
use std::time::Duration;

use super::options::{block, boolean, check_port, duration, size, string, wrong_type};
use super::parser::{Item, Value};
use super::{ConfigError, ErrorKind, Pos};

/// Default `lame_duck_duration` (nats-server's).
pub const DEFAULT_LAME_DUCK_DURATION: Duration = Duration::from_secs(120);
/// Default `lame_duck_grace_period` (nats-server's).
pub const DEFAULT_LAME_DUCK_GRACE_PERIOD: Duration = Duration::from_secs(10);
/// Shortest accepted `lame_duck_duration` (nats-server: 30 s).
pub const MIN_LAME_DUCK_DURATION: Duration = Duration::from_secs(1);
/// Default time an accepted route has to send a valid CONNECT when the cluster
/// requires authorization (nats-server's client default, 2 s).
pub const DEFAULT_ROUTE_AUTH_TIMEOUT: Duration = Duration::from_secs(2);

/// Keys of the cluster block that belong to features tracebus does not have.
const CLUSTER_NOT_YET_SUPPORTED: &[&str] = &["tls", "permissions", "compression", "pool_size"];

/// A route to solicit: `nats-route://[user[:password]@]host:port`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RouteUrl {
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    pub port: u16,
    /// Credentials sent in the route CONNECT.
    pub user: Option<String>,
    pub password: Option<String>,
}

impl RouteUrl {
    /// Parses `scheme://[user[:password]@]host:port[/]`. The scheme may be
    /// `nats-route`, `nats` or `route`; the port is required; user and
    /// password may be percent-encoded.
    pub fn parse(text: &str) -> Result<RouteUrl, String> {
        let (scheme, rest) = text.split_once("://").ok_or_else(|| {
            format!("route URL \"{text}\" has no scheme (write nats-route://host:port)")
        })?;
        if !matches!(
            scheme.to_ascii_lowercase().as_str(),
            "nats-route" | "nats" | "route"
        ) {
            return Err(format!(
                "route URL \"{text}\": scheme \"{scheme}\" is not supported (use nats-route://)"
            ));
        }
        let rest = rest.trim_end_matches('/');
        if rest.contains('/') || rest.contains('?') || rest.contains('#') {
            return Err(format!("route URL \"{text}\" must not have a path"));
        }
        let (creds, hostport) = match rest.rsplit_once('@') {
            Some((c, h)) => (Some(c), h),
            None => (None, rest),
        };
        let (user, password) = match creds {
            None => (None, None),
            Some(c) => match c.split_once(':') {
                Some((u, p)) => (Some(percent_decode(u)?), Some(percent_decode(p)?)),
                None => (Some(percent_decode(c)?), None),
            },
        };
        let (host, port) = split_host_port(hostport)
            .ok_or_else(|| format!("route URL \"{text}\" needs host:port"))?;
        let port: u16 = port
            .parse()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("route URL \"{text}\": bad port \"{port}\""))?;
        if host.is_empty() {
            return Err(format!("route URL \"{text}\" has no host"));
        }
        Ok(RouteUrl {
            host: host.to_string(),
            port,
            user,
            password,
        })
    }

    /// `host:port` (IPv6 in brackets), for dialing and comparing.
    pub fn host_port(&self) -> String {
        join_host_port(&self.host, self.port)
    }
}

/// `nats-route://host:port` without the credentials (safe to log).
impl fmt::Display for RouteUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "nats-route://{}", self.host_port())
    }
}

/// `host:port`, with IPv6 addresses in brackets.
pub fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Splits `host:port` / `[v6]:port` into its parts (port as text).
fn split_host_port(s: &str) -> Option<(&str, &str)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = after.strip_prefix(':')?;
        return Some((host, port));
    }
    let (host, port) = s.rsplit_once(':')?;
    if host.contains(':') {
        return None;
    }
    Some((host, port))
}

fn percent_decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad percent-encoding in \"{s}\""))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("\"{s}\" is not UTF-8 once decoded"))
}

/// The `cluster` block (and the `--cluster`, `--routes`, `--cluster_name`,
/// `--no_advertise`, `--connect_retries` flags).
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterOptions {
    /// Cluster name; generated (and adopted from peers) when `None`.
    pub name: Option<String>,
    /// Route listener host.
    pub host: String,
    /// Route listener port (`-1` or `0`: random); `None` until set.
    pub port: Option<i32>,
    /// `host:port` announced to peers instead of the listen address.
    pub advertise: Option<String>,
    /// Do not advertise the other nodes' client URLs to clients.
    pub no_advertise: bool,
    /// Extra connection attempts for routes learned by gossip (explicit routes
    /// are retried for ever).
    pub connect_retries: u32,
    /// Routes to solicit.
    pub routes: Vec<RouteUrl>,
    /// `authorization { user, password }`: required from accepted routes, and
    /// sent to gossiped routes.
    pub user: Option<String>,
    pub password: Option<String>,
    /// Time an accepted route has to authenticate.
    pub auth_timeout: Duration,
    /// Where the block was (for errors).
    pub pos: Option<Pos>,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            name: None,
            host: super::options::DEFAULT_HOST.to_string(),
            port: None,
            advertise: None,
            no_advertise: false,
            connect_retries: 0,
            routes: Vec::new(),
            user: None,
            password: None,
            auth_timeout: DEFAULT_ROUTE_AUTH_TIMEOUT,
            pos: None,
        }
    }
}

impl ClusterOptions {
    /// Applies `--cluster nats://[user:pass@]host:port` (the listen address;
    /// credentials become the cluster authorization, as in nats-server).
    pub fn apply_listen_url(&mut self, text: &str) -> Result<(), ConfigError> {
        let bad = |m: String| ConfigError::new(ErrorKind::BadValue, format!("--cluster: {m}"));
        let rest = text.split_once("://").map_or(text, |(_, r)| r);
        let rest = rest.trim_end_matches('/');
        let (creds, hostport) = match rest.rsplit_once('@') {
            Some((c, h)) => (Some(c), h),
            None => (None, rest),
        };
        let (host, port) =
            split_host_port(hostport).ok_or_else(|| bad(format!("\"{text}\" needs host:port")))?;
        let port: i32 = port
            .parse()
            .ok()
            .filter(|p| (-1..=65535).contains(p))
            .ok_or_else(|| bad(format!("bad port in \"{text}\"")))?;
        if let Some(c) = creds {
            let (u, p) = c.split_once(':').unwrap_or((c, ""));
            self.user = Some(percent_decode(u).map_err(bad)?);
            self.password = Some(percent_decode(p).map_err(bad)?);
        }
        self.host = if host.is_empty() {
            super::options::DEFAULT_HOST.to_string()
        } else {
            host.to_string()
        };
        self.port = Some(port);
        Ok(())
    }

    /// Applies `--routes url,url`.
    pub fn apply_routes_flag(&mut self, text: &str) -> Result<(), ConfigError> {
        self.routes = text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                RouteUrl::parse(s)
                    .map_err(|m| ConfigError::new(ErrorKind::BadValue, format!("--routes: {m}")))
            })
            .collect::<Result<_, _>>()?;
        Ok(())
    }

    /// Checks the block as a whole.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |m: &str| match &self.pos {
            Some(p) => ConfigError::at(ErrorKind::Invalid, p, m),
            None => ConfigError::new(ErrorKind::Invalid, m),
        };
        if self.port.is_none() {
            return Err(err(
                "cluster: no listen port (set cluster { listen: \"host:port\" } or --cluster nats://host:port; -1 picks a random port)",
            ));
        }
        if self.user.is_some() != self.password.is_some() {
            return Err(err(
                "cluster: authorization needs both a user and a password",
            ));
        }
        if let Some(name) = &self.name {
            if name.is_empty() || name.contains(char::is_whitespace) {
                return Err(err("cluster: the name must be non-empty, without spaces"));
            }
        }
        Ok(())
    }
}

/// Reads the `cluster` block.
pub(super) fn cluster(key: &str, item: &Item) -> Result<ClusterOptions, ConfigError> {
    let map = block(key, item)?;
    let mut c = ClusterOptions {
        pos: Some(item.pos.clone()),
        ..ClusterOptions::default()
    };
    for (k, it) in map.option_entries() {
        let path = format!("{key}.{k}");
        match k.to_ascii_lowercase().as_str() {
            "name" => c.name = Some(string(&path, it)?),
            "listen" => listen(&path, it, &mut c)?,
            "host" | "net" => c.host = string(&path, it)?,
            "port" => {
                let Value::Integer(p) = it.value else {
                    return Err(wrong_type(&path, it, "an integer"));
                };
                c.port = Some(check_port(&path, it, p)?);
            }
            "advertise" | "cluster_advertise" => c.advertise = Some(string(&path, it)?),
            "no_advertise" => c.no_advertise = boolean(&path, it)?,
            "connect_retries" => {
                c.connect_retries = size(&path, it, u32::MAX as usize, 0)? as u32;
            }
            "routes" => c.routes = routes(&path, it)?,
            "authorization" => authorization(&path, it, &mut c)?,
            lower if CLUSTER_NOT_YET_SUPPORTED.contains(&lower) => {
                return Err(ConfigError::at(
                    ErrorKind::Unsupported,
                    &it.pos,
                    format!("config key \"{path}\" is not supported yet"),
                ))
            }
            _ if map.is_used_variable(k) => {}
            _ => {
                return Err(ConfigError::at(
                    ErrorKind::UnknownKey,
                    &it.pos,
                    format!("unknown config key \"{k}\" in the \"{key}\" block"),
                ))
            }
        }
    }
    if c.port.is_none() {
        return Err(ConfigError::at(
            ErrorKind::Invalid,
            &item.pos,
            format!(
                "\"{key}\": no listen port (add listen: \"host:port\"; -1 picks a random port)"
            ),
        ));
    }
    Ok(c)
}

fn listen(key: &str, item: &Item, c: &mut ClusterOptions) -> Result<(), ConfigError> {
    let text = match &item.value {
        Value::Integer(p) => {
            c.port = Some(check_port(key, item, *p)?);
            return Ok(());
        }
        Value::String(s) => s,
        _ => {
            return Err(wrong_type(
                key,
                item,
                "a \"host:port\" string or a port number",
            ))
        }
    };
    let (host, port) = split_host_port(text).ok_or_else(|| {
        ConfigError::at(
            ErrorKind::BadValue,
            &item.pos,
            format!("\"{key}\": could not parse address \"{text}\" (expected \"host:port\")"),
        )
    })?;
    let port: i64 = port.parse().map_err(|_| {
        ConfigError::at(
            ErrorKind::BadValue,
            &item.pos,
            format!("\"{key}\": could not parse port \"{port}\" in \"{text}\""),
        )
    })?;
    c.port = Some(check_port(key, item, port)?);
    if !host.is_empty() {
        c.host = host.to_string();
    }
    Ok(())
}

fn routes(key: &str, item: &Item) -> Result<Vec<RouteUrl>, ConfigError> {
    let items: Vec<&Item> = match &item.value {
        Value::Array(a) => a.iter().collect(),
        Value::String(_) => vec![item],
        _ => return Err(wrong_type(key, item, "an array of route URLs")),
    };
    items
        .into_iter()
        .map(|it| {
            let s = string(key, it)?;
            RouteUrl::parse(&s).map_err(|m| {
                ConfigError::at(ErrorKind::BadValue, &it.pos, format!("\"{key}\": {m}"))
            })
        })
        .collect()
}

fn authorization(key: &str, item: &Item, c: &mut ClusterOptions) -> Result<(), ConfigError> {
    let map = block(key, item)?;
    for (k, it) in map.option_entries() {
        let path = format!("{key}.{k}");
        match k.to_ascii_lowercase().as_str() {
            "user" | "username" => c.user = Some(string(&path, it)?),
            "password" | "pass" => c.password = Some(string(&path, it)?),
            "timeout" => c.auth_timeout = duration(&path, it, DEFAULT_ROUTE_AUTH_TIMEOUT)?,
            "token" | "users" | "permissions" => {
                return Err(ConfigError::at(
                    ErrorKind::Unsupported,
                    &it.pos,
                    format!("\"{path}\": routes authenticate with user and password only"),
                ))
            }
            _ if map.is_used_variable(k) => {}
            _ => {
                return Err(ConfigError::at(
                    ErrorKind::UnknownKey,
                    &it.pos,
                    format!("unknown config key \"{k}\" in the \"{key}\" block"),
                ))
            }
        }
    }
    if c.user.is_some() != c.password.is_some() {
        return Err(ConfigError::at(
            ErrorKind::Invalid,
            &item.pos,
            format!("\"{key}\": needs both user and password"),
        ));
    }
    Ok(())
}

/// `lame_duck_duration` / `lame_duck_grace_period`: a duration string or seconds.
pub(super) fn lame_duck_duration(
    key: &str,
    item: &Item,
    default: Duration,
) -> Result<Duration, ConfigError> {
    duration(key, item, default)
}

/// Checks the lame-duck durations together.
pub fn validate_lame_duck(duration: Duration, grace: Duration) -> Result<(), ConfigError> {
    if duration < MIN_LAME_DUCK_DURATION {
        return Err(ConfigError::new(
            ErrorKind::BadValue,
            format!(
                "lame_duck_duration ({duration:?}) must be at least {MIN_LAME_DUCK_DURATION:?}"
            ),
        ));
    }
    if grace >= duration {
        return Err(ConfigError::new(
            ErrorKind::Invalid,
            format!(
                "lame_duck_grace_period ({grace:?}) must be shorter than lame_duck_duration ({duration:?})"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_urls() {
        let u = RouteUrl::parse("nats-route://ruser:rp%40ss@127.0.0.1:6222/").unwrap();
        assert_eq!(u.host, "127.0.0.1");
        assert_eq!(u.port, 6222);
        assert_eq!(u.user.as_deref(), Some("ruser"));
        assert_eq!(u.password.as_deref(), Some("rp@ss"));
        assert_eq!(u.to_string(), "nats-route://127.0.0.1:6222");
        let v6 = RouteUrl::parse("nats://[::1]:7000").unwrap();
        assert_eq!(v6.host, "::1");
        assert_eq!(v6.host_port(), "[::1]:7000");
        assert!(RouteUrl::parse("127.0.0.1:6222").is_err());
        assert!(RouteUrl::parse("tls://h:1").is_err());
        assert!(RouteUrl::parse("nats-route://h").is_err());
        assert!(RouteUrl::parse("nats-route://h:0").is_err());
        assert!(RouteUrl::parse("nats-route://h:1/x").is_err());
    }

    #[test]
    fn listen_flag() {
        let mut c = ClusterOptions::default();
        c.apply_listen_url("nats://u:p@127.0.0.1:-1").unwrap();
        assert_eq!(c.port, Some(-1));
        assert_eq!(c.host, "127.0.0.1");
        assert_eq!(c.user.as_deref(), Some("u"));
        c.apply_routes_flag("nats://a:1, nats-route://b:2").unwrap();
        assert_eq!(c.routes.len(), 2);
        assert!(c.validate().is_ok());
    }

    #[test]
    fn lame_duck_rules() {
        assert!(validate_lame_duck(Duration::from_secs(2), Duration::from_secs(1)).is_ok());
        assert!(validate_lame_duck(Duration::from_millis(500), Duration::ZERO).is_err());
        assert!(validate_lame_duck(Duration::from_secs(5), Duration::from_secs(10)).is_err());
    }
}
