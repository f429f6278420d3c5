//! Typed server options and their reading from a parsed configuration tree.
//!
//! Keys, aliases, defaults and the "zero means default" rule follow nats-server,
//! so a nats-server file means the same thing here. Unlike nats-server, a bad value
//! is never silently ignored: unknown keys, wrong types, negative sizes and
//! out-of-range ports are errors that name the file, line and key.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::parser::{parse_file, Item, Map, Value};
use super::{ConfigError, ErrorKind};

/// Default listen address: all IPv4 interfaces, as nats-server.
pub const DEFAULT_HOST: &str = "0.0.0.0";
/// Default client port, the NATS well-known port.
pub const DEFAULT_PORT: i32 = 4222;
/// Default largest message payload (1 MiB).
pub const DEFAULT_MAX_PAYLOAD: usize = 1024 * 1024;
/// Default longest protocol line (4 KiB).
pub const DEFAULT_MAX_CONTROL_LINE: usize = 4096;
/// Default connection limit (nats-server `DEFAULT_MAX_CONNECTIONS`).
pub const DEFAULT_MAX_CONNECTIONS: usize = 64 * 1024;
/// Default per-connection outbound buffer bound before a slow-consumer close.
pub const DEFAULT_MAX_PENDING: usize = 64 * 1024 * 1024;
/// Default time a write may stall before the connection is a slow consumer.
pub const DEFAULT_WRITE_DEADLINE: Duration = Duration::from_secs(10);
/// Default interval between server PINGs.
pub const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(120);
/// Default number of unanswered PINGs before the connection is closed.
pub const DEFAULT_PING_MAX: u32 = 2;
/// Default time a client has to send CONNECT with credentials.
pub const DEFAULT_AUTH_TIMEOUT: Duration = Duration::from_secs(2);

/// Keys of nats-server features that tracebus is building but does not have yet.
/// They are rejected with a message of their own so nobody believes they work.
const NOT_YET_SUPPORTED: &[&str] = &[
    "accounts",
    "no_auth_user",
    "system_account",
    "operator",
    "trusted_keys",
    "resolver",
    "resolver_preload",
    "cluster",
    "lame_duck_duration",
    "lame_duck_grace_period",
    "http",
    "http_port",
    "monitor_port",
];

/// Keys of the `authorization` block that belong to features not built yet.
const AUTH_NOT_YET_SUPPORTED: &[&str] = &[
    "users",
    "permissions",
    "default_permission",
    "default_permissions",
];

/// Single-user client authentication (`authorization { ... }`, `--user`, `--pass`,
/// `--auth`). A token and a user/password are mutually exclusive.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthOptions {
    /// Required user name, if user/password authentication is on.
    pub user: Option<String>,
    /// Password for `user`.
    pub password: Option<String>,
    /// Required token, if token authentication is on.
    pub token: Option<String>,
    /// How long a new client has to authenticate.
    pub timeout: Duration,
}

impl Default for AuthOptions {
    fn default() -> Self {
        AuthOptions {
            user: None,
            password: None,
            token: None,
            timeout: DEFAULT_AUTH_TIMEOUT,
        }
    }
}

/// Everything the server needs to start, with nats-server's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Address to bind the client listener to.
    pub host: String,
    /// Client port; `-1` picks a random free port (nats-server), `0` too.
    pub port: i32,
    /// Name announced in INFO; generated from the server id when `None`.
    pub server_name: Option<String>,
    /// Largest accepted message payload in bytes.
    pub max_payload: usize,
    /// Longest accepted protocol line in bytes.
    pub max_control_line: usize,
    /// Most client connections at once.
    pub max_connections: usize,
    /// Most subscriptions per connection; 0 is unlimited.
    pub max_subscriptions: usize,
    /// Bytes queued for one connection before it is a slow consumer.
    pub max_pending: usize,
    /// How long a write may stall before the connection is a slow consumer.
    pub write_deadline: Duration,
    /// Time between server PINGs.
    pub ping_interval: Duration,
    /// Unanswered PINGs before the connection is closed.
    pub ping_max: u32,
    /// Client authentication.
    pub authorization: AuthOptions,
    /// Debug logging.
    pub debug: bool,
    /// Protocol tracing.
    pub trace: bool,
    /// Timestamps on log lines.
    pub logtime: bool,
    /// Log to this file instead of stderr.
    pub log_file: Option<PathBuf>,
    /// Write the process id to this file.
    pub pid_file: Option<PathBuf>,
    /// The configuration file these options were read from (for reload and logs).
    pub config_file: Option<PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            host: DEFAULT_HOST.to_string(),
            port: DEFAULT_PORT,
            server_name: None,
            max_payload: DEFAULT_MAX_PAYLOAD,
            max_control_line: DEFAULT_MAX_CONTROL_LINE,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_subscriptions: 0,
            max_pending: DEFAULT_MAX_PENDING,
            write_deadline: DEFAULT_WRITE_DEADLINE,
            ping_interval: DEFAULT_PING_INTERVAL,
            ping_max: DEFAULT_PING_MAX,
            authorization: AuthOptions::default(),
            debug: false,
            trace: false,
            logtime: true,
            log_file: None,
            pid_file: None,
            config_file: None,
        }
    }
}

impl Options {
    /// Reads, parses and checks a configuration file; `config_file` is set to
    /// `path`.
    pub fn from_file(path: &Path) -> Result<Options, ConfigError> {
        let map = parse_file(path)?;
        let mut opts = Options::from_map(&map)?;
        opts.config_file = Some(path.to_path_buf());
        Ok(opts)
    }

    /// Builds options from a parsed tree: defaults, then each key in file order
    /// (the last of repeated keys wins), then [`Options::validate`].
    pub fn from_map(map: &Map) -> Result<Options, ConfigError> {
        let mut opts = Options::default();
        for (key, item) in map.option_entries() {
            match opts.apply(key, item) {
                // A variable definition that was used is not an unknown key.
                Err(e)
                    if e.kind == ErrorKind::UnknownKey
                        && e.pos.as_ref() == Some(&item.pos)
                        && map.is_used_variable(key) => {}
                other => other?,
            }
        }
        opts.validate()?;
        Ok(opts)
    }

    /// Checks the rules that involve more than one option; run again after
    /// command-line flags are merged, since flags can create a conflict.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(-1..=65535).contains(&self.port) {
            return Err(ConfigError::new(
                ErrorKind::BadValue,
                format!(
                    "port {} is out of range (use 1-65535, or -1 or 0 for a random port)",
                    self.port
                ),
            ));
        }
        if self.max_payload > self.max_pending {
            return Err(ConfigError::new(
                ErrorKind::Invalid,
                format!(
                    "max_payload ({}) cannot be higher than max_pending ({})",
                    self.max_payload, self.max_pending
                ),
            ));
        }
        let auth = &self.authorization;
        if auth.token.is_some() && (auth.user.is_some() || auth.password.is_some()) {
            return Err(ConfigError::new(
                ErrorKind::Invalid,
                "authorization: cannot have both a user/password and a token",
            ));
        }
        Ok(())
    }

    fn apply(&mut self, key: &str, item: &Item) -> Result<(), ConfigError> {
        match key.to_ascii_lowercase().as_str() {
            "listen" => self.apply_listen(key, item)?,
            "host" | "net" => self.host = string(key, item)?,
            "port" => self.port = port(key, item)?,
            "server_name" => self.server_name = Some(string(key, item)?),
            "max_payload" => {
                self.max_payload = size(key, item, i32::MAX as usize, DEFAULT_MAX_PAYLOAD)?
            }
            "max_control_line" => {
                self.max_control_line =
                    size(key, item, i32::MAX as usize, DEFAULT_MAX_CONTROL_LINE)?
            }
            "max_connections" | "max_conn" => {
                self.max_connections = size(key, item, usize::MAX, DEFAULT_MAX_CONNECTIONS)?
            }
            "max_subscriptions" | "max_subs" => {
                self.max_subscriptions = size(key, item, usize::MAX, 0)?
            }
            "max_pending" => self.max_pending = size(key, item, usize::MAX, DEFAULT_MAX_PENDING)?,
            "write_deadline" => self.write_deadline = duration(key, item, DEFAULT_WRITE_DEADLINE)?,
            "ping_interval" => self.ping_interval = duration(key, item, DEFAULT_PING_INTERVAL)?,
            "ping_max" => {
                self.ping_max =
                    size(key, item, u32::MAX as usize, DEFAULT_PING_MAX as usize)? as u32
            }
            "authorization" => self.authorization = authorization(key, item)?,
            "debug" => self.debug = boolean(key, item)?,
            "trace" => self.trace = boolean(key, item)?,
            "logtime" => self.logtime = boolean(key, item)?,
            "log_file" | "logfile" => self.log_file = Some(PathBuf::from(string(key, item)?)),
            "pid_file" | "pidfile" => self.pid_file = Some(PathBuf::from(string(key, item)?)),
            lower if NOT_YET_SUPPORTED.contains(&lower) => return Err(not_yet(key, item)),
            _ => {
                return Err(ConfigError::at(
                    ErrorKind::UnknownKey,
                    &item.pos,
                    format!("unknown config key \"{key}\""),
                ))
            }
        }
        Ok(())
    }

    /// `listen: "host:port"`, `":port"`, `"[::1]:port"` or a bare port number.
    fn apply_listen(&mut self, key: &str, item: &Item) -> Result<(), ConfigError> {
        let text = match &item.value {
            Value::Integer(_) => {
                self.port = port(key, item)?;
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
        let bad = |msg: String| ConfigError::at(ErrorKind::BadValue, &item.pos, msg);
        let (host, port_text) = text.rsplit_once(':').ok_or_else(|| {
            bad(format!(
                "\"{key}\": could not parse address \"{text}\" (expected \"host:port\" or \":port\")"
            ))
        })?;
        let host = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            Some(v6) => v6,
            None if host.contains(':') => {
                return Err(bad(format!(
                    "\"{key}\": could not parse address \"{text}\" (write IPv6 hosts as \"[addr]:port\")"
                )))
            }
            None => host,
        };
        let port: i32 = port_text.parse().map_err(|_| {
            bad(format!(
                "\"{key}\": could not parse port \"{port_text}\" in \"{text}\""
            ))
        })?;
        check_port(key, item, i64::from(port))?;
        // An empty host means every interface, as in nats-server.
        self.host = if host.is_empty() {
            DEFAULT_HOST.to_string()
        } else {
            host.to_string()
        };
        self.port = port;
        Ok(())
    }
}

fn not_yet(key: &str, item: &Item) -> ConfigError {
    ConfigError::at(
        ErrorKind::Unsupported,
        &item.pos,
        format!("config key \"{key}\" is not supported yet"),
    )
}

/// Describes a value for messages: its type and, for scalars, the value itself.
fn describe(value: &Value) -> String {
    match value {
        Value::String(s) => format!("string \"{s}\""),
        Value::Integer(i) => format!("integer {i}"),
        Value::Float(f) => format!("float {f}"),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Array(_) => "an array".to_string(),
        Value::Map(_) => "a block".to_string(),
    }
}

fn wrong_type(key: &str, item: &Item, expected: &str) -> ConfigError {
    let mut msg = format!(
        "\"{key}\" must be {expected}, got {}",
        describe(&item.value)
    );
    if expected == "a string" && matches!(item.value, Value::Integer(_) | Value::Float(_)) {
        msg.push_str(" (quote the value to make it a string)");
    }
    ConfigError::at(ErrorKind::BadType, &item.pos, msg)
}

fn string(key: &str, item: &Item) -> Result<String, ConfigError> {
    match &item.value {
        Value::String(s) => Ok(s.clone()),
        _ => Err(wrong_type(key, item, "a string")),
    }
}

fn boolean(key: &str, item: &Item) -> Result<bool, ConfigError> {
    match &item.value {
        Value::Bool(b) => Ok(*b),
        _ => Err(wrong_type(
            key,
            item,
            "a boolean (true/false, yes/no, on/off)",
        )),
    }
}

fn check_port(key: &str, item: &Item, port: i64) -> Result<i32, ConfigError> {
    if (-1..=65535).contains(&port) {
        Ok(port as i32)
    } else {
        Err(ConfigError::at(
            ErrorKind::BadValue,
            &item.pos,
            format!(
                "\"{key}\": port {port} is out of range (use 1-65535, or -1 or 0 for a random port)"
            ),
        ))
    }
}

fn port(key: &str, item: &Item) -> Result<i32, ConfigError> {
    match &item.value {
        Value::Integer(i) => check_port(key, item, *i),
        _ => Err(wrong_type(key, item, "an integer")),
    }
}

/// A non-negative integer (size suffixes already applied by the parser) up to
/// `max`; 0 means `zero_default`, nats-server's rule for these limits.
fn size(key: &str, item: &Item, max: usize, zero_default: usize) -> Result<usize, ConfigError> {
    let n = match &item.value {
        Value::Integer(i) => *i,
        _ => {
            return Err(wrong_type(
                key,
                item,
                "an integer (suffixes like 1KB or 64MB allowed)",
            ))
        }
    };
    if n < 0 {
        return Err(ConfigError::at(
            ErrorKind::BadValue,
            &item.pos,
            format!("\"{key}\" must not be negative, got {n}"),
        ));
    }
    let n = usize::try_from(n).unwrap_or(usize::MAX);
    if n > max {
        return Err(ConfigError::at(
            ErrorKind::BadValue,
            &item.pos,
            format!("\"{key}\" value {n} is too big (at most {max})"),
        ));
    }
    Ok(if n == 0 { zero_default } else { n })
}

/// A duration: a Go-style string (`"10s"`, `"1h30m"`) or a number of seconds
/// (integer or decimal). Zero means `zero_default`, as in nats-server.
fn duration(key: &str, item: &Item, zero_default: Duration) -> Result<Duration, ConfigError> {
    let bad = |msg: String| ConfigError::at(ErrorKind::BadValue, &item.pos, msg);
    let d = match &item.value {
        Value::String(s) => parse_duration(s).map_err(|e| {
            bad(format!(
                "\"{key}\": {e} (use a number of seconds or a duration such as \"10s\", \"2m\", \"1h30m\", \"500ms\")"
            ))
        })?,
        Value::Integer(i) if *i >= 0 => Duration::from_secs(*i as u64),
        Value::Float(f) if *f >= 0.0 => Duration::try_from_secs_f64(*f)
            .map_err(|_| bad(format!("\"{key}\": {f} seconds is out of range")))?,
        Value::Integer(_) | Value::Float(_) => {
            return Err(bad(format!(
                "\"{key}\" must not be negative, got {}",
                describe(&item.value)
            )))
        }
        _ => return Err(wrong_type(key, item, "a duration (\"10s\") or a number of seconds")),
    };
    Ok(if d.is_zero() { zero_default } else { d })
}

fn authorization(key: &str, item: &Item) -> Result<AuthOptions, ConfigError> {
    let map = match &item.value {
        Value::Map(m) => m,
        _ => return Err(wrong_type(key, item, "a block")),
    };
    let mut auth = AuthOptions::default();
    for (k, it) in map.option_entries() {
        let path = format!("{key}.{k}");
        match k.to_ascii_lowercase().as_str() {
            "user" | "username" => auth.user = Some(string(&path, it)?),
            "password" | "pass" => auth.password = Some(string(&path, it)?),
            "token" => auth.token = Some(string(&path, it)?),
            "timeout" => auth.timeout = duration(&path, it, DEFAULT_AUTH_TIMEOUT)?,
            lower if AUTH_NOT_YET_SUPPORTED.contains(&lower) => return Err(not_yet(&path, it)),
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
    if auth.token.is_some() && (auth.user.is_some() || auth.password.is_some()) {
        return Err(ConfigError::at(
            ErrorKind::Invalid,
            &item.pos,
            format!("\"{key}\": cannot have both a user/password and a token"),
        ));
    }
    Ok(auth)
}

/// Parses a Go-style duration (`"300ms"`, `"1.5s"`, `"1h30m"`, `"0"`); units are
/// `ns us µs ms s m h`. Kept public because other options (lame duck, cluster
/// timeouts) use the same notation. Negative durations are refused: no option
/// has a use for them.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    if let Some(rest) = text.strip_prefix('-') {
        let d = parse_unsigned_duration(rest, text)?;
        if d.is_zero() {
            return Ok(d);
        }
        return Err(format!("negative duration \"{text}\" is not allowed"));
    }
    parse_unsigned_duration(text.strip_prefix('+').unwrap_or(text), text)
}

fn parse_unsigned_duration(mut s: &str, text: &str) -> Result<Duration, String> {
    let invalid = || format!("invalid duration \"{text}\"");
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total: u128 = 0;
    while !s.is_empty() {
        let int_len = s.bytes().take_while(u8::is_ascii_digit).count();
        let (int_part, rest) = s.split_at(int_len);
        let (frac_part, rest) = match rest.strip_prefix('.') {
            Some(r) => {
                let n = r.bytes().take_while(u8::is_ascii_digit).count();
                r.split_at(n)
            }
            None => ("", rest),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(invalid());
        }
        let unit_len = rest
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || *c == '.')
            .map_or(rest.len(), |(i, _)| i);
        let (unit, rest) = rest.split_at(unit_len);
        let nanos_per: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => return Err(format!("missing unit in duration \"{text}\"")),
            other => return Err(format!("unknown unit \"{other}\" in duration \"{text}\"")),
        };
        let whole: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| invalid())?
        };
        let mut part = whole.checked_mul(nanos_per).ok_or_else(invalid)?;
        // Fraction digits beyond nanosecond precision do not matter.
        let frac_digits = &frac_part[..frac_part.len().min(20)];
        if !frac_digits.is_empty() {
            let frac: u128 = frac_digits.parse().map_err(|_| invalid())?;
            part += frac * nanos_per / 10u128.pow(frac_digits.len() as u32);
        }
        total = total.checked_add(part).ok_or_else(invalid)?;
        s = rest;
    }
    let secs = u64::try_from(total / 1_000_000_000).map_err(|_| invalid())?;
    Ok(Duration::new(secs, (total % 1_000_000_000) as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        let ms = |s: &str| parse_duration(s).unwrap().as_millis();
        assert_eq!(ms("30s"), 30_000);
        assert_eq!(ms("2m"), 120_000);
        assert_eq!(ms("1h30m"), 5_400_000);
        assert_eq!(ms("500ms"), 500);
        assert_eq!(ms("1.5s"), 1_500);
        assert_eq!(ms("0"), 0);
        assert_eq!(ms(".5s"), 500);
        assert_eq!(parse_duration("1us").unwrap(), Duration::from_micros(1));
        assert_eq!(parse_duration("1µs").unwrap(), Duration::from_micros(1));
        assert_eq!(parse_duration("3ns").unwrap(), Duration::from_nanos(3));
        assert!(parse_duration("10").unwrap_err().contains("missing unit"));
        assert!(parse_duration("10x").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("xyz").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("-1s").unwrap_err().contains("negative"));
        assert!(parse_duration("1.s").is_ok());
        assert!(parse_duration(".s").is_err());
    }

    #[test]
    fn defaults_match_nats_server() {
        let o = Options::default();
        assert_eq!(o.port, 4222);
        assert_eq!(o.max_payload, 1_048_576);
        assert_eq!(o.max_connections, 65_536);
        assert_eq!(o.max_pending, 67_108_864);
        assert_eq!(o.ping_interval, Duration::from_secs(120));
        assert!(o.logtime);
        assert!(o.validate().is_ok());
    }
}
