//! Typed server options and their reading from a parsed configuration tree.
//!
//! Keys, aliases, defaults and the "zero means default" rule follow nats-server,
//! so a nats-server file means the same thing here. Unlike nats-server, a bad value
//! is never silently ignored: unknown keys, wrong types, negative sizes and
//! out-of-range ports are errors that name the file, line and key.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::cluster::ClusterOptions;
use super::parser::{parse_file, Item, Map, Value};
use super::{ConfigError, ErrorKind, Pos};
use crate::subject::{is_valid_queue, is_valid_subject};
use crate::transform::{is_subset, SubjectTransform};

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
/// Name of the system account when `system_account` is not set (nats-server's).
pub const DEFAULT_SYSTEM_ACCOUNT: &str = "$SYS";
/// Name of the account of connections that belong to no configured account.
pub const GLOBAL_ACCOUNT_NAME: &str = "$G";
/// Default `allow_responses` `max`: one response per request.
pub const DEFAULT_ALLOW_RESPONSES_MAX: u64 = 1;
/// Default `allow_responses` `expires`.
pub const DEFAULT_ALLOW_RESPONSES_EXPIRES: Duration = Duration::from_secs(120);
/// Default time a service import's reply mapping lives without being answered
/// (nats-server's `response_threshold` default).
pub const DEFAULT_RESPONSE_THRESHOLD: Duration = Duration::from_secs(120);

/// Keys of nats-server features that tracebus is building but does not have yet.
/// They are rejected with a message of their own so nobody believes they work.
const NOT_YET_SUPPORTED: &[&str] = &["http", "http_port", "monitor_port"];

/// Keys of an account block that belong to features not built yet.
const ACCOUNT_NOT_YET_SUPPORTED: &[&str] = &["nkey", "jetstream", "limits", "mappings"];

/// Client authentication from the `authorization { ... }` block and the
/// `--user`, `--pass`, `--auth` flags: a single user/password, or a token, or a
/// list of users (which also come from `accounts`). A token, a single user and a
/// users list are mutually exclusive.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthOptions {
    /// Required user name, if single-user authentication is on.
    pub user: Option<String>,
    /// Password for `user` (plain, or a bcrypt hash `$2a$`/`$2b$`...).
    pub password: Option<String>,
    /// Required token, if token authentication is on (plain or bcrypt).
    pub token: Option<String>,
    /// How long a new client has to authenticate.
    pub timeout: Duration,
    /// `users: [...]`: users of the default account `$G`.
    pub users: Vec<UserOptions>,
    /// `permissions`: for the single user or token; for the users list, the
    /// permissions of users without their own (like `default_permissions`).
    pub permissions: Option<PermissionsOptions>,
    /// `default_permissions`: for entries of `users` without their own.
    pub default_permissions: Option<PermissionsOptions>,
}

impl Default for AuthOptions {
    fn default() -> Self {
        AuthOptions {
            user: None,
            password: None,
            token: None,
            timeout: DEFAULT_AUTH_TIMEOUT,
            users: Vec::new(),
            permissions: None,
            default_permissions: None,
        }
    }
}

/// One entry of a `users` list: a user name with a password, or an nkey user.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UserOptions {
    /// `user` / `username`.
    pub user: Option<String>,
    /// `password` / `pass` (plain, or a bcrypt hash).
    pub password: Option<String>,
    /// `nkey`: the user's public nkey (56 characters starting with `U`).
    pub nkey: Option<String>,
    /// The user's own permissions; `None` falls back to the defaults.
    pub permissions: Option<PermissionsOptions>,
    /// Where the entry was written (for start-up errors).
    pub pos: Option<Pos>,
}

impl UserOptions {
    /// The name the user is known by: the user name, or the nkey.
    pub fn id(&self) -> &str {
        self.user.as_deref().or(self.nkey.as_deref()).unwrap_or("")
    }
}

/// `permissions { publish, subscribe, allow_responses }`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PermissionsOptions {
    /// `publish` (`pub`): subjects the user may publish to.
    pub publish: Option<SubjectPermissionOptions>,
    /// `subscribe` (`sub`): filters the user may subscribe to, each optionally
    /// followed by a queue name (`"foo.* workers"`).
    pub subscribe: Option<SubjectPermissionOptions>,
    /// `allow_responses`: may publish to the reply subjects of requests it
    /// received, even where `publish` does not allow it.
    pub allow_responses: Option<ResponsePermissionOptions>,
}

/// `allow` and `deny` lists. `allow: None` allows everything not denied;
/// `allow: Some(vec![])` allows nothing. Deny wins over allow.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SubjectPermissionOptions {
    /// Allowed subjects (filters); `None` = no allow list.
    pub allow: Option<Vec<String>>,
    /// Denied subjects (filters).
    pub deny: Vec<String>,
}

/// `allow_responses: true` or `{ max, expires }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponsePermissionOptions {
    /// Responses allowed per received request; `None` = unlimited (`max` < 0).
    pub max: Option<u64>,
    /// How long after the request the responses are allowed.
    pub expires: Duration,
}

impl Default for ResponsePermissionOptions {
    fn default() -> Self {
        ResponsePermissionOptions {
            max: Some(DEFAULT_ALLOW_RESPONSES_MAX),
            expires: DEFAULT_ALLOW_RESPONSES_EXPIRES,
        }
    }
}

/// Stream or service, for exports and imports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportKind {
    /// Messages flow from the exporter to the importer.
    Stream,
    /// Requests flow to the exporter, responses back to the requester.
    Service,
}

impl ExportKind {
    /// `"stream"` or `"service"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ExportKind::Stream => "stream",
            ExportKind::Service => "service",
        }
    }
}

/// How many responses a service export sends per request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResponseType {
    /// One response; the reply mapping is removed after it.
    #[default]
    Singleton,
    /// Any number of responses until the response threshold passes.
    Stream,
    /// Like `Stream` (a large response in chunks).
    Chunked,
}

/// One entry of an account's `exports`.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportOptions {
    /// Stream or service.
    pub kind: ExportKind,
    /// The exported subject (may contain wildcards).
    pub subject: String,
    /// `accounts: [...]`: only these accounts may import; `None` = public.
    pub accounts: Option<Vec<String>>,
    /// Services: how many responses a request gets.
    pub response_type: ResponseType,
    /// Services: how long a reply mapping lives.
    pub response_threshold: Duration,
    /// Where the entry was written.
    pub pos: Option<Pos>,
}

/// One entry of an account's `imports`.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportOptions {
    /// Stream or service.
    pub kind: ExportKind,
    /// The exporting account.
    pub account: String,
    /// The subject in the exporter's space (may contain wildcards).
    pub subject: String,
    /// Streams: the subject (pattern) in the importer's space; services: the
    /// local subject importers publish requests on.
    pub to: Option<String>,
    /// Streams: prefix put in front of the exporter's subject.
    pub prefix: Option<String>,
    /// Where the entry was written.
    pub pos: Option<Pos>,
}

/// One account of the `accounts` block.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountOptions {
    /// The account name (the block key).
    pub name: String,
    /// Users who connect into this account.
    pub users: Vec<UserOptions>,
    /// What the account offers to others.
    pub exports: Vec<ExportOptions>,
    /// What the account takes from others.
    pub imports: Vec<ImportOptions>,
    /// Permissions of this account's users without their own.
    pub default_permissions: Option<PermissionsOptions>,
    /// Where the account was defined.
    pub pos: Option<Pos>,
}

impl AccountOptions {
    /// An account without users, exports or imports.
    pub fn new(name: &str) -> Self {
        AccountOptions {
            name: name.to_string(),
            users: Vec::new(),
            exports: Vec::new(),
            imports: Vec::new(),
            default_permissions: None,
            pos: None,
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
    /// `accounts { NAME: { users, exports, imports, default_permissions } }`.
    pub accounts: Vec<AccountOptions>,
    /// `no_auth_user`: the user a client that sends no credentials connects as.
    pub no_auth_user: Option<String>,
    /// Where `no_auth_user` was set.
    pub no_auth_user_pos: Option<Pos>,
    /// `system_account`: the account for server events; `None` is `$SYS`, or
    /// in operator mode the operator JWT's system account.
    pub system_account: Option<String>,
    /// Where `system_account` was set.
    pub system_account_pos: Option<Pos>,
    /// Operator mode: `operator`, `trusted_keys`, `resolver`, `resolver_preload`.
    pub trust: super::trust::TrustOptions,
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
    /// `cluster { ... }`: routes to other servers (`None`: not clustered).
    pub cluster: Option<ClusterOptions>,
    /// How long lame duck mode takes to close every client.
    pub lame_duck_duration: Duration,
    /// Wait in lame duck mode before the first client is closed.
    pub lame_duck_grace_period: Duration,
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
            accounts: Vec::new(),
            no_auth_user: None,
            no_auth_user_pos: None,
            system_account: None,
            system_account_pos: None,
            trust: Default::default(),
            debug: false,
            trace: false,
            logtime: true,
            log_file: None,
            pid_file: None,
            config_file: None,
            cluster: None,
            lame_duck_duration: super::cluster::DEFAULT_LAME_DUCK_DURATION,
            lame_duck_grace_period: super::cluster::DEFAULT_LAME_DUCK_GRACE_PERIOD,
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
        if let Some(c) = &self.cluster {
            c.validate()?;
        }
        super::cluster::validate_lame_duck(self.lame_duck_duration, self.lame_duck_grace_period)?;
        validate_accounts(self)
    }

    /// The system account's name (`system_account`, or in operator mode the
    /// operator JWT's system account, or `$SYS`).
    pub fn system_account_name(&self) -> &str {
        self.system_account
            .as_deref()
            .or_else(|| self.trust.operator_system_account())
            .unwrap_or(DEFAULT_SYSTEM_ACCOUNT)
    }

    fn apply(&mut self, key: &str, item: &Item) -> Result<(), ConfigError> {
        if self.trust.apply(key, item)? {
            return Ok(());
        }
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
            "accounts" => self.accounts = accounts(key, item)?,
            "no_auth_user" => {
                self.no_auth_user = Some(string(key, item)?);
                self.no_auth_user_pos = Some(item.pos.clone());
            }
            "system_account" | "system" => {
                self.system_account = Some(string(key, item)?);
                self.system_account_pos = Some(item.pos.clone());
            }
            "debug" => self.debug = boolean(key, item)?,
            "trace" => self.trace = boolean(key, item)?,
            "logtime" => self.logtime = boolean(key, item)?,
            "log_file" | "logfile" => self.log_file = Some(PathBuf::from(string(key, item)?)),
            "pid_file" | "pidfile" => self.pid_file = Some(PathBuf::from(string(key, item)?)),
            "cluster" => self.cluster = Some(super::cluster::cluster(key, item)?),
            "lame_duck_duration" => {
                self.lame_duck_duration = super::cluster::lame_duck_duration(
                    key,
                    item,
                    super::cluster::DEFAULT_LAME_DUCK_DURATION,
                )?
            }
            "lame_duck_grace_period" => {
                self.lame_duck_grace_period = super::cluster::lame_duck_duration(
                    key,
                    item,
                    super::cluster::DEFAULT_LAME_DUCK_GRACE_PERIOD,
                )?
            }
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

pub(super) fn wrong_type(key: &str, item: &Item, expected: &str) -> ConfigError {
    let mut msg = format!(
        "\"{key}\" must be {expected}, got {}",
        describe(&item.value)
    );
    if expected == "a string" && matches!(item.value, Value::Integer(_) | Value::Float(_)) {
        msg.push_str(" (quote the value to make it a string)");
    }
    ConfigError::at(ErrorKind::BadType, &item.pos, msg)
}

pub(super) fn string(key: &str, item: &Item) -> Result<String, ConfigError> {
    match &item.value {
        Value::String(s) => Ok(s.clone()),
        _ => Err(wrong_type(key, item, "a string")),
    }
}

pub(super) fn boolean(key: &str, item: &Item) -> Result<bool, ConfigError> {
    match &item.value {
        Value::Bool(b) => Ok(*b),
        _ => Err(wrong_type(
            key,
            item,
            "a boolean (true/false, yes/no, on/off)",
        )),
    }
}

pub(super) fn check_port(key: &str, item: &Item, port: i64) -> Result<i32, ConfigError> {
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
pub(super) fn size(
    key: &str,
    item: &Item,
    max: usize,
    zero_default: usize,
) -> Result<usize, ConfigError> {
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
pub(super) fn duration(
    key: &str,
    item: &Item,
    zero_default: Duration,
) -> Result<Duration, ConfigError> {
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
            "users" => auth.users = users(&path, it)?,
            "permissions" | "permission" => auth.permissions = Some(permissions(&path, it)?),
            "default_permissions" | "default_permission" => {
                auth.default_permissions = Some(permissions(&path, it)?)
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
    if auth.token.is_some() && (auth.user.is_some() || auth.password.is_some()) {
        return Err(ConfigError::at(
            ErrorKind::Invalid,
            &item.pos,
            format!("\"{key}\": cannot have both a user/password and a token"),
        ));
    }
    if !auth.users.is_empty() && (auth.token.is_some() || auth.user.is_some()) {
        let what = if auth.token.is_some() {
            "a token"
        } else {
            "a single user/password"
        };
        return Err(ConfigError::at(
            ErrorKind::Invalid,
            &item.pos,
            format!("\"{key}\": cannot have both {what} and a users list"),
        ));
    }
    Ok(auth)
}

// ------------------------------------------------------------------ users, permissions

pub(super) fn block<'a>(key: &str, item: &'a Item) -> Result<&'a Map, ConfigError> {
    match &item.value {
        Value::Map(m) => Ok(m),
        _ => Err(wrong_type(key, item, "a block")),
    }
}

fn unknown_in(key: &str, block_name: &str, it: &Item) -> ConfigError {
    ConfigError::at(
        ErrorKind::UnknownKey,
        &it.pos,
        format!("unknown config key \"{key}\" in the \"{block_name}\" block"),
    )
}

fn bad_value(item: &Item, msg: String) -> ConfigError {
    ConfigError::at(ErrorKind::BadValue, &item.pos, msg)
}

/// A string or an array of strings (nats-server accepts a single subject where a
/// list is expected).
pub(super) fn string_list(key: &str, item: &Item) -> Result<Vec<(String, Pos)>, ConfigError> {
    match &item.value {
        Value::String(s) => Ok(vec![(s.clone(), item.pos.clone())]),
        Value::Array(a) => a
            .iter()
            .map(|it| match &it.value {
                Value::String(s) => Ok((s.clone(), it.pos.clone())),
                _ => Err(wrong_type(key, it, "a string")),
            })
            .collect(),
        _ => Err(wrong_type(key, item, "a string or an array of strings")),
    }
}

/// `users: [ {user, password, permissions}, {nkey, permissions}, ... ]`.
fn users(key: &str, item: &Item) -> Result<Vec<UserOptions>, ConfigError> {
    let Value::Array(entries) = &item.value else {
        return Err(wrong_type(key, item, "an array of user blocks"));
    };
    entries.iter().map(|it| user(key, it)).collect()
}

fn user(key: &str, item: &Item) -> Result<UserOptions, ConfigError> {
    let map = block(key, item)?;
    let mut u = UserOptions {
        pos: Some(item.pos.clone()),
        ..UserOptions::default()
    };
    for (k, it) in map.option_entries() {
        let path = format!("{key}.{k}");
        match k.to_ascii_lowercase().as_str() {
            "user" | "username" => u.user = Some(string(&path, it)?),
            "password" | "pass" => u.password = Some(string(&path, it)?),
            "nkey" => u.nkey = Some(string(&path, it)?),
            "permissions" | "permission" => u.permissions = Some(permissions(&path, it)?),
            "allowed_connection_types" | "connection_types" | "clients" => {
                return Err(not_yet(&path, it))
            }
            _ if map.is_used_variable(k) => {}
            _ => return Err(unknown_in(k, "users", it)),
        }
    }
    if let Some(nkey) = &u.nkey {
        if u.user.is_some() || u.password.is_some() {
            return Err(ConfigError::at(
                ErrorKind::Invalid,
                &item.pos,
                "nkey users do not take a user name or a password",
            ));
        }
        if !is_user_nkey(nkey) {
            let at = map.get("nkey").map_or(&item.pos, |i| &i.pos);
            return Err(ConfigError::at(
                ErrorKind::BadValue,
                at,
                format!("\"{nkey}\" is not a valid public nkey for a user (56 characters starting with 'U')"),
            ));
        }
    } else if u.user.as_deref().unwrap_or("").is_empty() {
        return Err(ConfigError::at(
            ErrorKind::Invalid,
            &item.pos,
            "a user entry needs a \"user\" (with a \"password\") or an \"nkey\"",
        ));
    }
    Ok(u)
}

/// A well-formed user public nkey: right length, checksum and `U` prefix.
fn is_user_nkey(key: &str) -> bool {
    key.starts_with('U')
        && nkeys::KeyPair::from_public_key(key)
            .is_ok_and(|kp| kp.key_pair_type() == nkeys::KeyPairType::User)
}

/// `permissions { publish, subscribe, allow_responses }` (also `pub`, `sub`).
fn permissions(key: &str, item: &Item) -> Result<PermissionsOptions, ConfigError> {
    let map = block(key, item)?;
    let mut p = PermissionsOptions::default();
    for (k, it) in map.option_entries() {
        let path = format!("{key}.{k}");
        match k.to_ascii_lowercase().as_str() {
            "publish" | "pub" | "import" => p.publish = Some(subject_permission(&path, it, false)?),
            "subscribe" | "sub" | "export" => {
                p.subscribe = Some(subject_permission(&path, it, true)?)
            }
            "allow_responses" | "publish_allow_responses" => {
                p.allow_responses = allow_responses(&path, it)?
            }
            _ if map.is_used_variable(k) => {}
            _ => return Err(unknown_in(k, "permissions", it)),
        }
    }
    if p.allow_responses.is_some() {
        // nats-server: responses on, and no explicit publish allow list, means
        // publishing is allowed nowhere but to reply subjects.
        let publish = p.publish.get_or_insert_with(Default::default);
        if publish.allow.is_none() {
            publish.allow = Some(Vec::new());
        }
    }
    Ok(p)
}

/// A subject, a list of subjects, or `{ allow: ..., deny: ... }`.
fn subject_permission(
    key: &str,
    item: &Item,
    queues: bool,
) -> Result<SubjectPermissionOptions, ConfigError> {
    let check = |list: Vec<(String, Pos)>| -> Result<Vec<String>, ConfigError> {
        list.into_iter()
            .map(|(s, pos)| {
                if valid_permission_subject(&s, queues) {
                    Ok(s)
                } else {
                    Err(ConfigError::at(
                        ErrorKind::BadValue,
                        &pos,
                        format!(
                            "\"{key}\": \"{s}\" is not a valid subject{}",
                            if queues {
                                " (or \"subject queue\")"
                            } else {
                                ""
                            }
                        ),
                    ))
                }
            })
            .collect()
    };
    match &item.value {
        Value::Map(map) => {
            let mut sp = SubjectPermissionOptions::default();
            for (k, it) in map.option_entries() {
                let path = format!("{key}.{k}");
                match k.to_ascii_lowercase().as_str() {
                    "allow" => sp.allow = Some(check(string_list(&path, it)?)?),
                    "deny" => sp.deny = check(string_list(&path, it)?)?,
                    _ if map.is_used_variable(k) => {}
                    _ => {
                        return Err(ConfigError::at(
                            ErrorKind::UnknownKey,
                            &it.pos,
                            format!(
                            "unknown config key \"{k}\" in \"{key}\" (only \"allow\" and \"deny\")"
                        ),
                        ))
                    }
                }
            }
            Ok(sp)
        }
        _ => Ok(SubjectPermissionOptions {
            allow: Some(check(string_list(key, item)?)?),
            deny: Vec::new(),
        }),
    }
}

/// `subject` or, for subscribe permissions, `subject queue` (the queue may use
/// wildcards like a subject).
fn valid_permission_subject(s: &str, queues: bool) -> bool {
    let mut parts = s.split_whitespace();
    let (Some(subject), queue, None) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    if !is_valid_subject(subject.as_bytes()) {
        return false;
    }
    match queue {
        None => true,
        Some(q) => queues && is_valid_queue(q.as_bytes()),
    }
}

fn allow_responses(
    key: &str,
    item: &Item,
) -> Result<Option<ResponsePermissionOptions>, ConfigError> {
    match &item.value {
        Value::Bool(false) => Ok(None),
        Value::Bool(true) => Ok(Some(ResponsePermissionOptions::default())),
        Value::Map(map) => {
            let mut rp = ResponsePermissionOptions::default();
            for (k, it) in map.option_entries() {
                let path = format!("{key}.{k}");
                match k.to_ascii_lowercase().as_str() {
                    "max" | "max_msgs" | "max_messages" | "max_responses" => {
                        let Value::Integer(n) = it.value else {
                            return Err(wrong_type(&path, it, "an integer"));
                        };
                        // nats-server: 0 means the default, below 0 unlimited.
                        rp.max = match n {
                            0 => Some(DEFAULT_ALLOW_RESPONSES_MAX),
                            n if n < 0 => None,
                            n => Some(n as u64),
                        };
                    }
                    "expires" | "expiration" | "ttl" => {
                        rp.expires = duration(&path, it, DEFAULT_ALLOW_RESPONSES_EXPIRES)?
                    }
                    _ if map.is_used_variable(k) => {}
                    _ => return Err(unknown_in(k, "allow_responses", it)),
                }
            }
            Ok(Some(rp))
        }
        _ => Err(wrong_type(
            key,
            item,
            "a boolean or a block { max, expires }",
        )),
    }
}

// ------------------------------------------------------------------ accounts

/// `accounts { NAME: {...}, ... }` or `accounts: [NAME, ...]`.
fn accounts(key: &str, item: &Item) -> Result<Vec<AccountOptions>, ConfigError> {
    let mut out: Vec<AccountOptions> = Vec::new();
    match &item.value {
        Value::Array(names) => {
            for it in names {
                let name = string(key, it)?;
                let mut a = AccountOptions::new(&name);
                a.pos = Some(it.pos.clone());
                out.push(a);
            }
        }
        Value::Map(map) => {
            for (name, it) in map.option_entries() {
                if map.is_used_variable(name) {
                    continue;
                }
                out.push(account(name, it)?);
            }
        }
        _ => return Err(wrong_type(key, item, "a block of accounts")),
    }
    for (i, a) in out.iter().enumerate() {
        if a.name.is_empty() || a.name.chars().any(char::is_whitespace) {
            return Err(pos_err(
                &a.pos,
                ErrorKind::BadValue,
                format!("\"{}\" is not a valid account name", a.name),
            ));
        }
        if a.name == GLOBAL_ACCOUNT_NAME {
            return Err(pos_err(
                &a.pos,
                ErrorKind::BadValue,
                format!("\"{GLOBAL_ACCOUNT_NAME}\" is a reserved account (the default account)"),
            ));
        }
        if out[..i].iter().any(|b| b.name == a.name) {
            return Err(pos_err(
                &a.pos,
                ErrorKind::Invalid,
                format!("account \"{}\" is defined twice", a.name),
            ));
        }
    }
    Ok(out)
}

fn account(name: &str, item: &Item) -> Result<AccountOptions, ConfigError> {
    let mut a = AccountOptions::new(name);
    a.pos = Some(item.pos.clone());
    let map = match &item.value {
        Value::Map(m) => m,
        // `accounts { A: {} }` is the common form; an empty value is not allowed.
        _ => return Err(wrong_type(name, item, "a block")),
    };
    for (k, it) in map.option_entries() {
        let path = format!("accounts.{name}.{k}");
        match k.to_ascii_lowercase().as_str() {
            "users" => a.users = users(&path, it)?,
            "exports" => a.exports = exports(&path, it)?,
            "imports" => a.imports = imports(&path, it)?,
            "default_permissions" | "default_permission" => {
                a.default_permissions = Some(permissions(&path, it)?)
            }
            lower if ACCOUNT_NOT_YET_SUPPORTED.contains(&lower) => return Err(not_yet(&path, it)),
            _ if map.is_used_variable(k) => {}
            _ => return Err(unknown_in(k, &format!("accounts.{name}"), it)),
        }
    }
    Ok(a)
}

fn exports(key: &str, item: &Item) -> Result<Vec<ExportOptions>, ConfigError> {
    let Value::Array(entries) = &item.value else {
        return Err(wrong_type(key, item, "an array of export blocks"));
    };
    entries.iter().map(|it| export(key, it)).collect()
}

fn export(key: &str, item: &Item) -> Result<ExportOptions, ConfigError> {
    let map = block(key, item)?;
    let mut kind_subject: Option<(ExportKind, String)> = None;
    let mut accounts = None;
    let mut response: Option<(ResponseType, &Item)> = None;
    let mut threshold: Option<(Duration, &Item)> = None;
    for (k, it) in map.option_entries() {
        let path = format!("{key}.{k}");
        let lower = k.to_ascii_lowercase();
        match lower.as_str() {
            "stream" | "service" => {
                let kind = if lower == "stream" {
                    ExportKind::Stream
                } else {
                    ExportKind::Service
                };
                if let Some((seen, _)) = &kind_subject {
                    return Err(ConfigError::at(
                        ErrorKind::Invalid,
                        &it.pos,
                        format!(
                            "an export is either a stream or a service, this one says {} and {}",
                            seen.as_str(),
                            kind.as_str()
                        ),
                    ));
                }
                let subject = string(&path, it)?;
                if !is_valid_subject(subject.as_bytes()) {
                    return Err(bad_value(
                        it,
                        format!("\"{path}\": \"{subject}\" is not a valid subject"),
                    ));
                }
                kind_subject = Some((kind, subject));
            }
            "accounts" => {
                accounts = Some(
                    string_list(&path, it)?
                        .into_iter()
                        .map(|(s, _)| s)
                        .collect(),
                )
            }
            "response" | "response_type" => {
                let text = string(&path, it)?;
                let rt = match text.to_ascii_lowercase().as_str() {
                    "single" | "singleton" => ResponseType::Singleton,
                    "stream" => ResponseType::Stream,
                    "chunk" | "chunked" => ResponseType::Chunked,
                    _ => {
                        return Err(bad_value(
                            it,
                            format!("\"{path}\": unknown response type \"{text}\" (use singleton, stream or chunked)"),
                        ))
                    }
                };
                response = Some((rt, it));
            }
            "threshold" | "response_threshold" | "response_max_time" | "response_time" => {
                threshold = Some((duration(&path, it, DEFAULT_RESPONSE_THRESHOLD)?, it))
            }
            "latency" => return Err(not_yet(&path, it)),
            _ if map.is_used_variable(k) => {}
            _ => return Err(unknown_in(k, "exports", it)),
        }
    }
    let Some((kind, subject)) = kind_subject else {
        return Err(ConfigError::at(
            ErrorKind::Invalid,
            &item.pos,
            "an export needs a \"stream\" or a \"service\" subject",
        ));
    };
    if kind == ExportKind::Stream {
        let directive = response.as_ref().map(|(_, it)| *it);
        if let Some(it) = directive.or(threshold.as_ref().map(|(_, it)| *it)) {
            return Err(ConfigError::at(
                ErrorKind::Invalid,
                &it.pos,
                "response_type and response_threshold apply to service exports only",
            ));
        }
    }
    Ok(ExportOptions {
        kind,
        subject,
        accounts,
        response_type: response.map(|(r, _)| r).unwrap_or_default(),
        response_threshold: threshold.map_or(DEFAULT_RESPONSE_THRESHOLD, |(d, _)| d),
        pos: Some(item.pos.clone()),
    })
}

fn imports(key: &str, item: &Item) -> Result<Vec<ImportOptions>, ConfigError> {
    let Value::Array(entries) = &item.value else {
        return Err(wrong_type(key, item, "an array of import blocks"));
    };
    entries.iter().map(|it| import(key, it)).collect()
}

fn import(key: &str, item: &Item) -> Result<ImportOptions, ConfigError> {
    let map = block(key, item)?;
    let mut source: Option<(ExportKind, String, String)> = None;
    let mut to = None;
    let mut prefix: Option<(String, &Item)> = None;
    for (k, it) in map.option_entries() {
        let path = format!("{key}.{k}");
        let lower = k.to_ascii_lowercase();
        match lower.as_str() {
            "stream" | "service" => {
                let kind = if lower == "stream" {
                    ExportKind::Stream
                } else {
                    ExportKind::Service
                };
                if let Some((seen, _, _)) = &source {
                    return Err(ConfigError::at(
                        ErrorKind::Invalid,
                        &it.pos,
                        format!(
                            "an import is either a stream or a service, this one says {} and {}",
                            seen.as_str(),
                            kind.as_str()
                        ),
                    ));
                }
                let src = block(&path, it)?;
                let mut account = None;
                let mut subject = None;
                for (sk, sit) in src.option_entries() {
                    let spath = format!("{path}.{sk}");
                    match sk.to_ascii_lowercase().as_str() {
                        "account" => account = Some(string(&spath, sit)?),
                        "subject" => {
                            let s = string(&spath, sit)?;
                            if !is_valid_subject(s.as_bytes()) {
                                return Err(bad_value(
                                    sit,
                                    format!("\"{spath}\": \"{s}\" is not a valid subject"),
                                ));
                            }
                            subject = Some(s);
                        }
                        _ if src.is_used_variable(sk) => {}
                        _ => return Err(unknown_in(sk, &path, sit)),
                    }
                }
                let (Some(account), Some(subject)) = (account, subject) else {
                    return Err(ConfigError::at(
                        ErrorKind::Invalid,
                        &it.pos,
                        format!("\"{path}\" needs an \"account\" and a \"subject\""),
                    ));
                };
                source = Some((kind, account, subject));
            }
            "to" | "local_subject" => to = Some((string(&path, it)?, it)),
            "prefix" => prefix = Some((string(&path, it)?, it)),
            // Latency sharing; there is no latency tracking to share yet, and
            // without it the flag changes nothing.
            "share" => {
                boolean(&path, it)?;
            }
            _ if map.is_used_variable(k) => {}
            _ => return Err(unknown_in(k, "imports", it)),
        }
    }
    let Some((kind, account, subject)) = source else {
        return Err(ConfigError::at(
            ErrorKind::Invalid,
            &item.pos,
            "an import needs a \"stream\" or a \"service\" block { account, subject }",
        ));
    };
    if let Some((_, it)) = &prefix {
        if to.is_some() {
            return Err(ConfigError::at(
                ErrorKind::Invalid,
                &it.pos,
                "a stream import can have a \"prefix\" or a \"to\", not both",
            ));
        }
        if kind == ExportKind::Service {
            return Err(ConfigError::at(
                ErrorKind::Invalid,
                &it.pos,
                "a service import takes \"to\" (its local subject), not \"prefix\"",
            ));
        }
    }
    if let Some((t, it)) = &to {
        if !is_valid_subject(t.as_bytes()) && kind == ExportKind::Service {
            return Err(bad_value(
                it,
                format!("\"to\": \"{t}\" is not a valid subject"),
            ));
        }
    }
    Ok(ImportOptions {
        kind,
        account,
        subject,
        to: to.map(|(t, _)| t),
        prefix: prefix.map(|(p, _)| p),
        pos: Some(item.pos.clone()),
    })
}

fn pos_err(pos: &Option<Pos>, kind: ErrorKind, msg: String) -> ConfigError {
    match pos {
        Some(p) => ConfigError::at(kind, p, msg),
        None => ConfigError::new(kind, msg),
    }
}

impl ImportOptions {
    /// The transform this import applies: for a stream, from the exporter's
    /// subject to the importer's; for a service, from the importer's local
    /// subject to the exporter's.
    pub fn transform(&self) -> Result<SubjectTransform, crate::transform::TransformError> {
        match self.kind {
            ExportKind::Stream => match (&self.prefix, &self.to) {
                (Some(p), _) => SubjectTransform::with_prefix(&self.subject, p),
                (None, Some(to)) => SubjectTransform::new(&self.subject, to),
                (None, None) => SubjectTransform::identity(&self.subject),
            },
            ExportKind::Service => match &self.to {
                Some(to) => SubjectTransform::new(to, &self.subject),
                None => SubjectTransform::identity(&self.subject),
            },
        }
    }

    /// The subject in the importer's space: for a service, where importers send
    /// requests; for a stream, the pattern its messages arrive on.
    pub fn local_subject(&self) -> String {
        match self.kind {
            ExportKind::Service => self.to.clone().unwrap_or_else(|| self.subject.clone()),
            ExportKind::Stream => match (&self.prefix, &self.to) {
                (Some(p), _) => format!("{}.{}", p.strip_suffix('.').unwrap_or(p), self.subject),
                (None, Some(to)) => to.clone(),
                (None, None) => self.subject.clone(),
            },
        }
    }
}

/// The start-up checks that span accounts and users: every import names a
/// defined account and a subject that account exports to it, user names and
/// nkeys are unique server-wide, `no_auth_user` and `system_account` exist, and
/// a single user or token is not mixed with users lists.
fn validate_accounts(o: &Options) -> Result<(), ConfigError> {
    super::trust::validate(o)?;
    let auth = &o.authorization;
    let account_users = o.accounts.iter().flat_map(|a| a.users.iter());
    if auth.token.is_some() || auth.user.is_some() {
        let what = if auth.token.is_some() {
            "a token"
        } else {
            "a single user/password"
        };
        if let Some(u) = auth.users.first() {
            return Err(pos_err(
                &u.pos,
                ErrorKind::Invalid,
                format!("authorization: cannot have both {what} and a users list"),
            ));
        }
        if let Some(u) = account_users.clone().next() {
            return Err(pos_err(
                &u.pos,
                ErrorKind::Invalid,
                format!("authorization: cannot have both {what} and users in accounts (give the user an entry in an account instead)"),
            ));
        }
    }
    // Unique user names and nkeys across authorization.users and every account.
    let mut names: std::collections::HashSet<&str> = Default::default();
    let mut nkeys: std::collections::HashSet<&str> = Default::default();
    for u in auth.users.iter().chain(account_users) {
        if let Some(n) = &u.nkey {
            if !nkeys.insert(n) {
                return Err(pos_err(
                    &u.pos,
                    ErrorKind::Invalid,
                    format!("duplicate nkey \"{n}\": a user can be in one account only"),
                ));
            }
            if !is_user_nkey(n) {
                return Err(pos_err(
                    &u.pos,
                    ErrorKind::BadValue,
                    format!("\"{n}\" is not a valid public nkey for a user"),
                ));
            }
        } else if let Some(n) = &u.user {
            if !names.insert(n) {
                return Err(pos_err(
                    &u.pos,
                    ErrorKind::Invalid,
                    format!("duplicate user \"{n}\": a user can be in one account only"),
                ));
            }
        }
    }
    if let Some(nau) = &o.no_auth_user {
        if names.is_empty() && nkeys.is_empty() {
            return Err(pos_err(
                &o.no_auth_user_pos,
                ErrorKind::Invalid,
                format!("no_auth_user \"{nau}\" is set, but no users are defined"),
            ));
        }
        if !names.contains(nau.as_str()) {
            return Err(pos_err(
                &o.no_auth_user_pos,
                ErrorKind::Invalid,
                format!("no_auth_user \"{nau}\" is not a user of the authorization block or of an account"),
            ));
        }
    }
    if let Some(sys) = o
        .system_account
        .as_ref()
        .filter(|_| !o.trust.is_operator_mode())
    {
        if sys != DEFAULT_SYSTEM_ACCOUNT && !o.accounts.iter().any(|a| &a.name == sys) {
            return Err(pos_err(
                &o.system_account_pos,
                ErrorKind::Invalid,
                format!("system_account \"{sys}\" is not defined in accounts"),
            ));
        }
    }
    let find = |name: &str| o.accounts.iter().find(|a| a.name == name);
    for a in &o.accounts {
        for e in &a.exports {
            for other in e.accounts.iter().flatten() {
                if find(other).is_none() {
                    return Err(pos_err(
                        &e.pos,
                        ErrorKind::Invalid,
                        format!("account \"{}\": the {} export \"{}\" names account \"{other}\", which is not defined", a.name, e.kind.as_str(), e.subject),
                    ));
                }
            }
        }
        for (i, im) in a.imports.iter().enumerate() {
            let what = format!(
                "account \"{}\": {} import \"{}\" from account \"{}\"",
                a.name,
                im.kind.as_str(),
                im.subject,
                im.account
            );
            let Some(exporter) = find(&im.account) else {
                return Err(pos_err(
                    &im.pos,
                    ErrorKind::Invalid,
                    format!("{what}: account \"{}\" is not defined", im.account),
                ));
            };
            let offered: Vec<&ExportOptions> = exporter
                .exports
                .iter()
                .filter(|e| {
                    e.kind == im.kind && is_subset(im.subject.as_bytes(), e.subject.as_bytes())
                })
                .collect();
            if offered.is_empty() {
                let other_kind = exporter.exports.iter().any(|e| {
                    e.kind != im.kind && is_subset(im.subject.as_bytes(), e.subject.as_bytes())
                });
                let hint = if other_kind {
                    format!(
                        " (it exports it as a {})",
                        if im.kind == ExportKind::Stream {
                            "service"
                        } else {
                            "stream"
                        }
                    )
                } else {
                    String::new()
                };
                return Err(pos_err(
                    &im.pos,
                    ErrorKind::Invalid,
                    format!(
                        "{what}: \"{}\" exports no {} covering \"{}\"{hint}",
                        im.account,
                        im.kind.as_str(),
                        im.subject
                    ),
                ));
            }
            let allowed = offered.iter().any(|e| match &e.accounts {
                None => true,
                Some(list) => list.iter().any(|n| n == &a.name),
            });
            if !allowed {
                return Err(pos_err(
                    &im.pos,
                    ErrorKind::Invalid,
                    format!(
                        "{what}: not authorized, \"{}\" exports it only to {}",
                        im.account,
                        offered
                            .iter()
                            .flat_map(|e| e.accounts.iter().flatten())
                            .map(|n| format!("\"{n}\""))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
            if im.kind == ExportKind::Stream
                && a.imports[..i].iter().any(|p| {
                    p.kind == ExportKind::Stream
                        && p.account == im.account
                        && p.subject == im.subject
                })
            {
                return Err(pos_err(
                    &im.pos,
                    ErrorKind::Invalid,
                    format!("{what}: imported twice"),
                ));
            }
            if let Err(e) = im.transform() {
                return Err(pos_err(
                    &im.pos,
                    ErrorKind::BadValue,
                    format!("{what}: {e}"),
                ));
            }
        }
    }
    Ok(())
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
